//! `cwfix hunt`, and the `--engine` flags `backtest` shares with it.
//!
//! Owns argument shapes, choosing the engine, and output routing: the result (table, JSON or
//! CSV) on stdout; counters, unreadable files and truncation warnings on stderr. The work is
//! `crate::hunt` (local), `crate::athena` + `aws::athena` (Athena) and `aws::insights`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};

use super::{Exit, OutputFormat};
use crate::athena::{self, Partitions, Table, Window};
use crate::aws::athena::{AthenaTarget, LiveAthena, Poll};
use crate::aws::insights::LiveInsights;
use crate::aws::live::{sdk_config, ConnectOptions};
use crate::hunt::{self, output, Outcome};

/// Where a backtest or hunt is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// On this machine, over CloudTrail files.
    #[default]
    Local,
    /// In Athena, over the CloudTrail table (see --database, --table, --sql).
    Athena,
    /// In CloudWatch Logs Insights, over log groups (`hunt` only; see --log-group).
    Insights,
}

/// How the Athena table is partitioned by date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PartitionScheme {
    /// No date partitions: only `eventtime` bounds the scan.
    #[default]
    None,
    /// `year`, `month`, `day` columns (AWS's manual-partitioning DDL).
    Ymd,
    /// One `yyyy/MM/dd` column (AWS's partition-projection DDL), named by --partition-column.
    Projected,
}

/// Engine flags shared by `backtest` and `hunt`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EngineArgs {
    /// Where to evaluate.
    #[arg(long, value_enum, default_value_t = Engine::Local)]
    pub engine: Engine,
    /// Print the Athena SQL and exit (with --engine athena); nothing is sent to AWS.
    #[arg(long)]
    pub sql: bool,
    /// Athena: database of the CloudTrail table (default: the workgroup's).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Athena: the CloudTrail table, created with AWS's documented DDL.
    #[arg(long, value_name = "NAME", default_value = "cloudtrail_logs")]
    pub table: String,
    /// Athena: workgroup to run in.
    #[arg(long, value_name = "NAME")]
    pub workgroup: Option<String>,
    /// Athena: where Athena writes results, s3://bucket/prefix/ (unless the workgroup sets it).
    #[arg(long, value_name = "S3_URL")]
    pub output_location: Option<String>,
    /// Athena: the table's date partitions, pruned by --since/--until.
    #[arg(long, value_enum, default_value_t = PartitionScheme::None)]
    pub partitions: PartitionScheme,
    /// Athena: the projected date partition column (with --partitions projected).
    #[arg(long, value_name = "NAME", default_value = "timestamp")]
    pub partition_column: String,
    /// Only events at or after this time: 7d, 12h, 30m (ago) or 2024-03-04[T12:00:00Z].
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only events before this time (same forms as --since; default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Insights: log group to query (repeatable).
    #[arg(long = "log-group", value_name = "NAME")]
    pub log_groups: Vec<String>,
    /// AWS region for Athena or Insights (default: the usual AWS configuration).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config.
    #[arg(long)]
    pub profile: Option<String>,
}

/// Result format of `hunt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// The query, in the Logs Insights language (the subset cwfix evaluates locally: fields,
    /// filter, stats, sort, limit, display). Omit it with --saved.
    #[arg(value_name = "QUERY")]
    pub query: Option<String>,
    /// CloudTrail files or directories (S3 layout, *.json.gz, JSON lines); `-` reads stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run a saved query of the baseline by name (e.g. `failed-logins` or
    /// `cwfix/hunting/failed-logins`); the first positional argument is then a PATH.
    #[arg(long, value_name = "NAME")]
    pub saved: Option<String>,
    /// Baseline holding the saved queries (shipped name or TOML path).
    #[arg(long, short = 'b', default_value = "hunting")]
    pub baseline: String,
    /// Account id for `${account}` in a saved query.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Result format (default: table, or JSON with the global `-o json`).
    #[arg(long, value_enum)]
    pub format: Option<HuntFormat>,
    /// Worker threads for the local engine (default: available cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Seconds since the epoch now.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `7d`, `12h`, `30m`, `45s`, `2w` before `now`, or a UTC date / RFC 3339 time.
pub fn parse_when(s: &str, now: i64) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Some((n, unit)) = s.char_indices().last().map(|(i, c)| (&s[..i], c)) {
        if let Ok(n) = n.parse::<i64>() {
            let secs = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => 0,
            };
            if secs > 0 && n >= 0 {
                return Ok(now - n * secs);
            }
        }
    }
    let full = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() };
    crate::backtest::parse_time(&full)
        .with_context(|| format!("`{s}` is not a time: use 7d, 12h, 30m, 2024-03-04 or 2024-03-04T12:00:00Z"))
}

impl EngineArgs {
    fn window(&self) -> anyhow::Result<Window> {
        let n = now();
        Ok(Window {
            since: self.since.as_deref().map(|s| parse_when(s, n)).transpose()?,
            until: self.until.as_deref().map(|s| parse_when(s, n)).transpose()?,
        })
    }

