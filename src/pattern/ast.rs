//! The canonical syntax tree of a filter pattern and its CDK-style printer.
//!
//! Owns the data types every other `pattern` submodule works on (`Body`, `Expr`, `Cond`,
//! `Selector`, `Value`, `StrPat`, term and space-delimited shapes) and their `Display`,
//! which *is* the canonical spelling (spec §12.1, last paragraph). It does no parsing and no
//! evaluation. Values are already normalised here: the parser never stores quote style,
//! whitespace or redundant parentheses, so two spellings that mean the same thing build the
//! same tree once `canon::canonicalize` has sorted and de-duplicated it.

use std::fmt::{self, Write as _};

use regex::Regex;

/// Comparison operators of JSON and space-delimited conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
        }
    }

    /// `<`, `>`, `<=`, `>=`: only numbers may follow.
    pub fn is_relational(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// A string value with its wildcards split off (spec §4.3, §12.1 step 4).
///
/// Only a *leading* and a *trailing* `*` are wildcards; an interior `*` is a literal
/// character ([D-old] "`Ev*ent` will only match the actual string `Ev*ent`"). Quoting does not
/// disable the wildcard, so `"AccessDenied*"` and `AccessDenied*` both become `Prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StrPat {
    /// No wildcard: the whole text must be equal (case-sensitive).
    Exact(String),
    /// `x*`: starts with `x` (the `*` may match the empty string).
    Prefix(String),
    /// `*x`: ends with `x`.
    Suffix(String),
    /// `*x*`: contains `x`.
    Contains(String),
    /// `*` alone: any scalar.
    Any,
}

impl StrPat {
    /// Split one leading and one trailing `*` off `raw` (exactly one each, so printing
    /// `Prefix("a*")` as `"a**"` reads back as the same value).
    pub fn from_raw(raw: &str) -> StrPat {
        let (lead, rest) = match raw.strip_prefix('*') {
            Some(r) => (true, r),
            None => (false, raw),
        };
        let (trail, core) = match rest.strip_suffix('*') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if (lead || trail) && core.is_empty() {
            return StrPat::Any;
        }
        match (lead, trail) {
            (false, false) => StrPat::Exact(core.to_string()),
            (false, true) => StrPat::Prefix(core.to_string()),
            (true, false) => StrPat::Suffix(core.to_string()),
            (true, true) => StrPat::Contains(core.to_string()),
        }
    }

    /// Wildcard match of a scalar's text.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            StrPat::Exact(s) => text == s,
            StrPat::Prefix(s) => text.starts_with(s.as_str()),
            StrPat::Suffix(s) => text.ends_with(s.as_str()),
            StrPat::Contains(s) => text.contains(s.as_str()),
            StrPat::Any => true,
        }
    }

    /// The raw text (wildcards re-attached), as written inside quotes.
    pub fn raw(&self) -> String {
        match self {
            StrPat::Exact(s) => s.clone(),
            StrPat::Prefix(s) => format!("{s}*"),
            StrPat::Suffix(s) => format!("*{s}"),
            StrPat::Contains(s) => format!("*{s}*"),
            StrPat::Any => "*".to_string(),
        }
    }
}

/// A number literal. Equality of literals is *textual* (`3600` is not merged with `3.6e3`,
/// §12.1 step 5); evaluation uses `value`.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub value: f64,
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A `%regex%` value or term, compiled once at parse time.
#[derive(Debug, Clone)]
pub struct Re {
    /// The text between the `%` delimiters.
    pub src: String,
    pub re: Regex,
}

impl PartialEq for Re {
    // Two regexes are equal only when textually identical (§12.1 step 6).
    fn eq(&self, other: &Self) -> bool {
        self.src == other.src
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrPat),
    Num(Number),
    Re(Re),
}

/// One step of a JSON selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// `.name` or `.['dotted.name']` (the same thing once parsed).
    Name(String),
    /// `[N]`.
    Index(usize),
    /// `[*]`: any element of an array.
    AnyIndex,
    /// `.*`: any field of an object.
    AnyField,
}

/// `$` followed by segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    pub segs: Vec<Seg>,
}

impl Selector {
    pub fn has_wildcard(&self) -> bool {
        self.segs.iter().any(|s| matches!(s, Seg::AnyIndex | Seg::AnyField))
    }
}

/// What a JSON condition tests about the selected node(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Cmp(CmpOp, Value),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

/// One JSON condition (`$.a = "x"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub sel: Selector,
    pub test: Test,
}

/// A boolean tree of atoms. `And`/`Or` hold at least two children once canonical.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<A> {
    And(Vec<Expr<A>>),
    Or(Vec<Expr<A>>),
    Atom(A),
}

/// A term of an unstructured pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A literal substring. `quoted` is only kept when it may carry meaning: a bare term made of
    /// `[A-Za-z0-9_]` is the same as its quoted form (§12.1 step 13), but an unquoted term with
    /// punctuation is outside the documented contract ([U] §11.10) and stays distinct.
    Text {
        text: String,
        quoted: bool,
    },
    Regex(Re),
}

