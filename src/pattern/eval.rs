//! Evaluation of a canonical pattern against one log event (spec §8).
//!
//! Owns `Event`: a log message parsed once, with the text that term and space-delimited
//! patterns need computed lazily and cached, so one event can be tested against many patterns
//! cheaply. The AWS rules that surprise people live here: a missing, null, object or array node
//! makes both `=` and `!=` false; `NOT EXISTS` is the only test true on a missing property;
//! wildcard selectors are existential; matching is case-sensitive.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use serde_json::Value as Json;

use super::ast::*;
use super::canon::is_blank_phrase;
use super::parser::parse_number;

/// One log event, ready to be matched against any number of patterns.
///
/// Build it once per event: the JSON document is parsed (or taken) once, the message text used
/// by term patterns is kept (or serialised compactly on first use), and the space-delimited
/// field split is computed on first use.
#[derive(Debug)]
pub struct Event {
    doc: Option<Json>,
    text: OnceLock<String>,
    fields: OnceLock<Vec<SdField>>,
}

/// One space-delimited field: its value (delimiters stripped) and where it starts in the text.
#[derive(Debug)]
struct SdField {
    value: String,
    start: usize,
}

impl Event {
    /// An event from a JSON document (e.g. one CloudTrail record). Term patterns see its compact
    /// serialisation, in the document's key order (serde_json `preserve_order`), which is how
    /// CloudTrail records arrive in CloudWatch Logs (§1).
    pub fn from_value(doc: Json) -> Event {
        Event { doc: Some(doc), text: OnceLock::new(), fields: OnceLock::new() }
    }

    /// An event from JSON text; term patterns see `text` exactly as given (§14: evaluate terms
    /// on the original message, never on a re-serialisation).
    pub fn from_json_str(text: &str) -> Result<Event, serde_json::Error> {
        let doc: Json = serde_json::from_str(text)?;
        Ok(Event { doc: Some(doc), text: OnceLock::from(text.to_string()), fields: OnceLock::new() })
    }

    /// A plain-text log message that is not JSON: JSON patterns never match it (§1); term and
    /// space-delimited patterns see `text` exactly as given. For callers that already tried to
    /// parse the text (and want the error), where [`Event::from_message`] would parse again.
    pub fn from_text(text: &str) -> Event {
        Event { doc: None, text: OnceLock::from(text.to_string()), fields: OnceLock::new() }
    }

    /// An arbitrary log message. It is parsed as JSON only if it looks like a JSON object or
    /// array; otherwise JSON patterns never match it (§1).
    pub fn from_message(text: &str) -> Event {
        let t = text.trim_start();
        let doc = if t.starts_with('{') || t.starts_with('[') { serde_json::from_str(text).ok() } else { None };
        Event { doc, text: OnceLock::from(text.to_string()), fields: OnceLock::new() }
    }

    /// The parsed JSON document, if the message is JSON.
    pub fn value(&self) -> Option<&Json> {
        self.doc.as_ref()
    }

    /// The message text term patterns are matched against.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| match &self.doc {
            Some(d) => serde_json::to_string(d).unwrap_or_default(),
            None => String::new(),
        })
    }

    fn fields(&self) -> &[SdField] {
        self.fields.get_or_init(|| split_fields(self.text()))
    }
}

/// Split a message into space-delimited fields: whitespace separates; text between `"…"` or
/// `[…]` is one field with the delimiters stripped (§5).
fn split_fields(text: &str) -> Vec<SdField> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let close = match b[i] {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        if let Some(close) = close {
            if let Some(len) = b[i + 1..].iter().position(|&c| c == close) {
                out.push(SdField { value: text[i + 1..i + 1 + len].to_string(), start });
                i += len + 2;
                continue;
            }
        }
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push(SdField { value: text[start..i].to_string(), start });
    }
    out
}

pub(crate) fn matches_body(body: &Body, plan: Option<&Plan>, ev: &Event) -> bool {
    match body {
        Body::Json(e) => match &ev.doc {
            Some(doc) => match plan {
                Some(plan) => eval_plan(plan, doc),
                None => eval_json(e, doc),
            },
            None => false,
        },
        Body::Terms(t) => eval_terms(t, ev.text()),
        Body::Sd(s) => eval_sd(s, ev),
    }
}

