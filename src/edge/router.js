// eprgen's router in JavaScript: the same rules as the Rust `Router` and `serve::resolve`, for
// routers that run without eprgen (nginx's njs, a CloudFront function). One file serves all of
// them: eprgen glues it to an adapter (nginx.js, cloudfront.js) and the tests run it in Node
// against the Rust answers (tests/edge_equivalence.rs), so a rule changed on one side only fails.
//
// It is written for the smallest of the engines: njs 0.7 (Debian 12), which has no classes,
// destructuring, spread or for-of. For a CloudFront function (10 KB at most) eprgen minifies it
// with src/edge/minify.rs, which relies on how it is written: every statement ends with `;` or
// a block, no template literals, no object shorthand, no labels.

// Query strings longer than this are refused (serve::MAX_QUERY).
var MAX_QUERY = 8192;
var NOT_FOUND = '404 page not found';
var BAD_VERSION = 'invalid package version';
var INCOMPLETE = 'internal server error';
var INVALID_SEMVER = 'invalid semantic version';
var U64 = '18446744073709551615';

// EPR's parameter order, which decides which error a query with several bad values gets
// (catalog::query SEARCH_KEYS / CATEGORIES_KEYS; /categories reads include_policy_templates
// after the rest). `internal` is accepted and ignored.
var PARAMS = {
    search: 'kibana.version category package type capabilities spec.min spec.max all experimental prerelease discovery agent.version'.split(' '),
    categories: 'kibana.version experimental prerelease capabilities spec.min spec.max discovery agent.version include_policy_templates'.split(' ')
};

// Arrays of the route table are read with loops only: njs's preloaded objects have no
// Array.prototype methods.
function indexIn(a, x) {
    for (var i = 0; i < a.length; i++) if (a[i] === x) return i;
    return -1;
}

