//! Issue 12, `eprgen publish`, against real stores on loopback: moto's S3 server, Azurite and a
//! folder (`file://`). Every object is read back over plain HTTP (not through object_store) and
//! compared with the manifest; republishing writes nothing; a change uploads only what changed;
//! `--prune` deletes only once the new manifest is live; a publish killed after N writes leaves
//! the old build whole and resumes without sending again what arrived; and the CloudFront
//! harness serving the bucket's objects passes the whole conformance kit.
//!
//! Kills use the documented test hook `EPRGEN_PUBLISH_ABORT_AFTER=N` (the process aborts, as
//! SIGKILL would, right after its N-th write to the store) and one real SIGKILL.

mod common;
mod publish_stores;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::*;
use eprgen::write::manifest::Manifest;
use publish_stores::*;
use serde_json::Value;

const MANIFEST: &str = "_eprgen/manifest.json";
const NOT_FOUND: &str = "_eprgen/errors/resource-not-found.txt";

/// The conformance kit's packages copied once (so variants can be made), and three builds:
/// `a` the kit as it is, `b` with one package's README changed, `c` without multiversion 1.0.3.
struct Trees {
    _dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

fn build(sources: &Path, out: &Path) {
    let kit = kit();
    let mut args: Vec<String> = vec!["build".into(), "--quiet".into()];
    for s in ["local-storage", "second_package_path", "package"] {
        args.push("--source".into());
        args.push(sources.join(s).display().to_string());
    }
    args.extend(["--out".into(), out.display().to_string()]);
    args.push("--favicon".into());
    args.push(kit.join("golden/favicon.ico").display().to_string());
    let o = eprgen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn trees() -> &'static Trees {
    static T: OnceLock<Trees> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        copy_dir(&kit().join("packages"), &src);
        let a = dir.path().join("a/public");
        build(&src, &a);
        let readme = src.join("package/foo/1.0.0/docs/README.md");
        let mut text = std::fs::read_to_string(&readme).unwrap();
        text.push_str("\nOne more line.\n");
        std::fs::write(&readme, text).unwrap();
        let b = dir.path().join("b/public");
        build(&src, &b);
        std::fs::remove_dir_all(src.join("package/multiversion/1.0.3")).unwrap();
        let c = dir.path().join("c/public");
        build(&src, &c);
        Trees { _dir: dir, a, b, c }
    })
}

fn manifest(root: &Path) -> Manifest {
    Manifest::load(&std::fs::canonicalize(root).unwrap()).unwrap()
}

fn publish_cmd(bucket: &dyn Bucket, root: &Path, prefix: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["publish", "--quiet", "--json", "--root"])
        .arg(root)
        .args(["--to", &bucket.url(prefix)])
        .args(extra)
        .env("EPRGEN_LOG", "warn")
        .env_remove("EPRGEN_PUBLISH_ABORT_AFTER")
        .envs(bucket.env());
    c
}

fn publish_raw(bucket: &dyn Bucket, root: &Path, prefix: &str, extra: &[&str]) -> Output {
    publish_cmd(bucket, root, prefix, extra).output().unwrap()
}

