//! CloudWatch Logs filter patterns: parse, canonicalise, evaluate, compare.
//!
//! Owns the filter-pattern language used by metric and subscription filters (not Logs
//! Insights): term patterns, JSON patterns and space-delimited patterns, as specified in
//! `filter-patterns.md` (referred to as "the spec", sections as §N). Pure: no I/O, no AWS
//! types, and no other cwfix module is imported.
//!
//! - [`parse`] turns text into a [`Pattern`] (or a [`ParseError`] with a caret display);
//!   the pattern keeps its source text and a canonical tree whose `Display` is the one
//!   normalised spelling (§12.1).
//! - [`Event`] holds one log event parsed once; [`Pattern::matches`] evaluates with AWS's
//!   semantics (§8).
//! - [`covers`] / [`equivalent`] decide implication soundly or say `Unknown` (§12.2), within a
//!   bounded amount of work ([`WORK_BUDGET`]).
//!
//! Open questions of the spec (§11) that the code had to decide are marked `[U]` where the
//! decision is made.

pub mod ast;
mod canon;
mod covers;
mod eval;
mod parser;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

pub use covers::{
    covers, covers_remembered, covers_with_budget, equivalent, equivalent_with_budget, Coverage, Equivalence, Relation,
    DNF_CAP, WORK_BUDGET,
};
pub use eval::Event;
pub use parser::{ParseError, ParseErrorKind, MAX_LEN, MAX_REGEX, MAX_WILDCARD_SELECTORS};

use ast::{Body, Cond, Seg};

/// The three pattern classes (§1). The empty pattern is a term pattern with no terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// `{ … }`
    Json,
    /// Terms, phrases, `?term`, `-term`, `%regex%`.
    Terms,
    /// `[ … ]`
    SpaceDelimited,
}

impl PatternKind {
    /// `json`, `terms` or `space_delimited`.
    pub fn as_str(self) -> &'static str {
        match self {
            PatternKind::Json => "json",
            PatternKind::Terms => "terms",
            PatternKind::SpaceDelimited => "space_delimited",
        }
    }
}

impl fmt::Display for PatternKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed filter pattern.
///
/// Equality (`==`) compares canonical trees: two spellings of the same pattern are equal even
/// though their [`source`](Pattern::source) differs.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    /// The canonical tree (read-only outside `pattern`: compilers such as `athena` walk it).
    pub(crate) body: Body,
    canonical: String,
    /// The compiled evaluation form of a JSON body (built once at parse time).
    plan: Option<eval::Plan>,
    /// The form `covers` works on (JSON only), computed on first use.
    prepared: OnceLock<Option<covers::Prepared>>,
}

/// Parse a filter pattern (quotas included: 1024 characters, 2 regexes, 1 wildcard per
/// selector, 3 wildcard selectors).
pub fn parse(src: &str) -> Result<Pattern, ParseError> {
    let body = canon::canonicalize(parser::parse_body(src)?);
    let canonical = body.to_string();
    let plan = match &body {
        Body::Json(e) => Some(eval::compile(e)),
        _ => None,
    };
    Ok(Pattern { source: src.to_string(), body, canonical, plan, prepared: OnceLock::new() })
}

impl Pattern {
    /// The canonical spelling (same as `Display`).
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The canonical spelling, borrowed.
    pub fn canonical_str(&self) -> &str {
        &self.canonical
    }

    /// The text this pattern was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Which of the three classes this is.
    pub fn kind(&self) -> PatternKind {
        match self.body {
            Body::Json(_) => PatternKind::Json,
            Body::Terms(_) => PatternKind::Terms,
            Body::Sd(_) => PatternKind::SpaceDelimited,
        }
    }

    /// Does the event match, with AWS's semantics?
    pub fn matches(&self, ev: &Event) -> bool {
        eval::matches_body(&self.body, self.plan.as_ref(), ev)
    }

    /// Top-level JSON properties the pattern reads, sorted, for callers that want to keep only
    /// those of large events. `None` when the whole message is needed (term and
    /// space-delimited patterns, or a `$.*` / `$[…]` selector).
    pub fn needed_fields(&self) -> Option<Vec<String>> {
        let Body::Json(e) = &self.body else {
            return None;
        };
        let mut out = Vec::new();
        let mut whole = false;
        visit_atoms(e, &mut |c: &Cond| match c.sel.segs.first() {
            Some(Seg::Name(n)) => out.push(n.clone()),
            _ => whole = true,
        });
        if whole {
            return None;
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// The JSON paths the pattern reads, for callers that build a reduced document: one path
    /// per selector, the selector's leading property names up to its first index or wildcard
    /// (everything below the path's last name may be read). `None` when the whole message is
    /// needed (term and space-delimited patterns, or a selector that starts with `$.*`/`$[…]`).
    pub fn needed_paths(&self) -> Option<Vec<Vec<String>>> {
        let Body::Json(e) = &self.body else {
            return None;
        };
        let mut out: Vec<Vec<String>> = Vec::new();
        let mut whole = false;
        visit_atoms(e, &mut |c: &Cond| {
            let names: Vec<String> =
                c.sel.segs.iter().map_while(|s| if let Seg::Name(n) = s { Some(n.clone()) } else { None }).collect();
            if names.is_empty() {
                whole = true;
            }
            out.push(names);
        });
        if whole {
            return None;
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// The interned atoms, expression and DNF of a JSON pattern (`None` for other classes).
    pub(crate) fn prepared(&self) -> Option<&covers::Prepared> {
        self.prepared
            .get_or_init(|| match &self.body {
                Body::Json(e) => Some(covers::prepare(e)),
                _ => None,
            })
            .as_ref()
    }
}

fn visit_atoms(e: &ast::Expr<Cond>, f: &mut dyn FnMut(&Cond)) {
    match e {
        ast::Expr::Atom(c) => f(c),
        ast::Expr::And(c) | ast::Expr::Or(c) => c.iter().for_each(|c| visit_atoms(c, f)),
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl FromStr for Pattern {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests;
