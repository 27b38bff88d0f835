//! Composed answers: every /search and /categories answer computed at request time from a
//! per-version index that grows linearly with the catalog.
//!
//! The build writes one [`AnswerIndex`] (`_eprgen/index.json`): for each package version its
//! facts as class data (which value classes of `kibana.version`, `agent.version`, `spec.min`
//! and `spec.max` it passes, as toggle lists over the classes the route table already uses; its
//! name, type, categories, capabilities and discovery terms as indices into vocabularies) and
//! its /search item, rendered once as a fragment of the answer body. A router parses the query
//! as EPR does, places each version value in its class (the same class keys as the decision
//! diagrams), keeps the versions whose facts pass, selects through the catalog's own selection
//! rules (`catalog::search::select_in`, `catalog::categories::tally`) and joins fragments.
//!
//! Nothing here enumerates combinations: capabilities and discovery terms are sets compared
//! member by member, so there is no limit on how many a catalog uses.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use rayon::prelude::*;
use semver::Version;
use serde::{Deserialize, Serialize};

use super::routes::Dim;
use super::space::{self, VersionDims};
use crate::catalog::categories::{tally, CategoryCount};
use crate::catalog::categories_list;
use crate::catalog::entry::Entry;
use crate::catalog::query::{CategoriesFilter, DiscoveryFilter, SearchFilter};
use crate::catalog::search::{self, Versions};
use crate::package::gojson;
use crate::plan::constraint::precedence;

/// Where the index lives in the tree.
pub const INDEX: &str = "_eprgen/index.json";
pub const FORMAT: u32 = 1;

/// The composition index of one build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerIndex {
    pub format: u32,
    /// `kibana.version`, `agent.version` and the spec versions (`spec.min` and `spec.max`
    /// share one dimension): points and classes exactly as in the route table.
    pub kibana: Dim,
    pub agent: Dim,
    pub spec: Dim,
    pub names: Vec<String>,
    pub types: Vec<String>,
    pub capabilities: Vec<String>,
    /// Discovery field names and dataset names that some package declares.
    pub fields: Vec<String>,
    pub datasets: Vec<String>,
    /// Every category id a package or policy template lists, and their parents, sorted.
    pub categories: Vec<CategoryItem>,
    pub entries: Vec<IndexEntry>,
    /// /search items, each rendered as it appears inside an answer (two-space indented).
    pub fragments: Vec<String>,
}

/// One category of a /categories answer: the item's text before and after its count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryItem {
    pub id: String,
    pub head: String,
    pub tail: String,
}

fn is_zero(x: &u8) -> bool {
    *x == 0
}

/// One package version, in index order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Name (index into `names`).
    pub n: u32,
    /// Rank in answer order (name bytes, then precedence, then index order).
    pub o: u32,
    /// Dense precedence rank of the version over the whole catalog.
    pub p: u32,
    /// [`PRERELEASE`], [`EXPERIMENTAL`], [`STABLE`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub f: u8,
    /// Type (index into `types`).
    pub t: u32,
    /// Package categories in manifest order, duplicates kept (what /categories counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub c: Vec<u32>,
    /// Categories the package has, with the parents of known ones (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ch: Vec<u32>,
    /// Each policy template's categories (`None`: the template has no `categories` key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pt: Vec<Option<Vec<u32>>>,
    /// Categories some policy template has, with parents (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pth: Vec<u32>,
    /// Class toggles (see [`passes`]) of kibana.version, agent.version, spec.min, spec.max.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub k: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub a: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smin: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smax: Vec<u32>,
    /// Required capabilities (indices), when the package names any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Vec<u32>>,
    /// Discovery field names and dataset names (indices), when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub df: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dd: Option<Vec<u32>>,
    /// Its /search item (index into `fragments`).
    pub x: u32,
    /// (category, fragment): the item as a `category=` filter shows it when the category
    /// matched only through policy templates (EPR then trims `policy_templates`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v: Vec<(u32, u32)>,
}

/// The version has a semver prerelease part.
pub const PRERELEASE: u8 = 1;
/// Its release is `experimental`.
pub const EXPERIMENTAL: u8 = 2;
/// A release `>= 1.0.0` (for the legacy `all` listing).
pub const STABLE: u8 = 4;

/// Whether a version passes class `class` given its toggles: class 0 (parameter absent)
/// passes, and each toggle flips the outcome from that class on.
pub fn passes(toggles: &[u32], class: u32) -> bool {
    toggles.partition_point(|&t| t <= class) % 2 == 0
}

