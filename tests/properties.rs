//! Property tests (issue 7) for the two parsers that take untrusted text: the manifest parser
//! and the query canonicaliser.
//!
//! Manifests (`package::manifest`, `package::load`):
//! - `parse_yaml` never panics, on any text and on YAML-shaped text made of manifest keys,
//!   dotted keys, anchors, aliases and merge keys; `from_node` into both manifest types never
//!   panics on what it returns;
//! - JSON is YAML: the JSON of a tree (`Node::to_json`) parses back to the same tree;
//! - a dotted key is the nested map it names;
//! - `package::load` on random manifests in a temp folder never panics, and what it accepts can
//!   be turned into EPR's JSON.
//!
//! Queries (`catalog::query`, `plan::space::Router`, `serve::resolve`), routed through the
//! route table of a real build (the conformance kit's packages, or `packages/`). The canonical query of a raw query string is the
//! list of class keys `Router::keys` gives (one per dimension); the rules:
//! - nothing panics, whatever the query or path;
//! - a query is always routed (an answer or EPR's 400), never the 500 of an incomplete table;
//! - order does not matter for distinct parameter names. `discovery`, whose values are a set,
//!   may also repeat in any order as long as the query is valid (with two bad values, EPR's 400
//!   names the first one). Order does matter when another parameter repeats: only its first
//!   value counts, as in EPR;
//! - unknown parameters change nothing (EPR's default allows them);
//! - canonical keys are idempotent under re-encoding: encoding the parsed filter as a query
//!   string of its own (`encode_search` / `encode_categories` below) parses back to the same
//!   filter, and so gives the same keys.

mod harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;

use eprgen::build::{build, BuildOptions, Inputs};
use eprgen::catalog::query::{CategoriesFilter, DiscoveryFilter, SearchFilter};
use eprgen::package::fs::{Limits, Origin, PackageFs};
use eprgen::package::manifest::{from_node, parse_yaml, DataStreamManifest, Node, PackageManifest};
use eprgen::package::{self, gojson, LoadOptions};
use eprgen::plan::space::{RouteError, Routed, INCOMPLETE};
use eprgen::plan::Endpoint;
use eprgen::read::Stage;
use eprgen::serve::{resolve, Outcome, Tree};

/// `n` cases, unless `PROPTEST_CASES` asks for another number (to search longer locally).
fn cases(n: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = n;
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Manifests

/// Keys a manifest has (some dotted), and a few it does not.
const MANIFEST_KEYS: &[&str] = &[
    "format_version",
    "name",
    "title",
    "version",
    "description",
    "type",
    "release",
    "license",
    "categories",
    "icons",
    "screenshots",
    "policy_templates",
    "vars",
    "conditions",
    "conditions.kibana.version",
    "conditions.agent.version",
    "conditions.elastic.subscription",
    "conditions.elastic.capabilities",
    "owner",
    "owner.github",
    "owner.type",
    "source.license",
    "discovery.fields",
    "discovery.datasets",
    "deprecated",
    "deprecated.since",
    "requires.input",
    "elasticsearch.privileges.cluster",
    "agent.privileges.root",
    "policy_templates_behavior",
    "streams",
    "dataset",
    "ingest_pipeline",
    "elasticsearch.index_template.settings",
    "elasticsearch.index_template.mappings",
    "<<",
    "x.y",
    "a",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("~".to_string()),
        Just("true".to_string()),
        Just("yes".to_string()),
        Just("'false'".to_string()),
        Just("1.0".to_string()),
        Just("1.0.0".to_string()),
        Just("-3".to_string()),
        Just("''".to_string()),
        Just("1e400".to_string()),
        Just(".inf".to_string()),
        Just(".nan".to_string()),
        Just("0x1F".to_string()),
        Just("18446744073709551616".to_string()),
        Just("'^8.0.0 || ^7.17.0'".to_string()),
        Just("/img/icon.svg".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("logs".to_string()),
        Just("*anchor".to_string()),
        Just("!tag value".to_string()),
        "[a-z0-9_.^<>=| -]{0,12}",
        "[a-z0-9 ]{0,8}".prop_map(|s| format!("'{s}'")),
        "\\PC{0,6}".prop_map(|s| format!("{s:?}")),
    ]
}

/// A flow-style YAML value: scalars, lists and maps, sometimes anchored.
fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(MANIFEST_KEYS), inner.clone()), 0..5)
                .prop_map(|v| {
                    let items: Vec<String> = v.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", items.join(", "))
                }),
            inner.clone().prop_map(|v| format!("&anchor {v}")),
        ]
    })
}

