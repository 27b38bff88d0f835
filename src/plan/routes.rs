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
    /// How composed answers are sent (absent in a tree whose every answer is materialized).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub composed: Option<Composed>,
}

/// The headers of composed /search and /categories answers, and where their index is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Composed {
    /// The composition index (`plan::compose::INDEX`).
    pub index: String,
    pub search_cache: String,
    pub categories_cache: String,
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
/// (`answers[-r - 1]`). A node tests one dimension: the query's class for that dimension (an
/// index into that dimension's `classes`) picks the child. Dimensions that do not matter below a
/// node are not tested on that path.
///
/// Serialized compactly, a node is a flat array of integers in one of two forms, whichever is
/// shorter:
/// - runs `[d, ref0, start1, ref1, start2, ref2, …]`: classes `0..start1` lead to `ref0`,
///   `start1..start2` to `ref1`, and so on (suits version intervals);
/// - exceptions `[-d - 1, other, class1, ref1, class2, ref2, …]`: the listed classes lead to
///   their refs, every other class to `other` (suits names).
///
/// Answers are the first 20 hex digits of their body's blake3 (the file `answers/<id>.json`);
/// the empty id means "not materialized": the answer is composed from the index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagram {
    pub dims: Vec<Dim>,
    pub nodes: Vec<Node>,
    pub root: i64,
    /// Answer ids (file `answers/<id>.json`).
    pub answers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Edges {
    /// (first class of the run, reference), sorted; the first run starts at class 0.
    Runs(Vec<(u32, i64)>),
    /// (class, reference) sorted by class; every other class goes to `other`.
    Except { other: i64, listed: Vec<(u32, i64)> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// Index into `dims`.
    pub d: u16,
    pub edges: Edges,
}

impl Node {
    /// A node from the child of every class (index = class), in its shorter form.
    pub fn from_children(d: u16, children: &[i64]) -> Node {
        let mut runs: Vec<(u32, i64)> = Vec::new();
        for (c, r) in children.iter().enumerate() {
            if runs.last().map(|(_, x)| x) != Some(r) {
                runs.push((c as u32, *r));
            }
        }
        let mut counts: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for r in children {
            *counts.entry(*r).or_default() += 1;
        }
        let other = *counts
            .iter()
            .max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r)))
            .expect("a child")
            .0;
        let listed: Vec<(u32, i64)> = children
            .iter()
            .enumerate()
            .filter(|(_, r)| **r != other)
            .map(|(c, r)| (c as u32, *r))
            .collect();
        let edges = if listed.len() < runs.len() {
            Edges::Except { other, listed }
        } else {
            Edges::Runs(runs)
        };
        Node { d, edges }
    }

    /// The reference for a class index.
    pub fn child(&self, class: u32) -> i64 {
        match &self.edges {
            Edges::Runs(runs) => {
                let i = runs.partition_point(|(start, _)| *start <= class);
                runs[i.saturating_sub(1)].1
            }
            Edges::Except { other, listed } => listed
                .binary_search_by_key(&class, |(c, _)| *c)
                .map(|i| listed[i].1)
                .unwrap_or(*other),
        }
    }

    /// Every reference this node holds.
    pub fn refs(&self) -> Vec<i64> {
        match &self.edges {
            Edges::Runs(runs) => runs.iter().map(|(_, r)| *r).collect(),
            Edges::Except { other, listed } => std::iter::once(*other)
                .chain(listed.iter().map(|(_, r)| *r))
                .collect(),
        }
    }

    pub fn map_refs(&mut self, f: impl Fn(i64) -> i64) {
        match &mut self.edges {
            Edges::Runs(runs) => runs.iter_mut().for_each(|(_, r)| *r = f(*r)),
            Edges::Except { other, listed } => {
                *other = f(*other);
                listed.iter_mut().for_each(|(_, r)| *r = f(*r));
            }
        }
    }
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<i64> = Vec::new();
        match &self.edges {
            Edges::Runs(runs) => {
                v.push(self.d as i64);
                for (i, (c, r)) in runs.iter().enumerate() {
                    if i > 0 {
                        v.push(*c as i64);
                    }
                    v.push(*r);
                }
            }
            Edges::Except { other, listed } => {
                v.push(-(self.d as i64) - 1);
                v.push(*other);
                for (c, r) in listed {
                    v.push(*c as i64);
                    v.push(*r);
                }
            }
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v: Vec<i64> = Vec::deserialize(d)?;
        if v.len() < 2 || !v.len().is_multiple_of(2) || v[0].unsigned_abs() > u16::MAX as u64 {
            return Err(D::Error::custom("a node is [dim, ref, class, ref, ...]"));
        }
        let mut pairs = Vec::with_capacity(v.len() / 2);
        let mut last: Option<u32> = None;
        for pair in v[2..].chunks(2) {
            let c = u32::try_from(pair[0]).map_err(|_| D::Error::custom("bad class index"))?;
            if last.is_some_and(|l| c <= l) {
                return Err(D::Error::custom("classes must increase within a node"));
            }
            last = Some(c);
            pairs.push((c, pair[1]));
        }
        Ok(if v[0] >= 0 {
            if pairs.first().is_some_and(|(c, _)| *c == 0) {
                return Err(D::Error::custom(
                    "the first run starts at class 0 implicitly",
                ));
            }
            let mut runs = vec![(0u32, v[1])];
            runs.extend(pairs);
            Node {
                d: v[0] as u16,
                edges: Edges::Runs(runs),
            }
        } else {
            Node {
                d: (-v[0] - 1) as u16,
                edges: Edges::Except {
                    other: v[1],
                    listed: pairs,
                },
            }
        })
    }
}