fn publish(bucket: &dyn Bucket, root: &Path, prefix: &str, extra: &[&str]) -> Value {
    let o = publish_raw(bucket, root, prefix, extra);
    assert!(
        o.status.success(),
        "publish {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// Read every object back and compare it with the tree's manifest: the bytes (blake3), and
/// where the store keeps headers, Content-Type, Cache-Control and Content-Encoding. The
/// manifest object is the tree's own bytes; no other keys are there unless `strays` allows.
fn check_bucket(bucket: &dyn Bucket, prefix: &str, root: &Path, headers: bool, strays: bool) {
    let dir = std::fs::canonicalize(root).unwrap();
    let m = manifest(root);
    let keys: BTreeSet<String> = bucket.keys(prefix).into_iter().collect();
    for (rel, meta) in &m.files {
        let got = bucket
            .get(prefix, rel.as_str())
            .unwrap_or_else(|| panic!("{rel} missing from the bucket"));
        assert_eq!(
            blake3::hash(&got.body).to_hex().as_str(),
            meta.blake3,
            "{rel}: bytes"
        );
        assert_eq!(got.body.len() as u64, meta.size, "{rel}: size");
        if headers {
            assert_eq!(
                got.content_type.as_deref(),
                Some(meta.content_type.as_str()),
                "{rel}"
            );
            assert_eq!(
                got.cache_control.as_deref(),
                Some(meta.cache_control.as_str()),
                "{rel}"
            );
            assert_eq!(got.content_encoding, meta.content_encoding, "{rel}");
        }
        assert!(keys.contains(rel.as_str()), "{rel} not listed");
    }
    let mf = bucket.get(prefix, MANIFEST).expect("manifest");
    assert_eq!(mf.body, std::fs::read(dir.join(MANIFEST)).unwrap());
    let nf = bucket.get(prefix, NOT_FOUND).expect("error body");
    assert_eq!(nf.body, b"resource not found\n");
    if headers {
        assert_eq!(
            nf.content_type.as_deref(),
            Some("text/plain; charset=utf-8")
        );
    }
    if !strays {
        let mut expected: BTreeSet<String> =
            m.files.keys().map(|k| k.as_str().to_string()).collect();
        expected.insert(NOT_FOUND.to_string());
        expected.insert(MANIFEST.to_string());
        let extra: Vec<_> = keys.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&keys).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "the bucket holds other keys: {extra:?}; lacks {missing:?}"
        );
    }
}

/// `eprgen publish` to moto: every object reads back with the manifest's bytes and headers, the
/// invalidation list of a first publish is `/*`, and the CloudFront harness serving what the
/// bucket holds (objects downloaded with the headers S3 returned) passes the conformance kit.
#[test]
fn issue_12_s3_publish_reads_back_and_serves_the_conformance_kit() {
    let t = trees();
    let moto = Moto::start("registry");
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("invalidate.txt");
    let r = publish(
        &moto,
        &t.a,
        "epr/prod",
        &["--invalidation-list", list.to_str().unwrap()],
    );
    let m = manifest(&t.a);
    // The tree's files, the error body and the manifest.
    assert_eq!(n(&r, "objects"), m.files.len() as u64 + 2);
    // Identical bytes with identical headers are sent once and copied inside the store.
    assert!(n(&r, "copied") > 0, "{r}");
    assert_eq!(n(&r, "uploaded") + n(&r, "copied"), n(&r, "objects"), "{r}");
    assert_eq!(std::fs::read_to_string(&list).unwrap(), "/*\n");
    check_bucket(&moto, "epr/prod", &t.a, true, false);
    // Nothing outside the prefix.
    assert!(moto.keys("").iter().all(|k| k.starts_with("epr/prod/")));

    // Download the bucket as it is (bytes and the headers S3 sends back) and serve it.
    let dl = work.path().join("bucket");
    let mut objects = Vec::new();
    for key in moto.keys("epr/prod") {
        let got = moto.get("epr/prod", &key).unwrap();
        let file = dl.join(&key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &got.body).unwrap();
        let mut o = serde_json::json!({
            "key": key,
            "content_type": got.content_type.unwrap(),
            "cache_control": got.cache_control.unwrap(),
            "file": file.display().to_string(),
        });
        if let Some(e) = got.content_encoding {
            o["content_encoding"] = e.into();
        }
        objects.push(o);
    }
    let objects_json = work.path().join("objects.json");
    std::fs::write(&objects_json, serde_json::to_vec(&objects).unwrap()).unwrap();
    let kvs = work.path().join("kvs.json");
    let f = eprgen(&[
        "routes",
        "cloudfront",
        "--root",
        dl.to_str().unwrap(),
        "--kvs-out",
        kvs.to_str().unwrap(),
    ]);
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    std::fs::write(work.path().join("function.js"), &f.stdout).unwrap();
    // The fallback origin serves the downloaded tree too: the bucket holds a whole tree.
    let fallback = Server::start(&dl);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/edge/cf-harness.js");
    let mut child = Command::new("node")
        .arg(script)
        .arg(work.path().join("function.js"))
        .arg(&kvs)
        .arg(&objects_json)
        .arg("0")
        .arg(&fallback.base)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    check_every_group(&base, "cloudfront from the bucket", String::new);
    let _ = child.kill();
    let _ = child.wait();
}

