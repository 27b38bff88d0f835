//! Value classes per kind of dimension, and the class key a router computes for a query value.
//! Both sides live here so they cannot drift apart: `*_classes` enumerates every class with a
//! representative value (used to build answers), `*_key` maps any parsed value to its class.

use semver::{BuildMetadata, Prerelease, Version};

use super::diagram::Class;

/// Key of an absent (or empty) parameter.
pub const ABSENT: &str = "-";
/// Key of a name that does not occur in the catalog.
pub const UNKNOWN: &str = "*";

fn strip_build(v: &Version) -> Version {
    let mut v = v.clone();
    v.build = BuildMetadata::EMPTY;
    v
}

fn smallest_release_above(p: &Version) -> Version {
    if p.pre.is_empty() {
        Version::new(p.major, p.minor, p.patch + 1)
    } else {
        Version::new(p.major, p.minor, p.patch)
    }
}

fn smallest_prerelease_above(p: &Version) -> Version {
    if p.pre.is_empty() {
        let mut v = Version::new(p.major, p.minor, p.patch + 1);
        v.pre = Prerelease::new("0").expect("valid prerelease");
        v
    } else {
        let mut v = Version::new(p.major, p.minor, p.patch);
        v.pre = Prerelease::new(&format!("{}.0", p.pre)).expect("valid prerelease");
        v
    }
}

/// The class key of a version among sorted, build-free `points`: `k` when it lies strictly
/// between points k-1 and k and is a release, `k-` when it is a prerelease there, `k=` when it
/// is point k itself.
pub fn version_key(points: &[Version], v: &Version) -> String {
    let v = strip_build(v);
    let k = points.partition_point(|p| *p < v);
    if k < points.len() && points[k] == v {
        format!("{k}=")
    } else if v.pre.is_empty() {
        format!("{k}")
    } else {
        format!("{k}-")
    }
}

/// Every class of a version dimension, each with its smallest member as representative.
/// Classes with no member (no release between 8.1.0 and 8.1.1) are left out.
pub fn version_classes(points: &[Version]) -> Vec<Class> {
    let mut out = vec![Class {
        key: ABSENT.into(),
        value: None,
    }];
    for k in 0..=points.len() {
        let below = k.checked_sub(1).map(|i| &points[i]);
        let fits = |v: &Version| k == points.len() || *v < points[k];
        let rel = below
            .map(smallest_release_above)
            .unwrap_or_else(|| Version::new(0, 0, 0));
        if fits(&rel) {
            out.push(Class {
                key: format!("{k}"),
                value: Some(rel.to_string()),
            });
        }
        let pre = below.map(smallest_prerelease_above).unwrap_or_else(|| {
            let mut v = Version::new(0, 0, 0);
            v.pre = Prerelease::new("0").expect("valid");
            v
        });
        if fits(&pre) {
            out.push(Class {
                key: format!("{k}-"),
                value: Some(pre.to_string()),
            });
        }
        if k < points.len() {
            out.push(Class {
                key: format!("{k}="),
                value: Some(points[k].to_string()),
            });
        }
    }
    out
}

/// Sorted, deduplicated, build-free points.
pub fn normalise_points(mut points: Vec<Version>) -> Vec<Version> {
    for p in points.iter_mut() {
        *p = strip_build(p);
    }
    points.sort();
    points.dedup();
    points
}

/// Classes of a `major.minor` spec dimension over points `M.m.0`.
pub fn spec_classes(points: &[Version]) -> Vec<Class> {
    let mut out = vec![Class {
        key: ABSENT.into(),
        value: None,
    }];
    for k in 0..=points.len() {
        let cand = match k.checked_sub(1).map(|i| &points[i]) {
            None => Version::new(0, 0, 0),
            Some(p) => Version::new(p.major, p.minor + 1, 0),
        };
        if (k == points.len() || cand < points[k])
            && !(k == 0 && !points.is_empty() && cand == points[0])
        {
            out.push(Class {
                key: format!("{k}"),
                value: Some(format!("{}.{}", cand.major, cand.minor)),
            });
        }
        if k < points.len() {
            out.push(Class {
                key: format!("{k}="),
                value: Some(format!("{}.{}", points[k].major, points[k].minor)),
            });
        }
    }
    out
}