    fn table(&self) -> Table {
        Table {
            database: self.database.clone(),
            table: self.table.clone(),
            partitions: match self.partitions {
                PartitionScheme::None => Partitions::None,
                PartitionScheme::Ymd => Partitions::YearMonthDay,
                PartitionScheme::Projected => Partitions::Projected(self.partition_column.clone()),
            },
        }
    }

    fn target(&self) -> AthenaTarget {
        AthenaTarget {
            database: self.database.clone(),
            workgroup: self.workgroup.clone(),
            output_location: self.output_location.clone(),
        }
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        sdk_config(&ConnectOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            // Polling is ours; each call may retry a few times.
            max_attempts: Some(4),
            ..Default::default()
        })
        .await
    }
}

/// What `backtest` should do after looking at the engine flags.
pub enum Remote {
    /// Run locally, as before.
    Local,
    /// Done (the SQL was printed).
    Done(Exit),
    /// Athena's report, to render like a local one.
    Report(Box<crate::backtest::Report>),
}

/// `backtest --engine athena [--sql]`: compile every control into one query and run it.
pub fn remote_backtest(
    e: &EngineArgs,
    spec: &crate::backtest::Spec,
    top: usize,
    out: &mut dyn Write,
) -> anyhow::Result<Remote> {
    match e.engine {
        Engine::Local => {
            if e.sql {
                bail!("--sql prints the Athena SQL: add `--engine athena`");
            }
            if e.since.is_some() || e.until.is_some() {
                bail!("--since/--until apply to `--engine athena`; the local backtest reads every event it is given");
            }
            Ok(Remote::Local)
        }
        Engine::Insights => bail!("`backtest` runs locally or in Athena; `--engine insights` is for `cwfix hunt`"),
        Engine::Athena => {
            let sql = athena::backtest_sql(spec, &e.table(), &e.window()?, top)?;
            if e.sql {
                writeln!(out, "{sql};")?;
                return Ok(Remote::Done(Exit::Success));
            }
            let run = super::runtime()?.block_on(async {
                let conf = e.sdk().await;
                crate::aws::athena::run_query(&LiveAthena::new(&conf), &sql, &e.target(), Poll::default()).await
            })?;
            let report = athena::backtest_report(spec, &run.rows, top, run.bytes_scanned.unwrap_or(0))
                .map_err(|m| anyhow::anyhow!("unexpected Athena result for query {}: {m}", run.execution_id))?;
            Ok(Remote::Report(Box::new(report)))
        }
    }
}

/// The query text: QUERY, or the saved one with `${account}` filled in.
fn query_text(args: &HuntArgs) -> anyhow::Result<(String, Vec<PathBuf>)> {
    let mut paths = args.paths.clone();
    let Some(name) = &args.saved else {
        let q = args.query.clone().context("give a QUERY, or --saved NAME for a query of the baseline")?;
        return Ok((q, paths));
    };
    if let Some(first) = &args.query {
        paths.insert(0, PathBuf::from(first));
    }
    let b = crate::baseline::load(&args.baseline)?;
    let found =
        b.queries.iter().find(|q| &q.name == name || q.name.rsplit('/').next() == Some(name.as_str())).with_context(
            || {
                let names: Vec<&str> = b.queries.iter().map(|q| q.name.as_str()).collect();
                format!("baseline `{}` has no saved query `{name}` (it has: {})", b.name, names.join(", "))
            },
        )?;
    let mut text = found.query.clone();
    if text.contains("${account}") {
        let acct = args
            .account
            .as_deref()
            .with_context(|| format!("saved query `{}` filters on `${{account}}`: pass --account ID", found.name))?;
        text = text.replace("${account}", acct);
    }
    Ok((text, paths))
}

