//! Canonicalisation of a parsed body (spec §12.1).
//!
//! Owns the *safe* rewrites only: flatten nested `&&`/`||`, sort the children of every
//! `&&`/`||` by their printed form, drop duplicates, unwrap one-child groups, and for term
//! patterns sort/dedupe each term set and drop `?` terms that AWS ignores. It never applies
//! De Morgan, never rewrites `!=` or `NOT EXISTS`, never case-folds and never merges numbers,
//! regexes and strings (§12.1 steps 5, 6, 11, 12): those rewrites change what matches because
//! a missing, null, object or array node makes both `=` and `!=` false.

use std::fmt::Display;

use super::ast::*;

/// Canonicalise in place.
pub(crate) fn canonicalize(body: Body) -> Body {
    match body {
        Body::Json(e) => Body::Json(canon_expr(e)),
        Body::Terms(t) => Body::Terms(canon_terms(t)),
        Body::Sd(mut s) => {
            for entry in &mut s.entries {
                if let SdEntry::Field { cond: Some(c), .. } = entry {
                    *c = canon_expr(c.clone());
                }
            }
            Body::Sd(s)
        }
    }
}

/// Flatten, sort by serialisation, dedupe, unwrap.
pub(crate) fn canon_expr<A: Display + Clone + PartialEq>(e: Expr<A>) -> Expr<A> {
    let (children, is_and) = match e {
        Expr::Atom(_) => return e,
        Expr::And(c) => (c, true),
        Expr::Or(c) => (c, false),
    };
    let mut flat: Vec<Expr<A>> = Vec::with_capacity(children.len());
    for c in children {
        match canon_expr(c) {
            Expr::And(g) if is_and => flat.extend(g),
            Expr::Or(g) if !is_and => flat.extend(g),
            other => flat.push(other),
        }
    }
    let mut keyed: Vec<(String, Expr<A>)> = flat.into_iter().map(|c| (c.to_string(), c)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    let mut out: Vec<Expr<A>> = keyed.into_iter().map(|(_, c)| c).collect();
    if out.len() == 1 {
        return out.pop().expect("one child");
    }
    if is_and {
        Expr::And(out)
    } else {
        Expr::Or(out)
    }
}

fn sort_terms(terms: &mut Vec<Term>) {
    let mut keyed: Vec<(String, Term)> = terms.drain(..).map(|t| (t.to_string(), t)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    terms.extend(keyed.into_iter().map(|(_, t)| t));
}

/// The blank phrase: a single space in quotes, `" "`, is documented as "match everything"
/// [D S2] (§2 rule 8); as a required or optional term it is always satisfied, even by a
/// message without a space ([U] §2 rule 8: the spec's reading). `""` is satisfied by every
/// message anyway (it is a substring of any text), so it counts too.
///
/// Nothing else does: AWS documents only the single space, so `"  "`, `"\t"` or `"\u{a0}"`
/// are ordinary phrases that must occur in the message. Reading any whitespace as match-all
/// made such a phrase "cover" every baseline.
pub(crate) fn is_blank_phrase(t: &Term) -> bool {
    matches!(t, Term::Text { text, .. } if text == " " || text.is_empty())
}

fn canon_terms(mut t: TermPattern) -> TermPattern {
    // A bare term starting with `{` or `[` could not be printed first (it would read back as a
    // JSON or space-delimited pattern), so it is read as the quoted phrase. Unquoted punctuation
    // is outside the documented contract anyway ([U] §11.10).
    for term in t.required.iter_mut().chain(&mut t.excluded).chain(&mut t.optional) {
        if let Term::Text { text, quoted } = term {
            if text.starts_with(['{', '[']) {
                *quoted = true;
            }
        }
    }
    // Order matters: AWS ignores `?` terms as soon as any plain or `-` term is present, and a
    // blank phrase counts as a plain term for that rule, so apply the rule before dropping it.
    if !t.required.is_empty() || !t.excluded.is_empty() {
        t.optional.clear();
    }
    t.required.retain(|x| !is_blank_phrase(x));
    if t.optional.iter().any(is_blank_phrase) {
        // `?" " ?x` matches everything.
        t.optional.clear();
    }
    sort_terms(&mut t.required);
    sort_terms(&mut t.excluded);
    sort_terms(&mut t.optional);
    t
}
