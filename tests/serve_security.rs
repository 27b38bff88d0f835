//! `eprgen serve` never serves anything from outside the built tree (issue 7): traversal with
//! `..` (plain and encoded: `%2e%2e`, `%2f`, `%5c`, overlong UTF-8), absolute and odd paths,
//! NUL, the tree's own metadata, files in the build folder that the manifest does not list,
//! and overlong query strings. Secrets are put beside the output link, in the output's home
//! folder, one level up, and inside the build folder, and every request is checked for them.
//!
//! Answers that reach eprgen's router must be EPR-shaped errors (400/404, `text/plain;
//! charset=utf-8`, `nosniff`, one of EPR's messages). Requests that HTTP parsing itself refuses
//! (a raw backslash or NUL in the request line) get hyper's bare 400 or a closed connection.

mod common;
mod harness;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;
use harness::*;

const SECRET: &str = "TOP-SECRET-6f1d";

/// EPR's error messages (body is the message plus `\n`).
const EPR_ERRORS: &[&str] = &[
    "404 page not found",
    "resource not found",
    "package revision not found",
    "invalid package version",
    "artifact not found",
    "signature file not found",
    "query string too long",
];

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Send one request with a raw request target (any bytes) and read the whole answer; `None`
/// when the server closed the connection without answering.
fn raw_get(base: &str, target: &[u8]) -> Option<Answer> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(
        format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    if s.write_all(&req).is_err() {
        return None;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    })
}

/// A built tree with secrets all around it, and a server on it.
struct Fixture {
    _t: tempfile::TempDir,
    server: Server,
}

fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    good_package(&src, "good", "1.0.0");
    fs::write(
        src.join("signed-1.0.0.zip"),
        zip_bytes(&good_zip_entries("signed", "1.0.0")),
    )
    .unwrap();
    fs::write(src.join("signed-1.0.0.zip.sig"), "sig").unwrap();
    let home = t.path().join("o");
    let out = home.join("public");
    build_ok(&[&src], &out, &[]);
    // Secrets next to the tree, around it, and inside the build folder but not in its manifest.
    let build = fs::canonicalize(&out).unwrap();
    for p in [
        t.path().join("secret.txt"),
        home.join("secret.txt"),
        home.join(".public.eprgen/secret.txt"),
        home.join(".public.eprgen/builds/secret.txt"),
        build.join("secret.txt"),
        build.join("package/good/1.0.0/secret.txt"),
        build.join("package/good/secret.txt"),
        build.join("epr/good/secret.txt"),
    ] {
        fs::write(p, SECRET).unwrap();
    }
    let server = Server::start(&out);
    Fixture { _t: t, server }
}

fn assert_no_secret(target: &[u8], a: &Answer) {
    assert!(
        !String::from_utf8_lossy(&a.body).contains(SECRET),
        "{}: the secret was served",
        String::from_utf8_lossy(target)
    );
}

