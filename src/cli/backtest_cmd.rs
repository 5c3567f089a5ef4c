//! `cwfix backtest`: replay CloudTrail archives against a baseline, per control: matches, the
//! periods in which its alarm would have been in ALARM, and who/what/where behind the matches.
//!
//! Owns argument shape, the progress bar and output layout only (a table with per-day
//! sparklines, or one JSON document); the work is `crate::backtest`. Unreadable files are a
//! warning on stderr, never fatal; inputs that do not exist or hold no event are an error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Exit, OutputFormat};
use crate::backtest::{self, format_day, format_time, sparkline, ControlReport, Count, Progress, Report, Unreadable};

/// Width of the per-day sparkline column.
const SPARK_WIDTH: usize = 31;

/// Version of the JSON document (`-o json`): minor for added fields, major for removed ones.
const FORMAT_VERSION: &str = "1.0";

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Shipped baseline name (see `cwfix baselines`) or path to a baseline TOML file.
    #[arg(long, short = 'b', default_value = crate::baseline::DEFAULT_BASELINE)]
    pub baseline: String,
    /// Worker threads decoding and evaluating files (default: available cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Entries per "top" list (principals, event names, source IPs).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub top: usize,
    /// CloudTrail files or directories (searched recursively for *.json, *.json.gz, *.jsonl…),
    /// e.g. a local copy of `s3://BUCKET/AWSLogs/`. Plain text logs are read one event per line.
    /// `-` reads stdin.
    #[arg(required_unless_present_any = ["sql", "engine"], value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// --engine athena and its flags (issue #13).
    #[command(flatten)]
    pub engine: super::hunt_cmd::EngineArgs,
}

/// What stderr may show, decided from the terminal and the log level (`-q` raises it to errors,
/// `-v` lowers it to debug; `cli::init_logging`), so no flag is parsed twice.
struct Chatter {
    warnings: bool,
    progress: bool,
}

fn chatter(format: OutputFormat) -> Chatter {
    let warnings = tracing::enabled!(tracing::Level::WARN);
    let verbose = tracing::enabled!(tracing::Level::DEBUG);
    let progress = warnings && !verbose && format == OutputFormat::Human && std::io::stderr().is_terminal();
    Chatter { warnings, progress }
}

pub fn run(args: &BacktestArgs, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let b = crate::baseline::load(&args.baseline)?;
    let spec = backtest::Spec::from_baseline(&b);
    match super::hunt_cmd::remote_backtest(&args.engine, &spec, args.top, out)? {
        super::hunt_cmd::Remote::Local => {}
        super::hunt_cmd::Remote::Done(exit) => return Ok(exit),
        super::hunt_cmd::Remote::Report(report) => {
            match format {
                OutputFormat::Json => writeln!(out, "{:#}", to_json(&report))?,
                _ => human(&report, out)?,
            }
            return Ok(Exit::Success);
        }
    }
    let opts =
        backtest::Options { jobs: args.jobs.map(usize::from).unwrap_or_else(backtest::default_jobs), top: args.top };
    let chat = chatter(format);
    let started = Instant::now();
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        if chat.progress {
            s.spawn(|| progress_bar(&progress, &done, started));
        }
        let r = backtest::run(&spec, &args.paths, &opts, &progress);
        done.store(true, Ordering::Relaxed);
        r
    });
    let report = match result {
        Ok(r) => r,
        Err(backtest::Error::NoEvents { inputs, files_read, unreadable }) => {
            if unreadable.len() > 1 {
                warn_unreadable(&unreadable);
            }
            return Err(backtest::Error::NoEvents { inputs, files_read, unreadable }.into());
        }
        Err(e) => return Err(e.into()),
    };
    if chat.warnings {
        warn_unreadable(&report.unreadable);
    }
    match format {
        OutputFormat::Json => {
            // Rendered first, so that a closed pipe surfaces as the io::Error the exit point
            // recognises (serde_json's own error does not expose it).
            let doc = serde_json::to_string_pretty(&to_json(&report))?;
            out.write_all(doc.as_bytes())?;
            writeln!(out)?;
        }
        // Findings formats are refused before any command runs (`cli::run`).
        _ => human(&report, out)?,
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    tracing::debug!(
        "backtest: {} events, {} files read, {} unreadable, {:.1} MB in {secs:.2} s ({:.0} events/s)",
        report.events,
        report.files_read,
        report.unreadable.len(),
        report.bytes as f64 / 1e6,
        report.events as f64 / secs
    );
    Ok(Exit::Success)
}

/// Files, bytes and events/s on stderr until `done`.
fn progress_bar(progress: &Progress, done: &AtomicBool, started: Instant) {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(Duration::from_millis(120));
    while !done.load(Ordering::Relaxed) {
        let p = progress.snapshot();
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let bad = if p.unreadable > 0 { format!(" ({} unreadable)", p.unreadable) } else { String::new() };
        pb.set_message(format!(
            "{} files{bad}, {:.0} MB, {} events, {:.0} events/s",
            p.files,
            p.bytes as f64 / 1e6,
            p.records,
            p.records as f64 / secs
        ));
        std::thread::sleep(Duration::from_millis(100));
    }
    pb.finish_and_clear();
}

