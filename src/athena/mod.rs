//! Compilers from cwfix's two languages to Trino SQL over the CloudTrail table AWS documents
//! for Athena, and readers of the result rows back into cwfix's own reports. Pure: no I/O, no
//! AWS calls (`aws::athena` runs the SQL).
//!
//! - [`pattern::predicate`]: a metric-filter pattern as a boolean SQL expression with the local
//!   evaluator's semantics (see that module for the rules and `schema` for the table).
//! - [`backtest_sql`] / [`backtest_report`]: every control of a baseline in **one scan** of the
//!   table (one `CROSS JOIN UNNEST` of the matching control ids, one `GROUPING SETS`
//!   aggregation), and the [`crate::backtest::Report`] rebuilt from its rows, so
//!   `backtest --engine athena` prints the same report as the local engine.
//! - [`query::hunt_sql`] / [`query::outcome`]: a hunt query (the Insights subset) as one
//!   `SELECT`, and its rows as a [`crate::hunt::Outcome`].
//!
//! Time windows: `eventtime` bounds always (exact), plus partition bounds when the table is
//! partitioned by date ([`Partitions`]), which is what keeps Athena from scanning everything.

pub mod pattern;
pub mod query;
pub mod schema;
mod sql;

use std::collections::HashMap;

use crate::backtest::{self, AlarmSim, ControlReport, Count, Report, Spec};

pub use sql::{ident, lit};

/// Why a pattern or query cannot be compiled to SQL over the CloudTrail table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(
        "`{path}` is not a column of the CloudTrail table AWS documents for Athena (or is spelled differently \
         in CloudTrail records), so Athena cannot evaluate it"
    )]
    NotInTable { path: String },
    #[error("{what} needs the raw log message, which the CloudTrail table in Athena does not keep")]
    NeedsMessage { what: String },
    #[error("{what} is not supported by the Athena compiler")]
    Unsupported { what: String },
    #[error(transparent)]
    Query(#[from] crate::hunt::ParseError),
}

/// How the table is partitioned by date (what `--since`/`--until` can prune).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Partitions {
    /// Not partitioned (or not by date): only `eventtime` bounds.
    #[default]
    None,
    /// AWS's manual-partitioning DDL: `year`, `month`, `day` string columns.
    YearMonthDay,
    /// AWS's partition-projection DDL: one string column (`timestamp`) formatted `yyyy/MM/dd`.
    Projected(String),
}

/// The table to query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// `database.table`; `None` leaves the database to the query context.
    pub database: Option<String>,
    pub table: String,
    pub partitions: Partitions,
}

impl Table {
    fn sql_name(&self) -> String {
        match &self.database {
            Some(db) => format!("{}.{}", ident(db), ident(&self.table)),
            None => ident(&self.table),
        }
    }
}

/// A time window in seconds since the epoch: `since <= eventTime < until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

fn day_key(t: i64) -> String {
    backtest::format_day(t).replace('-', "/")
}

/// The `WHERE` conditions for a window (partition pruning first), `TRUE` when unbounded.
fn window_sql(table: &Table, w: &Window) -> String {
    let part = match &table.partitions {
        Partitions::None => None,
        Partitions::YearMonthDay => Some("concat(year, '/', month, '/', day)".to_string()),
        Partitions::Projected(col) => Some(ident(col)),
    };
    let mut c = Vec::new();
    if let Some(s) = w.since {
        if let Some(p) = &part {
            c.push(format!("{p} >= {}", lit(&day_key(s))));
        }
        c.push(format!("eventtime >= {}", lit(&backtest::format_time(s))));
    }
    if let Some(u) = w.until {
        if let Some(p) = &part {
            c.push(format!("{p} <= {}", lit(&day_key(u))));
        }
        c.push(format!("eventtime < {}", lit(&backtest::format_time(u))));
    }
    if c.is_empty() {
        "TRUE".into()
    } else {
        c.join("\n  AND ")
    }
}

/// The principal the local report shows (`backtest::principal_of`): `Root` for the root user,
/// else `userIdentity.arn`, else `type:invokedBy`, `type` or `invokedBy`, else `(none)`.
const PRINCIPAL_SQL: &str = "CASE\n      WHEN useridentity.type = 'Root' THEN 'Root'\n      \
WHEN useridentity.arn IS NOT NULL THEN useridentity.arn\n      \
WHEN useridentity.type IS NOT NULL AND useridentity.invokedby IS NOT NULL THEN concat(useridentity.type, ':', useridentity.invokedby)\n      \
WHEN useridentity.type IS NOT NULL THEN useridentity.type\n      \
WHEN useridentity.invokedby IS NOT NULL THEN useridentity.invokedby\n      \
ELSE '(none)' END";

/// The pseudo-control that counts every event (for the corpus size and time range).
const ALL: &str = "*";