fn toggles(pass: impl Iterator<Item = bool>) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = true;
    for (i, p) in pass.enumerate() {
        if p != cur {
            out.push(i as u32);
            cur = p;
        }
    }
    out
}

/// The item of `e` inside an answer body (depth one of the array).
fn fragment(item: &serde_json::Value) -> String {
    let body = gojson::array_body(std::slice::from_ref(item));
    // "[\n" + fragment + "\n]\n"
    body[2..body.len() - 3].to_string()
}

fn vocab(items: impl Iterator<Item = String>) -> Vec<String> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}

fn positions(v: &[String]) -> HashMap<&str, u32> {
    v.iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect()
}

fn with_parents(list: &[String]) -> Vec<String> {
    let known = categories_list::known();
    let mut out: BTreeSet<String> = list.iter().cloned().collect();
    for c in list {
        if let Some(p) = known.get(c).and_then(|k| k.parent.clone()) {
            out.insert(p);
        }
    }
    out.into_iter().collect()
}

impl AnswerIndex {
    /// The index of a catalog, whose version dimensions are those of `dims`.
    pub fn build(entries: &[Entry], dims: &VersionDims) -> AnswerIndex {
        let names = vocab(entries.iter().map(|e| e.name.clone()));
        let types = vocab(entries.iter().map(|e| e.package_type.clone()));
        let capabilities = vocab(
            entries
                .iter()
                .flat_map(|e| e.capabilities.iter().flatten().cloned()),
        );
        let fields = vocab(
            entries
                .iter()
                .flat_map(|e| e.discovery_fields.iter().flatten().cloned()),
        );
        let datasets = vocab(
            entries
                .iter()
                .flat_map(|e| e.discovery_datasets.iter().flatten().cloned()),
        );
        let cat_ids = vocab(entries.iter().flat_map(|e| {
            let mut all = with_parents(&e.categories);
            for t in e.policy_template_categories.iter().flatten() {
                all.extend(with_parents(t));
            }
            all
        }));
        let (np, tp, capp, fp, dp, cp) = (
            positions(&names),
            positions(&types),
            positions(&capabilities),
            positions(&fields),
            positions(&datasets),
            positions(&cat_ids),
        );
        let idx = |m: &HashMap<&str, u32>, v: &[String]| -> Vec<u32> {
            v.iter().map(|s| m[s.as_str()]).collect()
        };
        // Answer order and precedence ranks.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| {
            entries[a]
                .name
                .as_bytes()
                .cmp(entries[b].name.as_bytes())
                .then_with(|| precedence(&entries[a].version, &entries[b].version))
                .then(a.cmp(&b))
        });
        let mut o = vec![0u32; entries.len()];
        for (rank, &i) in order.iter().enumerate() {
            o[i] = rank as u32;
        }
        let mut by_version: Vec<usize> = (0..entries.len()).collect();
        by_version.sort_by(|&a, &b| precedence(&entries[a].version, &entries[b].version));
        let mut p = vec![0u32; entries.len()];
        let mut rank = 0u32;
        for w in 0..by_version.len() {
            if w > 0
                && precedence(
                    &entries[by_version[w - 1]].version,
                    &entries[by_version[w]].version,
                ) != Ordering::Equal
            {
                rank += 1;
            }
            p[by_version[w]] = rank;
        }
        // The representative filter of each class of the version dimensions.
        let reps = |name: &str, d: &super::diagram::BuildDim| -> Vec<SearchFilter> {
            d.classes
                .iter()
                .map(|c| {
                    let mut q = String::from("prerelease=true");
                    if let Some(v) = &c.value {
                        q.push_str(&format!("&{name}={v}"));
                    }
                    SearchFilter::from_query(&q).expect("representatives are valid")
                })
                .collect()
        };
        let kibana_f = reps("kibana.version", &dims.kibana);
        let agent_f = reps("agent.version", &dims.agent);
        let min_f = reps("spec.min", &dims.spec);
        let max_f = reps("spec.max", &dims.spec);
        let built: Vec<(IndexEntry, Vec<String>)> = entries
            .par_iter()
            .enumerate()
            .map(|(i, e)| {
                let tog = |fs: &[SearchFilter]| toggles(fs.iter().map(|f| search::keeps(e, f)));
                let mut frags = vec![fragment(&e.search_json)];
                let ch = with_parents(&e.categories);
                let mut pth_all: Vec<String> = Vec::new();
                for t in e.policy_template_categories.iter().flatten() {
                    pth_all.extend(with_parents(t));
                }
                let pth = vocab(pth_all.into_iter());
                let mut v = Vec::new();
                for c in &pth {
                    if ch.contains(c) {
                        continue;
                    }
                    let f = SearchFilter {
                        category: Some(c.clone()),
                        ..SearchFilter::default()
                    };
                    let item = search::item(e, &f);
                    let text = fragment(&item);
                    let x = match frags.iter().position(|t| *t == text) {
                        Some(x) => x,
                        None => {
                            frags.push(text);
                            frags.len() - 1
                        }
                    };
                    v.push((cp[c.as_str()], x as u32));
                }
                let mut flags = 0;
                if e.is_prerelease() {
                    flags |= PRERELEASE;
                }
                if e.release == "experimental" {
                    flags |= EXPERIMENTAL;
                }
                if !e.is_prerelease() && e.version.major >= 1 {
                    flags |= STABLE;
                }
                (
                    IndexEntry {
                        n: np[e.name.as_str()],
                        o: o[i],
                        p: p[i],
                        f: flags,
                        t: tp[e.package_type.as_str()],
                        c: idx(&cp, &e.categories),
                        ch: idx(&cp, &ch),
                        pt: e
                            .policy_template_categories
                            .iter()
                            .map(|t| t.as_ref().map(|t| idx(&cp, t)))
                            .collect(),
                        pth: idx(&cp, &pth),
                        k: tog(&kibana_f),
                        a: tog(&agent_f),
                        smin: tog(&min_f),
                        smax: tog(&max_f),
                        cap: e.capabilities.as_ref().map(|c| idx(&capp, c)),
                        df: e.discovery_fields.as_ref().map(|c| idx(&fp, c)),
                        dd: e.discovery_datasets.as_ref().map(|c| idx(&dp, c)),
                        x: 0,
                        v,
                    },
                    frags,
                )
            })
            .collect();
        let mut fragments = Vec::with_capacity(entries.len());
        let mut index_entries = Vec::with_capacity(entries.len());
        for (mut e, frags) in built {
            let base = fragments.len() as u32;
            e.x = base;
            for (_, x) in e.v.iter_mut() {
                *x += base;
            }
            fragments.extend(frags);
            index_entries.push(e);
        }
        let categories = cat_ids
            .iter()
            .map(|id| {
                let c = CategoryCount::known(id, u64::MAX);
                let text = gojson::to_go_pretty(&crate::catalog::categories::categories_json(&[c]));
                let item = &text[2..text.len() - 3];
                let at = item
                    .find(&u64::MAX.to_string())
                    .expect("the count is in the item");
                CategoryItem {
                    id: id.clone(),
                    head: item[..at].to_string(),
                    tail: item[at + u64::MAX.to_string().len()..].to_string(),
                }
            })
            .collect();
        AnswerIndex {
            format: FORMAT,
            kibana: dims.kibana.dim.clone(),
            agent: dims.agent.dim.clone(),
            spec: dims.spec.dim.clone(),
            names,
            types,
            capabilities,
            fields,
            datasets,
            categories,
            entries: index_entries,
            fragments,
        }
    }
}