impl Diagram {
    /// How many answers are materialized bodies (the empty id stands for composition).
    pub fn bodies(&self) -> usize {
        self.answers.iter().filter(|a| !a.is_empty()).count()
    }

    /// Follow the diagram with a class index per dimension (`None` for a key the dimension
    /// does not list); returns the answer id, `None` when the table cannot answer.
    pub fn walk(&self, class_of: impl Fn(usize) -> Option<u32>) -> Option<&str> {
        let mut r = self.root;
        let mut steps = 0;
        while r >= 0 {
            let n = self.nodes.get(r as usize)?;
            r = n.child(class_of(n.d as usize)?);
            steps += 1;
            if steps > self.dims.len() {
                return None; // a well-formed diagram tests each dimension at most once
            }
        }
        self.answers.get((-r - 1) as usize).map(String::as_str)
    }

    /// Renumber nodes and answers by how often they are referenced, most first, so the
    /// commonest references are the shortest numbers in the serialized table.
    pub fn renumber(&mut self) {
        let mut node_refs = vec![0usize; self.nodes.len()];
        let mut answer_refs = vec![0usize; self.answers.len()];
        let mut count = |r: i64| {
            if r >= 0 {
                node_refs[r as usize] += 1;
            } else {
                answer_refs[(-r - 1) as usize] += 1;
            }
        };
        count(self.root);
        for n in &self.nodes {
            n.refs().into_iter().for_each(&mut count);
        }
        let order = |refs: &[usize]| -> Vec<usize> {
            let mut o: Vec<usize> = (0..refs.len()).collect();
            o.sort_by_key(|&i| (std::cmp::Reverse(refs[i]), i));
            let mut new = vec![0; refs.len()];
            for (to, &from) in o.iter().enumerate() {
                new[from] = to;
            }
            new
        };
        let nn = order(&node_refs);
        let na = order(&answer_refs);
        let map = |r: i64| {
            if r >= 0 {
                nn[r as usize] as i64
            } else {
                -(na[(-r - 1) as usize] as i64) - 1
            }
        };
        let mut nodes = vec![
            Node {
                d: 0,
                edges: Edges::Runs(vec![])
            };
            self.nodes.len()
        ];
        for (i, mut n) in std::mem::take(&mut self.nodes).into_iter().enumerate() {
            n.map_refs(map);
            nodes[nn[i]] = n;
        }
        self.nodes = nodes;
        let mut answers = vec![String::new(); self.answers.len()];
        for (i, a) in std::mem::take(&mut self.answers).into_iter().enumerate() {
            answers[na[i]] = a;
        }
        self.answers = answers;
        self.root = map(self.root);
    }
}

/// The file of an answer body.
pub fn answer_path(id: &str) -> String {
    format!("answers/{id}.json")
}

/// Hex digits of a body's blake3 that name its answer file (80 bits: no collision in any
/// registry's lifetime; the manifest keeps the full hash).
pub const ANSWER_ID_LEN: usize = 20;

/// One query dimension and the data its classes are computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dim {
    /// Query parameter name (`kibana.version`, `discovery`, …).
    pub name: String,
    pub kind: DimKind,
    /// Every class key of this dimension; a class's index here is what nodes test.
    pub classes: Vec<String>,
    /// Versions: the sorted boundary points. Sets: the members that occur in the catalog.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub values: Vec<String>,
    /// Discovery: the distinct field sets / dataset sets packages declare.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sets: Vec<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sets2: Vec<Vec<String>>,
    /// Only some classes are materialized: the last class takes every key not listed, and
    /// leads to composition.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub open: bool,
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
    /// One of the listed `classes`; any other value is `*`, absent is `-`.
    Name,
    /// A comma-separated set, reduced to the members in `values` (absent is `-`).
    Set,
    /// The repeatable discovery filter, reduced to which of `sets`/`sets2` pass.
    Discovery,
}