function own(o, k) {
    return o && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

// Bytes to text where they are not UTF-8: U+FFFD per maximal invalid subpart, as Rust's
// String::from_utf8_lossy. `s` holds `%XX` escapes and plain ASCII.
function lossy(s) {
    var b = [], o = '', i = 0;
    for (i = 0; i < s.length; i++) {
        b.push(s.charAt(i) === '%' ? parseInt(s.slice(i + 1, i + 3), 16) : s.charCodeAt(i));
        if (s.charAt(i) === '%') i += 2;
    }
    for (i = 0; i < b.length;) {
        var c = b[i], need = c >= 240 && c <= 244 ? 3 : c >= 224 && c <= 239 ? 2 : c >= 194 && c <= 223 ? 1 : 0;
        var lo = c === 224 ? 160 : c === 240 ? 144 : 128, hi = c === 237 ? 159 : c === 244 ? 143 : 191;
        var j = i + 1, cp = c & (need === 3 ? 7 : need === 2 ? 15 : 31);
        while (j <= i + need && b[j] >= lo && b[j] <= hi) {
            cp = cp << 6 | b[j++] & 63;
            lo = 128;
            hi = 191;
        }
        o += c < 128 ? String.fromCharCode(c) : need && j > i + need ? String.fromCodePoint(cp) : '\ufffd';
        i = c < 128 ? i + 1 : j;
    }
    return o;
}

// Go's url.QueryUnescape (`+` is a space); null on a bad `%` escape.
function unescapeQuery(s) {
    if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
    if (/%(?![0-9A-Fa-f]{2})/.test(s)) return null;
    s = s.replace(/\+/g, ' ');
    try {
        return decodeURIComponent(s);
    } catch (e) {
        return lossy(s.replace(/[^\x00-\x7f]+/g, encodeURIComponent));
    }
}

// Go's url.ParseQuery as r.URL.Query() keeps it: key -> values in order.
function parseQuery(raw) {
    var q = Object.create(null), pairs = raw.split('&');
    for (var i = 0; i < pairs.length; i++) {
        var p = pairs[i];
        if (p === '' || p.indexOf(';') >= 0) continue;
        var e = p.indexOf('=');
        var k = unescapeQuery(e < 0 ? p : p.slice(0, e));
        var v = unescapeQuery(e < 0 ? '' : p.slice(e + 1));
        if (k === null || v === null) continue;
        if (!q[k]) q[k] = [];
        q[k].push(v);
    }
    return q;
}

// Go's %q, approximated as constraint::go_quote does.
var WS = [133, 160, 5760, 8232, 8233, 8239, 8287, 12288, 65279];
function goQuote(s) {
    var o = '"';
    for (var i = 0; i < s.length; i++) {
        var n = s.charCodeAt(i);
        if (n >= 7 && n <= 13) o += '\\' + 'abtnvfr'.charAt(n - 7);
        else if (n === 34 || n === 92) o += '\\' + s.charAt(i);
        else if (n < 32 || n === 127) o += '\\x' + (n < 16 ? '0' : '') + n.toString(16);
        else if ((n >= 128 && n < 160) || (n >= 8192 && n <= 8202) || WS.indexOf(n) >= 0) {
            o += '\\u' + ('000' + n.toString(16)).slice(-4);
        } else o += s.charAt(i);
    }
    return o + '"';
}

// A digit string without leading zeros; null when it does not fit in a u64.
function u64(d) {
    var i = 0;
    while (i < d.length - 1 && d.charAt(i) === '0') i++;
    var n = d.slice(i);
    return n.length > 20 || (n.length === 20 && n > U64) ? null : n;
}

function cmpNum(a, b) {
    return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

// Masterminds' lenient NewVersion (constraint::parse_version), whose regular expression the
// Rust scanner follows: a version is [major, minor, patch, prerelease] with the numbers as digit
// strings; build metadata is dropped.
// (Literals, not `new RegExp`: njs compiles a literal once, with the module.)
var LENIENT = /^v?([0-9]+)(\.([0-9]+))?(\.([0-9]+))?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
function parseVersion(s) {
    var m = LENIENT.exec(s), v = [];
    if (!m) return { e: INVALID_SEMVER };
    for (var k = 1; k < 6; k += 2) {
        var n = u64(m[k] || '0');
        if (n === null) {
            return { e: 'error parsing version segment: strconv.ParseUint: parsing "' + m[k] + '": value out of range' };
        }
        v.push(n);
    }
    v.push(m[7] || '');
    return v[3] && /(^|\.)0[0-9]+(\.|$)/.test(v[3]) ? { e: 'version segment starts with 0' } : { v: v };
}

// A strict semver string from the route table (its points), as a version.
function point(s) {
    var p = s.split('+')[0], d = p.indexOf('-');
    var n = (d < 0 ? p : p.slice(0, d)).split('.');
    n.push(d < 0 ? '' : p.slice(d + 1));
    return n;
}

function numeric(a) {
    return /^[0-9]+$/.test(a) ? u64(a) : null;
}

// Go's prerelease identifier order: numeric (u64) below text, text bytewise
// (constraint::compare_identifier).
function cmpIdent(a, b) {
    if (a === b) return 0;
    if (a === '') return -1;
    if (b === '') return 1;
    var x = numeric(a), y = numeric(b);
    if (x !== null && y !== null) return cmpNum(x, y) > 0 ? 1 : -1;
    if (x !== null) return -1;
    if (y !== null) return 1;
    return a < b ? -1 : 1;
}

// constraint::precedence.
function precedence(a, b) {
    for (var i = 0; i < 3; i++) {
        var c = cmpNum(a[i], b[i]);
        if (c !== 0) return c;
    }
    if (a[3] === b[3]) return 0;
    if (a[3] === '') return 1;
    if (b[3] === '') return -1;
    var xs = a[3].split('.'), ys = b[3].split('.');
    for (i = 0; i < xs.length || i < ys.length; i++) {
        c = cmpIdent(i < xs.length ? xs[i] : '', i < ys.length ? ys[i] : '');
        if (c !== 0) return c;
    }
    return 0;
}

// space::version_key: `k` (a release between points k-1 and k), `k-` (a prerelease there),
// `k-~t` (a prerelease tagged exactly t), `k=` (point k).
function versionKey(points, tags, v) {
    var lo = 0, hi = points.length;
    while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (precedence(point(points[mid]), v) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < points.length && precedence(point(points[lo]), v) === 0) return lo + '=';
    if (v[3] === '') return '' + lo;
    return indexIn(tags, v[3]) >= 0 ? lo + '-~' + v[3] : lo + '-';
}

function first(q, k) {
    var v = q[k];
    return v && v[0] !== '' ? v[0] : undefined;
}

// Go's strconv.ParseBool.
var BOOLS = '1 t T TRUE true True 0 f F FALSE false False'.split(' ');

// A parameter's value as the filter keeps it, or { e: message } (catalog::query).
function param(k, v) {
    var r;
    if (k === 'discovery') {
        var d = [];
        for (var i = 0; i < v.length; i++) {
            var x = v[i], c = x.indexOf(':');
            var pre = "invalid 'discovery' query param: '" + x + "': ";
            if (c < 0) return { e: pre + 'could not parse filter ' + goQuote(x) };
            var kind = x.slice(0, c);
            if (kind !== 'fields' && kind !== 'datasets') {
                return { e: pre + 'unknown discovery filter ' + goQuote(kind) };
            }
            d.push({ f: kind === 'fields', n: x.slice(c + 1).split(',') });
        }
        return { v: d };
    }
    if (k === 'kibana.version' || k === 'agent.version') {
        r = parseVersion(v);
        if (r.e) {
            return { e: 'invalid ' + (k === 'agent.version' ? 'agent' : 'Kibana') + " version '" + v + "': " + r.e };
        }
        return r;
    }
    if (k === 'spec.min' || k === 'spec.max') {
        var w = "invalid '" + k + "' version: ";
        if (v.split('.').length !== 2) {
            return { e: w + "invalid version '" + v + "': it should be <major.version>" };
        }
        r = parseVersion(v);
        return r.e ? { e: w + "invalid spec version '" + v + "': " + r.e } : r;
    }
    if (k === 'all' || k === 'experimental' || k === 'prerelease' || k === 'include_policy_templates') {
        r = BOOLS.indexOf(v);
        return r < 0 ? { e: "invalid '" + k + "' query param: '" + v + "'" } : { v: r < 6 };
    }
    return { v: k === 'capabilities' ? v.split(',') : v };
}

// The parsed filter of a /search or /categories query: parameter name -> value (absent
// parameters are missing), or { e: EPR's 400 message }.
function filterOf(ep, raw) {
    var q = parseQuery(raw), keys = PARAMS[ep], f = {};
    for (var i = 0; i < keys.length; i++) {
        var k = keys[i], v = k === 'discovery' ? q[k] : first(q, k);
        if (v === undefined) continue;
        var r = param(k, v);
        if (r.e !== undefined) return r;
        f[k] = r.v;
    }
    return { f: f };
}

function bits(sets, pass) {
    var o = '';
    for (var i = 0; i < sets.length; i++) o += pass(sets[i]) ? '1' : '0';
    return o;
}

function every(a, p) {
    for (var i = 0; i < a.length; i++) if (!p(a[i])) return false;
    return true;
}

// The class key of one dimension for a parsed filter (space::key_of).
function keyOf(dim, f) {
    var v = f[dim.name], k = dim.kind;
    if (k === 'bool') return v ? '1' : '0';
    if (k === 'discovery') {
        if (v === undefined) return '-';
        var fs = v.filter((x) => x.f), ds = v.filter((x) => !x.f);
        // Field sets that every `fields:` filter holds entirely; dataset sets that every
        // `datasets:` filter meets.
        var a = fs.length === 0 ? '-' : bits(dim.sets || [],
            (p) => every(fs, (x) => every(p, (n) => x.n.indexOf(n) >= 0)));
        var b = ds.length === 0 ? '-' : bits(dim.sets2 || [],
            (p) => every(ds, (x) => !every(p, (n) => x.n.indexOf(n) < 0)));
        return 'f' + a + 'd' + b;
    }
    if (v === undefined) return '-';
    if (k === 'name') {
        return v !== '-' && v !== '*' && indexIn(dim.classes, v) >= 0 ? v : '*';
    }
    if (k === 'set') {
        var a = dim.values || [], o = [];
        for (var i = 0; i < a.length; i++) if (v.indexOf(a[i]) >= 0) o.push(a[i]);
        return o.join(',');
    }
    return versionKey(dim.values || [], (dim.sets || [])[0] || [], v);
}

// The reference a node gives a class index (routes::Node::child).
function child(n, c) {
    var i;
    if (n[0] >= 0) {
        var r = n[1];
        for (i = 2; i < n.length && n[i] <= c; i += 2) r = n[i + 1];
        return r;
    }
    for (i = 2; i < n.length; i += 2) if (n[i] === c) return n[i + 1];
    return n[1];
}

function dimOf(n) {
    return n[0] >= 0 ? n[0] : -n[0] - 1;
}

// eprgen:sync (the CloudFront function walks the diagram in its KeyValueStore instead)
// The class key of every dimension (the canonical query), or { e: 400 message }.
function keys(diagram, ep, raw) {
    var r = filterOf(ep, raw);
    if (r.e !== undefined) return r;
    var k = [];
    for (var i = 0; i < diagram.dims.length; i++) k.push(keyOf(diagram.dims[i], r.f));
    return { k: k };
}

// Route a raw query through a diagram: { id } (the empty id: compose it) or
// { s: status, e: message }. A dimension's key
// is computed only where a node tests it (the same answer as computing them all first).
function route(diagram, ep, raw) {
    var f = filterOf(ep, raw);
    if (f.e !== undefined) return { s: 400, e: f.e };
    var r = diagram.root, dims = diagram.dims;
    for (var steps = 0; r >= 0; steps++) {
        var n = diagram.nodes[r], d = n ? dimOf(n) : -1;
        var c = n && steps < dims.length ? indexIn(dims[d].classes, keyOf(dims[d], f.f)) : -1;
        // An open dimension's last class takes every key it does not list (Router::class).
        if (c < 0 && n && dims[d].open) c = dims[d].classes.length - 1;
        if (c < 0) return { s: 500, e: INCOMPLETE };
        r = child(n, c);
    }
    var id = diagram.answers[-r - 1];
    return id === undefined ? { s: 500, e: INCOMPLETE } : { id: id };
}

// eprgen:end

// serve::decode_path: percent-decode (strict UTF-8), refuse what is not a plain absolute path.
function decodePath(raw) {
    var s = raw;
    try {
        if (raw.indexOf('%') >= 0) s = decodeURIComponent(raw.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
    } catch (e) {
        return null;
    }
    return raw.charAt(0) !== '/' || /\0|\\|\/\/|\/\.\.?(\/|$)/.test(s) ? null : s;
}

var SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

// The semver crate's strict Version::parse.
function strictSemver(v) {
    var m = SEMVER.exec(v);
    if (!m || u64(m[1]) === null || u64(m[2]) === null || u64(m[3]) === null) return false;
    return !m[4] || every(m[4].slice(1).split('.'), (x) => !/^0[0-9]+$/.test(x));
}

function isName(s) {
    return /^[a-z0-9_]+$/.test(s);
}

function fail(s, m, cache) {
    return { s: s, e: m, c: cache };
}

// serve::resolve over a table `t`: t.path(p) -> file, t.pkg(name, version) -> { info, zip,
// sig }, t.file(rel) -> manifest entry (undefined when the router cannot know: it then trusts
// the path), t.route(ep, query) -> { id } | { s, e }. `query` is the raw query or null.
// Returns { f: file } | { k: endpoint } (compose the answer) | { h: 1 } (health) |
// { r: location } | { s, e, c: cache or undefined }.
function resolve(t, rawPath, query) {
    if (query !== null && query.length > MAX_QUERY) return fail(400, 'query string too long');
    var path = decodePath(rawPath);
    if (path === null) return fail(404, NOT_FOUND);
    if (path === '/_eprgen/compose/search' || path === '/_eprgen/compose/categories') {
        var ep = path.slice(17), fc = filterOf(ep, query || '');
        return fc.e !== undefined ? fail(400, fc.e) : { k: ep };
    }
    if (path === '/search' || path === '/categories') {
        var r = t.route(path.slice(1), query || '');
        if (r.e !== undefined) return fail(r.s, r.e);
        return r.id === '' ? { k: path.slice(1) } : { f: 'answers/' + r.id + '.json' };
    }
    if (path === '/health') return { h: 1 };
    var file = t.path(path);
    if (file) return { f: file };
    var q = query ? '?' + query : '';
    var base = path.slice(0, -1);
    if (path.slice(-1) === '/' && (base === '/search' || base === '/categories' ||
        base === '/health' || t.path(base))) {
        return { r: base + q };
    }
    var g = path.split('/'), name = g[2], version = g[3], p;
    if (g[1] === 'package' && g.length >= 4) {
        if (g.length === 4 && isName(name)) return { r: path + '/' + q };
        if (g.length === 4) return fail(404, NOT_FOUND);
        if (!strictSemver(version)) return fail(400, BAD_VERSION);
        p = t.pkg(name, version);
        if (!p) return fail(404, 'package revision not found');
        if (g.length === 5 && g[4] === '' && isName(name)) return { f: p.info };
        var rest = g.slice(4);
        var rel = 'package/' + name + '/' + version + '/' + rest.join('/');
        var meta = rest.indexOf('') >= 0 ? null : t.file(rel);
        if (meta || meta === undefined) return { f: rel };
        var zip = t.file(p.zip);
        return fail(404, 'resource not found', zip ? zip.cache_control : undefined);
    }
    var a = artifact(g);
    if (!a) return fail(404, NOT_FOUND);
    if (!strictSemver(a[1])) return fail(400, BAD_VERSION);
    p = t.pkg(a[0], a[1]);
    if (p && !a[2]) return { f: p.zip };
    if (p && p.sig) return { f: p.sig };
    return fail(404, p || a[2] ? 'signature file not found' : 'artifact not found');
}

// `/epr/{dir}/{name}-{version}.zip` (or `.zip.sig`) split in path segments: [name, version,
// signature?], or null. The name stops at the first `-`.
function artifact(g) {
    var m = g[1] === 'epr' && g.length === 4 ? /^([^-]*)-([\s\S]*)\.zip(\.sig)?$/.exec(g[3]) : null;
    return m && isName(m[1]) && m[2] !== '' ? [m[1], m[2], !!m[3]] : null;
}

// The Location header of a redirect: serve falls back to `/` where hyper refuses the value.
function redirectLocation(loc) {
    return /[\x00-\x08\x0a-\x1f\x7f]/.test(loc) ? '/' : loc;
}

// The body of a StrictSlash redirect (Go's http.Redirect for GET).
function redirectBody(loc) {
    var e = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
    return '<a href="' + loc.replace(/[&<>"']/g, (c) => e[c]) +
        '">Moved Permanently</a>.\n\n';
}
