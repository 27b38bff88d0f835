// A stand-in for CloudFront + S3 on loopback, to run the conformance kit against
// `eprgen routes cloudfront` output (tests/cloudfront.rs):
//
//   node cf-harness.js FUNCTION.js KVS.json OBJECTS.json PORT [FALLBACK_URL]
//
// Each request becomes a CloudFront viewer-request event for the function, which gets a fake
// `cf.kvs()` backed by the KeyValueStore import file. A response the function returns is sent
// as it is; a request it returns is served like S3 serves the object at the rewritten key, with
// no other logic: Content-Type and Cache-Control from the object's metadata (the
// `eprgen routes s3-metadata` listing), Last-Modified from the file, Range and
// If-Modified-Since. Like the documented distribution, a response headers policy adds
// `Access-Control-Allow-Origin: *` to the bucket's answers, and a custom error response turns a
// missing object into a 404 with the `resource not found` object. A request the function sends
// to `/_eprgen/compose/…` goes, as the documented cache behavior does, to the fallback origin
// (an `eprgen serve` of the same tree) with its query string, and its answer is passed on.
'use strict';

const fs = require('fs');
const http = require('http');
const { eventOf, loadFunction } = require('./cf-event.js');

const [fnPath, kvsPath, objectsPath, port, fallback] = process.argv.slice(2);

const handler = loadFunction(fnPath, kvsPath);
const objects = new Map(JSON.parse(fs.readFileSync(objectsPath, 'utf8')).map((o) => [o.key, o]));
const NOT_FOUND_KEY = '_eprgen/errors/resource-not-found.txt';

function parseRange(h, size) {
    const m = /^bytes=(\d*)-(\d*)$/.exec((h || '').trim());
    if (!h || !m || (h.indexOf(',') >= 0)) return null;
    let a, b;
    if (m[1] === '') {
        const n = Number(m[2]);
        if (!n) return false;
        a = Math.max(size - n, 0);
        b = size - 1;
    } else {
        a = Number(m[1]);
        b = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    return a >= size || b < a ? false : [a, b];
}

// S3 GET/HEAD of one object, with the distribution's response headers policy.
function serveObject(req, res, key, status) {
    const o = objects.get(key);
    if (!o) return serveObject(req, res, NOT_FOUND_KEY, 404);
    const body = o.file ? fs.readFileSync(o.file) : Buffer.from(o.body);
    const mtime = o.file ? fs.statSync(o.file).mtime : new Date(0);
    mtime.setMilliseconds(0);
    const headers = {
        'Content-Type': o.content_type,
        'Cache-Control': o.cache_control,
        'Last-Modified': mtime.toUTCString(),
        'Accept-Ranges': 'bytes',
        'Access-Control-Allow-Origin': '*',
    };
    // S3 sends an object's Content-Encoding metadata back (the precompressed siblings).
    if (o.content_encoding) headers['Content-Encoding'] = o.content_encoding;
    const ims = Date.parse(req.headers['if-modified-since'] || '');
    if (status === 200 && !isNaN(ims) && mtime.getTime() <= ims) {
        res.writeHead(304, headers);
        return res.end();
    }
    let range = status === 200 ? parseRange(req.headers.range, body.length) : null;
    if (range === false) {
        res.writeHead(416, { 'Content-Range': 'bytes */' + body.length, 'Access-Control-Allow-Origin': '*' });
        return res.end();
    }
    let out = body;
    if (range) {
        out = body.subarray(range[0], range[1] + 1);
        headers['Content-Range'] = `bytes ${range[0]}-${range[1]}/${body.length}`;
        status = 206;
    }
    headers['Content-Length'] = out.length;
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : out);
}

const server = http.createServer(async (req, res) => {
    try {
        const q = req.url.indexOf('?');
        const event = eventOf(req.method, q < 0 ? req.url : req.url.slice(0, q), q < 0 ? null : req.url.slice(q + 1), req.headers);
        const out = await handler(event);
        if (out.statusCode === undefined && out.uri.indexOf('/_eprgen/compose/') === 0) {
            if (!fallback) {
                res.writeHead(502);
                return res.end('no fallback origin\n');
            }
            const qs = [];
            for (const [k, v] of Object.entries(out.querystring || {})) {
                for (const x of v.multiValue || [v]) qs.push(k + '=' + x.value);
            }
            const h = {};
            for (const k of ['if-modified-since', 'accept-encoding']) if (req.headers[k]) h[k] = req.headers[k];
            return http.get(fallback + out.uri + (qs.length ? '?' + qs.join('&') : ''), { method: req.method, headers: h }, (up) => {
                res.writeHead(up.statusCode, up.headers);
                up.pipe(res);
            }).on('error', (e) => {
                res.writeHead(502);
                res.end(String(e));
            });
        }
        if (out.statusCode === undefined) {
            // A request: CloudFront fetches the object at the rewritten key from S3.
            const key = out.uri.slice(1).split('/').map(decodeURIComponent).join('/');
            return serveObject(req, res, key, 200);
        }
        const headers = {};
        for (const [k, v] of Object.entries(out.headers || {})) headers[k] = v.value;
        const body = typeof out.body === 'object' ? out.body.data : out.body || '';
        headers['content-length'] = Buffer.byteLength(body);
        res.writeHead(out.statusCode, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
    } catch (e) {
        console.error(e);
        res.writeHead(503);
        res.end('function failed\n');
    }
});
server.listen(Number(port), '127.0.0.1', () => {
    console.log('listening on http://127.0.0.1:' + server.address().port);
});
