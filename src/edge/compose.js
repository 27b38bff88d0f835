// Composed answers in JavaScript: `plan::compose::Composer` over the composition index
// (`_eprgen/index.json`), for routers that compose without eprgen (nginx's njs). It follows
// router.js (filterOf, versionKey, indexIn) and is checked against the Rust composer by
// tests/edge_equivalence.rs. Written for njs 0.7 like router.js: no classes, destructuring,
// spread or for-of.

// Whether toggles `t` pass class `c` (compose::passes): class 0 passes, each toggle flips.
function passes(t, c) {
    var lo = 0, hi = t ? t.length : 0;
    while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (t[mid] <= c) lo = mid + 1;
        else hi = mid;
    }
    return lo % 2 === 0;
}

// The class index of a parsed version (undefined: absent) in a version dimension, or -1.
function vclass(dim, v) {
    return indexIn(dim.classes, v === undefined ? '-' : versionKey(dim.values || [], (dim.sets || [])[0] || [], v));
}

function holds(a, x) {
    return a !== undefined && indexIn(a, x) >= 0;
}

// compose::Composer::keeps: the per-version filters of a parsed query `q`.
function keepsIx(ix, e, q) {
    var nameOk = q.name === undefined || q.name === e.n, typeOk = q.type === undefined || q.type === e.t;
    var kibanaOk = passes(e.k, q.k);
    if (q.exp) return kibanaOk && nameOk && typeOk;
    if (!q.pre && (e.f || 0) & 3) return false;
    var i;
    if (e.cap !== undefined && q.caps !== undefined) {
        for (i = 0; i < e.cap.length; i++) if (q.caps.indexOf(ix.capabilities[e.cap[i]]) < 0) return false;
    }
    for (var d = 0; d < q.disc.length; d++) {
        var x = q.disc[d], list = x.f ? e.df : e.dd, vocab = x.f ? ix.fields : ix.datasets, hit = 0;
        if (list === undefined || (x.f && list.length === 0)) return false;
        for (i = 0; i < list.length; i++) if (x.n.indexOf(vocab[list[i]]) >= 0) hit++;
        if (x.f ? hit < list.length : hit === 0) return false;
    }
    return kibanaOk && passes(e.a, q.a) && nameOk && typeOk && passes(e.smin, q.min) && passes(e.smax, q.max);
}

// catalog::search::select_in over the index: one version per name (or all), the legacy rules.
function selectIx(ix, kept, exp, all) {
    var E = ix.entries, out = [], slot = {}, i, j;
    var pre = (x) => ((E[x].f || 0) & 1) !== 0, stable = (x) => ((E[x].f || 0) & 4) !== 0;
    if (exp && all) {
        var names = {};
        for (i = 0; i < kept.length; i++) if (stable(kept[i])) names[E[kept[i]].n] = 1;
        for (i = 0; i < kept.length; i++) if (stable(kept[i]) || !names[E[kept[i]].n]) out.push(kept[i]);
        return out;
    }
    if (all) return kept.slice();
    for (i = 0; i < kept.length; i++) {
        j = kept[i];
        var s = slot[E[j].n];
        if (s === undefined) {
            slot[E[j].n] = out.length;
            out.push(j);
            continue;
        }
        var cur = out[s];
        if (exp) {
            if (pre(cur) === pre(j) && E[cur].p >= E[j].p) continue;
            if (!pre(cur) && pre(j)) continue;
            out[s] = j;
        } else if (E[cur].p < E[j].p) out[s] = j;
    }
    return out;
}

function catIndex(ix, id) {
    for (var i = 0; i < ix.categories.length; i++) if (ix.categories[i].id === id) return i;
    return -1;
}

// A composed body for endpoint `ep` ('search' or 'categories') and a parsed filter `f`
// (filterOf(..).f), or null when the index cannot place a value (never for eprgen's index).
function compose(ix, ep, f) {
    var q = {
        k: vclass(ix.kibana, f['kibana.version']), a: vclass(ix.agent, f['agent.version']),
        min: vclass(ix.spec, f['spec.min']), max: vclass(ix.spec, f['spec.max']),
        caps: f.capabilities, disc: f.discovery || [], pre: !!f.prerelease, exp: !!f.experimental
    };
    if (q.k < 0 || q.a < 0 || q.min < 0 || q.max < 0) return null;
    if (f['package'] !== undefined) q.name = indexIn(ix.names, f['package']);
    if (f.type !== undefined) q.type = indexIn(ix.types, f.type);
    var E = ix.entries, kept = [], i, j;
    for (i = 0; i < E.length; i++) if (keepsIx(ix, E[i], q)) kept.push(i);
    var cat = f.category === undefined ? undefined : catIndex(ix, f.category);
    var picked = selectIx(ix, kept, q.exp, !!f.all), sel = [];
    for (i = 0; i < picked.length; i++) {
        var e = E[picked[i]];
        if (cat === undefined || holds(e.ch, cat) || holds(e.pth, cat)) sel.push(picked[i]);
    }
    sel.sort((x, y) => E[x].o - E[y].o);
    if (ep === 'search') {
        if (sel.length === 0) return '[]';
        var items = [];
        for (i = 0; i < sel.length; i++) {
            var x = E[sel[i]], frag = x.x;
            if (cat !== undefined && !holds(x.ch, cat)) {
                for (j = 0; x.v && j < x.v.length; j++) if (x.v[j][0] === cat) frag = x.v[j][1];
            }
            items.push(ix.fragments[frag]);
        }
        return '[\n' + items.join(',\n') + '\n]\n';
    }
    // categories::tally
    var counts = {}, add = (c) => {
        counts[c] = (counts[c] || 0) + 1;
    };
    for (i = 0; i < sel.length; i++) {
        var p = E[sel[i]], pc = p.c || [], pt = p.pt || [], extra = [];
        for (j = 0; j < pc.length; j++) add(pc[j]);
        if (!f.include_policy_templates) continue;
        for (var t = 0; t < pt.length; t++) {
            if (pt[t] === null && pt.length === 1) break;
            for (j = 0; j < pc.length; j++) add(pc[j]);
            var tc = pt[t] || [];
            for (j = 0; j < tc.length; j++) {
                if (!holds(p.ch, tc[j]) && extra.indexOf(tc[j]) < 0) {
                    extra.push(tc[j]);
                    add(tc[j]);
                }
                add(tc[j]);
            }
        }
    }
    var ids = [];
    for (var k in counts) ids.push(+k);
    if (ids.length === 0) return '[]\n';
    ids.sort((x, y) => x - y);
    var out = [];
    for (i = 0; i < ids.length; i++) {
        var c = ix.categories[ids[i]];
        out.push(c.head + counts[ids[i]] + c.tail);
    }
    return '[\n' + out.join(',\n') + '\n]\n';
}
