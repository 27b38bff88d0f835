//! EPR's /search: which package versions answer a [`SearchFilter`], in which order, and how
//! each item is shown.
//!
//! Stage: catalog. Takes the entries in index order and a filter; hands on indices into the
//! entries (and the answer JSON). Pure: no I/O, no state.
//!
//! The answer is built in two steps, kept apart so the planner can reuse the first one per
//! query dimension: [`keeps`] is the per-package predicate (every filter that looks at one
//! package alone), and [`select`] turns the kept entries into the answer (latest version per
//! name, then the category filter, then the sort). `search` is `select(candidates(..))`.
//!
//! EPR runs two indexers (zip files, then directories) and merges their separately filtered
//! answers; this module implements the single-indexer model of SEMANTICS.md, which gives the
//! same answers unless one name has versions in both a zip and a directory and either the
//! category filter or the legacy `experimental=true` mode is used.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::entry::Entry;
use super::query::{DiscoveryFilter, SearchFilter};
use crate::plan::constraint::{precedence, Constraint};
use semver::Version;

/// The per-package filters: whether `e` can be in any answer of `f`, before the latest
/// version and category selection.
pub fn keeps(e: &Entry, f: &SearchFilter) -> bool {
    let name_ok = f.package.as_ref().is_none_or(|p| *p == e.name);
    let type_ok = f.package_type.as_ref().is_none_or(|t| *t == e.package_type);
    if f.experimental {
        // Legacy mode (Kibana 7.x) only looks at these three.
        return version_ok(&e.kibana, &f.kibana_version) && name_ok && type_ok;
    }
    if !f.prerelease && (e.release == "experimental" || e.is_prerelease()) {
        return false;
    }
    version_ok(&e.kibana, &f.kibana_version)
        && version_ok(&e.agent, &f.agent_version)
        && name_ok
        && type_ok
        && capabilities_ok(e, f)
        && f.discovery.iter().all(|d| discovery_ok(e, d))
        && spec_ok(e, f)
}

/// A package without the condition works with every version.
fn version_ok(c: &Option<Constraint>, v: &Option<Version>) -> bool {
    match (c, v) {
        (Some(c), Some(v)) => c.matches(v),
        _ => true,
    }
}

/// Every capability the package requires is in the query's list.
fn capabilities_ok(e: &Entry, f: &SearchFilter) -> bool {
    match (&e.capabilities, &f.capabilities) {
        (Some(required), Some(given)) => required.iter().all(|c| given.contains(c)),
        _ => true,
    }
}

/// A package without the discovery list in question never matches.
fn discovery_ok(e: &Entry, d: &DiscoveryFilter) -> bool {
    match d {
        DiscoveryFilter::Fields(given) => e
            .discovery_fields
            .as_ref()
            .is_some_and(|fs| !fs.is_empty() && fs.iter().all(|x| given.contains(x))),
        DiscoveryFilter::Datasets(given) => e
            .discovery_datasets
            .as_ref()
            .is_some_and(|ds| ds.iter().any(|x| given.contains(x))),
    }
}

/// `spec.min <= MAJOR.MINOR.0 of format_version <= spec.max`. EPR fails the whole request
/// when a package has no usable format_version; the loader never lets one through, so such
/// an entry simply does not match here.
fn spec_ok(e: &Entry, f: &SearchFilter) -> bool {
    if f.spec_min.is_none() && f.spec_max.is_none() {
        return true;
    }
    let Some(spec) = e.spec_version() else {
        return false;
    };
    f.spec_min
        .as_ref()
        .is_none_or(|min| precedence(&spec, min) != Ordering::Less)
        && f.spec_max
            .as_ref()
            .is_none_or(|max| precedence(&spec, max) != Ordering::Greater)
}

/// Indices of the entries [`keeps`] accepts, in index order.
pub fn candidates(entries: &[Entry], f: &SearchFilter) -> Vec<usize> {
    (0..entries.len())
        .filter(|&i| keeps(&entries[i], f))
        .collect()
}

