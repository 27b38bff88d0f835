//! A minifier for eprgen's own JavaScript, so the router fits a CloudFront function (10 KB).
//!
//! It is not a general one: it relies on how router.js and its adapters are written (every
//! statement ends with `;` or a block, no template literals, no arrow functions, no object
//! shorthand, no labels). It drops comments and whitespace, and renames every name the code
//! declares (functions, `var`s, parameters, `catch` bindings) to a short one, the same name
//! for the same name everywhere, so scopes and shadowing stay as they were. Property names
//! (`a.name`, `{ name: … }`) are never renamed. The tests run the minified function, so a
//! minifier bug shows up as a routing difference.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Ident,
    Num,
    Str,
    Regex,
    Punct,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    text: String,
    /// A line break stood between this token and the previous one.
    newline: bool,
}

const KEYWORDS: &[&str] = &[
    "async",
    "await",
    "break",
    "case",
    "catch",
    "const",
    "continue",
    "default",
    "delete",
    "do",
    "else",
    "export",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "let",
    "new",
    "null",
    "of",
    "return",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "undefined",
    "var",
    "void",
    "while",
];

/// Keywords after which a `/` starts a regular expression.
const BEFORE_EXPR: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "await",
];

const PUNCTS: &[&str] = &[
    ">>>=", "===", "!==", ">>>", "<<=", ">>=", "**=", "...", "==", "!=", "<=", ">=", "&&", "||",
    "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "=>", "**", "??", "?.",
];

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// Whether a token ends a value (then `/` after it divides, and a line break after it may
/// end a statement).
fn ends_value(t: &Tok) -> bool {
    match t.kind {
        Kind::Ident => !BEFORE_EXPR.contains(&t.text.as_str()),
        Kind::Num | Kind::Str | Kind::Regex => true,
        Kind::Punct => matches!(t.text.as_str(), ")" | "]" | "}" | "++" | "--"),
    }
}

/// Whether a line break after this token may end a statement. A `}` never does in eprgen's
/// code: every expression that ends with a brace is followed by `;`.
fn may_end_statement(t: &Tok) -> bool {
    ends_value(t) && t.text != "}"
}

fn starts_value(t: &Tok) -> bool {
    match t.kind {
        Kind::Ident | Kind::Num | Kind::Str | Kind::Regex => true,
        Kind::Punct => matches!(
            t.text.as_str(),
            "(" | "[" | "{" | "++" | "--" | "+" | "-" | "!" | "~"
        ),
    }
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    let mut newline = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            newline = true;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let end = (i + 2..chars.len().saturating_sub(1))
                .find(|&k| chars[k] == '*' && chars[k + 1] == '/')
                .ok_or("unterminated comment")?;
            newline |= chars[i..end].contains(&'\n');
            i = end + 2;
            continue;
        }
        let start = i;
        let kind = if ident_start(c) {
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            Kind::Num
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\n' {
                    return Err("line break in a string".into());
                }
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            Kind::Str
        } else if c == '`' {
            return Err("template literals are not supported".into());
        } else if c == '/' && !toks.last().is_some_and(ends_value) {
            i += 1;
            let mut class = false;
            while i < chars.len() && (chars[i] != '/' || class) {
                match chars[i] {
                    '\\' => i += 1,
                    '[' => class = true,
                    ']' => class = false,
                    '\n' => return Err("line break in a regular expression".into()),
                    _ => {}
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated regular expression".into());
            }
            i += 1;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            Kind::Regex
        } else {
            let rest: String = chars[i..(i + 4).min(chars.len())].iter().collect();
            let len = PUNCTS
                .iter()
                .find(|p| rest.starts_with(*p))
                .map(|p| p.len())
                .unwrap_or(1);
            i += len;
            Kind::Punct
        };
        toks.push(Tok {
            kind,
            text: chars[start..i].iter().collect(),
            newline,
        });
        newline = false;
    }
    Ok(toks)
}

/// Whether token `i` is a property name: after `.`, or an object literal key.
fn is_property(toks: &[Tok], i: usize) -> bool {
    let prev = i.checked_sub(1).map(|p| toks[p].text.as_str());
    let next = toks.get(i + 1).map(|t| t.text.as_str());
    prev == Some(".") || (matches!(prev, Some("{") | Some(",")) && next == Some(":"))
}

