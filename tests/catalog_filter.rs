//! The catalog's Kibana-version filter (issue 16) runs in the browser, so its verdicts are
//! checked here against eprgen's own constraint matcher (`Constraint::matches`, what /search
//! uses): the script in Node over the catalog data of the demo packages, the conformance kit's
//! packages and the 234 current packages, for versions at, around and between every boundary
//! point of every package's `conditions.kibana.version`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use eprgen::build::{load_catalog, Inputs};
use eprgen::package::fs::Limits;
use eprgen::plan::constraint::parse_version;
use eprgen::read::Stage;

/// The version strings to try: every point, its neighbours, shortened and decorated forms,
/// and a few that the filter must refuse.
fn versions(points: &[Vec<serde_json::Value>]) -> Vec<String> {
    let mut out: BTreeSet<String> = [
        "0",
        "0.0.0",
        "1",
        "v7",
        "7.9",
        "8.12",
        "8.12.0",
        "v8.12.0",
        "8.12.0+build.7",
        "9.0.0",
        "9.1",
        "10.0.0",
        "99999.0.0",
        "18446744073709551615.0.0",
        "08.012.00",
        // refused: prereleases, junk, out of u64
        "8.12.0-SNAPSHOT",
        "9.0.0-beta1",
        "",
        " ",
        "x",
        "8.",
        "8..1",
        "8.1.2.3",
        "-1",
        "18446744073709551616.0.0",
        "8.12.0+",
        "=8.12.0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for p in points {
        let n: Vec<u64> = (0..3)
            .map(|i| p[i].as_str().unwrap().parse().unwrap())
            .collect();
        let (ma, mi, pa) = (n[0], n[1], n[2]);
        out.insert(format!("{ma}.{mi}.{pa}"));
        out.insert(format!("{ma}.{mi}.{}", pa + 1));
        out.insert(format!("{ma}.{}.0", mi + 1));
        out.insert(format!("{}.0.0", ma + 1));
        out.insert(format!("{ma}.{mi}"));
        out.insert(format!("{ma}"));
        if pa > 0 {
            out.insert(format!("{ma}.{mi}.{}", pa - 1));
        }
        if mi > 0 {
            out.insert(format!("{ma}.{}.99", mi - 1));
        }
    }
    out.into_iter().collect()
}

fn check(name: &str, build_args: &[String], inputs: Inputs) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    let mut args: Vec<String> = vec!["build".into(), "--out".into(), out.display().to_string()];
    args.extend(build_args.iter().cloned());
    let o = common::eprgen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let index = out.join("catalog/catalog-index.js");
    let text = std::fs::read_to_string(&index).unwrap();
    let json = text
        .trim()
        .strip_prefix("window.EPRGEN_CATALOG = ")
        .and_then(|s| s.strip_suffix(';'))
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let points: Vec<Vec<serde_json::Value>> =
        serde_json::from_value(data["kibana_points"].clone()).unwrap();
    let tries = versions(&points);
    let list = t.path().join("versions.txt");
    std::fs::write(&list, tries.join("\n") + "\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/catalog_filter.js");
    // The script as the tree ships it.
    let js = out.join("catalog/assets/catalog.js");
    let node = Command::new("node")
        .arg(&script)
        .arg(&index)
        .arg(&js)
        .arg(&list)
        .output()
        .expect("node (installed by .ci/run)");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let verdicts: Vec<Option<Vec<String>>> = String::from_utf8(node.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Versions that are not blank lines (the script skips those).
    let tries: Vec<&String> = tries.iter().filter(|s| !s.is_empty()).collect();
    assert_eq!(verdicts.len(), tries.len());

    let (entries, _) = load_catalog(&inputs, Limits::default()).unwrap();
    let mut by_name: BTreeMap<&str, Vec<&eprgen::catalog::entry::Entry>> = BTreeMap::new();
    for e in &entries {
        by_name.entry(e.name.as_str()).or_default().push(e);
    }
    assert_eq!(
        data["packages"].as_array().unwrap().len(),
        by_name.len(),
        "{name}: one card per package name"
    );
    let (mut accepted, mut hidden_somewhere) = (0, false);
    for (v, got) in tries.iter().zip(&verdicts) {
        let parsed = parse_version(v.trim());
        match got {
            None => assert!(
                !matches!(&parsed, Ok(p) if p.pre.is_empty()),
                "{name}: the filter refuses {v:?}, a release for the matcher ({parsed:?})"
            ),
            Some(kept) => {
                let p = parsed.unwrap_or_else(|e| panic!("{name}: {v:?} kept but invalid: {e}"));
                assert!(p.pre.is_empty(), "{name}: {v:?} is a prerelease");
                let want: Vec<&str> = by_name
                    .iter()
                    .filter(|(_, es)| {
                        es.iter()
                            .any(|e| e.kibana.as_ref().is_none_or(|c| c.matches(&p)))
                    })
                    .map(|(n, _)| *n)
                    .collect();
                assert_eq!(kept, &want, "{name}: kibana.version {v:?}");
                accepted += 1;
                hidden_somewhere |= want.len() < by_name.len();
            }
        }
    }
    assert!(accepted > 20, "{name}: only {accepted} versions accepted");
    assert!(hidden_somewhere, "{name}: no version hides a package");
}

fn kit_sources() -> Vec<PathBuf> {
    let kit = common::kit().join("packages");
    ["package", "local-storage", "second_package_path"]
        .iter()
        .map(|s| kit.join(s))
        .collect()
}

#[test]
fn filter_agrees_with_the_matcher_on_the_demo_packages() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages");
    check(
        "demo",
        &[
            "--packages".into(),
            demo.display().to_string(),
            "--stage".into(),
            "snapshot".into(),
        ],
        Inputs::Stages {
            dir: demo,
            stage: Stage::Snapshot,
        },
    );
}

#[test]
fn filter_agrees_with_the_matcher_on_the_kit_packages() {
    let sources = kit_sources();
    let mut args = vec!["--skip-invalid".to_string()];
    for s in &sources {
        args.push("--source".into());
        args.push(s.display().to_string());
    }
    check("kit", &args, Inputs::Sources(sources));
}

#[test]
fn filter_agrees_with_the_matcher_on_current_packages() {
    let corpus = common::kit().join("../corpora/current-packages");
    check(
        "current-packages",
        &[
            "--skip-invalid".into(),
            "--source".into(),
            corpus.display().to_string(),
        ],
        Inputs::Sources(vec![corpus]),
    );
}
