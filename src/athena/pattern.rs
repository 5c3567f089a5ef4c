//! A metric-filter pattern as a Trino predicate over the CloudTrail table, with the local
//! evaluator's semantics (`pattern::eval`, spec §8):
//! - every comparison is false on a missing, null, object or array node, `!=` included
//!   (`x IS NOT NULL AND NOT (...)`), and every atom is wrapped in `COALESCE(..., FALSE)` so SQL's
//!   three-valued logic never leaks into `AND`/`OR`;
//! - `*` wildcards become `LIKE` with `%`, `_` and `\` escaped (`ESCAPE '\'`), `*` alone is
//!   "present";
//! - number literals compare numerically with JSON numbers and with texts that read as numbers
//!   (`regexp_like` guard, then `TRY_CAST(... AS DOUBLE)`);
//! - `NOT EXISTS` is `IS NULL` (see `schema` for what NULL means per column), `IS NULL` is JSON
//!   null, `IS TRUE`/`IS FALSE` JSON booleans;
//! - `[*]` over `resources` is existential (`any_match`), `$.*` an `OR` over the top-level
//!   text columns; `[N]` is `element_at(..., N+1)` (NULL past the end).
//!
//! Term and space-delimited patterns need the raw message, which the table does not keep.

use crate::pattern::ast::{Body, CmpOp, Cond, Expr, Seg, StrPat, Test, Value};
use crate::pattern::Pattern;

use super::schema::{Field, Ty};
use super::sql::{like_expr, lit, resolve_from, root, Node, Step, NUMBER_RE};
use super::CompileError;

/// The predicate (SQL boolean expression, never NULL) that is true exactly when `p` matches.
pub fn predicate(p: &Pattern) -> Result<String, CompileError> {
    match &p.body {
        Body::Json(e) => expr(e),
        Body::Terms(t) if t.required.is_empty() && t.excluded.is_empty() && t.optional.is_empty() => Ok("TRUE".into()),
        Body::Terms(_) => Err(CompileError::NeedsMessage { what: format!("term pattern `{}`", p.canonical_str()) }),
        Body::Sd(_) => {
            Err(CompileError::NeedsMessage { what: format!("space-delimited pattern `{}`", p.canonical_str()) })
        }
    }
}

fn expr(e: &Expr<Cond>) -> Result<String, CompileError> {
    match e {
        Expr::Atom(c) => cond(c),
        Expr::And(c) => {
            let parts: Result<Vec<String>, _> = c.iter().map(expr).collect();
            Ok(format!("({})", parts?.join(" AND ")))
        }
        Expr::Or(c) => {
            // The CIS shape `(S = "a") || (S = "b") || ...` becomes one `S IN ('a', 'b', ...)`
            // (same truth: NULL when S is NULL, hence COALESCE), like the evaluator's AnyOf.
            let mut lists: Vec<(&Cond, Vec<String>)> = Vec::new();
            let mut parts = Vec::new();
            for x in c {
                match x {
                    Expr::Atom(a @ Cond { sel, test: Test::Cmp(CmpOp::Eq, Value::Str(StrPat::Exact(v))) })
                        if !sel.has_wildcard() =>
                    {
                        match lists.iter_mut().find(|(b, _)| b.sel == *sel) {
                            Some((_, vs)) => vs.push(lit(v)),
                            None => lists.push((a, vec![lit(v)])),
                        }
                    }
                    other => parts.push(expr(other)?),
                }
            }
            let mut out = Vec::new();
            for (a, vs) in lists {
                let node = resolve_from(root(), &steps(&a.sel.segs), &a.sel.to_string())?;
                match (text(&node), vs.len()) {
                    (Some(x), n) if n > 1 => out.push(format!("COALESCE({x} IN ({}), FALSE)", vs.join(", "))),
                    _ => out.push(cond(a)?),
                }
            }
            out.extend(parts);
            Ok(format!("({})", out.join(" OR ")))
        }
    }
}

fn steps(segs: &[Seg]) -> Vec<Step<'_>> {
    segs.iter()
        .map(|s| match s {
            Seg::Name(n) => Step::Name(n),
            Seg::Index(i) => Step::Index(*i),
            Seg::AnyIndex | Seg::AnyField => unreachable!("wildcards are split off first"),
        })
        .collect()
}

