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
    /// Print the events a pattern matches (one compact JSON per line).
    ///
    /// Input: a JSON object, a JSON array, a CloudTrail `{"Records":[...]}` file or JSON Lines,
    /// optionally gzip-compressed. No FILE, or `-`, reads stdin.
    Test {
        /// The filter pattern.
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        /// Event files (`-` = stdin).
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
    let values = events::read_paths(files)?;
    let total = values.len();
    let mut matched = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let ev = Event::from_value(v);
        if pat.matches(&ev) {
            if format == OutputFormat::Human {
                // The event text is the compact serialisation the term patterns saw.
                writeln!(out, "{}", ev.text())?;
            }
            matched.push(i);
        }
    }
    match format {
        OutputFormat::Json => write_json(
            out,
            &json!({"pattern": pat.canonical(), "total": total, "matches": matched.len(), "matched": matched}),
        )?,
        _ => {
            // The summary is not product output: stderr, so `> matches.jsonl` stays clean.
            let _ = writeln!(std::io::stderr(), "{} of {} events matched", matched.len(), total);
        }
    }
    Ok(Exit::Success)
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
