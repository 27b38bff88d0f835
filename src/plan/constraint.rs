//! Version constraints as EPR evaluates them (Masterminds semver v3), plus the boundary
//! versions the planner needs to split the infinite space of `kibana.version` and
//! `agent.version` values into finitely many classes.
//!
//! Stage: plan. Takes the constraint strings of package manifests (`conditions.kibana.version`,
//! `conditions.agent.version`) and the version strings of queries; hands on [`Constraint`]
//! (with [`Constraint::matches`] and [`Constraint::points`]) and lenient [`parse_version`].
//!
//! Everything here re-implements observed behaviour of the Go library, including its quirks
//! (`^*` only matches `0.0.x`, `<=*` only `0.0.x`, `!=1.2` with a prerelease tag, hyphen ranges
//! rewritten by text replacement). Error messages are the Go library's, because EPR shows them.

use semver::{BuildMetadata, Prerelease, Version};
use std::cmp::Ordering;
use std::fmt;

const INVALID_SEMVER: &str = "invalid semantic version";
const SEGMENT_STARTS_ZERO: &str = "version segment starts with 0";

/// Order of two versions as EPR compares them: major, minor, patch, then prerelease
/// (a release is above its prereleases); build metadata is ignored.
///
/// This equals `semver::Version::cmp_precedence` except for numeric prerelease identifiers
/// longer than `u64`, which the Go library compares as text.
pub fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| match (a.pre.is_empty(), b.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_prerelease(a.pre.as_str(), b.pre.as_str()),
        })
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (mut xs, mut ys) = (a.split('.'), b.split('.'));
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => match compare_identifier(x.unwrap_or(""), y.unwrap_or("")) {
                Ordering::Equal => continue,
                other => return other,
            },
        }
    }
}

/// One prerelease identifier; a missing one ("") sorts first. Identifiers that parse as
/// `u64` sort numerically and before all others, which sort bytewise (the Go rule, which
/// treats an over-long digit string as text).
fn compare_identifier(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if a.is_empty() {
        return Ordering::Less;
    }
    if b.is_empty() {
        return Ordering::Greater;
    }
    match (parse_u64(a), parse_u64(b)) {
        (Some(x), Some(y)) => {
            if x > y {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// Digits only (no sign), fitting in a u64: what Go's `strconv.ParseUint(s, 10, 64)` accepts.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The largest of `points` (sorted by [`precedence`]) that is not above `v`, as an index.
pub fn floor(points: &[Version], v: &Version) -> Option<usize> {
    let n = points.partition_point(|p| precedence(p, v) != Ordering::Greater);
    n.checked_sub(1)
}

/// Go's `strconv.ParseUint` error text for a digit string that does not fit.
fn out_of_range(digits: &str) -> String {
    format!("error parsing version segment: strconv.ParseUint: parsing \"{digits}\": value out of range")
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// End of `I(.I)*` starting at `i` (I = one or more of `[0-9A-Za-z-]`), or `None` when no
/// identifier starts at `i`. Greedy, like the Go regexp.
fn scan_identifiers(b: &[u8], i: usize) -> Option<usize> {
    let run = |k: usize| b[k..].iter().take_while(|&&c| is_ident_byte(c)).count();
    let first = run(i);
    if first == 0 {
        return None;
    }
    let mut end = i + first;
    while end < b.len() && b[end] == b'.' {
        let n = run(end + 1);
        if n == 0 {
            break;
        }
        end += 1 + n;
    }
    Some(end)
}

/// Lenient version parsing, as Masterminds `NewVersion` (coercing mode, the default):
/// an optional `v`, then `MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`; missing parts are 0 and
/// leading zeros are allowed in the numbers ("8", "8.10", "v8.1.0", "08.01"). Errors carry the
/// Go messages (`invalid semantic version`, `version segment starts with 0`, ...).
pub fn parse_version(s: &str) -> Result<Version, String> {
    let b = s.as_bytes();
    let digits = |k: usize| b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'v'));
    let n = digits(i);
    if n == 0 {
        return Err(INVALID_SEMVER.into());
    }
    let major = &s[i..i + n];
    i += n;
    let mut minor = None;
    let mut patch = None;
    for slot in [&mut minor, &mut patch] {
        if b.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            if n > 0 {
                *slot = Some(&s[i + 1..i + 1 + n]);
                i += 1 + n;
            }
        }
    }
    let mut pre = "";
    if b.get(i) == Some(&b'-') {
        if let Some(end) = scan_identifiers(b, i + 1) {
            pre = &s[i + 1..end];
            i = end;
        }
    }
    let mut build = "";
    if b.get(i) == Some(&b'+') {
        if let Some(end) = scan_identifiers(b, i + 1) {
            build = &s[i + 1..end];
            i = end;
        }
    }
    if i != b.len() {
        return Err(INVALID_SEMVER.into());
    }
    let number = |d: Option<&str>| match d {
        None => Ok(0),
        Some(d) => d.parse::<u64>().map_err(|_| out_of_range(d)),
    };
    let (major, minor, patch) = (number(Some(major))?, number(minor)?, number(patch)?);
    check_prerelease(pre)?;
    build_version(major, minor, patch, pre, build)
}

/// Strict version parsing, as Masterminds `StrictNewVersion` (what EPR uses for version
/// folders, package versions and `format_version`): exactly `MAJOR.MINOR.PATCH`, no `v`, no
/// leading zeros.
pub fn parse_version_strict(s: &str) -> Result<Version, String> {
    if s.is_empty() {
        return Err("version string empty".into());
    }
    let mut parts = s.splitn(3, '.');
    let (Some(major), Some(minor), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(INVALID_SEMVER.into());
    };
    let (rest, build) = match rest.split_once('+') {
        Some((r, m)) => {
            check_build(m)?;
            (r, m)
        }
        None => (rest, ""),
    };
    let (patch, pre) = match rest.split_once('-') {
        Some((p, pre)) => {
            if pre.is_empty() {
                return Err("invalid prerelease string".into());
            }
            check_prerelease(pre)?;
            (p, pre)
        }
        None => (rest, ""),
    };
    for p in [major, minor, patch] {
        if !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err("invalid characters in version".into());
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err(SEGMENT_STARTS_ZERO.into());
        }
    }
    let number = |d: &str| {
        if d.is_empty() {
            Err("strconv.ParseUint: parsing \"\": invalid syntax".to_string())
        } else {
            d.parse::<u64>()
                .map_err(|_| format!("strconv.ParseUint: parsing \"{d}\": value out of range"))
        }
    };
    build_version(number(major)?, number(minor)?, number(patch)?, pre, build)
}

/// The Go prerelease check: non-empty dot-separated identifiers of `[0-9A-Za-z-]`, numeric
/// ones without leading zeros.
fn check_prerelease(pre: &str) -> Result<(), String> {
    if pre.is_empty() {
        return Ok(());
    }
    for part in pre.split('.') {
        if part.is_empty() {
            return Err("invalid prerelease string".into());
        }
        if part.bytes().all(|c| c.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err(SEGMENT_STARTS_ZERO.into());
            }
        } else if !part.bytes().all(is_ident_byte) {
            return Err("invalid prerelease string".into());
        }
    }
    Ok(())
}

