//! `cwfix runs [show RUN_ID | unlock RUN_ID]`: the runs in the state (a directory or S3), one
//! run's journal, and removing the lock a dead run left in S3.

use super::error::WithHint;
use super::run_view::{self, StateArgs};
use super::{Exit, OutputFormat};
use crate::aws::live::ConnectOptions;
use crate::journal::{self, AnyStore, RunKind, Store};
use std::io::Write;

#[derive(Debug, Clone, clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub cmd: Option<RunsCmd>,
    #[command(flatten)]
    pub state: StateArgs,
    /// AWS profile to reach a state in S3 with.
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RunsCmd {
    /// Show one run's journal.
    Show { run_id: String },
    /// Remove the lock a dead run left in a state in S3 (refuses without --yes).
    ///
    /// For a run whose process died (killed, or its machine gone) while it held the lock of a
    /// state in S3. Refuses without --yes, and refuses a lock that names another run. A local
    /// state directory never needs this: the OS releases its lock with the process.
    Unlock {
        /// The run the lock names (the "holds the lock" error shows it).
        run_id: String,
        /// Remove it: you have made sure that run is not running any more.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

pub fn run(args: &RunsArgs, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    super::runtime()?.block_on(run_async(args, format, out))
}

async fn run_async(args: &RunsArgs, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let conn = ConnectOptions { profile: args.profile.clone(), ..ConnectOptions::default() };
    let state = args.state.open(&conn).await?;
    let location = state.location();
    let err = |e| run_view::state_error(e, &location);
    match &args.cmd {
        Some(RunsCmd::Unlock { run_id, yes }) => return unlock(&state, run_id, *yes, out).await,
        None => {
            let listing = state.list().await.map_err(err)?;
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
                writeln!(out, "No runs in {location}.")?;
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
            let r = state.load(run_id).await.map_err(err)?;
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

/// `runs unlock RUN_ID [--yes]`.
async fn unlock(state: &AnyStore, run_id: &str, yes: bool, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let location = state.location();
    let err = |e| run_view::state_error(e, &location);
    let Some(holder) = state.lock_holder().await.map_err(err)? else {
        writeln!(out, "No lock in {location}.")?;
        return Ok(Exit::Success);
    };
    if let AnyStore::Local(_) = state {
        return Err(anyhow::anyhow!("the lock of `{location}` is held by a running process ({holder})")
            .hint("a local lock goes away when its process ends: wait for it, or stop that process"));
    }
    if let Some(holder_run) = journal::holder_run(&holder).filter(|r| *r != run_id) {
        let e = journal::Error::OtherHolder {
            path: format!("{location}/lock"),
            holder: holder.clone(),
            holder_run: holder_run.to_string(),
            run_id: run_id.to_string(),
        };
        return Err(err(e));
    }
    if !yes {
        return Err(anyhow::anyhow!("refusing to remove the lock of `{location}` without --yes ({holder})").hint(
            format!("make sure run {run_id} is not running any more (a second run would then interleave with it), then: cwfix runs unlock {run_id} --yes --state-dir {location}"),
        ));
    }
    match state.unlock(run_id).await.map_err(err)? {
        Some(holder) => writeln!(out, "Removed the lock of {location} ({holder}).")?,
        None => writeln!(out, "No lock in {location}.")?,
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