/// The names the code declares: function names, parameters, `var`/`let`/`const` and `catch`
/// bindings.
fn declared(toks: &[Tok]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].text.as_str();
        if t == "function" {
            let mut k = i + 1;
            if toks.get(k).is_some_and(|t| t.kind == Kind::Ident) {
                names.insert(toks[k].text.clone());
                k += 1;
            }
            // Parameters: identifiers up to the closing parenthesis.
            k += 1;
            while k < toks.len() && toks[k].text != ")" {
                if toks[k].kind == Kind::Ident {
                    names.insert(toks[k].text.clone());
                }
                k += 1;
            }
        } else if t == "=>" && i > 0 {
            // Arrow function parameters: `x =>` or `(a, b) =>`.
            if toks[i - 1].kind == Kind::Ident {
                names.insert(toks[i - 1].text.clone());
            } else if toks[i - 1].text == ")" {
                let mut k = i - 1;
                while k > 0 && toks[k].text != "(" {
                    k -= 1;
                    if toks[k].kind == Kind::Ident {
                        names.insert(toks[k].text.clone());
                    }
                }
            }
        } else if t == "catch" && toks.get(i + 1).is_some_and(|t| t.text == "(") {
            if let Some(n) = toks.get(i + 2) {
                names.insert(n.text.clone());
            }
        } else if matches!(t, "var" | "let" | "const") {
            // Declarators: the first name, and each name after a `,` at depth 0, up to `;`
            // (or `in`/`of` in a for-in loop).
            let mut k = i + 1;
            let mut depth = 0i32;
            let mut expect = true;
            while k < toks.len() {
                let x = &toks[k];
                match x.text.as_str() {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => {
                        depth -= 1;
                        if depth < 0 {
                            break;
                        }
                    }
                    ";" if depth == 0 => break,
                    "in" | "of" if depth == 0 => break,
                    "," if depth == 0 => {
                        expect = true;
                        k += 1;
                        continue;
                    }
                    _ => {}
                }
                if expect && x.kind == Kind::Ident {
                    names.insert(x.text.clone());
                }
                expect = false;
                k += 1;
            }
        }
        i += 1;
    }
    names.retain(|n| !KEYWORDS.contains(&n.as_str()));
    names
}

/// Short names in order: a…z, A…Z, then two letters, skipping every word the source uses.
fn short_names(taken: &BTreeSet<String>, n: usize) -> Vec<String> {
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
    let mut out = Vec::with_capacity(n);
    let mut len = 1;
    while out.len() < n {
        let total = letters.len().pow(len as u32);
        for mut k in 0..total {
            let mut s = String::new();
            for _ in 0..len {
                s.insert(0, letters[k % letters.len()]);
                k /= letters.len();
            }
            if !taken.contains(&s) && !KEYWORDS.contains(&s.as_str()) {
                out.push(s);
                if out.len() == n {
                    break;
                }
            }
        }
        len += 1;
    }
    out
}

