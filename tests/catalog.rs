//! The HTML catalog (`catalog/`, issue 16) from the CLI: written by default and listed in the
//! manifest, served by `eprgen serve`, every link inside the tree, `--no-catalog`,
//! `--templates`, inert READMEs, and unchanged pages reused by the next build.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{eprgen, Server};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packages")
}

fn build(args: &[&str]) {
    let out = eprgen(args);
    assert!(
        out.status.success(),
        "eprgen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn build_demo(out: &Path) {
    let packages = demo();
    build(&[
        "build",
        "--packages",
        packages.to_str().unwrap(),
        "--stage",
        "snapshot",
        "--out",
        out.to_str().unwrap(),
    ]);
}

fn copy_dir(from: &Path, to: &Path) {
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

/// Every `href="…"` and `src="…"` value of a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("closing quote");
            out.push(unescape(&rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

/// minijinja escapes `/` and quotes too (`&#x2f;`); a browser reads them back.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn html_pages(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root.join("catalog"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect()
}

#[test]
fn catalog_is_written_listed_and_links_only_inside_the_tree() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_demo(&out);
    let verify = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert!(verify.status.success(), "{verify:?}");

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_eprgen/manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_object().unwrap();
    for (path, ct) in [
        ("catalog/index.html", "text/html; charset=utf-8"),
        (
            "catalog/package/tinyhttp/index.html",
            "text/html; charset=utf-8",
        ),
        (
            "catalog/package/jobqueue/index.html",
            "text/html; charset=utf-8",
        ),
        (
            "catalog/category/observability/index.html",
            "text/html; charset=utf-8",
        ),
        ("catalog/catalog-index.js", "text/javascript; charset=utf-8"),
        (
            "catalog/assets/catalog.js",
            "text/javascript; charset=utf-8",
        ),
        ("catalog/assets/catalog.css", "text/css; charset=utf-8"),
    ] {
        assert_eq!(files[path]["content_type"], ct, "{path}");
    }

    // Every link of every page is relative and names a file of the tree (so it works from
    // file://, under a URL prefix and behind every routing layer), except README links out.
    let pages = html_pages(&out);
    assert_eq!(pages.len(), 1 + 5 + 8, "{pages:?}");
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"), "{}", page.display());
        for link in links(&html) {
            if link.starts_with("https://") || link.starts_with('#') {
                continue;
            }
            assert!(
                !link.starts_with('/') && !link.contains(':'),
                "{}: link {link:?} is not relative",
                page.display()
            );
            let target = page.parent().unwrap().join(
                percent_encoding::percent_decode_str(link.split('#').next().unwrap())
                    .decode_utf8()
                    .unwrap()
                    .as_ref(),
            );
            let target = target
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: link {link:?} points at nothing", page.display()));
            let rel = target
                .strip_prefix(out.canonicalize().unwrap())
                .unwrap_or_else(|_| panic!("{}: {link:?} leaves the tree", page.display()));
            assert!(
                files.contains_key(rel.to_str().unwrap()),
                "{}: {link:?} is not a file of the manifest",
                page.display()
            );
        }
    }
    let tiny_raw = std::fs::read(out.join("catalog/package/tinyhttp/index.html")).unwrap();
    let tiny = unescape(&String::from_utf8_lossy(&tiny_raw));
    for needle in [
        "TinyHTTP",
        "1.0.0",
        "../../../epr/tinyhttp/tinyhttp-1.0.0.zip",
        "TinyHTTP logs",
        "tinyhttp.access",
        "../../../package/tinyhttp/1.0.0/img/screenshot.png",
        "<h2 id=\"readme\">README</h2>",
    ] {
        assert!(tiny.contains(needle), "package page lacks {needle:?}");
    }
    let kv =
        unescape(&std::fs::read_to_string(out.join("catalog/package/kvstore/index.html")).unwrap());
    assert!(
        kv.contains("^8.12.0 || ^9.0.0") && kv.contains("^8.10.0"),
        "{kv}"
    );
    assert!(kv.contains("staging") && kv.contains("production"));

    // Served by `eprgen serve` at /catalog/ and /catalog/index.html.
    let server = Server::start(&out);
    let (status, headers, body) = server.get("/catalog/");
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "text/html; charset=utf-8"));
    assert_eq!(body, std::fs::read(out.join("catalog/index.html")).unwrap());
    assert_eq!(server.get("/catalog/index.html").2, body);
    let (status, headers, _) = server.get("/catalog");
    assert_eq!(status, 301);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "location" && v == "/catalog/"));
    let (status, _, body) = server.get("/catalog/package/tinyhttp/");
    assert_eq!((status, body), (200, tiny_raw));
    assert_eq!(server.get("/catalog/package/nope/index.html").0, 404);
    assert_eq!(server.get("/catalog/assets/catalog.js").0, 200);
}

#[test]
fn no_catalog_skips_it() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    let packages = demo();
    build(&[
        "build",
        "--packages",
        packages.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-catalog",
    ]);
    assert!(!out.join("catalog").exists());
    let manifest = std::fs::read_to_string(out.join("_eprgen/manifest.json")).unwrap();
    assert!(!manifest.contains("catalog/"));
}

