//! `cwfix apply`, `cwfix rollback` and `cwfix runs`: the commands that write, and the journal
//! listing. Prompts live here (never in the library).

use super::plan_cmd::{discover_and_plan, load_baseline};
use super::{AwsArgs, BaselineArgs, Exit, OutputFormat, Term};
use crate::apply::{self, Event, Step};
use crate::aws::live::{self, ConnectOptions, Live};
use crate::journal::{self, Header, RunKind, StateDir};
use crate::{plan, render, rollback};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Where run journals and the lock live.
    #[arg(long, value_name = "DIR", default_value = ".cwfix", env = "CWFIX_STATE_DIR")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `cwfix plan --out FILE`; refused if the account or baseline changed since.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

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
    /// Also restore resources that were changed by someone else since the run.
    #[arg(long)]
    pub force: bool,
}

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

/// Asks for exactly `yes`; refuses when stdin is not a terminal.
fn confirm(t: &Term, what: &str) -> anyhow::Result<bool> {
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

fn json_line(out: &mut dyn Write, v: serde_json::Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)?;
    out.flush()
}

fn step_line(step: &Step) -> String {
    format!("{} ({})", step.address, step.op.verb())
}

/// Runs steps under the lock with a fresh journal, printing progress; returns the exit code.
#[allow(clippy::too_many_arguments)]
async fn run_steps(
    api: &Live,
    state: &StateDir,
    header: Header,
    plan_doc: serde_json::Value,
    steps: &[Step],
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let _lock = state.lock(&header.run_id)?;
    let run_id = header.run_id.clone();
    let kind = header.kind;
    let mut journal = state.create_run(&header, &plan_doc)?;
    if format == OutputFormat::Json {
        json_line(
            out,
            serde_json::json!({"type": "run_start", "run_id": run_id, "kind": kind, "changes": steps.len()}),
        )?;
    } else {
        writeln!(out)?;
        writeln!(out, "Run {run_id}: journal in {}", state.root().join("runs").join(&run_id).display())?;
    }
    let mut io_err: Option<std::io::Error> = None;
    let mut observe = |e: Event<'_>| {
        let r = match (format, e) {
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
            (_, Event::Start { .. }) => Ok(()),
            (_, Event::Done { step, .. }) => writeln!(out, "  {} {}", t.style.green("done"), step_line(step)),
            (_, Event::Failed { step, error, .. }) => {
                writeln!(out, "  {} {}: {error}", t.style.red("FAILED"), step_line(step))
            }
        };
        if let Err(e) = r {
            io_err.get_or_insert(e);
        }
    };
    let report = apply::execute(api, steps, &mut journal, &mut observe).await?;
    super::plan_cmd::report_calls(api, t, if kind == RunKind::Rollback { "rollback" } else { "apply" });
    if let Some(e) = io_err {
        // The AWS work is done and journaled; a closed stdout must not hide that.
        tracing::warn!("could not print progress: {e}");
    }
    if format == OutputFormat::Json {
        json_line(
            out,
            serde_json::json!({"type": "summary", "run_id": run_id, "applied": report.applied, "failed": report.failed, "not_attempted": report.not_attempted}),
        )?;
    } else {
        writeln!(out)?;
        let noun = if kind == RunKind::Rollback { "Rollback" } else { "Apply" };
        if report.failed == 0 {
            writeln!(
                out,
                "{} {noun} complete! {} change(s) made. Run id: {run_id}",
                t.style.green("✓"),
                report.applied
            )?;
        } else {
            writeln!(
                out,
                "{} {noun} failed: {} change(s) made, {} failed, {} not attempted. Run id: {run_id}",
                t.style.red("✗"),
                report.applied,
                report.failed,
                report.not_attempted
            )?;
        }
    }
    if kind == RunKind::Apply {
        let cmd = format!("cwfix rollback {run_id} --state-dir {}", state.root().display());
        if report.failed > 0 {
            eprintln!("error: the apply stopped part way; what was made is journaled");
            eprintln!("hint: to undo it: {cmd}");
        } else if !t.quiet {
            eprintln!("To undo this run: {cmd}");
        }
    }
    Ok(if report.failed == 0 { Exit::Success } else { Exit::Failure })
}