/// The answer is one of EPR's errors with `status`.
fn assert_epr_error(target: &[u8], a: &Answer, status: &[u16]) {
    let t = String::from_utf8_lossy(target);
    assert!(
        status.contains(&a.status),
        "{t}: status {} (wanted {status:?}), body {:?}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    let body = String::from_utf8_lossy(&a.body);
    let msg = body.strip_suffix('\n').unwrap_or(&body);
    assert!(
        EPR_ERRORS.contains(&msg),
        "{t}: body {body:?} is not one of EPR's errors"
    );
    assert_eq!(
        a.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{t}"
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"), "{t}");
    // EPR sets a package route's cache header before it finds a file missing.
    if msg != "resource not found" {
        assert_eq!(
            a.header("cache-control"),
            Some("max-age=0, private, no-store"),
            "{t}"
        );
    }
}

#[test]
fn traversal_and_odd_paths_never_leave_the_tree() {
    let f = fixture();
    let base = &f.server.base;
    // Sanity: the tree is served, and the secret is really where the attempts aim.
    let ok = raw_get(base, b"/package/good/1.0.0/docs/README.md").unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, b"# good\n");

    let targets: &[&str] = &[
        // Plain `..`.
        "/../secret.txt",
        "/../../secret.txt",
        "/package/../secret.txt",
        "/package/good/1.0.0/../../../secret.txt",
        "/package/good/1.0.0/../../../../secret.txt",
        "/package/good/1.0.0/../../../../../secret.txt",
        "/package/good/1.0.0/docs/../../../../../../../../etc/passwd",
        "/epr/good/../../secret.txt",
        "/epr/signed/signed-1.0.0.zip/../../../secret.txt",
        // Encoded dots and slashes.
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/package/good/1.0.0/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/package/good/1.0.0/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/package/good/1.0.0/.%2e/.%2e/.%2e/secret.txt",
        "/package/good/1.0.0/..%2f..%2f..%2fsecret.txt",
        "/package/good/1.0.0/..%2F..%2F..%2F..%2Fsecret.txt",
        "/package/good/1.0.0/docs%2f..%2f..%2f..%2f..%2fsecret.txt",
        "/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/package/good/1.0.0/..%5c..%5c..%5csecret.txt",
        "/package/good/1.0.0/%5c..%5c..%5csecret.txt",
        "/package/good/1.0.0/..%5C..%5C..%5C..%5Csecret.txt",
        // Double encoding decodes once only: `%2e%2e` stays a name.
        "/package/good/1.0.0/%252e%252e/%252e%252e/secret.txt",
        // Overlong UTF-8 for `.` and `/` (not valid UTF-8).
        "/package/good/1.0.0/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
        "/package/good/1.0.0/..%c0%af..%c0%afsecret.txt",
        // Absolute and odd paths.
        "//secret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/tmp/../etc/passwd",
        "/package/good/1.0.0//docs/README.md",
        "/package/good/1.0.0/./docs/README.md",
        "/./index.json",
        "/package/good/1.0.0/docs/./README.md",
        "/package/good/1.0.0/docs/README.md/",
        "/package/good/1.0.0/docs/README.md/..",
        // NUL (encoded; a raw NUL is refused by HTTP parsing, below).
        "/index.json%00",
        "/package/good/1.0.0/docs/README.md%00.txt",
        "/package/good/1.0.0/%00/../secret.txt",
        // Files next to the tree, in its home folder, and in the build folder but unlisted.
        "/secret.txt",
        "/public/secret.txt",
        "/.public.eprgen/secret.txt",
        "/.public.eprgen/builds/secret.txt",
        "/package/good/1.0.0/secret.txt",
        "/package/good/secret.txt",
        "/epr/good/secret.txt",
        "/package/good/1.0.0/%73ecret.txt",
        // The tree's own metadata and answer files are not routes.
        "/_eprgen/manifest.json",
        "/_eprgen/routes.json",
        "/_eprgen/",
        "/answers/",
        "/package/good/1.0.0/../../../_eprgen/manifest.json",
        // Names and versions that try to be paths.
        "/package/..%2f..%2f/1.0.0/",
        "/package/good/..%2f1.0.0/manifest.yml",
        "/epr/good/good-..%2f..%2fsecret.zip",
        "/epr/good/..%2fgood-1.0.0.zip",
        "/package/good/1.0.0%2f..%2f..%2f..%2fsecret.txt/",
        // Redirects must not lead off the host.
        "/package/good/%2f%2fevil.example",
        "/package/%2f%2fevil.example/1.0.0",
    ];
    for t in targets {
        let a = raw_get(base, t.as_bytes()).unwrap_or_else(|| panic!("{t}: no answer"));
        assert_no_secret(t.as_bytes(), &a);
        if a.status == 301 {
            // `/package/{name}/{version}` without its slash (gorilla/mux StrictSlash, as EPR):
            // the redirect stays on this host, and where it leads is an error too.
            let loc = a.header("location").unwrap_or_default().to_string();
            assert!(
                loc.starts_with('/') && !loc.starts_with("//") && !loc.contains('\\'),
                "{t}: redirect to {loc:?}"
            );
            let b = raw_get(base, loc.as_bytes()).unwrap();
            assert_no_secret(loc.as_bytes(), &b);
            assert_epr_error(loc.as_bytes(), &b, &[400, 404]);
            continue;
        }
        assert_epr_error(t.as_bytes(), &a, &[400, 404]);
    }

    // Requests HTTP parsing refuses before any routing: a bare 400 or a closed connection.
    let raw: &[&[u8]] = &[
        b"/package/good/1.0.0/..\\..\\..\\secret.txt",
        b"/index.json\0",
        b"/package/good/1.0.0/\0/../secret.txt",
        b"secret.txt",
        b"../secret.txt",
        b"/package/good/1.0.0/\xff/secret.txt",
    ];
    for t in raw {
        if let Some(a) = raw_get(base, t) {
            assert_no_secret(t, &a);
            if a.status != 400 {
                assert_epr_error(t, &a, &[400, 404]);
            }
        }
    }

    // Absolute-form and asterisk-form targets: the path part is routed like any other.
    for t in [
        format!("{base}/../secret.txt"),
        format!("{base}/%2e%2e/%2e%2e/secret.txt"),
        "*".to_string(),
    ] {
        if let Some(a) = raw_get(base, t.as_bytes()) {
            assert_no_secret(t.as_bytes(), &a);
            assert!(a.status >= 400, "{t}: {}", a.status);
        }
    }

    // Still serving after all that.
    let ok = raw_get(base, b"/index.json").unwrap();
    assert_eq!(ok.status, 200);
}

#[test]
fn overlong_query_strings_are_refused() {
    let f = fixture();
    let base = &f.server.base;
    let long = format!("kibana.version=8.0.0&x={}", "a".repeat(9000));
    for path in [
        "/search",
        "/categories",
        "/",
        "/index.json",
        "/package/good/1.0.0/",
        "/package/good/1.0.0/docs/README.md",
        "/epr/good/good-1.0.0.zip",
        "/health",
        "/nowhere",
    ] {
        let t = format!("{path}?{long}");
        let a = raw_get(base, t.as_bytes()).unwrap_or_else(|| panic!("{path}: no answer"));
        assert_epr_error(path.as_bytes(), &a, &[400]);
        assert_eq!(a.body, b"query string too long\n", "{path}");
    }
    // Exactly at the limit is still read (unknown parameters are allowed, as in EPR).
    let at = format!("x={}", "a".repeat(eprgen::serve::MAX_QUERY - 2));
    assert_eq!(at.len(), eprgen::serve::MAX_QUERY);
    let a = raw_get(base, format!("/search?{at}").as_bytes()).unwrap();
    assert_eq!(a.status, 200);
    // A huge request line (far past the limit) is refused, not served or crashed on.
    let huge = format!("/search?x={}", "a".repeat(1 << 20));
    if let Some(a) = raw_get(base, huge.as_bytes()) {
        assert!(a.status >= 400, "{}", a.status);
    }
    let ok = raw_get(base, b"/search?kibana.version=8.0.0").unwrap();
    assert_eq!(ok.status, 200);
}

#[test]
fn answers_match_the_manifest_byte_for_byte() {
    // Whatever is served is a file of the tree, read in full and unchanged: compare every route
    // answer with the manifest's blake3.
    let f = fixture();
    let base = &f.server.base;
    for (t, rel) in [
        ("/index.json", "index.json"),
        ("/package/good/1.0.0/", "package/good/1.0.0/index.json"),
        (
            "/package/good/1.0.0/img/icon.svg",
            "package/good/1.0.0/img/icon.svg",
        ),
        (
            "/epr/signed/signed-1.0.0.zip",
            "epr/signed/signed-1.0.0.zip",
        ),
        (
            "/epr/signed/signed-1.0.0.zip.sig",
            "epr/signed/signed-1.0.0.zip.sig",
        ),
    ] {
        let a = raw_get(base, t.as_bytes()).unwrap();
        assert_eq!(a.status, 200, "{t}");
        let m: serde_json::Value = serde_json::from_slice(
            &fs::read(f._t.path().join("o/public/_eprgen/manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            m["files"][rel]["blake3"].as_str().unwrap(),
            blake3::hash(&a.body).to_hex().as_str(),
            "{t}"
        );
    }
}
