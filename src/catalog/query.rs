//! Query strings of /search and /categories, read as EPR reads them.
//!
//! Stage: catalog. Takes the raw query string of a request (the part after `?`) and hands on
//! a [`SearchFilter`] or [`CategoriesFilter`], or the message of EPR's 400 answer. The body
//! EPR sends is that message plus `\n` (Go's `http.Error`).
//!
//! Decoding follows Go's `url.ParseQuery`: pairs split on `&`, a pair containing `;` is
//! dropped, `+` is a space, `%XX` is decoded and a pair with a bad escape is dropped. Bytes
//! that do not form UTF-8 after decoding become U+FFFD (Go keeps them as they are; this only
//! changes the text of an error message that quotes such a value).
//!
//! Only the first value of a parameter counts, and an empty first value means "not given";
//! `discovery` is the exception: every value counts, an empty one is an error.
//!
//! Which error wins: EPR walks the parameters in Go map order, which is random, so a query
//! with several bad parameters gets any one of their errors. Here the parameters are checked
//! in the fixed order of EPR's `switch` (for /search: kibana.version, category, package, type,
//! capabilities, spec.min, spec.max, all, experimental, prerelease, discovery, internal,
//! agent.version; for /categories: kibana.version, experimental, prerelease, capabilities,
//! spec.min, spec.max, discovery, include_policy_templates, agent.version), then unknown
//! parameters in byte order of their names (only when they are not allowed), and for
//! /categories the value of `include_policy_templates` last (EPR checks it after the rest).
//! The chosen error is therefore independent of parameter order.

use std::collections::{BTreeMap, BTreeSet};

use semver::{BuildMetadata, Version};

use crate::plan::constraint::{go_quote, parse_version};

/// One `discovery=` value: `fields:a,b` or `datasets:a,b`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscoveryFilter {
    /// Matches a package whose discovery fields are all in this set.
    Fields(BTreeSet<String>),
    /// Matches a package with at least one discovery dataset in this set.
    Datasets(BTreeSet<String>),
}

/// A parsed /search query. Versions carry no build metadata (EPR ignores it when comparing),
/// and lists whose order EPR ignores are sets, so equal filters mean equal answers more often.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SearchFilter {
    pub kibana_version: Option<Version>,
    pub agent_version: Option<Version>,
    pub category: Option<String>,
    pub package: Option<String>,
    pub package_type: Option<String>,
    /// `capabilities=a,b` split on commas (an empty item stays).
    pub capabilities: Option<BTreeSet<String>>,
    /// `spec.min=M.m` as `M.m.0` (a prerelease or build part is possible: `1.2-rc`).
    pub spec_min: Option<Version>,
    pub spec_max: Option<Version>,
    /// Every `discovery` value; all must match.
    pub discovery: BTreeSet<DiscoveryFilter>,
    pub all: bool,
    pub prerelease: bool,
    /// Legacy mode for Kibana 7.x (`experimental=true`).
    pub experimental: bool,
}

/// A parsed /categories query: the /search filters EPR honours there, plus
/// `include_policy_templates`. `category`, `package`, `type`, `all` and `internal` are not
/// /categories parameters (they are unknown parameters there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CategoriesFilter {
    pub kibana_version: Option<Version>,
    pub agent_version: Option<Version>,
    pub capabilities: Option<BTreeSet<String>>,
    pub spec_min: Option<Version>,
    pub spec_max: Option<Version>,
    pub discovery: BTreeSet<DiscoveryFilter>,
    pub prerelease: bool,
    pub experimental: bool,
    pub include_policy_templates: bool,
}

impl CategoriesFilter {
    /// The package selection /categories counts: this filter as a /search of the latest
    /// version per name.
    pub fn search_filter(&self) -> SearchFilter {
        SearchFilter {
            kibana_version: self.kibana_version.clone(),
            agent_version: self.agent_version.clone(),
            capabilities: self.capabilities.clone(),
            spec_min: self.spec_min.clone(),
            spec_max: self.spec_max.clone(),
            discovery: self.discovery.clone(),
            prerelease: self.prerelease,
            experimental: self.experimental,
            ..SearchFilter::default()
        }
    }
}

/// Go's `url.ParseQuery`, keeping what `r.URL.Query()` keeps (bad pairs are dropped): every
/// key with its values in order.
pub fn parse_query(raw: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&') {
        if pair.is_empty() || pair.contains(';') {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(key), Some(value)) = (unescape(key), unescape(value)) else {
            continue;
        };
        out.entry(key).or_default().push(value);
    }
    out
}