impl AnswerIndex {
    /// Entry `i`'s /search item under a `category=` filter (`None`: no filter), as a fragment.
    pub fn search_fragment(&self, i: usize, category: Option<&str>) -> &str {
        &self.fragments[self.search_fragment_id(i, category) as usize]
    }

    /// Which fragment is entry `i`'s /search item under a `category=` filter.
    fn search_fragment_id(&self, i: usize, category: Option<&str>) -> u32 {
        let e = &self.entries[i];
        let c = category.and_then(|c| {
            self.categories
                .binary_search_by(|x| x.id.as_str().cmp(c))
                .ok()
        });
        match c {
            Some(c) if e.ch.binary_search(&(c as u32)).is_err() => {
                e.v.iter()
                    .find(|(vc, _)| *vc == c as u32)
                    .map_or(e.x, |(_, x)| *x)
            }
            _ => e.x,
        }
    }
}

/// An index made ready for requests: class keys and vocabularies looked up by hash.
#[derive(Debug)]
pub struct Composer {
    pub index: AnswerIndex,
    versions: [(Vec<Version>, HashMap<String, u32>); 3],
    names: HashMap<String, u32>,
    types: HashMap<String, u32>,
    capabilities: HashMap<String, u32>,
    fields: HashMap<String, u32>,
    datasets: HashMap<String, u32>,
    categories: HashMap<String, u32>,
    /// Entries of each name, in index order.
    by_name: Vec<Vec<u32>>,
    /// Every fragment, each followed by `,\n`, laid out in answer order, so that the items of an
    /// answer that follow each other in it are mostly one slice: a body is sent as slices of
    /// this buffer, never copied.
    arena: Bytes,
    /// Each fragment's place in `arena` (start, end), by fragment id.
    spans: Vec<(usize, usize)>,
}

