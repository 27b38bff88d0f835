//! Every HTTP layer answers what the catalog means: random /search and /categories queries over
//! every dimension (boundary versions and their neighbours, prerelease and lenient forms,
//! capability subsets, spec ranges, repeated discovery filters, the modes, junk parameters and
//! bad values) are sent to `eprgen serve` (also at its `/_eprgen/compose/` endpoint), to nginx
//! with njs and the generated configuration (also at its compose endpoint), and to the
//! CloudFront harness with serve as the fallback origin. Each answer must be what the catalog
//! computes in memory (`catalog::search` / `categories`): 200 with the exact bytes, or EPR's 400
//! message. Both materialized and composed answers must occur often, so neither path goes
//! untested. `LAYERS_SEED` replays another sequence; `LAYERS_CASES` sets how many queries.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use eprgen::build::{load_catalog, Inputs};
use eprgen::catalog::entry::Entry;
use eprgen::catalog::query::{CategoriesFilter, SearchFilter};
use eprgen::catalog::{categories, search};
use eprgen::package::fs::Limits;
use eprgen::package::gojson;
use eprgen::plan::compose::AnswerIndex;
use eprgen::plan::routes::Dim;
use eprgen::plan::Endpoint;
use eprgen::serve::{resolve, Outcome, Tree};

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
    /// A random subset of `items` (in random order, possibly empty).
    fn subset(&mut self, items: &[String]) -> Vec<String> {
        let mut out: Vec<String> = items.iter().filter(|_| self.chance(30)).cloned().collect();
        for i in (1..out.len()).rev() {
            let j = self.below(i + 1);
            out.swap(i, j);
        }
        out
    }
}

// ---- the tree and the layers ---------------------------------------------------------------

