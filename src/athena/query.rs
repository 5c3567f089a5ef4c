//! A hunt query (the Logs Insights subset of `crate::hunt`) as one Trino `SELECT` over the
//! CloudTrail table, with the local engine's semantics (`hunt::eval`):
//! - a field is its text, or NULL when missing, null, an object or an array; dotted paths walk
//!   structs, JSON-text columns (`json_extract_scalar`) and `resources.N` (`element_at`);
//! - `=`, `<`, ... and `like`/`in` are false on NULL, `!=`, `not like`, `not in` true;
//! - a number literal compares numerically with a text that reads as a number, else as text;
//! - `coalesce` is `COALESCE`; `concat` treats NULL as empty and is NULL only if all are;
//! - names given with `as` are inlined where they are used;
//! - `@timestamp` is `eventtime` as `YYYY-MM-DD HH:MM:SS.000`;
//! - `@message` is not in the table: it is rebuilt from the columns as compact JSON with
//!   CloudTrail's key names (`"errorCode":"…"`), so `@message like 'error'` still sees keys.
//!   It differs from the delivered text where the table loses information: properties outside
//!   the DDL are missing, key order is the DDL's, and only `"` and `\` are escaped in texts.
//!
//! Then `stats ... by` is `GROUP BY`, `sort` is `ORDER BY` (NULLs last), `limit` is `LIMIT`
//! (10,000 when the query has none, as Insights and the local engine cap results).

use std::collections::HashMap;

use crate::hunt::{AggFunc, CmpOp, Command, Expr, Func, LikePat, Outcome, Query, ROW_CAP};

use super::schema::{self, Field, Ty};
use super::sql::{lit, resolve_from, root, Node, Step, NUMBER_RE};
use super::{ident, window_sql, CompileError, Table, Window};

/// Compiles expressions with the names defined so far.
struct Ctx<'q> {
    q: &'q Query,
    at: usize,
    defs: HashMap<String, String>,
}

