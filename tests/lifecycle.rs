//! Build lifecycle: determinism, verify, diff, incremental rebuilds, dedupe.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packages")
}

fn build(args: &[&str], out: &Path) -> std::process::Output {
    let mut a: Vec<String> = vec!["build".into(), "--quiet".into()];
    a.extend(args.iter().map(|s| s.to_string()));
    a.push("--out".into());
    a.push(out.display().to_string());
    std::process::Command::new(bin())
        .args(&a)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run eprgen")
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        if e.file_type().is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn same_inputs_give_identical_manifests_whatever_the_thread_count() {
    let t = tempfile::tempdir().unwrap();
    let pk = demo();
    let args = ["--packages", pk.to_str().unwrap(), "--stage", "snapshot"];
    let a = t.path().join("a");
    let b = t.path().join("b");
    assert!(build(&args, &a).status.success());
    let mut a2: Vec<&str> = args.to_vec();
    a2.extend(["-j", "1"]);
    assert!(build(&a2, &b).status.success());
    let ma = fs::read(a.join("_eprgen/manifest.json")).unwrap();
    let mb = fs::read(b.join("_eprgen/manifest.json")).unwrap();
    assert_eq!(ma, mb);
    let o = eprgen(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
}

#[test]
fn verify_finds_changed_stray_and_missing_files() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    let pk = demo();
    assert!(build(&["--packages", pk.to_str().unwrap()], &out)
        .status
        .success());
    let o = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let dir = fs::canonicalize(&out).unwrap();
    let readme = dir.join("package/tinyhttp/1.0.0/docs/README.md");
    fs::write(&readme, "tampered").unwrap();
    fs::write(dir.join("stray.txt"), "x").unwrap();
    let zip = fs::read_dir(dir.join("epr/kvstore"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(&zip).unwrap();
    let o = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("package/tinyhttp/1.0.0/docs/README.md: size"),
        "{text}"
    );
    assert!(text.contains("stray.txt: not in the manifest"), "{text}");
    assert!(text.contains("in the manifest but missing"), "{text}");
}

#[test]
fn diff_lists_what_a_new_version_changes() {
    let t = tempfile::tempdir().unwrap();
    let pk = t.path().join("packages");
    copy_tree(&demo(), &pk);
    let old = t.path().join("old");
    let new = t.path().join("new");
    assert!(build(&["--packages", pk.to_str().unwrap()], &old)
        .status
        .success());
    copy_tree(
        &pk.join("staging/kvstore/1.1.0"),
        &pk.join("production/kvstore/1.1.0"),
    );
    assert!(build(&["--packages", pk.to_str().unwrap()], &new)
        .status
        .success());
    let o = eprgen(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let added: Vec<&str> = d["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        added.contains(&"epr/kvstore/kvstore-1.1.0.zip"),
        "{added:?}"
    );
    assert!(
        added.contains(&"package/kvstore/1.1.0/manifest.yml"),
        "{added:?}"
    );
    let changed: Vec<&str> = d["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(changed.contains(&"_eprgen/routes.json"), "{changed:?}");
    assert!(d["removed"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p.as_str().unwrap().starts_with("answers/")));
}
