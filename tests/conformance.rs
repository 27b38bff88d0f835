//! EPR's conformance kit over HTTP: build the kit's packages the way each profile of EPR's test
//! server indexes them, serve the tree with `eprgen serve`, and run `check.py`.

mod common;

use common::*;

fn build_profile(sources: &[&str], out: &std::path::Path) {
    let kit = kit();
    let mut args: Vec<String> = vec!["build".into(), "--quiet".into()];
    for s in sources {
        args.push("--source".into());
        args.push(kit.join("packages").join(s).display().to_string());
    }
    args.push("--out".into());
    args.push(out.display().to_string());
    // EPR's favicon is test data of the kit: eprgen ships its own, the kit's is passed in.
    args.push("--favicon".into());
    args.push(kit.join("golden/favicon.ico").display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = eprgen(&refs);
    assert!(
        o.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn default_profile_passes_every_group() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_profile(&["local-storage", "second_package_path", "package"], &out);
    let server = Server::start(&out);
    check_every_group(&server.base, "serve", String::new);
}

#[test]
fn profile_without_second_path_serves_multiversion_from_package() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_profile(&["local-storage", "package"], &out);
    let server = Server::start(&out);
    let (passed, failed, _, text) =
        check(&server.base, &["--include-nondefault", "--id", "nd-002"]);
    assert_eq!((passed, failed), (1, 0), "{text}");
}

#[test]
fn profile_without_zips_serves_example_from_its_folder() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_profile(&["second_package_path", "package"], &out);
    let server = Server::start(&out);
    let (passed, failed, _, text) =
        check(&server.base, &["--include-nondefault", "--id", "nd-003"]);
    assert_eq!((passed, failed), (1, 0), "{text}");
}
