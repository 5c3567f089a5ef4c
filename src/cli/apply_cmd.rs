//! `cwfix apply [PLANFILE]`: lock, discover, plan, check a saved plan against the fresh one,
//! show the changes that will run, confirm, then write them one by one (each re-checked right
//! before it is written).

use super::error::WithHint;
use super::plan_cmd::{self, discover_and_plan, load_baseline};
use super::run_view::{self, Run, StateArgs};
use super::{org_plan, AwsArgs, BaselineArgs, Exit, OrgArgs, OutputFormat, Term};
use crate::journal::{self, AnyStore, RunKind};
use crate::{apply, plan, render};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved by `cwfix plan --out FILE`; refused if what it relies on changed since.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub org: OrgArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(args: &ApplyArgs, format: OutputFormat, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let saved = match &args.plan_file {
        None => None,
        Some(p) => Some(plan::file::load(p)?),
    };
    let (bargs, aws) = match &saved {
        None => (args.baseline.clone(), args.aws.clone()),
        Some(s) => saved_settings(args, s)?,
    };
    let b = load_baseline(&bargs)?;
    let base = plan_cmd::base_config(&aws).await;
    let targets = org_plan::targets(&aws, &args.org, &base).await?;
    if targets.len() > 1 && saved.is_some() {
        bail!("a saved plan belongs to one account: apply it with the one --assume-role it was made with");
    }
    let state = args.state.open(&run_view::state_connect(&aws)).await?;
    if let [one] = targets.as_slice() {
        let done = apply_one(args, &state, &aws, one.role.as_deref(), &bargs, &b, saved.as_ref(), format, t, out).await;
        return match &one.role {
            Some(r) => done.with_context(|| format!("in the account of role `{r}`")),
            None => done,
        };
    }
    // Several accounts: one run (and journal) each, one after another under the state's
    // lock; an account that fails is reported and the next one is applied.
    let mut worst = Exit::Success;
    let mut failed = 0;
    for target in &targets {
        let account = target.label();
        if format == OutputFormat::Json {
            run_view::json_line(out, serde_json::json!({"type": "account_start", "account": account}))?;
        } else {
            writeln!(out, "{}", t.style.bold(&format!("=== account {account} ===")))?;
        }
        match apply_one(args, &state, &aws, target.role.as_deref(), &bargs, &b, None, format, t, out).await {
            Ok(Exit::Success) => {}
            Ok(exit) => worst = worst.max(exit),
            Err(e) => {
                failed += 1;
                worst = Exit::Failure;
                let e = e.context(format!("account {account}: nothing was applied there"));
                if format == OutputFormat::Json {
                    run_view::json_line(
                        out,
                        serde_json::json!({"type": "account_failed", "account": account, "error": format!("{e:#}")}),
                    )?;
                }
                out.flush()?;
                super::error::report(&e);
            }
        }
        if format == OutputFormat::Human {
            writeln!(out)?;
        }
    }
    if failed > 0 {
        eprintln!("error: {failed} of {} accounts failed; each other account's run stands on its own", targets.len());
    }
    Ok(worst)
}

