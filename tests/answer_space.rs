//! The answer space is exact: for random queries (every boundary version and its neighbours,
//! lenient version forms, random parameter mixes, repeats, junk parameters and bad values), the
//! answer reached through the route table equals the answer computed directly from the catalog
//! in memory, byte for byte; and an invalid query gives the same 400 message both ways.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use eprgen::build::{load_catalog, Inputs};
use eprgen::catalog::entry::Entry;
use eprgen::catalog::query::{CategoriesFilter, SearchFilter};
use eprgen::catalog::{categories, search};
use eprgen::package::fs::Limits;
use eprgen::package::gojson;
use eprgen::plan::compose::Composer;
use eprgen::plan::routes::DimKind;
use eprgen::plan::space::{plan, Planned, Profile, RouteError, Routed, Router};
use eprgen::plan::Endpoint;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

struct World {
    entries: Vec<Entry>,
    bodies: HashMap<String, Vec<u8>>,
    search: Router,
    categories: Router,
    composer: Composer,
}

fn world(inputs: Inputs) -> World {
    world_with(inputs, &Profile::default())
}

fn world_with(inputs: Inputs, profile: &Profile) -> World {
    let (entries, invalid) = load_catalog(&inputs, Limits::default()).expect("catalog loads");
    assert!(invalid.is_empty(), "{invalid:?}");
    let mut bodies = HashMap::new();
    let mut sink = |id: &str, body: &[u8], _| {
        bodies.insert(id.to_string(), body.to_vec());
        Ok(())
    };
    let Planned {
        search,
        categories,
        index,
        ..
    } = plan(&entries, profile, &mut sink).expect("plan");
    World {
        entries,
        bodies,
        search: Router::new(search),
        categories: Router::new(categories),
        composer: Composer::new(index.expect("a fresh plan has its index")),
    }
}

fn direct(w: &World, ep: Endpoint, q: &str) -> Result<Vec<u8>, String> {
    match ep {
        Endpoint::Search => {
            let f = SearchFilter::from_query(q)?;
            let items: Vec<_> = search::search(&w.entries, &f)
                .iter()
                .map(|&i| search::item(&w.entries[i], &f))
                .collect();
            Ok(gojson::array_body(&items).into_bytes())
        }
        Endpoint::Categories => {
            let f = CategoriesFilter::from_query(q)?;
            Ok(
                gojson::to_go_pretty(&categories::categories_json(&categories::categories(
                    &w.entries, &f,
                )))
                .into_bytes(),
            )
        }
    }
}

fn routed(w: &World, ep: Endpoint, q: &str) -> Result<Vec<u8>, String> {
    let r = if ep == Endpoint::Search {
        &w.search
    } else {
        &w.categories
    };
    match r.route(ep, q) {
        Ok(Routed::Answer(id)) => Ok(w
            .bodies
            .get(id)
            .unwrap_or_else(|| panic!("answer {id} missing"))
            .clone()),
        Ok(Routed::Compose) => Ok(composed(w, ep, q)),
        Err(RouteError::BadRequest(m)) => Err(m),
        Err(RouteError::Incomplete) => panic!("{ep:?} ?{q}: the table cannot place it"),
    }
}

/// The answer composed from the index alone (whatever the route table materializes).
fn composed(w: &World, ep: Endpoint, q: &str) -> Vec<u8> {
    match ep {
        Endpoint::Search => {
            let f = SearchFilter::from_query(q).unwrap();
            let body = w.composer.search_body(&f).expect("composes");
            // What serve sends: the same bytes as slices of the fragment arena.
            let parts = w.composer.search_parts(&f).expect("composes");
            assert_eq!(parts.len, body.len(), "?{q}");
            assert_eq!(parts.join(), body, "?{q}");
            body
        }
        Endpoint::Categories => w
            .composer
            .categories_body(&CategoriesFilter::from_query(q).unwrap())
            .expect("composes"),
    }
}

