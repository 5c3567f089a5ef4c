//! Running a query locally: plan the pipeline, stream the records through it on worker
//! threads, aggregate, then finish in memory.
//!
//! Shape of a run. The commands before the first `stats`, `sort` or `limit` (`fields`,
//! `filter`, `display`) are evaluated per record, in parallel, lazily: a `fields` definition
//! is computed only when a filter or the output needs it. Then either
//! - `stats`: each worker aggregates into its own groups, merged at the end; or
//! - rows: each worker keeps at most `2 × N` rows, where `N` is the query's `limit` (or the
//!   10,000-row cap Insights applies), the first in input order or the best by the `sort`.
//!
//! What follows runs in memory on those (few) rows or groups. Memory is bounded by `N`, the
//! number of groups (at most [`MAX_GROUPS`]) and one file per worker.
//!
//! Input order is the walk order of files (sorted paths) and record order inside a file, so
//! results are deterministic whatever the number of workers.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::PathBuf;

use super::eval::{eval, sort_cmp, truth, CExpr, Keys, Path, RecordScope, Ref, RowScope, Scope, Val};
use super::parser::{AggFunc, Command, Expr, ParseError, Query, SortKey};
use super::{input, Error, Outcome, Stats};

/// Rows Insights returns at most; cwfix applies the same cap unless the query says `limit N`.
pub const ROW_CAP: u64 = 10_000;

/// Distinct `stats ... by` groups kept in memory before the run stops with an error.
pub const MAX_GROUPS: usize = 1_000_000;

/// Run options.
#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    /// Only records with `since <= eventTime < until` (seconds since the epoch); a record
    /// without a readable `eventTime` is outside any bounded window.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Where a row came from: (file number in walk order, record number in the file).
type Seq = (u64, u64);

struct Agg {
    func: AggFunc,
    arg: Option<CExpr>,
}

enum Mode {
    /// Keep at most `n` rows: the first ones, or the best by `sort` keys (carried columns).
    Rows {
        n: u64,
        sort: Vec<(usize, bool)>,
    },
    Stats {
        keys: Vec<CExpr>,
        aggs: Vec<Agg>,
    },
}

/// The compiled pipeline.
struct Plan {
    defs: Vec<CExpr>,
    filters: Vec<CExpr>,
    /// Columns computed for each kept row (rows mode), with their names.
    carry: Vec<(String, Ref)>,
    mode: Mode,
    /// Columns of the table that the in-memory tail starts from.
    table_cols: Vec<String>,
    /// Commands run in memory after streaming.
    tail: Vec<(usize, Command)>,
    /// Columns shown when the tail does not change them (`None`: Insights' default).
    shown: Option<Vec<String>>,
    /// An explicit `limit` exists (otherwise [`ROW_CAP`] truncates and says so).
    limited: bool,
    since: Option<i64>,
    until: Option<i64>,
    /// The top-level properties to parse (see [`Keys`]).
    keys: Keys,
}

fn compile_expr(e: &Expr, resolve: &dyn Fn(&str) -> Ref) -> CExpr {
    match e {
        Expr::Field(f) => CExpr::Ref(resolve(f)),
        Expr::Str(s) => CExpr::Lit(Val::Str(Cow::Owned(s.clone()))),
        Expr::Num(n) => CExpr::Lit(Val::Num(n.value, Cow::Owned(n.text.clone()))),
        Expr::Call(f, a) => CExpr::Call(*f, a.iter().map(|x| compile_expr(x, resolve)).collect()),
        Expr::Cmp(op, l, r) => CExpr::Cmp(*op, Box::new(compile_expr(l, resolve)), Box::new(compile_expr(r, resolve))),
        Expr::Like { negated, expr, pat } => {
            CExpr::Like { negated: *negated, expr: Box::new(compile_expr(expr, resolve)), pat: pat.clone() }
        }
        Expr::In { negated, expr, list } => CExpr::In {
            negated: *negated,
            expr: Box::new(compile_expr(expr, resolve)),
            list: list
                .iter()
                .map(|x| match compile_expr(x, resolve) {
                    CExpr::Lit(v) => v,
                    _ => Val::Null,
                })
                .collect(),
        },
        Expr::Not(x) => CExpr::Not(Box::new(compile_expr(x, resolve))),
        Expr::And(c) => CExpr::And(c.iter().map(|x| compile_expr(x, resolve)).collect()),
        Expr::Or(c) => CExpr::Or(c.iter().map(|x| compile_expr(x, resolve)).collect()),
    }
}

