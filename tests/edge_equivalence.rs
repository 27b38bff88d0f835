//! The JavaScript router is the Rust one: for thousands of generated queries and paths
//! (boundary versions, bad values, repeated and unknown parameters, percent-encoding, junk), the
//! canonical keys, routes and resolved outcomes that router.js computes (as nginx runs it), and
//! what the generated CloudFront function answers (route table in its KeyValueStore), must equal
//! `Router::keys`, `Router::route` and `serve::resolve`. Every class of every dimension must be
//! reached, so a change to a key function on one side only cannot pass.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::*;
use eprgen::catalog::query::{CategoriesFilter, SearchFilter};
use eprgen::plan::routes::{Diagram, DimKind};
use eprgen::plan::space::{RouteError, Routed};
use eprgen::plan::Endpoint;
use eprgen::serve::{resolve, Outcome, Tree};
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The kit's packages; with `tags`, `foo 1.0.0` first gets a condition naming a prerelease
/// tag (`!=8.1-beta1`), which gives kibana.version its tagged classes (`k-~beta1`).
fn build_tree(out: &Path, tags: bool) {
    let kit = kit();
    let mut args: Vec<String> = vec!["build".into(), "--quiet".into()];
    if tags {
        let extra = out.parent().unwrap().join("extra");
        let dst = extra.join("foo/1.0.0");
        let src = kit.join("packages/package/foo/1.0.0");
        for e in walkdir::WalkDir::new(&src) {
            let e = e.unwrap();
            let to = dst.join(e.path().strip_prefix(&src).unwrap());
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::copy(e.path(), &to).unwrap();
            }
        }
        let m = dst.join("manifest.yml");
        let text = std::fs::read_to_string(&m).unwrap();
        let patched = text.replace(
            "version: \">=7.0.0\"",
            "version: \">=7.0.0, !=8.1-beta1 || >=9.1-rc1, !=9.1-rc1\"",
        );
        assert_ne!(text, patched, "foo's condition changed in the kit");
        std::fs::write(&m, patched).unwrap();
        args.extend(["--source".into(), extra.display().to_string()]);
    }
    for s in ["local-storage", "second_package_path", "package"] {
        args.push("--source".into());
        args.push(kit.join("packages").join(s).display().to_string());
    }
    args.extend(["--out".into(), out.display().to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = eprgen(&refs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Percent-encode some or all bytes of a value (upper or lower case hex), or use `+` for spaces.
fn encode(rng: &mut Rng, v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        let enc = !b.is_ascii_alphanumeric() && !b".-_:,~".contains(&b) || rng.chance(8);
        if b == b' ' && rng.chance(50) {
            out.push('+');
        } else if enc && rng.chance(50) {
            out.push_str(&format!("%{b:02x}"));
        } else if enc {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

struct Vocab {
    versions: Vec<String>,
    specs: Vec<String>,
    names: Vec<String>,
    capabilities: Vec<String>,
    fields: Vec<String>,
    datasets: Vec<String>,
}

fn vocab(d: &[&Diagram]) -> Vocab {
    let mut v = Vocab {
        versions: vec![],
        specs: vec![],
        names: vec![],
        capabilities: vec![],
        fields: vec![],
        datasets: vec![],
    };
    let mut tags = BTreeSet::new();
    for dim in d.iter().flat_map(|d| d.dims.iter()) {
        match dim.kind {
            DimKind::Version | DimKind::Spec => {
                for p in &dim.values {
                    let sv = semver::Version::parse(p).expect("points are semver");
                    let (ma, mi, pa) = (sv.major, sv.minor, sv.patch);
                    let base = [
                        p.clone(),
                        format!("{ma}.{mi}.{}", pa + 1),
                        format!("{ma}.{mi}.{pa}-0"),
                        format!("{ma}.{mi}.{}-rc.1", pa + 1),
                        format!("{ma}.{}.0", mi + 1),
                        format!("{ma}.{}.0-beta", mi + 1),
                        format!("v{ma}.{mi}"),
                        format!("{ma}"),
                        format!("{p}+build.7"),
                        format!("0{ma}.{mi}.{pa}"),
                    ];
                    v.versions.extend(base);
                    v.specs.extend([
                        format!("{ma}.{mi}"),
                        format!("{ma}.{}", mi + 1),
                        format!("{ma}.{mi}-rc1"),
                        format!("{ma}.{}", mi.saturating_sub(1)),
                    ]);
                    if !sv.pre.is_empty() {
                        tags.insert(sv.pre.to_string());
                        // Prereleases between a prerelease point and the next one.
                        v.versions.push(format!("{p}.1"));
                        v.versions.push(format!("{ma}.{mi}.{pa}-zz"));
                    }
                }
                for t in dim.sets.iter().flatten() {
                    tags.insert(t.clone());
                }
            }
            DimKind::Name => v.names.extend(
                dim.classes
                    .iter()
                    .filter(|c| *c != "-" && *c != "*")
                    .cloned(),
            ),
            DimKind::Set => v.capabilities.extend(dim.values.iter().cloned()),
            DimKind::Discovery => {
                v.fields.extend(dim.sets.iter().flatten().cloned());
                v.datasets.extend(dim.sets2.iter().flatten().cloned());
            }
            DimKind::Bool => {}
        }
    }
    // Each tag just above each point, and at the next patch.
    let points: Vec<semver::Version> = d
        .iter()
        .flat_map(|d| d.dims.iter())
        .filter(|d| d.kind == DimKind::Version)
        .flat_map(|d| d.values.iter().map(|p| semver::Version::parse(p).unwrap()))
        .collect();
    for t in &tags {
        v.versions.push(format!("0.0.0-{t}"));
        for p in &points {
            v.versions
                .push(format!("{}.{}.{}-{t}", p.major, p.minor, p.patch));
            v.versions
                .push(format!("{}.{}.{}-{t}", p.major, p.minor, p.patch + 1));
        }
    }
    v.versions.extend(
        [
            "0.0.0",
            "0.0.0-0",
            "999.0.0",
            "1.2.3-01",
            "1.2.3.4",
            "1.x",
            "99999999999999999999",
            "18446744073709551615",
            "1.2.3-",
            "foo",
            "1.2.3-a..b",
            "v",
            "V1.0.0",
            "1.2.3+",
            "1.0.0-99999999999999999999",
            "\u{e9}",
            "8.0.0 ",
        ]
        .map(String::from),
    );
    v.specs.extend(
        [
            "0.0",
            "0.9",
            "1",
            "1.2.3",
            "x.y",
            "1.",
            ".1",
            "1.2-01",
            "99999999999999999999.0",
        ]
        .map(String::from),
    );
    v.names
        .extend(["unknown", "-", "*", "Example", "web ", "\u{e9}t\u{e9}"].map(String::from));
    v.capabilities
        .extend(["none", "", "Security"].map(String::from));
    v.fields.extend(["no.such.field", ""].map(String::from));
    v.datasets.extend(["no.such", ""].map(String::from));
    for l in [
        &mut v.versions,
        &mut v.specs,
        &mut v.names,
        &mut v.capabilities,
        &mut v.fields,
        &mut v.datasets,
    ] {
        l.sort();
        l.dedup();
    }
    v
}

const PARAMS: &[&str] = &[
    "kibana.version",
    "agent.version",
    "category",
    "package",
    "type",
    "capabilities",
    "spec.min",
    "spec.max",
    "all",
    "experimental",
    "prerelease",
    "discovery",
    "internal",
    "include_policy_templates",
    "unknown",
    "",
];

const BOOLS: &[&str] = &[
    "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False", "yes", "",
    "tRue", "2",
];

fn subset(rng: &mut Rng, items: &[String]) -> Vec<String> {
    items.iter().filter(|_| rng.chance(35)).cloned().collect()
}

fn value(rng: &mut Rng, v: &Vocab, param: &str) -> String {
    match param {
        "kibana.version" | "agent.version" => rng.pick(&v.versions).clone(),
        "spec.min" | "spec.max" => rng.pick(&v.specs).clone(),
        "all" | "experimental" | "prerelease" | "include_policy_templates" | "internal" => {
            rng.pick(BOOLS).to_string()
        }
        "category" | "package" | "type" => rng.pick(&v.names).clone(),
        "capabilities" => {
            let mut s = subset(rng, &v.capabilities);
            if rng.chance(20) {
                s.push("observability".into());
            }
            s.join(",")
        }
        "discovery" => match rng.below(10) {
            0 => "tags:x".into(),
            1 => "nocolon".into(),
            2 => String::new(),
            3..=5 => format!("fields:{}", subset(rng, &v.fields).join(",")),
            _ => format!("datasets:{}", subset(rng, &v.datasets).join(",")),
        },
        _ => rng.pick(&v.names).clone(),
    }
}

/// A raw query: a few parameters, sometimes repeated, encoded, or mixed with junk pairs.
fn query(rng: &mut Rng, v: &Vocab) -> String {
    let mut pairs: Vec<String> = Vec::new();
    for _ in 0..rng.below(6) {
        let p = *rng.pick(PARAMS);
        let val = value(rng, v, p);
        let name = if rng.chance(5) {
            encode(rng, p)
        } else {
            p.to_string()
        };
        let val = if rng.chance(25) {
            encode(rng, &val)
        } else {
            val.replace('%', "%25")
                .replace('&', "%26")
                .replace('+', "%2B")
        };
        pairs.push(if val.is_empty() && rng.chance(30) {
            name
        } else {
            format!("{name}={val}")
        });
        if rng.chance(10) {
            pairs.push(
                (*rng.pick(&[
                    "",
                    "=",
                    ";a=b",
                    "prerelease=true;",
                    "%zz=1",
                    "a=%zz",
                    "kibana.version=%ff",
                    "package=%C3%A9",
                    "all=%",
                    "=x",
                ]))
                .to_string(),
            );
        }
    }
    pairs.join("&")
}

fn paths(rng: &mut Rng, tree: &Tree) -> Vec<(String, Option<String>)> {
    let mut out: Vec<String> = [
        "/",
        "/index.json",
        "/favicon.ico",
        "/health",
        "/search",
        "/categories",
        "/search/",
        "/categories/",
        "/health/",
        "/index.json/",
        "/favicon.ico/",
        "//",
        "/x",
        "/package",
        "/package/",
        "/epr",
        "/a//b",
        "/%2e%2e/x",
        "/%",
        "/%zz",
        "/%ff",
        "/%c3%a9",
        "/search%2F",
        "/%2Fsearch",
        "/package/%00/1.0.0/",
        "/package/a\\b/1.0.0/",
        "/package/./x/",
    ]
    .map(String::from)
    .to_vec();
    let mut files: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in tree.files.keys() {
        let parts: Vec<&str> = f.splitn(4, '/').collect();
        if parts.len() == 4 && parts[0] == "package" {
            files
                .entry((parts[1].into(), parts[2].into()))
                .or_default()
                .push(parts[3].into());
        }
    }
    for (name, versions) in &tree.routes.packages {
        for version in versions.keys() {
            let fs = files
                .get(&(name.clone(), version.clone()))
                .cloned()
                .unwrap_or_default();
            let base = format!("/package/{name}/{version}");
            out.push(base.clone());
            out.push(format!("{base}/"));
            out.push(format!("{base}/index.json"));
            out.push(format!("{base}/missing.txt"));
            out.push(format!("{base}/docs/"));
            out.push(format!("{base}//x"));
            for _ in 0..2 {
                if !fs.is_empty() {
                    let f = rng.pick(&fs).clone();
                    out.push(format!("{base}/{f}"));
                    out.push(format!("{base}/{}", f.replace('/', "%2F")));
                }
            }
            out.push(format!("/epr/{name}/{name}-{version}.zip"));
            out.push(format!("/epr/{name}/{name}-{version}.zip.sig"));
            out.push(format!("/epr/other/{name}-{version}.zip"));
            out.push(format!("/package/{}/{version}/", name.to_uppercase()));
        }
    }
    for v in [
        "a.b.c",
        "01.0.0",
        "1.0.0-01",
        "1.0",
        "9.9.9",
        "1.0.0-rc.1",
        "1.0.0+b",
        "v1.0.0",
        "",
    ] {
        out.push(format!("/package/example/{v}/"));
        out.push(format!("/package/example/{v}"));
        out.push(format!("/package/example/{v}/docs/README.md"));
        out.push(format!("/epr/example/example-{v}.zip"));
        out.push(format!("/epr/example/example-{v}.zip.sig"));
    }
    for f in [
        "example.zip",
        "-1.0.0.zip",
        "Example-1.0.0.zip",
        "example-1.0.0.tar",
        "example-1.0.0-rc1.zip",
        "example-1.0.0.zip.sig.zip",
        "example-1.0.0%0a.zip",
    ] {
        out.push(format!("/epr/example/{f}"));
    }
    let long = format!("a={}", "x".repeat(8200));
    out.into_iter()
        .map(|p| {
            let q = match rng.below(8) {
                0 => Some(String::new()),
                1 => Some("a=1&b".to_string()),
                2 => Some(long.clone()),
                _ => None,
            };
            (p, q)
        })
        .collect()
}

fn ep_name(ep: Endpoint) -> &'static str {
    match ep {
        Endpoint::Search => "search",
        Endpoint::Categories => "categories",
    }
}

fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::File(f) => json!({ "f": f }),
        Outcome::Compose(ep, _) => json!({ "k": ep_name(*ep) }),
        Outcome::Health => json!({ "h": 1 }),
        Outcome::Redirect(r) => json!({ "r": r }),
        Outcome::Error {
            status,
            message,
            cache,
        } => json!({ "s": status, "e": message, "c": cache }),
    }
}

/// The JS outcome object with `c: undefined` made `null`.
fn js_outcome(v: &Value) -> Value {
    let mut v = v.clone();
    if v.get("s").is_some() && v.get("c").is_none() {
        v["c"] = Value::Null;
    }
    v
}

const NO_STORE: &str = "max-age=0, private, no-store";

/// What the CloudFront function did, as an outcome: a rewritten request is the file at that key.
fn cf_outcome(v: &Value) -> Value {
    if let Some(ep) = v["request"]
        .as_str()
        .and_then(|u| u.strip_prefix(eprgen::serve::COMPOSE_PREFIX))
    {
        // Sent on to the fallback origin, query string and all.
        return json!({ "k": ep });
    }
    if let Some(uri) = v["request"].as_str() {
        assert_eq!(
            v["query"],
            json!({}),
            "the function must drop the query: {v}"
        );
        let key: Vec<String> = uri[1..]
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .expect("utf-8 key")
                    .into_owned()
            })
            .collect();
        return json!({ "f": key.join("/") });
    }
    let h = &v["headers"];
    let status = v["status"].as_u64().expect("status");
    let body = v["body"].as_str().unwrap_or("");
    match status {
        200 => {
            assert_eq!(body, "", "{v}");
            assert_eq!(h["access-control-allow-origin"], "*", "{v}");
            json!({ "h": 1 })
        }
        301 => {
            assert_eq!(h["content-type"], "text/html; charset=utf-8", "{v}");
            json!({ "r": h["location"], "body": body })
        }
        _ => {
            assert_eq!(h["content-type"], "text/plain; charset=utf-8", "{v}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{v}");
            let msg = body
                .strip_suffix('\n')
                .expect("message ends with a newline");
            let cors = msg != "404 page not found";
            assert_eq!(
                h.get("access-control-allow-origin").is_some(),
                cors,
                "CORS header on {v}"
            );
            let cache = h["cache-control"].as_str().expect("cache-control");
            let cache = if cache == NO_STORE {
                Value::Null
            } else {
                json!(cache)
            };
            json!({ "s": status, "e": msg, "c": cache })
        }
    }
}

