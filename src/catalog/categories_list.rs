//! The list of category ids a registry knows (id, title, parent). Package categories not in this
//! list are dropped when a package is loaded, as EPR does; /categories takes titles from here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One known category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: String,
    pub title: String,
    pub parent: Option<String>,
}

const DATA: &str = include_str!("categories.tsv");

/// All known categories by id.
pub fn known() -> &'static BTreeMap<String, Category> {
    static CELL: OnceLock<BTreeMap<String, Category>> = OnceLock::new();
    CELL.get_or_init(|| {
        DATA.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut it = l.split('\t');
                let id = it.next().expect("id column").to_string();
                let title = it.next().expect("title column").to_string();
                let parent = it.next().filter(|p| !p.is_empty()).map(str::to_string);
                (id.clone(), Category { id, title, parent })
            })
            .collect()
    })
}

pub fn is_known(id: &str) -> bool {
    known().contains_key(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parents_are_known_roots() {
        for c in super::known().values() {
            if let Some(p) = &c.parent {
                assert!(
                    super::known()[p].parent.is_none(),
                    "{} has a nested parent",
                    c.id
                );
            }
        }
        assert_eq!(
            super::known()["custom_logs"].parent.as_deref(),
            Some("custom")
        );
    }
}
