//! `eprgen routes cloudfront`: a CloudFront Functions viewer-request function (JavaScript
//! runtime 2.0) and the KeyValueStore import file holding the route table.
//!
//! The function is router.js + cloudfront.js, minified, behind a few constants of the build
//! (its id, the exact paths, each diagram's root). Everything else is data in the store, under
//! keys that start with the build id, so a new build's keys can be added beside the old ones
//! and the function switches builds when it is published:
//!
//! | key | value |
//! |---|---|
//! | `<build>:k:<name>/<version>` | the package's `{info, zip, sig}` |
//! | `<build>:<ep>:n<i>` | node i of the diagram (the route table's array form) |
//! | `<build>:<ep>:d<i>` | dimension i without its classes: `{name, kind, values, sets, sets2}` |
//! | `<build>:<ep>:c<i>:<class key>` | the index of that class in dimension i |
//! | `<build>:<ep>:a<i>` | answer i (the id of `answers/<id>.json`; `-`: composed) |
//!
//! `<ep>` is `search` or `categories`. A value over 1 KB is stored as `~N` and N chunks under
//! `<key>~0` … `<key>~N-1`.

use serde::Serialize;
use serde_json::json;

use super::minify::minify;
use super::{Built, CLOUDFRONT_JS, ROUTER_JS};
use crate::error::{Error, Result};
use crate::plan::routes::{Diagram, DimKind};

/// CloudFront's limits: function code, and a KeyValueStore's keys, values and total size.
pub const MAX_FUNCTION: usize = 10 * 1024;
pub const MAX_KEY: usize = 512;
pub const MAX_VALUE: usize = 1024;
pub const MAX_STORE: usize = 5 * 1024 * 1024;

/// One entry of the import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub key: String,
    pub value: String,
}

/// What `eprgen routes cloudfront` makes.
#[derive(Debug, Clone)]
pub struct CloudFront {
    pub function: String,
    /// The KeyValueStore's data, in import order.
    pub kvs: Vec<Entry>,
    pub build_id: String,
}

impl CloudFront {
    /// The import file: `{"data":[{"key":…,"value":…},…]}`.
    pub fn kvs_json(&self) -> String {
        let mut s = serde_json::to_string(&json!({ "data": self.kvs })).expect("serializes");
        s.push('\n');
        s
    }
}

/// The key prefix of a build (12 hex digits of the build id are plenty to tell builds apart).
fn prefix(build_id: &str) -> String {
    format!("{}:", &build_id[..12.min(build_id.len())])
}

struct Store {
    prefix: String,
    entries: Vec<Entry>,
}

impl Store {
    fn put(&mut self, key: String, value: String) -> Result<()> {
        let full = format!("{}{key}", self.prefix);
        if full.len() + 4 > MAX_KEY {
            return Err(Error::Usage(format!(
                "key {full:?} is longer than a CloudFront KeyValueStore allows ({MAX_KEY} bytes)"
            )));
        }
        if value.len() <= MAX_VALUE {
            self.entries.push(Entry { key: full, value });
            return Ok(());
        }
        // Chunks on character boundaries.
        let mut chunks: Vec<String> = Vec::new();
        let mut cur = String::new();
        for c in value.chars() {
            if cur.len() + c.len_utf8() > MAX_VALUE {
                chunks.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
        chunks.push(cur);
        self.entries.push(Entry {
            key: full.clone(),
            value: format!("~{}", chunks.len()),
        });
        for (i, c) in chunks.into_iter().enumerate() {
            self.entries.push(Entry {
                key: format!("{full}~{i}"),
                value: c,
            });
        }
        Ok(())
    }
}

fn kind_name(k: DimKind) -> &'static str {
    match k {
        DimKind::Bool => "bool",
        DimKind::Version => "version",
        DimKind::Spec => "spec",
        DimKind::Name => "name",
        DimKind::Set => "set",
        DimKind::Discovery => "discovery",
    }
}

fn diagram(store: &mut Store, ep: &str, d: &Diagram) -> Result<()> {
    for (i, n) in d.nodes.iter().enumerate() {
        store.put(
            format!("{ep}:n{i}"),
            serde_json::to_string(n).expect("node"),
        )?;
    }
    for (i, dim) in d.dims.iter().enumerate() {
        let mut data = json!({ "name": dim.name, "kind": kind_name(dim.kind) });
        if !dim.values.is_empty() {
            data["values"] = json!(dim.values);
        }
        if !dim.sets.is_empty() {
            data["sets"] = json!(dim.sets);
        }
        if !dim.sets2.is_empty() {
            data["sets2"] = json!(dim.sets2);
        }
        if dim.open {
            data["open"] = json!(true);
        }
        store.put(format!("{ep}:d{i}"), data.to_string())?;
        for (c, key) in dim.classes.iter().enumerate() {
            store.put(format!("{ep}:c{i}:{key}"), c.to_string())?;
        }
    }
    for (i, a) in d.answers.iter().enumerate() {
        // A store value is never empty: `-` stands for "composed" (the fallback origin).
        let v = if a.is_empty() {
            "-".to_string()
        } else {
            a.clone()
        };
        store.put(format!("{ep}:a{i}"), v)?;
    }
    Ok(())
}

/// router.js without its synchronous diagram walk (between `// eprgen:sync` and
/// `// eprgen:end`), which the function replaces with one reading the store.
fn without_sync(src: &str) -> String {
    match (src.find("// eprgen:sync"), src.find("// eprgen:end")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &src[..a], &src[b..]),
        _ => src.to_string(),
    }
}

/// Make the function and the store's data for the tree at `root`.
pub fn render(root: &std::path::Path) -> Result<CloudFront> {
    let built = Built::load(root)?;
    let r = &built.routes;
    let mut store = Store {
        prefix: prefix(&built.build_id),
        entries: Vec::new(),
    };
    for (name, versions) in &r.packages {
        for (version, p) in versions {
            store.put(
                format!("k:{name}/{version}"),
                serde_json::to_string(p).expect("package route"),
            )?;
        }
    }
    diagram(&mut store, "search", &r.search)?;
    diagram(&mut store, "categories", &r.categories)?;
    let total: usize = store
        .entries
        .iter()
        .map(|e| e.key.len() + e.value.len())
        .sum();
    if total > MAX_STORE {
        return Err(Error::Usage(format!(
            "the route table needs {total} bytes of KeyValueStore, more than CloudFront allows ({MAX_STORE})"
        )));
    }
    let meta = |d: &Diagram| json!({ "root": d.root, "dims": d.dims.len() });
    let header = format!(
        "var BUILD = {};\nvar PATHS = {};\nvar META = {};\nvar FALLBACK = {};\n",
        serde_json::to_string(&store.prefix).expect("string"),
        serde_json::to_string(&r.paths).expect("paths"),
        json!({ "search": meta(&r.search), "categories": meta(&r.categories) }),
        serde_json::to_string(crate::serve::COMPOSE_PREFIX).expect("string"),
    );
    let code = minify(
        &format!("{header}{}\n{CLOUDFRONT_JS}", without_sync(ROUTER_JS)),
        &["handler"],
    )
    .map_err(|e| Error::Usage(format!("cannot minify the CloudFront function: {e}")))?;
    let function = format!("import cf from 'cloudfront';\n{code}");
    if function.len() > MAX_FUNCTION {
        return Err(Error::Usage(format!(
            "the CloudFront function is {} bytes, more than CloudFront allows ({MAX_FUNCTION})",
            function.len()
        )));
    }
    Ok(CloudFront {
        function,
        kvs: store.entries,
        build_id: built.build_id,
    })
}
