//! `cwfix runs [show RUN_ID]`: the runs in the state directory, and one run's journal.

use super::run_view::StateArgs;
use super::{Exit, OutputFormat};
use crate::journal::{self, RunKind, StateDir};
use std::io::Write;

#[derive(Debug, Clone, clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub cmd: Option<RunsCmd>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RunsCmd {
    /// Show one run's journal.
    Show { run_id: String },
}

pub fn run(args: &RunsArgs, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let state = StateDir::new(&args.state.state_dir);
    match &args.cmd {
        None => {
            let listing = state.list()?;
            let runs = &listing.runs;
            if format == OutputFormat::Json {
                let mut doc: Vec<_> = runs
                    .iter()
                    .map(|r| serde_json::json!({"run_id": r.header.run_id, "started_at": r.header.started_at, "account": r.header.account,
                        "kind": r.header.kind, "rolls_back": r.header.rolls_back, "changes": r.intents(), "status": r.status()}))
                    .collect();
                doc.extend(
                    listing
                        .unreadable
                        .iter()
                        .map(|(id, why)| serde_json::json!({"run_id": id, "status": "unreadable", "error": why})),
                );
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else if runs.is_empty() && listing.unreadable.is_empty() {
                writeln!(out, "No runs in {}.", state.root().display())?;
            } else {
                table(runs, out)?;
                for (id, why) in &listing.unreadable {
                    writeln!(out, "{id:<22}  unreadable: {why}")?;
                }
            }
            if !listing.unreadable.is_empty() {
                eprintln!(
                    "warning: {} run(s) could not be read (listed as unreadable); the others are listed",
                    listing.unreadable.len()
                );
            }
        }
        Some(RunsCmd::Show { run_id }) => {
            let r = state.load(run_id)?;
            if format == OutputFormat::Json {
                serde_json::to_writer_pretty(
                    &mut *out,
                    &serde_json::json!({"header": r.header, "status": r.status(), "torn_tail": r.torn_tail, "records": r.records}),
                )?;
                writeln!(out)?;
            } else {
                let h = &r.header;
                writeln!(out, "Run {} ({:?}), {}", h.run_id, h.kind, r.status().as_str())?;
                writeln!(out, "  started  {}", h.started_at)?;
                writeln!(out, "  account  {}  regions {}", h.account, h.regions.join(", "))?;
                writeln!(out, "  baseline {} ({})  cwfix {}", h.baseline, h.baseline_hash, h.cwfix_version)?;
                if let Some(of) = &h.rolls_back {
                    writeln!(out, "  rolls back {of}")?;
                }
                for rec in &r.records {
                    match rec {
                        journal::Record::Intent { seq, address, op, before, .. } => {
                            let verb = op.get("op").and_then(|v| v.as_str()).unwrap_or("?");
                            writeln!(
                                out,
                                "  #{seq} intent  {verb} {address} (before: {})",
                                if before.is_some() { "recorded" } else { "absent" }
                            )?
                        }
                        journal::Record::Done { seq, .. } => writeln!(out, "  #{seq} done")?,
                        journal::Record::Failed { seq, error, .. } => writeln!(out, "  #{seq} FAILED  {error}")?,
                        journal::Record::Stopped { address, reason, .. } => {
                            writeln!(out, "  STOPPED {address}: {reason}")?
                        }
                        journal::Record::End { status, applied, failed, at } => {
                            writeln!(out, "  end {status}: {applied} applied, {failed} failed at {at}")?
                        }
                        journal::Record::Header(_) => {}
                    }
                }
                if r.torn_tail {
                    writeln!(out, "  (the last line was cut off: the run died mid-write)")?;
                }
            }
        }
    }
    Ok(Exit::Success)
}

fn table(runs: &[journal::RunLog], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{:<22}  {:<24}  {:<12}  {:>7}  {:<10}  KIND", "RUN", "STARTED", "ACCOUNT", "CHANGES", "STATUS")?;
    for r in runs {
        let kind = match (&r.header.kind, &r.header.rolls_back) {
            (RunKind::Rollback, Some(of)) => format!("rollback of {of}"),
            (RunKind::Rollback, None) => "rollback".into(),
            (RunKind::Apply, _) => "apply".into(),
        };
        writeln!(
            out,
            "{:<22}  {:<24}  {:<12}  {:>7}  {:<10}  {kind}",
            r.header.run_id,
            r.header.started_at,
            r.header.account,
            r.intents(),
            r.status().as_str()
        )?;
    }
    Ok(())
}
