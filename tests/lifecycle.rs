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

#[test]
fn rebuilds_reuse_unchanged_packages_and_store_duplicates_once() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let pk = t.path().join("packages");
    copy_tree(&demo(), &pk);
    let out = t.path().join("public");
    let args = ["--packages", pk.to_str().unwrap(), "--stage", "snapshot"];
    assert!(build(&args, &out).status.success());
    let first = fs::canonicalize(&out).unwrap();
    // A no-op rebuild is the same build.
    assert!(build(&args, &out).status.success());
    assert_eq!(fs::canonicalize(&out).unwrap(), first);
    // Change one package: its files are new, the others are links into the previous build.
    fs::write(
        pk.join("snapshot/jobqueue/0.2.0-beta.1/docs/README.md"),
        "# jobqueue\nchanged\n",
    )
    .unwrap();
    assert!(build(&args, &out).status.success());
    let second = fs::canonicalize(&out).unwrap();
    assert_ne!(second, first);
    let ino = |dir: &Path, p: &str| fs::metadata(dir.join(p)).unwrap().ino();
    assert_eq!(
        ino(&first, "epr/tinyhttp/tinyhttp-1.0.0.zip"),
        ino(&second, "epr/tinyhttp/tinyhttp-1.0.0.zip")
    );
    assert_ne!(
        ino(&first, "epr/jobqueue/jobqueue-0.2.0-beta.1.zip"),
        ino(&second, "epr/jobqueue/jobqueue-0.2.0-beta.1.zip")
    );
    assert_eq!(
        fs::read_to_string(second.join("package/jobqueue/0.2.0-beta.1/docs/README.md")).unwrap(),
        "# jobqueue\nchanged\n"
    );
    // kvstore 1.0.0 and 1.1.0 ship the same icon-free LICENSE-like files? Identical contents
    // across versions share one inode whatever their paths.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(second.join("_eprgen/manifest.json")).unwrap()).unwrap();
    let mut by_hash: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (p, meta) in m["files"].as_object().unwrap() {
        by_hash
            .entry(meta["blake3"].as_str().unwrap().to_string())
            .or_default()
            .push(p.clone());
    }
    let dup = by_hash
        .values()
        .find(|v| v.len() > 1 && v.iter().all(|p| p.starts_with("package/")))
        .expect("a duplicated file");
    assert_eq!(ino(&second, &dup[0]), ino(&second, &dup[1]), "{dup:?}");
    let o = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