/// Manifest-shaped YAML: `key: value` lines, the keys mostly manifest keys.
fn yaml_doc() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        4 => prop::sample::select(MANIFEST_KEYS).prop_map(str::to_string),
        1 => "[a-z_.]{1,10}",
    ];
    prop::collection::vec((key, value()), 0..10).prop_map(|lines| {
        lines
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect::<String>()
    })
}

/// A YAML tree without empty maps or floats, whose keys have no dots (so its JSON is itself).
fn json_node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        Just(Node::Null),
        any::<bool>().prop_map(Node::Bool),
        any::<u64>().prop_map(Node::Uint),
        (i64::MIN..0).prop_map(Node::Int),
        "\\PC{0,8}".prop_map(Node::Str),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Node::Seq),
            prop::collection::btree_map("[a-z_ -]{1,6}", inner, 1..4).prop_map(Node::Map),
        ]
    })
}

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(items).prop_map(str::to_string)
}

/// Mostly one of `good`, sometimes one of `bad`.
fn mostly(
    good: &'static [&'static str],
    bad: &'static [&'static str],
) -> impl Strategy<Value = String> {
    prop_oneof![8 => pick(good), 1 => pick(bad)]
}

/// A flow list of 0..n items.
fn list_of(item: impl Strategy<Value = String>, n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(item, 0..n).prop_map(|v| format!("[{}]", v.join(", ")))
}

/// A well-formed flow value (no aliases, no NaN), sometimes with dotted keys.
fn safe_value() -> impl Strategy<Value = String> {
    pick(&["1", "-2", "2.5", "true", "~", "'text'", "x", "''", "'a: b'"]).prop_recursive(
        3,
        16,
        3,
        |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((pick(&["k", "k.sub", "other"]), inner), 1..3).prop_map(
                    |v| {
                        let items: Vec<String> =
                            v.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                        format!("{{{}}}", items.join(", "))
                    }
                ),
            ]
        },
    )
}

fn image() -> impl Strategy<Value = String> {
    (
        mostly(
            &[
                "/img/icon.svg",
                "img/icon.svg",
                "/img//icon.svg",
                "/docs/../img/icon.svg",
            ],
            &["/img/missing.png", "../x.svg", "/img", ""],
        ),
        pick(&["image/svg+xml", "image/png", ""]),
    )
        .prop_map(|(src, kind)| format!("{{src: '{src}', title: t, size: 32x32, type: '{kind}'}}"))
}

fn constraint() -> impl Strategy<Value = String> {
    mostly(
        &[
            "^8.0.0",
            "^7.17.0 || ^8.1.0",
            ">=8.10.0",
            "~8.12",
            "8.x",
            "*",
            ">= 8.0.0 < 9.0.0",
            "^8.0.0-SNAPSHOT",
            "=>8.1.0",
        ],
        &["not a constraint", "", "^8.0.0 ||"],
    )
    .prop_map(|c| format!("'{c}'"))
}

fn var() -> impl Strategy<Value = String> {
    (
        mostly(&["paths", "period", "hosts"], &[""]),
        pick(&["text", "bool", "integer", "yaml", "password"]),
        any::<bool>(),
        prop_oneof![9 => safe_value(), 1 => value()],
    )
        .prop_map(|(name, kind, multi, default)| {
            format!(
                "{{name: '{name}', type: {kind}, title: T, multi: {multi}, required: false, \
                 show_user: true, default: {default}}}"
            )
        })
}