pub fn run(args: &HuntArgs, global: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let (text, paths) = query_text(args)?;
    let format = args.format.unwrap_or(if global == OutputFormat::Json { HuntFormat::Json } else { HuntFormat::Table });
    let e = &args.engine;
    if e.sql && e.engine != Engine::Athena {
        bail!("--sql prints the Athena SQL: add `--engine athena`");
    }
    if e.engine != Engine::Local && !paths.is_empty() {
        let name = if e.engine == Engine::Athena { "athena" } else { "insights" };
        bail!("--engine {name} reads AWS, not files: drop the PATH arguments");
    }
    if e.engine == Engine::Local && paths.is_empty() && std::io::stdin().is_terminal() {
        bail!("give CloudTrail files or directories, or pipe records into `cwfix hunt QUERY -`");
    }
    let (outcome, engine) = match e.engine {
        Engine::Local => {
            let q = hunt::parse(&text)?;
            let w = e.window()?;
            let jobs = args.jobs.map(usize::from).unwrap_or_else(crate::backtest::default_jobs);
            let o = hunt::run_local(&q, &paths, &hunt::Options { jobs, since: w.since, until: w.until })?;
            (o, "local")
        }
        Engine::Athena => {
            let q = hunt::parse(&text)?;
            let sql = athena::query::hunt_sql(&q, &e.table(), &e.window()?)?;
            if e.sql {
                writeln!(out, "{sql};")?;
                return Ok(Exit::Success);
            }
            let run = super::runtime()?.block_on(async {
                let conf = e.sdk().await;
                crate::aws::athena::run_query(&LiveAthena::new(&conf), &sql, &e.target(), Poll::default()).await
            })?;
            (athena::query::outcome(run.columns, run.rows, run.bytes_scanned), "athena")
        }
        Engine::Insights => {
            if e.log_groups.is_empty() {
                bail!("--engine insights needs --log-group NAME (the trail's log group)");
            }
            let w = e.window()?;
            let since = w.since.context("--engine insights needs --since (e.g. 7d): Insights bills by data scanned")?;
            let until = w.until.unwrap_or_else(now);
            let page = super::runtime()?.block_on(async {
                let conf = e.sdk().await;
                crate::aws::insights::run_query(
                    &LiveInsights::new(&conf),
                    &e.log_groups,
                    since,
                    until,
                    &text,
                    Poll::default(),
                )
                .await
            })?;
            (insights_outcome(&text, page), "insights")
        }
    };
    report_counters(&outcome, engine);
    match format {
        HuntFormat::Table => output::table(&outcome, out)?,
        HuntFormat::Json => output::json(&outcome, engine, &text, out)?,
        HuntFormat::Csv => output::csv(&outcome, out)?,
    }
    Ok(Exit::Success)
}

/// Insights rows (field/value lists without the empty fields) as columns: the query's own
/// columns when cwfix can read the query, else every field in order of appearance.
fn insights_outcome(text: &str, page: crate::aws::insights::Page) -> Outcome {
    let mut columns = hunt::parse(text).map(|q| q.columns()).unwrap_or_default();
    if columns.is_empty() {
        for r in &page.rows {
            for (f, _) in r {
                if f != "@ptr" && !columns.contains(f) {
                    columns.push(f.clone());
                }
            }
        }
    }
    let rows = page
        .rows
        .iter()
        .map(|r| columns.iter().map(|c| r.iter().find(|(f, _)| f == c).map(|(_, v)| v.clone())).collect())
        .collect();
    let mut o = Outcome { columns, rows, ..Default::default() };
    o.stats.records_matched = page.records_matched as u64;
    o.stats.records_scanned = page.records_scanned as u64;
    o.stats.bytes_scanned = Some(page.bytes_scanned as u64);
    o
}

/// Counters and warnings on stderr (never mixed into the result).
fn report_counters(o: &Outcome, engine: &str) {
    let mut e = std::io::stderr().lock();
    let s = &o.stats;
    let _ = match engine {
        "local" => writeln!(
            e,
            "{} row(s); {} of {} record(s) matched in {} file(s)",
            o.rows.len(),
            s.records_matched,
            s.records_scanned,
            s.files
        ),
        _ => writeln!(
            e,
            "{} row(s) from {engine}{}",
            o.rows.len(),
            s.bytes_scanned.map(|b| format!("; {b} bytes scanned")).unwrap_or_default()
        ),
    };
    if !s.bad_files.is_empty() {
        let _ = writeln!(e, "warning: {} file(s) could not be read and were skipped:", s.bad_files.len());
        for (p, why) in &s.bad_files {
            let _ = writeln!(e, "  {p}: {why}");
        }
    }
    if o.truncated {
        let _ = writeln!(
            e,
            "warning: more rows matched than the {} shown (Insights' cap); add `| limit N` or `| stats` to see all",
            hunt::ROW_CAP
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when() {
        let now = 1_709_553_600; // 2024-03-04T12:00:00Z
        assert_eq!(parse_when("7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_when("90m", now).unwrap(), now - 5400);
        assert_eq!(parse_when("2024-03-04", now).unwrap(), now - 12 * 3600);
        assert_eq!(parse_when("2024-03-04T12:00:00Z", now).unwrap(), now);
        assert!(parse_when("yesterday", now).is_err());
    }

    #[test]
    fn saved_query_needs_the_account() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            a: HuntArgs,
        }
        let t = T::try_parse_from(["x", "--saved", "failed-logins", "dir"]).unwrap();
        let e = query_text(&t.a).unwrap_err();
        assert!(e.to_string().contains("--account"), "{e}");
        let t = T::try_parse_from(["x", "--saved", "failed-logins", "--account", "111122223333", "dir", "d2"]).unwrap();
        let (q, paths) = query_text(&t.a).unwrap();
        assert!(q.contains("account like '111122223333'"), "{q}");
        assert_eq!(paths, [PathBuf::from("dir"), PathBuf::from("d2")]);
        let t = T::try_parse_from(["x", "--saved", "nope", "dir"]).unwrap();
        assert!(query_text(&t.a).unwrap_err().to_string().contains("failed-logins"));
    }
}