pub async fn apply(args: &ApplyArgs, format: OutputFormat, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let saved: Option<plan::Plan> = match &args.plan_file {
        None => None,
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("cannot read saved plan `{}`", p.display()))?;
            let plan: plan::Plan = serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not a plan saved by `cwfix plan --out`", p.display()))?;
            if plan.format_version.split('.').next() != plan::FORMAT_VERSION.split('.').next() {
                bail!(
                    "saved plan `{}` has format {}, this cwfix reads {}",
                    p.display(),
                    plan.format_version,
                    plan::FORMAT_VERSION
                );
            }
            Some(plan)
        }
    };
    // A saved plan carries its baseline (and the notification overrides given with it).
    let mut bargs = args.baseline.clone();
    let mut aws = args.aws.clone();
    if let Some(s) = &saved {
        bargs.baseline = s.baseline.origin.strip_prefix("shipped:").unwrap_or(&s.baseline.origin).to_string();
        bargs.topic = s.baseline.topic.clone();
        bargs.subscribe = s.baseline.subscribe.clone();
        bargs.satisfy = s.baseline.satisfy.clone();
        if aws.regions.is_empty() {
            aws.regions = s.regions.clone();
        }
    }
    let b = load_baseline(&bargs)?;
    let roles = aws.roles();
    if roles.len() > 1 && saved.is_some() {
        bail!("a saved plan belongs to one account: apply it with the one --assume-role it was made with");
    }
    let mut worst = Exit::Success;
    for role in roles {
        let done = apply_one(args, &aws, role.as_deref(), &bargs, &b, saved.clone(), format, t, out).await;
        let exit = match &role {
            Some(r) => done.with_context(|| format!("in the account of role `{r}`"))?,
            None => done?,
        };
        if exit != Exit::Success {
            worst = exit;
        }
    }
    Ok(worst)
}

