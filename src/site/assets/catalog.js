// eprgen catalog filter: plain JavaScript, no framework, nothing fetched. The data comes from
// catalog-index.js (window.EPRGEN_CATALOG), which the build precomputes:
// - kibana_points: the boundary versions of every package's conditions.kibana.version, sorted;
// - packages[i].kibana: one '1'/'0' per class a release version can fall in (class 2k: strictly
//   between points k-1 and k; class 2k+1: point k itself), computed by eprgen's own constraint
//   matcher, the one /search uses. This script only finds the class of the typed version.
'use strict';

// Masterminds' lenient reading of a release version: optional "v", missing minor/patch are 0,
// build metadata ignored. Returns [major, minor, patch] as BigInt, or null. Prereleases are not
// accepted (the filter is for Kibana releases).
function parseRelease(s) {
    var m = /^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.exec(s.trim());
    if (!m) return null;
    var out = [], max = BigInt('18446744073709551615');
    for (var i = 1; i <= 3; i++) {
        var n = BigInt(m[i] === undefined ? '0' : m[i]);
        if (n > max) return null;
        out.push(n);
    }
    return out;
}

// Order of a point [M, m, p, prerelease?] against a release [M, m, p]: -1, 0 or 1.
function comparePoint(point, v) {
    for (var i = 0; i < 3; i++) {
        var a = BigInt(point[i]);
        if (a < v[i]) return -1;
        if (a > v[i]) return 1;
    }
    // Same numbers: a prerelease point is below the release.
    return point[3] ? -1 : 0;
}

// The class of a release among the points (see above).
function kibanaClass(points, v) {
    var lo = 0, hi = points.length;
    while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (comparePoint(points[mid], v) < 0) lo = mid + 1; else hi = mid;
    }
    return lo < points.length && comparePoint(points[lo], v) === 0 ? 2 * lo + 1 : 2 * lo;
}

// Whether a package has a version that a Kibana of version v (parsed) can install.
function installable(points, pkg, v) {
    return pkg.kibana.charAt(kibanaClass(points, v)) === '1';
}

// Which packages pass a filter { text, category, type, kibana }: a Set of names, or
// { error } when the Kibana version cannot be read.
function select(data, f) {
    var v = null;
    if (f.kibana) {
        v = parseRelease(f.kibana);
        if (!v) return { error: 'Not a Kibana release version: "' + f.kibana + '" (use MAJOR.MINOR.PATCH, e.g. 8.12.0)' };
    }
    var text = (f.text || '').trim().toLowerCase(), keep = new Set();
    data.packages.forEach(function (p) {
        if (text && (p.name + '\n' + p.title + '\n' + p.description).toLowerCase().indexOf(text) < 0) return;
        if (f.category && p.categories.indexOf(f.category) < 0) return;
        if (f.type && p.type !== f.type) return;
        if (v && !installable(data.kibana_points, p, v)) return;
        keep.add(p.name);
    });
    return { keep: keep };
}

if (typeof module !== 'undefined' && module.exports) {
    module.exports = { parseRelease: parseRelease, kibanaClass: kibanaClass, installable: installable, select: select };
} else {
    (function () {
        var data = window.EPRGEN_CATALOG;
        var fields = { text: 'f-text', category: 'f-category', type: 'f-type', kibana: 'f-kibana' };
        var el = function (id) { return document.getElementById(id); };
        if (!data || !el('packages')) return;
        // The filter lives in the URL fragment (#kibana=8.12.0&type=input), so a filtered view
        // can be linked to, also from file://.
        function fromHash() {
            var params = new URLSearchParams(location.hash.replace(/^#/, ''));
            Object.keys(fields).forEach(function (k) {
                var input = el(fields[k]);
                if (params.has(k)) input.value = params.get(k);
            });
        }
        function apply(updateHash) {
            var f = {}, params = new URLSearchParams();
            Object.keys(fields).forEach(function (k) {
                f[k] = el(fields[k]).value;
                if (f[k]) params.set(k, f[k]);
            });
            var r = select(data, f), cards = el('packages').children, shown = 0;
            el('f-error').hidden = !r.error;
            el('f-error').textContent = r.error || '';
            for (var i = 0; i < cards.length; i++) {
                var on = !r.error && r.keep.has(cards[i].getAttribute('data-name'));
                cards[i].hidden = !on;
                if (on) shown++;
            }
            el('f-empty').hidden = shown > 0 || !!r.error;
            el('f-status').textContent = shown + ' of ' + cards.length + ' packages';
            if (updateHash) {
                var h = params.toString();
                history.replaceState(null, '', h ? '#' + h : location.pathname + location.search);
            }
        }
        fromHash();
        apply(false);
        Object.keys(fields).forEach(function (k) {
            el(fields[k]).addEventListener('input', function () { apply(true); });
        });
        el('filter').addEventListener('submit', function (e) { e.preventDefault(); });
        window.addEventListener('hashchange', function () { fromHash(); apply(false); });
    })();
}
