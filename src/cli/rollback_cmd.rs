//! `cwfix rollback RUN_ID`: invert one run's journal against the live state, show it like a
//! plan, confirm, and run it as a run of its own (so it can be undone too).

use super::run_view::{self, Run, StateArgs};
use super::{AwsArgs, Exit, OutputFormat, Term};
use crate::aws::live::{self, ConnectOptions, Live};
use crate::journal::{self, AnyStore, RunKind, RunLog, Store};
use crate::{apply, render, rollback};
use anyhow::Context;
use std::io::Write;

#[derive(Debug, Clone, clap::Args)]
pub struct RollbackArgs {
    /// The run to undo (`cwfix runs` lists them).
    pub run_id: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also undo what was changed by someone else since the run, and delete what the run may
    /// have created but its journal cannot prove (it died before AWS answered).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(args: &RollbackArgs, format: OutputFormat, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let state = args.state.open(&run_view::state_connect(&args.aws)).await?;
    let log = state.load(&args.run_id).await.map_err(|e| run_view::state_error(e, &state.location()))?;
    let run_id = journal::new_run_id();
    let lock = run_view::take_lock(&state, &run_id).await?;
    let done = rollback_locked(args, &state, &log, run_id, format, t, out).await;
    run_view::release(&state, lock, done).await
}

async fn rollback_locked(
    args: &RollbackArgs,
    state: &AnyStore,
    log: &RunLog,
    run_id: String,
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let region = args.aws.regions.first().cloned().or_else(|| log.header.regions.first().cloned());
    let conf = live::sdk_config(&ConnectOptions {
        profile: args.aws.profile.clone(),
        region,
        max_attempts: args.aws.max_attempts,
        operation_timeout: None,
        assume_role: super::org_plan::role_for(&args.aws, &log.header.account).await?,
    })
    .await;
    let api = Live::new(&conf);
    let rp = rollback::plan_rollback(&api, log, args.force)
        .await
        .with_context(|| format!("cannot roll back run `{}`", args.run_id))?;
    if log.torn_tail {
        eprintln!("warning: the journal's last line was cut off (the run died mid-write); it was ignored");
    }
    if format == OutputFormat::Human {
        show(log, &rp, out, t)?;
    }
    if rp.changes.is_empty() {
        if format == OutputFormat::Json {
            run_view::json_line(
                out,
                serde_json::json!({"type": "summary", "run_id": null, "applied": 0, "failed": 0, "not_attempted": 0, "skipped": rp.skipped.len()}),
            )?;
        } else {
            writeln!(out)?;
            writeln!(out, "Nothing to roll back.")?;
        }
        return Ok(if rp.skipped.is_empty() { Exit::Success } else { Exit::Failure });
    }
    out.flush()?;
    if !args.yes && !run_view::confirm(t, "roll back these changes")? {
        eprintln!("Rollback cancelled.");
        return Ok(Exit::Failure);
    }
    let steps = apply::steps(&rp.changes)?;
    let h = &log.header;
    let header = run_view::header(
        run_id,
        RunKind::Rollback,
        Some(h.run_id.clone()),
        &h.account,
        &h.regions,
        (&h.baseline, &h.baseline_hash),
    );
    let doc = serde_json::json!({"rolls_back": h.run_id, "changes": rp.changes, "skipped": rp.skipped});
    let exit = run_view::run_steps(&api, Run { state, header, plan_doc: doc }, &steps, format, t, out).await?;
    Ok(if rp.skipped.is_empty() { exit } else { Exit::Failure })
}

fn show(log: &RunLog, rp: &rollback::RollbackPlan, out: &mut dyn Write, t: &Term) -> std::io::Result<()> {
    writeln!(
        out,
        "Rollback of run {} ({}, account {}, {} intent(s), {})",
        log.header.run_id,
        log.header.started_at,
        log.header.account,
        log.intents(),
        log.status().as_str()
    )?;
    for (a, why) in &rp.unchanged {
        writeln!(out, "  {} {a}: {why}", t.style.dim("="))?;
    }
    for (a, why) in &rp.skipped {
        writeln!(out, "  {} {a}: skipped: {why}", t.style.yellow("!"))?;
    }
    if !rp.changes.is_empty() {
        writeln!(out)?;
        render::human::changes(&rp.changes, "Rollback", out, &t.style)?;
        if !rp.skipped.is_empty() {
            writeln!(out, "{} skipped (see above).", rp.skipped.len())?;
        }
    }
    Ok(())
}