/// What the final selection reads of the kept versions: names, version order, the legacy
/// rules' facts and category membership, by index. The catalog's entries are one view; the
/// built tree's composition index (`plan::compose`) is another, so both answer through the
/// same rules.
pub trait Versions {
    /// Equal for versions of one package name.
    type Name: std::hash::Hash + Eq;
    fn name(&self, i: usize) -> Self::Name;
    /// Semver precedence of two versions of one name.
    fn cmp_versions(&self, a: usize, b: usize) -> Ordering;
    fn is_prerelease(&self, i: usize) -> bool;
    /// A release `>= 1.0.0`, which hides a name's prereleases and 0.x versions in the legacy
    /// `all` listing.
    fn is_stable(&self, i: usize) -> bool;
    /// The package (or one of its policy templates) lists the filter's category.
    fn in_category(&self, i: usize) -> bool;
    /// Sort by name (bytes), then version; stable, so versions equal but for build metadata
    /// keep index order (EPR's sort is unstable there).
    fn sort(&self, picked: &mut [usize]);
}

/// The entries of a catalog, with the category of a filter.
pub struct EntryView<'a> {
    pub entries: &'a [Entry],
    pub category: Option<&'a str>,
}

impl<'a> Versions for EntryView<'a> {
    type Name = &'a str;
    fn name(&self, i: usize) -> &'a str {
        &self.entries[i].name
    }
    fn cmp_versions(&self, a: usize, b: usize) -> Ordering {
        precedence(&self.entries[a].version, &self.entries[b].version)
    }
    fn is_prerelease(&self, i: usize) -> bool {
        self.entries[i].is_prerelease()
    }
    fn is_stable(&self, i: usize) -> bool {
        !self.entries[i].is_prerelease() && self.entries[i].version.major >= 1
    }
    fn in_category(&self, i: usize) -> bool {
        self.category.is_none_or(|c| {
            self.entries[i].has_category(c) || self.entries[i].has_policy_template_category(c)
        })
    }
    fn sort(&self, picked: &mut [usize]) {
        let e = self.entries;
        picked.sort_by(|&a, &b| {
            e[a].name
                .as_bytes()
                .cmp(e[b].name.as_bytes())
                .then_with(|| precedence(&e[a].version, &e[b].version))
        });
    }
}

/// From kept entries (indices in increasing index order), the answer in answer order: one
/// version per name unless `all`, then the category filter, sorted by name then version.
pub fn select(entries: &[Entry], kept: &[usize], f: &SearchFilter) -> Vec<usize> {
    let view = EntryView {
        entries,
        category: f.category.as_deref(),
    };
    select_in(&view, kept, f.experimental, f.all)
}

/// [`select`] over any view of the versions.
pub fn select_in<V: Versions>(v: &V, kept: &[usize], experimental: bool, all: bool) -> Vec<usize> {
    let mut picked = if experimental {
        legacy_latest(v, kept, all)
    } else if all {
        kept.to_vec()
    } else {
        latest(v, kept)
    };
    picked.retain(|&i| v.in_category(i));
    v.sort(&mut picked);
    picked
}

/// One slot per name in order of first appearance; a later version replaces the slot only
/// when strictly newer.
fn latest<V: Versions>(v: &V, kept: &[usize]) -> Vec<usize> {
    let mut slot: HashMap<V::Name, usize> = HashMap::new();
    let mut out: Vec<usize> = Vec::new();
    for &i in kept {
        match slot.get(&v.name(i)) {
            Some(&s) => {
                if v.cmp_versions(out[s], i) == Ordering::Less {
                    out[s] = i;
                }
            }
            None => {
                slot.insert(v.name(i), out.len());
                out.push(i);
            }
        }
    }
    out
}

/// Legacy `experimental=true`: the newest release beats any prerelease; with `all`, a name
/// that has a release >= 1.0.0 loses its prereleases and 0.x versions.
fn legacy_latest<V: Versions>(v: &V, kept: &[usize], all: bool) -> Vec<usize> {
    if all {
        let names: std::collections::HashSet<V::Name> = kept
            .iter()
            .filter(|&&i| v.is_stable(i))
            .map(|&i| v.name(i))
            .collect();
        return kept
            .iter()
            .copied()
            .filter(|&i| v.is_stable(i) || !names.contains(&v.name(i)))
            .collect();
    }
    let mut slot: HashMap<V::Name, usize> = HashMap::new();
    let mut out: Vec<usize> = Vec::new();
    for &i in kept {
        match slot.get(&v.name(i)) {
            Some(&s) => {
                let cur = out[s];
                let same_kind = v.is_prerelease(cur) == v.is_prerelease(i);
                if same_kind && v.cmp_versions(cur, i) != Ordering::Less {
                    continue;
                }
                if !v.is_prerelease(cur) && v.is_prerelease(i) {
                    continue;
                }
                out[s] = i;
            }
            None => {
                slot.insert(v.name(i), out.len());
                out.push(i);
            }
        }
    }
    out
}