/// One query that computes, for every control of `spec`, what `backtest` reports: matches,
/// matches without a readable time, per alarm period, per UTC day, and the `top` principals,
/// event names and source IPs. Columns: `control, kind, k, n, t_min, t_max`.
pub fn backtest_sql(spec: &Spec, table: &Table, w: &Window, top: usize) -> Result<String, CompileError> {
    let mut hits = vec![lit(ALL)];
    for c in &spec.controls {
        let p = pattern::predicate(&c.pattern).map_err(|e| match e {
            CompileError::NeedsMessage { what } => {
                CompileError::NeedsMessage { what: format!("control {}: {what}", c.id) }
            }
            other => other,
        })?;
        hits.push(format!("CASE WHEN {p} THEN {} END", lit(&c.id)));
    }
    let period = spec.alarm.period.max(1);
    Ok(format!(
        "-- cwfix backtest --engine athena: baseline {baseline}, {n} control(s), one scan of the table\n\
WITH scan AS (\n  SELECT\n    CAST(floor(to_unixtime(try(from_iso8601_timestamp(eventtime)))) AS BIGINT) AS t,\n    \
COALESCE(eventname, '(none)') AS event_name,\n    COALESCE(sourceipaddress, '(none)') AS ip,\n    {PRINCIPAL_SQL} AS principal,\n    \
ARRAY[\n      {hits}\n    ] AS hits\n  FROM {from}\n  WHERE {window}\n),\n\
hits AS (\n  SELECT h.control, s.t, s.event_name, s.ip, s.principal,\n    \
CAST(floor(CAST(s.t AS DOUBLE) / {period}) AS BIGINT) AS period,\n    \
CAST(floor(CAST(s.t AS DOUBLE) / 86400) AS BIGINT) AS day\n  \
FROM scan s CROSS JOIN UNNEST(s.hits) AS h(control)\n  WHERE h.control IS NOT NULL\n),\n\
agg AS (\n  SELECT control,\n    CASE WHEN grouping(period) = 0 THEN 'period' WHEN grouping(day) = 0 THEN 'day'\n      \
WHEN grouping(principal) = 0 THEN 'principal' WHEN grouping(event_name) = 0 THEN 'event_name'\n      \
WHEN grouping(ip) = 0 THEN 'ip' ELSE 'matched' END AS kind,\n    \
COALESCE(CAST(period AS VARCHAR), CAST(day AS VARCHAR), principal, event_name, ip) AS k,\n    \
count(*) AS n, min(t) AS t_min, max(t) AS t_max\n  FROM hits\n  \
GROUP BY GROUPING SETS ((control), (control, period), (control, day), (control, principal), (control, event_name), (control, ip))\n)\n\
SELECT control, kind, k, n, t_min, t_max FROM (\n  \
SELECT agg.*, row_number() OVER (PARTITION BY control, kind ORDER BY n DESC, k) AS rn FROM agg\n) ranked\n\
WHERE (control <> {all} OR kind = 'matched')\n  AND (kind IN ('matched', 'period', 'day') OR rn <= {top})\n\
ORDER BY control, kind, k",
        baseline = spec.baseline.replace('\n', " "),
        n = spec.controls.len(),
        hits = hits.join(",\n      "),
        from = table.sql_name(),
        window = window_sql(table, w),
        all = lit(ALL),
        top = top.max(1),
    ))
}