fn check_build(build: &str) -> Result<(), String> {
    if build
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(is_ident_byte))
    {
        Ok(())
    } else {
        Err("invalid metadata string".into())
    }
}

fn build_version(
    major: u64,
    minor: u64,
    patch: u64,
    pre: &str,
    build: &str,
) -> Result<Version, String> {
    // The checks above accept exactly what the semver crate accepts, so these cannot fail;
    // map rather than panic all the same.
    let pre = Prerelease::new(pre).map_err(|_| "invalid prerelease string".to_string())?;
    let build = BuildMetadata::new(build).map_err(|_| "invalid metadata string".to_string())?;
    Ok(Version {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

/// Go's `%q`: a double-quoted string with Go escapes. Printability is approximated by
/// "not a control character and not whitespace other than the space".
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            ' ' => out.push(' '),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || c.is_whitespace() || c == '\u{feff}' => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go regexp `\s`: `[\t\n\f\r ]`.
fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// A version as written in a constraint: `v?D(.D)?(.D)?(-PRE)?(+BUILD)?`, where a number
/// part D is one or more of `[0-9|xX*]` (the Go character class really contains `|`).
#[derive(Debug, Clone, Copy)]
struct Written<'a> {
    text: &'a str,
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    /// With its leading `-`, or empty.
    pre: &'a str,
}

fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'|' | b'x' | b'X' | b'*')
}

/// Greedy match of a written version at `start`; returns it and its end.
fn scan_written(s: &str, start: usize) -> Option<(Written<'_>, usize)> {
    let b = s.as_bytes();
    let run = |k: usize| b[k..].iter().take_while(|&&c| is_number_byte(c)).count();
    let mut i = start + usize::from(b.get(start) == Some(&b'v'));
    let n = run(i);
    if n == 0 {
        return None;
    }
    let major = &s[i..i + n];
    i += n;
    let mut minor = None;
    let mut patch = None;
    for slot in [&mut minor, &mut patch] {
        if b.get(i) == Some(&b'.') {
            let n = run(i + 1);
            if n > 0 {
                *slot = Some(&s[i + 1..i + 1 + n]);
                i += 1 + n;
            }
        }
    }
    let mut pre = "";
    if b.get(i) == Some(&b'-') {
        if let Some(end) = scan_identifiers(b, i + 1) {
            pre = &s[i..end];
            i = end;
        }
    }
    if b.get(i) == Some(&b'+') {
        if let Some(end) = scan_identifiers(b, i + 1) {
            i = end;
        }
    }
    Some((
        Written {
            text: &s[start..i],
            major,
            minor,
            patch,
            pre,
        },
        i,
    ))
}

