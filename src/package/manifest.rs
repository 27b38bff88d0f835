//! The typed `manifest.yml` of a package and of each of its data streams, read the way EPR reads
//! them: Go's YAML parser feeds go-ucfg with `PathSep(".")`, which expands dotted keys at every
//! level (`owner.github: x` is `owner: {github: x}`) and converts scalars where a field wants
//! another type. Reading happens in two steps:
//!
//! 1. [`parse_yaml`] turns the text into a [`Node`] tree (string keys only, dotted keys
//!    expanded, YAML merge keys applied, a repeated key keeps its last value as Go's parser does);
//! 2. [`from_node`] fills the serde structs below through a deserializer with go-ucfg's
//!    conversions: a number or boolean is accepted where a string is wanted (`version: 1.0` reads
//!    as `"1"`, Go's `%v`), a string like `"true"` where a boolean is wanted, a single string where
//!    a list is wanted (`categories: web`), and `null` as "not set". Anything else of the wrong
//!    shape is an error naming the key path (`categories: expected a list, found a number`).
//!
//! Step 1 runs within limits ([`MAX_YAML_BYTES`], [`MAX_NODES`], [`MAX_DEPTH`]), so hostile
//! text (alias bombs, deep nesting, huge documents) fails fast with an error instead of eating
//! memory, time or the stack.
//!
//! Values EPR keeps untyped (a var `default`, index template settings) stay [`Node`]s and are
//! turned into JSON with Go's map-key order by [`Node::to_json`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::Value;

use super::gojson::go_format_v;

// ---------------------------------------------------------------------------------------------
// Generic YAML tree
// ---------------------------------------------------------------------------------------------

/// A YAML value after dotted-key expansion. Maps are sorted by key, which is the order Go's
/// encoder writes a map in, and which makes expansion deterministic.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// Negative integers (go-ucfg keeps them as int64).
    Int(i64),
    /// Zero and positive integers.
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(BTreeMap<String, Node>),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Uint(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
        }
    }

    /// The JSON EPR writes for this value when it sits in an untyped Go field: maps with sorted
    /// keys, and an empty map as `null` (go-ucfg turns an empty object into a nil interface).
    /// Fails on a NaN or infinite float, which Go's encoder refuses too.
    pub fn to_json(&self) -> Result<Value, String> {
        Ok(match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Uint(u) => Value::from(*u),
            Node::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => return Err(format!("{} cannot be written as JSON", go_format_v(*f))),
            },
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => {
                Value::Array(items.iter().map(Node::to_json).collect::<Result<_, _>>()?)
            }
            Node::Map(m) if m.is_empty() => Value::Null,
            Node::Map(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    out.insert(k.clone(), v.to_json()?);
                }
                Value::Object(out)
            }
        })
    }
}

/// Largest YAML text parsed into a tree. The parser holds every event of a document in memory
/// (some 50 times the text for tiny values), so size is checked first; the largest manifests
/// and fields files of real packages are a few hundred KiB.
pub const MAX_YAML_BYTES: usize = 4 << 20;
/// Most values one document may hold once aliases are expanded: stops billion laughs and one
/// big anchor referenced many times (the YAML parser's own repetition limit lets 70 KiB of text
/// expand to 200 million values). Real manifests hold a few thousand.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting once dotted keys are expanded (`a.a.a…: 1` nests as deep as it has parts,
/// and code that walks the tree, dropping it included, recurses). The YAML parser itself
/// refuses more than 128 levels of YAML nesting.
pub const MAX_DEPTH: usize = 256;
/// Deepest `[`/`{` nesting looked at: the scanner of libyaml is quadratic in it (100,000 `[`
/// take minutes before the parser's recursion limit is reached). Counted on the raw text, so a
/// bracket inside a string counts too; only absurd text comes near.
const MAX_FLOW_DEPTH: usize = 1024;

/// The limits every YAML text eprgen parses is held to ([`MAX_YAML_BYTES`] and the `[`/`{`
/// nesting the scanner would choke on), checked before any parser sees it. Returns the text
/// without a leading UTF-8 byte order mark, which Go's YAML parser skips too.
pub fn check_yaml(text: &str) -> Result<&str, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.len() > MAX_YAML_BYTES {
        return Err(format!(
            "document is {} bytes, over the limit of {MAX_YAML_BYTES} bytes for YAML",
            text.len()
        ));
    }
    let mut depth = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(format!(
                        "more than {MAX_FLOW_DEPTH} nested `[` or `{{` (recursion limit exceeded)"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(text)
}

/// Parse YAML text (the first document, as Go's `yaml.Unmarshal` does) into a [`Node`], within
/// [`MAX_YAML_BYTES`], [`MAX_NODES`] and [`MAX_DEPTH`].
pub fn parse_yaml(text: &str) -> Result<Node, String> {
    let text = check_yaml(text)?;
    let Some(doc) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return Ok(Node::Null);
    };
    let budget = Budget::new();
    NodeSeed {
        budget: &budget,
        src: Some(text),
    }
    .deserialize(doc)
    .map(|(n, _)| n)
    .map_err(|e| e.to_string())
}