/// Fields cwfix cannot compute from a CloudTrail file (they describe the log group).
fn check_field(q: &Query, at: usize, name: &str) -> Result<(), ParseError> {
    if name.starts_with('@') && name != "@message" && name != "@timestamp" {
        return Err(q.error(
            at,
            format!(
                "field `{name}` is not in CloudTrail files: locally only `@timestamp` and `@message` exist \
                 (use `--engine insights` for log-group fields)"
            ),
        ));
    }
    Ok(())
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

fn plan(q: &Query) -> Result<Plan, ParseError> {
    let mut defs: Vec<CExpr> = Vec::new();
    let mut scope: HashMap<String, usize> = HashMap::new();
    let mut filters = Vec::new();
    let mut shown: Option<Vec<String>> = None;
    let cmds = &q.commands;
    let barrier = cmds
        .iter()
        .position(|(_, c)| matches!(c, Command::Stats { .. } | Command::Sort(_) | Command::Limit(_)))
        .unwrap_or(cmds.len());
    for (at, c) in &cmds[..barrier] {
        let mut names = Vec::new();
        match c {
            Command::Fields(ps) => ps.iter().for_each(|p| p.expr.fields(&mut names)),
            Command::Filter(e) => e.fields(&mut names),
            Command::Display(d) => names.extend(d.iter().map(String::as_str)),
            _ => {}
        }
        for n in names {
            if !scope.contains_key(n) {
                check_field(q, *at, n)?;
            }
        }
        match c {
            Command::Fields(ps) => {
                // Left to right: a later expression sees names defined earlier in the same
                // command (the seed's `concat(arn, eventName)` reads the `arn` just defined).
                for p in ps {
                    let e = {
                        let resolve =
                            |n: &str| scope.get(n).map(|i| Ref::Def(*i)).unwrap_or_else(|| Ref::Path(Path::of(n)));
                        compile_expr(&p.expr, &resolve)
                    };
                    defs.push(e);
                    scope.insert(p.name.clone(), defs.len() - 1);
                    push_unique(shown.get_or_insert_with(Vec::new), &p.name);
                }
            }
            Command::Filter(e) => {
                let resolve = |n: &str| scope.get(n).map(|i| Ref::Def(*i)).unwrap_or_else(|| Ref::Path(Path::of(n)));
                filters.push(compile_expr(e, &resolve))
            }
            Command::Display(d) => {
                let mut v = Vec::new();
                d.iter().for_each(|n| push_unique(&mut v, n));
                shown = Some(v);
            }
            _ => unreachable!("barrier commands are handled below"),
        }
    }
    let resolve = |n: &str| scope.get(n).map(|i| Ref::Def(*i)).unwrap_or_else(|| Ref::Path(Path::of(n)));
    let tail: Vec<(usize, Command)> = cmds[barrier..].to_vec();
    let limited = tail.iter().any(|(_, c)| matches!(c, Command::Limit(_)));

    if let Some((at, Command::Stats { aggs, by })) = tail.first() {
        if let Some((at2, _)) = tail[1..].iter().find(|(_, c)| matches!(c, Command::Stats { .. })) {
            return Err(q.error(*at2, "cwfix evaluates one `stats` command per query"));
        }
        let mut names = Vec::new();
        by.iter().for_each(|p| p.expr.fields(&mut names));
        aggs.iter().filter_map(|a| a.arg.as_ref()).for_each(|e| e.fields(&mut names));
        for n in names {
            if !scope.contains_key(n) {
                check_field(q, *at, n)?;
            }
        }
        let keys = by.iter().map(|p| compile_expr(&p.expr, &resolve)).collect();
        let table_cols: Vec<String> =
            by.iter().map(|p| p.name.clone()).chain(aggs.iter().map(|a| a.name.clone())).collect();
        let aggs =
            aggs.iter().map(|a| Agg { func: a.func, arg: a.arg.as_ref().map(|e| compile_expr(e, &resolve)) }).collect();
        return Ok(Plan {
            defs,
            filters,
            carry: Vec::new(),
            mode: Mode::Stats { keys, aggs },
            shown: Some(table_cols.clone()),
            table_cols,
            tail: tail[1..].to_vec(),
            limited,
            since: None,
            until: None,
            keys: Keys::default(),
        });
    }

    // Rows: the tail may hold one `sort`, one `limit`, and `fields` / `display`; `filter`
    // after them would need every row in memory.
    let mut sorts = 0;
    let mut limits = 0;
    for (at, c) in &tail {
        match c {
            Command::Filter(_) => {
                return Err(q.error(
                    *at,
                    "`filter` after `sort` or `limit` is not supported: cwfix filters while streaming; \
                     move the filter before them",
                ))
            }
            Command::Stats { .. } => {
                return Err(q.error(*at, "`stats` after `sort` or `limit` is not supported; put it first"))
            }
            Command::Sort(_) if sorts == 1 => return Err(q.error(*at, "cwfix evaluates one `sort` per query")),
            Command::Limit(_) if limits == 1 => return Err(q.error(*at, "cwfix evaluates one `limit` per query")),
            Command::Sort(_) => sorts += 1,
            Command::Limit(_) => limits += 1,
            _ => {}
        }
    }
    // Columns to carry: what would be shown, plus every name the tail reads.
    let mut carry_names: Vec<String> = shown.clone().unwrap_or_else(|| vec!["@timestamp".into(), "@message".into()]);
    for (at, c) in &tail {
        let mut names: Vec<&str> = Vec::new();
        match c {
            Command::Sort(keys) => names.extend(keys.iter().map(|k| k.field.as_str())),
            Command::Display(d) => names.extend(d.iter().map(String::as_str)),
            Command::Fields(ps) => ps.iter().for_each(|p| p.expr.fields(&mut names)),
            _ => {}
        }
        for n in names {
            if !scope.contains_key(n) {
                check_field(q, *at, n)?;
            }
            push_unique(&mut carry_names, n);
        }
    }
    let carry: Vec<(String, Ref)> = carry_names.iter().map(|n| (n.clone(), resolve(n))).collect();
    let n = match tail.first() {
        Some((_, Command::Limit(n))) => *n,
        _ => tail.iter().find_map(|(_, c)| if let Command::Limit(n) = c { Some(*n) } else { None }).unwrap_or(ROW_CAP),
    };
    let sort = match tail.first() {
        Some((_, Command::Sort(keys))) => keys
            .iter()
            .map(|k: &SortKey| (carry_names.iter().position(|c| c == &k.field).expect("carried"), k.desc))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Plan {
        defs,
        filters,
        table_cols: carry_names,
        carry,
        mode: Mode::Rows { n, sort },
        tail,
        shown,
        limited,
        since: None,
        until: None,
        keys: Keys::default(),
    })
}

/// Add the top-level properties `e` reads (through definitions too) to `out`.
fn keys_of(e: &CExpr, defs: &[CExpr], out: &mut Vec<String>) {
    match e {
        CExpr::Ref(r) => ref_keys(r, defs, out),
        CExpr::Lit(_) => {}
        CExpr::Call(_, a) | CExpr::And(a) | CExpr::Or(a) => a.iter().for_each(|x| keys_of(x, defs, out)),
        CExpr::Cmp(_, l, r) => {
            keys_of(l, defs, out);
            keys_of(r, defs, out);
        }
        CExpr::Like { expr, .. } | CExpr::In { expr, .. } | CExpr::Not(expr) => keys_of(expr, defs, out),
    }
}

fn ref_keys(r: &Ref, defs: &[CExpr], out: &mut Vec<String>) {
    match r {
        Ref::Def(i) => keys_of(&defs[*i], defs, out),
        Ref::Path(Path::Json(segs)) => {
            if let Some(k) = segs.first() {
                push_unique(out, k);
            }
        }
        Ref::Path(Path::Timestamp) => push_unique(out, "eventTime"),
        Ref::Path(Path::Message) | Ref::Col(_) => {}
    }
}

impl Plan {
    /// What to parse of each record: the filters' properties first, the rest on a match.
    fn keys(&self) -> Keys {
        let mut early = Vec::new();
        if self.since.is_some() || self.until.is_some() {
            early.push("eventTime".to_string());
        }
        self.filters.iter().for_each(|f| keys_of(f, &self.defs, &mut early));
        let mut late = early.clone();
        self.carry.iter().for_each(|(_, r)| ref_keys(r, &self.defs, &mut late));
        if let Mode::Stats { keys, aggs } = &self.mode {
            keys.iter().for_each(|k| keys_of(k, &self.defs, &mut late));
            aggs.iter().filter_map(|a| a.arg.as_ref()).for_each(|e| keys_of(e, &self.defs, &mut late));
        }
        Keys { early, late }
    }
}

// ---------------------------------------------------------------------------------------- workers

#[derive(Debug, Clone)]
enum AggState {
    Count(u64),
    Sum(f64, bool),
    Avg(f64, u64),
    Min(Val<'static>),
    Max(Val<'static>),
}

impl AggState {
    fn new(f: AggFunc) -> AggState {
        match f {
            AggFunc::Count => AggState::Count(0),
            AggFunc::Sum => AggState::Sum(0.0, false),
            AggFunc::Avg => AggState::Avg(0.0, 0),
            AggFunc::Min => AggState::Min(Val::Null),
            AggFunc::Max => AggState::Max(Val::Null),
        }
    }

    fn add(&mut self, v: Option<Val>) {
        match self {
            AggState::Count(n) => *n += u64::from(v.is_none_or(|v| !v.is_null())),
            AggState::Sum(s, any) => {
                if let Some(x) = v.and_then(|v| v.number()) {
                    *s += x;
                    *any = true;
                }
            }
            AggState::Avg(s, n) => {
                if let Some(x) = v.and_then(|v| v.number()) {
                    *s += x;
                    *n += 1;
                }
            }
            AggState::Min(m) => keep_if(m, v, Ordering::Less),
            AggState::Max(m) => keep_if(m, v, Ordering::Greater),
        }
    }

    fn merge(&mut self, o: AggState) {
        match (self, o) {
            (AggState::Count(a), AggState::Count(b)) => *a += b,
            (AggState::Sum(a, x), AggState::Sum(b, y)) => {
                *a += b;
                *x |= y;
            }
            (AggState::Avg(a, n), AggState::Avg(b, m)) => {
                *a += b;
                *n += m;
            }
            (s @ AggState::Min(_), AggState::Min(v)) | (s @ AggState::Max(_), AggState::Max(v)) => s.add(Some(v)),
            _ => {}
        }
    }

    fn value(self) -> Val<'static> {
        match self {
            AggState::Count(n) => Val::number_of(n as f64),
            AggState::Sum(s, true) => Val::number_of(s),
            AggState::Sum(_, false) => Val::Null,
            AggState::Avg(_, 0) => Val::Null,
            AggState::Avg(s, n) => Val::number_of(s / n as f64),
            AggState::Min(v) | AggState::Max(v) => v,
        }
    }
}

/// Replace `cur` by `v` when `v` orders `want` against it (min / max).
fn keep_if(cur: &mut Val<'static>, v: Option<Val>, want: Ordering) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        if cur.is_null() || sort_cmp(&v, cur, false) == want {
            *cur = v.into_owned();
        }
    }
}