/// Values worth trying for each parameter, from the table itself (boundaries and neighbours)
/// and from the catalog, plus forms EPR parses leniently and values it rejects.
fn pools(w: &World) -> Vec<(String, Vec<String>)> {
    let mut versions = vec![
        "8".to_string(),
        "8.10".into(),
        "v8.1.0".into(),
        "08.01.0".into(),
        "7.x".into(),
        "a.b.c".into(),
        "".into(),
        "8.0.0+build.1".into(),
        "9999.0.0".into(),
        "0.0.0".into(),
    ];
    let mut specs = vec![
        "1.0".to_string(),
        "2.10".into(),
        "3".into(),
        "1.1.1".into(),
        "3.0".into(),
        "x.y".into(),
        "".into(),
        "1.2-rc".into(),
    ];
    for d in w
        .search
        .diagram
        .dims
        .iter()
        .chain(&w.categories.diagram.dims)
    {
        if matches!(d.kind, DimKind::Version | DimKind::Spec) {
            for p in &d.values {
                let v = semver::Version::parse(p).unwrap();
                let mut next = v.clone();
                next.patch += 1;
                let mut pre = v.clone();
                pre.pre = semver::Prerelease::new("SNAPSHOT").unwrap();
                let below = if v.patch > 0 {
                    semver::Version::new(v.major, v.minor, v.patch - 1)
                } else if v.minor > 0 {
                    semver::Version::new(v.major, v.minor - 1, 99)
                } else {
                    v.clone()
                };
                versions.extend([
                    v.to_string(),
                    next.to_string(),
                    pre.to_string(),
                    below.to_string(),
                    format!("{}.{}", v.major, v.minor),
                ]);
                specs.extend([
                    format!("{}.{}", v.major, v.minor),
                    format!("{}.{}", v.major, v.minor + 1),
                    format!("{}.{}", v.major, v.minor.saturating_sub(1)),
                ]);
            }
        }
    }
    let mut names: Vec<String> = w.entries.iter().map(|e| e.name.clone()).collect();
    names.extend(["nope".to_string(), "".into(), "Example".into()]);
    let mut cats: Vec<String> = w
        .entries
        .iter()
        .flat_map(|e| e.categories.clone())
        .collect();
    cats.extend([
        "observability".to_string(),
        "security".into(),
        "custom".into(),
        "nope".into(),
        "".into(),
    ]);
    let caps = vec![
        "observability".to_string(),
        "security".into(),
        "observability,security".into(),
        "none".into(),
        ",".into(),
        "uptime,apm".into(),
        "".into(),
    ];
    let disc = vec![
        "fields:process.pid".to_string(),
        "fields:process.pid,process.path".into(),
        "fields:non.existing".into(),
        "datasets:good_content.errors".into(),
        "datasets:good_content.errors,other".into(),
        "datasets:".into(),
        "bogus".into(),
        "".into(),
    ];
    let bools = vec![
        "true".to_string(),
        "false".into(),
        "1".into(),
        "0".into(),
        "T".into(),
        "FALSE".into(),
        "foo".into(),
        "".into(),
    ];
    let types = vec![
        "integration".to_string(),
        "input".into(),
        "content".into(),
        "nope".into(),
        "".into(),
    ];
    vec![
        ("kibana.version".into(), versions.clone()),
        ("agent.version".into(), versions),
        ("prerelease".into(), bools.clone()),
        ("experimental".into(), bools.clone()),
        ("all".into(), bools.clone()),
        ("include_policy_templates".into(), bools.clone()),
        ("internal".into(), bools),
        ("category".into(), cats),
        ("package".into(), names),
        ("type".into(), types),
        ("capabilities".into(), caps),
        ("spec.min".into(), specs.clone()),
        ("spec.max".into(), specs),
        ("discovery".into(), disc),
        ("junk".into(), vec!["1".into(), "%zz".into()]),
    ]
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn check_world(w: &World, cases: u32) {
    let pools = pools(w);
    let n = pools.len();
    let strategy = (
        any::<bool>(),
        prop::collection::vec((0..n, any::<prop::sample::Index>(), any::<bool>()), 0..7),
    );
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&strategy, |(cats, picks)| {
            let ep = if cats {
                Endpoint::Categories
            } else {
                Endpoint::Search
            };
            let q: Vec<String> = picks
                .iter()
                .map(|(p, i, enc)| {
                    let (name, vals) = &pools[*p];
                    let v = i.get(vals);
                    if *enc {
                        format!("{}={}", name, encode(v))
                    } else {
                        format!("{name}={v}")
                    }
                })
                .collect();
            let q = q.join("&");
            let a = routed(w, ep, &q);
            let b = direct(w, ep, &q);
            if let Ok(b) = &b {
                let c = composed(w, ep, &q);
                prop_assert!(
                    &c == b,
                    "{ep:?} ?{q}\ncomposed: {}\ndirect: {}",
                    String::from_utf8_lossy(&c)
                        .chars()
                        .take(300)
                        .collect::<String>(),
                    String::from_utf8_lossy(b)
                        .chars()
                        .take(300)
                        .collect::<String>()
                );
            }
            prop_assert!(
                a == b,
                "{ep:?} ?{q}\nrouted: {:?}\ndirect: {:?}",
                a.as_ref().map(|x| String::from_utf8_lossy(x)
                    .chars()
                    .take(300)
                    .collect::<String>()),
                b.as_ref().map(|x| String::from_utf8_lossy(x)
                    .chars()
                    .take(300)
                    .collect::<String>())
            );
            Ok(())
        })
        .unwrap();
}