/// Manifest lines that are mostly well-formed and mostly valid, so loading gets far.
fn manifest_lines() -> impl Strategy<Value = String> {
    let input = (
        mostly(&["logfile", "httpjson", "cel"], &[""]),
        list_of(var(), 3),
    )
        .prop_map(|(t, vars)| format!("{{type: '{t}', title: T, description: D, vars: {vars}}}"));
    let template = (
        mostly(&["tmpl", "other"], &[""]),
        list_of(input, 3),
        any::<bool>(),
        prop::option::of(list_of(pick(&["web", "security", "nope"]), 3)),
        list_of(image(), 2),
    )
        .prop_map(|(name, inputs, multiple, cats, icons)| {
            let cats = cats
                .map(|c| format!(", categories: {c}"))
                .unwrap_or_default();
            format!(
                "{{name: '{name}', title: T, description: D, inputs: {inputs}, \
                 multiple: {multiple}{cats}, icons: {icons}}}"
            )
        });
    let fields = (
        prop::option::of(mostly(
            &["3.0.0", "2.10.0", "1.0.0", "3.3.1-next"],
            &["three"],
        )),
        prop::option::of(mostly(
            &["integration", "input", "content", "solution"],
            &["bogus"],
        )),
        prop::option::of(mostly(&["ga", "beta", "experimental"], &["alpha"])),
        prop::option::of(list_of(
            mostly(&["web", "security", "observability", "nope"], &[""]),
            4,
        )),
        prop::option::of((
            constraint(),
            constraint(),
            pick(&["basic", "gold", "enterprise"]),
        )),
        prop::option::of(list_of(image(), 3)),
        prop::option::of(list_of(image(), 2)),
        prop::option::of(list_of(template, 3)),
        prop::option::of(list_of(var(), 3)),
        prop::option::of(mostly(
            &[
                "owner: {github: elastic/x, type: elastic}",
                "owner.github: someone",
                "discovery: {fields: [{name: host.name}], datasets: [{name: x}]}",
                "deprecated: {since: 1.0.0, description: gone, replaced_by: {package: y}}",
                "source.license: Elastic-2.0",
                "elasticsearch.privileges.cluster: [monitor]",
                "agent.privileges.root: true",
                "requires: {input: [{package: a, version: 1.0.0}]}",
                "policy_templates_behavior: all",
            ],
            &[
                "owner: x",
                "discovery: {fields: [{title: no name}]}",
                "requires: {input: [{package: b}]}",
            ],
        )),
    );
    fields.prop_map(
        |(fv, kind, release, cats, cond, icons, shots, templates, vars, other)| {
            let mut s = String::new();
            let mut line = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    s.push_str(&format!("{k}: {v}\n"));
                }
            };
            line("format_version", fv);
            line("type", kind);
            line("release", release);
            line("categories", cats);
            line(
                "conditions",
                cond.map(|(k, a, sub)| {
                    format!(
                        "{{kibana.version: {k}, agent: {{version: {a}}}, \
                         elastic: {{subscription: {sub}, capabilities: [security]}}}}"
                    )
                }),
            );
            line("icons", icons);
            line("screenshots", shots);
            line("policy_templates", templates);
            line("vars", vars);
            if let Some(o) = other {
                s.push_str(&o);
                s.push('\n');
            }
            s
        },
    )
}

fn data_stream_manifest() -> impl Strategy<Value = String> {
    let stream = (
        mostly(&["logfile", "httpjson"], &[""]),
        mostly(&[""], &["p"]),
        list_of(var(), 2),
    )
        .prop_map(|(i, p, vars)| {
            format!("{{input: '{i}', package: '{p}', title: T, description: D, vars: {vars}}}")
        });
    (
        mostly(&["logs", "metrics", "traces", "synthetics"], &["bogus"]),
        mostly(&["T"], &[""]),
        mostly(
            &["", "dataset: my.set\n", "release: beta\n", "hidden: true\n"],
            &["dataset: a-b\n", "release: alpha\n"],
        ),
        list_of(stream, 3),
        prop::option::of(prop_oneof![
            4 => (Just("{number_of_shards: 1}".to_string()), Just("{properties: {a: {type: keyword}}}".to_string())),
            1 => (value(), value()),
        ]),
    )
        .prop_map(|(kind, title, extra, streams, es)| {
            let es = es
                .map(|(a, b)| {
                    format!(
                        "elasticsearch:\n  index_template.settings: {a}\n  \
                         index_template.mappings: {b}\n"
                    )
                })
                .unwrap_or_default();
            format!("type: {kind}\ntitle: '{title}'\n{extra}streams: {streams}\n{es}")
        })
}

fn valid_base(name: &str) -> String {
    format!("format_version: 3.0.0\nname: {name}\ntitle: T\nversion: 1.0.0\ndescription: d\n")
}