impl Ctx<'_> {
    fn err(&self, what: String) -> CompileError {
        CompileError::Query(self.q.error(self.at, what))
    }

    fn field(&self, name: &str) -> Result<String, CompileError> {
        if let Some(d) = self.defs.get(name) {
            return Ok(format!("({d})"));
        }
        match name {
            "@timestamp" => {
                return Ok("concat(substr(eventtime, 1, 10), ' ', substr(eventtime, 12, 8), '.000')".into());
            }
            "@message" => return Ok(message_sql()),
            n if n.starts_with('@') => return Err(self.err(format!("field `{n}` is not in the CloudTrail table"))),
            _ => {}
        }
        // Insights names array elements by number (`resources.0.ARN`).
        let mut node = root();
        for seg in name.split('.') {
            let step = match (&node, seg.parse::<usize>()) {
                (Node::Array { .. } | Node::Json { .. }, Ok(i)) => Step::Index(i),
                _ => Step::Name(seg),
            };
            node = resolve_from(node, &[step], name)?;
        }
        Ok(match node {
            Node::Scalar { expr, .. } => expr,
            Node::Json { col, path, .. } => format!("json_extract_scalar({col}, {})", lit(&path)),
            _ => "CAST(NULL AS VARCHAR)".into(),
        })
    }

    fn value(&self, e: &Expr) -> Result<String, CompileError> {
        Ok(match e {
            Expr::Field(f) => self.field(f)?,
            Expr::Str(s) => lit(s),
            Expr::Num(n) => lit(&n.text),
            Expr::Call(Func::Coalesce, a) => {
                let v: Result<Vec<_>, _> = a.iter().map(|x| self.value(x)).collect();
                format!("COALESCE({})", v?.join(", "))
            }
            Expr::Call(Func::Concat, a) => {
                let v: Vec<String> = a.iter().map(|x| self.value(x)).collect::<Result<_, _>>()?;
                let all_null = v.iter().map(|x| format!("{x} IS NULL")).collect::<Vec<_>>().join(" AND ");
                let joined = v.iter().map(|x| format!("COALESCE({x}, '')")).collect::<Vec<_>>().join(", ");
                if v.len() == 1 {
                    v[0].clone()
                } else {
                    format!("CASE WHEN {all_null} THEN NULL ELSE concat({joined}) END")
                }
            }
            cond => format!("CASE WHEN {} THEN 'true' ELSE 'false' END", self.cond(cond)?),
        })
    }

    /// `a op b` with the local engine's numeric-or-text rule; never NULL.
    fn cmp(&self, op: CmpOp, l: &Expr, r: &Expr) -> Result<String, CompileError> {
        let sym = match op {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            o => o.as_str(),
        };
        let num =
            |x: &str| format!("(CASE WHEN regexp_like({x}, {}) THEN TRY_CAST({x} AS DOUBLE) END)", lit(NUMBER_RE));
        let (lv, rv) = (self.value(l)?, self.value(r)?);
        let t = match (l, r) {
            (_, Expr::Num(n)) => format!(
                "(CASE WHEN {n_l} IS NOT NULL THEN {n_l} {sym} {} ELSE {lv} {sym} {} END)",
                super::pattern::double(n.value),
                lit(&n.text),
                n_l = num(&lv)
            ),
            (Expr::Num(n), _) => format!(
                "(CASE WHEN {n_r} IS NOT NULL THEN {} {sym} {n_r} ELSE {} {sym} {rv} END)",
                super::pattern::double(n.value),
                lit(&n.text),
                n_r = num(&rv)
            ),
            _ => format!("{lv} {sym} {rv}"),
        };
        Ok(format!("COALESCE({t}, {})", if op == CmpOp::Ne { "TRUE" } else { "FALSE" }))
    }

    fn cond(&self, e: &Expr) -> Result<String, CompileError> {
        Ok(match e {
            Expr::And(c) | Expr::Or(c) => {
                let sep = if matches!(e, Expr::And(_)) { " AND " } else { " OR " };
                let v: Vec<String> = c.iter().map(|x| self.cond(x)).collect::<Result<_, _>>()?;
                format!("({})", v.join(sep))
            }
            Expr::Not(x) => format!("(NOT {})", self.cond(x)?),
            Expr::Cmp(op, l, r) => self.cmp(*op, l, r)?,
            Expr::Like { negated, expr, pat } => {
                let v = self.value(expr)?;
                let hit = match pat {
                    LikePat::Str(s) => format!("COALESCE(strpos({v}, {}) > 0, FALSE)", lit(s)),
                    LikePat::Regex(r) => format!("COALESCE(regexp_like({v}, {}), FALSE)", lit(&r.src)),
                };
                if *negated {
                    format!("(NOT {hit})")
                } else {
                    hit
                }
            }
            Expr::In { negated, expr, list } => {
                let v: Vec<String> = list.iter().map(|x| self.cmp(CmpOp::Eq, expr, x)).collect::<Result<_, _>>()?;
                let any = if v.is_empty() { "FALSE".to_string() } else { format!("({})", v.join(" OR ")) };
                if *negated {
                    format!("(NOT {any})")
                } else {
                    any
                }
            }
            Expr::Call(Func::IsPresent, a) => format!("({} IS NOT NULL)", self.value(&a[0])?),
            other => format!("COALESCE({} = 'true', FALSE)", self.value(other)?),
        })
    }
}

/// `@message`: the row as compact JSON with CloudTrail's keys (see the module docs).
fn message_sql() -> String {
    fn pieces(fields: &'static [Field], base: &str) -> String {
        let parts: Vec<String> = fields.iter().filter_map(|f| piece(f, base)).collect();
        format!("concat('{{', substr(concat('', {}), 2), '}}')", parts.join(", "))
    }
    fn piece(f: &'static Field, base: &str) -> Option<String> {
        let v = if base.is_empty() { f.sql.to_string() } else { format!("{base}.{}", f.sql) };
        let key = lit(&format!(",\"{}\":", f.key));
        Some(match f.ty {
            Ty::Str => format!(
                "CASE WHEN {v} IS NULL THEN '' ELSE concat({key}, '\"', replace(replace({v}, '\\', '\\\\'), '\"', '\\\"'), '\"') END"
            ),
            Ty::Bool | Ty::Json if f.always_present => format!("concat({key}, COALESCE({v}, 'null'))"),
            Ty::Bool | Ty::Json => format!("CASE WHEN {v} IS NULL THEN '' ELSE concat({key}, {v}) END"),
            Ty::Struct(fs) => format!("CASE WHEN {v} IS NULL THEN '' ELSE concat({key}, {}) END", pieces(fs, &v)),
            Ty::ArrayOf(fs) => format!(
                "CASE WHEN {v} IS NULL THEN '' ELSE concat({key}, '[', array_join(transform({v}, e -> {}), ','), ']') END",
                pieces(fs, "e")
            ),
            Ty::Map => return None,
        })
    }
    pieces(schema::COLUMNS, "")
}