/// The /search answer: indices into `entries`, in answer order.
pub fn search(entries: &[Entry], f: &SearchFilter) -> Vec<usize> {
    select(entries, &candidates(entries, f), f)
}

/// How `e` appears in an answer of `f`. When the category filter matched only through policy
/// templates, EPR keeps just the templates that list the category itself (not a
/// subcategory), and drops `policy_templates` when none is left.
pub fn item(e: &Entry, f: &SearchFilter) -> serde_json::Value {
    let mut item = e.search_json.clone();
    let Some(c) = &f.category else { return item };
    if e.has_category(c) {
        return item;
    }
    let Some(obj) = item.as_object_mut() else {
        return item;
    };
    let Some(serde_json::Value::Array(templates)) = obj.get_mut("policy_templates") else {
        return item;
    };
    let mut i = 0;
    templates.retain(|_| {
        let keep = e
            .policy_template_categories
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|cats| cats.iter().any(|x| x == c));
        i += 1;
        keep
    });
    if templates.is_empty() {
        obj.shift_remove("policy_templates");
    }
    item
}

/// The /search answer as JSON (an array; EPR writes `[]` for an empty one).
pub fn search_json(entries: &[Entry], f: &SearchFilter) -> serde_json::Value {
    serde_json::Value::Array(
        search(entries, f)
            .into_iter()
            .map(|i| item(&entries[i], f))
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A hand-built entry; `templates` gives each policy template's categories.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn e(
        name: &str,
        version: &str,
        release: &str,
        package_type: &str,
        categories: &[&str],
        templates: &[Option<&[&str]>],
        kibana: Option<&str>,
        agent: Option<&str>,
        capabilities: Option<&[&str]>,
        fields: Option<&[&str]>,
        datasets: Option<&[&str]>,
        format_version: &str,
    ) -> Entry {
        let strings = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut e = Entry::new(name, Version::parse(version).unwrap());
        e.release = release.into();
        e.package_type = package_type.into();
        e.categories = strings(categories);
        e.policy_template_categories = templates.iter().map(|t| t.map(strings)).collect();
        e.kibana = kibana.map(|k| Constraint::parse(k).unwrap());
        e.agent = agent.map(|a| Constraint::parse(a).unwrap());
        e.capabilities = capabilities.map(strings);
        e.discovery_fields = fields.map(strings);
        e.discovery_datasets = datasets.map(strings);
        e.format_version = format_version.into();
        if !templates.is_empty() {
            let names: Vec<_> = (0..templates.len())
                .map(|i| serde_json::json!({ "name": format!("t{i}") }))
                .collect();
            e.search_json["policy_templates"] = serde_json::Value::Array(names);
        }
        e
    }

    /// The conformance kit's packages (`../shared/conformance/packages`), as EPR indexes them
    /// by default: zips, then `second_package_path`, then `package`, duplicates dropped.
    /// Facts as the loader must produce them from the manifests (unknown package categories
    /// dropped, release defaulted, dotted keys such as `kibana.version:` expanded).
    #[rustfmt::skip]
    pub(crate) fn conformance_entries() -> Vec<Entry> {
        vec![
            // zip:example-1.0.1.zip
            e("example", "1.0.1", "ga", "integration", &["crm", "azure"], &[None], Some("~7.x.x"), None, None, None, None, "1.0.0"),
            // zip:nodirentries-1.0.0.zip
            e("nodirentries", "1.0.0", "ga", "integration", &["crm", "azure"], &[None], Some("~7.x.x"), None, None, None, None, "1.0.0"),
            // second_package_path/multiversion/1.1.0
            e("multiversion", "1.1.0", "ga", "integration", &["custom", "web"], &[], Some(">6.7.0"), None, None, None, None, "1.0.0"),
            // package/agent_privileges/1.0.0
            e("agent_privileges", "1.0.0", "beta", "solution", &["custom"], &[], Some(">=7.16.0"), None, None, None, None, "1.0.0"),
            // package/agent_version/1.0.0
            e("agent_version", "1.0.0", "ga", "integration", &["custom", "web"], &[], Some(">6.7.0"), Some("^9.2.0"), None, None, None, "1.0.0"),
            // package/dataset_is_prefix/0.0.1
            e("dataset_is_prefix", "0.0.1", "beta", "integration", &["custom"], &[], None, None, None, None, None, "1.0.0"),
            // package/datasources/1.0.0
            e("datasources", "1.0.0", "beta", "integration", &["custom"], &[None], None, None, None, None, None, "1.0.0"),
            // package/datastream_without_release/0.1.0
            e("datastream_without_release", "0.1.0", "beta", "integration", &["datastore", "monitoring"], &[None], Some("^8.1.0"), None, None, None, None, "1.0.0"),
            // package/default_pipeline/0.0.2
            e("default_pipeline", "0.0.2", "beta", "integration", &["containers", "message_queue"], &[None], None, None, None, None, None, "1.0.0"),
            // package/defaultrelease/0.0.1
            e("defaultrelease", "0.0.1", "beta", "solution", &["aws"], &[], None, None, None, None, None, "1.0.0"),
            // package/deployment_modes/0.0.1
            e("deployment_modes", "0.0.1", "beta", "integration", &["custom"], &[None, None], Some("^8.15.2"), None, None, None, None, "3.3.0"),
            // package/deprecated_input_package/1.0.0
            e("deprecated_input_package", "1.0.0", "ga", "input", &["custom"], &[None], Some("^9.2.3"), None, None, None, None, "3.6.0"),
            // package/deprecated_input_policy/1.0.0
            e("deprecated_input_policy", "1.0.0", "ga", "input", &["custom"], &[None, None], Some("^9.2.3"), None, None, None, None, "3.6.0"),
            // package/deprecated_integration_input/1.0.0
            e("deprecated_integration_input", "1.0.0", "ga", "integration", &["custom"], &[None], Some("^9.2.3"), None, None, None, None, "3.6.0"),
            // package/deprecated_integration_stream/1.0.0
            e("deprecated_integration_stream", "1.0.0", "ga", "integration", &["custom"], &[None], Some("^9.2.3"), None, None, None, None, "3.6.0"),
            // package/discovery_empty/0.1.0
            e("discovery_empty", "0.1.0", "beta", "content", &["support"], &[], Some("^8.16.0"), None, None, Some(&[]), Some(&[]), "3.4.0"),
            // package/ecs_style_dataset/0.0.1
            e("ecs_style_dataset", "0.0.1", "beta", "integration", &["monitoring"], &[None], None, None, None, None, None, "1.0.0"),
            // package/elasticsearch_privileges/1.0.0
            e("elasticsearch_privileges", "1.0.0", "beta", "solution", &["custom"], &[], Some(">=7.16.0"), None, None, None, None, "1.0.0"),
            // package/example/0.0.2
            e("example", "0.0.2", "beta", "integration", &["web"], &[], Some(">=6.0.0"), None, None, None, None, "1.0.0"),
            // package/example/1.0.0
            e("example", "1.0.0", "ga", "integration", &["crm", "azure"], &[Some(&["datastore"])], Some("~7.x.x"), None, None, None, None, "1.0.0"),
            // package/example/1.0.1 is a duplicate (dropped)
            // package/example/1.1.0
            e("example", "1.1.0", "ga", "integration", &["crm", "azure"], &[Some(&["datastore"])], Some("^7.16.0 || ^8.0.0"), None, None, None, None, "2.10.0"),
            // package/example/1.2.0-rc1
            e("example", "1.2.0-rc1", "ga", "integration", &["crm", "azure", "cloud"], &[Some(&["datastore"])], Some("^7.16.0 || ^8.0.0"), None, Some(&["observability", "security"]), None, None, "3.0.0"),
            // package/foo/1.0.0
            e("foo", "1.0.0", "beta", "solution", &["custom"], &[], Some(">=7.0.0"), None, Some(&["observability", "uptime"]), None, None, "2.10.0"),
            // package/good_content/0.1.0
            e("good_content", "0.1.0", "beta", "content", &["web"], &[], Some("^8.16.0"), None, None, Some(&["process.pid"]), Some(&["good_content.access", "good_content.errors"]), "3.4.0"),
            // package/hidden/1.0.0
            e("hidden", "1.0.0", "beta", "solution", &["custom"], &[], Some(">=7.0.0"), None, None, None, None, "1.0.0"),
            // package/ilm_policy/1.0.0
            e("ilm_policy", "1.0.0", "beta", "solution", &["custom"], &[], Some(">=7.0.0"), None, None, None, None, "1.0.0"),
            // package/input_groups/0.0.1
            e("input_groups", "0.0.1", "beta", "integration", &["aws", "cloud"], &[Some(&["compute"])], Some("~7.x.x"), None, None, None, None, "1.0.0"),
            // package/input_level_templates/1.0.0
            e("input_level_templates", "1.0.0", "beta", "solution", &["custom"], &[None], Some(">=7.11.0"), None, None, None, None, "1.0.0"),
            // package/integration_input/1.0.0
            e("integration_input", "1.0.0", "ga", "integration", &["crm", "azure"], &[Some(&["datastore"])], Some("^8.4.0"), None, None, None, None, "1.0.0"),
            // package/integration_input/1.0.2
            e("integration_input", "1.0.2", "ga", "input", &["custom", "datastore"], &[None], Some("^8.4.0"), None, None, None, None, "1.0.0"),
            // package/longdocs/1.0.4
            e("longdocs", "1.0.4", "ga", "integration", &["custom", "web"], &[], Some(">6.7.0"), None, None, None, None, "1.0.0"),
            // package/metricsonly/2.0.1
            e("metricsonly", "2.0.1", "ga", "integration", &["custom"], &[], None, None, None, None, None, "1.0.0"),
            // package/multiple_false/0.0.1
            e("multiple_false", "0.0.1", "beta", "integration", &["custom"], &[None], None, None, None, None, None, "1.0.0"),
            // package/multiversion/1.0.3
            e("multiversion", "1.0.3", "ga", "integration", &["custom", "web"], &[], Some(">6.7.0"), None, None, None, None, "1.0.0"),
            // package/multiversion/1.0.4
            e("multiversion", "1.0.4", "ga", "integration", &["custom", "web"], &[], Some(">6.7.0"), None, None, None, None, "1.0.0"),
            // package/multiversion/1.1.0 is a duplicate (dropped)
            // package/multiversion/1.2.0
            e("multiversion", "1.2.0", "ga", "integration", &["custom", "web"], &[], Some(">6.7.0"), None, None, None, None, "1.0.0"),
            // package/nginx_grouped/0.1.0
            e("nginx_grouped", "0.1.0", "beta", "integration", &["custom"], &[], Some(">=8.0.0"), None, None, None, None, "2.10.0"),
            // package/no_stream_configs/1.0.0
            e("no_stream_configs", "1.0.0", "beta", "integration", &["custom"], &[], None, None, None, None, None, "1.0.0"),
            // package/package_reference/0.1.0
            e("package_reference", "0.1.0", "beta", "integration", &["custom"], &[None], Some("^8.18.0"), None, None, None, None, "3.6.0"),
            // package/package_reference_stream/0.1.0
            e("package_reference_stream", "0.1.0", "beta", "integration", &["custom"], &[], None, None, None, None, None, "3.6.0"),
            // package/reference/1.0.0
            e("reference", "1.0.0", "ga", "integration", &["custom", "web"], &[None], Some(">6.7.0  <7.6.0"), None, None, None, None, "1.0.0"),
            // package/sql_input/0.2.0
            e("sql_input", "0.2.0", "beta", "input", &["custom", "datastore"], &[None], None, None, None, None, None, "1.0.0"),
            // package/sql_input/0.3.0
            e("sql_input", "0.3.0", "beta", "input", &["custom", "datastore"], &[None], None, None, None, None, None, "1.0.0"),
            // package/traces/1.0.0
            e("traces", "1.0.0", "experimental", "integration", &["monitoring"], &[], Some("~7.x.x"), None, None, None, None, "1.0.0"),
            // package/yamlpipeline/1.0.0
            e("yamlpipeline", "1.0.0", "beta", "integration", &["custom"], &[], None, None, None, None, None, "1.0.0"),
        ]
    }

    /// (path and query, golden file, status) of the conformance cases for `endpoint`, in
    /// the default server configuration.
    pub(crate) fn conformance_cases(endpoint: &str) -> Vec<(String, String, u16)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance/");
        let cases = std::fs::read_to_string(format!("{dir}cases.tsv")).expect("conformance kit");
        cases
            .lines()
            .skip(1)
            .filter_map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                let (group, path, status, golden) = (c[1], c[2], c[3], c[4]);
                let route = path.split('?').next().unwrap_or("");
                (group != "nondefault" && route == endpoint && golden != "-").then(|| {
                    let query = path
                        .split_once('?')
                        .map(|(_, q)| q)
                        .unwrap_or("")
                        .to_string();
                    (
                        query,
                        format!("{dir}golden/{golden}"),
                        status.parse().unwrap(),
                    )
                })
            })
            .collect()
    }

    /// (name, version, number of policy templates or None) of each item.
    fn summary(answer: &serde_json::Value) -> Vec<(String, String, Option<usize>)> {
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["version"].as_str().unwrap().to_string(),
                    p.get("policy_templates")
                        .map(|t| t.as_array().unwrap().len()),
                )
            })
            .collect()
    }

    #[test]
    fn conformance_goldens() {
        let entries = conformance_entries();
        let cases = conformance_cases("/search");
        assert!(cases.len() >= 25, "{} cases", cases.len());
        for (query, golden, status) in cases {
            let body = std::fs::read_to_string(&golden).unwrap();
            match SearchFilter::from_query(&query) {
                Ok(f) => {
                    assert_eq!(status, 200, "{query}");
                    let want: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let got = search_json(&entries, &f);
                    assert_eq!(summary(&got), summary(&want), "/search?{query}");
                }
                Err(msg) => {
                    assert_eq!(status, 400, "{query}");
                    assert_eq!(format!("{msg}\n"), body, "/search?{query}");
                }
            }
        }
    }

    fn names(entries: &[Entry], idx: &[usize]) -> Vec<String> {
        idx.iter()
            .map(|&i| format!("{}@{}", entries[i].name, entries[i].version))
            .collect()
    }

    fn run(entries: &[Entry], q: &str) -> Vec<String> {
        names(
            entries,
            &search(entries, &SearchFilter::from_query(q).unwrap()),
        )
    }

    fn simple(name: &str, version: &str) -> Entry {
        Entry::new(name, Version::parse(version).unwrap())
    }

    #[test]
    fn latest_is_strictly_newer_and_first_wins_on_ties() {
        let entries = vec![
            simple("a", "1.0.0+one"),
            simple("a", "1.0.0+two"),
            simple("b", "2.0.0"),
            simple("a", "0.9.0"),
            simple("b", "10.0.0"),
        ];
        assert_eq!(run(&entries, ""), ["a@1.0.0+one", "b@10.0.0"]);
        assert_eq!(
            run(&entries, "all=true"),
            [
                "a@0.9.0",
                "a@1.0.0+one",
                "a@1.0.0+two",
                "b@2.0.0",
                "b@10.0.0"
            ]
        );
    }

    #[test]
    fn prerelease_and_experimental_need_prerelease_true() {
        let mut exp = simple("c", "1.0.0");
        exp.release = "experimental".into();
        let entries = vec![simple("a", "1.0.0"), simple("a", "2.0.0-rc1"), exp];
        assert_eq!(run(&entries, ""), ["a@1.0.0"]);
        assert_eq!(run(&entries, "prerelease=true"), ["a@2.0.0-rc1", "c@1.0.0"]);
    }

    #[test]
    fn category_filter_comes_after_latest() {
        let mut old = simple("a", "1.0.0");
        old.categories = vec!["web".into()];
        let entries = vec![old, simple("a", "2.0.0")];
        assert!(run(&entries, "category=web").is_empty());
        assert_eq!(run(&entries, "category=web&all=true"), ["a@1.0.0"]);
        assert_eq!(
            run(&entries, "category=observability&all=true"),
            ["a@1.0.0"]
        );
    }

    #[test]
    fn policy_templates_are_trimmed_to_the_category() {
        let mut a = e(
            "a",
            "1.0.0",
            "ga",
            "integration",
            &["aws"],
            &[Some(&["web"]), None, Some(&["security"])],
            None,
            None,
            None,
            None,
            None,
            "1.0.0",
        );
        a.search_json["title"] = "A".into();
        let entries = vec![a];
        let f = SearchFilter::from_query("category=security").unwrap();
        let got = search_json(&entries, &f);
        assert_eq!(
            got[0]["policy_templates"],
            serde_json::json!([{ "name": "t2" }])
        );
        // Matched through a subcategory only: no template lists `observability` itself.
        let f = SearchFilter::from_query("category=observability").unwrap();
        let got = search_json(&entries, &f);
        assert_eq!(got.as_array().unwrap().len(), 1);
        assert!(got[0].get("policy_templates").is_none());
        let keys: Vec<&String> = got[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "version", "title"]);
        // Matched at package level: untouched.
        let f = SearchFilter::from_query("category=aws").unwrap();
        assert_eq!(search_json(&entries, &f)[0], entries[0].search_json);
    }

    #[test]
    fn per_package_filters() {
        let mut a = simple("a", "1.0.0");
        a.kibana = Some(Constraint::parse("^8.1").unwrap());
        a.agent = Some(Constraint::parse(">=9.0.0").unwrap());
        a.capabilities = Some(vec!["security".into()]);
        a.format_version = "3.1.4".into();
        a.package_type = "input".into();
        let entries = vec![a, simple("b", "1.0.0")];
        assert_eq!(run(&entries, "kibana.version=8.5"), ["a@1.0.0", "b@1.0.0"]);
        assert_eq!(run(&entries, "kibana.version=9.0.0"), ["b@1.0.0"]);
        assert_eq!(run(&entries, "agent.version=8.9"), ["b@1.0.0"]);
        assert_eq!(run(&entries, "capabilities=observability"), ["b@1.0.0"]);
        assert_eq!(
            run(&entries, "capabilities=observability,security").len(),
            2
        );
        assert_eq!(run(&entries, "spec.min=3.1&spec.max=3.1"), ["a@1.0.0"]);
        assert_eq!(run(&entries, "spec.min=3.2"), Vec::<String>::new());
        assert_eq!(run(&entries, "spec.max=3.0"), ["b@1.0.0"]);
        assert_eq!(run(&entries, "type=input"), ["a@1.0.0"]);
        assert_eq!(run(&entries, "package=b"), ["b@1.0.0"]);
    }

    #[test]
    fn discovery_filters() {
        let mut a = simple("a", "1.0.0");
        a.discovery_fields = Some(vec!["x".into(), "y".into()]);
        a.discovery_datasets = Some(vec!["d1".into()]);
        let mut b = simple("b", "1.0.0");
        b.discovery_fields = Some(vec![]);
        let entries = vec![a, b];
        assert_eq!(run(&entries, "discovery=fields:x,y,z"), ["a@1.0.0"]);
        assert!(run(&entries, "discovery=fields:x").is_empty());
        assert_eq!(run(&entries, "discovery=datasets:d0,d1"), ["a@1.0.0"]);
        assert!(run(&entries, "discovery=datasets:d1&discovery=fields:x").is_empty());
    }

    #[test]
    fn legacy_mode() {
        let mut exp = simple("a", "3.0.0");
        exp.release = "experimental".into();
        let entries = vec![
            simple("a", "1.0.0"),
            simple("a", "2.0.0-rc1"),
            simple("a", "0.5.0"),
            exp,
            simple("b", "0.1.0"),
            simple("b", "0.2.0-rc1"),
            simple("c", "1.0.0-rc1"),
            simple("c", "1.0.0-rc2"),
        ];
        // Newest release wins over a newer prerelease; experimental releases count.
        assert_eq!(
            run(&entries, "experimental=true"),
            ["a@3.0.0", "b@0.1.0", "c@1.0.0-rc2"]
        );
        // all: names with a stable (>= 1.0.0, not prerelease) version lose the rest.
        assert_eq!(
            run(&entries, "experimental=true&all=true"),
            [
                "a@1.0.0",
                "a@3.0.0",
                "b@0.1.0",
                "b@0.2.0-rc1",
                "c@1.0.0-rc1",
                "c@1.0.0-rc2"
            ]
        );
        // Only kibana.version, package and type filter; prerelease etc. are ignored.
        assert_eq!(
            run(
                &entries,
                "experimental=true&package=b&capabilities=none&prerelease=false"
            ),
            ["b@0.1.0"]
        );
    }
}
