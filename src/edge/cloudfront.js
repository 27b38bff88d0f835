// CloudFront Functions adapter of the router (viewer request, JavaScript runtime 2.0):
// `eprgen routes cloudfront` prints eprgen's build constants, router.js and this file, minified.
// The route table lives in the CloudFront KeyValueStore, under keys that start with the build
// id, so publishing this function switches to a build at once. The function rewrites a request
// to its object key (S3 answers with the object's metadata) or answers EPR's errors and
// redirects itself. What it cannot know, a missing file of a known package, is left to S3 and
// the distribution's custom error response (see the README). A query whose answer is not
// materialized goes, with its query string, to FALLBACK (`/_eprgen/compose/<endpoint>`), which
// the distribution sends to a second origin running `eprgen serve` on the same tree.

var kvs = cf.kvs();

// A value of the store (one too large for 1 KB is split in chunks `key~0`, `key~1`, ...), or
// null when the key is not there. One get at a time, as the CloudFront docs advise.
async function get(k) {
    var v;
    try {
        v = await kvs.get(BUILD + k);
    } catch (e) {
        return null;
    }
    if (v.charAt(0) !== '~') return v;
    var s = '';
    for (var i = 0; i < +v.slice(1); i++) s += await kvs.get(BUILD + k + '~' + i);
    return s;
}

async function json(k) {
    var v = await get(k);
    return v === null ? null : JSON.parse(v);
}

// route() of router.js, reading the diagram's nodes, dimensions and classes from the store.
async function routeKvs(ep, raw) {
    var f = filterOf(ep, raw), m = META[ep], r = m.root, dims = [];
    if (f.e !== undefined) return { s: 400, e: f.e };
    for (var steps = 0; r >= 0; steps++) {
        var n = steps < m.dims ? await json(ep + ':n' + r) : null;
        if (n === null) return { s: 500, e: INCOMPLETE };
        var d = dimOf(n), dim = dims[d] || (dims[d] = await json(ep + ':d' + d)), v = f.f[dim.name];
        // A name dimension lists its classes in the store only: keyOf needs to know if v is one.
        if (dim.kind === 'name') dim.classes = typeof v === 'string' && (await get(ep + ':c' + d + ':' + v)) !== null ? [v] : [];
        var c = await get(ep + ':c' + d + ':' + keyOf(dim, f.f));
        // An open dimension's last class (key `~`) takes every key it does not list.
        if (c === null && dim.open) c = await get(ep + ':c' + d + ':~');
        if (c === null) return { s: 500, e: INCOMPLETE };
        r = child(n, +c);
    }
    var id = await get(ep + ':a' + (-r - 1));
    return id === null ? { s: 500, e: INCOMPLETE } : { id: id === '-' ? '' : id };
}

// A response of the function's own; `h` maps header names to values.
function reply(status, body, h) {
    var headers = {};
    for (var k in h) if (h[k]) headers[k] = { value: h[k] };
    return { statusCode: status, headers: headers, body: body };
}

async function handler(event) {
    var req = event.request, qs = req.querystring, parts = [];
    // The raw query again, from CloudFront's parsed (not decoded) one; the order of the values
    // of a parameter is kept, which is all Go's rules look at.
    for (var k in qs) {
        var vs = qs[k].multiValue || [qs[k]];
        for (var i = 0; i < vs.length; i++) parts.push(k + '=' + vs[i].value);
    }
    var query = parts.length ? parts.join('&') : null, path = decodePath(req.uri), rt = null, pk = null;
    // Fetch what resolve() will ask for: the route of a query, or the package a path names.
    var g = (path || '').split('/'), ep = g[1], a = artifact(g);
    if (g.length === 2 && (ep === 'search' || ep === 'categories') && (query || '').length <= MAX_QUERY) {
        rt = await routeKvs(ep, query || '');
    }
    if (a || (ep === 'package' && g.length > 4)) pk = await json('k:' + (a ? a[0] + '/' + a[1] : g[2] + '/' + g[3]));
    var out = resolve({ path: (p) => own(PATHS, p), pkg: () => pk, file: () => undefined, route: () => rt },
        req.uri, query);
    if (out.f !== undefined) {
        req.uri = '/' + out.f.split('/').map(encodeURIComponent).join('/');
        req.querystring = {};
        return req;
    }
    if (out.k !== undefined) {
        // Not materialized: the fallback origin (`eprgen serve` on the same tree) composes it.
        req.uri = FALLBACK + out.k;
        return req;
    }
    if (out.h) return reply(200, '', { 'access-control-allow-origin': '*' });
    if (out.r !== undefined) {
        return reply(301, redirectBody(out.r), { location: redirectLocation(out.r), 'content-type': 'text/html; charset=utf-8' });
    }
    return reply(out.s, out.e + '\n', {
        'content-type': 'text/plain; charset=utf-8',
        'x-content-type-options': 'nosniff',
        'cache-control': out.c || 'max-age=0, private, no-store',
        // EPR's CORS middleware runs on matched routes only.
        'access-control-allow-origin': out.e !== NOT_FOUND && '*'
    });
}