/// What the function should do where serve gives `o`: the same, except that it cannot know a
/// known package's files (S3 and the custom error response answer for a missing one), and a
/// redirect carries serve's Location header and body.
fn cf_expected(o: &Outcome, path: &str) -> Value {
    match o {
        Outcome::Error { message, .. } if message == "resource not found" => {
            let p = serve_path(path);
            if p.split('/').any(str::is_empty) {
                json!({ "s": 404, "e": message, "c": Value::Null })
            } else {
                json!({ "f": p })
            }
        }
        Outcome::Redirect(loc) => {
            let loc = &cf_query(loc);
            let header = if hyper::header::HeaderValue::from_str(loc).is_ok() {
                loc.clone()
            } else {
                "/".into()
            };
            let esc = loc
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;");
            json!({ "r": header, "body": format!("<a href=\"{esc}\">Moved Permanently</a>.\n\n") })
        }
        o => outcome_json(o),
    }
}

/// A location's query as CloudFront passes it to the function: parameters grouped by name in
/// order of first appearance, empty pairs gone, `a` written `a=` (the event keeps names and
/// values, not the raw string).
fn cf_query(loc: &str) -> String {
    let Some((path, q)) = loc.split_once('?') else {
        return loc.to_string();
    };
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((k, vec![v])),
        }
    }
    let pairs: Vec<String> = groups
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}={v}")))
        .collect();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// The decoded path without its leading `/`.