fn warn_unreadable(bad: &[Unreadable]) {
    if bad.is_empty() {
        return;
    }
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "warning: {} file(s) could not be read and were skipped:", bad.len());
    for b in bad {
        let _ = writeln!(e, "  {}: {}", b.path, b.error);
    }
}

fn counts_json(v: &[Count]) -> Value {
    Value::Array(v.iter().map(|c| json!({"value": c.value, "count": c.count})).collect())
}

fn control_json(c: &ControlReport, period: i64) -> Value {
    json!({
        "id": c.id,
        "title": c.title,
        "pattern": c.pattern,
        "matched": c.matched,
        "untimed": c.untimed,
        "alarm_windows": c.alarm.windows.len(),
        "alarm_transitions": c.alarm.transitions,
        "first_alarm": c.first_alarm().map(format_time),
        "last_alarm": c.last_alarm().map(format_time),
        "windows": c.alarm.windows.iter().map(|w| json!({
            "start": format_time(w.start), "end": format_time(w.start + period), "value": w.value,
        })).collect::<Vec<_>>(),
        "daily": c.daily.iter().map(|(d, n)| json!({"date": format_day(*d), "matched": n})).collect::<Vec<_>>(),
        "top_principals": counts_json(&c.top_principals),
        "top_event_names": counts_json(&c.top_event_names),
        "top_source_ips": counts_json(&c.top_source_ips),
    })
}

fn to_json(r: &Report) -> Value {
    let period = i64::from(r.alarm.period);
    json!({
        "format_version": FORMAT_VERSION,
        "baseline": r.baseline,
        "alarm": r.alarm,
        "files_read": r.files_read,
        "files_unreadable": r.unreadable.len(),
        "events": r.events,
        "unreadable": r.unreadable.iter().map(|b| json!({"path": b.path, "error": b.error})).collect::<Vec<_>>(),
        "bytes": r.bytes,
        "first_event": r.first_event.map(format_time),
        "last_event": r.last_event.map(format_time),
        "controls": r.controls.iter().map(|c| control_json(c, period)).collect::<Vec<_>>(),
    })
}

fn op_symbol(op: &str) -> &str {
    match op {
        "GreaterThanOrEqualToThreshold" => ">=",
        "GreaterThanThreshold" => ">",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "<=",
        other => other,
    }
}

/// `2024-03-04 12:05Z`, the resolution of alarm periods.
fn short_time(t: i64) -> String {
    let s = format_time(t);
    format!("{} {}Z", &s[..10], &s[11..16])
}

/// The counts line; the same numbers as the JSON document's `events`, `files_read` and
/// `files_unreadable`.
fn summary_line(r: &Report) -> String {
    let files = if r.files_read == 1 { "file" } else { "files" };
    format!("{} events from {} {files} read, {} unreadable (skipped)", r.events, r.files_read, r.unreadable.len())
}

