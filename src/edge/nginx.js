// nginx adapter of the router (njs): `eprgen routes nginx` writes router.js followed by this
// file as one module, which the generated server block imports. It answers every request the
// way `eprgen serve` does: the route table and the manifest decide, nginx only sends files.
//
// The route table and manifest of the build the configuration was made for are preloaded once
// (js_preload_object, shared by every request). Each request checks where the root link points
// now: when a rebuild has swapped it, that request reads the new build's tables itself (correct,
// but slow) until the configuration is generated again and nginx reloaded.

var fs = require('fs');

var NO_STORE = 'max-age=0, private, no-store';
var TEXT = 'text/plain; charset=utf-8';
var DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n) {
    return (n < 10 ? '0' : '') + n;
}

// IMF-fixdate of unix seconds (httpdate::fmt_http_date).
function httpDate(secs) {
    var d = new Date(secs * 1000);
    return DAYS[d.getUTCDay()] + ', ' + pad2(d.getUTCDate()) + ' ' + MONTHS[d.getUTCMonth()] + ' ' +
        d.getUTCFullYear() + ' ' + pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' +
        pad2(d.getUTCSeconds()) + ' GMT';
}

function num(s) {
    return /^[0-9]+$/.test(s) ? parseInt(s, 10) : NaN;
}

