//! EPR's /categories: how many selected packages list each category.
//!
//! Stage: catalog. Takes the entries in index order and a [`CategoriesFilter`]; hands on the
//! counted categories, sorted by id, and their JSON. Pure: no I/O; titles and parents come
//! from the known category list.

use std::collections::BTreeMap;

use super::categories_list;
use super::entry::Entry;
use super::query::CategoriesFilter;
use super::search;

/// One item of a /categories answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryCount {
    pub id: String,
    /// The known title, or the id for a category EPR does not know (possible only through
    /// policy templates, whose categories are not checked).
    pub title: String,
    pub count: u64,
    pub parent_id: Option<String>,
    pub parent_title: Option<String>,
}

/// The /categories answer: the latest version per name that passes the filter (the /search
/// selection of [`CategoriesFilter::search_filter`]), counted by [`count`].
pub fn categories(entries: &[Entry], f: &CategoriesFilter) -> Vec<CategoryCount> {
    let sf = f.search_filter();
    let selected = search::select(entries, &search::candidates(entries, &sf), &sf);
    count(entries, &selected, f.include_policy_templates)
}

/// Counts categories over `selected` entries, sorted by id.
///
/// Each package adds 1 to each of its categories. With `include_policy_templates`, each
/// policy template of the package also adds 1 to every package category and 1 to each of its
/// own categories, plus 1 more the first time (per package) a template category is not a
/// package category (nor the parent of one). A package whose only policy template has no
/// `categories` key gets nothing extra.
pub fn count(
    entries: &[Entry],
    selected: &[usize],
    include_policy_templates: bool,
) -> Vec<CategoryCount> {
    let counts = tally(
        selected.iter().map(|&i| {
            let e = &entries[i];
            (
                e.categories.as_slice(),
                e.policy_template_categories.as_slice(),
                move |c: &&str| e.has_category(c),
            )
        }),
        include_policy_templates,
    );
    counts
        .into_iter()
        .map(|(id, count)| CategoryCount::known(id, count))
        .collect()
}

impl CategoryCount {
    /// A /categories item for `id` with its known title and parent (an unknown id is its own
    /// title).
    pub fn known(id: &str, count: u64) -> CategoryCount {
        let known = categories_list::known();
        let k = known.get(id);
        let parent = k.and_then(|k| k.parent.as_deref());
        CategoryCount {
            id: id.to_string(),
            title: k.map_or(id, |k| k.title.as_str()).to_string(),
            count,
            parent_id: parent.map(str::to_string),
            parent_title: parent
                .map(|p| known.get(p).map_or(p, |pk| pk.title.as_str()).to_string()),
        }
    }
}

/// The counting rule of [`count`] over any category key (ids here, indices in the built
/// tree's composition index): per selected package its categories, its policy templates'
/// categories, and whether the package has a category (subcategory-aware).
pub fn tally<'a, K, C, H>(
    selected: impl Iterator<Item = (&'a [C], &'a [Option<Vec<C>>], H)>,
    include_policy_templates: bool,
) -> BTreeMap<K, u64>
where
    C: 'a + AsKey<'a, K>,
    K: Ord + Copy,
    H: Fn(&K) -> bool,
{
    let mut counts: BTreeMap<K, u64> = BTreeMap::new();
    for (categories, templates, has) in selected {
        for c in categories {
            *counts.entry(c.key()).or_default() += 1;
        }
        if !include_policy_templates {
            continue;
        }
        let mut extra: Vec<K> = Vec::new();
        for template in templates {
            if template.is_none() && templates.len() == 1 {
                break;
            }
            for c in categories {
                *counts.entry(c.key()).or_default() += 1;
            }
            for c in template.iter().flatten() {
                let k = c.key();
                let n = counts.entry(k).or_default();
                if !has(&k) && !extra.contains(&k) {
                    extra.push(k);
                    *n += 1;
                }
                *n += 1;
            }
        }
    }
    counts
}

/// A category as [`tally`] keys it.
pub trait AsKey<'a, K> {
    fn key(&'a self) -> K;
}

impl<'a> AsKey<'a, &'a str> for String {
    fn key(&'a self) -> &'a str {
        self.as_str()
    }
}

impl<'a> AsKey<'a, u32> for u32 {
    fn key(&'a self) -> u32 {
        *self
    }
}