/// A saved plan carries its baseline, notification target and regions; flags that would
/// change them are refused rather than silently ignored (as Terraform does).
fn saved_settings(args: &ApplyArgs, s: &plan::Plan) -> anyhow::Result<(BaselineArgs, AwsArgs)> {
    let given = &args.baseline;
    let mut conflicting = Vec::new();
    if given.baseline != crate::baseline::DEFAULT_BASELINE {
        conflicting.push("--baseline");
    }
    if given.topic.is_some() {
        conflicting.push("--topic");
    }
    if !given.subscribe.is_empty() {
        conflicting.push("--subscribe");
    }
    if !given.satisfy.is_empty() {
        conflicting.push("--satisfy");
    }
    if !args.aws.regions.is_empty() && args.aws.regions != s.regions {
        conflicting.push("--region");
    }
    if !conflicting.is_empty() {
        let file = args.plan_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        return Err(anyhow::anyhow!(
            "{} would change the plan, but a saved plan is applied exactly as it was made",
            conflicting.join(", ")
        )
        .context(format!("cannot apply saved plan `{file}` with {}", conflicting.join(", ")))
        .hint(format!(
            "drop them, or make a new plan with them: cwfix plan {} --out {file}",
            conflicting.join(" ... ")
        )));
    }
    let bargs = BaselineArgs {
        baseline: s.baseline.origin.strip_prefix("shipped:").unwrap_or(&s.baseline.origin).to_string(),
        topic: s.baseline.topic.clone(),
        subscribe: s.baseline.subscribe.clone(),
        satisfy: s.baseline.satisfy.clone(),
    };
    let mut aws = args.aws.clone();
    aws.regions = s.regions.clone();
    Ok((bargs, aws))
}

#[allow(clippy::too_many_arguments)]
async fn apply_one(
    args: &ApplyArgs,
    state: &AnyStore,
    aws: &AwsArgs,
    role: Option<&str>,
    bargs: &BaselineArgs,
    b: &crate::baseline::Baseline,
    saved: Option<&plan::Plan>,
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    // The lock comes first: nothing another cwfix run does can slip between what is read
    // here, what is shown, and what is written.
    let run_id = journal::new_run_id();
    let lock = run_view::take_lock(state, &run_id).await?;
    let done = apply_locked(args, state, run_id, aws, role, bargs, b, saved, format, t, out).await;
    run_view::release(state, lock, done).await
}

#[allow(clippy::too_many_arguments)]
async fn apply_locked(
    args: &ApplyArgs,
    state: &AnyStore,
    run_id: String,
    aws: &AwsArgs,
    role: Option<&str>,
    bargs: &BaselineArgs,
    b: &crate::baseline::Baseline,
    saved: Option<&plan::Plan>,
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let (api, mut fresh) = discover_and_plan(aws, role, b, t).await?;
    fresh.baseline.topic = bargs.topic.clone();
    fresh.baseline.subscribe = bargs.subscribe.clone();
    fresh.baseline.satisfy = bargs.satisfy.clone();
    if let Some(s) = saved {
        let file = args.plan_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        plan::file::check(s, &fresh).map_err(|stale| {
            anyhow::Error::new(stale)
                .context(format!("saved plan `{file}` is stale"))
                .hint(format!("run `cwfix plan --out {file}` again"))
        })?;
    }
    // What is shown is the plan just made from the live account, whose changes are the ones
    // that run (a saved file's summary or verdicts are never shown or trusted).
    if format == OutputFormat::Human {
        render::human::plan(&fresh, out, &t.style)?;
    }
    if !fresh.has_changes() {
        if format == OutputFormat::Json {
            run_view::json_line(
                out,
                serde_json::json!({"type": "summary", "run_id": null, "applied": 0, "failed": 0, "not_attempted": 0}),
            )?;
        }
        return Ok(Exit::Success);
    }
    // Say where the writes go before any of them, prompt or not.
    if !t.quiet && format == OutputFormat::Human {
        eprintln!("cwfix will write to account {} as {}", fresh.account_label(), fresh.caller_arn);
    }
    out.flush()?;
    if !args.yes && !run_view::confirm(t, "apply these changes")? {
        eprintln!("Apply cancelled.");
        return Ok(Exit::Failure);
    }
    let steps = apply::steps(&fresh.changes)?;
    let header = run_view::header(
        run_id,
        RunKind::Apply,
        None,
        &fresh.account,
        &fresh.regions,
        (&fresh.baseline.name, &fresh.baseline.hash),
    );
    let run = Run { state, header, plan_doc: serde_json::to_value(&fresh)? };
    run_view::run_steps(&api, run, &steps, format, t, out).await
}
