//! YAML 1.1 resolution of plain scalars, as Go's `gopkg.in/yaml.v2` (v2.4.0, `resolve.go`) does
//! it when it decodes into an `interface{}`, which is how go-ucfg, and so EPR, reads every
//! manifest. serde_yaml_ng resolves plain scalars by YAML 1.2's core schema, which misses some
//! of them: `yes`/`on`/`n` (booleans in 1.1), `0644` (octal), `1_000` (underscores), `0X1F`,
//! `08` (a float in yaml.v2). [`resolve_plain`] gives yaml.v2's answer for the text of one plain
//! (unquoted, untagged) scalar; quoted and block scalars are strings and never come here.
//!
//! yaml.v2's rules, in its order:
//! - the exact words of its table: `y Y yes Yes YES on On ON true True TRUE` → true,
//!   `n N no No NO off Off OFF false False FALSE` → false, `"" ~ null Null NULL` → null,
//!   `.nan .inf +.inf -.inf` (three spellings each) → floats;
//! - otherwise only text that starts with a digit, a sign or `.` can be a number: with every `_`
//!   removed, Go's `strconv.ParseInt(s, 0, 64)` (prefixes `0x`, `0o`, `0b` in either case, and a
//!   leading `0` for octal), then `ParseUint(s, 0, 64)`, then a decimal float
//!   (`[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`) that does not overflow;
//! - everything else, timestamps (`2001-12-14`, kept as text for an `interface{}`) and base-60
//!   numbers (`1:30`, unsupported by yaml.v2 on purpose) included, is a string.

use super::manifest::Node;

/// yaml.v2's value for the text of a plain scalar.
pub fn resolve_plain(s: &str) -> Node {
    let Some(&first) = s.as_bytes().first() else {
        return Node::Null;
    };
    if let Some(n) = table(s) {
        return n;
    }
    match first {
        b'.' => match decimal_float(s) {
            Some(f) => Node::Float(f),
            None => Node::Str(s.to_string()),
        },
        b'0'..=b'9' | b'+' | b'-' => {
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return int_node(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Node::Uint(u);
            }
            match decimal_float(&plain) {
                Some(f) => Node::Float(f),
                None => Node::Str(s.to_string()),
            }
        }
        _ => Node::Str(s.to_string()),
    }
}

/// The words of yaml.v2's resolve table.
fn table(s: &str) -> Option<Node> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Node::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Node::Bool(false)
        }
        "~" | "null" | "Null" | "NULL" => Node::Null,
        ".nan" | ".NaN" | ".NAN" => Node::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Node::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Node::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// go-ucfg keeps a negative integer as an int64 and any other as an unsigned one; eprgen's
