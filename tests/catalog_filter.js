// Runs the catalog's filter (src/site/assets/catalog.js) in Node over a built catalog's data:
// node catalog_filter.js CATALOG_INDEX_JS CATALOG_JS VERSIONS_FILE
// prints one JSON line per version: null when the filter refuses it, else the names it keeps.
'use strict';
const fs = require('fs');
const [indexJs, catalogJs, versionsFile] = process.argv.slice(2);
global.window = {};
require(indexJs);
const data = global.window.EPRGEN_CATALOG;
const c = require(catalogJs);
for (const v of fs.readFileSync(versionsFile, 'utf8').split('\n')) {
    if (v === '') continue;
    const r = c.select(data, { kibana: v });
    console.log(JSON.stringify(r.error ? null : [...r.keep].sort()));
}