/// A composed body as slices of shared buffers; joined, they are the answer's bytes.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub parts: Vec<Bytes>,
    /// The body's length in bytes.
    pub len: usize,
    /// Bytes held by the parts alone (not slices of a buffer the composer keeps anyway).
    pub owned: usize,
}

impl Parts {
    fn push(&mut self, b: Bytes) {
        self.len += b.len();
        self.parts.push(b);
    }

    /// A body of one buffer of its own.
    pub fn owned(body: Vec<u8>) -> Parts {
        let len = body.len();
        Parts {
            parts: vec![Bytes::from(body)],
            len,
            owned: len,
        }
    }

    /// The memory a cached copy of these parts keeps alive.
    pub fn held(&self) -> usize {
        self.owned + self.parts.len() * std::mem::size_of::<Bytes>()
    }

    /// The whole body in one buffer.
    pub fn join(&self) -> Bytes {
        match self.parts.as_slice() {
            [one] => one.clone(),
            parts => {
                let mut out = Vec::with_capacity(self.len);
                for p in parts {
                    out.extend_from_slice(p);
                }
                Bytes::from(out)
            }
        }
    }
}

fn owned_positions(v: &[String]) -> HashMap<String, u32> {
    v.iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u32))
        .collect()
}

/// What a composition cannot answer: the index does not list a class a query falls in (never
/// for an index eprgen built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete;

/// The parts of a query the per-version facts are tested against.
struct Query {
    kibana: u32,
    agent: u32,
    min: u32,
    max: u32,
    name: Option<Option<u32>>,
    package_type: Option<Option<u32>>,
    /// Query capabilities as a membership table over the vocabulary.
    capabilities: Option<Vec<bool>>,
    /// Each discovery filter: fields (true) or datasets, membership table.
    discovery: Vec<(bool, Vec<bool>)>,
    prerelease: bool,
    experimental: bool,
}

impl Composer {
    pub fn new(index: AnswerIndex) -> Composer {
        let prep = |d: &Dim| (space::dim_points(d), owned_positions(&d.classes));
        let mut by_name = vec![Vec::new(); index.names.len()];
        for (i, e) in index.entries.iter().enumerate() {
            by_name[e.n as usize].push(i as u32);
        }
        // Fragments in answer order (an entry's own item by its rank; category variants last).
        let mut rank = vec![u32::MAX; index.fragments.len()];
        for e in &index.entries {
            if let Some(r) = rank.get_mut(e.x as usize) {
                *r = e.o;
            }
        }
        let mut order: Vec<usize> = (0..index.fragments.len()).collect();
        order.sort_by_key(|&f| (rank[f], f));
        let total: usize = index.fragments.iter().map(|f| f.len() + 2).sum();
        let mut arena = Vec::with_capacity(total);
        let mut spans = vec![(0, 0); index.fragments.len()];
        for f in order {
            let start = arena.len();
            arena.extend_from_slice(index.fragments[f].as_bytes());
            spans[f] = (start, arena.len());
            arena.extend_from_slice(b",\n");
        }
        Composer {
            arena: Bytes::from(arena),
            spans,
            versions: [prep(&index.kibana), prep(&index.agent), prep(&index.spec)],
            names: owned_positions(&index.names),
            types: owned_positions(&index.types),
            capabilities: owned_positions(&index.capabilities),
            fields: owned_positions(&index.fields),
            datasets: owned_positions(&index.datasets),
            categories: owned_positions(
                &index
                    .categories
                    .iter()
                    .map(|c| c.id.clone())
                    .collect::<Vec<_>>(),
            ),
            by_name,
            index,
        }
    }