/// Hyphen ranges `A - B` become `>= A, <= B ` by text replacement, before anything else,
/// over the whole string (so a range can even swallow a `||`); the Go library does this with
/// an unanchored regexp and `strings.Replace(.., 1)`, reproduced here.
fn rewrite_ranges(c: &str) -> String {
    let b = c.as_bytes();
    let range_at = |i: usize| -> Option<(usize, String)> {
        let j = skip_ws(b, i);
        let (from, e1) = scan_written(c, j)?;
        let k = skip_ws(b, e1);
        if k == e1 || b.get(k) != Some(&b'-') {
            return None;
        }
        let l = skip_ws(b, k + 1);
        if l == k + 1 {
            return None;
        }
        let (to, e2) = scan_written(c, l)?;
        Some((skip_ws(b, e2), format!(">= {}, <= {} ", from.text, to.text)))
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match range_at(i) {
            Some((end, replacement)) => {
                found.push((&c[i..end], replacement));
                i = end;
            }
            None => i += 1,
        }
    }
    let mut out = c.to_string();
    for (text, replacement) in found {
        out = out.replacen(text, &replacement, 1);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    /// "" and "=": equality, or tilde when the version has wildcards or missing parts.
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "" | "=" => Op::TildeOrEqual,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEqual,
            "<=" | "=<" => Op::LessEqual,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            _ => return None,
        })
    }
}

fn is_op_byte(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'<' | b'>' | b'~' | b'^')
}

fn is_wildcard(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// One comparison, e.g. `>=7.16.0` or `~7.x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Atom {
    op: Op,
    /// The written version with wildcards and missing parts replaced by 0 (a wildcard major
    /// makes it 0.0.0), keeping the prerelease.
    con: Version,
    /// Some part was a wildcard or missing.
    dirty: bool,
    /// The minor part (so also the patch) was a wildcard or missing.
    minor_dirty: bool,
    /// Only the patch part was a wildcard or missing.
    patch_dirty: bool,
}

impl Atom {
    fn new(op: Op, w: Written<'_>) -> Result<Atom, String> {
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let text = if is_wildcard(w.major) {
            dirty = true;
            format!("0.0.0{}", w.pre)
        } else if w.minor.is_none_or(is_wildcard) {
            dirty = true;
            minor_dirty = true;
            format!("{}.0.0{}", w.major, w.pre)
        } else if w.patch.is_none_or(is_wildcard) {
            dirty = true;
            patch_dirty = true;
            format!("{}.{}.0{}", w.major, w.minor.unwrap_or_default(), w.pre)
        } else {
            w.text.to_string()
        };
        // e.g. `1|2`, `1x` or a number beyond u64 get through the Go regexps and fail here.
        let con = parse_version(&text).map_err(|_| "constraint parser error".to_string())?;
        Ok(Atom {
            op,
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        let cmp = precedence(v, c);
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v, cmp),
            Op::TildeOrEqual => cmp == Ordering::Equal,
            Op::Tilde => self.tilde(v, cmp),
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEqual => cmp != Ordering::Less,
            Op::NotEqual => {
                if self.dirty {
                    if v.major != c.major {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if v.minor != c.minor {
                        return true;
                    }
                    if self.patch_dirty {
                        // Same major.minor: differs only by prerelease text; a release differs
                        // from a prerelease constraint and vice versa.
                        return v.pre.as_str() != c.pre.as_str();
                    }
                    if v.patch != c.patch {
                        return true;
                    }
                }
                cmp != Ordering::Equal
            }
            Op::Greater => {
                if !self.dirty {
                    return cmp == Ordering::Greater;
                }
                match v.major.cmp(&c.major) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if self.minor_dirty => false,
                    Ordering::Equal if self.patch_dirty => v.minor > c.minor,
                    Ordering::Equal => cmp == Ordering::Greater,
                }
            }
            Op::LessEqual => {
                if !self.dirty {
                    return cmp != Ordering::Greater;
                }
                // Dirty `<=` looks at major and minor only, even for `<=*` (so only 0.0.x).
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Caret => {
                if cmp == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                // `^0.0.p` (and `^*`, whose con is 0.0.0): the same patch only.
                v.minor == 0 && v.patch == c.patch
            }
        }
    }

    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        if cmp == Ordering::Less {
            return false;
        }
        let c = &self.con;
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (self.minor_dirty || v.minor == c.minor)
    }