/// Go's `url.QueryUnescape`; `None` on a bad `%` escape.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |k: usize| b.get(k).and_then(|c| (*c as char).to_digit(16));
                let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn bool_param(name: &str, v: &str) -> Result<bool, String> {
    parse_bool(v).ok_or_else(|| format!("invalid '{name}' query param: '{v}'"))
}

fn without_build(mut v: Version) -> Version {
    v.build = BuildMetadata::EMPTY;
    v
}

fn kibana_version(v: &str) -> Result<Version, String> {
    parse_version(v)
        .map(without_build)
        .map_err(|e| format!("invalid Kibana version '{v}': {e}"))
}

fn agent_version(v: &str) -> Result<Version, String> {
    parse_version(v)
        .map(without_build)
        .map_err(|e| format!("invalid agent version '{v}': {e}"))
}

/// `spec.min` / `spec.max`: exactly one dot, then lenient parsing
/// (golden search-spec-max-error.txt).
fn spec_version(name: &str, v: &str) -> Result<Version, String> {
    let wrap = |e: String| format!("invalid '{name}' version: {e}");
    if v.split('.').count() != 2 {
        return Err(wrap(format!(
            "invalid version '{v}': it should be <major.version>"
        )));
    }
    parse_version(v)
        .map(without_build)
        .map_err(|e| wrap(format!("invalid spec version '{v}': {e}")))
}

fn capabilities(v: &str) -> BTreeSet<String> {
    v.split(',').map(str::to_string).collect()
}

fn discovery(values: &[String]) -> Result<BTreeSet<DiscoveryFilter>, String> {
    values
        .iter()
        .map(|v| {
            let wrap = |e: String| format!("invalid 'discovery' query param: '{v}': {e}");
            let Some((kind, args)) = v.split_once(':') else {
                return Err(wrap(format!("could not parse filter {}", go_quote(v))));
            };
            let names = args.split(',').map(str::to_string).collect();
            match kind {
                "fields" => Ok(DiscoveryFilter::Fields(names)),
                "datasets" => Ok(DiscoveryFilter::Datasets(names)),
                _ => Err(wrap(format!("unknown discovery filter {}", go_quote(kind)))),
            }
        })
        .collect()
}

fn unknown_parameter(
    query: &BTreeMap<String, Vec<String>>,
    known: &[&str],
    allow_unknown: bool,
) -> Result<(), String> {
    if allow_unknown {
        return Ok(());
    }
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown query parameter: {}", go_quote(k))),
        None => Ok(()),
    }
}

/// The first value of `key`, unless it is empty.
fn first<'a>(query: &'a BTreeMap<String, Vec<String>>, key: &str) -> Option<&'a str> {
    query
        .get(key)
        .and_then(|vs| vs.first())
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

const SEARCH_KEYS: &[&str] = &[
    "kibana.version",
    "category",
    "package",
    "type",
    "capabilities",
    "spec.min",
    "spec.max",
    "all",
    "experimental",
    "prerelease",
    "discovery",
    "internal",
    "agent.version",
];

const CATEGORIES_KEYS: &[&str] = &[
    "kibana.version",
    "experimental",
    "prerelease",
    "capabilities",
    "spec.min",
    "spec.max",
    "discovery",
    "include_policy_templates",
    "agent.version",
];

impl SearchFilter {
    /// Parses a /search query as EPR's default configuration does (unknown parameters
    /// allowed). `Err` is the message of the 400 answer.
    pub fn from_query(raw: &str) -> Result<SearchFilter, String> {
        SearchFilter::from_query_with(raw, true)
    }

    /// As [`SearchFilter::from_query`]; with `allow_unknown` false an unknown parameter is a
    /// 400 (`-allow-unknown-query-parameters=false`).
    pub fn from_query_with(raw: &str, allow_unknown: bool) -> Result<SearchFilter, String> {
        let q = parse_query(raw);
        let mut f = SearchFilter::default();
        for &key in SEARCH_KEYS {
            let v = first(&q, key);
            match (key, v) {
                ("kibana.version", Some(v)) => f.kibana_version = Some(kibana_version(v)?),
                ("category", Some(v)) => f.category = Some(v.to_string()),
                ("package", Some(v)) => f.package = Some(v.to_string()),
                ("type", Some(v)) => f.package_type = Some(v.to_string()),
                ("capabilities", Some(v)) => f.capabilities = Some(capabilities(v)),
                ("spec.min", Some(v)) => f.spec_min = Some(spec_version(key, v)?),
                ("spec.max", Some(v)) => f.spec_max = Some(spec_version(key, v)?),
                ("all", Some(v)) => f.all = bool_param(key, v)?,
                ("experimental", Some(v)) => f.experimental = bool_param(key, v)?,
                ("prerelease", Some(v)) => f.prerelease = bool_param(key, v)?,
                ("discovery", _) => {
                    if let Some(values) = q.get(key) {
                        f.discovery = discovery(values)?;
                    }
                }
                ("agent.version", Some(v)) => f.agent_version = Some(agent_version(v)?),
                // `internal` was removed from EPR but is still accepted and ignored.
                _ => {}
            }
        }
        unknown_parameter(&q, SEARCH_KEYS, allow_unknown)?;
        Ok(f)
    }
}