/// Put `val` at the dotted path `key` inside `map`, merging maps as go-ucfg does. A null never
/// replaces a value; two different non-map values for one path are an error (go-ucfg's answer
/// depends on Go's random map order there, so eprgen refuses the ambiguity).
fn insert_dotted(map: &mut BTreeMap<String, Node>, key: &str, val: Node) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = map;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let slot = cur.entry((*part).to_string()).or_insert(Node::Null);
        if matches!(slot, Node::Null) {
            *slot = Node::Map(BTreeMap::new());
        }
        match slot {
            Node::Map(m) => cur = m,
            _ => {
                return Err(format!(
                    "key `{key}` conflicts with the value of `{}`",
                    parts[..=i].join(".")
                ))
            }
        }
    }
    let last = parts[parts.len() - 1];
    match cur.get_mut(last) {
        None => {
            cur.insert(last.to_string(), val);
            Ok(())
        }
        Some(old) => merge_into(old, val).map_err(|at| {
            let at = if at.is_empty() {
                String::new()
            } else {
                format!(".{at}")
            };
            format!("duplicate key `{key}{at}`")
        }),
    }
}

/// Merge `val` into `old`; on a conflict, the relative path of the conflicting key.
fn merge_into(old: &mut Node, val: Node) -> Result<(), String> {
    match (old, val) {
        (_, Node::Null) => Ok(()),
        (old @ Node::Null, val) => {
            *old = val;
            Ok(())
        }
        (Node::Map(o), Node::Map(v)) => {
            for (k, v) in v {
                match o.get_mut(&k) {
                    None => {
                        o.insert(k, v);
                    }
                    Some(slot) => merge_into(slot, v).map_err(|at| {
                        if at.is_empty() {
                            k
                        } else {
                            format!("{k}.{at}")
                        }
                    })?,
                }
            }
            Ok(())
        }
        _ => Err(String::new()),
    }
}

/// How many more values a document may make (see [`MAX_NODES`]).
struct Budget {
    nodes: std::cell::Cell<usize>,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            nodes: std::cell::Cell::new(MAX_NODES),
        }
    }

    fn take<E: de::Error>(&self, n: usize) -> Result<(), E> {
        let left = self.nodes.get();
        if n > left {
            return Err(E::custom(format!(
                "more than {MAX_NODES} values once aliases are expanded"
            )));
        }
        self.nodes.set(left - n);
        Ok(())
    }
}

fn too_deep<E: de::Error>() -> E {
    E::custom(format!(
        "nested more than {MAX_DEPTH} levels deep once dotted keys are expanded"
    ))
}

/// Whether `v`, a scalar's text lent by the YAML parser, is a plain scalar of `src`: it lies
/// inside `src` as written, not between quotes, and has no tag (`!!str yes`) before it.
/// serde_yaml_ng has already resolved the plain scalars YAML 1.2 reads as null, a boolean or a
/// number; the others come here as strings, and the quoted ones too, with the same text.
fn plain_scalar(src: &str, v: &str) -> bool {
    // Addresses only: is `v` a slice of `src`, and where.
    let base = src.as_ptr() as usize;
    let at = v.as_ptr() as usize;
    if at < base || at + v.len() > base + src.len() {
        return false;
    }
    let bytes = src.as_bytes();
    let (start, end) = (at - base, at - base + v.len());
    // A quoted scalar is lent without its quotes; a plain scalar can never start right after a
    // quote character.
    if let Some(&q @ (b'\'' | b'"')) = start.checked_sub(1).map(|i| &bytes[i]) {
        if bytes.get(end) == Some(&q) {
            return false;
        }
    }
    // Properties before the scalar: an anchor (`&a`) is fine, a tag (`!!str`, `!<...>`) means
    // the scalar is not resolved by its text. Each is a word followed by spaces; in flow style
    // the first may follow `[`, `{` or `,` directly. The look-back is bounded, so that a scalar
    // read again and again through aliases costs little.
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let floor = start.saturating_sub(PROPERTY_LOOK_BACK);
    let mut i = start;
    loop {
        while i > floor && space(bytes[i - 1]) {
            i -= 1;
        }
        let end = i;
        while i > floor && !space(bytes[i - 1]) && !matches!(bytes[i - 1], b'[' | b'{' | b',') {
            i -= 1;
        }
        match bytes[i..end].first() {
            Some(b'!') => return false,
            Some(b'&') if i > floor && space(bytes[i - 1]) => continue,
            _ => return true,
        }
    }
}

