//! `eprgen routes cloudfront` + `eprgen routes s3-metadata` behind a stand-in for CloudFront and
//! S3 (tests/edge/cf-harness.js, Node): the function routes every request (route table in the
//! KeyValueStore import file), the bucket serves objects with their metadata only, and the
//! conformance kit passes. Also checks CloudFront's limits on the function and the store.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

struct Harness {
    child: Child,
    base: String,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) -> Vec<u8> {
    let o = eprgen(args);
    assert!(
        o.status.success(),
        "eprgen {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

#[test]
fn cloudfront_function_and_s3_metadata_pass_the_conformance_kit() {
    let kit = kit();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    let mut args: Vec<String> = vec!["build".into(), "--quiet".into()];
    for s in ["local-storage", "second_package_path", "package"] {
        args.push("--source".into());
        args.push(kit.join("packages").join(s).display().to_string());
    }
    args.extend(["--out".into(), out.display().to_string()]);
    args.push("--favicon".into());
    args.push(kit.join("golden/favicon.ico").display().to_string());
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let root = out.to_str().unwrap();
    let kvs = t.path().join("kvs.json");
    let function = run(&[
        "routes",
        "cloudfront",
        "--root",
        root,
        "--kvs-out",
        kvs.to_str().unwrap(),
    ]);
    let objects = run(&["routes", "s3-metadata", "--root", root]);
    std::fs::write(t.path().join("function.js"), &function).unwrap();
    std::fs::write(t.path().join("objects.json"), &objects).unwrap();

    // CloudFront's limits: 10 KB of function code; keys up to 512 bytes, values up to 1 KB.
    assert!(
        function.len() <= 10 * 1024,
        "function is {} bytes",
        function.len()
    );
    assert!(function.starts_with(b"import cf from 'cloudfront';\n"));
    let store: Value = serde_json::from_slice(&std::fs::read(&kvs).unwrap()).unwrap();
    let data = store["data"].as_array().unwrap();
    assert!(!data.is_empty());
    let mut total = 0;
    for e in data {
        let (k, v) = (e["key"].as_str().unwrap(), e["value"].as_str().unwrap());
        assert!(k.len() <= 512 && v.len() <= 1024, "{k}: {} bytes", v.len());
        total += k.len() + v.len();
    }
    assert!(total <= 5 * 1024 * 1024);
    println!(
        "function: {} bytes; store: {} keys, {total} bytes",
        function.len(),
        data.len()
    );
    // Every file of the tree has its metadata, plus the `resource not found` body.
    let objects: Value = serde_json::from_slice(&objects).unwrap();
    let manifest =
        eprgen::write::manifest::Manifest::load(&std::fs::canonicalize(&out).unwrap()).unwrap();
    assert_eq!(objects.as_array().unwrap().len(), manifest.files.len() + 1);
    // Uploading is `eprgen publish` (tests/publish.rs); `--format shell` only wraps it.
    // Precompressed siblings are objects with their identity file's headers and a
    // Content-Encoding.
    let info = "package/example/1.0.0/index.json";
    let of = |key: &str| {
        objects
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == key)
            .unwrap_or_else(|| panic!("no object {key}"))
            .clone()
    };
    let identity = of(info);
    assert_eq!(identity.get("content_encoding"), None);
    for (suffix, encoding) in [(".gz", "gzip"), (".br", "br")] {
        let o = of(&format!("{info}{suffix}"));
        assert_eq!(o["content_encoding"], encoding);
        assert_eq!(o["content_type"], identity["content_type"]);
        assert_eq!(o["cache_control"], identity["cache_control"]);
        assert_eq!(
            o["file"].as_str().unwrap(),
            format!("{}{suffix}", identity["file"].as_str().unwrap())
        );
    }

    // The fallback origin: `eprgen serve` on the same tree composes what has no file.
    let fallback = Server::start(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/edge/cf-harness.js");
    let mut child = Command::new("node")
        .arg(script)
        .arg(t.path().join("function.js"))
        .arg(&kvs)
        .arg(t.path().join("objects.json"))
        .arg("0")
        .arg(&fallback.base)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node (apt-get install nodejs)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let harness = Harness {
        child,
        base: line.trim().rsplit(' ').next().unwrap().to_string(),
    };
    assert!(harness.base.starts_with("http://127.0.0.1:"), "{line}");

    check_every_group(&harness.base, "cloudfront", String::new);

    // A composed answer comes from the fallback origin, byte for byte what serve composes; a
    // materialized one from the bucket.
    for q in [
        "/search?agent.version=7.0.0&prerelease=true",
        "/search?capabilities=observability,security&spec.min=1.0",
        "/categories?discovery=fields:process.pid&include_policy_templates=true",
        "/search?all=true&kibana.version=7.0.0",
    ] {
        let (status, _, body) = http_get(&harness.base, q, &[]);
        let (s2, _, direct) = fallback.get(q);
        assert_eq!((status, &body), (s2, &direct), "{q}");
        assert_eq!(status, 200, "{q}");
    }

    // A missing file of a known package: S3 misses, the custom error response answers EPR's 404.
    let (status, _, body) = http_get(&harness.base, "/package/example/1.0.0/nope.txt", &[]);
    assert_eq!(
        (status, body.as_slice()),
        (404, &b"resource not found\n"[..])
    );
}