fn serve_path(raw: &str) -> String {
    eprgen::serve::decode_path(raw).expect("a path serve resolved")[1..].to_string()
}

#[test]
fn js_router_and_cloudfront_function_equal_rust() {
    check_tree(false, 0x5eed_ed9e_1234_5678);
}

#[test]
fn js_router_and_cloudfront_function_equal_rust_with_prerelease_tags() {
    check_tree(true, 0x7a95_0bad_cafe_f00d);
}

fn check_tree(tags: bool, seed: u64) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build_tree(&out, tags);
    let dir = std::fs::canonicalize(&out).unwrap();
    let tree = Tree::load(&dir).unwrap();

    let mut rng = Rng(seed);
    let v = vocab(&[&tree.routes.search, &tree.routes.categories]);
    let mut queries: Vec<(String, String)> = Vec::new();
    for i in 0..4000 {
        let ep = if i % 3 == 0 { "categories" } else { "search" };
        queries.push((ep.to_string(), query(&mut rng, &v)));
    }
    // Every single value alone, so each class is reached.
    for (p, vals) in [
        ("kibana.version", &v.versions),
        ("agent.version", &v.versions),
        ("spec.min", &v.specs),
        ("spec.max", &v.specs),
        ("package", &v.names),
        ("category", &v.names),
        ("type", &v.names),
    ] {
        for val in vals.iter() {
            for ep in ["search", "categories"] {
                queries.push((ep.into(), format!("{p}={}", encode(&mut rng, val))));
            }
        }
    }
    // Both discovery filters at once.
    for f in &v.fields {
        for d in &v.datasets {
            for ep in ["search", "categories"] {
                queries.push((
                    ep.into(),
                    format!("discovery=fields:{f}&discovery=datasets:{d}"),
                ));
            }
        }
    }
    let paths = paths(&mut rng, &tree);

    let cf = eprgen::edge::cloudfront::render(&out).unwrap();
    let files = [
        (
            "router.js",
            format!("{}\n{}", eprgen::edge::ROUTER_JS, eprgen::edge::COMPOSE_JS),
        ),
        ("function.js", cf.function.clone()),
        ("kvs.json", cf.kvs_json()),
        (
            "cases.json",
            json!({ "queries": queries, "paths": paths }).to_string(),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(t.path().join(name), text).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/edge/equivalence.js");
    let o = Command::new("node")
        .arg(script)
        .arg(t.path().join("router.js"))
        .arg(dir.join("_eprgen/routes.json"))
        .arg(dir.join("_eprgen/manifest.json"))
        .arg(t.path().join("function.js"))
        .arg(t.path().join("kvs.json"))
        .arg(t.path().join("cases.json"))
        .arg(dir.join(eprgen::plan::compose::INDEX))
        .output()
        .expect("run node (apt-get install nodejs)");
    assert!(
        o.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), queries.len() + paths.len());

    let mut covered: BTreeMap<(String, usize), BTreeSet<String>> = BTreeMap::new();
    let (mut ok_queries, mut errors, mut composed) = (0, 0, 0);
    for ((ep, q), js) in queries.iter().zip(&lines) {
        let (endpoint, router) = match ep.as_str() {
            "search" => (Endpoint::Search, &tree.search),
            _ => (Endpoint::Categories, &tree.categories),
        };
        let ctx = format!("{ep}?{q}");
        match router.keys(endpoint, q) {
            Ok(keys) => {
                assert_eq!(js["keys"], json!(keys), "keys of {ctx}");
                for (i, k) in keys.iter().enumerate() {
                    covered
                        .entry((ep.clone(), i))
                        .or_default()
                        .insert(k.clone());
                }
                ok_queries += 1;
            }
            Err(e) => {
                assert_eq!(js["e"], json!(e), "error of {ctx}");
                errors += 1;
            }
        }
        let want = match router.route(endpoint, q) {
            Ok(Routed::Answer(id)) => json!({ "id": id }),
            Ok(Routed::Compose) => json!({ "id": "" }),
            Err(RouteError::Incomplete) => {
                json!({ "s": 500, "e": eprgen::plan::space::INCOMPLETE })
            }
            Err(RouteError::BadRequest(e)) => json!({ "s": 400, "e": e }),
        };
        assert_eq!(js["route"], want, "route of {ctx}");
        // compose.js makes the same body as the Rust composer, whatever the profile routes.
        if router.keys(endpoint, q).is_ok() {
            let body = tree.composer.as_ref().map(|c| match endpoint {
                Endpoint::Search => c.search_body(&SearchFilter::from_query(q).unwrap()),
                Endpoint::Categories => {
                    c.categories_body(&CategoriesFilter::from_query(q).unwrap())
                }
            });
            let body = String::from_utf8(body.unwrap().unwrap()).unwrap();
            assert_eq!(js["composed"], json!(body), "composed answer of {ctx}");
            composed += 1;
        }
        let served = resolve(
            &tree,
            &format!("/{ep}"),
            (!q.is_empty()).then_some(q.as_str()),
        );
        assert_eq!(
            cf_outcome(&js["cf"]),
            cf_expected(&served, &format!("/{ep}")),
            "CloudFront function on {ctx}"
        );
    }
    for ((path, q), js) in paths.iter().zip(&lines[queries.len()..]) {
        let ctx = format!("{path}?{q:?}");
        let served = resolve(&tree, path, q.as_deref());
        assert_eq!(
            js_outcome(&js["resolve"]),
            outcome_json(&served),
            "resolve of {ctx}"
        );
        assert_eq!(
            cf_outcome(&js["cf"]),
            cf_expected(&served, path),
            "CloudFront function on {ctx}"
        );
    }
    // Every class of every dimension was computed by both sides at least once.
    for (ep, d) in [
        ("search", &tree.routes.search),
        ("categories", &tree.routes.categories),
    ] {
        for (i, dim) in d.dims.iter().enumerate() {
            let got = covered
                .get(&(ep.to_string(), i))
                .cloned()
                .unwrap_or_default();
            // An open dimension's last class stands for the keys it does not list: no query
            // computes its key.
            let listed = dim.classes.len() - usize::from(dim.open);
            let missing: Vec<&String> = dim.classes[..listed]
                .iter()
                .filter(|c| !got.contains(*c))
                .collect();
            assert!(
                missing.is_empty(),
                "{ep} {}: classes never reached by the generated queries: {missing:?}",
                dim.name
            );
        }
    }
    println!(
        "{} queries ({ok_queries} routed, {composed} composed by compose.js, {errors} EPR 400s) and {} paths: JS router, CloudFront function and Rust agree",
        queries.len(),
        paths.len()
    );
}
