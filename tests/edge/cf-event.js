// What the test harnesses share about CloudFront: the viewer-request event of a request, and
// the function loaded with a fake `cf.kvs()` backed by a KeyValueStore import file.
'use strict';

const fs = require('fs');

// The event CloudFront makes of a request: the URI and the query's names and values as sent
// (not decoded), a repeated name as multiValue, header names in lower case.
function eventOf(method, uri, rawQuery, reqHeaders) {
    const querystring = {};
    for (const pair of rawQuery === null ? [] : rawQuery.split('&')) {
        if (pair === '') continue;
        const e = pair.indexOf('=');
        const k = e < 0 ? pair : pair.slice(0, e);
        const v = { value: e < 0 ? '' : pair.slice(e + 1) };
        if (!Object.prototype.hasOwnProperty.call(querystring, k)) querystring[k] = v;
        else {
            const f = querystring[k];
            if (!f.multiValue) f.multiValue = [{ value: f.value }];
            f.multiValue.push(v);
        }
    }
    const headers = {};
    for (const [k, v] of Object.entries(reqHeaders || {})) headers[k.toLowerCase()] = { value: v };
    return {
        version: '1.0',
        context: { eventType: 'viewer-request' },
        viewer: { ip: '127.0.0.1' },
        request: { method, uri, querystring, headers, cookies: {} },
    };
}

// The function's handler, with `import cf from 'cloudfront'` bound to a fake whose kvs() reads
// the import file (a missing key rejects, as CloudFront's get does).
function loadFunction(functionPath, kvsPath) {
    const store = new Map(JSON.parse(fs.readFileSync(kvsPath, 'utf8')).data.map((e) => [e.key, e.value]));
    const cf = {
        kvs: () => ({
            get: async (key) => {
                if (!store.has(key)) throw new Error('KeyNotFound: ' + key);
                return store.get(key);
            },
        }),
    };
    const code = fs.readFileSync(functionPath, 'utf8').replace(/^import cf from 'cloudfront';$/m, '');
    return new Function('cf', code + '\nreturn handler;')(cf);
}

module.exports = { eventOf, loadFunction };