/// Files of a package folder: a manifest and maybe a data stream, an icon and a readme.
fn write_package(dir: &Path, manifest: &[u8], data_stream: Option<&str>) {
    harness::write_files(
        dir,
        &[
            ("manifest.yml", manifest),
            ("docs/README.md", b"# r\n"),
            ("img/icon.svg", b"<svg/>"),
        ],
    );
    if let Some(ds) = data_stream {
        harness::write_files(
            dir,
            &[
                ("data_stream/ds/manifest.yml", ds.as_bytes()),
                (
                    "data_stream/ds/fields/base.yml",
                    b"- name: data_stream.type\n  type: constant_keyword\n- name: data_stream.dataset\n  type: constant_keyword\n- name: data_stream.namespace\n  type: constant_keyword\n- name: '@timestamp'\n  type: date\n",
                ),
            ],
        );
    }
}

/// Load a package folder; whatever it gives must be usable without panicking.
fn load_and_use(dir: &Path) {
    let Ok(fs) = PackageFs::open(&Origin::Dir(dir.to_path_buf()), Limits::default()) else {
        return;
    };
    match package::load(&fs, &LoadOptions::default()) {
        Ok(p) => {
            let info = p.info_json();
            let _ = gojson::to_go_pretty(&info);
            let _ = gojson::to_go_pretty(&p.search_json());
            let _ = (p.spec_version(), p.kibana_version(), p.agent_version());
            for c in [p.kibana_version(), p.agent_version()]
                .into_iter()
                .flatten()
            {
                let _ = eprgen::plan::constraint::Constraint::parse(c);
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(
                    p.path.starts_with(dir),
                    "{} is not a file of the package",
                    p.path.display()
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn parse_yaml_never_panics_on_any_text(text in "\\PC{0,200}") {
        if let Ok(n) = parse_yaml(&text) {
            let _ = from_node::<PackageManifest>(&n);
            let _ = from_node::<DataStreamManifest>(&n);
            let _ = n.to_json();
        }
    }

    #[test]
    fn parse_yaml_never_panics_on_manifest_shaped_text(text in yaml_doc()) {
        if let Ok(n) = parse_yaml(&text) {
            let _ = from_node::<PackageManifest>(&n);
            let _ = from_node::<DataStreamManifest>(&n);
            let _ = n.to_json();
        }
    }

    #[test]
    fn json_text_parses_back_to_its_tree(node in json_node()) {
        let text = serde_json::to_string(&node.to_json().unwrap()).unwrap();
        prop_assert_eq!(parse_yaml(&text).unwrap(), node);
    }

    #[test]
    fn a_dotted_key_is_the_nested_map(parts in prop::collection::vec("k[a-z]{0,3}", 1..6), v in "[a-z0-9]{1,6}") {
        let dotted = parse_yaml(&format!("{}: '{v}'\n", parts.join("."))).unwrap();
        let mut nested = format!("'{v}'");
        for p in parts.iter().rev() {
            nested = format!("{{{p}: {nested}}}");
        }
        prop_assert_eq!(dotted, parse_yaml(&nested).unwrap());
    }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn load_never_panics_on_random_manifests(
        extra in yaml_doc(),
        base in any::<bool>(),
        ds in prop::option::of(yaml_doc()),
    ) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("p");
        // With a valid start the extra keys override it, so loading gets further.
        let text = if base { format!("{}{extra}", valid_base("p")) } else { extra };
        write_package(&dir, text.as_bytes(), ds.as_deref());
        load_and_use(&dir);
    }

    #[test]
    fn load_never_panics_on_mostly_valid_manifests(
        lines in manifest_lines(),
        ds in prop::option::of(data_stream_manifest()),
    ) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("p");
        write_package(&dir, format!("{}{lines}", valid_base("p")).as_bytes(), ds.as_deref());
        load_and_use(&dir);
    }

    #[test]
    fn load_never_panics_on_random_bytes(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            "[ -~\n\t]{0,300}".prop_map(String::into_bytes),
        ],
    ) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("p");
        let mut text = valid_base("p").into_bytes();
        text.extend_from_slice(&bytes);
        write_package(&dir, &text, Some(&String::from_utf8_lossy(&bytes)));
        load_and_use(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

/// A tree built once: from the conformance kit's packages when the kit is beside the checkout
/// (the richest route table at hand), else from the demo packages (snapshot stage).
fn tree() -> &'static Tree {
    static TREE: OnceLock<(tempfile::TempDir, Tree)> = OnceLock::new();
    &TREE
        .get_or_init(|| {
            let t = tempfile::tempdir().unwrap();
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let kit = root.join("../shared/conformance/packages");
            let inputs = if kit.is_dir() {
                Inputs::Sources(
                    ["local-storage", "second_package_path", "package"]
                        .iter()
                        .map(|s| kit.join(s))
                        .collect(),
                )
            } else {
                Inputs::Stages {
                    dir: root.join("packages"),
                    stage: Stage::Snapshot,
                }
            };
            let opts = BuildOptions::new(inputs, t.path().join("public"));
            let report = build(&opts, &|_, _, _| {}).expect("build the demo packages");
            let tree = Tree::load(&report.out_dir).unwrap();
            (t, tree)
        })
        .1
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
];

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "8.12.0",
            "8.0.0-SNAPSHOT",
            "v8.1",
            "8",
            "08.01.0",
            "8.1.0+build.1",
            "7.17.3",
            "1.2-rc",
            "3.0",
            "2.10",
            "99.99.99",
            "0.0.1-alpha.1",
            "9.0.0-beta1",
            "",
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec!["true", "false", "1", "0", "T", "f", "maybe"])
            .prop_map(str::to_string),
        prop::sample::select(vec![
            "web",
            "security",
            "observability",
            "kvstore",
            "tinyhttp",
            "acme_weather",
            "jobqueue",
            "integration",
            "input",
            "nope",
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec![
            "apm,observability",
            "security",
            ",",
            "uptime,,",
            "fields:a,b",
            "datasets:x",
            "fields:",
            "nope:x",
            "fields",
            "fields:host.name",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,10}",
    ]
}

/// Percent-encode everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A parameter with a value it accepts.
fn valid_pair() -> impl Strategy<Value = (String, String)> {
    let versions = &[
        "8.12.0",
        "8.0.0-SNAPSHOT",
        "v8.1",
        "8",
        "7.17.3",
        "9.0.0-beta1",
        "8.1.0+b",
    ];
    let bools = &["true", "false", "1", "0", "T", "f"];
    prop_oneof![
        pick(versions).prop_map(|v| ("kibana.version".to_string(), v)),
        pick(versions).prop_map(|v| ("agent.version".to_string(), v)),
        pick(&["web", "security", "observability", "nope", "custom"])
            .prop_map(|v| ("category".to_string(), v)),
        pick(&["kvstore", "tinyhttp", "acme_weather", "jobqueue", "nope"])
            .prop_map(|v| ("package".to_string(), v)),
        pick(&["integration", "input", "content"]).prop_map(|v| ("type".to_string(), v)),
        pick(&["apm,observability", "security", "uptime,,", ","])
            .prop_map(|v| ("capabilities".to_string(), v)),
        pick(&["1.0", "2.10", "3.0", "3.3-rc", "v3.1"]).prop_map(|v| ("spec.min".to_string(), v)),
        pick(&["1.0", "2.10", "3.0", "3.3-rc", "4.0"]).prop_map(|v| ("spec.max".to_string(), v)),
        (
            pick(&[
                "all",
                "experimental",
                "prerelease",
                "include_policy_templates",
                "internal"
            ]),
            pick(bools)
        ),
        pick(&[
            "fields:a,b",
            "datasets:x",
            "fields:host.name",
            "datasets:",
            "fields:a:b"
        ])
        .prop_map(|v| ("discovery".to_string(), v)),
    ]
}

/// One `key=value` pair, encoded strictly or written as it is (where that stays one pair):
/// mostly valid, some anything.
fn pair() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        3 => valid_pair(),
        1 => (
            prop_oneof![
                6 => prop::sample::select(PARAMS).prop_map(str::to_string),
                1 => "[a-z_.]{1,8}",
            ],
            param_value(),
        ),
    ]
}

