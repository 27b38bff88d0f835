//! The answer space of /search and /categories: which dimensions, which value classes, how a
//! query is reduced to one class per dimension (the canonical query), and the builder hooks
//! that compute candidate sets and answers through the catalog's own semantics.
//!
//! Correctness rests on two facts, both checked by property tests: the class key of a value
//! determines every package's per-dimension predicate, and the per-package filter of a whole
//! query is the conjunction of the per-dimension ones.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use semver::{BuildMetadata, Prerelease, Version};

use super::classes::{self, ABSENT};
use super::compose::AnswerIndex;
use super::diagram::{BuildDim, Builder, Class, Modes, Set, Space};
use super::routes::{Diagram, Dim, DimKind};
use crate::catalog::categories;
use crate::catalog::categories_list;
use crate::catalog::entry::Entry;
use crate::catalog::query::{CategoriesFilter, DiscoveryFilter, SearchFilter};
use crate::catalog::search;
use crate::package::gojson;
use crate::plan::constraint::precedence;
use crate::render::headers::CacheKind;

/// Where answer bodies go as soon as they are made (so they are never all held in memory):
/// called once per distinct body with its blake3 (hex) and cache kind.
pub type Sink<'s> = dyn FnMut(&str, &[u8], CacheKind) -> crate::error::Result<()> + 's;

/// Everything the planner hands on.
pub struct Planned {
    pub search: Diagram,
    pub categories: Diagram,
    /// Total bytes of distinct answer bodies.
    pub answer_bytes: u64,
    /// The per-version index every other answer is composed from (`None` when a rebuild
    /// takes the previous build's file as it is).
    pub index: Option<AnswerIndex>,
}

/// The key of the class that stands for every value a dimension does not materialize.
pub const OTHER: &str = "~";

/// Which classes of a dimension get whole answer bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Every class.
    All,
    /// Absent, and the classes of these values (`None` is "absent" too).
    Values(Vec<Option<String>>),
}

/// Which queries get whole, materialized bodies (files a plain CDN serves); every other query
/// is composed from the index by `eprgen serve`, nginx or the CDN's fallback origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `--materialize all`: every class of every dimension (and no composition needed).
    pub all: bool,
    /// Deployment presets: `capabilities`, `spec.min`, `spec.max` as Kibana's configuration
    /// sends them (a query string of those parameters); the absent preset is always there.
    pub presets: Vec<String>,
}

/// Kibana's own serverless project settings (`config/serverless.oblt.yml` and
/// `config/serverless.security.yml`: `xpack.fleet.internal.registry.capabilities` and
/// `.spec.min`/`.spec.max`); the Elasticsearch project type runs without Fleet.
pub const DEFAULT_PRESETS: &[&str] = &[
    "capabilities=apm,observability&spec.min=1.0&spec.max=3.0",
    "capabilities=security&spec.min=1.0&spec.max=3.0",
];

/// The parameters a preset may set.
const PRESET_PARAMS: &[&str] = &["capabilities", "spec.min", "spec.max"];

impl Default for Profile {
    fn default() -> Self {
        Profile {
            all: false,
            presets: DEFAULT_PRESETS.iter().map(|p| p.to_string()).collect(),
        }
    }
}

impl Profile {
    /// Checks every preset: only `capabilities`, `spec.min`, `spec.max`, values EPR accepts.
    pub fn check(&self) -> Result<(), String> {
        for p in &self.presets {
            for key in crate::catalog::query::parse_query(p).keys() {
                if !PRESET_PARAMS.contains(&key.as_str()) {
                    return Err(format!(
                        "profile preset {p:?}: {key:?} is not one of {}",
                        PRESET_PARAMS.join(", ")
                    ));
                }
            }
            SearchFilter::from_query(p).map_err(|e| format!("profile preset {p:?}: {e}"))?;
        }
        Ok(())
    }

    /// The classes of dimension `name` this profile materializes.
    fn keep(&self, name: &str) -> Keep {
        if self.all {
            return Keep::All;
        }
        match name {
            "agent.version" | "discovery" => Keep::Values(vec![None]),
            "capabilities" | "spec.min" | "spec.max" => Keep::Values(
                self.presets
                    .iter()
                    .map(|p| {
                        crate::catalog::query::parse_query(p)
                            .get(name)
                            .and_then(|v| v.first().cloned())
                            .filter(|v| !v.is_empty())
                    })
                    .collect(),
            ),
            _ => Keep::All,
        }
    }
}

/// The version dimensions, with every class (the composition index is cut along them).
pub struct VersionDims {
    pub kibana: BuildDim,
    pub agent: BuildDim,
    pub spec: BuildDim,
}

/// The class key of a version value (`None`: absent) in a version or spec dimension.
pub fn version_dim_key(dim: &Dim, points: &[Version], v: Option<&Version>) -> String {
    key_of(dim, points, Value::Version(v))
}

/// Distinct bodies seen so far, and the sink they go to.
struct Bodies<'s, 'k> {
    sink: &'k mut Sink<'s>,
    bytes: u64,
    error: Option<crate::error::Error>,
}