/// Classes of a name dimension: absent, each known value, and any other value.
pub fn name_classes(values: &[String]) -> Vec<Class> {
    let mut out = vec![Class {
        key: ABSENT.into(),
        value: None,
    }];
    out.extend(values.iter().map(|v| Class {
        key: v.clone(),
        value: Some(v.clone()),
    }));
    // A value no package has: the representative only needs to be outside `values`.
    let mut other = "eprgen-unknown".to_string();
    while values.contains(&other) {
        other.push('_');
    }
    out.push(Class {
        key: UNKNOWN.into(),
        value: Some(other),
    });
    out
}

pub fn name_key(values: &[String], v: Option<&str>) -> String {
    match v {
        None => ABSENT.into(),
        Some(v) if values.binary_search_by(|x| x.as_str().cmp(v)).is_ok() => v.to_string(),
        Some(_) => UNKNOWN.into(),
    }
}

/// The most members a set dimension may have: its classes are all subsets.
pub const MAX_SET_MEMBERS: usize = 12;

/// Classes of a comma-separated set dimension (capabilities): absent, and every subset of the
/// known members (a query is reduced to the members it names that some package has).
/// `values` holds at most [`MAX_SET_MEMBERS`] members: `plan` refuses larger catalogs.
pub fn set_classes(values: &[String]) -> Vec<Class> {
    assert!(values.len() <= MAX_SET_MEMBERS, "too many set members");
    let mut out = vec![Class {
        key: ABSENT.into(),
        value: None,
    }];
    let n = values.len();
    for mask in 0u32..(1u32 << n) {
        let members: Vec<&str> = (0..n)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| values[i].as_str())
            .collect();
        let key = members.join(",");
        // An empty subset still means "the parameter was given": `,` names no known member.
        let value = if members.is_empty() {
            ",".to_string()
        } else {
            key.clone()
        };
        out.push(Class {
            key,
            value: Some(value),
        });
    }
    out
}

pub fn set_key(values: &[String], given: Option<&[String]>) -> String {
    match given {
        None => ABSENT.into(),
        Some(items) => {
            let mut keep: Vec<&str> = values
                .iter()
                .filter(|v| items.iter().any(|i| i == *v))
                .map(String::as_str)
                .collect();
            keep.dedup();
            keep.join(",")
        }
    }
}

/// Classes of a boolean dimension.
pub fn bool_classes() -> Vec<Class> {
    vec![
        Class {
            key: "0".into(),
            value: None,
        },
        Class {
            key: "1".into(),
            value: Some("true".into()),
        },
    ]
}

pub fn bool_key(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn every_version_class_representative_maps_to_its_key() {
        let points = normalise_points(vec![
            v("7.14.0"),
            v("8.0.0"),
            v("8.0.0-beta1"),
            v("8.0.1"),
            v("0.0.0"),
        ]);
        for c in version_classes(&points) {
            if let Some(val) = &c.value {
                assert_eq!(version_key(&points, &v(val)), c.key, "{val}");
            }
        }
        // 8.0.0 < x < 8.0.1 holds only prereleases: no release class there.
        let keys: Vec<String> = version_classes(&points)
            .into_iter()
            .map(|c| c.key)
            .collect();
        let k = points.iter().position(|p| *p == v("8.0.1")).unwrap();
        assert!(!keys.contains(&format!("{k}")));
        assert!(keys.contains(&format!("{k}-")));
    }

    #[test]
    fn spec_classes_cover_between_and_exact() {
        let points = vec![v("1.0.0"), v("2.0.0"), v("2.1.0")];
        let cs = spec_classes(&points);
        let keys: Vec<&str> = cs.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["-", "0", "0=", "1", "1=", "2=", "3"]);
        for c in &cs {
            if let Some(val) = &c.value {
                assert_eq!(version_key(&points, &v(&format!("{val}.0"))), c.key);
            }
        }
    }

    #[test]
    fn set_keys() {
        let vals = vec!["observability".to_string(), "security".to_string()];
        assert_eq!(set_key(&vals, None), "-");
        assert_eq!(
            set_key(
                &vals,
                Some(&["security".into(), "none".into(), "observability".into()])
            ),
            "observability,security"
        );
        assert_eq!(set_key(&vals, Some(&["none".into()])), "");
        assert_eq!(set_classes(&vals).len(), 5);
    }
}