/// A JSON expression compiled for evaluation. The one rewrite is for the shape every CIS list
/// has: an `||` of `S = "literal"` atoms on one selector becomes a single set lookup, so the
/// selector is resolved once instead of once per name (same result: each atom is an exact
/// string comparison of the same node's text).
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    And(Vec<Plan>),
    Or(Vec<Plan>),
    Atom(Cond),
    AnyOf { sel: Selector, values: HashSet<String> },
}

pub(crate) fn compile(e: &Expr<Cond>) -> Plan {
    match e {
        Expr::Atom(c) => Plan::Atom(c.clone()),
        Expr::And(c) => Plan::And(c.iter().map(compile).collect()),
        Expr::Or(children) => {
            let mut sets: Vec<(Selector, HashSet<String>)> = Vec::new();
            let mut rest = Vec::new();
            for c in children {
                match c {
                    Expr::Atom(Cond { sel, test: Test::Cmp(CmpOp::Eq, Value::Str(StrPat::Exact(v))) }) => {
                        match sets.iter_mut().find(|(s, _)| s == sel) {
                            Some((_, set)) => {
                                set.insert(v.clone());
                            }
                            None => sets.push((sel.clone(), HashSet::from([v.clone()]))),
                        }
                    }
                    other => rest.push(compile(other)),
                }
            }
            let mut out: Vec<Plan> = sets
                .into_iter()
                .map(|(sel, values)| {
                    if values.len() == 1 {
                        let v = values.into_iter().next().expect("one value");
                        Plan::Atom(Cond { sel, test: Test::Cmp(CmpOp::Eq, Value::Str(StrPat::Exact(v))) })
                    } else {
                        Plan::AnyOf { sel, values }
                    }
                })
                .collect();
            out.extend(rest);
            if out.len() == 1 {
                out.pop().expect("one plan")
            } else {
                Plan::Or(out)
            }
        }
    }
}

fn eval_plan(p: &Plan, doc: &Json) -> bool {
    match p {
        Plan::And(c) => c.iter().all(|c| eval_plan(c, doc)),
        Plan::Or(c) => c.iter().any(|c| eval_plan(c, doc)),
        Plan::Atom(cond) => eval_cond(cond, doc),
        Plan::AnyOf { sel, values } => {
            any_node(doc, &sel.segs, &mut |n| scalar_text(n).is_some_and(|t| values.contains(t.as_ref())))
        }
    }
}

// ---------------------------------------------------------------------------------------- terms

fn term_occurs(t: &Term, text: &str) -> bool {
    if is_blank_phrase(t) {
        return true;
    }
    match t {
        Term::Text { text: needle, .. } => text.contains(needle.as_str()),
        Term::Regex(r) => r.re.is_match(text),
    }
}

fn eval_terms(t: &TermPattern, text: &str) -> bool {
    if !t.required.is_empty() || !t.excluded.is_empty() {
        // `?` terms are ignored when any plain or `-` term is present [D S1].
        t.required.iter().all(|x| term_occurs(x, text)) && !t.excluded.iter().any(|x| term_occurs(x, text))
    } else if !t.optional.is_empty() {
        t.optional.iter().any(|x| term_occurs(x, text))
    } else {
        true // empty pattern matches everything [D-old]
    }
}

// ---------------------------------------------------------------------------------------- JSON

pub(crate) fn eval_json(e: &Expr<Cond>, doc: &Json) -> bool {
    match e {
        Expr::And(c) => c.iter().all(|c| eval_json(c, doc)),
        Expr::Or(c) => c.iter().any(|c| eval_json(c, doc)),
        Expr::Atom(cond) => eval_cond(cond, doc),
    }
}

/// Does any node selected by `segs` from `v` satisfy `f`? Wildcards fan out (existential,
/// §4.1); a step that does not apply (missing key, index out of range, wrong type) selects
/// nothing.
pub(crate) fn any_node(v: &Json, segs: &[Seg], f: &mut dyn FnMut(&Json) -> bool) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        return f(v);
    };
    match (seg, v) {
        (Seg::Name(n), Json::Object(m)) => m.get(n).is_some_and(|c| any_node(c, rest, f)),
        (Seg::Index(i), Json::Array(a)) => a.get(*i).is_some_and(|c| any_node(c, rest, f)),
        (Seg::AnyIndex, Json::Array(a)) => a.iter().any(|c| any_node(c, rest, f)),
        (Seg::AnyField, Json::Object(m)) => m.values().any(|c| any_node(c, rest, f)),
        _ => false,
    }
}