fn render(pairs: &[(String, String)], raw: bool) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            if raw && !v.contains(['&', '%', '+', ';', '=', '#']) {
                format!("{k}={v}")
            } else {
                format!("{}={}", enc(k), enc(v))
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Pairs with distinct names; `discovery` may repeat if `repeat_discovery`.
fn distinct(pairs: Vec<(String, String)>, repeat_discovery: bool) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    pairs
        .into_iter()
        .filter(|(k, _)| (repeat_discovery && k == "discovery") || seen.insert(k.clone()))
        .collect()
}

fn spec(v: &semver::Version) -> String {
    let mut s = format!("{}.{}", v.major, v.minor);
    if !v.pre.is_empty() {
        s.push('-');
        s.push_str(v.pre.as_str());
    }
    s
}

fn set(s: &BTreeSet<String>) -> String {
    // `{""}` alone would read as "not given"; `,` gives it back.
    if s.len() == 1 && s.contains("") {
        ",".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

fn discovery(d: &BTreeSet<DiscoveryFilter>) -> Vec<(String, String)> {
    d.iter()
        .map(|f| {
            let v = match f {
                DiscoveryFilter::Fields(s) => format!("fields:{}", set_raw(s)),
                DiscoveryFilter::Datasets(s) => format!("datasets:{}", set_raw(s)),
            };
            ("discovery".to_string(), v)
        })
        .collect()
}

fn set_raw(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(",")
}

/// The query string of a /search filter: what it parsed from, in canonical form.
fn encode_search(f: &SearchFilter) -> String {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| p.push((k.to_string(), v));
    if let Some(v) = &f.kibana_version {
        put("kibana.version", v.to_string());
    }
    if let Some(v) = &f.agent_version {
        put("agent.version", v.to_string());
    }
    if let Some(v) = &f.category {
        put("category", v.clone());
    }
    if let Some(v) = &f.package {
        put("package", v.clone());
    }
    if let Some(v) = &f.package_type {
        put("type", v.clone());
    }
    if let Some(v) = &f.capabilities {
        put("capabilities", set(v));
    }
    if let Some(v) = &f.spec_min {
        put("spec.min", spec(v));
    }
    if let Some(v) = &f.spec_max {
        put("spec.max", spec(v));
    }
    for (k, b) in [
        ("all", f.all),
        ("prerelease", f.prerelease),
        ("experimental", f.experimental),
    ] {
        if b {
            put(k, "true".into());
        }
    }
    p.extend(discovery(&f.discovery));
    render(&p, false)
}

/// The query string of a /categories filter.
fn encode_categories(f: &CategoriesFilter) -> String {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| p.push((k.to_string(), v));
    if let Some(v) = &f.kibana_version {
        put("kibana.version", v.to_string());
    }
    if let Some(v) = &f.agent_version {
        put("agent.version", v.to_string());
    }
    if let Some(v) = &f.capabilities {
        put("capabilities", set(v));
    }
    if let Some(v) = &f.spec_min {
        put("spec.min", spec(v));
    }
    if let Some(v) = &f.spec_max {
        put("spec.max", spec(v));
    }
    for (k, b) in [
        ("prerelease", f.prerelease),
        ("experimental", f.experimental),
        ("include_policy_templates", f.include_policy_templates),
    ] {
        if b {
            put(k, "true".into());
        }
    }
    p.extend(discovery(&f.discovery));
    render(&p, false)
}

fn keys(ep: Endpoint, q: &str) -> Result<Vec<String>, String> {
    let t = tree();
    match ep {
        Endpoint::Search => t.search.keys(ep, q),
        Endpoint::Categories => t.categories.keys(ep, q),
    }
}

fn routed(ep: Endpoint, q: &str) -> Result<String, String> {
    let t = tree();
    let r = match ep {
        Endpoint::Search => t.search.route(ep, q),
        Endpoint::Categories => t.categories.route(ep, q),
    };
    match r {
        Ok(Routed::Answer(id)) => Ok(id.to_string()),
        Ok(Routed::Compose) => Ok(String::new()),
        Err(RouteError::Incomplete) => Err(INCOMPLETE.to_string()),
        Err(RouteError::BadRequest(m)) => Err(m),
    }
}

const ENDPOINTS: [Endpoint; 2] = [Endpoint::Search, Endpoint::Categories];

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_query_is_routed_without_panic(q in "\\PC{0,80}") {
        for ep in ENDPOINTS {
            let _ = keys(ep, &q);
            let r = routed(ep, &q);
            prop_assert!(r.as_ref().err().map(String::as_str) != Some(INCOMPLETE), "{:?} {:?}", ep, q);
        }
    }

    #[test]
    fn parameter_queries_are_routed(pairs in prop::collection::vec(pair(), 0..8), raw in any::<bool>()) {
        let q = render(&pairs, raw);
        for ep in ENDPOINTS {
            let r = routed(ep, &q);
            prop_assert!(r.as_ref().err().map(String::as_str) != Some(INCOMPLETE), "{:?} {:?}", ep, q);
            // A routed answer is a file of the tree, or composed from its index.
            match r {
                Ok(id) if id.is_empty() => prop_assert!(tree().compose(ep, &q).is_some(), "{:?} {}", ep, q),
                Ok(id) => {
                    let file = eprgen::plan::routes::answer_path(&id);
                    prop_assert!(tree().files.contains_key(&file), "{}", file);
                }
                Err(_) => {}
            }
        }
    }

    #[test]
    fn order_of_distinct_parameters_does_not_matter(
        (pairs, shuffled) in prop::collection::vec(pair(), 0..8)
            .prop_map(|p| distinct(p, false))
            .prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        raw in any::<bool>(),
    ) {
        for ep in ENDPOINTS {
            prop_assert_eq!(keys(ep, &render(&pairs, raw)), keys(ep, &render(&shuffled, raw)));
        }
    }

    #[test]
    fn order_of_repeated_discovery_values_does_not_matter(
        (pairs, shuffled) in prop::collection::vec(pair(), 0..8)
            .prop_map(|p| distinct(p, true))
            .prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        raw in any::<bool>(),
    ) {
        // The keys, when the query is valid. Which 400 a query with two bad `discovery`
        // values gets does depend on their order: EPR reports the first one.
        for ep in ENDPOINTS {
            let (a, b) = (keys(ep, &render(&pairs, raw)), keys(ep, &render(&shuffled, raw)));
            prop_assert_eq!(a.is_ok(), b.is_ok());
            if a.is_ok() {
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn unknown_parameters_change_nothing(
        pairs in prop::collection::vec(pair(), 0..6),
        unknown in prop::collection::vec(("zz_[a-z]{0,5}", param_value()), 1..4),
        at in any::<prop::sample::Index>(),
    ) {
        let mut with = pairs.clone();
        for u in unknown {
            with.insert(at.index(with.len() + 1), u);
        }
        for ep in ENDPOINTS {
            prop_assert_eq!(keys(ep, &render(&pairs, false)), keys(ep, &render(&with, false)));
        }
    }

    #[test]
    fn canonical_keys_are_idempotent(pairs in prop::collection::vec(pair(), 0..8), raw in any::<bool>()) {
        let q = render(&pairs, raw);
        if let Ok(f) = SearchFilter::from_query(&q) {
            let again = encode_search(&f);
            prop_assert_eq!(SearchFilter::from_query(&again), Ok(f), "{} -> {}", q, again);
            prop_assert_eq!(keys(Endpoint::Search, &again), keys(Endpoint::Search, &q));
        }
        if let Ok(f) = CategoriesFilter::from_query(&q) {
            let again = encode_categories(&f);
            prop_assert_eq!(CategoriesFilter::from_query(&again), Ok(f), "{} -> {}", q, again);
            prop_assert_eq!(keys(Endpoint::Categories, &again), keys(Endpoint::Categories, &q));
        }
    }

    #[test]
    fn resolve_never_panics_and_serves_only_tree_files(
        path in prop_oneof![
            "/[ -~]{0,40}",
            prop::collection::vec(
                prop::sample::select(vec![
                    "package", "epr", "search", "categories", "kvstore", "1.0.0", "1.0.0.zip",
                    "kvstore-1.0.0.zip", "kvstore-1.0.0.zip.sig", "..", ".", "%2e%2e", "%2f",
                    "%5c", "%00", "", "docs", "README.md", "manifest.yml", "index.json",
                    "_eprgen", "%c0%ae", "%ff",
                ]),
                0..6,
            )
            .prop_map(|s| format!("/{}", s.join("/"))),
        ],
        query in prop::option::of("[ -~]{0,40}"),
    ) {
        let t = tree();
        match resolve(t, &path, query.as_deref()) {
            Outcome::File(f) => prop_assert!(t.files.contains_key(&f), "{} -> {}", path, f),
            Outcome::Error { status, .. } => prop_assert!(status == 400 || status == 404, "{}: {}", path, status),
            Outcome::Redirect(loc) => prop_assert!(loc.starts_with('/') && !loc.starts_with("//"), "{} -> {}", path, loc),
            Outcome::Health => {}
            Outcome::Compose(ep, q) => prop_assert!(t.compose(ep, &q).is_some(), "{} {:?}", path, query),
        }
    }
}