    fn class(&self, which: usize, dim: &Dim, v: Option<&Version>) -> Result<u32, Incomplete> {
        let (points, keys) = &self.versions[which];
        let key = space::version_dim_key(dim, points, v);
        keys.get(&key).copied().ok_or(Incomplete)
    }

    fn membership(
        &self,
        vocab: &HashMap<String, u32>,
        len: usize,
        given: &BTreeSet<String>,
    ) -> Vec<bool> {
        let mut m = vec![false; len];
        for g in given {
            if let Some(&i) = vocab.get(g) {
                m[i as usize] = true;
            }
        }
        m
    }

    fn query(&self, f: &SearchFilter) -> Result<Query, Incomplete> {
        let ix = &self.index;
        Ok(Query {
            kibana: self.class(0, &ix.kibana, f.kibana_version.as_ref())?,
            agent: self.class(1, &ix.agent, f.agent_version.as_ref())?,
            min: self.class(2, &ix.spec, f.spec_min.as_ref())?,
            max: self.class(2, &ix.spec, f.spec_max.as_ref())?,
            name: f.package.as_ref().map(|p| self.names.get(p).copied()),
            package_type: f.package_type.as_ref().map(|t| self.types.get(t).copied()),
            capabilities: f
                .capabilities
                .as_ref()
                .map(|c| self.membership(&self.capabilities, ix.capabilities.len(), c)),
            discovery: f
                .discovery
                .iter()
                .map(|d| match d {
                    DiscoveryFilter::Fields(s) => {
                        (true, self.membership(&self.fields, ix.fields.len(), s))
                    }
                    DiscoveryFilter::Datasets(s) => {
                        (false, self.membership(&self.datasets, ix.datasets.len(), s))
                    }
                })
                .collect(),
            prerelease: f.prerelease,
            experimental: f.experimental,
        })
    }

    /// `catalog::search::keeps` over the index.
    fn keeps(&self, e: &IndexEntry, q: &Query) -> bool {
        let name_ok = q.name.is_none_or(|n| n == Some(e.n));
        let type_ok = q.package_type.is_none_or(|t| t == Some(e.t));
        let kibana_ok = passes(&e.k, q.kibana);
        if q.experimental {
            return kibana_ok && name_ok && type_ok;
        }
        if !q.prerelease && e.f & (PRERELEASE | EXPERIMENTAL) != 0 {
            return false;
        }
        let caps_ok = match (&e.cap, &q.capabilities) {
            (Some(req), Some(given)) => req.iter().all(|&c| given[c as usize]),
            _ => true,
        };
        let discovery_ok = q.discovery.iter().all(|(fields, given)| {
            if *fields {
                e.df.as_ref()
                    .is_some_and(|l| !l.is_empty() && l.iter().all(|&x| given[x as usize]))
            } else {
                e.dd.as_ref()
                    .is_some_and(|l| l.iter().any(|&x| given[x as usize]))
            }
        });
        kibana_ok
            && passes(&e.a, q.agent)
            && name_ok
            && type_ok
            && caps_ok
            && discovery_ok
            && passes(&e.smin, q.min)
            && passes(&e.smax, q.max)
    }