fn kit_sources() -> Inputs {
    let kit = common::kit().join("packages");
    Inputs::Sources(vec![
        kit.join("local-storage"),
        kit.join("second_package_path"),
        kit.join("package"),
    ])
}

#[test]
fn routed_answers_equal_direct_answers_on_the_conformance_packages() {
    check_world(&world(kit_sources()), 3000);
}

#[test]
fn exhaustive_answers_equal_direct_answers_on_the_conformance_packages() {
    let profile = Profile {
        all: true,
        ..Profile::default()
    };
    check_world(&world_with(kit_sources(), &profile), 1500);
}

/// Presets that name the kit's own capabilities and spec versions, so queries with them are
/// materialized (and others composed).
#[test]
fn preset_answers_equal_direct_answers_on_the_conformance_packages() {
    let profile = Profile {
        all: false,
        presets: vec![
            "capabilities=apm,observability&spec.min=1.0&spec.max=3.0".into(),
            "capabilities=security,observability,uptime&spec.max=2.3".into(),
            "spec.min=3.0".into(),
        ],
    };
    check_world(&world_with(kit_sources(), &profile), 1500);
}

#[test]
fn routed_answers_equal_direct_answers_on_the_demo_packages() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packages");
    let w = world(Inputs::Stages {
        dir,
        stage: eprgen::read::Stage::Snapshot,
    });
    check_world(&w, 1500);
}

/// Every class of every dimension, one at a time and in pairs with the modes, so each edge of
/// the diagrams is exercised at least once (not left to chance).
#[test]
fn every_class_representative_routes_exactly() {
    let w = world(kit_sources());
    for (ep, r) in [
        (Endpoint::Search, &w.search),
        (Endpoint::Categories, &w.categories),
    ] {
        let pools = pools(&w);
        for (name, vals) in &pools {
            for v in vals {
                for extra in [
                    "",
                    "&prerelease=true",
                    "&experimental=true",
                    "&all=true",
                    "&include_policy_templates=true",
                ] {
                    let q = format!("{name}={}{extra}", encode(v));
                    assert_eq!(routed(&w, ep, &q), direct(&w, ep, &q), "{ep:?} ?{q}");
                }
            }
        }
        assert!(!r.diagram.nodes.is_empty());
    }
}