/// Publishing the same build again writes nothing (with the abort hook at 1 write, any write
/// would kill the process); a build with one package changed writes only the paths whose
/// manifest entries differ, which are that package's files, answers and route data.
#[test]
fn issue_12_republish_writes_nothing_and_a_change_only_what_changed() {
    let t = trees();
    let moto = Moto::start("registry");
    publish(&moto, &t.a, "", &[]);
    let o = publish_cmd(&moto, &t.a, "", &[])
        .env("EPRGEN_PUBLISH_ABORT_AFTER", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the republish wrote: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (n(&r, "uploaded"), n(&r, "copied"), n(&r, "deleted")),
        (0, 0, 0)
    );
    assert_eq!(r["invalidation"], serde_json::json!([]));

    // One package changed: what would be written is exactly the changed entries + the manifest.
    let (ma, mb) = (manifest(&t.a), manifest(&t.b));
    let mut changed: BTreeSet<String> = mb
        .files
        .iter()
        .filter(|(k, v)| {
            ma.files
                .get(*k)
                .is_none_or(|o| o.blake3 != v.blake3 || o.cache_control != v.cache_control)
        })
        .map(|(k, _)| k.as_str().to_string())
        .collect();
    changed.insert(MANIFEST.to_string());
    for k in &changed {
        // The package's catalog page shows its README, so it changes with it.
        assert!(
            k.starts_with("package/foo/")
                || k.starts_with("epr/foo/")
                || k.starts_with("catalog/package/foo/")
                || k.starts_with("answers/")
                || k.starts_with("_eprgen/"),
            "{k} changed"
        );
    }
    assert!(changed.contains("package/foo/1.0.0/docs/README.md"));
    let dry = publish(&moto, &t.b, "", &["--dry-run"]);
    let written: BTreeSet<String> = dry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(written, changed);
    // --dry-run wrote nothing: the bucket still holds build a.
    check_bucket(&moto, "", &t.a, true, false);
    let list = tempfile::NamedTempFile::new().unwrap();
    let r = publish(
        &moto,
        &t.b,
        "",
        &["--invalidation-list", list.path().to_str().unwrap()],
    );
    assert_eq!(
        n(&r, "uploaded") + n(&r, "copied"),
        changed.len() as u64,
        "{r}"
    );
    // A README changes the package's file, zip and catalog page, no answer (the package JSON
    // does not hold it).
    let paths = std::fs::read_to_string(list.path()).unwrap();
    assert_eq!(
        paths,
        "/catalog/package/foo/\n/catalog/package/foo/index.html\n/epr/foo/foo-1.0.0.zip\n\
         /package/foo/1.0.0/docs/README.md\n"
    );
    // The old build's objects stay (no --prune), the new one is whole.
    check_bucket(&moto, "", &t.b, true, true);
}

/// The keys of the live manifest in the bucket (None: no manifest yet).
fn live(bucket: &dyn Bucket, prefix: &str) -> Option<Vec<u8>> {
    bucket.get(prefix, MANIFEST).map(|g| g.body)
}

