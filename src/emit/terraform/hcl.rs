//! A small HCL writer: expressions, string quoting, and text built line by line with the `=`
//! of consecutive single-line attributes aligned as `terraform fmt` does. Knows nothing about
//! plans or AWS resources.

use serde_json::Value;
use std::collections::BTreeMap;

/// An HCL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string literal (escaped on output).
    Str(String),
    /// Anything written as is: numbers, bools, references, `for` expressions.
    Raw(String),
    List(Vec<Expr>),
    Obj(Vec<(String, Expr)>),
    /// `name(arg)`, e.g. `jsonencode({...})`.
    Call(&'static str, Box<Expr>),
}

/// An HCL string literal: `"` and `\` escaped, control characters as escapes, and template
/// sequences (`${`, `%{`) doubled so they stay literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object key: bare when it is an identifier, quoted otherwise.
fn key(k: &str) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        k.to_string()
    } else {
        quote(k)
    }
}

pub(super) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A JSON value as an HCL expression (for `jsonencode`), with `refs` (string -> reference)
/// substituted.
pub(super) fn from_json(v: &Value, refs: &BTreeMap<String, String>) -> Expr {
    match v {
        Value::Null => Expr::Raw("null".into()),
        Value::Bool(b) => Expr::Raw(b.to_string()),
        Value::Number(n) => Expr::Raw(n.to_string()),
        Value::String(s) => match refs.get(s) {
            Some(r) => Expr::Raw(r.clone()),
            None => Expr::Str(s.clone()),
        },
        Value::Array(a) => Expr::List(a.iter().map(|x| from_json(x, refs)).collect()),
        Value::Object(o) => Expr::Obj(o.iter().map(|(k, x)| (k.clone(), from_json(x, refs))).collect()),
    }
}

impl Expr {
    /// The expression on one line, if it fits (objects never do, except `{}`).
    fn inline(&self) -> Option<String> {
        match self {
            Expr::Str(s) => Some(quote(s)),
            Expr::Raw(r) => Some(r.clone()),
            Expr::List(items) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|i| if matches!(i, Expr::Str(_) | Expr::Raw(_)) { i.inline() } else { None })
                    .collect();
                let s = format!("[{}]", parts?.join(", "));
                (s.len() <= 100).then_some(s)
            }
            Expr::Obj(o) if o.is_empty() => Some("{}".into()),
            Expr::Obj(_) => None,
            Expr::Call(f, arg) => arg.inline().map(|a| format!("{f}({a})")),
        }
    }
}

#[derive(Debug, Clone)]
enum Line {
    /// `key = value` on one line: takes part in `=` alignment.
    Attr { indent: usize, key: String, value: String },
    /// Anything else (block headers, brackets, comments, blank lines): ends an alignment run.
    Raw(String),
}

/// HCL text built line by line, aligned as `terraform fmt` does on output.
#[derive(Debug, Default)]
pub struct Hcl {
    lines: Vec<Line>,
}

impl Hcl {
    fn pad(indent: usize) -> String {
        "  ".repeat(indent)
    }

    pub fn raw(&mut self, indent: usize, text: &str) {
        self.lines.push(Line::Raw(format!("{}{text}", Self::pad(indent))));
    }

    /// Whether nothing has been written (an empty file is not written at all).
    pub(super) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Appends `other`'s lines after these.
    pub(super) fn append(&mut self, other: Hcl) {
        self.lines.extend(other.lines);
    }

    pub fn blank(&mut self) {
        self.lines.push(Line::Raw(String::new()));
    }

    /// `# text`, one comment line per line of text.
    pub fn comment(&mut self, indent: usize, text: &str) {
        for l in text.lines() {
            self.raw(indent, format!("# {l}").trim_end());
        }
    }

    pub fn open(&mut self, indent: usize, header: &str) {
        self.raw(indent, &format!("{header} {{"));
    }

    pub fn close(&mut self, indent: usize) {
        self.raw(indent, "}");
    }

    /// `key = expr`, on one line when it fits, else opened and closed over several lines.
    pub fn attr(&mut self, indent: usize, k: &str, e: &Expr) {
        match e.inline() {
            Some(v) => self.lines.push(Line::Attr { indent, key: key(k), value: v }),
            None => {
                let (open, close) = Self::brackets(e);
                self.raw(indent, &format!("{} = {open}", key(k)));
                self.body(indent + 1, e);
                self.raw(indent, close);
            }
        }
    }

    fn brackets(e: &Expr) -> (String, &'static str) {
        match e {
            Expr::List(_) => ("[".into(), "]"),
            Expr::Obj(_) => ("{".into(), "}"),
            Expr::Call(f, arg) => {
                let (o, _) = Self::brackets(arg);
                (format!("{f}({o}"), if matches!(**arg, Expr::List(_)) { "])" } else { "})" })
            }
            _ => (String::new(), ""),
        }
    }

    /// The inside of a multi-line list, object or call.
    fn body(&mut self, indent: usize, e: &Expr) {
        match e {
            Expr::Obj(o) => {
                for (k, v) in o {
                    self.attr(indent, k, v);
                }
            }
            Expr::List(items) => {
                for i in items {
                    match i.inline() {
                        Some(v) => self.raw(indent, &format!("{v},")),
                        None => {
                            let (open, close) = Self::brackets(i);
                            self.raw(indent, &open);
                            self.body(indent + 1, i);
                            self.raw(indent, &format!("{close},"));
                        }
                    }
                }
            }
            Expr::Call(_, arg) => self.body(indent, arg),
            _ => {}
        }
    }

    /// The text, with `=` aligned within each run of consecutive single-line attributes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.lines.len() {
            match &self.lines[i] {
                Line::Raw(t) => {
                    out.push_str(t);
                    out.push('\n');
                    i += 1;
                }
                Line::Attr { .. } => {
                    let mut j = i;
                    while j < self.lines.len() && matches!(self.lines[j], Line::Attr { .. }) {
                        j += 1;
                    }
                    let width = self.lines[i..j]
                        .iter()
                        .map(|l| match l {
                            Line::Attr { indent, key, .. } => indent * 2 + key.len(),
                            Line::Raw(_) => 0,
                        })
                        .max()
                        .unwrap_or(0);
                    for l in &self.lines[i..j] {
                        if let Line::Attr { indent, key, value } = l {
                            let lead = format!("{}{key}", Self::pad(*indent));
                            out.push_str(&format!("{lead:<width$} = {value}\n"));
                        }
                    }
                    i = j;
                }
            }
        }
        out
    }
}
