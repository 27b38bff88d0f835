//! The search-relevant facts of one package version.
//!
//! Stage: catalog. The package loader fills one [`Entry`] per valid package version (after
//! EPR's first-wins duplicate rule); `search` and `categories` read slices of them, in index
//! order (the order EPR's indexer found the packages in), and never do I/O.

use semver::Version;

use super::categories_list;
use crate::plan::constraint::{parse_version_strict, Constraint};

/// One package version as /search and /categories see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub version: Version,
    /// `ga`, `beta` or `experimental` (the manifest's, else [`default_release`]).
    pub release: String,
    /// Manifest `type` (EPR defaults it to `integration`).
    pub package_type: String,
    /// Package-level categories, unknown ids already dropped (EPR does so when loading),
    /// in manifest order, duplicates kept.
    pub categories: Vec<String>,
    /// One item per policy template, in manifest order (the order of `policy_templates` in
    /// `search_json`): its `categories`, kept as written (unknown ids too). `None` when the
    /// template has no `categories` key, which /categories treats differently from `[]`.
    pub policy_template_categories: Vec<Option<Vec<String>>>,
    /// `conditions.kibana.version`.
    pub kibana: Option<Constraint>,
    /// `conditions.agent.version`.
    pub agent: Option<Constraint>,
    /// `conditions.elastic.capabilities`.
    pub capabilities: Option<Vec<String>>,
    /// `discovery.fields[].name`.
    pub discovery_fields: Option<Vec<String>>,
    /// `discovery.datasets[].name`.
    pub discovery_datasets: Option<Vec<String>>,
    /// Manifest `format_version` (the package-spec version).
    pub format_version: String,
    /// The item exactly as /search shows it (a JSON object).
    pub search_json: serde_json::Value,
}

/// EPR's release when the manifest has none: `beta` for a prerelease or a 0.x version,
/// `ga` otherwise.
pub fn default_release(version: &Version) -> &'static str {
    if !version.pre.is_empty() || version.major == 0 {
        "beta"
    } else {
        "ga"
    }
}

impl Entry {
    /// An entry with EPR's defaults: default release, type `integration`, no categories,
    /// policy templates or conditions, format version `1.0.0`, and a minimal search item.
    pub fn new(name: &str, version: Version) -> Entry {
        let search_json = serde_json::json!({ "name": name, "version": version.to_string() });
        Entry {
            name: name.to_string(),
            release: default_release(&version).to_string(),
            version,
            package_type: "integration".to_string(),
            categories: Vec::new(),
            policy_template_categories: Vec::new(),
            kibana: None,
            agent: None,
            capabilities: None,
            discovery_fields: None,
            discovery_datasets: None,
            format_version: "1.0.0".to_string(),
            search_json,
        }
    }

    /// A prerelease version (`1.2.0-rc1`), whatever its `release`.
    pub fn is_prerelease(&self) -> bool {
        !self.version.pre.is_empty()
    }

    /// The package-level categories contain `category`, or one of its subcategories.
    pub fn has_category(&self, category: &str) -> bool {
        has_category(&self.categories, category)
    }

    /// Some policy template lists `category` or one of its subcategories.
    pub fn has_policy_template_category(&self, category: &str) -> bool {
        self.policy_template_categories
            .iter()
            .flatten()
            .any(|cats| has_category(cats, category))
    }

    /// `MAJOR.MINOR.0` of `format_version`, what spec.min/spec.max compare against; `None`
    /// when it is not strict semver (the loader rejects such packages).
    pub fn spec_version(&self) -> Option<Version> {
        let v = parse_version_strict(&self.format_version).ok()?;
        Some(Version::new(v.major, v.minor, 0))
    }
}

/// `list` contains `category`, or a known subcategory of it (a parent matches its children).
pub fn has_category(list: &[String], category: &str) -> bool {
    list.iter().any(|c| c == category)
        || categories_list::known()
            .values()
            .any(|k| k.parent.as_deref() == Some(category) && list.contains(&k.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let e = Entry::new("a", Version::parse("0.9.0").unwrap());
        assert_eq!(e.release, "beta");
        assert_eq!(
            default_release(&Version::parse("1.0.0-rc1").unwrap()),
            "beta"
        );
        assert_eq!(default_release(&Version::parse("1.0.0").unwrap()), "ga");
        assert_eq!(e.search_json["version"], "0.9.0");
        assert!(!e.is_prerelease());
    }

    #[test]
    fn categories_are_subcategory_aware() {
        let mut e = Entry::new("a", Version::new(1, 0, 0));
        e.categories = vec!["web".into()];
        e.policy_template_categories = vec![None, Some(vec!["custom_logs".into()])];
        assert!(e.has_category("web"));
        assert!(e.has_category("observability"));
        assert!(!e.has_category("security"));
        assert!(e.has_policy_template_category("custom"));
        assert!(e.has_policy_template_category("custom_logs"));
        assert!(!e.has_policy_template_category("web"));
    }

    #[test]
    fn spec_version_is_major_minor() {
        let mut e = Entry::new("a", Version::new(1, 0, 0));
        e.format_version = "2.10.3".into();
        assert_eq!(e.spec_version(), Some(Version::new(2, 10, 0)));
        e.format_version = "2.10".into();
        assert_eq!(e.spec_version(), None);
    }
}
