//! Values and expression evaluation, with the Logs Insights semantics cwfix assumes.
//!
//! Owns [`Val`] (null, text or number), field lookup in a CloudTrail record (dotted paths,
//! numeric segments index arrays, `@timestamp`, `@message`), and the truth of conditions.
//! The rules, which differ from metric-filter patterns on purpose:
//! - a missing field, JSON `null`, an object or an array is *null*;
//! - `=`, `<`, `>`, `<=`, `>=`, `like`, `in` are false on null; `!=`, `not like`, `not in` and
//!   `not (...)` are their negations, so they are **true** on null (Insights treats
//!   `userIdentity.invokedBy != 'x'` as true when the field is absent, unlike a filter pattern);
//! - two values compare as numbers when one is a number and the other reads as one, otherwise
//!   as text (case-sensitive); `like 'x'` is a case-sensitive substring test, `like /re/` a
//!   regular-expression search;
//! - JSON booleans read as the text `true` / `false` [U: Insights' own rendering not verified].
//!
//! No I/O, no threads: `exec` drives this per record.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use serde_json::Value as Json;

use super::parser::{CmpOp, Func, LikePat};

/// One value. Texts borrow from the record where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Str(Cow<'a, str>),
    /// A number and its text (as written in the record, or as cwfix formats results).
    Num(f64, Cow<'a, str>),
}

impl<'a> Val<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Null => None,
            Val::Str(s) | Val::Num(_, s) => Some(s),
        }
    }

    /// The numeric value of a number, or of a text that reads as one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Val::Num(v, _) => Some(*v),
            Val::Str(s) => parse_num(s),
            Val::Null => None,
        }
    }

    /// A borrowed view of this value.
    pub fn view(&self) -> Val<'_> {
        match self {
            Val::Null => Val::Null,
            Val::Str(s) => Val::Str(Cow::Borrowed(s)),
            Val::Num(v, s) => Val::Num(*v, Cow::Borrowed(s)),
        }
    }

    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Num(v, s) => Val::Num(v, Cow::Owned(s.into_owned())),
        }
    }

    /// A computed number (count, sum, avg): whole numbers print without a fraction.
    pub fn number_of(v: f64) -> Val<'static> {
        let text = if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") };
        Val::Num(v, Cow::Owned(text))
    }
}

/// A decimal number as Insights reads one in a text (`12`, `-1.5`, `3e2`); nothing else
/// (no `inf`, `nan`, hex or surrounding spaces).
pub fn parse_num(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let int = digits(&mut i);
    let mut frac = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac = digits(&mut i);
    }
    if int + frac == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// The value of a JSON node: strings and numbers as themselves, booleans as text, the rest null.
pub fn of_json(v: &Json) -> Val<'_> {
    match v {
        Json::String(s) => Val::Str(Cow::Borrowed(s)),
        Json::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN), Cow::Owned(n.to_string())),
        Json::Bool(b) => Val::Str(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => Val::Null,
    }
}

/// A field reference resolved at compile time.
#[derive(Debug, Clone, PartialEq)]
pub enum Path {
    /// `@message`: the record as compact JSON.
    Message,
    /// `@timestamp`: the record's `eventTime` as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
    Timestamp,
    /// A dotted path into the record; a segment indexes an array when it is a number.
    Json(Vec<String>),
}

impl Path {
    pub fn of(name: &str) -> Path {
        match name {
            "@message" => Path::Message,
            "@timestamp" => Path::Timestamp,
            _ => Path::Json(name.split('.').map(str::to_string).collect()),
        }
    }
}

/// The top-level properties a query reads: `early` those its filters need (parsed first, for
/// every record), `late` everything it reads (parsed only for records that pass the filters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    pub early: Vec<String>,
    pub late: Vec<String>,
}

/// One record being evaluated: its JSON text, and the properties the query reads, parsed on
/// first use (the rest of the record is skipped, never materialised).
pub struct Record<'r> {
    raw: &'r str,
    keys: &'r Keys,
    early: OnceCell<Json>,
    late: OnceCell<Json>,
    timestamp: OnceCell<Option<String>>,
}

