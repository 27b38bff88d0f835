//! Today's packages build as the Go registry loads them: `../shared/corpora/current-packages`
//! (234 real packages, format 1.0 to 3.x) built with `--skip-invalid` refuses exactly the
//! versions listed in `current-packages.invalid.txt`, each only for reasons given there, and
//! every other version gets its `/package/{name}/{version}/` document.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn corpora() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpora"))
}

fn sorted_dirs(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// `name@version` → the reasons (`file: why`) eprgen may give for refusing it.
fn listed_invalid(path: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, why) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("{}: no tab in {line:?}", path.display()));
        let reasons = why.split(" | ").map(str::to_string).collect();
        assert!(
            out.insert(id.to_string(), reasons).is_none(),
            "{id} listed twice"
        );
    }
    out
}

#[test]
fn current_packages_build_except_the_listed_invalid_ones() {
    let corpus = corpora().join("current-packages");
    assert!(
        corpus.is_dir(),
        "corpus not found at {} (it comes with ../shared)",
        corpus.display()
    );
    let corpus = corpus.canonicalize().unwrap();
    let listed = listed_invalid(&corpora().join("current-packages.invalid.txt"));

    let mut all = BTreeSet::new();
    for name in sorted_dirs(&corpus) {
        for version in sorted_dirs(&corpus.join(&name)) {
            all.insert(format!("{name}@{version}"));
        }
    }
    assert!(all.len() > 200, "only {} versions in the corpus", all.len());
    for id in listed.keys() {
        assert!(all.contains(id), "{id} is listed but not in the corpus");
    }

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let run = common::eprgen(&[
        "build",
        "--quiet",
        "--json",
        "--skip-invalid",
        "--source",
        corpus.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON report");

    // What was refused, by name@version, as `file inside the package: why`.
    let prefix = format!("{}/", corpus.display());
    let mut refused: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for msg in report["invalid"].as_array().expect("invalid list") {
        let msg = msg.as_str().unwrap();
        let rest = msg
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("refusal outside a package folder: {msg}"));
        let (path, why) = rest
            .split_once(": ")
            .unwrap_or_else(|| panic!("no reason in {msg}"));
        let mut parts = path.splitn(3, '/');
        let (name, version) = (parts.next().unwrap(), parts.next().unwrap_or_default());
        // The list names the file inside the package, unless the folder itself is at fault.
        let why = match parts.next() {
            Some(file) => format!("{file}: {why}"),
            None => why.to_string(),
        };
        refused
            .entry(format!("{name}@{version}"))
            .or_default()
            .insert(why);
    }

    let mut problems = Vec::new();
    for (id, reasons) in &refused {
        match listed.get(id) {
            None => problems.push(format!("{id} is refused but not listed: {reasons:?}")),
            Some(allowed) => {
                for r in reasons.difference(allowed) {
                    problems.push(format!("{id} is refused for an unlisted reason: {r}"));
                }
            }
        }
    }
    for id in listed.keys() {
        if !refused.contains_key(id) {
            problems.push(format!("{id} is listed as invalid but was built"));
        }
    }

    // Every other version has its package document, and the refused ones have none.
    for id in &all {
        let (name, version) = id.split_once('@').unwrap();
        let doc = out.join(format!("package/{name}/{version}/index.json"));
        if listed.contains_key(id) {
            if doc.exists() {
                problems.push(format!("{id} is refused but {} exists", doc.display()));
            }
            continue;
        }
        match std::fs::read(&doc) {
            Err(e) => problems.push(format!("{id}: {}: {e}", doc.display())),
            Ok(body) => {
                let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
                if j["name"] != name || j["version"] != version {
                    problems.push(format!(
                        "{id}: {} is about {}@{}",
                        doc.display(),
                        j["name"],
                        j["version"]
                    ));
                }
            }
        }
    }
    assert_eq!(
        report["packages"].as_u64(),
        Some((all.len() - listed.len()) as u64),
        "packages built"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