/// (name, SQL) pairs.
type Named = Vec<(String, String)>;

/// The `SELECT` for `q` over `table` within `w`. Column names are the query's names.
pub fn hunt_sql(q: &Query, table: &Table, w: &Window) -> Result<String, CompileError> {
    let mut ctx = Ctx { q, at: 0, defs: HashMap::new() };
    let mut shown: Option<Vec<String>> = None;
    let mut filters: Vec<String> = Vec::new();
    let mut stats: Option<(Named, Named)> = None;
    let mut post_filters: Vec<String> = Vec::new();
    let mut order: Vec<(String, bool)> = Vec::new();
    let mut limit: Option<u64> = None;
    let push = |v: &mut Vec<String>, n: &str| {
        if !v.iter().any(|x| x == n) {
            v.push(n.to_string());
        }
    };
    for (at, c) in &q.commands {
        ctx.at = *at;
        let late = limit.is_some() || !order.is_empty();
        match c {
            Command::Fields(ps) if stats.is_none() => {
                for p in ps {
                    let v = ctx.value(&p.expr)?;
                    ctx.defs.insert(p.name.clone(), v);
                    push(shown.get_or_insert_with(Vec::new), &p.name);
                }
            }
            Command::Display(d) => shown = Some(d.clone()),
            Command::Filter(_) if late => {
                return Err(ctx.err("`filter` after `sort` or `limit` is not supported; move it before them".into()))
            }
            Command::Filter(e) if stats.is_none() => filters.push(ctx.cond(e)?),
            Command::Filter(e) => {
                // After stats: the names are the aggregate's columns.
                let mut names = Vec::new();
                e.fields(&mut names);
                let saved = std::mem::take(&mut ctx.defs);
                for n in names {
                    ctx.defs.insert(n.to_string(), ident(n));
                }
                let r = ctx.cond(e);
                ctx.defs = saved;
                post_filters.push(r?);
            }
            Command::Stats { aggs, by } if stats.is_none() && !late => {
                let keys: Vec<(String, String)> = by
                    .iter()
                    .map(|p| Ok((p.name.clone(), ctx.value(&p.expr)?)))
                    .collect::<Result<_, CompileError>>()?;
                let mut vals = Vec::new();
                for a in aggs {
                    let arg = a.arg.as_ref().map(|e| ctx.value(e)).transpose()?;
                    let num = |x: &str| {
                        format!("(CASE WHEN regexp_like({x}, {}) THEN TRY_CAST({x} AS DOUBLE) END)", lit(NUMBER_RE))
                    };
                    let sql = match (a.func, arg) {
                        (AggFunc::Count, None) => "count(*)".to_string(),
                        (AggFunc::Count, Some(x)) => format!("count({x})"),
                        (AggFunc::Sum, Some(x)) => format!("sum({})", num(&x)),
                        (AggFunc::Avg, Some(x)) => format!("avg({})", num(&x)),
                        (AggFunc::Min, Some(x)) => format!("min({x})"),
                        (AggFunc::Max, Some(x)) => format!("max({x})"),
                        (f, None) => return Err(ctx.err(format!("`{}` needs a field", f.as_str()))),
                    };
                    vals.push((a.name.clone(), sql));
                }
                shown = Some(keys.iter().chain(&vals).map(|(n, _)| n.clone()).collect());
                stats = Some((keys, vals));
            }
            Command::Stats { .. } => return Err(ctx.err("one `stats`, before `sort` and `limit`, is supported".into())),
            Command::Sort(keys) => {
                if !order.is_empty() {
                    return Err(ctx.err("one `sort` per query is supported".into()));
                }
                order = keys.iter().map(|k| (k.field.clone(), k.desc)).collect();
            }
            Command::Limit(n) => limit = Some(limit.map_or(*n, |l| l.min(*n))),
            Command::Fields(_) => {
                return Err(ctx.err("`fields` after `stats` is not supported by the Athena compiler".into()))
            }
        }
    }
    let shown = shown.unwrap_or_else(|| vec!["@timestamp".into(), "@message".into()]);
    let from = table.sql_name();
    let mut wh = vec![window_sql(table, w)];
    wh.extend(filters);
    let where_sql = wh.join("\n  AND ");
    let limit = limit.unwrap_or(ROW_CAP);
    let order_sql = |cols: &dyn Fn(&str) -> Result<String, CompileError>| -> Result<String, CompileError> {
        if order.is_empty() {
            return Ok(String::new());
        }
        let v: Vec<String> = order
            .iter()
            .map(|(f, desc)| Ok(format!("{} {} NULLS LAST", cols(f)?, if *desc { "DESC" } else { "ASC" })))
            .collect::<Result<_, CompileError>>()?;
        Ok(format!("\nORDER BY {}", v.join(", ")))
    };
    let sql = match stats {
        None => {
            let cols: Vec<String> = shown
                .iter()
                .map(|n| Ok(format!("{} AS {}", ctx.field(n)?, ident(n))))
                .collect::<Result<_, CompileError>>()?;
            let ord = order_sql(&|f| ctx.field(f))?;
            format!("SELECT\n  {}\nFROM {from}\nWHERE {where_sql}{ord}\nLIMIT {limit}", cols.join(",\n  "))
        }
        Some((keys, vals)) => {
            let mut cols: Vec<String> = keys.iter().map(|(n, v)| format!("{v} AS {}", ident(n))).collect();
            cols.extend(vals.iter().map(|(n, v)| format!("{v} AS {}", ident(n))));
            let group = if keys.is_empty() {
                String::new()
            } else {
                format!("\n  GROUP BY {}", (1..=keys.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
            };
            let inner = format!("SELECT\n    {}\n  FROM {from}\n  WHERE {where_sql}{group}", cols.join(",\n    "));
            let outer_cols: Vec<String> = shown.iter().map(|n| ident(n)).collect();
            let post =
                if post_filters.is_empty() { String::new() } else { format!("\nWHERE {}", post_filters.join(" AND ")) };
            let ord = order_sql(&|f| Ok(ident(f)))?;
            format!("SELECT {} FROM (\n  {inner}\n) stats{post}{ord}\nLIMIT {limit}", outer_cols.join(", "))
        }
    };
    Ok(format!("-- cwfix hunt --engine athena\n{sql}"))
}

/// The outcome of a hunt from result rows (`columns` from the result metadata).
pub fn outcome(columns: Vec<String>, rows: Vec<Vec<Option<String>>>, bytes_scanned: Option<u64>) -> Outcome {
    let mut o = Outcome { columns, rows, ..Default::default() };
    o.stats.records_matched = o.rows.len() as u64;
    o.stats.bytes_scanned = bytes_scanned;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(q: &str) -> Result<String, CompileError> {
        let t = Table {
            database: None,
            table: "ct".into(),
            partitions: super::super::Partitions::Projected("timestamp".into()),
        };
        hunt_sql(&crate::hunt::parse(q).unwrap(), &t, &Window { since: Some(0), until: None })
    }

    #[test]
    fn seed_query_compiles() {
        let s =
            sql("fields awsRegion, coalesce(userIdentity.userName, responseElements.assumedRoleUser.assumedRoleId, \
             userIdentity.sessionContext.sessionIssuer.userName) as username, recipientAccountId as account, \
             eventSource, eventName, sourceIPAddress as IP, @timestamp, eventTime, \
             coalesce(userIdentity.arn, resources.0.ARN) as arn, concat(arn, eventName) as exclude \
             | filter account like '111122223333' \
             | filter eventName like 'AssumeRole' and eventName not like 'AssumeRoleWithSAML'")
            .unwrap();
        assert!(s.contains("json_extract_scalar(responseelements, '$.assumedRoleUser.assumedRoleId')"), "{s}");
        assert!(s.contains("useridentity.sessioncontext.sessionissuer.username"), "{s}");
        assert!(s.contains("element_at(resources, 1).arn"), "{s}");
        assert!(s.contains("(NOT COALESCE(strpos((eventname), 'AssumeRoleWithSAML') > 0, FALSE))"), "{s}");
        assert!(s.contains("\"timestamp\" >= '1970/01/01'"), "{s}");
        assert!(s.ends_with("LIMIT 10000"), "{s}");
    }

    #[test]
    fn stats_and_errors() {
        let s = sql("filter errorCode = 'AccessDenied' | stats count(*) as n by eventName | sort n desc | limit 3")
            .unwrap();
        assert!(s.contains("GROUP BY 1"), "{s}");
        assert!(s.contains("ORDER BY \"n\" DESC NULLS LAST\nLIMIT 3"), "{s}");
        let m = sql("fields @message").unwrap();
        assert!(m.contains(r#"concat(',"errorCode":', '"', replace(replace(errorcode,"#), "{m}");
        assert!(matches!(sql("fields managementEvent").unwrap_err(), CompileError::NotInTable { .. }));
    }
}