    /// Versions where this atom's answer can change; see [`Constraint::points`].
    fn points(&self, out: &mut Vec<Version>) {
        let c = &self.con;
        let base = release_part(c, c.pre.clone());
        let next_major = next_major(c.major);
        let next_minor = next_minor(c.major, c.minor);
        let succ = successor(c);
        let mut push = |v: Option<Version>| out.extend(v);
        match self.op {
            Op::Less | Op::GreaterEqual => push(Some(base)),
            Op::Tilde | Op::TildeOrEqual if self.op == Op::Tilde || self.dirty => {
                push(Some(base));
                let anything_above = c.major == 0 && c.minor == 0 && c.patch == 0;
                if !anything_above || self.minor_dirty || self.patch_dirty {
                    push(if self.minor_dirty {
                        next_major
                    } else {
                        next_minor
                    });
                }
            }
            Op::Tilde => unreachable!("matched by the arm above"),
            Op::TildeOrEqual => {
                push(Some(base));
                push(succ);
            }
            Op::NotEqual if self.minor_dirty => {
                push(Some(lowest(c.major, 0, 0)));
                push(next_major);
            }
            Op::NotEqual if self.patch_dirty => {
                push(Some(lowest(c.major, c.minor, 0)));
                push(next_minor);
            }
            Op::NotEqual => {
                push(Some(base));
                push(succ);
            }
            Op::Greater if self.minor_dirty => push(next_major),
            Op::Greater if self.patch_dirty => push(next_minor),
            Op::Greater => push(succ),
            Op::LessEqual if !self.dirty => push(succ),
            Op::LessEqual if self.minor_dirty => push(next_major),
            Op::LessEqual => push(next_minor),
            Op::Caret => {
                push(Some(base));
                if c.major > 0 || self.minor_dirty {
                    push(next_major);
                } else if c.minor > 0 || self.patch_dirty {
                    push(next_minor);
                } else {
                    push(next_patch(0, 0, c.patch));
                }
            }
        }
    }
}

fn release_part(v: &Version, pre: Prerelease) -> Version {
    Version {
        major: v.major,
        minor: v.minor,
        patch: v.patch,
        pre,
        build: BuildMetadata::EMPTY,
    }
}

/// The lowest version with these numbers: `M.m.p-0` (no prerelease sorts below `0`).
fn lowest(major: u64, minor: u64, patch: u64) -> Version {
    let pre = Prerelease::new("0").expect("0 is a valid prerelease");
    Version {
        major,
        minor,
        patch,
        pre,
        build: BuildMetadata::EMPTY,
    }
}

fn next_major(major: u64) -> Option<Version> {
    Some(lowest(major.checked_add(1)?, 0, 0))
}

fn next_minor(major: u64, minor: u64) -> Option<Version> {
    match minor.checked_add(1) {
        Some(m) => Some(lowest(major, m, 0)),
        None => next_major(major),
    }
}

fn next_patch(major: u64, minor: u64, patch: u64) -> Option<Version> {
    match patch.checked_add(1) {
        Some(p) => Some(lowest(major, minor, p)),
        None => next_minor(major, minor),
    }
}

/// The lowest version above `v`: the next patch's `-0` for a release, `v` with `.0` appended
/// to its prerelease otherwise.
fn successor(v: &Version) -> Option<Version> {
    if v.pre.is_empty() {
        return next_patch(v.major, v.minor, v.patch);
    }
    let pre = Prerelease::new(&format!("{}.0", v.pre)).expect("appending .0 keeps it valid");
    Some(release_part(v, pre))
}

/// A parsed version constraint: `||`-separated alternatives of comma- or space-separated
/// comparisons, exactly as Masterminds semver v3 `NewConstraint` reads it and `Check`
/// evaluates it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    source: String,
    groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    atoms: Vec<Atom>,
    /// Some atom names a prerelease: only then may a prerelease version satisfy this group.
    has_pre: bool,
}