// ---------------------------------------------------------------------------------------------
// Class keys: the canonical query. One function per dimension kind, shared by the builder (to
// name the classes of its representatives) and by every router.

fn strip(v: &Version) -> Version {
    let mut v = v.clone();
    v.build = BuildMetadata::EMPTY;
    v
}

/// A version among sorted points: `k` (strictly between points k-1 and k, a release), `k-`
/// (a prerelease there), `k-~t` (a prerelease tagged exactly `t`, one of `tags`), `k=` (point k).
pub fn version_key(points: &[Version], tags: &[String], v: &Version) -> String {
    let v = strip(v);
    let k = points.partition_point(|p| precedence(p, &v) == Ordering::Less);
    if k < points.len() && precedence(&points[k], &v) == Ordering::Equal {
        return format!("{k}=");
    }
    if v.pre.is_empty() {
        return format!("{k}");
    }
    match tags.iter().find(|t| t.as_str() == v.pre.as_str()) {
        Some(t) => format!("{k}-~{t}"),
        None => format!("{k}-"),
    }
}

fn bits(it: impl Iterator<Item = bool>) -> String {
    it.map(|b| if b { '1' } else { '0' }).collect()
}

/// Discovery: which of the distinct field sets pass every `fields:` filter, and which of the
/// distinct dataset sets hit every `datasets:` filter (`-` where there is no such filter).
pub fn discovery_key(
    field_sets: &[Vec<String>],
    dataset_sets: &[Vec<String>],
    d: &BTreeSet<DiscoveryFilter>,
) -> String {
    if d.is_empty() {
        return ABSENT.into();
    }
    let fields: Vec<&BTreeSet<String>> = d
        .iter()
        .filter_map(|x| {
            if let DiscoveryFilter::Fields(s) = x {
                Some(s)
            } else {
                None
            }
        })
        .collect();
    let datasets: Vec<&BTreeSet<String>> = d
        .iter()
        .filter_map(|x| {
            if let DiscoveryFilter::Datasets(s) = x {
                Some(s)
            } else {
                None
            }
        })
        .collect();
    let f = if fields.is_empty() {
        ABSENT.to_string()
    } else {
        bits(
            field_sets
                .iter()
                .map(|p| fields.iter().all(|q| p.iter().all(|x| q.contains(x)))),
        )
    };
    let s = if datasets.is_empty() {
        ABSENT.to_string()
    } else {
        bits(
            dataset_sets
                .iter()
                .map(|p| datasets.iter().all(|q| p.iter().any(|x| q.contains(x)))),
        )
    };
    format!("f{f}d{s}")
}

/// The parsed value of one dimension, whatever the endpoint.
enum Value<'a> {
    Bool(bool),
    Version(Option<&'a Version>),
    Name(Option<&'a str>),
    Set(Option<&'a BTreeSet<String>>),
    Discovery(&'a BTreeSet<DiscoveryFilter>),
}

fn key_of(dim: &Dim, points: &[Version], v: Value<'_>) -> String {
    match v {
        Value::Bool(b) => classes::bool_key(b),
        Value::Version(None) => ABSENT.into(),
        Value::Version(Some(v)) => {
            version_key(points, &dim.sets.first().cloned().unwrap_or_default(), v)
        }
        Value::Name(None) => ABSENT.into(),
        Value::Name(Some(n)) => {
            if n != ABSENT && n != classes::UNKNOWN && dim.classes.iter().any(|c| c == n) {
                n.to_string()
            } else {
                classes::UNKNOWN.into()
            }
        }
        Value::Set(None) => ABSENT.into(),
        Value::Set(Some(s)) => {
            let items: Vec<String> = s.iter().cloned().collect();
            classes::set_key(&dim.values, Some(&items))
        }
        Value::Discovery(d) => discovery_key(&dim.sets, &dim.sets2, d),
    }
}

fn search_value<'a>(f: &'a SearchFilter, name: &str) -> Value<'a> {
    match name {
        "experimental" => Value::Bool(f.experimental),
        "package" => Value::Name(f.package.as_deref()),
        "type" => Value::Name(f.package_type.as_deref()),
        "prerelease" => Value::Bool(f.prerelease),
        "kibana.version" => Value::Version(f.kibana_version.as_ref()),
        "agent.version" => Value::Version(f.agent_version.as_ref()),
        "capabilities" => Value::Set(f.capabilities.as_ref()),
        "spec.min" => Value::Version(f.spec_min.as_ref()),
        "spec.max" => Value::Version(f.spec_max.as_ref()),
        "discovery" => Value::Discovery(&f.discovery),
        "all" => Value::Bool(f.all),
        "category" => Value::Name(f.category.as_deref()),
        other => unreachable!("no /search dimension {other}"),
    }
}

fn categories_value<'a>(f: &'a CategoriesFilter, name: &str) -> Value<'a> {
    match name {
        "experimental" => Value::Bool(f.experimental),
        "prerelease" => Value::Bool(f.prerelease),
        "kibana.version" => Value::Version(f.kibana_version.as_ref()),
        "agent.version" => Value::Version(f.agent_version.as_ref()),
        "capabilities" => Value::Set(f.capabilities.as_ref()),
        "spec.min" => Value::Version(f.spec_min.as_ref()),
        "spec.max" => Value::Version(f.spec_max.as_ref()),
        "discovery" => Value::Discovery(&f.discovery),
        "include_policy_templates" => Value::Bool(f.include_policy_templates),
        other => unreachable!("no /categories dimension {other}"),
    }
}