/// Minify `src`, keeping the names in `keep` (entry points the runtime calls).
pub fn minify(src: &str, keep: &[&str]) -> Result<String, String> {
    let mut toks = tokenize(src)?;
    let mut names = declared(&toks);
    for k in keep {
        names.remove(*k);
    }
    // New names must not hide a name that stays (a global such as `String` or `cf`); property
    // names cannot clash with variables, so they may be reused.
    let taken: BTreeSet<String> = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            t.kind == Kind::Ident && !is_property(&toks, *i) && !names.contains(&t.text)
        })
        .map(|(_, t)| t.text.clone())
        .collect();
    // The most used names get the shortest replacements.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (i, t) in toks.iter().enumerate() {
        if t.kind == Kind::Ident && names.contains(&t.text) && !is_property(&toks, i) {
            *uses.entry(t.text.as_str()).or_default() += 1;
        }
    }
    let mut order: Vec<(&str, usize)> = uses.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let short = short_names(&taken, order.len());
    let map: HashMap<String, String> = order
        .iter()
        .zip(short)
        .map(|((n, _), s)| (n.to_string(), s))
        .collect();
    for i in 0..toks.len() {
        if toks[i].kind == Kind::Ident && !is_property(&toks, i) {
            if let Some(s) = map.get(&toks[i].text) {
                toks[i].text = s.clone();
            }
        }
    }
    // `;}` is `}`; `undefined` (never reassigned here) is `void 0`.
    let toks: Vec<Tok> = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| !(t.text == ";" && toks.get(i + 1).is_some_and(|n| n.text == "}")))
        .map(|(i, t)| {
            let mut t = t.clone();
            if t.kind == Kind::Ident && t.text == "undefined" && !is_property(&toks, i) {
                t.text = "void 0".into();
            }
            t
        })
        .collect();
    let toks = merge_vars(toks);
    let mut out = String::with_capacity(src.len() / 2);
    for (i, t) in toks.iter().enumerate() {
        if let Some(prev) = i.checked_sub(1).map(|p| &toks[p]) {
            let word = |t: &Tok| matches!(t.kind, Kind::Ident | Kind::Num);
            if t.newline && may_end_statement(prev) && starts_value(t) {
                // Where a line break may end a statement, keep it.
                out.push('\n');
            } else if (word(prev) && word(t))
                || (prev.kind == Kind::Num && t.text.starts_with('.'))
                || (matches!(prev.text.as_str(), "+" | "++") && t.text.starts_with('+'))
                || (matches!(prev.text.as_str(), "-" | "--") && t.text.starts_with('-'))
            {
                out.push(' ');
            }
        }
        out.push_str(&t.text);
    }
    out.push('\n');
    Ok(out)
}

/// `var a = 1; var b = 2;` is `var a = 1, b = 2;` where the first `var` starts a statement of
/// a block (not `for (var …` or `if (x) var …`).
fn merge_vars(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let starts_statement =
            |k: usize| k == 0 || matches!(toks[k - 1].text.as_str(), ";" | "{" | "}");
        if toks[i].text == "var" && starts_statement(i) {
            // Copy the declaration up to its `;` at depth 0, then swallow `; var`.
            let mut depth = 0i32;
            out.push(toks[i].clone());
            i += 1;
            while i < toks.len() {
                let t = &toks[i];
                match t.text.as_str() {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => depth -= 1,
                    _ => {}
                }
                if depth == 0 && t.text == ";" {
                    if toks.get(i + 1).is_some_and(|n| n.text == "var") {
                        out.push(Tok {
                            kind: Kind::Punct,
                            text: ",".into(),
                            newline: false,
                        });
                        i += 2;
                        continue;
                    }
                    out.push(t.clone());
                    i += 1;
                    break;
                }
                out.push(t.clone());
                i += 1;
            }
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_locals_not_properties() {
        let src = "// c\nfunction add(first, second) {\n    var total = first + second, o = { total: total };\n    return o.total;\n}\nfunction handler(e) { return add(e, 1); }\n";
        let out = minify(src, &["handler"]).unwrap();
        assert!(!out.contains("first") && !out.contains("second"), "{out}");
        assert!(out.contains("{total:") && out.contains(".total"), "{out}");
        assert!(out.contains("function handler("), "{out}");
        assert!(!out.contains("// c"), "{out}");
    }

    #[test]
    fn keeps_strings_and_regexes() {
        let src =
            "var s = 'a // b', r = /[/]\\/x/g, d = 4 / 2;\nvar t = s.replace(r, \"+\") + +d;\n";
        let out = minify(src, &[]).unwrap();
        assert!(out.contains("'a // b'") && out.contains("/[/]\\/x/g") && out.contains("4/2"));
        assert!(out.contains("+ +"), "{out}");
    }

    #[test]
    fn merges_var_statements() {
        let out = minify(
            "function f(n) { var a = [1, 2]; var b = { c: 3 }; for (var i = 0; i < n; i++) var d = i; var e = 4; return a; }",
            &["f"],
        )
        .unwrap();
        // The first two merge; the `for` one and the one it governs stay as they are.
        assert!(out.contains("=[1,2],"), "{out}");
        assert_eq!(out.matches("var ").count(), 4, "{out}");
    }

    #[test]
    fn refuses_template_literals() {
        assert!(minify("var a = `x`;", &[]).is_err());
    }
}
