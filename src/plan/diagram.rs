//! The reduced ordered decision diagram behind every query endpoint.
//!
//! The query space is a product of dimensions (one per parameter), each cut into finitely many
//! value classes. A dimension either *filters* the candidate set (a per-package predicate: the
//! answer only depends on the intersection of the predicates) or is a *mode* that only the final
//! selection reads (`all`, `category`, …). Walking the dimensions in a fixed order, the state
//! after fixing a prefix is (candidate set, modes so far); equal states have equal sub-diagrams,
//! so they are built once (memo), and a node whose classes all lead to the same child is left
//! out (reduction). Identical nodes are shared (hash-consing). Leaves are answer ids.

use std::collections::HashMap;

use super::routes::{Dim, Node};

/// A set of entries (by index), as a bitset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Set(Vec<u64>);

impl Set {
    pub fn full(n: usize) -> Set {
        let mut v = vec![u64::MAX; n.div_ceil(64)];
        if !n.is_multiple_of(64) {
            if let Some(last) = v.last_mut() {
                *last = (1u64 << (n % 64)) - 1;
            }
        }
        Set(v)
    }

    pub fn empty(n: usize) -> Set {
        Set(vec![0; n.div_ceil(64)])
    }

    pub fn from_fn(n: usize, f: impl Fn(usize) -> bool) -> Set {
        let mut s = Set::empty(n);
        for i in 0..n {
            if f(i) {
                s.0[i / 64] |= 1 << (i % 64);
            }
        }
        s
    }

    pub fn and(&self, o: &Set) -> Set {
        Set(self.0.iter().zip(&o.0).map(|(a, b)| a & b).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }

    /// Members in increasing order.
    pub fn members(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for (wi, w) in self.0.iter().enumerate() {
            let mut w = *w;
            while w != 0 {
                let b = w.trailing_zeros() as usize;
                out.push(wi * 64 + b);
                w &= w - 1;
            }
        }
        out
    }
}

/// One value class of a dimension: its key (what the router computes from a query) and the
/// query fragment that stands for it (`None` = parameter absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub key: String,
    pub value: Option<String>,
}

/// A dimension as the builder sees it.
pub struct BuildDim {
    pub dim: Dim,
    pub classes: Vec<Class>,
    /// Mode dimensions don't filter: their class is handed to the leaf.
    pub mode: bool,
}

/// The mode classes fixed so far, by dimension index (`None` = not yet fixed).
pub type Modes = Vec<Option<usize>>;

/// What the builder needs from the endpoint.
pub trait Space {
    /// Entries passing dimension `dim` with class `class`, given the modes fixed so far
    /// (a mode may change which predicates apply, e.g. legacy `experimental=true`).
    fn predicate(&self, dim: usize, class: usize, modes: &Modes) -> Set;
    /// The answer for a candidate set and all modes fixed: returns an answer id.
    fn leaf(&mut self, set: &Set, modes: &Modes) -> usize;
    /// The answer id of an empty candidate set, whatever the modes.
    fn empty_leaf(&mut self) -> usize;
    /// The answer id that stands for "not materialized" (the query is composed instead).
    fn miss(&mut self) -> usize;
    /// Whether class `class` of dimension `dim` gets materialized answers, given the modes
    /// fixed so far; `false` leads to [`Space::miss`].
    fn materialized(&self, _dim: usize, _class: usize, _modes: &Modes) -> bool {
        true
    }
}

pub struct Builder<'a, S: Space> {
    dims: &'a [BuildDim],
    space: &'a mut S,
    n: usize,
    memo: HashMap<(usize, Set, Modes), i64>,
    nodes: Vec<Node>,
    shared: HashMap<Node, i64>,
    predicates: HashMap<(usize, usize, Modes), Set>,
}

fn leaf_ref(answer: usize) -> i64 {
    -(answer as i64) - 1
}

impl<'a, S: Space> Builder<'a, S> {
    pub fn new(dims: &'a [BuildDim], space: &'a mut S, n: usize) -> Self {
        Builder {
            dims,
            space,
            n,
            memo: HashMap::new(),
            nodes: Vec::new(),
            shared: HashMap::new(),
            predicates: HashMap::new(),
        }
    }

    /// Build from the full candidate set; returns (root, nodes).
    pub fn build(mut self) -> (i64, Vec<Node>) {
        let modes = vec![None; self.dims.len()];
        let root = self.node(0, Set::full(self.n), modes);
        (root, self.nodes)
    }

    /// Modes that can change a predicate are part of its cache key; others are not.
    fn predicate(&mut self, dim: usize, class: usize, modes: &Modes) -> Set {
        let key = (dim, class, modes.clone());
        if let Some(s) = self.predicates.get(&key) {
            return s.clone();
        }
        let s = self.space.predicate(dim, class, modes);
        self.predicates.insert(key, s.clone());
        s
    }

    fn node(&mut self, level: usize, set: Set, modes: Modes) -> i64 {
        if set.is_empty() {
            return leaf_ref(self.space.empty_leaf());
        }
        if level == self.dims.len() {
            return leaf_ref(self.space.leaf(&set, &modes));
        }
        let key = (level, set, modes);
        if let Some(r) = self.memo.get(&key) {
            return *r;
        }
        let (level, set, modes) = key.clone();
        let d = &self.dims[level];
        let mut children: Vec<i64> = Vec::with_capacity(d.classes.len());
        let open = d.dim.open.then(|| d.classes.len() - 1);
        for (ci, class) in d.classes.iter().enumerate() {
            let child = if open == Some(ci) || !self.space.materialized(level, ci, &modes) {
                leaf_ref(self.space.miss())
            } else if d.mode {
                let mut m = modes.clone();
                m[level] = Some(ci);
                self.node(level + 1, set.clone(), m)
            } else {
                let p = self.predicate(level, ci, &modes);
                self.node(level + 1, set.and(&p), modes.clone())
            };
            let _ = class;
            children.push(child);
        }
        let first = children[0];
        let r = if children.iter().all(|c| *c == first) {
            first
        } else {
            let node = Node::from_children(level as u16, &children);
            match self.shared.get(&node) {
                Some(r) => *r,
                None => {
                    let r = self.nodes.len() as i64;
                    self.nodes.push(node.clone());
                    self.shared.insert(node, r);
                    r
                }
            }
        };
        self.memo.insert(key, r);
        r
    }
}
