//! All valid packages of a build, and EPR's /search and /categories semantics over them.

pub mod categories;
pub mod categories_list;
pub mod entry;
pub mod query;
pub mod search;

use crate::package::Package;
use crate::plan::constraint::Constraint;

/// The search-relevant facts of a loaded package (its conditions already parsed).
pub fn entry_of(
    p: &Package,
    kibana: Option<Constraint>,
    agent: Option<Constraint>,
) -> entry::Entry {
    let owned = |v: Vec<&str>| -> Option<Vec<String>> {
        (!v.is_empty()).then(|| v.into_iter().map(str::to_string).collect())
    };
    entry::Entry {
        name: p.name.clone(),
        version: p.version.clone(),
        release: p.release().to_string(),
        package_type: p.kind().to_string(),
        categories: p.categories().to_vec(),
        policy_template_categories: p
            .policy_template_categories()
            .into_iter()
            .map(|c| c.map(<[String]>::to_vec))
            .collect(),
        kibana,
        agent,
        capabilities: p.capabilities().map(<[String]>::to_vec),
        discovery_fields: owned(p.discovery_fields()),
        discovery_datasets: owned(p.discovery_datasets()),
        format_version: p.format_version().to_string(),
        search_json: p.search_json(),
    }
}