fn cond(c: &Cond) -> Result<String, CompileError> {
    let shown = c.sel.to_string();
    match c.sel.segs.iter().position(|s| matches!(s, Seg::AnyIndex | Seg::AnyField)) {
        None => test(&resolve_from(root(), &steps(&c.sel.segs), &shown)?, &c.test),
        Some(k) => {
            let before = resolve_from(root(), &steps(&c.sel.segs[..k]), &shown)?;
            let after = &c.sel.segs[k + 1..];
            match (&c.sel.segs[k], before) {
                (Seg::AnyIndex, Node::Array { expr, fields, .. }) => {
                    let elem = Node::Struct { expr: "r".into(), fields, field: None };
                    let inner = resolve_from(elem, &steps(after), &shown)?;
                    if c.test == Test::NotExists {
                        let present = format!("NOT ({})", test(&inner, &Test::NotExists)?);
                        Ok(format!("NOT COALESCE(any_match({expr}, r -> {present}), FALSE)"))
                    } else {
                        Ok(format!("COALESCE(any_match({expr}, r -> {}), FALSE)", test(&inner, &c.test)?))
                    }
                }
                (Seg::AnyField, Node::Struct { expr, fields, .. }) if expr.is_empty() && after.is_empty() => {
                    if c.test == Test::NotExists {
                        // Some top-level property always exists in a CloudTrail record.
                        return Ok("FALSE".into());
                    }
                    let parts: Result<Vec<String>, _> = fields
                        .iter()
                        .filter(|f| matches!(f.ty, Ty::Str | Ty::Bool))
                        .map(|f: &'static Field| test(&Node::Scalar { expr: f.sql.to_string(), field: f }, &c.test))
                        .collect();
                    Ok(format!("({})", parts?.join(" OR ")))
                }
                (_, Node::Missing) => Ok(if c.test == Test::NotExists { "TRUE" } else { "FALSE" }.into()),
                _ => Err(CompileError::Unsupported {
                    what: format!(
                        "the wildcard selector `{shown}` (cwfix compiles `resources[*]` and a top-level `$.*`)"
                    ),
                }),
            }
        }
    }
}

/// The text of a scalar node (`None`: the node is never a scalar).
fn text(node: &Node) -> Option<String> {
    match node {
        Node::Scalar { expr, .. } => Some(expr.clone()),
        Node::Json { col, path, .. } => Some(format!("json_extract_scalar({col}, {})", lit(path))),
        _ => None,
    }
}

fn json_is(node: &Node, json_text: &str) -> Option<String> {
    match node {
        Node::Json { col, path, .. } => {
            Some(format!("COALESCE(json_format(json_extract({col}, {})) = {}, FALSE)", lit(path), lit(json_text)))
        }
        _ => None,
    }
}

/// The SQL truth of one test on one node.
pub(super) fn test(node: &Node, t: &Test) -> Result<String, CompileError> {
    let f = "FALSE".to_string();
    Ok(match t {
        Test::NotExists => match node {
            Node::Scalar { expr, .. } | Node::Struct { expr, .. } | Node::Array { expr, .. } => {
                format!("({expr} IS NULL)")
            }
            Node::Json { col, path, field } if path == "$" => {
                if field.always_present {
                    f
                } else {
                    format!("({col} IS NULL)")
                }
            }
            Node::Json { col, path, .. } => format!("(json_extract({col}, {}) IS NULL)", lit(path)),
            Node::Missing => "TRUE".into(),
        },
        Test::IsNull => match node {
            Node::Json { col, path, field } if path == "$" => {
                if field.always_present {
                    format!("({col} IS NULL)")
                } else {
                    f
                }
            }
            n => json_is(n, "null").unwrap_or(f),
        },
        Test::IsTrue | Test::IsFalse => {
            let v = if *t == Test::IsTrue { "true" } else { "false" };
            match node {
                Node::Scalar { expr, field } if field.ty == Ty::Bool => format!("COALESCE({expr} = {}, FALSE)", lit(v)),
                n => json_is(n, v).unwrap_or(f),
            }
        }
        Test::Cmp(op, v) => {
            let Some(x) = text(node) else { return Ok(f) };
            match v {
                Value::Str(p) => {
                    let m = match p {
                        StrPat::Exact(s) => format!("{x} = {}", lit(s)),
                        StrPat::Prefix(s) => like_expr(&x, s, false, true),
                        StrPat::Suffix(s) => like_expr(&x, s, true, false),
                        StrPat::Contains(s) => like_expr(&x, s, true, true),
                        StrPat::Any => format!("{x} IS NOT NULL"),
                    };
                    eq_or_ne(*op, &x, &m)?
                }
                Value::Re(r) => eq_or_ne(*op, &x, &format!("regexp_like({x}, {})", lit(&r.src)))?,
                Value::Num(n) => {
                    let num =
                        format!("(CASE WHEN regexp_like({x}, {}) THEN TRY_CAST({x} AS DOUBLE) END)", lit(NUMBER_RE));
                    let sym = match op {
                        CmpOp::Eq => "=",
                        CmpOp::Ne => "<>",
                        other => other.as_str(),
                    };
                    format!("COALESCE({num} {sym} {}, FALSE)", double(n.value))
                }
            }
        }
    })
}

fn eq_or_ne(op: CmpOp, x: &str, matches: &str) -> Result<String, CompileError> {
    match op {
        CmpOp::Eq => Ok(format!("COALESCE({matches}, FALSE)")),
        CmpOp::Ne => Ok(format!("COALESCE({x} IS NOT NULL AND NOT ({matches}), FALSE)")),
        other => Err(CompileError::Unsupported { what: format!("`{}` with a string", other.as_str()) }),
    }
}

/// A DOUBLE literal (`3.6E3`), exact for any f64.
pub fn double(v: f64) -> String {
    if v.is_finite() {
        format!("{v:E}")
    } else {
        "nan()".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(p: &str) -> String {
        predicate(&crate::pattern::parse(p).unwrap()).unwrap()
    }

    #[test]
    fn wildcards_escape_like() {
        assert_eq!(
            sql(r#"{ $.errorCode = "*Unauthorized_Op%" }"#),
            r"COALESCE(errorcode LIKE '%Unauthorized\_Op\%' ESCAPE '\', FALSE)"
        );
        assert_eq!(
            sql(r#"{ $.sourceIPAddress != "delivery.logs.amazonaws.com" }"#),
            "COALESCE(sourceipaddress IS NOT NULL AND NOT (sourceipaddress = 'delivery.logs.amazonaws.com'), FALSE)"
        );
    }

    #[test]
    fn structs_json_and_exists() {
        assert_eq!(sql("{ $.userIdentity.invokedBy NOT EXISTS }"), "(useridentity.invokedby IS NULL)");
        assert_eq!(
            sql(r#"{ $.additionalEventData.MFAUsed != "Yes" }"#),
            "COALESCE(json_extract_scalar(additionaleventdata, '$.MFAUsed') IS NOT NULL AND NOT (json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'Yes'), FALSE)"
        );
        assert_eq!(sql("{ $.responseElements IS NULL }"), "(responseelements IS NULL)");
        assert_eq!(sql("{ $.requestParameters NOT EXISTS }"), "FALSE");
        assert!(
            sql(r#"{ $.resources[*].type = "AWS::S3::Object" }"#).starts_with("COALESCE(any_match(resources, r -> ")
        );
        assert!(sql(r#"{ $.resources[0].ARN = "x" }"#).contains("element_at(resources, 1).arn"));
        assert!(sql("{ $.requestParameters.durationSeconds >= 3600 }").contains(">= 3.6E3"));
    }

    #[test]
    fn errors() {
        let e = predicate(&crate::pattern::parse("{ $.managementEvent IS TRUE }").unwrap()).unwrap_err();
        assert!(e.to_string().contains("`$.managementEvent`"), "{e}");
        assert!(predicate(&crate::pattern::parse("ConsoleLogin").unwrap()).is_err());
        assert_eq!(sql(""), "TRUE");
    }
}