/// Unstructured term pattern (§2): plain terms are ANDed, `-` terms excluded, `?` terms ORed
/// but ignored entirely when any plain or `-` term is present.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TermPattern {
    pub required: Vec<Term>,
    pub excluded: Vec<Term>,
    pub optional: Vec<Term>,
}

/// One condition atom of a space-delimited entry (`status_code = 404`).
#[derive(Debug, Clone, PartialEq)]
pub struct SdAtom {
    pub op: CmpOp,
    pub value: Value,
}

/// One entry of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum SdEntry {
    /// `...`: any number of fields.
    Ellipsis,
    /// A named field (`ip`), possibly with conditions, or an empty (unnamed) entry.
    Field { name: Option<String>, cond: Option<Expr<SdAtom>> },
}

/// Space-delimited pattern (§5).
#[derive(Debug, Clone, PartialEq)]
pub struct SdPattern {
    pub entries: Vec<SdEntry>,
}

/// The parsed (and, once stored in a `Pattern`, canonical) pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Terms(TermPattern),
    Json(Expr<Cond>),
    Sd(SdPattern),
}

// ---------------------------------------------------------------------------------------------
// Printing. The canonical form is CDK-style (§12.1): strings always double-quoted with `\"` and
// `\\` escaped, numbers bare, regexes `%…%`, every child of `&&`/`||` in parentheses.

pub(crate) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z0-9_]+`: the characters that never need quotes in a term (§2 rule 4).
pub(crate) fn is_plain_term(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('$')?;
        for seg in &self.segs {
            match seg {
                Seg::Name(n) if is_plain_name(n) => write!(f, ".{n}")?,
                Seg::Name(n) => write!(f, ".['{n}']")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
                Seg::AnyIndex => f.write_str("[*]")?,
                Seg::AnyField => f.write_str(".*")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(p) => write_quoted(f, &p.raw()),
            Value::Num(n) => f.write_str(&n.text),
            Value::Re(r) => write!(f, "%{}%", r.src),
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            Test::Cmp(op, v) => write!(f, "{} {} {}", self.sel, op.as_str(), v),
            Test::IsNull => write!(f, "{} IS NULL", self.sel),
            Test::IsTrue => write!(f, "{} IS TRUE", self.sel),
            Test::IsFalse => write!(f, "{} IS FALSE", self.sel),
            Test::NotExists => write!(f, "{} NOT EXISTS", self.sel),
        }
    }
}

impl<A: fmt::Display> fmt::Display for Expr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (children, sep) = match self {
            Expr::Atom(a) => return a.fmt(f),
            Expr::And(c) => (c, " && "),
            Expr::Or(c) => (c, " || "),
        };
        for (i, c) in children.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            write!(f, "({c})")?;
        }
        Ok(())
    }
}

/// Sort key inside one space-delimited entry (the field name is the same for all atoms).
impl fmt::Display for SdAtom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Text { text, quoted: false } => f.write_str(text),
            Term::Text { text, quoted: true } => write_quoted(f, text),
            Term::Regex(r) => write!(f, "%{}%", r.src),
        }
    }
}

impl fmt::Display for TermPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let groups: [(&[Term], &str); 3] = [(&self.required, ""), (&self.excluded, "-"), (&self.optional, "?")];
        for (terms, prefix) in groups {
            for t in terms {
                if !first {
                    f.write_char(' ')?;
                }
                first = false;
                write!(f, "{prefix}{t}")?;
            }
        }
        Ok(())
    }
}

/// Space-delimited conditions have no parentheses, so the tree is printed flat:
/// `name = "a" || name = "b" && name != "c"` (precedence restores the shape).
fn write_sd_expr(f: &mut fmt::Formatter<'_>, name: &str, e: &Expr<SdAtom>) -> fmt::Result {
    match e {
        Expr::Atom(a) => write!(f, "{name} {} {}", a.op.as_str(), a.value),
        Expr::And(c) | Expr::Or(c) => {
            let sep = if matches!(e, Expr::And(_)) { " && " } else { " || " };
            for (i, c) in c.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write_sd_expr(f, name, c)?;
            }
            Ok(())
        }
    }
}

impl fmt::Display for SdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match e {
                SdEntry::Ellipsis => f.write_str("...")?,
                SdEntry::Field { name: None, .. } => {}
                SdEntry::Field { name: Some(n), cond: None } => f.write_str(n)?,
                SdEntry::Field { name: Some(n), cond: Some(c) } => write_sd_expr(f, n, c)?,
            }
        }
        f.write_char(']')
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Terms(t) => t.fmt(f),
            Body::Json(e) => write!(f, "{{ {e} }}"),
            Body::Sd(s) => s.fmt(f),
        }
    }
}
