//! `cwfix pattern check|test|diff`: thin commands over `crate::pattern` and `crate::events`.
//!
//! Owns argument shapes and output layout only (human text or one JSON document on stdout;
//! the `test` summary on stderr). Parse errors are returned as-is so the edge prints their
//! caret display after `error: `.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{json, Value};

use super::{Exit, OutputFormat};
use crate::events;
use crate::pattern::{self, Coverage, Event, Relation};

#[derive(Debug, clap::Subcommand)]
pub enum PatternCmd {
    /// Parse a pattern and print its canonical form.
    Check {
        /// The filter pattern (quote it for the shell).
        #[arg(allow_hyphen_values = true)]
        pattern: String,
    },
    /// Print the events a pattern matches, one per line, as written in the input.
    ///
    /// Input: CloudTrail files (`{"Records":[...]}`), JSON objects, arrays or JSON Lines, or
    /// plain-text logs (one event per line, like `aws logs test-metric-filter`), optionally
    /// gzip-compressed. A file that is not JSON records throughout is read line by line.
    /// Directories are walked recursively (*.json, *.jsonl, *.ndjson, *.log, *.txt, *.gz).
    /// No FILE, or `-`, reads stdin.
    Test {
        /// The filter pattern.
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        /// Event files or directories (`-` = stdin).
        files: Vec<PathBuf>,
    },
    /// Compare two patterns: equivalent, one covers the other, neither, or unknown.
    Diff {
        /// Pattern A.
        #[arg(allow_hyphen_values = true)]
        a: String,
        /// Pattern B.
        #[arg(allow_hyphen_values = true)]
        b: String,
    },
}

pub fn run(cmd: &PatternCmd, format: OutputFormat, out: &mut dyn std::io::Write) -> anyhow::Result<Exit> {
    match cmd {
        PatternCmd::Check { pattern } => check(pattern, format, out),
        PatternCmd::Test { pattern, files } => test(pattern, files, format, out),
        PatternCmd::Diff { a, b } => diff(a, b, format, out),
    }
}

fn write_json(out: &mut dyn Write, v: &Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

fn check(src: &str, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let pat = pattern::parse(src)?;
    match format {
        OutputFormat::Json => {
            write_json(out, &json!({"pattern": src, "canonical": pat.canonical(), "kind": pat.kind().as_str()}))?
        }
        _ => writeln!(out, "{pat}")?,
    }
    Ok(Exit::Success)
}

fn test(src: &str, files: &[PathBuf], format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let pat = pattern::parse(src)?;
    let stdin = [PathBuf::from("-")];
    // A missing path or a directory without log files is an error before any output: a typo
    // must never read as "nothing matched".
    let walked = events::walk(if files.is_empty() { &stdin } else { files }).map_err(one_line)?;
    // One input: its error is the error. Several: warn, test the others, and fail at the end
    // (ripgrep's habit), so one corrupt file in a month of CloudTrail does not hide the rest.
    let single = walked.files.len() == 1 && walked.errors.is_empty();
    // (path, the error on one line)
    let mut unreadable: Vec<(String, String)> = Vec::new();
    let mut skip = |e: &events::EventsError| {
        let why = one_line_text(e);
        warn(&format!("skipped: {why}"));
        unreadable.push((e.path().to_string(), why));
    };
    walked.errors.iter().for_each(&mut skip);
    let (mut total, mut read) = (0usize, 0usize);
    let mut matched = Vec::new();
    for path in &walked.files {
        let file = match events::read_log_file(path) {
            Ok(f) => f,
            Err(e) if single => return Err(one_line(e)),
            Err(e) => {
                skip(&e);
                continue;
            }
        };
        read += 1;
        if let Some((line, why)) = file.malformed.first() {
            let more = match file.malformed.len() {
                1 => String::new(),
                n => format!(" (and {} more such lines)", n - 1),
            };
            warn(&format!(
                "`{}` line {line} looks like JSON but is not ({why}); read as plain text{more}",
                path.display()
            ));
        }
        for ev in &file.events {
            if pat.matches(ev) {
                if format == OutputFormat::Human {
                    writeln!(out, "{}", shown(ev))?;
                }
                matched.push(total);
            }
            total += 1;
        }
    }
    if read == 0 {
        anyhow::bail!("none of the {} inputs could be read", unreadable.len());
    }
    match format {
        OutputFormat::Json => write_json(
            out,
            &json!({
                "pattern": pat.canonical(),
                "total": total,
                "matches": matched.len(),
                "matched": matched,
                "files": read,
                "unreadable": unreadable.iter().map(|(path, why)| json!({"path": path, "error": why})).collect::<Vec<_>>(),
            }),
        )?,
        _ => {
            // The summary is not product output: stderr, so `> matches.jsonl` stays clean.
            let files = if read == 1 { "1 file".to_string() } else { format!("{read} files") };
            let skipped =
                if unreadable.is_empty() { String::new() } else { format!(", {} unreadable", unreadable.len()) };
            let _ = writeln!(std::io::stderr(), "{} of {} events matched ({files}{skipped})", matched.len(), total);
        }
    }
    // Unreadable inputs make the run fail even though the readable ones were tested.
    Ok(if unreadable.is_empty() { Exit::Success } else { Exit::Failure })
}

/// The text printed for a matched event: as it was written, unless it spans several lines
/// (a pretty-printed JSON file), which is printed compactly to keep one event per line.
fn shown(ev: &Event) -> std::borrow::Cow<'_, str> {
    match ev.value() {
        Some(doc) if ev.text().contains('\n') => serde_json::to_string(doc).unwrap_or_default().into(),
        _ => ev.text().into(),
    }
}

fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {msg}");
}

/// An error and its causes on one line (`cannot decompress `x.gz`: invalid gzip header`).
fn one_line_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

fn one_line(e: events::EventsError) -> anyhow::Error {
    anyhow::anyhow!(one_line_text(&e))
}

fn coverage_json(c: &Coverage) -> Value {
    json!({"result": c.label(), "reason": c.reason(), "witness": c.witness()})
}

fn diff(a_src: &str, b_src: &str, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let a = pattern::parse(a_src).context("pattern A is invalid")?;
    let b = pattern::parse(b_src).context("pattern B is invalid")?;
    let eq = pattern::equivalent(&a, &b);
    let relation = eq.relation();
    if format == OutputFormat::Json {
        write_json(
            out,
            &json!({
                "a": a.canonical(),
                "b": b.canonical(),
                "relation": relation.label(),
                "a_covers_b": coverage_json(&eq.a_covers_b),
                "b_covers_a": coverage_json(&eq.b_covers_a),
            }),
        )?;
        return Ok(Exit::Success);
    }
    match relation {
        Relation::Equivalent => writeln!(out, "equivalent")?,
        Relation::ACoversB => writeln!(out, "A covers B")?,
        Relation::BCoversA => writeln!(out, "B covers A")?,
        Relation::Neither => writeln!(out, "neither")?,
        Relation::Unknown => {
            let reason = [&eq.a_covers_b, &eq.b_covers_a]
                .iter()
                .find_map(|c| match c {
                    Coverage::Unknown { reason } => Some(reason.as_str()),
                    _ => None,
                })
                .unwrap_or("not decided");
            writeln!(out, "unknown: {reason}")?;
        }
    }
    write_witness(out, "A", "B", &eq.b_covers_a)?;
    write_witness(out, "B", "A", &eq.a_covers_b)?;
    Ok(Exit::Success)
}

/// `c` is "does `other` cover `this`"; a witness is an event `this` matches and `other` does not.
fn write_witness(out: &mut dyn Write, this: &str, other: &str, c: &Coverage) -> anyhow::Result<()> {
    if let Some(w) = c.witness() {
        writeln!(out, "matched by {this} only: {}", serde_json::to_string(w)?)?;
    } else if let Coverage::NotCovered { reason, .. } = c {
        writeln!(out, "{other} does not cover {this}: {reason}")?;
    }
    Ok(())
}