impl<'r> Record<'r> {
    pub fn new(raw: &'r str, keys: &'r Keys) -> Record<'r> {
        Record { raw, keys, early: OnceCell::new(), late: OnceCell::new(), timestamp: OnceCell::new() }
    }

    /// The parsed properties that hold `key`.
    fn doc(&self, key: &str) -> &Json {
        if self.keys.early.iter().any(|k| k == key) {
            self.early.get_or_init(|| project(self.raw, &self.keys.early))
        } else {
            self.late.get_or_init(|| project(self.raw, &self.keys.late))
        }
    }

    pub fn get(&self, p: &Path) -> Val<'_> {
        match p {
            // The record's own text, as Insights shows the log event (CloudTrail's files and
            // its CloudWatch Logs events hold the same compact JSON).
            Path::Message => Val::Str(Cow::Borrowed(self.raw)),
            Path::Timestamp => match self.timestamp.get_or_init(|| {
                self.doc("eventTime").get("eventTime").and_then(Json::as_str).and_then(insights_timestamp)
            }) {
                Some(t) => Val::Str(Cow::Borrowed(t)),
                None => Val::Null,
            },
            Path::Json(segs) => {
                let Some(first) = segs.first() else { return Val::Null };
                let mut cur = self.doc(first);
                for s in segs {
                    cur = match cur {
                        Json::Object(m) => match m.get(s.as_str()) {
                            Some(v) => v,
                            None => return Val::Null,
                        },
                        Json::Array(a) => match s.parse::<usize>().ok().and_then(|i| a.get(i)) {
                            Some(v) => v,
                            None => return Val::Null,
                        },
                        _ => return Val::Null,
                    };
                }
                of_json(cur)
            }
        }
    }
}