    fn candidates(&self, q: &Query) -> Vec<usize> {
        let ix = &self.index;
        match q.name {
            Some(None) => Vec::new(),
            Some(Some(n)) => self.by_name[n as usize]
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| self.keeps(&ix.entries[i], q))
                .collect(),
            None => (0..ix.entries.len())
                .filter(|&i| self.keeps(&ix.entries[i], q))
                .collect(),
        }
    }

    /// The /search answer: the fragments of its items, in answer order.
    pub fn search(&self, f: &SearchFilter) -> Result<Vec<&str>, Incomplete> {
        Ok(self
            .search_ids(f)?
            .into_iter()
            .map(|x| self.index.fragments[x as usize].as_str())
            .collect())
    }

    /// The /search answer as the ids of its items' fragments, in answer order.
    fn search_ids(&self, f: &SearchFilter) -> Result<Vec<u32>, Incomplete> {
        let q = self.query(f)?;
        let kept = self.candidates(&q);
        let category = f.category.as_ref().map(|c| self.categories.get(c).copied());
        let view = IndexView {
            ix: &self.index,
            category,
        };
        let picked = search::select_in(&view, &kept, f.experimental, f.all);
        Ok(picked
            .into_iter()
            .map(|i| self.index.search_fragment_id(i, f.category.as_deref()))
            .collect())
    }

    /// The /categories answer: (category, count) in id order.
    pub fn categories(&self, f: &CategoriesFilter) -> Result<BTreeMap<u32, u64>, Incomplete> {
        let sf = f.search_filter();
        let q = self.query(&sf)?;
        let kept = self.candidates(&q);
        let view = IndexView {
            ix: &self.index,
            category: None,
        };
        let picked = search::select_in(&view, &kept, sf.experimental, false);
        let ix = &self.index;
        Ok(tally(
            picked.iter().map(|&i| {
                let e = &ix.entries[i];
                (e.c.as_slice(), e.pt.as_slice(), move |c: &u32| {
                    e.ch.binary_search(c).is_ok()
                })
            }),
            f.include_policy_templates,
        ))
    }

    /// A /search body as EPR writes it.
    pub fn search_body(&self, f: &SearchFilter) -> Result<Vec<u8>, Incomplete> {
        Ok(join_search(&self.search(f)?))
    }

    /// A /search body as EPR writes it ([`join_search`]'s bytes), as slices of the fragment
    /// arena: items that follow each other in the arena go out as one slice.
    pub fn search_parts(&self, f: &SearchFilter) -> Result<Parts, Incomplete> {
        let ids = self.search_ids(f)?;
        let mut out = Parts::default();
        if ids.is_empty() {
            out.push(Bytes::from_static(b"[]"));
            return Ok(out);
        }
        out.push(Bytes::from_static(b"[\n"));
        let mut run: Option<(usize, usize)> = None;
        for x in ids {
            let (start, end) = self.spans[x as usize];
            run = match run {
                // The next fragment starts right after this one's `,\n`: extend the slice.
                Some((s, e)) if e + 2 == start => Some((s, end)),
                Some((s, e)) => {
                    out.push(self.arena.slice(s..e + 2));
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((s, e)) = run {
            out.push(self.arena.slice(s..e));
        }
        out.push(Bytes::from_static(b"\n]\n"));
        Ok(out)
    }

    /// A /categories body as EPR writes it.
    pub fn categories_body(&self, f: &CategoriesFilter) -> Result<Vec<u8>, Incomplete> {
        let counts = self.categories(f)?;
        if counts.is_empty() {
            return Ok(b"[]\n".to_vec());
        }
        let mut out = String::from("[\n");
        for (i, (c, n)) in counts.iter().enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            let item = &self.index.categories[*c as usize];
            out.push_str(&item.head);
            out.push_str(&n.to_string());
            out.push_str(&item.tail);
        }
        out.push_str("\n]\n");
        Ok(out.into_bytes())
    }
}

/// `[` + items joined by `,` + `]`, as Go's indented encoder lays out an array; `[]` (no
/// newline) for none, as EPR's /search writes it.
pub fn join_search(fragments: &[&str]) -> Vec<u8> {
    if fragments.is_empty() {
        return b"[]".to_vec();
    }
    let len: usize = fragments.iter().map(|f| f.len() + 2).sum::<usize>() + 4;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"[\n");
    for (i, f) in fragments.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(f.as_bytes());
    }
    out.extend_from_slice(b"\n]\n");
    out
}

/// The index as the selection rules see it.
struct IndexView<'a> {
    ix: &'a AnswerIndex,
    /// The filter's category: `Some(None)` for one no package lists.
    category: Option<Option<u32>>,
}

impl Versions for IndexView<'_> {
    type Name = u32;
    fn name(&self, i: usize) -> u32 {
        self.ix.entries[i].n
    }
    fn cmp_versions(&self, a: usize, b: usize) -> Ordering {
        self.ix.entries[a].p.cmp(&self.ix.entries[b].p)
    }
    fn is_prerelease(&self, i: usize) -> bool {
        self.ix.entries[i].f & PRERELEASE != 0
    }
    fn is_stable(&self, i: usize) -> bool {
        self.ix.entries[i].f & STABLE != 0
    }
    fn in_category(&self, i: usize) -> bool {
        match self.category {
            None => true,
            Some(None) => false,
            Some(Some(c)) => {
                let e = &self.ix.entries[i];
                e.ch.binary_search(&c).is_ok() || e.pth.binary_search(&c).is_ok()
            }
        }
    }
    fn sort(&self, picked: &mut [usize]) {
        picked.sort_unstable_by_key(|&i| self.ix.entries[i].o);
    }
}