fn human(r: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let a = &r.alarm;
    writeln!(
        out,
        "baseline {}: alarm when {} {} {} over {} s for {} period(s)",
        r.baseline,
        a.statistic,
        op_symbol(a.comparison_operator.as_str()),
        a.threshold,
        a.period,
        a.evaluation_periods
    )?;
    let span = match (r.first_event, r.last_event) {
        (Some(f), Some(l)) => format!(", {} .. {}", short_time(f), short_time(l)),
        _ => String::new(),
    };
    writeln!(out, "{}{span}", summary_line(r))?;
    writeln!(out)?;

    let idw = r.controls.iter().map(|c| c.id.len()).max().unwrap_or(0).max("CONTROL".len());
    let days = r.controls.first().map(|c| c.daily.len()).unwrap_or(0);
    let spark_head =
        if days > SPARK_WIDTH { format!("PER {} DAYS", days.div_ceil(SPARK_WIDTH)) } else { "PER DAY".to_string() };
    writeln!(
        out,
        "{:<idw$}  {:>9}  {:>7}  {:>6}  {:<17}  {:<17}  {}",
        "CONTROL", "MATCHED", "ALARMS", "FIRED", "FIRST ALARM", "LAST ALARM", spark_head
    )?;
    for c in &r.controls {
        let daily: Vec<u64> = c.daily.iter().map(|d| d.1).collect();
        writeln!(
            out,
            "{:<idw$}  {:>9}  {:>7}  {:>6}  {:<17}  {:<17}  {}",
            c.id,
            c.matched,
            c.alarm.windows.len(),
            c.alarm.transitions,
            c.first_alarm().map(short_time).unwrap_or_else(|| "-".into()),
            c.last_alarm().map(short_time).unwrap_or_else(|| "-".into()),
            sparkline(&daily, SPARK_WIDTH),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "ALARMS: periods in ALARM; FIRED: times the alarm went into ALARM.")?;
    for c in r.controls.iter().filter(|c| c.matched > 0) {
        writeln!(out)?;
        writeln!(out, "{}  {}", c.id, c.title)?;
        if c.untimed > 0 {
            writeln!(out, "  {} match(es) without a readable eventTime (in no window)", c.untimed)?;
        }
        for (label, list) in
            [("principals", &c.top_principals), ("event names", &c.top_event_names), ("source IPs", &c.top_source_ips)]
        {
            let items: Vec<String> = list.iter().map(|x| format!("{} ({})", x.value, x.count)).collect();
            writeln!(out, "  {:<12} {}", label, items.join(", "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backtest")
    }

    fn args() -> BacktestArgs {
        BacktestArgs {
            baseline: crate::baseline::DEFAULT_BASELINE.into(),
            jobs: Some(2),
            top: 3,
            paths: vec![fixtures()],
            engine: Default::default(),
        }
    }

    #[test]
    fn human_table_lists_every_control() {
        let mut out = Vec::new();
        let exit = run(&args(), OutputFormat::Human, &mut out).unwrap();
        assert_eq!(exit, Exit::Success);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("CONTROL"), "{text}");
        for id in ["5.1", "5.8", "5.15"] {
            assert!(text.lines().any(|l| l.starts_with(&format!("{id} "))), "{text}");
        }
        assert!(text.contains(" files read, 2 unreadable (skipped)"), "{text}");
        assert!(text.chars().any(|c| ('▁'..='█').contains(&c)), "{text}");
    }

    #[test]
    fn json_carries_everything() {
        let mut out = Vec::new();
        run(&args(), OutputFormat::Json, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["baseline"], "cis-v7.0");
        assert_eq!(v["unreadable"].as_array().unwrap().len(), 2);
        assert_eq!(v["files_unreadable"], 2);
        assert_eq!(v["format_version"], FORMAT_VERSION);
        let c = &v["controls"][0];
        for k in [
            "matched",
            "alarm_windows",
            "first_alarm",
            "last_alarm",
            "windows",
            "daily",
            "top_principals",
            "top_event_names",
            "top_source_ips",
        ] {
            assert!(!c[k].is_null(), "{k} missing: {c}");
        }
        assert_eq!(v["controls"].as_array().unwrap().len(), 15);
    }

    /// The counts agree with `cwfix pattern test PATTERN FILES` (JSON output) on the readable
    /// fixture files, for every control of the default baseline.
    #[test]
    fn counts_agree_with_pattern_test() {
        use super::super::pattern_cmd::{self, PatternCmd};
        let mut files = Vec::new();
        backtest::walk::walk(&[fixtures()], &mut |p| {
            files.push(p);
            true
        })
        .unwrap();
        let good: Vec<PathBuf> = files.into_iter().filter(|f| crate::events::read_path(f).is_ok()).collect();
        assert!(good.len() >= 3);
        let mut out = Vec::new();
        run(&args(), OutputFormat::Json, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let b = crate::baseline::load(crate::baseline::DEFAULT_BASELINE).unwrap();
        for (c, got) in b.controls.iter().zip(v["controls"].as_array().unwrap()) {
            let mut pt = Vec::new();
            let cmd = PatternCmd::Test { pattern: c.pattern.source().to_string(), files: good.clone() };
            pattern_cmd::run(&cmd, OutputFormat::Json, &mut pt).unwrap();
            let pt: Value = serde_json::from_slice(&pt).unwrap();
            assert_eq!(got["id"], c.id.as_str());
            assert_eq!(got["matched"], pt["matches"], "control {}", c.id);
            assert_eq!(v["events"], pt["total"]);
        }
    }

    /// The text's counts line says what the JSON document says.
    #[test]
    fn text_and_json_counts_agree() {
        let (mut text, mut doc) = (Vec::new(), Vec::new());
        run(&args(), OutputFormat::Human, &mut text).unwrap();
        run(&args(), OutputFormat::Json, &mut doc).unwrap();
        let v: Value = serde_json::from_slice(&doc).unwrap();
        let line = format!(
            "{} events from {} files read, {} unreadable (skipped)",
            v["events"], v["files_read"], v["files_unreadable"]
        );
        assert!(String::from_utf8(text).unwrap().lines().nth(1).unwrap().starts_with(&line), "{line}");
    }

    #[test]
    fn args_parse() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            a: BacktestArgs,
        }
        let t = T::try_parse_from(["x", "-j", "3", "--baseline", "cis-v7.0", "a", "b"]).unwrap();
        assert_eq!(t.a.jobs, Some(3));
        assert_eq!(t.a.paths.len(), 2);
        assert!(T::try_parse_from(["x"]).is_err());
        assert!(T::try_parse_from(["x", "-j", "0", "a"]).is_err());
    }
}
