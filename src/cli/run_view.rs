//! What the writing commands share: the state directory flag, the confirmation prompt, and
//! running steps under the lock with a fresh journal while printing progress.

use super::error::WithHint;
use super::{Exit, OutputFormat, Term};
use crate::apply::{self, Event, Step};
use crate::aws::live::Live;
use crate::journal::{self, Header, Lock, RunKind, StateDir};
use anyhow::bail;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Where run journals and the lock live.
    #[arg(long, value_name = "DIR", default_value = ".cwfix", env = "CWFIX_STATE_DIR")]
    pub state_dir: PathBuf,
}

/// Asks for exactly `yes`; refuses when stdin is not a terminal.
pub fn confirm(t: &Term, what: &str) -> anyhow::Result<bool> {
    if t.json {
        bail!("refusing to {what} without confirmation: --output json never prompts (pass --yes)");
    }
    if !t.stdin_is_tty {
        bail!("refusing to {what} without confirmation: standard input is not a terminal (pass --yes to confirm non-interactively)");
    }
    eprintln!();
    eprintln!("Do you want to {what}? Only 'yes' will be accepted.");
    let answer: String = dialoguer::Input::new().with_prompt("Enter a value").allow_empty(true).interact_text()?;
    Ok(answer.trim() == "yes")
}

pub fn json_line(out: &mut dyn Write, v: serde_json::Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)?;
    out.flush()
}

fn step_line(step: &Step) -> String {
    format!("{} ({})", step.address, step.op.verb())
}

/// A run about to write: where, under which lock, with which header and plan document.
pub struct Run<'a> {
    pub state: &'a StateDir,
    pub lock: Lock,
    pub header: Header,
    pub plan_doc: serde_json::Value,
}

/// Runs steps with a fresh journal, printing progress; returns the exit code.
pub async fn run_steps(
    api: &Live,
    run: Run<'_>,
    steps: &[Step],
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let run_id = run.header.run_id.clone();
    let kind = run.header.kind;
    let mut journal = run.state.create_run(&run.header, &run.plan_doc)?;
    let rollback_cmd = format!("cwfix rollback {run_id} --state-dir {}", run.state.root().display());
    if format == OutputFormat::Json {
        json_line(
            out,
            serde_json::json!({"type": "run_start", "run_id": run_id, "kind": kind, "changes": steps.len()}),
        )?;
    } else {
        writeln!(out)?;
        writeln!(out, "Run {run_id}: journal in {}", run.state.root().join("runs").join(&run_id).display())?;
    }
    let mut io_err: Option<std::io::Error> = None;
    let mut observe = |e: Event<'_>| {
        if let Err(e) = progress_line(out, format, t, &run_id, e) {
            io_err.get_or_insert(e);
        }
    };
    let report = apply::execute(api, steps, &mut journal, &mut observe).await;
    drop(run.lock);
    let report = match report {
        Ok(r) => r,
        Err(e @ apply::Error::Journal { .. }) => {
            return Err(anyhow::Error::new(e)
                .context(format!("run {run_id} stopped"))
                .hint(format!("free space or fix the state directory, then undo what was made: {rollback_cmd}")));
        }
        Err(e) => return Err(e.into()),
    };
    super::plan_cmd::report_calls(api, t, if kind == RunKind::Rollback { "rollback" } else { "apply" });
    if let Some(e) = io_err {
        // The AWS work is done and journaled; a closed stdout must not hide that.
        tracing::warn!("could not print progress: {e}");
    }
    summary(out, format, t, &run_id, kind, &report)?;
    if kind == RunKind::Apply {
        if !report.ok() {
            eprintln!("error: the apply stopped part way; what was made is journaled");
            eprintln!("hint: to undo it: {rollback_cmd}");
        } else if !t.quiet {
            eprintln!("To undo this run: {rollback_cmd}");
        }
    }
    Ok(if report.ok() { Exit::Success } else { Exit::Failure })
}

fn progress_line(
    out: &mut dyn Write,
    format: OutputFormat,
    t: &Term,
    run_id: &str,
    e: Event<'_>,
) -> std::io::Result<()> {
    match (format, e) {
        (OutputFormat::Json, Event::Start { seq, step }) => json_line(
            out,
            serde_json::json!({"type": "change_start", "run_id": run_id, "seq": seq, "address": step.address, "op": step.op.verb(), "region": step.region}),
        ),
        (OutputFormat::Json, Event::Done { seq, step, result }) => json_line(
            out,
            serde_json::json!({"type": "change_done", "run_id": run_id, "seq": seq, "address": step.address, "op": step.op.verb(), "result": result}),
        ),
        (OutputFormat::Json, Event::Failed { seq, step, error }) => json_line(
            out,
            serde_json::json!({"type": "change_failed", "run_id": run_id, "seq": seq, "address": step.address, "op": step.op.verb(), "error": error.to_string()}),
        ),
        (OutputFormat::Json, Event::Conflict { step, found }) => json_line(
            out,
            serde_json::json!({"type": "change_conflict", "run_id": run_id, "address": step.address, "expected": step.before, "found": found}),
        ),
        (_, Event::Start { .. }) => Ok(()),
        (_, Event::Done { step, .. }) => writeln!(out, "  {} {}", t.style.green("done"), step_line(step)),
        (_, Event::Failed { step, error, .. }) => {
            writeln!(out, "  {} {}: {error}", t.style.red("FAILED"), step_line(step))
        }
        (_, Event::Conflict { step, .. }) => writeln!(
            out,
            "  {} {}: changed since the plan was made; left as it is, nothing written",
            t.style.red("STOPPED"),
            step_line(step)
        ),
    }
}

fn summary(
    out: &mut dyn Write,
    format: OutputFormat,
    t: &Term,
    run_id: &str,
    kind: RunKind,
    report: &apply::Report,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return json_line(
            out,
            serde_json::json!({"type": "summary", "run_id": run_id, "applied": report.applied, "failed": report.failed,
                "not_attempted": report.not_attempted, "conflict": report.conflict}),
        );
    }
    writeln!(out)?;
    let noun = if kind == RunKind::Rollback { "Rollback" } else { "Apply" };
    if report.ok() {
        return writeln!(
            out,
            "{} {noun} complete! {} change(s) made. Run id: {run_id}",
            t.style.green("✓"),
            report.applied
        );
    }
    if let Some(why) = &report.conflict {
        writeln!(out, "{} {noun} stopped: {why}.", t.style.red("✗"))?;
        return writeln!(
            out,
            "  {} change(s) made before it, {} not attempted. Plan again to see the account as it is now. Run id: {run_id}",
            report.applied, report.not_attempted
        );
    }
    writeln!(
        out,
        "{} {noun} failed: {} change(s) made, {} failed, {} not attempted. Run id: {run_id}",
        t.style.red("✗"),
        report.applied,
        report.failed,
        report.not_attempted
    )
}

/// A journal header for a new run.
pub fn header(
    run_id: String,
    kind: RunKind,
    rolls_back: Option<String>,
    account: &str,
    regions: &[String],
    baseline: (&str, &str),
) -> Header {
    Header {
        run_id,
        kind,
        rolls_back,
        account: account.to_string(),
        regions: regions.to_vec(),
        baseline: baseline.0.to_string(),
        baseline_hash: baseline.1.to_string(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        started_at: journal::now(),
    }
}