/// [`Node`] does the same.
fn int_node(i: i64) -> Node {
    if i < 0 {
        Node::Int(i)
    } else {
        Node::Uint(i as u64)
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)` for text without underscores: no sign; `0b`/`0o`/`0x`
/// (any case) followed by at least one digit, or a leading `0` for octal, or decimal.
fn go_parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (radix, digits) = if b[0] == b'0' && b.len() >= 3 {
        match b[1].to_ascii_lowercase() {
            b'b' => (2, &s[2..]),
            b'o' => (8, &s[2..]),
            b'x' => (16, &s[2..]),
            _ => (8, &s[1..]),
        }
    } else if b[0] == b'0' {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() {
        // "0" alone; "0x" and the like have len < 3 and fall in the octal case above, where
        // the letter is not a digit.
        return Some(0);
    }
    // from_str_radix would take a sign; Go's ParseUint takes none.
    if !digits.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)` for text without underscores: an optional sign, then
/// [`go_parse_uint`]'s syntax, within the range of an int64.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest)?;
    if rest.is_empty() {
        return None;
    }
    if neg {
        if u > 1u64 << 63 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// yaml.v2's float: text matching `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$` that
/// `strconv.ParseFloat` reads without overflowing (an underflow reads as 0, as in Go).
fn decimal_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
    } else {
        if digits(&mut i) == 0 {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // Rust reads this syntax as Go does, correctly rounded; Go refuses what overflows.
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(n: &Node) -> String {
        match n {
            Node::Null => "null".into(),
            Node::Bool(b) => format!("bool {b}"),
            Node::Int(i) => format!("int {i}"),
            Node::Uint(u) => format!("int {u}"),
            Node::Float(f) => format!("float {f:?}"),
            Node::Str(s) => format!("str {s:?}"),
            other => format!("{other:?}"),
        }
    }

    /// Each plain scalar with what yaml.v2 v2.4.0 (built with Go ≥ 1.13) decodes it to.
    #[test]
    fn plain_scalars_resolve_like_yaml_v2() {
        let cases: &[(&str, &str)] = &[
            // Booleans of YAML 1.1.
            ("y", "bool true"),
            ("Y", "bool true"),
            ("yes", "bool true"),
            ("Yes", "bool true"),
            ("YES", "bool true"),
            ("on", "bool true"),
            ("On", "bool true"),
            ("ON", "bool true"),
            ("true", "bool true"),
            ("True", "bool true"),
            ("TRUE", "bool true"),
            ("n", "bool false"),
            ("N", "bool false"),
            ("no", "bool false"),
            ("No", "bool false"),
            ("NO", "bool false"),
            ("off", "bool false"),
            ("Off", "bool false"),
            ("OFF", "bool false"),
            ("false", "bool false"),
            ("False", "bool false"),
            ("FALSE", "bool false"),
            // Not in the table: strings.
            ("yES", "str \"yES\""),
            ("oN", "str \"oN\""),
            ("t", "str \"t\""),
            ("f", "str \"f\""),
            ("yes!", "str \"yes!\""),
            ("o", "str \"o\""),
            // Nulls.
            ("", "null"),
            ("~", "null"),
            ("null", "null"),
            ("Null", "null"),
            ("NULL", "null"),
            ("nULL", "str \"nULL\""),
            // Integers: underscores anywhere, Go's base prefixes in either case, leading 0.
            ("0", "int 0"),
            ("-0", "int 0"),
            ("+0", "int 0"),
            ("1000", "int 1000"),
            ("1_000", "int 1000"),
            ("1_0", "int 10"),
            ("1__0_", "int 10"),
            ("-1_000", "int -1000"),
            ("+12", "int 12"),
            ("0644", "int 420"),
            ("-0644", "int -420"),
            ("00", "int 0"),
            ("0_644", "int 420"),
            ("0o644", "int 420"),
            ("0O644", "int 420"),
            ("0x1F", "int 31"),
            ("0X1f", "int 31"),
            ("0x_1F", "int 31"),
            ("-0x1F", "int -31"),
            ("+0x1F", "int 31"),
            ("0b101", "int 5"),
            ("0B101", "int 5"),
            ("-0b101", "int -5"),
            ("9223372036854775807", "int 9223372036854775807"),
            ("-9223372036854775808", "int -9223372036854775808"),
            ("18446744073709551615", "int 18446744073709551615"),
            // Past 64 bits: a float when decimal, else a string.
            ("18446744073709551616", "float 1.8446744073709552e19"),
            ("-9223372036854775809", "float -9.223372036854776e18"),
            ("+18446744073709551615", "float 1.8446744073709552e19"),
            ("0x10000000000000000", "str \"0x10000000000000000\""),
            // Not integers: invalid digits fall through to a float, or stay text.
            ("08", "float 8.0"),
            ("0789", "float 789.0"),
            ("0x", "str \"0x\""),
            ("0b", "str \"0b\""),
            ("0b2", "str \"0b2\""),
            ("0xG", "str \"0xG\""),
            ("_1000", "str \"_1000\""),
            ("1_000x", "str \"1_000x\""),
            ("- 1", "str \"- 1\""),
            ("-", "str \"-\""),
            ("+-1", "str \"+-1\""),
            // Floats.
            ("1.5", "float 1.5"),
            ("1.", "float 1.0"),
            (".5", "float 0.5"),
            ("-.5", "float -0.5"),
            ("+.5", "float 0.5"),
            ("1e3", "float 1000.0"),
            ("1E+3", "float 1000.0"),
            ("2.5e-3", "float 0.0025"),
            ("1_000.5", "float 1000.5"),
            ("01.5", "float 1.5"),
            ("5e-400", "float 0.0"),
            ("1e400", "str \"1e400\""),
            (".5_0", "str \".5_0\""),
            (".", "str \".\""),
            (".e3", "str \".e3\""),
            ("1e", "str \"1e\""),
            ("1.5.5", "str \"1.5.5\""),
            ("0x1p3", "str \"0x1p3\""),
            ("inf", "str \"inf\""),
            ("+inf", "str \"+inf\""),
            ("nan", "str \"nan\""),
            ("-.inf", "float -inf"),
            ("+.Inf", "float inf"),
            (".INF", "float inf"),
            // Base 60 (YAML 1.1, unsupported by yaml.v2 on purpose) and timestamps: text.
            ("1:30", "str \"1:30\""),
            ("190:20:30", "str \"190:20:30\""),
            ("2001-12-14", "str \"2001-12-14\""),
            (
                "2001-12-14t21:59:43.10-05:00",
                "str \"2001-12-14t21:59:43.10-05:00\"",
            ),
            // Versions and other text.
            ("1.0.0", "str \"1.0.0\""),
            ("^8.0.0", "str \"^8.0.0\""),
            ("10s", "str \"10s\""),
            ("<<", "str \"<<\""),
        ];
        let mut bad = Vec::new();
        for (text, want) in cases {
            let got = show(&resolve_plain(text));
            if got != *want {
                bad.push(format!("{text:?}: got {got}, want {want}"));
            }
        }
        assert!(bad.is_empty(), "\n{}", bad.join("\n"));
        assert!(matches!(resolve_plain(".nan"), Node::Float(f) if f.is_nan()));
    }
}
