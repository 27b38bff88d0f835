//! `eprgen routes nginx` under Debian's nginx + njs: the conformance kit passes as it does
//! through `eprgen serve`, every answer (status, headers, body) equals serve's, and a rebuild
//! that swaps the tree's link is answered at once. nginx runs in the foreground with its own
//! prefix, pid, error log and a free loopback port (`apt-get install nginx libnginx-mod-http-js`).

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const JS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";
const BROTLI_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

fn nginx_bin() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx not found: apt-get install nginx libnginx-mod-http-js");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A foreground nginx serving `eprgen routes nginx` output, stopped on drop.
struct Nginx {
    child: Child,
    base: String,
    prefix: PathBuf,
}

impl Nginx {
    fn start(root: &Path, prefix: &Path) -> Nginx {
        assert!(
            Path::new(JS_MODULE).exists(),
            "njs not found: apt-get install libnginx-mod-http-js"
        );
        assert!(
            Path::new(BROTLI_MODULE).exists(),
            "ngx_brotli static not found: apt-get install libnginx-mod-http-brotli-static"
        );
        std::fs::create_dir_all(prefix).unwrap();
        let port = free_port();
        let js = prefix.join("eprgen-router.js");
        let o = eprgen(&[
            "routes",
            "nginx",
            "--root",
            root.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--js",
            js.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::write(prefix.join("eprgen.conf"), &o.stdout).unwrap();
        let p = prefix.display();
        let main = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log warn;\nload_module {JS_MODULE};\nload_module {BROTLI_MODULE};\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  \
             fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  \
             include {p}/eprgen.conf;\n}}\n"
        );
        std::fs::write(prefix.join("nginx.conf"), main).unwrap();
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let mut n = Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            prefix: prefix.to_path_buf(),
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(s)) = n.child.try_wait() {
                panic!("nginx exited ({s}): {}", n.errors());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nginx did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn build(out: &Path, extra: &[&str]) {
    let kit = kit();
    let mut args: Vec<String> = vec!["build".into(), "--quiet".into()];
    for s in ["local-storage", "second_package_path", "package"] {
        args.push("--source".into());
        args.push(kit.join("packages").join(s).display().to_string());
    }
    args.extend(["--out".into(), out.display().to_string()]);
    args.push("--favicon".into());
    args.push(kit.join("golden/favicon.ico").display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = eprgen(&refs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Requests whose answers must be the same from nginx and `eprgen serve`: every kind of route,
/// error and redirect, ranges and conditional requests.
fn parity_cases() -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    let mut cases: Vec<(String, Vec<(&str, &str)>)> = [
        "/",
        "/index.json",
        "/favicon.ico",
        "/health",
        "/search",
        "/search?kibana.version=8.0.0&prerelease=true",
        "/search?package=example&all=true",
        "/search?prerelease=foo",
        "/search?spec.max=2.10.1",
        "/search?discovery=tags:x",
        "/categories",
        "/categories?include_policy_templates=true&kibana.version=8.1",
        // Composed from the index (not materialized by the client profile).
        "/search?agent.version=7.0.0&prerelease=true",
        "/search?capabilities=observability,security&spec.min=1.0&category=web",
        "/search?all=true&kibana.version=7.16.0&experimental=true",
        "/categories?discovery=fields:process.pid&include_policy_templates=true",
        "/_eprgen/compose/search?kibana.version=8.0.0",
        "/_eprgen/compose/categories?prerelease=x",
        // The HTML catalog (issue 16).
        "/catalog",
        "/catalog?x=1",
        "/catalog/",
        "/catalog/index.html",
        "/catalog/package/example/",
        "/catalog/package/example/index.html",
        "/catalog/assets/catalog.css",
        "/catalog/nope.html",
        "/catalog/index.html/",
        "/catalog/%2e%2e/index.json",
        "/search/",
        "/search/?a=1",
        "/health/",
        "/index.json/",
        "/package/example/1.0.0",
        "/package/example/1.0.0?x=1",
        "/package/Example/1.0.0",
        "/package/example/1.0.0/",
        "/package/example/a.b.c/",
        "/package/example/9.9.9/",
        "/package/missing/1.0.0/",
        "/package/example/1.0.0/docs/README.md",
        "/package/example/1.0.0/docs%2FREADME.md",
        "/package/example/1.0.0/manifest.yml",
        "/package/example/1.0.0/nope",
        "/package/example/1.0.0/docs/",
        "/package/example/1.0.0//x",
        "/package/example/1.0.0/index.json",
        "/epr/example/example-1.0.1.zip",
        "/epr/example/example-1.0.1.zip.sig",
        "/epr/example/example-0.0.2.zip.sig",
        "/epr/example/nope-1.0.0.zip",
        "/epr/example/example.zip",
        "/epr/example/example-01.0.0.zip",
        "/a//b",
        "/nope",
        "/_eprgen/file",
        "/_eprgen/range",
        "/_eprgen/encoded",
        "/package/example/1.0.0/index.json.gz",
        "/_eprgen/routes.json",
    ]
    .into_iter()
    .map(|p| (p.to_string(), vec![]))
    .collect();
    cases.push((format!("/search?a={}", "x".repeat(8200)), vec![]));
    let readme = "/package/example/1.0.0/docs/README.md";
    for h in [
        ("Range", "bytes=0-5"),
        ("Range", "bytes=5-"),
        ("Range", "bytes=-5"),
        ("Range", "bytes=50-"),
        ("Range", "bytes=0-1,3-4"),
        ("Range", "bytes=+2-"),
        ("Range", "bytes=1\t-\t3"),
        ("Range", "bytes=x"),
        ("Range", "Bytes=0-1"),
        ("If-Modified-Since", "Mon, 01 Jan 0001 00:00:00 GMT"),
        ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"),
        ("If-Modified-Since", "Sat, 01 Jan 2100 00:00:00 GMT"),
        ("If-Modified-Since", "Friday, 01-Jan-00 00:00:00 GMT"),
        ("If-Modified-Since", "Fri Jan  1 00:00:00 2100"),
        ("If-Modified-Since", "yesterday"),
    ] {
        cases.push((readme.to_string(), vec![h]));
    }
    cases.push((
        "/epr/example/example-1.0.1.zip".into(),
        vec![("Range", "bytes=100-2000")],
    ));
    // Precompressed siblings: the same sibling (or the identity bytes) as serve, whole.
    for path in ["/search", "/package/example/1.0.0/"] {
        for h in [
            vec![("Accept-Encoding", "gzip")],
            vec![("Accept-Encoding", "br")],
            vec![("Accept-Encoding", "gzip, deflate, br")],
            vec![("Accept-Encoding", "gzip;q=0, br;q=0")],
            vec![("Accept-Encoding", "identity")],
            vec![("Accept-Encoding", "gzip"), ("Range", "bytes=0-5")],
            vec![("Range", "bytes=0-5")],
            vec![("Range", "bytes=+0-5")],
            vec![("Range", "bytes=99999-")],
            vec![("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")],
        ] {
            cases.push((path.to_string(), h));
        }
    }
    cases
}

/// Status, headers (without the ones that name the server or the moment) and body.
fn answer(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (s, mut h, b) = http_get(base, path, headers);
    h.retain(|(k, _)| !matches!(k.as_str(), "date" | "server" | "connection"));
    h.sort();
    (s, h, b)
}

#[test]
fn nginx_passes_the_conformance_kit_and_answers_like_serve() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build(&out, &[]);
    let nginx = Nginx::start(&out, &t.path().join("nginx"));

    check_every_group(&nginx.base, "nginx", || nginx.errors());

    // Byte for byte what serve answers.
    let serve = Server::start(&out);
    for (path, headers) in parity_cases() {
        let want = answer(&serve.base, &path, &headers);
        let got = answer(&nginx.base, &path, &headers);
        assert_eq!(
            got,
            want,
            "nginx and serve differ on {} {headers:?}",
            &path[..path.len().min(80)]
        );
    }

    // A rebuild swaps the link: the next request already gets the new build's answers.
    build(&out, &["--cache-search", "60", "--cache-categories", "70"]);
    let serve = Server::start(&out);
    for (path, headers) in parity_cases() {
        assert_eq!(
            answer(&nginx.base, &path, &headers),
            answer(&serve.base, &path, &headers),
            "after a rebuild, nginx and serve differ on {path} {headers:?}"
        );
    }
    // nginx sends the gzip sibling of an answer to a client that accepts gzip (gzip_static),
    // and the identity bytes without Accept-Encoding.
    let (status, h, plain) = http_get(&nginx.base, "/search", &[]);
    assert_eq!(status, 200);
    assert!(
        h.contains(&("vary".into(), "Accept-Encoding".into())),
        "{h:?}"
    );
    assert!(!h.iter().any(|(k, _)| k == "content-encoding"), "{h:?}");
    let (status, hz, gz) = http_get(&nginx.base, "/search", &[("Accept-Encoding", "gzip")]);
    assert_eq!(status, 200);
    assert!(
        hz.contains(&("content-encoding".into(), "gzip".into())),
        "{hz:?}"
    );
    let unzipped =
        eprgen::render::compress::decode(eprgen::render::compress::Encoding::Gzip, &gz).unwrap();
    assert_eq!(unzipped, plain);
    assert!(
        h.contains(&("cache-control".into(), "max-age=60, public".into())),
        "{h:?}"
    );
    assert!(
        nginx.errors().contains("run `eprgen routes nginx` again"),
        "the stale configuration is reported"
    );
}

/// The generated server block, with the temporary paths replaced (`EPRGEN_BLESS=1` rewrites
/// the golden file).
#[test]
fn nginx_config_golden() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build(&out, &[]);
    let js = t.path().join("router.js");
    let o = eprgen(&[
        "routes",
        "nginx",
        "--root",
        out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:8080",
        "--js",
        js.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let build_dir = std::fs::canonicalize(&out).unwrap();
    let build_id = build_dir.file_name().unwrap().to_str().unwrap().to_string();
    let conf = String::from_utf8(o.stdout)
        .unwrap()
        .replace(build_dir.to_str().unwrap(), "BUILD")
        .replace(&build_id, "ID")
        .replace(t.path().to_str().unwrap(), "TMP")
        .replace(env!("CARGO_PKG_VERSION"), "VERSION");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/nginx.conf");
    if std::env::var_os("EPRGEN_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &conf).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden (EPRGEN_BLESS=1 writes it)");
    assert_eq!(conf, want, "EPRGEN_BLESS=1 to accept the new configuration");
    // The module was written beside it: the router and its nginx adapter.
    let module = std::fs::read_to_string(&js).unwrap();
    assert!(module.contains("function resolve(") && module.contains("export default"));
}
