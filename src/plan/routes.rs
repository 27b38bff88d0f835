//! The route table: data inside the built tree that maps every URL eprgen answers to a file.
//! It is all a router needs (`eprgen serve`, the nginx config, the CDN function): exact paths,
//! the package list (for EPR's 400/404 answers) and one decision diagram per query endpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the route table lives in the tree.
pub const ROUTES: &str = "_eprgen/routes.json";
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub format: u32,
    /// Exact URL paths (`/`, `/index.json`, `/favicon.ico`, `/health`) → file in the tree.
    pub paths: BTreeMap<String, String>,
    /// name → version → that version's generated files.
    pub packages: BTreeMap<String, BTreeMap<String, PackageRoute>>,
    pub search: Diagram,
    pub categories: Diagram,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRoute {
    /// The body of `/package/{name}/{version}/`.
    pub info: String,
    /// `/epr/{name}/{name}-{version}.zip`.
    pub zip: String,
    /// `.zip.sig`, when the package has a signature.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sig: Option<String>,
}

/// A reduced, ordered decision diagram over the query parameters of one endpoint.
///
/// A reference `r` is a node when `r >= 0` (index into `nodes`) and an answer when `r < 0`
/// (`answers[-r - 1]`). A node tests one dimension: the query's class for that dimension is
/// looked up in `edges`, and `other` is taken when it is not there. Dimensions that do not
/// matter below a node are simply not tested on that path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagram {
    pub dims: Vec<Dim>,
    pub nodes: Vec<Node>,
    pub root: i64,
    /// Answer bodies by blake3 (file `answers/<hash>.json`).
    pub answers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Index into `dims`.
    pub d: u16,
    /// class key → reference.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub e: BTreeMap<String, i64>,
    /// Reference for every class not in `e`.
    pub o: i64,
}

/// One query dimension and the data its classes are computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dim {
    /// Query parameter name (`kibana.version`, `discovery`, …).
    pub name: String,
    pub kind: DimKind,
    /// Versions: the sorted boundary points. Names/terms: the values that occur in the catalog.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub values: Vec<String>,
    /// Discovery: the distinct field sets / dataset sets packages declare.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sets: Vec<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sets2: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DimKind {
    /// true/false (absent = false).
    Bool,
    /// A version placed among `values` (semver, lenient parse).
    Version,
    /// A `major.minor` spec version placed among `values`.
    Spec,
    /// One value out of `values`, anything else is `*`, absent is `-`.
    Name,
    /// A comma-separated set, reduced to the members in `values` (absent is `-`).
    Set,
    /// The repeatable discovery filter, reduced to which of `sets`/`sets2` pass.
    Discovery,
}

impl Diagram {
    /// Follow the diagram with a class key per dimension; returns the answer hash.
    pub fn walk<'a>(&'a self, class_of: impl Fn(usize) -> &'a str) -> Option<&'a str> {
        let mut r = self.root;
        let mut steps = 0;
        while r >= 0 {
            let n = self.nodes.get(r as usize)?;
            let key = class_of(n.d as usize);
            r = *n.e.get(key).unwrap_or(&n.o);
            steps += 1;
            if steps > self.dims.len() {
                return None; // a well-formed diagram tests each dimension at most once
            }
        }
        self.answers.get((-r - 1) as usize).map(String::as_str)
    }
}

/// The file of an answer body.
pub fn answer_path(hash: &str) -> String {
    format!("answers/{hash}.json")
}