/// Rebuild the backtest report from the rows of [`backtest_sql`] (header row excluded).
pub fn backtest_report(
    spec: &Spec,
    rows: &[Vec<Option<String>>],
    top: usize,
    bytes_scanned: u64,
) -> Result<Report, String> {
    #[derive(Default)]
    struct Acc {
        matched: u64,
        untimed: u64,
        periods: HashMap<i64, u64>,
        days: HashMap<i64, u64>,
        lists: [Vec<(String, u64)>; 3],
    }
    let mut acc: HashMap<&str, Acc> = HashMap::new();
    let (mut events, mut first, mut last) = (0u64, None, None);
    let num = |s: &Option<String>, what: &str| -> Result<i64, String> {
        s.as_deref()
            .unwrap_or("")
            .parse::<i64>()
            .map_err(|_| format!("bad {what} `{}` in the result", s.as_deref().unwrap_or("")))
    };
    for r in rows {
        if r.len() < 6 {
            return Err(format!("expected 6 columns, got {}", r.len()));
        }
        let control = r[0].as_deref().unwrap_or("");
        let kind = r[1].as_deref().unwrap_or("");
        let n = num(&r[3], "count")? as u64;
        if control == ALL {
            events = n;
            first = r[4].as_ref().and_then(|s| s.parse::<i64>().ok());
            last = r[5].as_ref().and_then(|s| s.parse::<i64>().ok());
            continue;
        }
        let Some(c) = spec.controls.iter().find(|c| c.id == control) else { continue };
        let a = acc.entry(c.id.as_str()).or_default();
        match (kind, &r[2]) {
            ("matched", _) => a.matched = n,
            ("period", None) => a.untimed = n,
            ("period", k) => {
                a.periods.insert(num(k, "period")?, n);
            }
            ("day", None) => {}
            ("day", k) => {
                a.days.insert(num(k, "day")?, n);
            }
            ("principal", Some(k)) => a.lists[0].push((k.clone(), n)),
            ("event_name", Some(k)) => a.lists[1].push((k.clone(), n)),
            ("ip", Some(k)) => a.lists[2].push((k.clone(), n)),
            _ => {}
        }
    }
    const DAY: i64 = 86_400;
    let period = i64::from(spec.alarm.period.max(1));
    let range = first.zip(last).map(|(a, b): (i64, i64)| (a.div_euclid(period), b.div_euclid(period)));
    let days = first.zip(last).map(|(a, b): (i64, i64)| (a.div_euclid(DAY), b.div_euclid(DAY)));
    let controls = spec
        .controls
        .iter()
        .map(|c| {
            let mut a = acc.remove(c.id.as_str()).unwrap_or_default();
            let tops: Vec<Vec<Count>> = a
                .lists
                .iter_mut()
                .map(|l| {
                    l.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                    l.iter().take(top).map(|(v, n)| Count { value: v.clone(), count: *n }).collect()
                })
                .collect();
            ControlReport {
                id: c.id.clone(),
                title: c.title.clone(),
                pattern: c.pattern.canonical(),
                matched: a.matched,
                untimed: a.untimed,
                alarm: if a.periods.is_empty() && range.is_none() {
                    AlarmSim::default()
                } else {
                    backtest::simulate(&a.periods, range, &spec.alarm)
                },
                daily: match days {
                    Some((lo, hi)) => (lo..=hi).map(|d| (d * DAY, a.days.get(&d).copied().unwrap_or(0))).collect(),
                    None => Vec::new(),
                },
                top_principals: tops[0].clone(),
                top_event_names: tops[1].clone(),
                top_source_ips: tops[2].clone(),
            }
        })
        .collect();
    Ok(Report {
        baseline: spec.baseline.clone(),
        alarm: spec.alarm.clone(),
        jobs: 0,
        files_read: 0,
        unreadable: Vec::new(),
        events,
        bytes: bytes_scanned,
        first_event: first,
        last_event: last,
        controls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::from_baseline(&crate::baseline::load("cis-v7.0").unwrap())
    }

    #[test]
    fn one_scan_for_every_control() {
        let t = Table {
            database: Some("db".into()),
            table: "cloudtrail_logs".into(),
            partitions: Partitions::YearMonthDay,
        };
        let w = Window { since: Some(1_709_251_200), until: Some(1_709_856_000) };
        let sql = backtest_sql(&spec(), &t, &w, 5).unwrap();
        assert_eq!(sql.matches("FROM \"db\".\"cloudtrail_logs\"").count(), 1, "{sql}");
        assert!(sql.contains("concat(year, '/', month, '/', day) >= '2024/03/01'"), "{sql}");
        assert!(sql.contains("eventtime < '2024-03-08T00:00:00Z'"), "{sql}");
        assert_eq!(sql.matches(" THEN '5.").count(), 15, "{sql}"); // one CASE per control
    }

    #[test]
    fn report_from_rows() {
        let s = spec();
        let r = |c: &str, k: &str, key: Option<&str>, n: u64, t: Option<(i64, i64)>| -> Vec<Option<String>> {
            vec![
                Some(c.into()),
                Some(k.into()),
                key.map(str::to_string),
                Some(n.to_string()),
                t.map(|t| t.0.to_string()),
                t.map(|t| t.1.to_string()),
            ]
        };
        let p0 = 1_709_553_600 / 300; // 2024-03-04T12:00Z
        let rows = vec![
            r("*", "matched", None, 10, Some((1_709_553_600, 1_709_640_000))),
            r("5.3", "matched", None, 3, None),
            r("5.3", "period", Some(&p0.to_string()), 2, None),
            r("5.3", "period", Some(&(p0 + 1).to_string()), 1, None),
            r("5.3", "day", Some("19786"), 3, None),
            r("5.3", "principal", Some("Root"), 3, None),
        ];
        let rep = backtest_report(&s, &rows, 5, 42).unwrap();
        assert_eq!(rep.events, 10);
        let c = rep.controls.iter().find(|c| c.id == "5.3").unwrap();
        assert_eq!(c.matched, 3);
        assert_eq!(c.alarm.windows.len(), 2);
        assert_eq!(c.alarm.transitions, 1);
        assert_eq!(c.daily, vec![(19786 * 86_400, 3), (19787 * 86_400, 0)]);
        assert_eq!(c.top_principals, vec![Count { value: "Root".into(), count: 3 }]);
        assert_eq!(rep.controls.iter().find(|c| c.id == "5.1").unwrap().matched, 0);
    }
}