// httpdate::parse_http_date as unix seconds, or null: IMF-fixdate, RFC 850 or asctime, years
// 1970-9999, and the weekday must be the date's.
function parseHttpDate(s) {
    if (!/^[\x00-\x7f]*$/.test(s)) return null;
    s = s.replace(/^[\t\n\x0b\x0c\r ]+|[\t\n\x0b\x0c\r ]+$/g, '');
    var m, day, mon, year, time, wday;
    var LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
    if ((m = /^([A-Z][a-z]{2}), ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) (..:..:..) GMT$/.exec(s))) {
        wday = DAYS.indexOf(m[1]);
        day = m[2];
        mon = m[3];
        year = num(m[4]);
        time = m[5];
    } else if ((m = /^([A-Za-z]+), ([0-9]{2})-([A-Z][a-z]{2})-([0-9]{2}) (..:..:..) GMT$/.exec(s))) {
        wday = LONG.indexOf(m[1]);
        day = m[2];
        mon = m[3];
        year = num(m[4]);
        year += year < 70 ? 2000 : 1900;
        time = m[5];
    } else if ((m = /^([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ( [0-9]|[0-9]{2}) (..:..:..) ([0-9]{4})$/.exec(s))) {
        wday = DAYS.indexOf(m[1]);
        mon = m[2];
        day = m[3].trim();
        time = m[4];
        year = num(m[5]);
    } else return null;
    var t = /^([0-9]{2}):([0-9]{2}):([0-9]{2})$/.exec(time);
    var mo = MONTHS.indexOf(mon);
    if (!t || mo < 0 || wday < 0) return null;
    var h = num(t[1]), mi = num(t[2]), se = num(t[3]), d = num(day);
    if (se >= 60 || mi >= 60 || h >= 24 || d < 1 || d > 31 || year < 1970 || year > 9999) return null;
    var ms = Date.UTC(year, mo, d, h, mi, se), c = new Date(ms);
    if (c.getUTCDate() !== d || c.getUTCMonth() !== mo || c.getUTCDay() !== wday) return null;
    return ms / 1000;
}

function u64num(s) {
    return /^\+?[0-9]+$/.test(s) && u64(s.replace('+', '')) !== null ? Number(s.replace('+', '')) : NaN;
}

// serve::parse_range: null (send the whole file), false (unsatisfiable) or [first, last].
function parseRange(h, size) {
    if (h === undefined) return null;
    h = h.trim();
    if (h.indexOf('bytes=') !== 0) return null;
    var spec = h.slice(6);
    if (spec.indexOf(',') >= 0) return null;
    var d = spec.indexOf('-');
    if (d < 0) return false;
    var a = spec.slice(0, d).trim(), b = spec.slice(d + 1).trim(), range;
    if (a === '') {
        var n = u64num(b);
        if (isNaN(n) || n === 0) return false;
        range = [Math.max(size - n, 0), Math.max(size - 1, 0)];
    } else {
        var start = u64num(a);
        var end = b === '' ? Math.max(size - 1, 0) : Math.min(u64num(b), Math.max(size - 1, 0));
        if (isNaN(start) || isNaN(end) || start >= size || end < start) return false;
        range = [start, end];
    }
    return size === 0 ? false : range;
}

// Where the root link points now, and the tables of that build.
function table(r) {
    var pinned = r.variables.eprgen_build, dir = pinned;
    var routes = eprgen_routes, files = eprgen_manifest.files, index = eprgen_index;
    try {
        dir = fs.realpathSync(r.variables.eprgen_root);
    } catch (e) {
        dir = pinned;
    }
    if (dir !== pinned) {
        try {
            routes = JSON.parse(fs.readFileSync(dir + '/_eprgen/routes.json', 'utf8'));
            files = JSON.parse(fs.readFileSync(dir + '/_eprgen/manifest.json', 'utf8')).files;
            index = routes.composed ? JSON.parse(fs.readFileSync(dir + '/' + routes.composed.index, 'utf8')) : null;
            ngx.log(ngx.WARN, 'eprgen: the tree now points at ' + dir + ', not at the build this ' +
                'configuration was made for; run `eprgen routes nginx` again and reload nginx');
        } catch (e) {
            ngx.log(ngx.ERR, 'eprgen: cannot read the build at ' + dir + ': ' + e);
            return null;
        }
    }
    return {
        dir: dir,
        path: function (p) { return own(routes.paths, p); },
        pkg: function (n, v) { return own(own(routes.packages, n), v); },
        // Precompressed siblings are not files a request can name (as in eprgen serve).
        file: function (rel) {
            var m = own(files, rel);
            return m && !m.content_encoding ? m : null;
        },
        // Whether `rel` has precompressed siblings (`rel.gz`, `rel.br`).
        encoded: function (rel) {
            var m = own(files, rel + '.gz');
            return !!(m && m.content_encoding === 'gzip');
        },
        route: function (ep, q) { return route(routes[ep], ep, q); },
        composed: routes.composed,
        index: index
    };
}

function error(r, status, message, cache, cors) {
    r.headersOut['Content-Type'] = TEXT;
    r.headersOut['X-Content-Type-Options'] = 'nosniff';
    r.headersOut['Cache-Control'] = cache || NO_STORE;
    if (cors) r.headersOut['Access-Control-Allow-Origin'] = '*';
    r.return(status, message + '\n');
}

// A body nginx does not send from the tree itself: a 206 whose Range header nginx would read
// differently from eprgen serve (nginx takes only spaces around the numbers and no `+`).
function sendSlice(r, path, range, size) {
    var fd = fs.openSync(path, 'r'), len = range[1] - range[0] + 1, buf = Buffer.alloc(len);
    try {
        fs.readSync(fd, buf, 0, len, range[0]);
    } finally {
        fs.closeSync(fd);
    }
    r.status = 206;
    r.headersOut['Content-Range'] = 'bytes ' + range[0] + '-' + range[1] + '/' + size;
    r.headersOut['Content-Length'] = len;
    r.sendHeader();
    // njs 0.7 sends strings only: a byte string holds the bytes as they are.
    if (r.method !== 'HEAD') r.send(String.bytesFrom(Array.prototype.slice.call(buf)));
    r.finish();
}

// Whether nginx's gzip_static / brotli_static send a sibling for this Accept-Encoding: the
// token at the start or after ',' or ' ', then only spaces up to ',' or the end, or a q
// other than 0 (ngx_http_gzip_accept_encoding, which ngx_brotli copies).
function nginxAccepts(ae, token) {
    var i = -1, s = ae.toLowerCase();
    for (;;) {
        i = s.indexOf(token, i + 1);
        if (i < 0) return false;
        if (i === 0 || s[i - 1] === ',' || s[i - 1] === ' ') break;
    }
    var m = /^ *(,|$|;)/.exec(s.slice(i + token.length));
    if (!m) return false;
    if (m[1] !== ';') return true;
    // Only `q=`, a qvalue of 0 < q <= 1 (ngx_http_gzip_quantity), may follow.
    var q = /^ *q=([01])(?:\.([0-9]{0,3}))?(?:[, ]|$)/.exec(s.slice(i + token.length + m[0].length));
    if (!q) return false;
    var frac = /[1-9]/.test(q[2] || '');
    return q[1] === '1' ? !frac : frac;
}

function sendFile(r, t, rel) {
    var m = t.file(rel);
    if (!m) return error(r, 404, NOT_FOUND, null, false);
    var modified = httpDate(m.modified);
    // A file with siblings varies by Accept-Encoding; when nginx will send a sibling, the
    // Range is ignored (the whole encoded body is sent), as eprgen serve does.
    var siblings = t.encoded(rel), ae = r.headersIn['Accept-Encoding'];
    var encoded = siblings && ae !== undefined && (nginxAccepts(ae, 'br') || nginxAccepts(ae, 'gzip'));
    if (siblings) r.headersOut.Vary = 'Accept-Encoding';
    var ims = r.headersIn['If-Modified-Since'];
    if (ims !== undefined && r.headersIn['If-None-Match'] === undefined) {
        var since = parseHttpDate(ims);
        if (since !== null && m.modified <= since) {
            r.headersOut['Cache-Control'] = m.cache_control;
            r.headersOut['Access-Control-Allow-Origin'] = '*';
            r.headersOut['Last-Modified'] = modified;
            // Not r.return(304), which would add `Content-Length: 0`.
            r.status = 304;
            r.sendHeader();
            return r.finish();
        }
    }
    var range = encoded ? null : parseRange(r.headersIn.Range, m.size);
    if (range === false) {
        r.headersOut['Content-Range'] = 'bytes */' + m.size;
        return error(r, 416, 'invalid range: failed to overlap', null, true);
    }
    r.headersOut['Content-Type'] = m.content_type;
    if (range && !/^bytes= *[0-9]* *- *[0-9]* *$/.test(r.headersIn.Range.trim())) {
        r.headersOut['Cache-Control'] = m.cache_control;
        r.headersOut['Access-Control-Allow-Origin'] = '*';
        r.headersOut['Last-Modified'] = modified;
        r.headersOut['Accept-Ranges'] = 'bytes';
        return sendSlice(r, t.dir + '/' + rel, range, m.size);
    }
    // nginx sends the file (and the range): see the internal locations of the server block.
    r.variables.eprgen_file = t.dir + '/' + rel;
    r.variables.eprgen_cache = m.cache_control;
    r.variables.eprgen_modified = modified;
    r.variables.eprgen_cors = '*';
    r.variables.eprgen_ranges = 'bytes';
    if (siblings && !range) {
        // gzip_static / brotli_static pick the sibling there, and gzip_vary adds the Vary.
        delete r.headersOut.Vary;
        return r.internalRedirect('/_eprgen/encoded');
    }
    r.internalRedirect(range ? '/_eprgen/range' : '/_eprgen/file');
}

// 304 when If-Modified-Since is not before `modified` (unix seconds), as sendFile does.
function notModified(r, modified, cache) {
    var ims = r.headersIn['If-Modified-Since'];
    if (ims === undefined || r.headersIn['If-None-Match'] !== undefined) return false;
    var since = parseHttpDate(ims);
    if (since === null || modified > since) return false;
    r.headersOut['Cache-Control'] = cache;
    r.headersOut['Access-Control-Allow-Origin'] = '*';
    r.headersOut['Last-Modified'] = httpDate(modified);
    r.status = 304;
    r.sendHeader();
    r.finish();
    return true;
}

// An answer composed from the index, with the headers `eprgen serve` sends for one.
function sendComposed(r, t, ep, query) {
    var c = t.composed, f = filterOf(ep, query || '');
    var body = c && t.index && f.f ? compose(t.index, ep, f.f) : null;
    if (body === null) return error(r, 500, INCOMPLETE, null, false);
    var cache = ep === 'search' ? c.search_cache : c.categories_cache, m = t.file(c.index);
    var modified = m ? m.modified : 0;
    if (notModified(r, modified, cache)) return;
    r.headersOut['Content-Type'] = 'application/json';
    r.headersOut['Cache-Control'] = cache;
    r.headersOut['Access-Control-Allow-Origin'] = '*';
    r.headersOut['Last-Modified'] = httpDate(modified);
    r.return(200, body);
}

// The HTML catalog (src/site, `serve::resolve`): files under catalog/, a folder's index.html
// for a path ending in `/`, `/catalog` redirected to `/catalog/`. It is here and not in
// router.js because the CloudFront function has no room left for it; behind CloudFront a
// `/catalog/*` behaviour to the bucket serves the catalog (README, Catalog).
function catalogRoute(t, rawPath, query) {
    var path = decodePath(rawPath);
    if (path === '/catalog') return { r: '/catalog/' + (query ? '?' + query : '') };
    if (path === null || path.slice(0, 9) !== '/catalog/') return null;
    var f = path.slice(1) + (path.slice(-1) === '/' ? 'index.html' : '');
    return t.file(f) ? { f: f } : fail(404, NOT_FOUND);
}

function handle(r) {
    var t = table(r);
    if (t === null) return error(r, 500, INCOMPLETE, null, false);
    var uri = r.variables.request_uri, qi = uri.indexOf('?');
    var path = qi < 0 ? uri : uri.slice(0, qi), query = qi < 0 ? null : uri.slice(qi + 1);
    var out = catalogRoute(t, path, query) || resolve(t, path, query);
    if (out.f !== undefined) return sendFile(r, t, out.f);
    if (out.k !== undefined) return sendComposed(r, t, out.k, qi < 0 ? null : uri.slice(qi + 1));
    if (out.h) {
        r.headersOut['Access-Control-Allow-Origin'] = '*';
        return r.return(200);
    }
    if (out.r !== undefined) {
        var body = redirectBody(out.r);
        r.status = 301;
        r.headersOut.Location = redirectLocation(out.r);
        r.headersOut['Content-Type'] = 'text/html; charset=utf-8';
        r.headersOut['Content-Length'] = Buffer.byteLength(body);
        r.sendHeader();
        if (r.method !== 'HEAD') r.send(body);
        return r.finish();
    }
    // EPR's CORS middleware runs on matched routes only.
    error(r, out.s, out.e, out.c, out.e !== NOT_FOUND);
}

export default { handle: handle };