/// How far before a scalar [`plain_scalar`] looks for its tag: YAML puts none of this length
/// between a tag and its scalar in any real file.
const PROPERTY_LOOK_BACK: usize = 256;

/// Reads one value as a [`Node`] and its height (0 for a scalar), within a [`Budget`].
#[derive(Clone, Copy)]
struct NodeSeed<'b> {
    budget: &'b Budget,
    /// The YAML text the values are read from, when they are: its plain scalars are then
    /// resolved as Go's yaml.v2 resolves them (YAML 1.1, see [`plain_scalar`]).
    src: Option<&'b str>,
}

impl NodeSeed<'_> {
    /// The same, for values whose text is taken as it is: map keys and custom-tagged values.
    fn verbatim(self) -> Self {
        NodeSeed { src: None, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = (Node, usize);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(Node, usize), D::Error> {
        d.deserialize_any(NodeVisitor(self))
    }
}

struct NodeVisitor<'b>(NodeSeed<'b>);

impl NodeVisitor<'_> {
    fn scalar<E: de::Error>(&self, n: Node) -> Result<(Node, usize), E> {
        self.0.budget.take(1)?;
        Ok((n, 0))
    }
}

impl<'de> Visitor<'de> for NodeVisitor<'_> {
    type Value = (Node, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(Node, usize), E> {
        self.scalar(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(Node, usize), E> {
        self.scalar(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(Node, usize), D::Error> {
        self.0.deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(Node, usize), E> {
        self.scalar(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(Node, usize), E> {
        self.scalar(if v >= 0 {
            Node::Uint(v as u64)
        } else {
            Node::Int(v)
        })
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(Node, usize), E> {
        self.scalar(Node::Uint(v))
    }
    // Integers past 64 bits: Go's YAML parser falls back to a float64 for them.
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(Node, usize), E> {
        self.scalar(Node::Float(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(Node, usize), E> {
        self.scalar(Node::Float(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(Node, usize), E> {
        self.scalar(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(Node, usize), E> {
        self.scalar(Node::Str(v.to_string()))
    }
    // serde_yaml_ng lends a scalar's text straight from the document when it is the text as
    // written (a single-line plain or quoted scalar): only these can be plain scalars that YAML
    // 1.1 resolves to something else than a string. (A multi-line plain scalar is folded, so
    // it holds a space or a line break, which no YAML 1.1 type allows.)
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(Node, usize), E> {
        match self.0.src {
            Some(src) if plain_scalar(src, v) => self.scalar(super::yaml11::resolve_plain(v)),
            _ => self.visit_str(v),
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(Node, usize), E> {
        self.scalar(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(Node, usize), A::Error> {
        self.0.budget.take(1)?;
        let mut out = Vec::new();
        let mut height = 1;
        while let Some((v, h)) = seq.next_element_seed(self.0)? {
            height = height.max(h + 1);
            if height > MAX_DEPTH {
                return Err(too_deep());
            }
            out.push(v);
        }
        Ok((Node::Seq(out), height))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(Node, usize), A::Error> {
        self.0.budget.take(1)?;
        // Entries as written, with their heights; a repeated key keeps its last value (Go's
        // YAML parser, non-strict).
        let mut raw: Vec<(String, Node, usize)> = Vec::new();
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut put =
            |raw: &mut Vec<(String, Node, usize)>, k: String, v: Node, h: usize| match seen.get(&k)
            {
                Some(&i) => raw[i] = (k, v, h),
                None => {
                    seen.insert(k.clone(), raw.len());
                    raw.push((k, v, h));
                }
            };
        while let Some((k, _)) = map.next_key_seed(self.0.verbatim())? {
            let (v, h) = map.next_value_seed(self.0)?;
            let k = match k {
                Node::Str(s) => s,
                other => {
                    return Err(de::Error::custom(format!(
                        "map key {} is not a string",
                        other.kind()
                    )));
                }
            };
            if k == "<<" {
                // YAML merge key: the merged maps' keys, the first map winning in a list. An
                // entry of a merged map is one level below it (two below the list).
                let (maps, below) = match v {
                    Node::Map(m) => (vec![m], 1),
                    Node::Seq(items) => (
                        items
                            .into_iter()
                            .rev()
                            .map(|i| match i {
                                Node::Map(m) => Ok(m),
                                _ => Err(de::Error::custom("a `<<` merge list may hold only maps")),
                            })
                            .collect::<Result<_, _>>()?,
                        2,
                    ),
                    _ => {
                        return Err(de::Error::custom(
                            "a `<<` merge value must be a map or a list of maps",
                        ))
                    }
                };
                for m in maps {
                    for (mk, mv) in m {
                        put(&mut raw, mk, mv, h.saturating_sub(below));
                    }
                }
                continue;
            }
            put(&mut raw, k, v, h);
        }
        let mut out = BTreeMap::new();
        let mut height = 1;
        for (k, v, h) in raw {
            // `a.b.c: v` puts v three levels below this map, inside two new maps.
            let parts = k.split('.').count();
            height = height.max(parts + h);
            if height > MAX_DEPTH {
                return Err(too_deep());
            }
            self.0.budget.take(parts - 1)?;
            insert_dotted(&mut out, &k, v).map_err(de::Error::custom)?;
        }
        Ok((Node::Map(out), height))
    }

    // A value with a custom YAML tag (`!foo x`): Go's parser keeps the value, so does eprgen.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(Node, usize), A::Error> {
        let (_tag, variant) = data.variant::<String>()?;
        de::VariantAccess::newtype_variant_seed(variant, self.0.verbatim())
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let budget = Budget::new();
        NodeSeed {
            budget: &budget,
            src: None,
        }
        .deserialize(d)
        .map(|(n, _)| n)
    }
}

/// A map kept untyped (index template settings and mappings): must be a map when present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMap(pub BTreeMap<String, Node>);

impl<'de> Deserialize<'de> for NodeMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeMap, D::Error> {
        // deserialize_map refuses anything but a map (or null) with the key path.
        let budget = Budget::new();
        let seed = NodeSeed {
            budget: &budget,
            src: None,
        };
        match d.deserialize_map(NodeVisitor(seed))?.0 {
            Node::Map(m) => Ok(NodeMap(m)),
            _ => Ok(NodeMap::default()),
        }
    }
}

impl NodeMap {
    /// JSON of a Go `map[string]interface{}` filled by go-ucfg: entries whose value comes out as
    /// nil (null, or an empty map) are not set at all at this top level.
    pub fn to_json(&self) -> Result<serde_json::Map<String, Value>, String> {
        let mut out = serde_json::Map::new();
        for (k, v) in &self.0 {
            let j = v.to_json().map_err(|e| format!("{k}: {e}"))?;
            if !j.is_null() {
                out.insert(k.clone(), j);
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// go-ucfg style deserializer over a Node
// ---------------------------------------------------------------------------------------------

/// A manifest that does not fit the expected types: the dotted key path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub path: Option<String>,
    pub msg: String,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) if !p.is_empty() => write!(f, "{p}: {}", self.msg),
            _ => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for TypeError {}

impl de::Error for TypeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TypeError {
            path: None,
            msg: msg.to_string(),
        }
    }
}

/// Fill a typed struct from a node with go-ucfg's conversions.
pub fn from_node<'a, T: Deserialize<'a>>(node: &'a Node) -> Result<T, TypeError> {
    T::deserialize(NodeDe {
        node,
        path: String::new(),
    })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    fn err(&self, msg: String) -> TypeError {
        TypeError {
            path: Some(self.path.clone()),
            msg,
        }
    }

    /// Attach this node's path to an error raised by a visitor at this level.
    fn at<T>(&self, r: Result<T, TypeError>) -> Result<T, TypeError> {
        r.map_err(|mut e| {
            if e.path.is_none() {
                e.path = Some(self.path.clone());
            }
            e
        })
    }
}

/// go-ucfg's string-to-bool, Go's `strconv.ParseBool`. YAML 1.1's words (`multiple: yes`) are
/// booleans already when plain ([`parse_yaml`]); quoted (`'yes'`), go-ucfg refuses them.
fn parse_bool_like(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    path: String,
    idx: usize,
}

impl<'de, 'a: 'de> SeqAccess<'de> for SeqDe<'a> {
    type Error = TypeError;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TypeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = if self.path.is_empty() {
            self.idx.to_string()
        } else {
            format!("{}.{}", self.path, self.idx)
        };
        self.idx += 1;
        seed.deserialize(NodeDe { node, path }).map(Some)
    }
}

struct MapDe<'a> {
    entries: std::collections::btree_map::Iter<'a, String, Node>,
    value: Option<(&'a String, &'a Node)>,
    path: String,
}

impl<'de, 'a: 'de> MapAccess<'de> for MapDe<'a> {
    type Error = TypeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TypeError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((k, v));
        seed.deserialize(k.as_str().into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TypeError> {
        let (k, node) = self.value.take().expect("next_value after next_key");
        let path = if self.path.is_empty() {
            k.clone()
        } else {
            format!("{}.{k}", self.path)
        };
        seed.deserialize(NodeDe { node, path })
    }
}

static EMPTY: BTreeMap<String, Node> = BTreeMap::new();

impl<'de, 'a: 'de> Deserializer<'de> for NodeDe<'a> {
    type Error = TypeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        let r = match self.node {
            Node::Null => v.visit_unit(),
            Node::Bool(b) => v.visit_bool(*b),
            Node::Int(i) => v.visit_i64(*i),
            Node::Uint(u) => v.visit_u64(*u),
            Node::Float(f) => v.visit_f64(*f),
            Node::Str(s) => v.visit_str(s),
            Node::Seq(_) => return self.deserialize_seq(v),
            Node::Map(m) => v.visit_map(MapDe {
                entries: m.iter(),
                value: None,
                path: self.path.clone(),
            }),
        };
        self.at(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        let b = match self.node {
            Node::Bool(b) => *b,
            // A null leaves the Go field at its zero value.
            Node::Null => false,
            Node::Str(s) => match parse_bool_like(s) {
                Some(b) => b,
                None => return Err(self.err(format!("expected a boolean, found the string {s:?}"))),
            },
            other => return Err(self.err(format!("expected a boolean, found {}", other.kind()))),
        };
        self.at(v.visit_bool(b))
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        let s = match self.node {
            Node::Str(s) => return self.at(v.visit_str(s)),
            Node::Null => String::new(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Uint(u) => u.to_string(),
            Node::Float(f) => go_format_v(*f),
            other => return Err(self.err(format!("expected a string, found {}", other.kind()))),
        };
        self.at(v.visit_string(s))
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        match self.node {
            Node::Null => self.at(v.visit_none()),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        let items: &'a [Node] = match self.node {
            Node::Seq(items) => items,
            Node::Null => &[],
            // go-ucfg reads a single value where a list is expected as a list of one.
            Node::Str(_) => std::slice::from_ref(self.node),
            other => return Err(self.err(format!("expected a list, found {}", other.kind()))),
        };
        let path = self.path.clone();
        self.at(v.visit_seq(SeqDe {
            items: items.iter(),
            path,
            idx: 0,
        }))
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        let m: &'a BTreeMap<String, Node> = match self.node {
            Node::Map(m) => m,
            Node::Null => &EMPTY,
            other => return Err(self.err(format!("expected a map, found {}", other.kind()))),
        };
        let path = self.path.clone();
        self.at(v.visit_map(MapDe {
            entries: m.iter(),
            value: None,
            path,
        }))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, TypeError> {
        self.deserialize_map(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, TypeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, TypeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct enum identifier
    }
}

// ---------------------------------------------------------------------------------------------
// Package manifest
// ---------------------------------------------------------------------------------------------

/// `manifest.yml` at the root of a package, with the fields EPR reads. After [`super::load`],
/// the defaults EPR applies are filled in (type, license, release, image paths, `multiple`...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PackageManifest {
    pub format_version: String,
    pub name: String,
    pub title: Option<String>,
    pub version: String,
    pub release: String,
    pub source: Option<Source>,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub icons: Vec<Image>,
    pub policy_templates_behavior: String,
    pub conditions: Option<Conditions>,
    pub owner: Option<Owner>,
    /// `None` when the key is absent or null.
    pub categories: Option<Vec<String>>,
    pub discovery: Option<Discovery>,
    pub deprecated: Option<Deprecated>,
    pub requires: Option<Requirements>,
    pub group: String,
    pub license: String,
    pub screenshots: Vec<Image>,
    pub policy_templates: Vec<PolicyTemplate>,
    pub vars: Vec<Variable>,
    pub elasticsearch: Option<PackageElasticsearch>,
    pub agent: Option<PackageAgent>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Source {
    pub license: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Conditions {
    pub kibana: Option<VersionCondition>,
    pub elastic: Option<ElasticConditions>,
    pub agent: Option<VersionCondition>,
}

/// `conditions.kibana` / `conditions.agent`: a version constraint string (not checked here).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct VersionCondition {
    pub version: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ElasticConditions {
    pub subscription: String,
    pub capabilities: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Owner {
    #[serde(rename = "type")]
    pub kind: String,
    pub github: String,
}

/// An icon or screenshot. `path` is the URL path EPR computes from `src`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Image {
    pub src: String,
    pub path: String,
    pub title: String,
    pub size: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PolicyTemplate {
    pub name: String,
    pub title: String,
    pub description: String,
    pub data_streams: Vec<String>,
    pub inputs: Vec<Input>,
    pub multiple: Option<bool>,
    pub icons: Vec<Image>,
    /// `None` when the key is absent or null; EPR's /categories treats that apart from `[]`.
    pub categories: Option<Vec<String>>,
    pub screenshots: Vec<Image>,
    pub readme: Option<String>,
    pub deployment_modes: Option<DeploymentModes>,
    /// Input packages: the data stream type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Input packages: the input type.
    pub input: String,
    pub ingestion_method: String,
    pub template_path: String,
    pub deprecated: Option<Deprecated>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeploymentModes {
    pub default: Option<DefaultDeploymentMode>,
    pub agentless: Option<AgentlessDeploymentMode>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DefaultDeploymentMode {
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AgentlessDeploymentMode {
    pub enabled: bool,
    pub is_default: Option<bool>,
    pub release: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Input {
    #[serde(rename = "type")]
    pub kind: String,
    pub package: String,
    pub vars: Vec<Variable>,
    pub title: String,
    pub description: String,
    pub streams: Vec<Stream>,
    pub template_path: String,
    pub input_group: String,
    pub deployment_modes: Vec<String>,
    pub deprecated: Option<Deprecated>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Stream {
    pub input: String,
    pub package: String,
    pub vars: Vec<Variable>,
    pub data_stream: String,
    pub template_path: String,
    pub title: String,
    pub description: String,
    pub enabled: Option<bool>,
    pub ingestion_method: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub description: String,
    pub multi: bool,
    pub required: bool,
    pub show_user: bool,
    /// Any YAML value; `None` when absent or null.
    pub default: Option<Node>,
    pub deprecated: Option<Deprecated>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Deprecated {
    pub since: String,
    pub description: String,
    pub replaced_by: Option<ReplacedBy>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReplacedBy {
    pub package: String,
    pub policy_template: String,
    pub input: String,
    pub data_stream: String,
    pub variable: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PackageElasticsearch {
    pub privileges: Option<ClusterPrivileges>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClusterPrivileges {
    pub cluster: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct PackageAgent {
    pub privileges: Option<RootPrivileges>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RootPrivileges {
    pub root: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Discovery {
    pub fields: Vec<Named>,
    pub datasets: Vec<Named>,
}

/// A discovery field or dataset: `{name: ...}`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Named {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Requirements {
    pub input: Vec<Requirement>,
    pub content: Vec<Requirement>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Requirement {
    pub package: String,
    pub version: String,
}

// ---------------------------------------------------------------------------------------------
// Data stream manifest
// ---------------------------------------------------------------------------------------------

/// `data_stream/<dir>/manifest.yml`. After loading, `dataset`, `release`, stream defaults and
/// the default ingest pipeline are filled in as EPR does.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataStreamManifest {
    #[serde(rename = "type")]
    pub kind: String,
    pub dataset: String,
    pub hidden: bool,
    pub ilm_policy: String,
    pub dataset_is_prefix: bool,
    pub title: String,
    pub release: String,
    /// Deprecated in the spec in favour of `elasticsearch.ingest_pipeline.name`.
    pub ingest_pipeline: String,
    pub streams: Vec<Stream>,
    /// EPR sets these from the package name and the folder, but a manifest key overrides them
    /// (its Go struct reads untagged fields by their lowercased name).
    pub package: Option<String>,
    pub path: Option<String>,
    pub elasticsearch: Option<DataStreamElasticsearch>,
    pub agent: Option<PackageAgent>,
    pub deprecated: Option<Deprecated>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DataStreamElasticsearch {
    pub index_template: IndexTemplate,
    pub ingest_pipeline: IngestPipelineRef,
    pub privileges: Option<IndexPrivileges>,
}

/// Written out by EPR as the flat keys `index_template.settings` / `index_template.mappings`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct IndexTemplate {
    pub settings: NodeMap,
    pub mappings: NodeMap,
}

/// Written out by EPR as the flat key `ingest_pipeline.name`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct IngestPipelineRef {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct IndexPrivileges {
    pub indices: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(yaml: &str) -> Result<PackageManifest, String> {
        let n = parse_yaml(yaml)?;
        from_node(&n).map_err(|e| e.to_string())
    }

    #[test]
    fn dotted_keys_expand_at_every_level() {
        let n = parse_yaml("owner.github: x\nowner:\n  type: elastic\na:\n  - b.c: 1\n").unwrap();
        let want = parse_yaml("owner: {github: x, type: elastic}\na: [{b: {c: 1}}]\n").unwrap();
        assert_eq!(n, want);
        let m =
            pkg("conditions:\n  kibana.version: '^8.0.0'\n  elastic.capabilities: [a]\n").unwrap();
        let c = m.conditions.unwrap();
        assert_eq!(c.kibana.unwrap().version, "^8.0.0");
        assert_eq!(c.elastic.unwrap().capabilities, Some(vec!["a".to_string()]));
        // Inside untyped values too.
        let n = parse_yaml("default: {x.y: 1}\n").unwrap();
        assert_eq!(n, parse_yaml("default: {x: {y: 1}}\n").unwrap());
    }

    #[test]
    fn conflicting_dotted_keys_are_refused() {
        let e = parse_yaml("a.b: 1\na:\n  b: 2\n").unwrap_err();
        assert!(e.contains("duplicate key `a.b`"), "{e}");
        let e = parse_yaml("a: 1\na.b: 2\n").unwrap_err();
        assert!(e.contains("conflicts"), "{e}");
        // A null never overrides, and a repeated plain key keeps its last value.
        assert_eq!(
            parse_yaml("a.b: 1\na: ~\n").unwrap(),
            parse_yaml("a: {b: 1}").unwrap()
        );
        assert_eq!(
            parse_yaml("a: 1\na: 2\n").unwrap(),
            parse_yaml("a: 2").unwrap()
        );
    }

    #[test]
    fn merge_keys_and_tags() {
        let n = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(
            n,
            parse_yaml("base: {x: 1, y: 2}\nc: {x: 1, y: 3}\n").unwrap()
        );
        assert_eq!(
            parse_yaml("a: !foo bar").unwrap(),
            parse_yaml("a: bar").unwrap()
        );
    }

    #[test]
    fn hostile_yaml_fails_fast() {
        // One anchor of 20,000 values referenced 10,000 times: under the parser's repetition
        // limit, 200 million values once expanded.
        let fan = format!(
            "big: &b [{}]\nrefs: [{}]\n",
            vec!["x"; 20_000].join(","),
            vec!["*b"; 10_000].join(",")
        );
        let e = parse_yaml(&fan).unwrap_err();
        assert!(e.contains("more than 1000000 values"), "{e}");
        let e = parse_yaml(&format!("? a{}\n: 1\n", ".a".repeat(100_000))).unwrap_err();
        assert!(e.contains("nested more than 256 levels"), "{e}");
        let e =
            parse_yaml(&format!("a: {}{}", "[".repeat(50_000), "]".repeat(50_000))).unwrap_err();
        assert!(e.contains("recursion limit"), "{e}");
        let e = parse_yaml(&" ".repeat(MAX_YAML_BYTES + 1)).unwrap_err();
        assert!(e.contains("over the limit"), "{e}");
        // Within the limits, dotted keys and merges still expand.
        let n = parse_yaml(&format!("? a{}\n: 1\n", ".a".repeat(200))).unwrap();
        assert!(matches!(n, Node::Map(_)));
        assert!(parse_yaml("b: &b {x: 1}\nc: {<<: *b}\n").is_ok());
    }

    #[test]
    fn non_string_keys_are_refused() {
        assert!(parse_yaml("1: a").unwrap_err().contains("not a string"));
        assert!(parse_yaml("~: a").unwrap_err().contains("not a string"));
    }

    #[test]
    fn scalars_convert_like_ucfg() {
        let m = pkg("version: 1.0\ntitle: 12\nname: true\ndescription: 1e6\nformat_version: -3\n")
            .unwrap();
        assert_eq!(m.version, "1");
        assert_eq!(m.title.as_deref(), Some("12"));
        assert_eq!(m.name, "true");
        assert_eq!(m.description, "1e+06");
        assert_eq!(m.format_version, "-3");
        let m = pkg("categories: web\npolicy_templates:\n  - multiple: 'false'\n  - multiple: yes\n  - multiple: ~\n  - multiple: 'T'\n")
            .unwrap();
        assert_eq!(m.categories, Some(vec!["web".to_string()]));
        let mult: Vec<_> = m.policy_templates.iter().map(|p| p.multiple).collect();
        assert_eq!(mult, [Some(false), Some(true), None, Some(true)]);
        let m = pkg("categories: [5, true]\n").unwrap();
        assert_eq!(
            m.categories,
            Some(vec!["5".to_string(), "true".to_string()])
        );
    }

    #[test]
    fn wrong_types_are_errors_with_their_path() {
        assert_eq!(
            pkg("name: [a]").unwrap_err(),
            "name: expected a string, found a list"
        );
        assert_eq!(
            pkg("categories: 5").unwrap_err(),
            "categories: expected a list, found a number"
        );
        assert_eq!(
            pkg("categories: {a: b}").unwrap_err(),
            "categories: expected a list, found a map"
        );
        assert_eq!(
            pkg("policy_templates:\n  - inputs:\n      - vars:\n          - multi: 3\n")
                .unwrap_err(),
            "policy_templates.0.inputs.0.vars.0.multi: expected a boolean, found a number"
        );
        assert_eq!(
            pkg("policy_templates:\n  - multiple: maybe\n").unwrap_err(),
            "policy_templates.0.multiple: expected a boolean, found the string \"maybe\""
        );
        // Quoted, a YAML 1.1 word is a string, which go-ucfg's strconv.ParseBool refuses.
        assert_eq!(
            pkg("policy_templates:\n  - multiple: 'yes'\n").unwrap_err(),
            "policy_templates.0.multiple: expected a boolean, found the string \"yes\""
        );
        assert_eq!(
            pkg("owner: x").unwrap_err(),
            "owner: expected a map, found a string"
        );
        let n = parse_yaml("elasticsearch:\n  index_template.settings: 5\n").unwrap();
        let e = from_node::<DataStreamManifest>(&n).unwrap_err().to_string();
        assert_eq!(
            e,
            "elasticsearch.index_template.settings: expected a map, found a number"
        );
    }

    #[test]
    fn absent_null_and_empty_are_told_apart_where_epr_does() {
        let m = pkg(
            "policy_templates:\n  - name: a\n  - name: b\n    categories: []\n  - categories: ~\n",
        )
        .unwrap();
        let cats: Vec<_> = m
            .policy_templates
            .iter()
            .map(|p| p.categories.clone())
            .collect();
        assert_eq!(cats, [None, Some(vec![]), None]);
        let m = pkg("elasticsearch: {}\nsource: ~\n").unwrap();
        assert!(m.elasticsearch.is_some());
        assert!(m.source.is_none());
    }

    /// Plain scalars follow YAML 1.1 as Go's yaml.v2 reads them; quoted, block and tagged
    /// scalars, and map keys, keep their text.
    #[test]
    fn plain_scalars_follow_yaml_1_1() {
        let json = |y: &str| parse_yaml(y).unwrap().to_json().unwrap().to_string();
        let cases: &[(&str, &str)] = &[
            ("a: yes", r#"{"a":true}"#),
            ("a: on", r#"{"a":true}"#),
            ("a: Off", r#"{"a":false}"#),
            ("a: n", r#"{"a":false}"#),
            ("a: 0644", r#"{"a":420}"#),
            ("a: 1_000", r#"{"a":1000}"#),
            ("a: 0o644", r#"{"a":420}"#),
            ("a: 0X1F", r#"{"a":31}"#),
            ("a: 08", r#"{"a":8.0}"#),
            ("a: 1:30", r#"{"a":"1:30"}"#),
            ("a: ~", r#"{"a":null}"#),
            // Quoted, block and tagged scalars are strings.
            ("a: 'yes'", r#"{"a":"yes"}"#),
            ("a: \"on\"", r#"{"a":"on"}"#),
            ("a: '0644'", r#"{"a":"0644"}"#),
            ("a: \"1_000\"", r#"{"a":"1_000"}"#),
            ("a: |\n  yes\n", r#"{"a":"yes\n"}"#),
            ("a: >-\n  0644\n", r#"{"a":"0644"}"#),
            ("a: !!str yes", r#"{"a":"yes"}"#),
            ("a: &x !!str 0644\nb: *x", r#"{"a":"0644","b":"0644"}"#),
            ("a: !custom yes", r#"{"a":"yes"}"#),
            // Anchors, aliases, sequences and flow style.
            ("a: &x yes\nb: *x", r#"{"a":true,"b":true}"#),
            ("- yes\n- 'no'\n- NO\n- 0_644", r#"[true,"no",false,420]"#),
            (
                "{a: [on, \"on\", 'off', off], b: {c: y}}",
                r#"{"a":[true,"on","off",false],"b":{"c":true}}"#,
            ),
            ("[&a 1_0, *a, !!str 1_0]", r#"[10,10,"1_0"]"#),
            // Keys keep their text (a bool key would make go-ucfg refuse the file).
            ("yes: 1\n0644: on", r#"{"0644":true,"yes":1}"#),
            // Multi-line plain scalars are folded into text with a space.
            ("a: 1\n  2", r#"{"a":"1 2"}"#),
        ];
        for (y, want) in cases {
            assert_eq!(json(y), *want, "{y:?}");
        }
        // Typed fields see the resolved value, as go-ucfg does: a string field gets Go's %v.
        let m = pkg("version: 0644\ntitle: yes\ndescription: '0644'\n").unwrap();
        assert_eq!(m.version, "420");
        assert_eq!(m.title.as_deref(), Some("true"));
        assert_eq!(m.description, "0644");
        // A var default in a manifest.
        let m = pkg("vars:\n  - name: a\n    default: on\n  - name: b\n    default: 0644\n  - name: c\n    default: [1_000, 'yes']\n")
            .unwrap();
        let defaults: Vec<_> = m
            .vars
            .iter()
            .map(|v| v.default.as_ref().unwrap().to_json().unwrap().to_string())
            .collect();
        assert_eq!(defaults, ["true", "420", r#"[1000,"yes"]"#]);
    }

    #[test]
    fn untyped_values_to_json() {
        let n = parse_yaml("b: 1\na: [1.5, -2, {}, {z: ~}]\nc: {}\n").unwrap();
        assert_eq!(
            n.to_json().unwrap().to_string(),
            r#"{"a":[1.5,-2,null,{"z":null}],"b":1,"c":null}"#
        );
        let Node::Map(m) = n else { panic!() };
        let top = NodeMap(m).to_json().unwrap();
        assert_eq!(
            Value::Object(top).to_string(),
            r#"{"a":[1.5,-2,null,{"z":null}],"b":1}"#
        );
        assert!(parse_yaml("a: .inf").unwrap().to_json().is_err());
    }
}
