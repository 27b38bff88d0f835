//! Stage rules: production immutability, staging's explicit allowances, snapshot reports,
//! promotion between stages, and a mirror for one Kibana version.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packages")
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dst = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = eprgen(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn tree_listing(out: &Path) -> Vec<(String, Vec<u8>)> {
    let root = fs::canonicalize(out).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(&root).unwrap().display().to_string(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

struct Setup {
    _t: tempfile::TempDir,
    pk: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let pk = t.path().join("packages");
    copy_tree(&demo(), &pk);
    let out = t.path().join("public");
    Setup { pk, out, _t: t }
}

fn build(s: &Setup, stage: &str, extra: &[&str]) -> (i32, String, String) {
    let mut a = vec![
        "build",
        "--quiet",
        "--packages",
        s.pk.to_str().unwrap(),
        "--stage",
        stage,
        "--out",
        s.out.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    run(&a)
}

#[test]
fn production_never_overwrites_or_removes_and_keeps_the_previous_tree() {
    let s = setup();
    assert_eq!(build(&s, "production", &[]).0, 0);
    let before = tree_listing(&s.out);
    fs::write(
        s.pk.join("production/tinyhttp/1.0.0/docs/README.md"),
        "rewritten",
    )
    .unwrap();
    fs::remove_dir_all(s.pk.join("production/kvstore")).unwrap();
    let (code, _, err) = build(&s, "production", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("production stage policy refuses"), "{err}");
    assert!(err.contains("tinyhttp@1.0.0: content changed"), "{err}");
    assert!(err.contains("kvstore@1.0.0: removed"), "{err}");
    assert_eq!(
        tree_listing(&s.out),
        before,
        "the previous tree must stay as it was"
    );
    // Adding a new version is fine.
    fs::write(
        s.pk.join("production/tinyhttp/1.0.0/docs/README.md"),
        fs::read(demo().join("production/tinyhttp/1.0.0/docs/README.md")).unwrap(),
    )
    .unwrap();
    copy_tree(
        &demo().join("production/kvstore"),
        &s.pk.join("production/kvstore"),
    );
    copy_tree(
        &demo().join("staging/kvstore/1.1.0"),
        &s.pk.join("production/kvstore/1.1.0"),
    );
    assert_eq!(build(&s, "production", &[]).0, 0);
}

#[test]
fn staging_needs_explicit_allowances() {
    let s = setup();
    assert_eq!(build(&s, "staging", &[]).0, 0);
    fs::write(
        s.pk.join("staging/syslog_relay/0.3.0/docs/README.md"),
        "changed",
    )
    .unwrap();
    fs::remove_dir_all(s.pk.join("staging/kvstore/1.1.0")).unwrap();
    let (code, _, err) = build(&s, "staging", &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("syslog_relay@0.3.0: content changed")
            && err.contains("--allow-overwrite syslog_relay@0.3.0"),
        "{err}"
    );
    assert!(
        err.contains("kvstore@1.1.0: removed") && err.contains("--allow-removal kvstore@1.1.0"),
        "{err}"
    );
    let (code, _, err) = build(&s, "staging", &["--allow-overwrite", "syslog_relay@0.3.0"]);
    assert_eq!(code, 1, "removal still refused: {err}");
    let (code, _, err) = build(
        &s,
        "staging",
        &[
            "--allow-overwrite",
            "syslog_relay@0.3.0",
            "--allow-removal",
            "kvstore@1.1.0",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn snapshot_allows_anything_and_says_what() {
    let s = setup();
    assert_eq!(build(&s, "snapshot", &[]).0, 0);
    fs::remove_dir_all(s.pk.join("snapshot/acme_weather")).unwrap();
    let mut a = vec![
        "build",
        "--packages",
        s.pk.to_str().unwrap(),
        "--stage",
        "snapshot",
        "--out",
        s.out.to_str().unwrap(),
    ];
    a.push("--skip-invalid");
    let (code, _, err) = run(&a);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("acme_weather@0.1.0: removed"), "{err}");
}

#[test]
fn promote_moves_between_stages_and_refuses_different_content() {
    let s = setup();
    let pk = s.pk.to_str().unwrap();
    let (code, out, _) = run(&[
        "promote",
        "jobqueue@0.2.0-beta.1",
        "--to",
        "staging",
        "--packages",
        pk,
        "--dry-run",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("would promote jobqueue@0.2.0-beta.1"), "{out}");
    assert!(
        s.pk.join("snapshot/jobqueue/0.2.0-beta.1").is_dir(),
        "dry run changes nothing"
    );
    let (code, _, err) = run(&[
        "promote",
        "jobqueue@0.2.0-beta.1",
        "--to",
        "staging",
        "--packages",
        pk,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(s
        .pk
        .join("staging/jobqueue/0.2.0-beta.1/manifest.yml")
        .is_file());
    assert!(!s.pk.join("snapshot/jobqueue").exists());
    // staging/tinyhttp/1.0.0 equals production's: promoting just removes it from staging.
    let (code, out, err) = run(&[
        "promote",
        "tinyhttp@1.0.0",
        "--to",
        "production",
        "--packages",
        pk,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already in"), "{out}");
    assert!(!s.pk.join("staging/tinyhttp").exists());
    // Different content in the target: refused, nothing moves.
    copy_tree(
        &s.pk.join("staging/kvstore/1.1.0"),
        &s.pk.join("production/kvstore/1.1.0"),
    );
    fs::write(
        s.pk.join("production/kvstore/1.1.0/docs/README.md"),
        "other",
    )
    .unwrap();
    let (code, _, err) = run(&[
        "promote",
        "kvstore@1.1.0",
        "--to",
        "production",
        "--packages",
        pk,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("different content"), "{err}");
    assert!(s.pk.join("staging/kvstore/1.1.0").is_dir());
    let (code, _, err) = run(&[
        "promote",
        "nope@1.0.0",
        "--to",
        "production",
        "--packages",
        pk,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nope@1.0.0 is not in the staging stage"),
        "{err}"
    );
}

#[test]
fn a_kibana_mirror_holds_only_what_that_kibana_can_install() {
    let s = setup();
    let (code, _, err) = build(
        &s,
        "snapshot",
        &["--kibana-version", "8.11.0", "--tag", "8.11.0"],
    );
    assert_eq!(code, 0, "{err}");
    let root = fs::canonicalize(&s.out).unwrap();
    // kvstore 1.1.0 needs ^8.12.0 || ^9.0.0, acme_weather ^8.16.0: not in an 8.11 mirror.
    assert!(root.join("epr/kvstore/kvstore-1.0.0.zip").is_file());
    assert!(!root.join("epr/kvstore/kvstore-1.1.0.zip").exists());
    assert!(!root.join("epr/acme_weather").exists());
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("_eprgen/manifest.json")).unwrap()).unwrap();
    assert_eq!(m["tag"], "8.11.0");
    assert_eq!(m["kibana_version"], "8.11.0");
    // What 8.11 asks gets the same answer from the mirror as from the full registry.
    let full = s.out.with_file_name("full");
    let (code, _, _) = run(&[
        "build",
        "--quiet",
        "--packages",
        s.pk.to_str().unwrap(),
        "--stage",
        "snapshot",
        "--out",
        full.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let a = Server::start(&s.out);
    let b = Server::start(&full);
    for q in [
        "/search?kibana.version=8.11.0",
        "/search?kibana.version=8.11.0&prerelease=true",
        "/categories?kibana.version=8.11.0&prerelease=true",
        "/search?package=kvstore&kibana.version=8.11.0",
    ] {
        assert_eq!(a.get(q).2, b.get(q).2, "{q}");
    }
}