#[allow(clippy::too_many_arguments)]
async fn apply_one(
    args: &ApplyArgs,
    aws: &AwsArgs,
    role: Option<&str>,
    bargs: &BaselineArgs,
    b: &crate::baseline::Baseline,
    saved: Option<plan::Plan>,
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let (api, mut fresh) = discover_and_plan(aws, role, b, t).await?;
    fresh.baseline.topic = bargs.topic.clone();
    fresh.baseline.subscribe = bargs.subscribe.clone();
    fresh.baseline.satisfy = bargs.satisfy.clone();
    let p = match saved {
        Some(s) => {
            let file = args.plan_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            if s.account != fresh.account {
                bail!(
                    "saved plan `{file}` is for account {}, but the credentials are for account {}",
                    s.account,
                    fresh.account
                );
            }
            if s.baseline.hash != fresh.baseline.hash {
                return Err(anyhow::anyhow!("the baseline `{}` changed since the plan was made", s.baseline.name)
                    .context(format!("saved plan `{file}` is stale"))
                    .context("hint: run `cwfix plan --out FILE` again"));
            }
            if s.state_fingerprint != fresh.state_fingerprint || s.changes != fresh.changes {
                return Err(anyhow::anyhow!("the live monitoring chain changed since the plan was made")
                    .context(format!("saved plan `{file}` is stale; run `cwfix plan --out {file}` again")));
            }
            s
        }
        None => fresh,
    };
    if format == OutputFormat::Human {
        render::human::plan(&p, out, &t.style)?;
    }
    if !p.has_changes() {
        if format == OutputFormat::Json {
            json_line(
                out,
                serde_json::json!({"type": "summary", "run_id": null, "applied": 0, "failed": 0, "not_attempted": 0}),
            )?;
        }
        return Ok(Exit::Success);
    }
    out.flush()?;
    if !args.yes && !confirm(t, "apply these changes")? {
        eprintln!("Apply cancelled.");
        return Ok(Exit::Failure);
    }
    let steps = apply::steps_from_plan(&p);
    let header = Header {
        run_id: journal::new_run_id(),
        kind: RunKind::Apply,
        rolls_back: None,
        account: p.account.clone(),
        regions: p.regions.clone(),
        baseline: p.baseline.name.clone(),
        baseline_hash: p.baseline.hash.clone(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        started_at: journal::now(),
    };
    let state = StateDir::new(&args.state.state_dir);
    run_steps(&api, &state, header, serde_json::to_value(&p)?, &steps, format, t, out).await
}

pub async fn rollback(
    args: &RollbackArgs,
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let state = StateDir::new(&args.state.state_dir);
    let log = state.load(&args.run_id)?;
    let region = args.aws.regions.first().cloned().or_else(|| log.header.regions.first().cloned());
    let conf = live::sdk_config(&ConnectOptions {
        profile: args.aws.profile.clone(),
        region,
        max_attempts: args.aws.max_attempts,
        operation_timeout: None,
        assume_role: args.aws.assume_roles.first().cloned(),
    })
    .await;
    let api = Live::new(&conf);
    let rp = rollback::plan_rollback(&api, &log, args.force)
        .await
        .with_context(|| format!("cannot roll back run `{}`", args.run_id))?;
    if log.torn_tail {
        eprintln!("warning: the journal's last line was cut off (the run died mid-write); it was ignored");
    }
    if format == OutputFormat::Human {
        writeln!(
            out,
            "Rollback of run {} ({}, account {}, {} intent(s), {:?})",
            log.header.run_id,
            log.header.started_at,
            log.header.account,
            log.intents(),
            log.status()
        )?;
        for (a, why) in &rp.unchanged {
            writeln!(out, "  {} {a}: {why}", t.style.dim("="))?;
        }
        for (a, why) in &rp.skipped {
            writeln!(out, "  {} {a}: skipped: {why}", t.style.yellow("!"))?;
        }
        for s in &rp.steps {
            writeln!(out, "  {} {} ({}): {}", t.style.yellow("<"), s.address, s.op.verb(), s.reason)?;
        }
    }
    if rp.steps.is_empty() {
        if format == OutputFormat::Json {
            json_line(
                out,
                serde_json::json!({"type": "summary", "run_id": null, "applied": 0, "failed": 0, "not_attempted": 0, "skipped": rp.skipped.len()}),
            )?;
        } else {
            writeln!(out)?;
            writeln!(out, "Nothing to roll back.")?;
        }
        return Ok(if rp.skipped.is_empty() { Exit::Success } else { Exit::Failure });
    }
    if format == OutputFormat::Human {
        writeln!(out)?;
        writeln!(out, "Rollback: {} change(s), {} skipped.", rp.steps.len(), rp.skipped.len())?;
    }
    out.flush()?;
    if !args.yes && !confirm(t, "roll back these changes")? {
        eprintln!("Rollback cancelled.");
        return Ok(Exit::Failure);
    }
    let header = Header {
        run_id: journal::new_run_id(),
        kind: RunKind::Rollback,
        rolls_back: Some(log.header.run_id.clone()),
        account: log.header.account.clone(),
        regions: log.header.regions.clone(),
        baseline: log.header.baseline.clone(),
        baseline_hash: log.header.baseline_hash.clone(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        started_at: journal::now(),
    };
    let doc = serde_json::json!({"rolls_back": log.header.run_id, "steps": rp.steps, "skipped": rp.skipped});
    let exit = run_steps(&api, &state, header, doc, &rp.steps, format, t, out).await?;
    Ok(if rp.skipped.is_empty() { exit } else { Exit::Failure })
}

pub fn runs(args: &RunsArgs, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let state = StateDir::new(&args.state.state_dir);
    match &args.cmd {
        None => {
            let runs = state.list()?;
            if format == OutputFormat::Json {
                let doc: Vec<_> = runs
                    .iter()
                    .map(|r| serde_json::json!({"run_id": r.header.run_id, "started_at": r.header.started_at, "account": r.header.account,
                        "kind": r.header.kind, "rolls_back": r.header.rolls_back, "changes": r.intents(), "status": r.status()}))
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else if runs.is_empty() {
                writeln!(out, "No runs in {}.", state.root().display())?;
            } else {
                writeln!(
                    out,
                    "{:<22}  {:<24}  {:<12}  {:>7}  {:<10}  KIND",
                    "RUN", "STARTED", "ACCOUNT", "CHANGES", "STATUS"
                )?;
                for r in runs {
                    let kind = match (&r.header.kind, &r.header.rolls_back) {
                        (RunKind::Rollback, Some(of)) => format!("rollback of {of}"),
                        (RunKind::Rollback, None) => "rollback".into(),
                        (RunKind::Apply, _) => "apply".into(),
                    };
                    let status = serde_json::to_value(r.status())
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{:<22}  {:<24}  {:<12}  {:>7}  {:<10}  {kind}",
                        r.header.run_id,
                        r.header.started_at,
                        r.header.account,
                        r.intents(),
                        status
                    )?;
                }
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
                writeln!(out, "Run {} ({:?}), {:?}", h.run_id, h.kind, r.status())?;
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
