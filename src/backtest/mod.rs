//! `cwfix backtest`: replay CloudTrail archives against a baseline's controls and tell what
//! each metric filter would have counted and when its alarm would have fired.
//!
//! Owns the backtest from input paths to a [`Report`]; no output formatting and no AWS calls.
//! One job per module:
//! - [`source`]: the reusable streaming source (walk, decompress, split into records, a bounded
//!   pool of workers); public, so that other consumers (`hunt`) can drive it. Built on
//!   [`walk`] (which files), `decode` (gzip, whole-buffer inflate) and `split` (records).
//! - `fields`, `groups` and `evaluate`: a record's reduced document, patterns grouped by the
//!   paths they read with exact result caches, and the evaluation of every control (the
//!   backtest's [`source::Sink`]).
//! - `aggregate`: per-batch and per-worker counters, merged at the end.
//! - `alarm`: the alarm model ([`simulate`]).
//! - `report`: the [`Report`] and the time/sparkline helpers the renderers share.
//!
//! Parity: on the files it reads, the matches per control equal what `cwfix pattern test PATTERN
//! FILE` counts for JSON patterns (same `Event` semantics, same evaluator). Term patterns see a
//! JSON record's original bytes here; text lines (input that is not JSON) are one event each.

mod aggregate;
mod alarm;
mod decode;
mod evaluate;
mod fields;
mod groups;
mod report;
pub mod source;
mod split;
pub mod walk;

use std::path::PathBuf;

pub use aggregate::{Count, TOP_CAP};
pub use alarm::{simulate, AlarmSim, AlarmWindow};
pub use report::{format_day, format_time, parse_time, sparkline, ControlReport, Report};
pub use source::{Progress, Unreadable};

use crate::baseline::{AlarmSettings, Baseline};
use crate::pattern::Pattern;

/// Why the run as a whole could not happen (unreadable *files* are not errors: see [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Walk(#[from] walk::WalkError),
    #[error("the baseline's alarm period must be positive (got {0})")]
    BadPeriod(i32),
    /// Nothing to evaluate: no input files, or none that holds a record.
    #[error("{}", no_events(inputs, *files_read, unreadable))]
    NoEvents { inputs: String, files_read: u64, unreadable: Vec<Unreadable> },
}

fn no_events(inputs: &str, files_read: u64, unreadable: &[Unreadable]) -> String {
    if files_read == 0 && unreadable.is_empty() {
        return format!(
            "no input files in {inputs}: in directories, backtest reads *.json, *.jsonl, *.ndjson, *.log and \
             *.gz files (a local copy of s3://BUCKET/AWSLogs/ works as is)"
        );
    }
    let bad = match unreadable.len() {
        0 => String::new(),
        1 => format!(", 1 unreadable (`{}`: {})", unreadable[0].path, unreadable[0].error),
        n => format!(", {n} unreadable (listed above)"),
    };
    format!("no events in {inputs}: {files_read} file(s) read{bad}, and no record found; nothing to backtest")
}

/// One control to evaluate.
#[derive(Debug, Clone)]
pub struct ControlSpec {
    pub id: String,
    pub title: String,
    pub pattern: Pattern,
}

/// What to evaluate: controls and the alarm every control's alarm has.
#[derive(Debug, Clone)]
pub struct Spec {
    pub baseline: String,
    pub controls: Vec<ControlSpec>,
    pub alarm: AlarmSettings,
}

impl Spec {
    pub fn from_baseline(b: &Baseline) -> Spec {
        Spec {
            baseline: b.name.clone(),
            controls: b
                .controls
                .iter()
                .map(|c| ControlSpec { id: c.id.clone(), title: c.title.clone(), pattern: c.pattern.clone() })
                .collect(),
            alarm: b.alarm.clone(),
        }
    }
}

/// Run options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Entries kept in each top-k list of the report.
    pub top: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { jobs: default_jobs(), top: 5 }
    }
}

/// `available_parallelism`, or 1.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Run the backtest over `paths` (no paths: stdin), counting into `progress` as it goes.
pub fn run(spec: &Spec, paths: &[PathBuf], opts: &Options, progress: &Progress) -> Result<Report, Error> {
    if spec.alarm.period <= 0 {
        return Err(Error::BadPeriod(spec.alarm.period));
    }
    let period = i64::from(spec.alarm.period);
    let stdin = [PathBuf::from("-")];
    let paths: &[PathBuf] = if paths.is_empty() { &stdin } else { paths };
    let jobs = opts.jobs.max(1);
    let n = spec.controls.len();
    let sink = evaluate::BacktestSink { eval: evaluate::Evaluator::new(spec), period, controls: n };
    let out = source::scan(paths, jobs, &sink, progress)?;
    if out.records == 0 {
        let inputs: Vec<String> = paths.iter().map(|p| format!("`{}`", walk::display(p))).collect();
        return Err(Error::NoEvents {
            inputs: inputs.join(", "),
            files_read: out.files_read,
            unreadable: out.unreadable,
        });
    }
    let mut total = aggregate::Totals::new(n);
    for t in out.totals {
        total.merge(t);
    }
    let counts = report::Counts {
        files_read: out.files_read,
        unreadable: out.unreadable,
        events: out.records,
        bytes: out.bytes,
    };
    Ok(report::build(spec, total, counts, jobs, opts.top))
}

#[cfg(test)]
mod tests;