/// A group: the first key values seen (for output) and the aggregate states.
type Groups = HashMap<Vec<Option<String>>, (Vec<Val<'static>>, Vec<AggState>)>;

#[derive(Default)]
struct Worker {
    files: u64,
    scanned: u64,
    matched: u64,
    bad: Vec<(String, String)>,
    rows: Vec<(Seq, Vec<Val<'static>>)>,
    groups: Groups,
    too_many_groups: bool,
}

fn row_order(sort: &[(usize, bool)], a: &(Seq, Vec<Val<'static>>), b: &(Seq, Vec<Val<'static>>)) -> Ordering {
    for &(i, desc) in sort {
        let o = sort_cmp(&a.1[i], &b.1[i], desc);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.0.cmp(&b.0)
}

fn trim_rows(rows: &mut Vec<(Seq, Vec<Val<'static>>)>, sort: &[(usize, bool)], n: usize) {
    rows.sort_by(|a, b| row_order(sort, a, b));
    rows.truncate(n);
}

impl Plan {
    fn record(&self, w: &mut Worker, seq: Seq, raw: &str) {
        let s = RecordScope::new(raw, &self.keys, &self.defs);
        if self.since.is_some() || self.until.is_some() {
            let t = s.rec.get(&Path::Json(vec!["eventTime".into()]));
            let t = t.text().and_then(crate::backtest::parse_time);
            let inside = t.is_some_and(|t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u));
            if !inside {
                return;
            }
        }
        w.scanned += 1;
        if !self.filters.iter().all(|f| truth(f, &s)) {
            return;
        }
        w.matched += 1;
        match &self.mode {
            Mode::Rows { n, sort } => {
                let n = usize::try_from(*n).unwrap_or(usize::MAX);
                // A worker gets files in walk order, so its rows are in input order: once it
                // holds the first `n`, no later record of it can be among the first `n` overall.
                if sort.is_empty() && w.rows.len() >= n {
                    return;
                }
                let row: Vec<Val<'static>> = self.carry.iter().map(|(_, r)| s.get(r).into_owned()).collect();
                w.rows.push((seq, row));
                if w.rows.len() >= n.saturating_mul(2).max(1024) {
                    trim_rows(&mut w.rows, sort, n);
                }
            }
            Mode::Stats { keys, aggs } => {
                let vals: Vec<Val> = keys.iter().map(|k| eval(k, &s)).collect();
                let key: Vec<Option<String>> = vals.iter().map(|v| v.text().map(str::to_string)).collect();
                if !w.groups.contains_key(&key) {
                    if w.groups.len() >= MAX_GROUPS {
                        w.too_many_groups = true;
                        return;
                    }
                    let states = aggs.iter().map(|a| AggState::new(a.func)).collect();
                    w.groups.insert(key.clone(), (vals.into_iter().map(Val::into_owned).collect(), states));
                }
                let (_, states) = w.groups.get_mut(&key).expect("inserted");
                for (st, a) in states.iter_mut().zip(aggs) {
                    st.add(a.arg.as_ref().map(|e| eval(e, &s)));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------- tail

/// The in-memory table the tail commands work on.
struct Table {
    cols: Vec<String>,
    rows: Vec<Vec<Val<'static>>>,
}

impl Table {
    fn col(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c == name)
    }
}

fn run_tail(
    q: &Query,
    t: &mut Table,
    tail: &[(usize, Command)],
    shown: &mut Option<Vec<String>>,
) -> Result<(), ParseError> {
    for (_, c) in tail {
        match c {
            Command::Fields(ps) => {
                for p in ps {
                    let resolve = |n: &str| t.col(n).map(Ref::Col).unwrap_or(Ref::Col(usize::MAX));
                    let e = compile_expr(&p.expr, &resolve);
                    let vals: Vec<Val<'static>> =
                        t.rows.iter().map(|r| eval(&e, &RowScope(r) as &dyn Scope).into_owned()).collect();
                    let i = match t.col(&p.name) {
                        Some(i) => i,
                        None => {
                            t.cols.push(p.name.clone());
                            t.rows.iter_mut().for_each(|r| r.push(Val::Null));
                            t.cols.len() - 1
                        }
                    };
                    for (r, v) in t.rows.iter_mut().zip(vals) {
                        r[i] = v;
                    }
                    push_unique(shown.get_or_insert_with(Vec::new), &p.name);
                }
            }
            Command::Display(d) => {
                let mut v = Vec::new();
                d.iter().for_each(|n| push_unique(&mut v, n));
                *shown = Some(v);
            }
            Command::Filter(e) => {
                let resolve = |n: &str| t.col(n).map(Ref::Col).unwrap_or(Ref::Col(usize::MAX));
                let e = compile_expr(e, &resolve);
                t.rows.retain(|r| truth(&e, &RowScope(r)));
            }
            Command::Sort(keys) => {
                let idx: Vec<(Option<usize>, bool)> = keys.iter().map(|k| (t.col(&k.field), k.desc)).collect();
                t.rows.sort_by(|a, b| {
                    for (i, desc) in &idx {
                        let (x, y) = match i {
                            Some(i) => (&a[*i], &b[*i]),
                            None => continue,
                        };
                        let o = sort_cmp(x, y, *desc);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                });
            }
            Command::Limit(n) => t.rows.truncate(usize::try_from(*n).unwrap_or(usize::MAX)),
            Command::Stats { .. } => return Err(q.error(0, "cwfix evaluates one `stats` command per query")),
        }
    }
    Ok(())
}

/// Run `q` over the CloudTrail files under `paths` (`-` = stdin).
pub fn run(q: &Query, paths: &[PathBuf], opts: &Options) -> Result<Outcome, Error> {
    let mut plan = plan(q)?;
    plan.since = opts.since;
    plan.until = opts.until;
    plan.keys = plan.keys();
    let (workers, walked) = input::scan(paths, opts.jobs.max(1), Worker::default, |w: &mut Worker, f| {
        w.files += 1;
        match f.events {
            Ok(events) => {
                for (i, raw) in events.iter().enumerate() {
                    plan.record(w, (f.seq, i as u64), raw.get());
                }
            }
            Err(e) => {
                w.files -= 1;
                w.bad.push((f.name, e));
            }
        }
    })?;
    if walked == 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Input(crate::backtest::Error::NoEvents {
            inputs: shown.join(", "),
            files_read: 0,
            unreadable: vec![],
        }));
    }
    let mut stats = Stats::default();
    let mut rows: Vec<(Seq, Vec<Val<'static>>)> = Vec::new();
    let mut groups: Groups = HashMap::new();
    for w in workers {
        stats.files += w.files;
        stats.records_scanned += w.scanned;
        stats.records_matched += w.matched;
        stats.bad_files.extend(w.bad);
        if w.too_many_groups {
            return Err(Error::TooManyGroups(MAX_GROUPS));
        }
        rows.extend(w.rows);
        for (k, (vals, states)) in w.groups {
            match groups.get_mut(&k) {
                Some((_, mine)) => mine.iter_mut().zip(states).for_each(|(a, b)| a.merge(b)),
                None => {
                    if groups.len() >= MAX_GROUPS {
                        return Err(Error::TooManyGroups(MAX_GROUPS));
                    }
                    groups.insert(k, (vals, states));
                }
            }
        }
    }
    stats.bad_files.sort();
    let mut table = Table { cols: plan.table_cols.clone(), rows: Vec::new() };
    match &plan.mode {
        Mode::Rows { n, sort } => {
            trim_rows(&mut rows, sort, usize::try_from(*n).unwrap_or(usize::MAX));
            table.rows = rows.into_iter().map(|r| r.1).collect();
        }
        Mode::Stats { .. } => {
            let mut g: Vec<(Vec<Val<'static>>, Vec<AggState>)> = groups.into_values().collect();
            // Deterministic group order: by key values.
            g.sort_by(|a, b| {
                a.0.iter()
                    .zip(&b.0)
                    .map(|(x, y)| sort_cmp(x, y, false))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            });
            table.rows = g
                .into_iter()
                .map(|(mut keys, states)| {
                    keys.extend(states.into_iter().map(AggState::value));
                    keys
                })
                .collect();
        }
    }
    let mut shown = plan.shown.clone();
    // A leading `sort`/`limit` was applied while streaming; running it again is harmless.
    run_tail(q, &mut table, &plan.tail, &mut shown)?;
    let mut truncated = false;
    if !plan.limited && table.rows.len() as u64 > ROW_CAP {
        table.rows.truncate(ROW_CAP as usize);
        truncated = true;
    }
    if !plan.limited && matches!(plan.mode, Mode::Rows { .. }) && stats.records_matched > ROW_CAP {
        truncated = true;
    }
    let columns = shown.unwrap_or_else(|| vec!["@timestamp".into(), "@message".into()]);
    let idx: Vec<Option<usize>> = columns.iter().map(|c| table.col(c)).collect();
    let rows = table
        .rows
        .iter()
        .map(|r| idx.iter().map(|i| i.and_then(|i| r[i].text().map(str::to_string))).collect())
        .collect();
    Ok(Outcome { columns, rows, stats, truncated })
}
