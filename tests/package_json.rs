//! The package JSON eprgen computes, compared with EPR's own answers (the conformance kit's
//! goldens): every `/package/<name>/<version>/` body byte for byte, and every item of
//! `/search?all=true` (`search-all.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eprgen::package::fs::{Limits, Origin, PackageFs};
use eprgen::package::{self, gojson, LoadOptions, Package};

fn kit() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance"
    ));
    assert!(
        p.join("golden").is_dir(),
        "conformance kit not found at {}",
        p.display()
    );
    p
}

fn load(origin: Origin) -> Package {
    let sig = PathBuf::from(format!("{}.sig", origin.path().display()));
    let fs = PackageFs::open(&origin, Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    package::load(
        &fs,
        &LoadOptions {
            has_signature: sig.is_file(),
        },
    )
    .unwrap_or_else(|errs| {
        panic!(
            "{}:\n{}",
            origin.path().display(),
            errs.iter().map(|e| format!("  {e}\n")).collect::<String>()
        )
    })
}

fn sorted_dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Folder packages `<root>/<name>/<version>/`, keyed by (name, version).
fn folder_packages(root: &Path) -> ByKey {
    let mut out = BTreeMap::new();
    for n in sorted_dirs(root) {
        for v in sorted_dirs(&n) {
            let p = load(Origin::Dir(v));
            out.insert((p.name.clone(), p.version.to_string()), p);
        }
    }
    out
}

fn zip_packages(root: &Path) -> ByKey {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    zips.sort();
    zips.into_iter()
        .map(|z| {
            let p = load(Origin::Zip(z));
            ((p.name.clone(), p.version.to_string()), p)
        })
        .collect()
}

type ByKey = BTreeMap<(String, String), Package>;

struct Sources {
    zips: ByKey,
    second: ByKey,
    main: ByKey,
}

fn sources() -> Sources {
    let k = kit().join("packages");
    let mut s = Sources {
        zips: zip_packages(&k.join("local-storage")),
        second: folder_packages(&k.join("second_package_path")),
        main: folder_packages(&k.join("package")),
    };
    // EPR's default setup has two indexers: the zips, and the folder paths. Deprecation notices
    // are propagated within each.
    package::propagate_deprecation(s.zips.values_mut());
    let mut folders: Vec<&mut Package> = s.second.values_mut().collect();
    folders.extend(s.main.values_mut());
    package::propagate_deprecation(folders);
    s
}

fn key(n: &str, v: &str) -> (String, String) {
    (n.to_string(), v.to_string())
}

fn golden(rel: &str) -> String {
    std::fs::read_to_string(kit().join("golden").join(rel)).unwrap()
}

fn check_bytes(what: &str, p: &Package, want: &str, failures: &mut Vec<String>) {
    let got = gojson::to_go_pretty(&p.info_json());
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        failures.push(format!(
            "{what}: differs from line {}:\n  got:  {:?}\n  want: {:?}",
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        ));
    }
}

#[test]
fn package_answers_match_epr_byte_for_byte() {
    let s = sources();
    let mut failures = Vec::new();
    let mut checked = 0;

    // golden/package/<name>/<version>/index.json: the folder package (EPR's upstream test for
    // example/1.0.1 indexes no zips; multiversion/1.1.0 comes from second_package_path, the
    // first folder path).
    let root = kit().join("golden/package");
    for n in sorted_dirs(&root) {
        for v in sorted_dirs(&n) {
            let k = key(
                &n.file_name().unwrap().to_string_lossy(),
                &v.file_name().unwrap().to_string_lossy(),
            );
            let p = s
                .second
                .get(&k)
                .or_else(|| s.main.get(&k))
                .unwrap_or_else(|| panic!("no package for {k:?}"));
            check_bytes(
                &format!("package/{}/{}/index.json", k.0, k.1),
                p,
                &golden(&format!("package/{}/{}/index.json", k.0, k.1)),
                &mut failures,
            );
            checked += 1;
        }
    }

    // The named goldens of cases.tsv and the source that answers each.
    let named: [(&str, &ByKey, &str, &str); 10] = [
        ("package.json", &s.main, "example", "1.0.0"),
        ("package-zip.json", &s.zips, "example", "1.0.1"),
        (
            "package-zip-nodirentries.json",
            &s.zips,
            "nodirentries",
            "1.0.0",
        ),
        ("sql-input-package.json", &s.main, "sql_input", "0.3.0"),
        (
            "datasources-1.0.0-package.json",
            &s.main,
            "datasources",
            "1.0.0",
        ),
        (
            "package-deprecated-input-package-1.0.0.json",
            &s.main,
            "deprecated_input_package",
            "1.0.0",
        ),
        (
            "package-deprecated-input-policy-1.0.0.json",
            &s.main,
            "deprecated_input_policy",
            "1.0.0",
        ),
        (
            "package-deprecated-integration-input-1.0.0.json",
            &s.main,
            "deprecated_integration_input",
            "1.0.0",
        ),
        (
            "package-deprecated-integration-stream-1.0.0.json",
            &s.main,
            "deprecated_integration_stream",
            "1.0.0",
        ),
        // nd-002: without second_package_path, multiversion/1.1.0 comes from package/.
        (
            "package-multiversion-1.1.0.json",
            &s.main,
            "multiversion",
            "1.1.0",
        ),
    ];
    for (file, src, n, v) in named {
        let p = src
            .get(&key(n, v))
            .unwrap_or_else(|| panic!("no package for {n} {v}"));
        check_bytes(file, p, &golden(file), &mut failures);
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} answers differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 54);
}

#[test]
fn search_items_match_epr() {
    let s = sources();
    let want_text = golden("search-all.json");
    let want: Vec<serde_json::Value> = serde_json::from_str(&want_text).unwrap();
    let mut got = Vec::new();
    for item in &want {
        let (n, v) = (
            item["name"].as_str().unwrap(),
            item["version"].as_str().unwrap(),
        );
        // The default setup: zips first, then second_package_path, then package/.
        let k = key(n, v);
        let p = s
            .zips
            .get(&k)
            .or_else(|| s.second.get(&k))
            .or_else(|| s.main.get(&k))
            .unwrap();
        let mine = p.search_json();
        assert_eq!(&mine, item, "search item {n} {v}");
        got.push(mine);
    }
    assert_eq!(gojson::array_body(&got), want_text);
    // Every package of the default setup is in the answer, except those /search hides without
    // `prerelease=true`: experimental releases and prerelease versions.
    let mut shown: Vec<_> = s
        .zips
        .values()
        .chain(s.second.values())
        .chain(s.main.values())
        .filter(|p| p.release() != "experimental" && p.version.pre.is_empty())
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect();
    shown.sort();
    shown.dedup();
    assert_eq!(shown.len(), want.len());
}