impl Constraint {
    /// Parses like `NewConstraint`; the error is the Go message (`improper constraint: "..."`
    /// or `constraint parser error`), which EPR shows for an invalid package condition.
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let rewritten = rewrite_ranges(s);
        let groups = rewritten
            .split("||")
            .map(parse_group)
            .collect::<Result<_, _>>()?;
        Ok(Constraint {
            source: s.to_string(),
            groups,
        })
    }

    /// The text this constraint was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `v` satisfies some alternative: every comparison of it holds, and `v` is not a
    /// prerelease unless that alternative names a prerelease somewhere.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|g| g.atoms.iter().all(|a| a.check(v, g.has_pre)))
    }

    /// The versions where satisfaction can change, sorted by [`precedence`], without
    /// duplicates or build metadata.
    ///
    /// Guarantee: let `floor(v)` be the largest point `p` with `p <= v` (by [`precedence`]),
    /// or none. If two versions `u` and `v` have
    /// 1. the same floor,
    /// 2. the same prerelease-ness (`u.pre.is_empty() == v.pre.is_empty()`), and
    /// 3. if both are prereleases, the same relation to every tag `t` of
    ///    [`Constraint::prerelease_tags`] (`u.pre == t` exactly when `v.pre == t`),
    ///
    /// then `matches(u) == matches(v)`. Condition 3 only matters for `!=M.m-t` style atoms
    /// (wildcard patch and a prerelease), which match every `M.m.*-t` version except the
    /// ones tagged exactly `t`; `prerelease_tags` is empty for every other constraint.
    pub fn points(&self) -> Vec<Version> {
        let mut out = Vec::new();
        for atom in self.groups.iter().flat_map(|g| &g.atoms) {
            atom.points(&mut out);
        }
        out.sort_by(precedence);
        out.dedup_by(|a, b| precedence(a, b) == Ordering::Equal);
        out
    }

    /// Prerelease texts that condition 3 of [`Constraint::points`] is about, sorted.
    pub fn prerelease_tags(&self) -> Vec<Prerelease> {
        let mut tags: Vec<Prerelease> = self
            .groups
            .iter()
            .flat_map(|g| &g.atoms)
            .filter(|a| a.op == Op::NotEqual && a.patch_dirty && !a.con.pre.is_empty())
            .map(|a| a.con.pre.clone())
            .collect();
        tags.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        tags.dedup();
        tags
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// One `||` alternative: first checked as a whole (Go's validation regexp), then its
/// comparisons are built in order.
fn parse_group(seg: &str) -> Result<Group, String> {
    let improper = || format!("improper constraint: {}", go_quote(seg));
    let b = seg.as_bytes();
    let mut written = Vec::new();
    let mut pos = skip_ws(b, 0);
    loop {
        // An operator is a run of operator characters (a version never starts with one),
        // then optional spaces, then a written version.
        let op_end = pos + b[pos..].iter().take_while(|&&c| is_op_byte(c)).count();
        let op = Op::parse(&seg[pos..op_end]).ok_or_else(improper)?;
        let (w, end) = scan_written(seg, skip_ws(b, op_end)).ok_or_else(improper)?;
        written.push((op, w));
        // Between comparisons: spaces, or one comma with optional spaces around it.
        let next = skip_ws(b, end);
        if next == b.len() {
            break;
        }
        if b[next] == b',' {
            pos = skip_ws(b, next + 1);
        } else if next > end {
            pos = next;
        } else {
            return Err(improper());
        }
    }
    let atoms = written
        .into_iter()
        .map(|(op, w)| Atom::new(op, w))
        .collect::<Result<Vec<_>, _>>()?;
    let has_pre = atoms.iter().any(|a| !a.con.pre.is_empty());
    Ok(Group { atoms, has_pre })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        parse_version(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn check(c: &str, ver: &str) -> bool {
        Constraint::parse(c)
            .unwrap_or_else(|e| panic!("{c}: {e}"))
            .matches(&v(ver))
    }

    #[test]
    fn lenient_versions() {
        let cases = [
            ("8", "8.0.0"),
            ("8.10", "8.10.0"),
            ("v8.1.0", "8.1.0"),
            ("08.010.00", "8.10.0"),
            ("1.2.3-beta.1+build.5", "1.2.3-beta.1+build.5"),
            ("1-rc1", "1.0.0-rc1"),
            ("1.2+meta", "1.2.0+meta"),
            ("1.2.3--x", "1.2.3--x"),
            ("18446744073709551615", "18446744073709551615.0.0"),
        ];
        for (input, want) in cases {
            assert_eq!(v(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn lenient_version_errors() {
        let cases = [
            ("", "invalid semantic version"),
            ("foo", "invalid semantic version"),
            ("V1.0.0", "invalid semantic version"),
            ("1.2.3.4", "invalid semantic version"),
            ("1.2.3 ", "invalid semantic version"),
            ("1.2.3-", "invalid semantic version"),
            ("1.2.3-a..b", "invalid semantic version"),
            ("1.x", "invalid semantic version"),
            ("1.2.3-01", "version segment starts with 0"),
            (
                "18446744073709551616",
                "error parsing version segment: strconv.ParseUint: parsing \"18446744073709551616\": value out of range",
            ),
            (
                "1.99999999999999999999",
                "error parsing version segment: strconv.ParseUint: parsing \"99999999999999999999\": value out of range",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_version(input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn strict_versions() {
        assert_eq!(
            parse_version_strict("1.2.3-rc.1+b").unwrap().to_string(),
            "1.2.3-rc.1+b"
        );
        let cases = [
            ("", "version string empty"),
            ("1.2", "invalid semantic version"),
            ("v1.2.3", "invalid characters in version"),
            ("01.2.3", "version segment starts with 0"),
            ("a.b.c", "invalid characters in version"),
            ("1..3", "strconv.ParseUint: parsing \"\": invalid syntax"),
            ("1.2.3-", "invalid prerelease string"),
            ("1.2.3+", "invalid metadata string"),
            ("1.2.3-01", "version segment starts with 0"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_version_strict(input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn precedence_follows_go() {
        let order = [
            "0.0.0-0",
            "0.0.0-0.0",
            "0.0.0-1",
            "0.0.0-99999999999999999999",
            "0.0.0-alpha",
            "0.0.0-alpha.1",
            "0.0.0-beta",
            "0.0.0",
            "0.0.1-0",
            "1.0.0",
        ];
        for w in order.windows(2) {
            assert_eq!(
                precedence(&v(w[0]), &v(w[1])),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
            assert_eq!(precedence(&v(w[1]), &v(w[0])), Ordering::Greater);
        }
        assert_eq!(precedence(&v("1.0.0+a"), &v("1.0.0+b")), Ordering::Equal);
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("", "improper constraint: \"\""),
            ("foo", "improper constraint: \"foo\""),
            (">=1.0 || bar", "improper constraint: \" bar\""),
            ("12.3.4.1234", "improper constraint: \"12.3.4.1234\""),
            ("12.3.34~ 1.2.3", "improper constraint: \"12.3.34~ 1.2.3\""),
            ("1.0,,2.0", "improper constraint: \"1.0,,2.0\""),
            ("1.0,", "improper constraint: \"1.0,\""),
            ("==1.0", "improper constraint: \"==1.0\""),
            (">1<2", "improper constraint: \">1<2\""),
            ("\t>=a", "improper constraint: \"\\t>=a\""),
            ("1|2", "constraint parser error"),
            ("1x", "constraint parser error"),
            ("xx", "constraint parser error"),
            (">=1.0.0-01", "constraint parser error"),
            (">=99999999999999999999", "constraint parser error"),
            // A range glued to an operator: `>=1 - 2` becomes `>=>= 1, <= 2 `.
            (">=1 - 2", "improper constraint: \">=>= 1, <= 2 \""),
        ];
        for (input, want) in cases {
            assert_eq!(Constraint::parse(input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn accepted_shapes() {
        for c in [
            ">= 1.2.3, < 2.0",
            ">= 1.2.3, < 2.0 || => 3.0, < 4",
            "3 - 4 || => 3.0, < 4",
            "12.3.34 ~1.2.3",
            "1.0.0 - 2.0.0, <=2.0.0",
            "  ^7.16.0   ||   ^8.0.0  ",
            ">6.7.0  <7.6.0",
            "~>1.2",
            "=<1.2",
            "v1.x",
            "*",
            "x.1.2",
            "1.2.3+build",
        ] {
            Constraint::parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
    }

    /// (constraint, version, matches). Covers every operator, wildcards, missing parts,
    /// `v` prefixes, ranges, `||`, and the prerelease rule.
    const TABLE: &[(&str, &str, bool)] = &[
        // = and bare
        ("=2.0.0", "1.2.3", false),
        ("=2.0.0", "2.0.0", true),
        ("=2.0.0", "2.0.0+build", true),
        ("2.0.0", "2.0.1", false),
        ("=2.0", "2.0.1", true),
        ("=2.0", "2.1.0", false),
        ("4.1", "4.1.0", true),
        ("2", "2.1.1", true),
        ("2", "3.0.0", false),
        ("2.*", "2.9.9", true),
        ("2.1.*", "2.2.1", false),
        ("2.1.x", "2.1.7", true),
        ("v2.1.X", "2.1.7", true),
        ("=v1.2.3", "1.2.3", true),
        ("*", "4.5.6", true),
        ("*", "1.2.3-alpha.1", false),
        ("*-0", "1.2.3-alpha.1", true),
        ("x.1.2", "7.0.0", true),
        ("1.2.3-beta", "1.2.3-beta", true),
        ("1.2.3-beta", "1.2.3", false),
        // !=
        ("!=4.1.0", "4.1.0", false),
        ("!=4.1.0", "4.1.1", true),
        ("!=4.1", "4.1.0", false),
        ("!=4.1", "4.1.9", false),
        ("!=4.1", "4.2.0", true),
        ("!=4.1", "5.1.0-alpha.1", false),
        ("!=4.1-alpha", "4.1.0", true),
        ("!=4.1-alpha", "4.1.0-alpha", false),
        ("!=4.1-alpha", "4.1.5-alpha", false),
        ("!=4.1-alpha", "4.1.5-beta", true),
        ("!=4.x", "4.1.0", false),
        ("!=4.x", "5.1.0", true),
        ("!=*", "0.0.0", false),
        ("!=*", "0.0.1", true),
        // >
        (">1.1", "1.1.9", false),
        (">1.1", "1.2.0", true),
        (">11", "11.1.0", false),
        (">11", "12.0.0", true),
        (">1.2.3", "1.2.4", true),
        (">1.2.3", "1.2.3", false),
        (">0", "0.0.1-alpha", false),
        (">0.0.0-0", "0.0.0-alpha", true),
        (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
        (">*", "0.0.1", true),
        (">*", "0.0.0", false),
        // <
        ("<1.1", "1.0.9", true),
        ("<1.1", "1.1.0", false),
        ("<1.x", "0.1.1", true),
        ("<1.x", "1.0.0", false),
        ("<0-z", "0.0.0-alpha", true),
        ("<2.0.0", "2.0.0-rc1", false),
        // >= and =>
        (">=1.1", "1.1.0", true),
        (">=1.1", "0.0.9", false),
        (">=1.1", "4.1.0-beta", false),
        ("=>1.1", "4.1.0", true),
        (">=0-0", "0.0.0-alpha", true),
        (">=7.16.0", "8.0.0", true),
        // <= and =<
        ("<=1.1", "1.1.1", true),
        ("<=1.1", "1.2.0", false),
        ("<=11", "11.9.3", true),
        ("<=1.x", "1.9.0", true),
        ("<=2.x", "3.0.0", false),
        ("=<1.2.3", "1.2.3", true),
        ("=<1.2.3", "1.2.4", false),
        ("<=1.1-a", "0.1.0-alpha", true),
        ("<=*", "0.0.7", true),
        ("<=*", "0.1.0", false),
        // ~ and ~>
        ("~1", "1.3.5", true),
        ("~1", "2.1.1", false),
        ("~1.1", "1.1.9", true),
        ("~1.1", "1.2.0", false),
        ("~1.2.3", "1.2.5", true),
        ("~1.2.3", "1.2.2", false),
        ("~1.2.3", "1.3.0", false),
        ("~>1.2", "1.2.1", true),
        ("~*", "2.1.1", true),
        ("~0.0.0", "1.2.3", true),
        ("~1.1-alpha", "1.1.1-beta", true),
        ("~1.1.1-beta", "1.1.1-alpha", false),
        ("~7.x.x", "7.2.1", true),
        ("~7.x.x", "8.0.0", false),
        // ^
        ("^1.1", "1.1.1", true),
        ("^1.1", "2.0.0", false),
        ("^1.1", "1.0.9", false),
        ("^1.x", "1.1.1-beta1", false),
        ("^1.1.2-alpha", "1.2.1-beta1", true),
        ("^1.2.x-alpha", "1.1.1-beta1", false),
        ("^0.2.3", "0.2.9", true),
        ("^0.2.3", "0.3.0", false),
        ("^0.2", "0.2.0", true),
        ("^0.0.3", "0.0.3", true),
        ("^0.0.3", "0.0.4", false),
        ("^0.0", "0.0.9", true),
        ("^0.0", "0.1.0", false),
        ("^0", "0.9.9", true),
        ("^0", "1.0.0", false),
        ("^0.0.0", "1.2.3", false),
        ("^*", "0.0.0", true),
        ("^*", "1.0.0", false),
        ("^8.1.0", "8.17.0", true),
        ("^8.1.0", "9.0.0", false),
        // ranges, AND, OR
        ("1.1 - 2", "1.1.1", true),
        ("1.1 - 2", "2.9.0", true),
        ("1.1 - 2", "3.0.0", false),
        ("1.5.0 - 4.5", "3.7.0", true),
        ("1.1-3", "4.3.2", false),
        ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true),
        (">1.1, <2", "1.2.1", true),
        (">1.1 <2", "1.1.1", false),
        (">=1.1, <2, !=1.2.3", "1.2.3", false),
        (">=1.1 <2 !=1.2.3 || > 3", "4.1.2", true),
        (">=1.1 <2 !=1.2.3 || > 3", "3.0.0", false),
        (">6.7.0  <7.6.0", "7.2.1", true),
        (">6.7.0  <7.6.0", "7.6.0", false),
        ("^7.16.0 || ^8.0.0", "7.2.1", false),
        ("^7.16.0 || ^8.0.0", "8.0.0", true),
        ("^7.16.0 || ^8.0.0", "8.0.0-SNAPSHOT", false),
        // the prerelease rule is per alternative
        (">= 1.0.0  <= 2.0.0-beta", "1.0.1-beta", true),
        (">= 1.0.0  <= 2.0.0-beta || > 3", "3.0.1-beta", false),
        (
            ">= 1.0.0  <= 2.0.0-beta != 1.0.1-beta || > 3",
            "1.0.1-beta",
            false,
        ),
        (">=8.0.0-0", "8.0.0-SNAPSHOT", true),
    ];

    #[test]
    fn table() {
        assert!(TABLE.len() >= 60);
        for &(c, ver, want) in TABLE {
            assert_eq!(check(c, ver), want, "{c:?} against {ver}");
        }
    }

    #[test]
    fn points_of_common_shapes() {
        let pts = |c: &str| {
            Constraint::parse(c)
                .unwrap()
                .points()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(pts(">=7.16.0"), ["7.16.0"]);
        assert_eq!(
            pts("^7.16.0 || ^8.0.0"),
            ["7.16.0", "8.0.0-0", "8.0.0", "9.0.0-0"]
        );
        assert_eq!(pts("~7.x.x"), ["7.0.0", "8.0.0-0"]);
        assert_eq!(pts(">6.7.0  <7.6.0"), ["6.7.1-0", "7.6.0"]);
        assert_eq!(pts("=1.2.3-rc"), ["1.2.3-rc", "1.2.3-rc.0"]);
        assert_eq!(pts("^18446744073709551615.0"), ["18446744073709551615.0.0"]);
        assert!(Constraint::parse("^1")
            .unwrap()
            .prerelease_tags()
            .is_empty());
        assert_eq!(
            Constraint::parse("!=1.2-rc").unwrap().prerelease_tags()[0].as_str(),
            "rc"
        );
    }

    #[test]
    fn floor_lookup() {
        let p = Constraint::parse("^7.16.0 || ^8.0.0").unwrap().points();
        assert_eq!(floor(&p, &v("7.15.9")), None);
        assert_eq!(floor(&p, &v("7.16.0")), Some(0));
        assert_eq!(floor(&p, &v("8.0.0-rc1")), Some(1));
        assert_eq!(floor(&p, &v("8.5.0")), Some(2));
        assert_eq!(floor(&p, &v("9.0.0-0")), Some(3));
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (0u64..4).prop_map(|n| n.to_string()),
            1 => Just("x".to_string()),
            1 => Just("*".to_string()),
            1 => Just(u64::MAX.to_string()),
        ]
    }

    fn tag() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just(String::new()),
            1 => Just("-0".to_string()),
            1 => Just("-alpha".to_string()),
            1 => Just("-alpha.1".to_string()),
            1 => Just("-beta".to_string()),
        ]
    }

    fn written() -> impl Strategy<Value = String> {
        (
            number(),
            proptest::option::of(number()),
            proptest::option::of(number()),
            tag(),
        )
            .prop_map(|(a, b, c, t)| match (b, c) {
                (Some(b), Some(c)) => format!("{a}.{b}.{c}{t}"),
                (Some(b), None) => format!("{a}.{b}{t}"),
                _ => format!("{a}{t}"),
            })
    }

    fn atom() -> impl Strategy<Value = String> {
        let op = prop::sample::select(vec!["", "=", "!=", ">", "<", ">=", "<=", "~", "^"]);
        prop_oneof![
            8 => (op, written()).prop_map(|(o, w)| format!("{o}{w}")),
            1 => (written(), written()).prop_map(|(a, b)| format!("{a} - {b}")),
        ]
    }

    fn constraint() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::collection::vec(atom(), 1..4).prop_map(|a| a.join(", ")),
            1..3,
        )
        .prop_map(|g| g.join(" || "))
    }

    /// Versions around every interesting number and prerelease, plus each point and its
    /// neighbours.
    fn universe(points: &[Version]) -> Vec<Version> {
        let nums = [0, 1, 2, 3, 4, u64::MAX - 1, u64::MAX];
        let pres = [
            "", "0", "0.0", "1", "alpha", "alpha.0", "alpha.1", "beta", "rc",
        ];
        let mut out = Vec::new();
        for &a in &nums {
            for &b in &nums[..5] {
                for &c in &nums[..5] {
                    for pre in pres {
                        out.push(build_version(a, b, c, pre, "").unwrap());
                    }
                }
            }
        }
        for p in points {
            out.push(p.clone());
            out.push(release_part(p, Prerelease::EMPTY));
            out.extend(successor(p));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn points_separate_all_answers(src in constraint()) {
            let Ok(c) = Constraint::parse(&src) else { return Ok(()) };
            let points = c.points();
            let tags = c.prerelease_tags();
            let mut seen: std::collections::HashMap<_, (Version, bool)> = Default::default();
            for u in universe(&points) {
                let tag_class: Vec<bool> = if u.pre.is_empty() {
                    Vec::new()
                } else {
                    tags.iter().map(|t| u.pre == *t).collect()
                };
                let key = (floor(&points, &u), u.pre.is_empty(), tag_class);
                let m = c.matches(&u);
                if let Some((w, wm)) = seen.get(&key) {
                    prop_assert_eq!(m, *wm, "{} vs {} under {:?} (points {:?})", u, w, src, points);
                } else {
                    seen.insert(key, (u, m));
                }
            }
        }
    }
}