#[test]
fn templates_override_by_name_and_bad_ones_fail_cleanly() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_demo(&out);
    let before = std::fs::read_link(&out).unwrap();
    let packages = demo();
    let args = |dir: &Path| {
        vec![
            "build".to_string(),
            "--packages".into(),
            packages.display().to_string(),
            "--stage".into(),
            "snapshot".into(),
            "--out".into(),
            out.display().to_string(),
            "--templates".into(),
            dir.display().to_string(),
        ]
    };
    let run = |dir: &Path| {
        let a = args(dir);
        eprgen(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // A syntax error: exit 2, the file named, the previous output untouched.
    let bad = t.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("index.html"), "{% for p in packages %}oops").unwrap();
    let o = run(&bad);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad/index.html: template error"), "{err}");
    assert_eq!(std::fs::read_link(&out).unwrap(), before);

    // A misspelt template name is refused rather than ignored.
    let typo = t.path().join("typo");
    std::fs::create_dir(&typo).unwrap();
    std::fs::write(typo.join("packages.html"), "x").unwrap();
    let o = run(&typo);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("typo/packages.html: not a catalog template"),
        "{err}"
    );
    assert_eq!(std::fs::read_link(&out).unwrap(), before);

    // An override replaces only the template it names.
    let good = t.path().join("good");
    std::fs::create_dir(&good).unwrap();
    std::fs::write(
        good.join("category.html"),
        "<!DOCTYPE html><title>{{ category.title }}</title><p>OURS {{ packages|length }}</p>\n",
    )
    .unwrap();
    let o = run(&good);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let web = std::fs::read_to_string(out.join("catalog/category/web/index.html")).unwrap();
    assert!(web.contains("<p>OURS 1</p>"), "{web}");
    let index = std::fs::read_to_string(out.join("catalog/index.html")).unwrap();
    assert!(index.contains("id=\"f-kibana\""));
}

/// Issue 16: a README with a `<script>` tag or a `javascript:` link comes out inert.
#[test]
fn issue_16_hostile_readme_is_inert() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    copy_dir(&demo().join("production"), &src);
    std::fs::write(
        src.join("tinyhttp/1.0.0/docs/README.md"),
        "# TinyHTTP\n\n<script>document.title = 'owned'</script>\n\n\
         [click](javascript:alert(1)) <a href=\"JAVASCRIPT:alert(2)\" onclick=\"alert(3)\">x</a>\n\n\
         <img src=\"x\" onerror=\"alert(4)\"> <iframe src=\"https://example.com/\"></iframe>\n\n\
         <style>body { display: none }</style>\n\n![shot](../img/screenshot.png)\n",
    )
    .unwrap();
    let out = t.path().join("public");
    build(&[
        "build",
        "--source",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(out.join("catalog/package/tinyhttp/index.html")).unwrap();
    let readme = &page[page.find("<article class=\"readme\">").unwrap()..];
    let readme = &readme[..readme.find("</article>").unwrap()].to_ascii_lowercase();
    for bad in [
        "<script",
        "javascript:",
        "onclick",
        "onerror",
        "<iframe",
        "<style",
        "owned",
    ] {
        assert!(!readme.contains(bad), "README kept {bad:?}: {readme}");
    }
    // The relative image still points at the package's own file.
    assert!(
        readme.contains("src=\"../../../package/tinyhttp/1.0.0/docs/../img/screenshot.png\""),
        "{readme}"
    );
    // The page's only scripts are the catalog's own (none on a package page).
    assert_eq!(page.matches("<script").count(), 0, "{page}");
}

/// An unchanged package's page is a hard link to the previous build's; a changed one is new.
#[test]
fn unchanged_pages_are_reused() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    copy_dir(&demo().join("staging"), &src);
    let out = t.path().join("public");
    let args = [
        "build",
        "--source",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    build(&args);
    let ino = |p: &str| std::fs::metadata(out.join(p)).unwrap().ino();
    let (kv, syslog, index) = (
        ino("catalog/package/kvstore/index.html"),
        ino("catalog/package/syslog_relay/index.html"),
        ino("catalog/index.html"),
    );
    let readme = src.join("tinyhttp/1.0.0/docs/README.md");
    let mut text = std::fs::read_to_string(&readme).unwrap();
    text.push_str("\nA new paragraph, MARKER-16.\n");
    std::fs::write(&readme, text).unwrap();
    let o = std::process::Command::new(common::bin())
        .args(args)
        .env("EPRGEN_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("catalog written"), "{log}");
    assert_eq!(ino("catalog/package/kvstore/index.html"), kv);
    assert_eq!(ino("catalog/package/syslog_relay/index.html"), syslog);
    // The index lists only cards, which did not change either.
    assert_eq!(ino("catalog/index.html"), index);
    let tiny = std::fs::read_to_string(out.join("catalog/package/tinyhttp/index.html")).unwrap();
    assert!(tiny.contains("MARKER-16"));
    let verify = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert!(verify.status.success(), "{verify:?}");
}