impl CategoriesFilter {
    /// Parses a /categories query as EPR's default configuration does (unknown parameters
    /// allowed). `Err` is the message of the 400 answer.
    pub fn from_query(raw: &str) -> Result<CategoriesFilter, String> {
        CategoriesFilter::from_query_with(raw, true)
    }

    /// As [`CategoriesFilter::from_query`]; with `allow_unknown` false an unknown parameter
    /// (including `category`, `package`, `type`, `all`, `internal`) is a 400.
    pub fn from_query_with(raw: &str, allow_unknown: bool) -> Result<CategoriesFilter, String> {
        let q = parse_query(raw);
        let mut f = CategoriesFilter::default();
        for &key in CATEGORIES_KEYS {
            let v = first(&q, key);
            match (key, v) {
                ("kibana.version", Some(v)) => f.kibana_version = Some(kibana_version(v)?),
                ("experimental", Some(v)) => f.experimental = bool_param(key, v)?,
                ("prerelease", Some(v)) => f.prerelease = bool_param(key, v)?,
                ("capabilities", Some(v)) => f.capabilities = Some(capabilities(v)),
                ("spec.min", Some(v)) => f.spec_min = Some(spec_version(key, v)?),
                ("spec.max", Some(v)) => f.spec_max = Some(spec_version(key, v)?),
                ("discovery", _) => {
                    if let Some(values) = q.get(key) {
                        f.discovery = discovery(values)?;
                    }
                }
                ("agent.version", Some(v)) => f.agent_version = Some(agent_version(v)?),
                // include_policy_templates is read after the filter (below), as EPR does.
                _ => {}
            }
        }
        unknown_parameter(&q, CATEGORIES_KEYS, allow_unknown)?;
        if let Some(v) = first(&q, "include_policy_templates") {
            f.include_policy_templates = bool_param("include_policy_templates", v)?;
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Option<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance/golden/");
        std::fs::read_to_string(format!("{path}{name}")).ok()
    }

    /// The 400 answers of the conformance kit, byte for byte (message + "\n").
    #[test]
    fn golden_errors() {
        let cases = [
            (
                "search",
                "experimental=foo",
                "search-package-experimental-error.txt",
            ),
            (
                "search",
                "prerelease=foo",
                "search-package-prerelease-error.txt",
            ),
            (
                "search",
                "spec.max=2.10.1&prerelease=true",
                "search-spec-max-error.txt",
            ),
            (
                "categories",
                "experimental=foo",
                "categories-experimental-error.txt",
            ),
            (
                "categories",
                "prerelease=foo",
                "categories-prerelease-error.txt",
            ),
            (
                "categories",
                "include_policy_templates=foo",
                "categories-include-policy-templates-error.txt",
            ),
            (
                "categories",
                "spec.max=2.10.1&prerelease=true",
                "categories-spec-max-error.txt",
            ),
        ];
        for (endpoint, q, file) in cases {
            let err = match endpoint {
                "search" => SearchFilter::from_query(q).unwrap_err(),
                _ => CategoriesFilter::from_query(q).unwrap_err(),
            };
            let want = golden(file).unwrap_or_else(|| panic!("golden {file} missing"));
            assert_eq!(format!("{err}\n"), want, "{endpoint}?{q}");
        }
        let err =
            SearchFilter::from_query_with("package=yamlpipeline&unknown=true", false).unwrap_err();
        assert_eq!(
            format!("{err}\n"),
            golden("search-unknown-query-parameter-error.txt").unwrap()
        );
    }

    #[test]
    fn messages() {
        let s = |q: &str| SearchFilter::from_query(q).unwrap_err();
        assert_eq!(
            s("kibana.version=foo"),
            "invalid Kibana version 'foo': invalid semantic version"
        );
        assert_eq!(
            s("agent.version=1.2.3-01"),
            "invalid agent version '1.2.3-01': version segment starts with 0"
        );
        assert_eq!(s("all=yes"), "invalid 'all' query param: 'yes'");
        assert_eq!(
            s("spec.min=2.x"),
            "invalid 'spec.min' version: invalid spec version '2.x': invalid semantic version"
        );
        assert_eq!(
            s("spec.min=3"),
            "invalid 'spec.min' version: invalid version '3': it should be <major.version>"
        );
        assert_eq!(
            s("discovery="),
            "invalid 'discovery' query param: '': could not parse filter \"\""
        );
        assert_eq!(
            s("discovery=fields:a&discovery=tags:b"),
            "invalid 'discovery' query param: 'tags:b': unknown discovery filter \"tags\""
        );
        // Fixed order: kibana.version is checked before prerelease, whatever the query order.
        assert_eq!(
            s("prerelease=x&kibana.version=y"),
            s("kibana.version=y&prerelease=x")
        );
        assert!(s("prerelease=x&kibana.version=y").starts_with("invalid Kibana version"));
        // /categories reads include_policy_templates after the filter.
        let c =
            CategoriesFilter::from_query("include_policy_templates=x&prerelease=y").unwrap_err();
        assert_eq!(c, "invalid 'prerelease' query param: 'y'");
        let c = CategoriesFilter::from_query_with("category=web", false).unwrap_err();
        assert_eq!(c, "unknown query parameter: \"category\"");
        assert!(SearchFilter::from_query_with("internal=true&category=web", false).is_ok());
    }

    #[test]
    fn values() {
        let f = SearchFilter::from_query(
            "kibana.version=v8.1%2Bbuild&prerelease=True&capabilities=observability,security\
             &spec.min=2.1&spec.max=3.0&category=web&package=nginx&type=integration\
             &all=1&discovery=fields:process.pid&discovery=datasets:a,b&agent.version=9",
        )
        .unwrap();
        assert_eq!(f.kibana_version, Some(Version::new(8, 1, 0)));
        assert_eq!(f.agent_version, Some(Version::new(9, 0, 0)));
        assert!(f.prerelease && f.all && !f.experimental);
        assert_eq!(f.capabilities.unwrap().len(), 2);
        assert_eq!(f.spec_min, Some(Version::new(2, 1, 0)));
        assert_eq!(f.spec_max, Some(Version::new(3, 0, 0)));
        assert_eq!(f.category.as_deref(), Some("web"));
        assert_eq!(f.package.as_deref(), Some("nginx"));
        assert_eq!(f.package_type.as_deref(), Some("integration"));
        assert_eq!(f.discovery.len(), 2);
    }

    #[test]
    fn go_query_decoding() {
        // First value wins, even when empty; empty values mean "not given".
        assert!(
            !SearchFilter::from_query("prerelease=&prerelease=true")
                .unwrap()
                .prerelease
        );
        assert!(
            SearchFilter::from_query("prerelease=true&prerelease=foo")
                .unwrap()
                .prerelease
        );
        assert_eq!(
            SearchFilter::from_query("kibana.version=").unwrap(),
            SearchFilter::default()
        );
        // `+` is a space, %XX decodes, bad escapes and `;` drop the pair.
        assert_eq!(
            SearchFilter::from_query("kibana.version=8.0.0+foo").unwrap_err(),
            "invalid Kibana version '8.0.0 foo': invalid semantic version"
        );
        let q = parse_query("a=%41%2b&b=%zz&c;=1&d=1;&=x&e&&f=1=2");
        let want: BTreeMap<String, Vec<String>> = [
            ("".to_string(), vec!["x".to_string()]),
            ("a".to_string(), vec!["A+".to_string()]),
            ("e".to_string(), vec!["".to_string()]),
            ("f".to_string(), vec!["1=2".to_string()]),
        ]
        .into_iter()
        .collect();
        assert_eq!(q, want);
        // The same filter whatever the parameter order or duplicate capabilities.
        assert_eq!(
            SearchFilter::from_query("capabilities=b,a,b&prerelease=1").unwrap(),
            SearchFilter::from_query("prerelease=true&capabilities=a,b").unwrap()
        );
    }

    #[test]
    fn categories_values() {
        let f = CategoriesFilter::from_query(
            "include_policy_templates=true&kibana.version=6.5.2&experimental=true&category=x",
        )
        .unwrap();
        assert!(f.include_policy_templates && f.experimental);
        let s = f.search_filter();
        assert_eq!(s.kibana_version, Some(Version::new(6, 5, 2)));
        assert!(s.category.is_none() && !s.all && s.experimental);
    }
}