/// Parse only the top-level properties `keep` of a record's (already validated) text.
fn project(raw: &str, keep: &[String]) -> Json {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    struct Key<'k>(&'k [String]);
    impl<'de> DeserializeSeed<'de> for Key<'_> {
        type Value = Option<String>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> Visitor<'de> for Key<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a property name")
        }
        fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Self::Value, E> {
            Ok(self.0.iter().any(|x| x == k).then(|| k.to_string()))
        }
    }
    struct Obj<'k>(&'k [String]);
    impl<'de> Visitor<'de> for Obj<'_> {
        type Value = serde_json::Map<String, Json>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut m = serde_json::Map::new();
            while let Some(k) = map.next_key_seed(Key(self.0))? {
                match k {
                    Some(k) => {
                        let v: Json = map.next_value()?;
                        m.insert(k, v);
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(m)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    match serde::Deserializer::deserialize_map(&mut de, Obj(keep)) {
        Ok(m) => Json::Object(m),
        Err(_) => Json::Null,
    }
}

/// `eventTime` (`2024-03-04T12:00:00Z`, fractions and offsets tolerated) as Insights shows
/// `@timestamp`: `2024-03-04 12:00:00.000` in UTC.
pub fn insights_timestamp(event_time: &str) -> Option<String> {
    let t = crate::backtest::parse_time(event_time)?;
    let base = crate::backtest::format_time(t);
    let mut ms = String::new();
    if let Some(frac) = event_time.get(19..).and_then(|r| r.strip_prefix('.')) {
        ms.extend(frac.chars().take_while(char::is_ascii_digit).take(3));
    }
    while ms.len() < 3 {
        ms.push('0');
    }
    Some(format!("{} {}.{ms}", &base[..10], &base[11..19]))
}

/// A compiled expression: field names resolved to a [`Ref`].
#[derive(Debug, Clone)]
pub enum CExpr {
    Ref(Ref),
    Lit(Val<'static>),
    Call(Func, Vec<CExpr>),
    Cmp(CmpOp, Box<CExpr>, Box<CExpr>),
    Like { negated: bool, expr: Box<CExpr>, pat: LikePat },
    In { negated: bool, expr: Box<CExpr>, list: Vec<Val<'static>> },
    Not(Box<CExpr>),
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
}

/// What a field name means at one point of the query.
#[derive(Debug, Clone, PartialEq)]
pub enum Ref {
    /// A name defined by `fields ... [as name]` (index into the definitions).
    Def(usize),
    /// A field of the record.
    Path(Path),
    /// A column of an in-memory table (after `stats`, `sort` or `limit`).
    Col(usize),
}

/// Where references are looked up.
pub trait Scope {
    fn get(&self, r: &Ref) -> Val<'_>;
}

/// A record plus the `fields` definitions, each computed at most once, on first use.
pub struct RecordScope<'r, 'd> {
    pub rec: Record<'r>,
    pub defs: &'d [CExpr],
    cache: Vec<OnceCell<Val<'static>>>,
}

impl<'r, 'd> RecordScope<'r, 'd> {
    pub fn new(raw: &'r str, keys: &'r Keys, defs: &'d [CExpr]) -> RecordScope<'r, 'd> {
        RecordScope { rec: Record::new(raw, keys), defs, cache: (0..defs.len()).map(|_| OnceCell::new()).collect() }
    }
}

impl Scope for RecordScope<'_, '_> {
    fn get(&self, r: &Ref) -> Val<'_> {
        match r {
            Ref::Path(p) => self.rec.get(p),
            Ref::Def(i) => {
                // Owned so the cache does not borrow from itself; a definition is usually a
                // plain field (cheap) or a short string.
                let v = self.cache[*i].get_or_init(|| eval(&self.defs[*i], self).into_owned());
                v.view()
            }
            Ref::Col(_) => Val::Null,
        }
    }
}

/// A row of an in-memory table.
pub struct RowScope<'a>(pub &'a [Val<'static>]);

impl Scope for RowScope<'_> {
    fn get(&self, r: &Ref) -> Val<'_> {
        match r {
            Ref::Col(i) => self.0.get(*i).map(Val::view).unwrap_or(Val::Null),
            _ => Val::Null,
        }
    }
}

/// The value of an expression (conditions evaluate to the text `true`/`false`).
pub fn eval<'s>(e: &'s CExpr, s: &'s dyn Scope) -> Val<'s> {
    match e {
        CExpr::Ref(r) => s.get(r),
        CExpr::Lit(v) => v.view(),
        CExpr::Call(Func::Coalesce, args) => {
            args.iter().map(|a| eval(a, s)).find(|v| !v.is_null()).unwrap_or(Val::Null)
        }
        CExpr::Call(Func::Concat, args) => {
            let vals: Vec<Val> = args.iter().map(|a| eval(a, s)).collect();
            if vals.iter().all(Val::is_null) {
                return Val::Null;
            }
            Val::Str(Cow::Owned(vals.iter().filter_map(Val::text).collect()))
        }
        _ => Val::Str(Cow::Borrowed(if truth(e, s) { "true" } else { "false" })),
    }
}

/// Is the condition true?
pub fn truth(e: &CExpr, s: &dyn Scope) -> bool {
    match e {
        CExpr::And(c) => c.iter().all(|c| truth(c, s)),
        CExpr::Or(c) => c.iter().any(|c| truth(c, s)),
        CExpr::Not(c) => !truth(c, s),
        CExpr::Cmp(op, l, r) => {
            let (l, r) = (eval(l, s), eval(r, s));
            match compare(&l, &r) {
                None => *op == CmpOp::Ne,
                Some(o) => match op {
                    CmpOp::Eq => o == Ordering::Equal,
                    CmpOp::Ne => o != Ordering::Equal,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Le => o != Ordering::Greater,
                    CmpOp::Ge => o != Ordering::Less,
                },
            }
        }
        CExpr::Like { negated, expr, pat } => {
            let v = eval(expr, s);
            let hit = match (v.text(), pat) {
                (None, _) => false,
                (Some(t), LikePat::Str(p)) => t.contains(p.as_str()),
                (Some(t), LikePat::Regex(r)) => r.re.is_match(t),
            };
            hit != *negated
        }
        CExpr::In { negated, expr, list } => {
            let v = eval(expr, s);
            let hit = list.iter().any(|x| compare(&v, x) == Some(Ordering::Equal));
            hit != *negated
        }
        CExpr::Call(Func::IsPresent, a) => a.first().is_some_and(|a| !eval(a, s).is_null()),
        other => eval(other, s).text() == Some("true"),
    }
}

/// Order two values for a comparison: `None` when either is null. Numbers when one side is a
/// number and the other reads as one; otherwise texts, byte-wise.
pub fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    let (ta, tb) = (a.text()?, b.text()?);
    let numeric = matches!(a, Val::Num(..)) || matches!(b, Val::Num(..));
    if numeric {
        if let (Some(x), Some(y)) = (a.number(), b.number()) {
            return x.partial_cmp(&y);
        }
    }
    Some(ta.cmp(tb))
}

/// Order for `sort`: nulls after everything (whatever the direction), numbers numerically
/// when both read as numbers, otherwise texts.
pub fn sort_cmp(a: &Val, b: &Val, desc: bool) -> Ordering {
    match (a.text(), b.text()) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Greater,
        (_, None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let o = match (a.number(), b.number()) {
                (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
                _ => x.cmp(y),
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Val<'static> {
        Val::Str(Cow::Owned(x.to_string()))
    }

    #[test]
    fn paths_and_specials() {
        let raw =
            r#"{"eventTime":"2024-03-04T12:00:01Z","a":{"b":[{"C":"x"},5]},"t":true,"n":null,"skip":{"big":[1,2]}}"#;
        let keys = Keys { early: vec!["a".into()], late: vec!["a".into(), "t".into(), "n".into(), "eventTime".into()] };
        let r = Record::new(raw, &keys);
        assert_eq!(r.get(&Path::of("a.b.0.C")), s("x"));
        assert_eq!(r.get(&Path::of("a.b.1")).number(), Some(5.0));
        assert_eq!(r.get(&Path::of("a.b.2")), Val::Null);
        assert_eq!(r.get(&Path::of("a.b")), Val::Null);
        assert_eq!(r.get(&Path::of("n")), Val::Null);
        assert_eq!(r.get(&Path::of("t")), s("true"));
        assert_eq!(r.get(&Path::of("@timestamp")), s("2024-03-04 12:00:01.000"));
        assert_eq!(r.get(&Path::of("@message")).text(), Some(raw));
        assert_eq!(r.get(&Path::of("skip.big.0")), Val::Null, "not projected");
        assert_eq!(project(raw, &["t".into()]), serde_json::json!({"t": true}));
        assert_eq!(insights_timestamp("2024-03-04T12:00:01.5+01:00").unwrap(), "2024-03-04 11:00:01.500");
    }

    #[test]
    fn comparisons_on_null_and_numbers() {
        assert_eq!(compare(&Val::Null, &s("a")), None);
        assert_eq!(compare(&Val::number_of(10.0), &s("9")), Some(Ordering::Greater));
        assert_eq!(compare(&s("10"), &s("9")), Some(Ordering::Less)); // two texts: byte order
        assert_eq!(parse_num("1e3"), Some(1000.0));
        assert_eq!(parse_num(" 1"), None);
        assert_eq!(parse_num("inf"), None);
        assert_eq!(Val::number_of(3.0).text(), Some("3"));
        assert_eq!(Val::number_of(2.5).text(), Some("2.5"));
    }

    #[test]
    fn sort_puts_nulls_last() {
        assert_eq!(sort_cmp(&Val::Null, &s("a"), false), Ordering::Greater);
        assert_eq!(sort_cmp(&Val::Null, &s("a"), true), Ordering::Greater);
        assert_eq!(sort_cmp(&s("2"), &s("10"), false), Ordering::Less);
    }
}
