//! JSON text exactly as EPR writes it. EPR encodes every answer with Go's `json.Encoder`,
//! HTML escaping off and a two-space indent (`internal/util/json.go`), so the bytes depend on Go's
//! rules for string escapes, float formatting and layout. This module reproduces them for a
//! `serde_json::Value`.
//!
//! Key order: the output keeps the order of the `Value` (serde_json's `preserve_order`). Objects
//! that stand for Go structs are built in struct field order by `json.rs`; objects that stand for
//! Go maps (a var `default`, index template settings) are sorted by key when they are converted
//! from YAML (`manifest::Node::to_json`), as Go's encoder sorts map keys.
//!
//! Also here: Go's `%v` formatting of a float64, which go-ucfg uses when a number is given where
//! a string is expected (`version: 1.0` becomes `"1"`).

use serde_json::Value;

/// `json.NewEncoder(w)` with `SetEscapeHTML(false)` and `SetIndent("", "  ")`, then `Encode(v)`:
/// indented JSON followed by one newline.
pub fn to_go_pretty(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out.push('\n');
    out
}

/// The body of an answer that is a JSON array of items, as EPR's /search writes it: an empty
/// list is the two bytes `[]` with no newline (search.go returns them instead of encoding
/// `null`); otherwise the indented array and one newline.
pub fn array_body(items: &[Value]) -> String {
    if items.is_empty() {
        return "[]".to_string();
    }
    let mut out = String::new();
    write_array(&mut out, items, 0);
    out.push('\n');
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_array(out: &mut String, items: &[Value], depth: usize) {
    if items.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\n');
        indent(out, depth + 1);
        write_value(out, item, depth + 1);
    }
    out.push('\n');
    indent(out, depth);
    out.push(']');
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else {
                // serde_json numbers are finite, so Go would not fail on them.
                out.push_str(&json_float(
                    n.as_f64().expect("a serde_json number is u64, i64 or f64"),
                ));
            }
        }
        Value::String(s) => write_string(out, s.as_bytes()),
        Value::Array(items) => write_array(out, items, depth),
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                indent(out, depth + 1);
                write_string(out, k.as_bytes());
                out.push_str(": ");
                write_value(out, v, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
    }
}

/// A JSON string as Go writes it with HTML escaping off: `"` and `\` escaped, `\b \f \n \r \t`
/// short forms (Go 1.22 and later), other control bytes as `\u00xx`, U+2028 and U+2029 escaped
/// (for JavaScript), and each byte of invalid UTF-8 replaced by `\ufffd`.
pub fn write_string(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let b = c as u32 as usize;
                    out.push_str("\\u00");
                    out.push(HEX[b >> 4] as char);
                    out.push(HEX[b & 0xf] as char);
                }
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
        // Go replaces each byte that does not start a valid sequence with U+FFFD, escaped.
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

/// Shortest round-trip digits of a finite, non-zero `f` and its decimal exponent, as in
/// `d.ddd × 10^exp`. Rust and Go both pick the shortest string that reads back to the same
/// float (the closest one on a tie), so the digits agree.
fn shortest_sci(f: f64) -> (String, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').expect("`{:e}` output has an exponent");
    (
        mant.to_string(),
        if f.is_sign_negative() {
            "-".into()
        } else {
            String::new()
        },
        exp.parse().expect("exponent"),
    )
}

/// Go's `strconv.FormatFloat(f, 'e', -1, 64)` exponent part: a sign and at least two digits.
fn go_exp(exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{:02}", exp.unsigned_abs())
}

/// A finite float64 as Go's encoding/json writes it: plain decimal, or exponent form below
/// 1e-6 and from 1e21 on, with a one-digit negative exponent not zero-padded (`1e-7`).
pub fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (mant, sign, exp) = shortest_sci(f);
        let mut e = go_exp(exp);
        if e.len() == 3 && e.starts_with("-0") {
            e.remove(1);
        }
        format!("{sign}{mant}e{e}")
    } else {
        // Display prints the shortest round-trip digits without an exponent, and `1` for 1.0.
        format!("{f}")
    }
}

/// A float64 as Go's `fmt.Sprintf("%v", f)` writes it (go-ucfg's number-to-string conversion):
/// shortest digits, exponent form when the exponent is below -4 or at least 6 (`1e+06`).
pub fn go_format_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (mant, sign, exp) = shortest_sci(f);
    if !(-4..6).contains(&exp) {
        format!("{sign}{mant}e{}", go_exp(exp))
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout_matches_go_encoder() {
        let v = json!({"a": [], "b": {}, "c": [1, {"d": null}], "e": true});
        assert_eq!(
            to_go_pretty(&v),
            "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": null\n    }\n  ],\n  \"e\": true\n}\n"
        );
        assert_eq!(to_go_pretty(&json!([])), "[]\n");
    }

    #[test]
    fn empty_search_answer_has_no_newline() {
        assert_eq!(array_body(&[]), "[]");
        assert_eq!(array_body(&[json!("x")]), "[\n  \"x\"\n]\n");
    }

    #[test]
    fn string_escapes() {
        let mut s = String::new();
        write_string(
            &mut s,
            "<a href=\"x\">&'\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é\u{2028}\u{2029}😀".as_bytes(),
        );
        assert_eq!(
            s,
            r#""<a href=\"x\">&'\\\n\r\t\b\f\u0001\u001f"#.to_string()
                + "\u{7f}é\\u2028\\u2029😀\""
        );
        let mut s = String::new();
        write_string(&mut s, b"a\xffb\xe2\x82");
        assert_eq!(s, r#""a\ufffdb\ufffd\ufffd""#);
    }

    #[test]
    fn json_floats_like_go() {
        for (f, want) in [
            (1.0, "1"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e6, "1000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-10, "1.25e-10"),
            (-2.5e-7, "-2.5e-7"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(json_float(f), want, "{f}");
        }
    }

    #[test]
    fn percent_v_floats_like_go() {
        for (f, want) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-3.25, "-3.25"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_format_v(f), want, "{f}");
        }
    }
}