pub(crate) fn eval_cond(c: &Cond, doc: &Json) -> bool {
    match &c.test {
        Test::NotExists => !any_node(doc, &c.sel.segs, &mut |_| true),
        Test::IsNull => any_node(doc, &c.sel.segs, &mut |n| n.is_null()),
        Test::IsTrue => any_node(doc, &c.sel.segs, &mut |n| n == &Json::Bool(true)),
        Test::IsFalse => any_node(doc, &c.sel.segs, &mut |n| n == &Json::Bool(false)),
        Test::Cmp(op, v) => any_node(doc, &c.sel.segs, &mut |n| cmp_json(n, *op, v)),
    }
}

/// The text of a scalar node. Null, objects and arrays have none: every comparison on them is
/// false, `!=` included [D-old S5]. Booleans compare by their text `true`/`false` — [U] §11.3,
/// floci's reading.
fn scalar_text(n: &Json) -> Option<Cow<'_, str>> {
    match n {
        Json::String(s) => Some(Cow::Borrowed(s)),
        Json::Number(x) => Some(Cow::Owned(x.to_string())),
        Json::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// The number a node holds for a number literal: JSON numbers, and — [U] §11.1/§11.2 — strings
/// that read as numbers, by analogy with space-delimited fields, which are always text yet
/// compare numerically (`status_code = 404` matches `404`, vector `sd-doc-status-or`).
fn numeric(n: &Json) -> Option<FieldNum> {
    match n {
        Json::Number(x) => Some(FieldNum::new(&x.to_string(), x.as_f64()?)),
        Json::String(s) => Some(FieldNum::new(s, parse_number(s)?)),
        _ => None,
    }
}

/// A field's number as comparisons see it. This is *the* number rule, shared with coverage
/// (`covers::implies` must agree with it or coverage is unsound):
///
/// - an integer text (`[+-]digits`, within i128) compares *exactly* with an integer literal, so
///   20-digit ids and numbers past 2^53 are told apart;
/// - everything else compares as f64: a field with a fraction or exponent (`1.5`, `1e3`,
///   `9007199254740993.0`) against any literal, and an integer field against a literal with a
///   fraction or exponent (the field is rounded to the nearest f64 first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FieldNum {
    Int(i128),
    Float(f64),
}

impl FieldNum {
    /// `value` must be the f64 reading of `text`.
    pub(crate) fn new(text: &str, value: f64) -> FieldNum {
        match int_text(text) {
            Some(i) => FieldNum::Int(i),
            None => FieldNum::Float(value),
        }
    }
}

/// `[+-]digits` within i128, else `None`.
pub(crate) fn int_text(s: &str) -> Option<i128> {
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        t.parse().ok()
    } else {
        None
    }
}

impl Number {
    /// The literal as an exact integer, when it is written as one (see [`FieldNum`]).
    pub(crate) fn as_int(&self) -> Option<i128> {
        int_text(&self.text)
    }
}

/// Order of a field against a literal (see [`FieldNum`] for the rule).
pub(crate) fn num_cmp(field: FieldNum, lit: &Number) -> Option<std::cmp::Ordering> {
    match (field, lit.as_int()) {
        (FieldNum::Int(a), Some(b)) => Some(a.cmp(&b)),
        // `as` rounds to nearest, ties to even: the same f64 that parsing the field's text gives.
        (FieldNum::Int(a), None) => (a as f64).partial_cmp(&lit.value),
        (FieldNum::Float(x), _) => x.partial_cmp(&lit.value),
    }
}

/// Does `field op lit` hold?
pub(crate) fn num_holds(field: FieldNum, op: CmpOp, lit: &Number) -> bool {
    cmp_num(num_cmp(field, lit), op)
}

fn cmp_num(ord: Option<std::cmp::Ordering>, op: CmpOp) -> bool {
    use std::cmp::Ordering::*;
    let Some(o) = ord else { return false };
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Gt => o == Greater,
        CmpOp::Le => o != Greater,
        CmpOp::Ge => o != Less,
    }
}