/// The answer as EPR writes it: `[{"id", "title", "count", "parent_id"?, "parent_title"?}]`.
pub fn categories_json(categories: &[CategoryCount]) -> serde_json::Value {
    let items = categories
        .iter()
        .map(|c| {
            let mut o = serde_json::Map::new();
            o.insert("id".into(), c.id.clone().into());
            o.insert("title".into(), c.title.clone().into());
            o.insert("count".into(), c.count.into());
            if let Some(p) = &c.parent_id {
                o.insert("parent_id".into(), p.clone().into());
            }
            if let Some(p) = &c.parent_title {
                o.insert("parent_title".into(), p.clone().into());
            }
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::search::tests::{conformance_cases, conformance_entries, e};
    use semver::Version;

    fn counts(entries: &[Entry], q: &str) -> Vec<(String, u64)> {
        categories(entries, &CategoriesFilter::from_query(q).unwrap())
            .into_iter()
            .map(|c| (c.id, c.count))
            .collect()
    }

    fn t<'a>(cats: &'a [&'a str]) -> Option<&'a [&'a str]> {
        Some(cats)
    }

    fn pairs(xs: &[(&str, u64)]) -> Vec<(String, u64)> {
        xs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    }

    #[test]
    fn conformance_goldens() {
        let entries = conformance_entries();
        let cases = conformance_cases("/categories");
        assert!(cases.len() >= 14, "{} cases", cases.len());
        for (query, golden, status) in cases {
            let body = std::fs::read_to_string(&golden).unwrap();
            match CategoriesFilter::from_query(&query) {
                Ok(f) => {
                    assert_eq!(status, 200, "{query}");
                    let want: serde_json::Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(
                        categories_json(&categories(&entries, &f)),
                        want,
                        "/categories?{query}"
                    );
                }
                Err(msg) => {
                    assert_eq!(status, 400, "{query}");
                    assert_eq!(format!("{msg}\n"), body, "/categories?{query}");
                }
            }
        }
    }

    #[test]
    fn titles_and_parents() {
        let mut a = Entry::new("a", Version::new(1, 0, 0));
        a.categories = vec!["web".into(), "aws".into()];
        a.policy_template_categories = vec![Some(vec!["no_such".into()]), None];
        let got = categories(
            &[a],
            &CategoriesFilter::from_query("include_policy_templates=1").unwrap(),
        );
        let json = categories_json(&got);
        assert_eq!(
            json,
            serde_json::json!([
                { "id": "aws", "title": "AWS", "count": 3 },
                { "id": "no_such", "title": "no_such", "count": 2 },
                { "id": "web", "title": "Web Server", "count": 3,
                  "parent_id": "observability", "parent_title": "Observability" },
            ])
        );
        let keys: Vec<&String> = json[2].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "title", "count", "parent_id", "parent_title"]);
    }

    #[test]
    fn policy_template_counting() {
        let entries = vec![
            // Package in datastore; templates in datastore and web: AWS-like.
            e(
                "aws",
                "1.0.0",
                "ga",
                "integration",
                &["datastore"],
                &[t(&["datastore"]), t(&["web", "web"])],
                None,
                None,
                None,
                None,
                None,
                "1.0.0",
            ),
            // Only one template, without a categories key: nothing extra.
            e(
                "one",
                "1.0.0",
                "ga",
                "integration",
                &["custom"],
                &[None],
                None,
                None,
                None,
                None,
                None,
                "1.0.0",
            ),
            // One template with an empty categories list: package categories again.
            e(
                "empty",
                "1.0.0",
                "ga",
                "integration",
                &["custom"],
                &[t(&[])],
                None,
                None,
                None,
                None,
                None,
                "1.0.0",
            ),
            // Template category `observability` is the parent of a package category: no extra.
            e(
                "sub",
                "1.0.0",
                "ga",
                "integration",
                &["web"],
                &[t(&["observability"])],
                None,
                None,
                None,
                None,
                None,
                "1.0.0",
            ),
        ];
        assert_eq!(
            counts(&entries, ""),
            pairs(&[("custom", 2), ("datastore", 1), ("web", 1)])
        );
        assert_eq!(
            counts(&entries, "include_policy_templates=true"),
            pairs(&[
                ("custom", 3),
                ("datastore", 4),
                ("observability", 1),
                ("web", 5)
            ])
        );
    }

    #[test]
    fn selection_is_latest_per_name() {
        let mut old = Entry::new("a", Version::new(1, 0, 0));
        old.categories = vec!["web".into()];
        let mut new = Entry::new("a", Version::new(2, 0, 0));
        new.categories = vec!["aws".into()];
        let mut pre = Entry::new("a", Version::parse("3.0.0-rc1").unwrap());
        pre.categories = vec!["crm".into()];
        let entries = vec![old, new, pre];
        assert_eq!(counts(&entries, ""), pairs(&[("aws", 1)]));
        assert_eq!(counts(&entries, "prerelease=true"), pairs(&[("crm", 1)]));
        // category/all are not /categories parameters.
        assert_eq!(
            counts(&entries, "all=true&category=web"),
            pairs(&[("aws", 1)])
        );
        assert!(categories_json(&[]).as_array().unwrap().is_empty());
    }
}