/// Parsed points of a version dimension (kept as strings in the route table).
pub fn dim_points(dim: &Dim) -> Vec<Version> {
    if !matches!(dim.kind, DimKind::Version | DimKind::Spec) {
        return Vec::new();
    }
    dim.values
        .iter()
        .map(|s| Version::parse(s).expect("route table points are semver"))
        .collect()
}

/// The class key of every dimension for a parsed /search query.
pub fn search_keys(d: &Diagram, points: &[Vec<Version>], f: &SearchFilter) -> Vec<String> {
    d.dims
        .iter()
        .zip(points)
        .map(|(dim, p)| key_of(dim, p, search_value(f, &dim.name)))
        .collect()
}

pub fn categories_keys(d: &Diagram, points: &[Vec<Version>], f: &CategoriesFilter) -> Vec<String> {
    d.dims
        .iter()
        .zip(points)
        .map(|(dim, p)| key_of(dim, p, categories_value(f, &dim.name)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dimensions and their classes, from the catalog.

fn sorted_points(mut v: Vec<Version>) -> Vec<Version> {
    for p in v.iter_mut() {
        *p = strip(p);
    }
    v.sort_by(precedence);
    v.dedup_by(|a, b| precedence(a, b) == Ordering::Equal);
    v
}

fn smallest_release_above(p: &Version) -> Version {
    if p.pre.is_empty() {
        Version::new(p.major, p.minor, p.patch + 1)
    } else {
        Version::new(p.major, p.minor, p.patch)
    }
}

fn with_pre(mut v: Version, pre: &str) -> Version {
    v.pre = Prerelease::new(pre).expect("valid prerelease");
    v
}

fn smallest_prerelease_above(p: &Version) -> Version {
    if p.pre.is_empty() {
        with_pre(Version::new(p.major, p.minor, p.patch + 1), "0")
    } else {
        let pre = format!("{}.0", p.pre);
        with_pre(Version::new(p.major, p.minor, p.patch), &pre)
    }
}

/// Candidate representatives of a version dimension: every class has its smallest member here.
fn version_candidates(points: &[Version], tags: &[String], spec: bool) -> Vec<Version> {
    let mut out = vec![Version::new(0, 0, 0), with_pre(Version::new(0, 0, 0), "0")];
    for t in tags {
        out.push(with_pre(Version::new(0, 0, 0), t));
    }
    for p in points {
        out.push(p.clone());
        if spec {
            // spec.min/spec.max are MAJOR.MINOR only: the next value above M.m.0 is M.(m+1).0.
            let next = Version::new(p.major, p.minor + 1, 0);
            out.push(with_pre(next.clone(), "0"));
            out.push(next);
        } else {
            out.push(smallest_release_above(p));
            out.push(smallest_prerelease_above(p));
            for t in tags {
                for base in [
                    Version::new(p.major, p.minor, p.patch),
                    Version::new(p.major, p.minor, p.patch + 1),
                ] {
                    let v = with_pre(base, t);
                    if precedence(&v, p) == Ordering::Greater {
                        out.push(v);
                        break;
                    }
                }
            }
        }
    }
    out
}

fn version_dim_classes(dim: &Dim, spec: bool) -> Vec<Class> {
    let points = dim_points(dim);
    let tags = dim.sets.first().cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut out = vec![Class {
        key: ABSENT.into(),
        value: None,
    }];
    seen.insert(ABSENT.to_string());
    for v in version_candidates(&points, &tags, spec) {
        let key = version_key(&points, &tags, &v);
        if seen.insert(key.clone()) {
            let value = if spec {
                let mut s = format!("{}.{}", v.major, v.minor);
                if !v.pre.is_empty() {
                    s.push('-');
                    s.push_str(v.pre.as_str());
                }
                s
            } else {
                v.to_string()
            };
            out.push(Class {
                key,
                value: Some(value),
            });
        }
    }
    // Releases first, in version order, then prereleases: a node's children then come in
    // long runs (most constraints name no prerelease, so all prerelease classes go one way).
    let rank = |k: &str| -> (bool, u64, u8, String) {
        let digits: String = k.chars().take_while(|c| c.is_ascii_digit()).collect();
        let n = digits.parse().unwrap_or(0);
        let rest = &k[digits.len()..];
        match rest {
            "" => (false, n, 0, String::new()),
            "=" => (false, n, 1, String::new()),
            _ => (true, n, 0, rest.to_string()),
        }
    };
    out[1..].sort_by_key(|c| rank(&c.key));
    out
}

/// Most distinct discovery sets (or dataset names) a catalog may have: classes are subsets.
pub const MAX_DISCOVERY: usize = 12;

/// At most [`MAX_DISCOVERY`] field sets and dataset names: `plan` refuses larger catalogs.
fn discovery_classes(dim: &Dim, datasets: &[String]) -> Vec<Class> {
    assert!(dim.sets.len() <= MAX_DISCOVERY && datasets.len() <= MAX_DISCOVERY);
    // A name no package uses, for a `fields:` filter that no field set passes.
    let none = "eprgen.none".to_string();
    let mut field_options: Vec<Option<String>> = vec![None];
    let m = dim.sets.len();
    for mask in 0u32..(1u32 << m) {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (j, s) in dim.sets.iter().enumerate() {
            if mask >> j & 1 == 1 {
                names.extend(s.iter().cloned());
            }
        }
        if names.is_empty() {
            names.insert(none.clone());
        }
        field_options.push(Some(format!(
            "fields:{}",
            names.into_iter().collect::<Vec<_>>().join(",")
        )));
    }
    // Datasets: single filters over every subset of known names, then their conjunctions.
    let n = datasets.len();
    let mut singles: Vec<String> = Vec::new();
    for mask in 0u32..(1u32 << n) {
        let mut names: Vec<&str> = (0..n)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| datasets[i].as_str())
            .collect();
        if names.is_empty() {
            names.push(&none);
        }
        singles.push(format!("datasets:{}", names.join(",")));
    }
    let vector = |terms: &[String]| -> String {
        let d: BTreeSet<DiscoveryFilter> = terms.iter().map(|t| parse_discovery(t)).collect();
        discovery_key(&[], &dim.sets2, &d)
    };
    let mut combos: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &singles {
        combos
            .entry(vector(std::slice::from_ref(s)))
            .or_insert_with(|| vec![s.clone()]);
    }
    loop {
        let mut added = false;
        let current: Vec<Vec<String>> = combos.values().cloned().collect();
        for a in &current {
            for s in &singles {
                let mut terms = a.clone();
                terms.push(s.clone());
                let k = vector(&terms);
                if let std::collections::btree_map::Entry::Vacant(slot) = combos.entry(k) {
                    slot.insert(terms);
                    added = true;
                }
            }
        }
        if !added {
            break;
        }
    }
    let mut dataset_options: Vec<Option<Vec<String>>> = vec![None];
    dataset_options.extend(combos.into_values().map(Some));
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &field_options {
        for d in &dataset_options {
            let mut terms: Vec<String> = Vec::new();
            if let Some(f) = f {
                terms.push(f.clone());
            }
            if let Some(d) = d {
                terms.extend(d.iter().cloned());
            }
            let filters: BTreeSet<DiscoveryFilter> =
                terms.iter().map(|t| parse_discovery(t)).collect();
            let key = discovery_key(&dim.sets, &dim.sets2, &filters);
            if seen.insert(key.clone()) {
                let value = if terms.is_empty() {
                    None
                } else {
                    Some(terms.join("\u{0}"))
                };
                out.push(Class { key, value });
            }
        }
    }
    out
}

fn parse_discovery(term: &str) -> DiscoveryFilter {
    let (kind, names) = term.split_once(':').expect("built terms have a kind");
    let set: BTreeSet<String> = names.split(',').map(str::to_string).collect();
    match kind {
        "fields" => DiscoveryFilter::Fields(set),
        _ => DiscoveryFilter::Datasets(set),
    }
}

/// The query fragment of a class value (`discovery` values hold several terms).
fn fragment(name: &str, value: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    value
        .split('\u{0}')
        .map(|v| format!("{name}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What the catalog holds that the dimensions are cut along.
struct Catalog {
    names: Vec<String>,
    types: Vec<String>,
    categories: Vec<String>,
    capabilities: Vec<String>,
    kibana: Vec<Version>,
    kibana_tags: Vec<String>,
    agent: Vec<Version>,
    agent_tags: Vec<String>,
    spec: Vec<Version>,
    field_sets: Vec<Vec<String>>,
    dataset_sets: Vec<Vec<String>>,
    datasets: Vec<String>,
}

impl Catalog {
    fn new(entries: &[Entry]) -> Self {
        let mut names = BTreeSet::new();
        let mut types = BTreeSet::new();
        let mut cats = BTreeSet::new();
        let mut caps = BTreeSet::new();
        let (mut kib, mut kt, mut agt, mut at, mut spec) = (
            Vec::new(),
            BTreeSet::new(),
            Vec::new(),
            BTreeSet::new(),
            Vec::new(),
        );
        let (mut fsets, mut dsets, mut dnames) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let known = categories_list::known();
        for e in entries {
            names.insert(e.name.clone());
            types.insert(e.package_type.clone());
            let all_cats = e
                .categories
                .iter()
                .chain(e.policy_template_categories.iter().flatten().flatten());
            for c in all_cats {
                cats.insert(c.clone());
                if let Some(p) = known.get(c).and_then(|k| k.parent.clone()) {
                    cats.insert(p);
                }
            }
            caps.extend(e.capabilities.iter().flatten().cloned());
            if let Some(c) = &e.kibana {
                kib.extend(c.points());
                kt.extend(c.prerelease_tags().iter().map(|t| t.as_str().to_string()));
            }
            if let Some(c) = &e.agent {
                agt.extend(c.points());
                at.extend(c.prerelease_tags().iter().map(|t| t.as_str().to_string()));
            }
            if let Some(s) = e.spec_version() {
                spec.push(s);
            }
            if let Some(f) = &e.discovery_fields {
                let mut f = f.clone();
                f.sort();
                f.dedup();
                fsets.insert(f);
            }
            if let Some(d) = &e.discovery_datasets {
                let mut d = d.clone();
                d.sort();
                d.dedup();
                dnames.extend(d.iter().cloned());
                dsets.insert(d);
            }
        }
        Catalog {
            names: names.into_iter().collect(),
            types: types.into_iter().collect(),
            categories: cats.into_iter().collect(),
            capabilities: caps.into_iter().collect(),
            kibana: sorted_points(kib),
            kibana_tags: kt.into_iter().collect(),
            agent: sorted_points(agt),
            agent_tags: at.into_iter().collect(),
            spec: sorted_points(spec),
            field_sets: fsets.into_iter().collect(),
            dataset_sets: dsets.into_iter().collect(),
            datasets: dnames.into_iter().collect(),
        }
    }

    fn dim(&self, name: &str, keep: &Keep) -> BuildDim {
        let mk = |kind: DimKind,
                  values: Vec<String>,
                  sets: Vec<Vec<String>>,
                  sets2: Vec<Vec<String>>| Dim {
            name: name.to_string(),
            kind,
            classes: Vec::new(),
            values,
            sets,
            sets2,
            open: false,
        };
        let vstr = |v: &[Version]| v.iter().map(Version::to_string).collect::<Vec<_>>();
        let tags = |t: &[String]| {
            if t.is_empty() {
                Vec::new()
            } else {
                vec![t.to_vec()]
            }
        };
        let (dim, mode) = match name {
            "experimental" | "all" | "include_policy_templates" => {
                (mk(DimKind::Bool, vec![], vec![], vec![]), true)
            }
            "prerelease" => (mk(DimKind::Bool, vec![], vec![], vec![]), false),
            "package" => (mk(DimKind::Name, self.names.clone(), vec![], vec![]), false),
            "type" => (mk(DimKind::Name, self.types.clone(), vec![], vec![]), false),
            "category" => (
                mk(DimKind::Name, self.categories.clone(), vec![], vec![]),
                true,
            ),
            "capabilities" => (
                mk(DimKind::Set, self.capabilities.clone(), vec![], vec![]),
                false,
            ),
            "kibana.version" => (
                mk(
                    DimKind::Version,
                    vstr(&self.kibana),
                    tags(&self.kibana_tags),
                    vec![],
                ),
                false,
            ),
            "agent.version" => (
                mk(
                    DimKind::Version,
                    vstr(&self.agent),
                    tags(&self.agent_tags),
                    vec![],
                ),
                false,
            ),
            "spec.min" | "spec.max" => (mk(DimKind::Spec, vstr(&self.spec), vec![], vec![]), false),
            "discovery" => (
                mk(
                    DimKind::Discovery,
                    vec![],
                    self.field_sets.clone(),
                    self.dataset_sets.clone(),
                ),
                false,
            ),
            other => unreachable!("unknown dimension {other}"),
        };
        let mut dim = dim;
        if let Keep::Values(values) = keep {
            // Only the listed values are materialized; every other key of the query goes to
            // the last class, which stands for "not materialized" (`Dim::open`).
            let points = dim_points(&dim);
            let mut classes = vec![Class {
                key: ABSENT.into(),
                value: None,
            }];
            for v in values.iter().flatten() {
                let f = SearchFilter::from_query(&fragment(name, v))
                    .expect("profile values are checked when the profile is made");
                let key = key_of(&dim, &points, search_value(&f, name));
                if !classes.iter().any(|c| c.key == key) {
                    classes.push(Class {
                        key,
                        value: Some(v.clone()),
                    });
                }
            }
            classes.push(Class {
                key: OTHER.into(),
                value: None,
            });
            dim.open = true;
            dim.classes = classes.iter().map(|c| c.key.clone()).collect();
            return BuildDim { dim, classes, mode };
        }
        let classes = match dim.kind {
            DimKind::Bool => classes::bool_classes(),
            DimKind::Name => classes::name_classes(&std::mem::take(&mut dim.values)),
            DimKind::Set => classes::set_classes(&dim.values),
            DimKind::Version => version_dim_classes(&dim, false),
            DimKind::Spec => version_dim_classes(&dim, true),
            DimKind::Discovery => discovery_classes(&dim, &self.datasets),
        };
        dim.classes = classes.iter().map(|c| c.key.clone()).collect();
        BuildDim { dim, classes, mode }
    }
}

/// /search dimensions, in diagram order: the legacy switch first (it changes which filters
/// apply), then `package` (after it only that package's own boundaries matter), then the
/// filters with few classes before the version intervals, and the two modes the final
/// selection reads last. The order only changes the table's size, never an answer; on the real
/// package-storage production tree this one gives the smallest table of the orders tried
/// (3,804 nodes, 171 KB, against 5,556 nodes and 227 KB with kibana.version right after
/// package).
pub const SEARCH_DIMS: &[&str] = &[
    "experimental",
    "package",
    "spec.min",
    "spec.max",
    "capabilities",
    "discovery",
    "type",
    "prerelease",
    "agent.version",
    "all",
    "kibana.version",
    "category",
];

pub const CATEGORIES_DIMS: &[&str] = &[
    "experimental",
    "prerelease",
    "kibana.version",
    "agent.version",
    "capabilities",
    "spec.min",
    "spec.max",
    "discovery",
    "include_policy_templates",
];

/// A query made of the representatives of the given classes.
fn query_of(dims: &[BuildDim], picks: &[(usize, usize)]) -> String {
    let mut parts = Vec::new();
    for &(d, c) in picks {
        if let Some(v) = &dims[d].classes[c].value {
            parts.push(fragment(&dims[d].dim.name, v));
        }
    }
    parts.join("&")
}

/// The builder's view of one endpoint: predicates and answers through the catalog's own
/// semantics, applied to representative queries. Distinct bodies are stored once.
struct EndpointSpace<'a, 'b, 'c> {
    ep: super::Endpoint,
    entries: &'a [Entry],
    dims: &'a [BuildDim],
    experimental: usize,
    answers: Vec<String>,
    /// (selected entries, the mode that shapes items or counts) → answer.
    by_answer: HashMap<(Vec<usize>, String), usize>,
    by_hash: HashMap<String, usize>,
    bodies: &'a mut Bodies<'b, 'c>,
    /// The items of /search bodies, rendered once per version.
    index: &'a AnswerIndex,
    /// Every class is materialized (no answer is left to composition).
    exhaustive: bool,
    /// Index of the `all` dimension (/search).
    all: Option<usize>,
    miss: Option<usize>,
    /// Index of the `category` dimension (/search), and the category each of its classes
    /// filters by.
    category: Option<usize>,
    category_names: Vec<Option<String>>,
    /// The selection of the last leaf's candidates without the category filter.
    base: Option<LeafBase>,
}

/// A selection before the category filter, shared by the leaves under one category node.
struct LeafBase {
    set: Set,
    modes: Modes,
    picked: Vec<usize>,
    ipt: bool,
}

impl EndpointSpace<'_, '_, '_> {
    /// The /search filter of a representative query (/categories selects like /search).
    fn filter(&self, q: &str) -> SearchFilter {
        match self.ep {
            super::Endpoint::Search => SearchFilter::from_query(q),
            super::Endpoint::Categories => {
                CategoriesFilter::from_query(q).map(|f| f.search_filter())
            }
        }
        .expect("representative queries are valid")
    }

    fn store(&mut self, body: Vec<u8>) -> usize {
        let kind = match self.ep {
            super::Endpoint::Search => CacheKind::Search,
            super::Endpoint::Categories => CacheKind::Categories,
        };
        let hash = blake3::hash(&body).to_hex()[..super::routes::ANSWER_ID_LEN].to_string();
        if let Some(i) = self.by_hash.get(&hash) {
            return *i;
        }
        let i = self.answers.len();
        self.answers.push(hash.clone());
        self.by_hash.insert(hash.clone(), i);
        self.bodies.bytes += body.len() as u64;
        if self.bodies.error.is_none() {
            if let Err(e) = (self.bodies.sink)(&hash, &body, kind) {
                self.bodies.error = Some(e);
            }
        }
        i
    }
}

impl Space for EndpointSpace<'_, '_, '_> {
    fn predicate(&self, dim: usize, class: usize, modes: &Modes) -> Set {
        let legacy = modes[self.experimental] == Some(1);
        let mut picks = vec![(dim, class)];
        if legacy {
            picks.push((self.experimental, 1));
        }
        let mut q = query_of(self.dims, &picks);
        if self.dims[dim].dim.name != "prerelease" {
            // Neutral for the prerelease rule, which is its own dimension.
            q.push_str("&prerelease=true");
        }
        let f = self.filter(&q);
        Set::from_fn(self.entries.len(), |i| search::keeps(&self.entries[i], &f))
    }

    fn miss(&mut self) -> usize {
        if let Some(m) = self.miss {
            return m;
        }
        let m = self.answers.len();
        self.answers.push(String::new());
        self.miss = Some(m);
        m
    }

    /// `all=true` with a `kibana.version` is composed: one package's version list per Kibana
    /// class would repeat each version once per class above it (quadratic in the versions).
    fn materialized(&self, dim: usize, class: usize, modes: &Modes) -> bool {
        let Some(all) = self.all else { return true };
        self.exhaustive
            || modes[all] != Some(1)
            || self.dims[dim].dim.name != "kibana.version"
            || self.dims[dim].classes[class].value.is_none()
    }

    fn leaf(&mut self, set: &Set, modes: &Modes) -> usize {
        // `all=true` lists every version: materialized only where the candidates are one
        // package's versions (`package=` queries), composed otherwise.
        if let Some(all) = self.all {
            if !self.exhaustive && modes[all] == Some(1) {
                let members = set.members();
                let first = &self.entries[members[0]].name;
                if members.iter().any(|&i| self.entries[i].name != *first) {
                    return self.miss();
                }
            }
        }
        // The category filter comes last (after the latest version per name and the sort), so
        // one selection without it serves every category class of the same candidates.
        let mut base_modes = modes.clone();
        if let Some(c) = self.category {
            base_modes[c] = None;
        }
        let fresh = self
            .base
            .as_ref()
            .is_none_or(|b| b.set != *set || b.modes != base_modes);
        if fresh {
            let picks: Vec<(usize, usize)> = base_modes
                .iter()
                .enumerate()
                .filter_map(|(d, c)| c.map(|c| (d, c)))
                .collect();
            let q = query_of(self.dims, &picks);
            let f = self.filter(&q);
            let picked = search::select(self.entries, &set.members(), &f);
            // Besides the selection, /search items depend on the category, /categories counts
            // on include_policy_templates.
            let ipt = match self.ep {
                super::Endpoint::Search => false,
                super::Endpoint::Categories => {
                    CategoriesFilter::from_query(&q)
                        .expect("representative queries are valid")
                        .include_policy_templates
                }
            };
            self.base = Some(LeafBase {
                set: set.clone(),
                modes: base_modes,
                picked,
                ipt,
            });
        }
        let base = self.base.as_ref().expect("set above");
        let ipt = base.ipt;
        let category: Option<String> = self
            .category
            .and_then(|d| modes[d])
            .and_then(|c| self.category_names[c].clone());
        let category = category.as_deref();
        let selected: Vec<usize> = match category {
            None => base.picked.clone(),
            Some(c) => {
                let view = search::EntryView {
                    entries: self.entries,
                    category: Some(c),
                };
                base.picked
                    .iter()
                    .copied()
                    .filter(|&i| search::Versions::in_category(&view, i))
                    .collect()
            }
        };
        let key = (selected, format!("{category:?}|{ipt}"));
        if let Some(a) = self.by_answer.get(&key) {
            return *a;
        }
        let body = match self.ep {
            super::Endpoint::Search => {
                let items: Vec<&str> = key
                    .0
                    .iter()
                    .map(|&i| self.index.search_fragment(i, category))
                    .collect();
                super::compose::join_search(&items)
            }
            super::Endpoint::Categories => {
                let counts = categories::count(self.entries, &key.0, ipt);
                gojson::to_go_pretty(&categories::categories_json(&counts)).into_bytes()
            }
        };
        let a = self.store(body);
        self.by_answer.insert(key, a);
        a
    }

    fn empty_leaf(&mut self) -> usize {
        let body = match self.ep {
            super::Endpoint::Search => gojson::array_body(&[]).into_bytes(),
            super::Endpoint::Categories => {
                gojson::to_go_pretty(&categories::categories_json(&[])).into_bytes()
            }
        };
        self.store(body)
    }
}

/// Build one endpoint's diagram over the named dimensions.
fn diagram(
    ep: super::Endpoint,
    names: &[&str],
    cat: &Catalog,
    entries: &[Entry],
    profile: &Profile,
    index: &AnswerIndex,
    bodies: &mut Bodies<'_, '_>,
) -> Diagram {
    let dims: Vec<BuildDim> = names.iter().map(|d| cat.dim(d, &profile.keep(d))).collect();
    let category = names.iter().position(|n| *n == "category");
    let category_names = match category {
        Some(d) => (0..dims[d].classes.len())
            .map(|c| {
                SearchFilter::from_query(&query_of(&dims, &[(d, c)]))
                    .expect("representative queries are valid")
                    .category
            })
            .collect(),
        None => Vec::new(),
    };
    let mut space = EndpointSpace {
        ep,
        entries,
        dims: &dims,
        experimental: names
            .iter()
            .position(|n| *n == "experimental")
            .expect("an experimental dimension"),
        answers: Vec::new(),
        by_answer: HashMap::new(),
        by_hash: HashMap::new(),
        bodies,
        index,
        exhaustive: profile.all,
        all: names.iter().position(|n| *n == "all"),
        miss: None,
        category,
        category_names,
        base: None,
    };
    let (root, nodes) = Builder::new(&dims, &mut space, entries.len()).build();
    let mut d = Diagram {
        dims: dims.iter().map(|d| d.dim.clone()).collect(),
        nodes,
        root,
        answers: space.answers,
    };
    d.renumber();
    d
}

/// Compute both diagrams of `profile` and the composition index; every distinct answer body
/// goes to `sink` once.
pub fn plan(
    entries: &[Entry],
    profile: &Profile,
    sink: &mut Sink<'_>,
) -> crate::error::Result<Planned> {
    let cat = Catalog::new(entries);
    if profile.all {
        // Their classes are every subset: refuse a catalog whose subsets could not all be
        // listed rather than drop members silently.
        for (what, n, max) in [
            (
                "distinct capabilities",
                cat.capabilities.len(),
                classes::MAX_SET_MEMBERS,
            ),
            (
                "distinct discovery field sets",
                cat.field_sets.len(),
                MAX_DISCOVERY,
            ),
            (
                "distinct discovery dataset names",
                cat.datasets.len(),
                MAX_DISCOVERY,
            ),
        ] {
            if n > max {
                return Err(crate::error::Error::Usage(format!(
                    "--materialize all: the packages use {n} {what}, whose subsets are more \
                     answers than eprgen lists (at most {max}); build with the default \
                     client profile, which composes those answers instead"
                )));
            }
        }
    }
    let mut bodies = Bodies {
        sink,
        bytes: 0,
        error: None,
    };
    let t = std::time::Instant::now();
    let dims = VersionDims {
        kibana: cat.dim("kibana.version", &Keep::All),
        agent: cat.dim("agent.version", &Keep::All),
        spec: cat.dim("spec.min", &Keep::All),
    };
    let index = AnswerIndex::build(entries, &dims);
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "composition index");
    let t = std::time::Instant::now();
    let search = diagram(
        super::Endpoint::Search,
        SEARCH_DIMS,
        &cat,
        entries,
        profile,
        &index,
        &mut bodies,
    );
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "/search diagram");
    let t = std::time::Instant::now();
    let categories = diagram(
        super::Endpoint::Categories,
        CATEGORIES_DIMS,
        &cat,
        entries,
        profile,
        &index,
        &mut bodies,
    );
    tracing::debug!(ms = t.elapsed().as_millis() as u64, "/categories diagram");
    if let Some(e) = bodies.error {
        return Err(e);
    }
    Ok(Planned {
        search,
        categories,
        answer_bytes: bodies.bytes,
        index: Some(index),
    })
}