pub(crate) fn cmp_json(n: &Json, op: CmpOp, v: &Value) -> bool {
    match v {
        Value::Num(lit) => match numeric(n) {
            Some(f) => num_holds(f, op, lit),
            None => false,
        },
        Value::Str(p) => match scalar_text(n) {
            Some(t) => (op == CmpOp::Eq) == p.matches(&t),
            None => false,
        },
        // `!=` with a regex: "not matched by the regex" [I] §3.
        Value::Re(r) => match scalar_text(n) {
            Some(t) => (op == CmpOp::Eq) == r.re.is_match(&t),
            None => false,
        },
    }
}

fn cmp_text(text: &str, op: CmpOp, v: &Value) -> bool {
    match v {
        Value::Num(lit) => match parse_number(text) {
            Some(value) => num_holds(FieldNum::new(text, value), op, lit),
            None => false,
        },
        Value::Str(p) => (op == CmpOp::Eq) == p.matches(text),
        Value::Re(r) => (op == CmpOp::Eq) == r.re.is_match(text),
    }
}

// ---------------------------------------------------------------------------------------- space-delimited

fn eval_sd_expr(e: &Expr<SdAtom>, text: &str) -> bool {
    match e {
        Expr::And(c) => c.iter().all(|c| eval_sd_expr(c, text)),
        Expr::Or(c) => c.iter().any(|c| eval_sd_expr(c, text)),
        Expr::Atom(a) => cmp_text(text, a.op, &a.value),
    }
}

fn entry_ok(entry: &SdEntry, value: &str) -> bool {
    match entry {
        SdEntry::Field { cond: Some(c), .. } => eval_sd_expr(c, value),
        _ => true,
    }
}

/// Positional matching (§5): without `...` the last entry absorbs the rest of the line; with
/// `...` the entries before it take the first fields and those after it the last fields. A
/// message with fewer fields than entries does not match [I].
fn eval_sd(s: &SdPattern, ev: &Event) -> bool {
    let text = ev.text();
    let fields = ev.fields();
    let entries = &s.entries;
    match entries.iter().position(|e| matches!(e, SdEntry::Ellipsis)) {
        Some(pos) => {
            let before = &entries[..pos];
            let after = &entries[pos + 1..];
            if fields.len() < before.len() + after.len() {
                return false;
            }
            let tail = &fields[fields.len() - after.len()..];
            before.iter().zip(fields).all(|(e, f)| entry_ok(e, &f.value))
                && after.iter().zip(tail).all(|(e, f)| entry_ok(e, &f.value))
        }
        None => {
            let n = entries.len();
            if n == 0 || fields.len() < n {
                return false;
            }
            let head_ok = entries[..n - 1].iter().zip(fields).all(|(e, f)| entry_ok(e, &f.value));
            if !head_ok {
                return false;
            }
            let last_value: Cow<'_, str> = if fields.len() == n {
                Cow::Borrowed(&fields[n - 1].value)
            } else {
                Cow::Borrowed(text[fields[n - 1].start..].trim_end())
            };
            entry_ok(&entries[n - 1], &last_value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_quotes_and_brackets() {
        let f =
            split_fields(r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#);
        let v: Vec<&str> = f.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(
            v,
            ["127.0.0.1", "Prod", "frank", "10/Oct/2000:13:25:15 -0700", "GET /index.html HTTP/1.0", "404", "1534"]
        );
    }

    #[test]
    fn big_integers_compare_exactly() {
        let lit = Number { text: "12345678901234567891".into(), value: 12345678901234567891.0 };
        let f = FieldNum::new("12345678901234567892", 12345678901234567892.0);
        assert_eq!(num_cmp(f, &lit), Some(std::cmp::Ordering::Greater));
        // Past 2^53 an integer literal still separates neighbours; a `.0` literal does not.
        let lit = Number { text: "9007199254740992".into(), value: 9007199254740992.0 };
        assert!(num_holds(FieldNum::new("9007199254740993", 9007199254740992.0), CmpOp::Gt, &lit));
        let lit = Number { text: "9007199254740992.0".into(), value: 9007199254740992.0 };
        assert!(!num_holds(FieldNum::new("9007199254740993", 9007199254740992.0), CmpOp::Gt, &lit));
    }
}