/// `--prune` deletes the removed version's objects, and a kill after every possible number of
/// writes shows none is gone while the old manifest is live.
#[test]
fn issue_12_prune_deletes_only_after_the_manifest_switched() {
    let t = trees();
    let moto = Moto::start("registry");
    publish(&moto, &t.a, "p", &[]);
    let (ma, mc) = (manifest(&t.a), manifest(&t.c));
    let removed: Vec<String> = ma
        .files
        .keys()
        .filter(|k| !mc.files.contains_key(*k))
        .map(|k| k.as_str().to_string())
        .collect();
    assert!(removed
        .iter()
        .any(|k| k.starts_with("package/multiversion/1.0.3/")));
    assert!(removed.contains(&"epr/multiversion/multiversion-1.0.3.zip".to_string()));
    let dry = publish(&moto, &t.c, "p", &["--prune", "--dry-run"]);
    let deletes: BTreeSet<String> = dry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "delete")
        .map(|a| a["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(deletes, removed.iter().cloned().collect());
    // Removing a version changes answers and route data: every query must be invalidated.
    let inv: Vec<&str> = dry["invalidation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for p in [
        "/search*",
        "/categories*",
        "/epr/multiversion/multiversion-1.0.3.zip",
        "/package/multiversion/1.0.3/",
    ] {
        assert!(inv.contains(&p), "{p} not in {inv:?}");
    }
    let writes = dry["actions"].as_array().unwrap().len();
    let c_manifest = std::fs::read(std::fs::canonicalize(&t.c).unwrap().join(MANIFEST)).unwrap();
    assert!(writes > deletes.len());
    // Killed after 1, 2, 3, … writes, each run resuming the one before, until one finishes.
    for n in 1.. {
        let o = publish_cmd(&moto, &t.c, "p", &["--prune"])
            .env("EPRGEN_PUBLISH_ABORT_AFTER", n.to_string())
            .output()
            .unwrap();
        let gone = removed
            .iter()
            .filter(|k| moto.get("p", k).is_none())
            .count();
        if gone > 0 {
            assert_eq!(
                live(&moto, "p").as_deref(),
                Some(c_manifest.as_slice()),
                "after {n} writes, {gone} objects were deleted before the manifest switched"
            );
        }
        if o.status.success() {
            assert_eq!(gone, removed.len());
            break;
        }
    }
    let r = publish(&moto, &t.c, "p", &["--prune"]);
    assert_eq!(n(&r, "uploaded") + n(&r, "copied"), 0, "{r}");
    check_bucket(&moto, "p", &t.c, true, false);
}

/// Check that the live manifest names a build whose every file is in the bucket, with its bytes
/// (a key an unfinished publish overwrote, listed in its journal, may hold the new bytes).
fn check_live_build_whole(bucket: &dyn Bucket, trees: &[&Path]) -> Option<usize> {
    let bytes = live(bucket, "")?;
    let which = trees
        .iter()
        .position(|t| {
            std::fs::read(std::fs::canonicalize(t).unwrap().join(MANIFEST)).unwrap() == bytes
        })
        .expect("the live manifest is one of the builds");
    let m = manifest(trees[which]);
    let journal: BTreeSet<String> = bucket
        .get("", "_eprgen/publish.json")
        .map(|g| {
            let j: Value = serde_json::from_slice(&g.body).unwrap();
            j["overwrites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    for (rel, meta) in &m.files {
        let got = bucket
            .get("", rel.as_str())
            .unwrap_or_else(|| panic!("live build {which}: {rel} missing"));
        if !journal.contains(rel.as_str()) {
            assert_eq!(
                blake3::hash(&got.body).to_hex().as_str(),
                meta.blake3,
                "live build {which}: {rel} has other bytes"
            );
        }
    }
    Some(which)
}

/// Objects the bucket already holds with the bytes of `root`'s manifest.
fn arrived(bucket: &dyn Bucket, root: &Path) -> BTreeSet<String> {
    let m = manifest(root);
    bucket
        .keys("")
        .into_iter()
        .filter(|k| {
            crate_rel(k)
                .and_then(|r| m.files.get(&r))
                .is_some_and(|meta| {
                    bucket
                        .get("", k)
                        .is_some_and(|g| blake3::hash(&g.body).to_hex().as_str() == meta.blake3)
                })
        })
        .collect()
}

fn crate_rel(k: &str) -> Option<eprgen::write::RelPath> {
    eprgen::write::RelPath::new(k)
}

/// Resume: the writes a resumed publish plans never include an object that already arrived
/// (checked from what the bucket holds), and afterwards the bucket holds the new build.
fn resume(bucket: &dyn Bucket, root: &Path, headers: bool) {
    let there = arrived(bucket, root);
    let dry = publish(bucket, root, "", &["--dry-run"]);
    for a in dry["actions"].as_array().unwrap() {
        let k = a["key"].as_str().unwrap();
        assert!(
            k == MANIFEST || !there.contains(k),
            "{k} arrived before and is sent again"
        );
    }
    let r = publish(bucket, root, "", &[]);
    assert_eq!(
        n(&r, "uploaded") + n(&r, "copied"),
        dry["actions"].as_array().unwrap().len() as u64,
        "{r}"
    );
    check_bucket(bucket, "", root, headers, true);
}

/// Kill a publish after N writes for several N, over an empty bucket and over a live build:
/// the live manifest always names a whole build, and re-running resumes.
fn kill_and_resume(bucket: &dyn Bucket, headers: bool) {
    let t = trees();
    let total = manifest(&t.a).files.len();
    // First publish, killed: nothing is live until the manifest arrives.
    for n in [1, 7, total / 2] {
        let o = publish_cmd(bucket, &t.a, "", &[])
            .env("EPRGEN_PUBLISH_ABORT_AFTER", n.to_string())
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "publish was not killed after {n} writes"
        );
        assert_eq!(check_live_build_whole(bucket, &[&t.a]), None);
    }
    resume(bucket, &t.a, headers);
    // An update (build c: a version removed, a README changed: new answers, route data
    // overwritten in place), killed at several points, one write at a time (-j 1) so that the
    // kill point is exact. Each run resumes the one before, so N is taken from what is left.
    let remaining = || {
        let dry = publish(bucket, &t.c, "", &["--dry-run"]);
        dry["actions"].as_array().unwrap().len()
    };
    let first = remaining();
    assert!(first > 4, "only {first} writes");
    let picks: [fn(usize) -> usize; 5] = [|_| 1, |_| 2, |w| w / 2, |w| w - 1, |w| w];
    for pick in picks {
        let w = remaining();
        let n = pick(w).max(1);
        let o = publish_cmd(bucket, &t.c, "", &["-j", "1"])
            .env("EPRGEN_PUBLISH_ABORT_AFTER", n.to_string())
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "publish was not killed after {n} of {w} writes"
        );
        // Whichever manifest is live names a whole build; the manifest is the last write of a
        // publish (after the journal), so it switches only when every other write is done.
        let which = check_live_build_whole(bucket, &[&t.a, &t.c]);
        if n < w {
            assert_eq!(which, Some(0), "after {n} of {w} writes");
        }
    }
    resume(bucket, &t.c, headers);
}

#[test]
fn issue_12_s3_kill_and_resume() {
    let moto = Moto::start("registry");
    kill_and_resume(&moto, true);
}

/// A real SIGKILL in the middle of a publish (after some objects arrived), then a resume.
#[test]
fn issue_12_s3_sigkill_mid_publish_then_resume() {
    let t = trees();
    let moto = Moto::start("registry");
    let mut child = publish_cmd(&moto, &t.a, "", &["-j", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let k = moto.keys("").len();
        if k >= 20 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "publish ended before the kill"
        );
        assert!(start.elapsed().as_secs() < 120);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let total = manifest(&t.a).files.len();
    let there = moto.keys("").len();
    assert!(there < total, "the publish finished before the kill");
    assert_eq!(check_live_build_whole(&moto, &[&t.a]), None);
    resume(&moto, &t.a, true);
}

#[test]
fn issue_12_azurite_publish_reads_back_republish_and_resume() {
    let t = trees();
    let az = Azurite::start("registry");
    let r = publish(&az, &t.a, "epr", &[]);
    assert!(n(&r, "uploaded") > 0);
    check_bucket(&az, "epr", &t.a, true, false);
    let r = publish(&az, &t.a, "epr", &[]);
    assert_eq!((n(&r, "uploaded"), n(&r, "copied")), (0, 0));
    let az2 = Azurite::start("second");
    kill_and_resume(&az2, true);
}

/// A folder destination: the same read-back (bytes; a folder keeps no headers), and the result
/// is a tree `eprgen verify` and `eprgen serve` accept.
#[test]
fn issue_12_file_publish_reads_back_and_is_a_tree() {
    let t = trees();
    let dest = tempfile::tempdir().unwrap();
    let folder = Folder(dest.path().to_path_buf());
    let r = publish(&folder, &t.a, "", &[]);
    assert!(n(&r, "uploaded") > 0);
    check_bucket(&folder, "", &t.a, false, false);
    let r = publish(&folder, &t.a, "", &[]);
    assert_eq!((n(&r, "uploaded"), n(&r, "copied")), (0, 0));
    let other = tempfile::tempdir().unwrap();
    kill_and_resume(&Folder(other.path().to_path_buf()), false);
    // With --prune, the folder becomes exactly build c (plus the error body, which verify
    // reports as the one stray file).
    publish(&folder, &t.c, "", &["--prune"]);
    check_bucket(&folder, "", &t.c, false, false);
    let v = eprgen(&["verify", "--root", dest.path().to_str().unwrap()]);
    let out = String::from_utf8_lossy(&v.stdout);
    assert!(
        out.lines().all(|l| l.contains("resource-not-found")),
        "{out}"
    );
}

/// A folder as a bucket, read with std::fs.
struct Folder(PathBuf);

impl Bucket for Folder {
    fn url(&self, prefix: &str) -> String {
        assert!(prefix.is_empty());
        format!("file://{}", self.0.display())
    }
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn keys(&self, _prefix: &str) -> Vec<String> {
        walkdir::WalkDir::new(&self.0)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                e.path()
                    .strip_prefix(&self.0)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
    fn get(&self, _prefix: &str, key: &str) -> Option<Got> {
        std::fs::read(self.0.join(key)).ok().map(|body| Got {
            body,
            content_type: None,
            cache_control: None,
            content_encoding: None,
        })
    }
}

/// Bad URL, missing credentials, a bucket that does not exist, refused credentials and a tree
/// that differs from its manifest: each a clear error naming the object, with the README's exit
/// code, and nothing written.
#[test]
fn issue_12_errors_name_the_object_and_the_reason() {
    let t = trees();
    let moto = Moto::start("registry");
    let root = t.a.to_str().unwrap();
    let run = |args: &[&str], env: &[(String, String)]| {
        let o = Command::new(bin())
            .args(["publish", "--root", root])
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--to", "registry/epr"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("registry/epr: not a destination URL"), "{err}");
    let (code, err) = run(&["--to", "ftp://x/y"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown scheme"), "{err}");

    let no_keys: Vec<(String, String)> = moto
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .collect();
    let (code, err) = run(&["--to", "s3://registry/epr"], &no_keys);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("s3://registry/epr: no credentials: set AWS_ACCESS_KEY_ID"),
        "{err}"
    );

    let (code, err) = run(&["--to", "s3://no-such-bucket/epr"], &moto.env());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("s3://no-such-bucket/epr"), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    // moto checking signatures: unknown keys are refused (403 InvalidAccessKeyId).
    let strict = Moto::start_with("locked", &[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]);
    let mut env = strict.env();
    env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID");
    env.push(("AWS_ACCESS_KEY_ID".into(), "AKIAUNKNOWN000000000".into()));
    let (code, err) = run(&["--to", "s3://locked/epr"], &env);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("s3://locked/epr"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        err.contains("InvalidAccessKeyId") || err.contains("403"),
        "{err}"
    );

    // A tree whose file no longer matches its manifest: exit 1, the file named, and the bucket
    // keeps what it had (nothing of this build went live).
    let copy = tempfile::tempdir().unwrap();
    copy_dir(
        &std::fs::canonicalize(&t.a).unwrap(),
        &copy.path().join("t"),
    );
    let tree = copy.path().join("t");
    let zip = tree.join("epr/foo/foo-1.0.0.zip");
    std::fs::write(&zip, "changed").unwrap();
    let o = publish_raw(&moto, &tree, "x", &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let needle = format!("{}: differs from the tree's manifest", zip.display());
    assert!(err.contains(&needle), "{err}");
    assert!(moto.get("x", MANIFEST).is_none());
}

#[test]
fn issue_12_shell_format_is_a_wrapper_around_publish() {
    let t = trees();
    let o = eprgen(&[
        "routes",
        "s3-metadata",
        "--root",
        t.a.to_str().unwrap(),
        "--format",
        "shell",
        "--dest",
        "s3://bucket/epr",
    ]);
    assert!(o.status.success());
    let script = String::from_utf8(o.stdout).unwrap();
    assert!(script.contains("exec eprgen publish --root '"), "{script}");
    assert!(script.contains("--to 's3://bucket/epr' \"$@\""), "{script}");
    assert!(!script.contains("aws s3 cp"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("retired"));
}