fn kit_sources() -> Vec<PathBuf> {
    let kit = kit().join("packages");
    ["local-storage", "second_package_path", "package"]
        .iter()
        .map(|s| kit.join(s))
        .collect()
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

fn build(out: &Path) {
    let mut args: Vec<String> = vec!["build".into(), "--quiet".into()];
    for s in kit_sources() {
        args.push("--source".into());
        args.push(s.display().to_string());
    }
    args.extend(["--out".into(), out.display().to_string()]);
    args.push("--favicon".into());
    args.push(kit().join("golden/favicon.ico").display().to_string());
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

const JS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";
const BROTLI_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process serving on `base`, stopped on drop (nginx, the CloudFront harness).
struct Layer {
    child: Child,
    base: String,
    log: Option<PathBuf>,
}

impl Layer {
    fn errors(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }
}

impl Drop for Layer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A foreground nginx with its own prefix serving `eprgen routes nginx` output (as
/// tests/nginx.rs starts it).
fn start_nginx(root: &Path, prefix: &Path) -> Layer {
    for m in [JS_MODULE, BROTLI_MODULE] {
        assert!(
            Path::new(m).exists(),
            "{m} not found: apt-get install libnginx-mod-http-js libnginx-mod-http-brotli-static"
        );
    }
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx not found: apt-get install nginx");
    std::fs::create_dir_all(prefix).unwrap();
    let port = free_port();
    let js = prefix.join("eprgen-router.js");
    let conf = run(&[
        "routes",
        "nginx",
        "--root",
        root.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--js",
        js.to_str().unwrap(),
    ]);
    std::fs::write(prefix.join("eprgen.conf"), conf).unwrap();
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
    let child = Command::new(nginx)
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
    let mut layer = Layer {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log: Some(prefix.join("error.log")),
    };
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(s)) = layer.child.try_wait() {
            panic!("nginx exited ({s}): {}", layer.errors());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    layer
}

/// The CloudFront function and its KeyValueStore behind tests/edge/cf-harness.js, with
/// `fallback` (an `eprgen serve`) as the origin of composed answers (as tests/cloudfront.rs).
fn start_cloudfront(root: &Path, dir: &Path, fallback: &str) -> Layer {
    let root = root.to_str().unwrap();
    let kvs = dir.join("kvs.json");
    let function = run(&[
        "routes",
        "cloudfront",
        "--root",
        root,
        "--kvs-out",
        kvs.to_str().unwrap(),
    ]);
    let objects = run(&["routes", "s3-metadata", "--root", root]);
    std::fs::write(dir.join("function.js"), function).unwrap();
    std::fs::write(dir.join("objects.json"), objects).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/edge/cf-harness.js");
    let mut child = Command::new("node")
        .arg(script)
        .arg(dir.join("function.js"))
        .arg(&kvs)
        .arg(dir.join("objects.json"))
        .arg("0")
        .arg(fallback)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node (apt-get install nodejs)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Layer {
        child,
        base,
        log: None,
    }
}

// ---- the catalog's own answer --------------------------------------------------------------

/// What EPR answers for `q`, computed from the catalog in memory (tests/answer_space.rs
/// `direct`): the body, or the 400 message.
fn direct(entries: &[Entry], ep: Endpoint, q: &str) -> Result<Vec<u8>, String> {
    match ep {
        Endpoint::Search => {
            let f = SearchFilter::from_query(q)?;
            let items: Vec<_> = search::search(entries, &f)
                .iter()
                .map(|&i| search::item(&entries[i], &f))
                .collect();
            Ok(gojson::array_body(&items).into_bytes())
        }
        Endpoint::Categories => {
            let f = CategoriesFilter::from_query(q)?;
            Ok(
                gojson::to_go_pretty(&categories::categories_json(&categories::categories(
                    entries, &f,
                )))
                .into_bytes(),
            )
        }
    }
}

// ---- random queries ------------------------------------------------------------------------

/// Boundary points of a version dimension with their neighbours and prerelease forms, plus
/// forms EPR parses leniently and values it rejects.
fn version_pool(dim: &Dim) -> Vec<String> {
    let mut out: Vec<String> = [
        "8",
        "8.10",
        "v8.1.0",
        "08.01.0",
        "7.x",
        "a.b.c",
        "",
        "8.0.0+build.1",
        "9999.0.0",
        "0.0.0",
    ]
    .map(String::from)
    .to_vec();
    for p in &dim.values {
        let v = semver::Version::parse(p).unwrap();
        let (ma, mi, pa) = (v.major, v.minor, v.patch);
        let below = if pa > 0 {
            format!("{ma}.{mi}.{}", pa - 1)
        } else if mi > 0 {
            format!("{ma}.{}.99", mi - 1)
        } else {
            p.clone()
        };
        out.extend([
            p.clone(),
            format!("{ma}.{mi}.{}", pa + 1),
            format!("{ma}.{mi}.{pa}-SNAPSHOT"),
            format!("{ma}.{mi}.{pa}-beta1"),
            below,
            format!("{ma}.{mi}"),
            format!("v{ma}.{mi}.{pa}"),
        ]);
    }
    out
}

/// spec.min / spec.max: MAJOR.MINOR around every spec point, and the forms EPR rejects.
fn spec_pool(dim: &Dim) -> Vec<String> {
    let mut out: Vec<String> = ["1.0", "2.10", "3", "1.1.1", "3.0", "x.y", "", "1.2-rc"]
        .map(String::from)
        .to_vec();
    for p in &dim.values {
        let v = semver::Version::parse(p).unwrap();
        out.extend([
            format!("{}.{}", v.major, v.minor),
            format!("{}.{}", v.major, v.minor + 1),
            format!("{}.{}", v.major, v.minor.saturating_sub(1)),
        ]);
    }
    out
}

/// Everything a query value can be drawn from, taken from the tree's composition index (the
/// dimensions' points, the names, types, capabilities, discovery fields and datasets that
/// packages declare) plus values no package has.
struct Pools {
    kibana: Vec<String>,
    agent: Vec<String>,
    spec: Vec<String>,
    names: Vec<String>,
    types: Vec<String>,
    categories: Vec<String>,
    capabilities: Vec<String>,
    fields: Vec<String>,
    datasets: Vec<String>,
}

fn with(mut v: Vec<String>, extra: &[&str]) -> Vec<String> {
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn pools(index: &AnswerIndex) -> Pools {
    Pools {
        kibana: version_pool(&index.kibana),
        agent: version_pool(&index.agent),
        spec: spec_pool(&index.spec),
        names: with(index.names.clone(), &["nope", "", "Example"]),
        types: with(index.types.clone(), &["nope", ""]),
        categories: with(
            index.categories.iter().map(|c| c.id.clone()).collect(),
            &["nope", "", "Observability"],
        ),
        capabilities: with(index.capabilities.clone(), &["uptime", "none", ""]),
        fields: with(index.fields.clone(), &["non.existing"]),
        datasets: with(index.datasets.clone(), &["other.nope"]),
    }
}

const BOOLS: &[&str] = &["true", "false", "1", "0", "T", "FALSE", "foo", ""];

/// The presets of the default client profile (materialized).
const PRESETS: &[(&str, &str)] = &[
    ("capabilities", "apm,observability"),
    ("capabilities", "security"),
    ("spec.min", "1.0"),
    ("spec.max", "3.0"),
];

/// One `name=value` parameter, raw (as sent on the wire).
fn param(rng: &mut Rng, p: &Pools) -> String {
    let (name, value): (&str, String) = match rng.below(20) {
        0 | 1 => ("kibana.version", rng.pick(&p.kibana).clone()),
        2 => ("agent.version", rng.pick(&p.agent).clone()),
        3 => ("prerelease", rng.pick(BOOLS).to_string()),
        4 => ("experimental", rng.pick(BOOLS).to_string()),
        5 => ("all", rng.pick(BOOLS).to_string()),
        6 => ("include_policy_templates", rng.pick(BOOLS).to_string()),
        7 => ("internal", rng.pick(BOOLS).to_string()),
        8 | 9 => ("category", rng.pick(&p.categories).clone()),
        10 => ("package", rng.pick(&p.names).clone()),
        11 => ("type", rng.pick(&p.types).clone()),
        12 => ("capabilities", rng.subset(&p.capabilities).join(",")),
        13 => {
            let (n, v) = rng.pick(PRESETS);
            (n, v.to_string())
        }
        14 => ("spec.min", rng.pick(&p.spec).clone()),
        15 => ("spec.max", rng.pick(&p.spec).clone()),
        16 | 17 => ("discovery", discovery(rng, p)),
        18 => {
            let junk = ["junk=1", "x=%zz", "flag", "", "Package=example", "a=b=c"];
            return rng.pick(&junk).to_string();
        }
        _ => {
            // A repeat of a parameter EPR reads only the first value of, or a junk value.
            let n = *rng.pick(&["kibana.version", "prerelease", "category", "spec.min"]);
            (
                n,
                rng.pick(&["8.0.0", "true", "web", "2.0", "%zz"])
                    .to_string(),
            )
        }
    };
    if rng.chance(25) {
        let enc = percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC);
        format!("{name}={enc}")
    } else {
        format!("{name}={value}")
    }
}

/// A discovery filter value: `fields:` (every package field must be listed) or `datasets:`
/// (some package dataset listed), over declared names and unknown ones, or a malformed one.
fn discovery(rng: &mut Rng, p: &Pools) -> String {
    match rng.below(10) {
        0..=3 => format!("fields:{}", rng.subset(&p.fields).join(",")),
        4..=7 => format!("datasets:{}", rng.subset(&p.datasets).join(",")),
        8 => format!("fields:{}", rng.pick(&p.fields)),
        _ => rng.pick(&["bogus", "tags:x", "", "fields"]).to_string(),
    }
}

fn query(rng: &mut Rng, p: &Pools) -> String {
    let n = rng.below(7);
    (0..n).map(|_| param(rng, p)).collect::<Vec<_>>().join("&")
}

// ---- the test ------------------------------------------------------------------------------

/// Status, size and the first line where `got` and `want` differ (the first line if none).
fn difference(got: (u16, &[u8]), want: (u16, &[u8])) -> String {
    let (g, w) = (
        String::from_utf8_lossy(got.1),
        String::from_utf8_lossy(want.1),
    );
    let (gl, wl): (Vec<&str>, Vec<&str>) = (g.lines().collect(), w.lines().collect());
    let at = (0..gl.len().max(wl.len()))
        .find(|&i| gl.get(i) != wl.get(i))
        .unwrap_or(0);
    let line = |ls: &[&str]| {
        ls.get(at)
            .unwrap_or(&"")
            .chars()
            .take(120)
            .collect::<String>()
    };
    format!(
        "line {}:\n  got:  {} ({} bytes) {}\n  want: {} ({} bytes) {}",
        at + 1,
        got.0,
        got.1.len(),
        line(&gl),
        want.0,
        want.1.len(),
        line(&wl)
    )
}

#[test]
fn every_layer_answers_random_queries_as_the_catalog_does() {
    let t0 = Instant::now();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("public");
    build(&out);
    let dir = std::fs::canonicalize(&out).unwrap();
    let tree = Tree::load(&dir).unwrap();
    let composed = tree.routes.composed.as_ref().expect("the tree composes");
    let index: AnswerIndex =
        serde_json::from_slice(&std::fs::read(dir.join(&composed.index)).unwrap()).unwrap();
    let (entries, invalid) =
        load_catalog(&Inputs::Sources(kit_sources()), Limits::default()).expect("catalog");
    assert!(invalid.is_empty(), "{invalid:?}");

    let serve = Server::start(&out);
    let nginx = start_nginx(&out, &t.path().join("nginx"));
    let cf_dir = t.path().join("cloudfront");
    std::fs::create_dir_all(&cf_dir).unwrap();
    let cloudfront = start_cloudfront(&out, &cf_dir, &serve.base);

    let seed: u64 = std::env::var("LAYERS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1a7e_45ee_d5ee_d001);
    let cases: usize = std::env::var("LAYERS_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // Any seed but one that leaves xorshift's state zero.
    let mut rng = Rng(match seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) {
        0 => 1,
        s => s,
    });
    let pools = pools(&index);

    let (mut materialized, mut composed, mut bad, mut requests) = (0, 0, 0, 0);
    let mut mismatches = Vec::new();
    let mut bodies = std::collections::HashSet::new();
    for _ in 0..cases {
        let (ep, path) = if rng.chance(70) {
            (Endpoint::Search, "search")
        } else {
            (Endpoint::Categories, "categories")
        };
        let q = query(&mut rng, &pools);
        match resolve(&tree, &format!("/{path}"), Some(&q)) {
            Outcome::File(_) => materialized += 1,
            Outcome::Compose(..) => composed += 1,
            Outcome::Error { status: 400, .. } => bad += 1,
            o => panic!("/{path}?{q} resolves to {o:?}"),
        }
        let (want_status, want) = match direct(&entries, ep, &q) {
            Ok(body) => {
                bodies.insert(body.clone());
                (200, body)
            }
            Err(m) => (400, format!("{m}\n").into_bytes()),
        };
        let public = format!("/{path}?{q}");
        let compose = format!("/_eprgen/compose/{path}?{q}");
        for (layer, base, url) in [
            ("serve", &serve.base, &public),
            ("serve compose", &serve.base, &compose),
            ("nginx", &nginx.base, &public),
            ("nginx compose", &nginx.base, &compose),
            ("cloudfront", &cloudfront.base, &public),
        ] {
            requests += 1;
            let (status, _, body) = http_get(base, url, &[]);
            if (status, &body) != (want_status, &want) {
                mismatches.push(format!(
                    "{layer} {url}, {}",
                    difference((status, &body), (want_status, &want))
                ));
            }
        }
    }
    println!(
        "layers: {cases} queries (seed {seed:#x}), {requests} requests: {materialized} \
         materialized, {composed} composed, {bad} bad requests; {} distinct bodies; {} \
         mismatches; {:.1} s",
        bodies.len(),
        mismatches.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        mismatches.is_empty(),
        "{} answers differ from the catalog's:\n{}\nnginx errors:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n"),
        nginx.errors()
    );
    assert!(
        materialized >= 50 && composed >= 50,
        "too few of one kind: {materialized} materialized, {composed} composed"
    );
}