/// What a router answers (500) if its table cannot place a query: never for a table eprgen
/// built, since every key a query can produce is enumerated as a class.
pub const INCOMPLETE: &str = "internal server error";

/// Where a routed query's answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed<'a> {
    /// A materialized body: `answers/<id>.json`.
    Answer(&'a str),
    /// Not materialized: compose it from the index.
    Compose,
}

/// Why a query has no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// EPR's 400, with its message.
    BadRequest(String),
    /// The table cannot place the query (a table eprgen did not build).
    Incomplete,
}

/// A diagram made ready for routing: version points parsed and class keys indexed, once.
#[derive(Debug, Clone)]
pub struct Router {
    pub diagram: Diagram,
    points: Vec<Vec<Version>>,
    index: Vec<HashMap<String, u32>>,
}

impl Router {
    pub fn new(diagram: Diagram) -> Router {
        let points = diagram.dims.iter().map(dim_points).collect();
        let index = diagram
            .dims
            .iter()
            .map(|d| {
                d.classes
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.clone(), i as u32))
                    .collect()
            })
            .collect();
        Router {
            diagram,
            points,
            index,
        }
    }

    /// The class key of every dimension for a raw query (the canonical query), or EPR's 400.
    pub fn keys(&self, ep: super::Endpoint, raw_query: &str) -> Result<Vec<String>, String> {
        let d = &self.diagram;
        Ok(match ep {
            super::Endpoint::Search => {
                search_keys(d, &self.points, &SearchFilter::from_query(raw_query)?)
            }
            super::Endpoint::Categories => {
                categories_keys(d, &self.points, &CategoriesFilter::from_query(raw_query)?)
            }
        })
    }

    /// The class index of a key in dimension `i`: an open dimension's last class takes every
    /// key it does not list.
    fn class(&self, i: usize, key: &str) -> Option<u32> {
        match self.index[i].get(key) {
            Some(c) => Some(*c),
            None if self.diagram.dims[i].open => {
                Some(self.diagram.dims[i].classes.len() as u32 - 1)
            }
            None => None,
        }
    }

    /// Route a raw query: its materialized answer, or composition; or EPR's 400.
    pub fn route(&self, ep: super::Endpoint, raw_query: &str) -> Result<Routed<'_>, RouteError> {
        let keys = self.keys(ep, raw_query).map_err(RouteError::BadRequest)?;
        match self.diagram.walk(|i| self.class(i, &keys[i])) {
            Some("") => Ok(Routed::Compose),
            Some(id) => Ok(Routed::Answer(id)),
            None => Err(RouteError::Incomplete),
        }
    }
}
