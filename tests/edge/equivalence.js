// The JavaScript side of tests/edge_equivalence.rs:
//
//   node equivalence.js ROUTER.js ROUTES.json MANIFEST.json FUNCTION.js KVS.json CASES.json INDEX.json
//
// For every case it prints what router.js (as nginx runs it: the whole route table in memory)
// and the CloudFront function (route table in the KeyValueStore) answer, one JSON line each:
//   query cases [endpoint, raw query]: {keys | e, route: {id} | {s, e}, cf, composed}
//   (`composed`: the body compose.js makes from the index, for every query that parses)
//   path cases [raw path, raw query or null]: {resolve, cf}
// `cf` is the function's result: {request: uri} or {status, headers, body}.
'use strict';

const fs = require('fs');
const vm = require('vm');
const { eventOf, loadFunction } = require('./cf-event.js');

const [routerPath, routesPath, manifestPath, fnPath, kvsPath, casesPath, indexPath] = process.argv.slice(2);
const router = {};
vm.createContext(router);
vm.runInContext(fs.readFileSync(routerPath, 'utf8'), router);
const routes = JSON.parse(fs.readFileSync(routesPath, 'utf8'));
const files = JSON.parse(fs.readFileSync(manifestPath, 'utf8')).files;
const handler = loadFunction(fnPath, kvsPath);
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));

// The table nginx.js builds, over plain objects.
const table = {
    path: (p) => router.own(routes.paths, p),
    pkg: (n, v) => router.own(router.own(routes.packages, n), v),
    file: (rel) => {
        const m = router.own(files, rel);
        return m && !m.content_encoding ? m : null;
    },
    route: (ep, q) => router.route(routes[ep], ep, q),
};

async function cf(path, query) {
    const out = await handler(eventOf('GET', path, query, {}));
    if (out.statusCode === undefined) return { request: out.uri, query: out.querystring };
    const headers = {};
    for (const [k, v] of Object.entries(out.headers || {})) headers[k] = v.value;
    return { status: out.statusCode, headers, body: out.body };
}

(async () => {
    const lines = [];
    for (const [ep, q] of cases.queries) {
        const k = router.keys(routes[ep], ep, q);
        const f = router.filterOf(ep, q);
        lines.push(JSON.stringify({
            keys: k.k, e: k.e, route: router.route(routes[ep], ep, q), cf: await cf('/' + ep, q === '' ? null : q),
            composed: f.f ? router.compose(index, ep, f.f) : undefined,
        }));
    }
    for (const [path, q] of cases.paths) {
        lines.push(JSON.stringify({ resolve: router.resolve(table, path, q), cf: await cf(path, q) }));
    }
    process.stdout.write(lines.join('\n') + '\n');
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
