//! Precompressed siblings: a build of the demo packages writes `.gz` and `.br` beside every
//! answer and package JSON (in the manifest, checked by `eprgen verify`, the same whatever
//! `-j`, reused by the next build), and `eprgen serve` sends them by Accept-Encoding with
//! `Vary: Accept-Encoding`, the identity bytes without it.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use eprgen::render::compress::{decode, Encoding};
use eprgen::serve::{resolve, Outcome, Tree};

fn demo_build(out: &Path, extra: &[&str]) -> String {
    let packages = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages");
    let mut args = vec![
        "build",
        "--quiet",
        "--packages",
        packages.to_str().unwrap(),
        "--stage",
        "snapshot",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = eprgen(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = std::fs::canonicalize(out).unwrap();
    dir.file_name().unwrap().to_str().unwrap().to_string()
}

/// A raw HTTP/1.1 request (any method); returns (status, headers lowercased, body).
fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let hs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, hs, buf[split + 4..].to_vec())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn siblings_are_built_verified_and_negotiated() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    let id = demo_build(&out, &[]);
    let dir: PathBuf = std::fs::canonicalize(&out).unwrap();

    // Every answer and package JSON has both siblings, which decode to it; the manifest lists
    // them with the identity file's headers; verify passes.
    let tree = Tree::load(&dir).unwrap();
    let manifest = eprgen::write::manifest::Manifest::load(&dir).unwrap();
    let mut identities: Vec<String> = tree
        .routes
        .search
        .answers
        .iter()
        .chain(&tree.routes.categories.answers)
        // The empty id stands for "composed", not a file.
        .filter(|a| !a.is_empty())
        .map(|a| eprgen::plan::routes::answer_path(a))
        .collect();
    for versions in tree.routes.packages.values() {
        identities.extend(versions.values().map(|p| p.info.clone()));
    }
    assert!(identities.len() > 5, "{identities:?}");
    let (mut plain, mut gz, mut br) = (0u64, 0u64, 0u64);
    for rel in &identities {
        let body = std::fs::read(dir.join(rel)).unwrap();
        plain += body.len() as u64;
        let m = &tree.files[rel];
        let sibs = &tree.siblings[rel];
        assert_eq!(sibs.len(), 2, "{rel}");
        for (enc, path, meta) in sibs {
            assert_eq!(path, &format!("{rel}{}", enc.suffix()));
            let bytes = std::fs::read(dir.join(path)).unwrap();
            assert_eq!(decode(*enc, &bytes).unwrap(), body, "{path}");
            assert_eq!(meta.size, bytes.len() as u64);
            assert_eq!(meta.content_encoding.as_deref(), Some(enc.token()));
            assert_eq!(
                (&meta.content_type, &meta.cache_control, meta.modified),
                (&m.content_type, &m.cache_control, m.modified)
            );
            *if *enc == Encoding::Gzip {
                &mut gz
            } else {
                &mut br
            } += meta.size;
        }
    }
    println!("identity {plain} bytes, gzip {gz}, br {br}");
    assert!(gz < plain && br < plain);
    assert!(manifest.compression.is_some());
    let o = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // The same build id whatever the thread count.
    let t2 = tempfile::tempdir().unwrap();
    let epoch = manifest.files.values().map(|m| m.modified).max().unwrap();
    for j in ["1", "2"] {
        let o2 = t2.path().join(format!("j{j}"));
        let mut cmd = std::process::Command::new(bin());
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
            .env("EPRGEN_LOG", "warn");
        let packages = Path::new(env!("CARGO_MANIFEST_DIR")).join("packages");
        let st = cmd
            .args([
                "build",
                "--quiet",
                "--stage",
                "snapshot",
                "-j",
                j,
                "--packages",
            ])
            .arg(&packages)
            .arg("--out")
            .arg(&o2)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::canonicalize(&o2)
                .unwrap()
                .file_name()
                .unwrap()
                .to_str(),
            Some(id.as_str()),
            "-j {j}"
        );
    }

    // Served: an answer and a package JSON.
    let serve = Server::start(&out);
    for path in ["/search?kibana.version=8.12.0", "/package/kvstore/1.0.0/"] {
        let (p, q) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        let Outcome::File(rel) = resolve(&tree, p, q) else {
            panic!("{path} is not a file")
        };
        let identity = std::fs::read(dir.join(&rel)).unwrap();
        let vary = |h: &[(String, String)]| {
            assert_eq!(header(h, "vary"), Some("Accept-Encoding"), "{path}: {h:?}")
        };

        // No Accept-Encoding: EPR's bytes, exactly.
        let (s, h, b) = request(&serve.base, "GET", path, &[]);
        assert_eq!((s, b.as_slice()), (200, identity.as_slice()), "{path}");
        assert_eq!(header(&h, "content-encoding"), None);
        assert_eq!(header(&h, "content-type"), Some("application/json"));
        vary(&h);

        for (ae, enc) in [
            ("gzip", Some(Encoding::Gzip)),
            ("br", Some(Encoding::Br)),
            ("gzip, deflate, br", Some(Encoding::Br)),
            ("br;q=0.5, gzip", Some(Encoding::Gzip)),
            ("gzip;q=0, br;q=0", None),
            ("identity", None),
        ] {
            let (s, h, b) = request(&serve.base, "GET", path, &[("Accept-Encoding", ae)]);
            assert_eq!(s, 200, "{path} {ae}");
            vary(&h);
            assert_eq!(
                header(&h, "content-encoding"),
                enc.map(|e| e.token()),
                "{ae}"
            );
            assert_eq!(
                header(&h, "content-length"),
                Some(b.len().to_string().as_str())
            );
            match enc {
                Some(e) => {
                    assert_eq!(
                        b,
                        std::fs::read(dir.join(format!("{rel}{}", e.suffix()))).unwrap()
                    );
                    assert_eq!(decode(e, &b).unwrap(), identity, "{path} {ae}");
                }
                None => assert_eq!(b, identity, "{path} {ae}"),
            }
            // HEAD: the same headers, no body.
            let (hs, hh, hb) = request(&serve.base, "HEAD", path, &[("Accept-Encoding", ae)]);
            assert_eq!(hs, 200);
            assert!(hb.is_empty());
            assert_eq!(
                header(&hh, "content-encoding"),
                header(&h, "content-encoding")
            );
            assert_eq!(header(&hh, "content-length"), header(&h, "content-length"));
            vary(&hh);
        }

        // A Range is honoured on the identity bytes only; an encoded body is sent whole.
        let (s, h, b) = request(&serve.base, "GET", path, &[("Range", "bytes=0-4")]);
        assert_eq!((s, b.as_slice()), (206, &identity[..5]));
        vary(&h);
        let (s, h, b) = request(
            &serve.base,
            "GET",
            path,
            &[("Range", "bytes=0-4"), ("Accept-Encoding", "gzip")],
        );
        assert_eq!(s, 200);
        assert_eq!(header(&h, "content-range"), None);
        assert_eq!(decode(Encoding::Gzip, &b).unwrap(), identity);
        // A 304 varies too.
        let (s, h, _) = request(
            &serve.base,
            "GET",
            path,
            &[
                ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"),
                ("Accept-Encoding", "br"),
            ],
        );
        assert_eq!(s, 304);
        vary(&h);
    }

    // Files without siblings ignore Accept-Encoding; siblings are not paths of their own.
    let (s, h, _) = request(
        &serve.base,
        "GET",
        "/package/kvstore/1.0.0/manifest.yml",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(s, 200);
    assert_eq!(
        (header(&h, "vary"), header(&h, "content-encoding")),
        (None, None)
    );
    let (s, _, b) = request(
        &serve.base,
        "GET",
        "/package/kvstore/1.0.0/index.json.gz",
        &[],
    );
    assert_eq!((s, b.as_slice()), (404, &b"resource not found\n"[..]));

    // The next build reuses the siblings of unchanged files (hard links into the previous build).
    demo_build(&out, &["--cache-search", "60"]);
    let dir2 = std::fs::canonicalize(&out).unwrap();
    assert_ne!(dir2, dir);
    for rel in &identities {
        for e in Encoding::ALL {
            let p = dir2.join(format!("{rel}{}", e.suffix()));
            assert!(
                std::fs::metadata(&p).unwrap().nlink() >= 2,
                "{} was not reused",
                p.display()
            );
        }
    }
    let o = eprgen(&["verify", "--root", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
