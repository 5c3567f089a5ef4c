//! `cwfix plan`: load the baseline, discover, plan, render, optionally save. Several accounts
//! (`--org`, `--accounts`, repeated `--assume-role`) go to `org_plan`.

use super::{org_plan, AwsArgs, BaselineArgs, Exit, FindingsTarget, OrgArgs, OutputFormat, Term};
use crate::aws::live::{ConnectOptions, Live};
use crate::aws::session::Session;
use crate::{baseline, discover, plan, render};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub org: OrgArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// With several accounts: how many account-regions are read at once. Each account reads
    /// its regions at once, so this many divided by the number of regions accounts at a time
    /// (64: 16 accounts of 4 regions). Memory grows with it; API rate limits do not (they are
    /// per account and region), except the caller's own STS AssumeRole calls.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Also send the findings (those of `-o asff`) to Security Hub: each account's own, in the
    /// region of each finding; a second run updates them, controls that hold become PASSED and
    /// archived.
    #[arg(long, value_name = "securityhub", value_enum)]
    pub findings: Option<FindingsTarget>,
    /// Save the plan to FILE, for `cwfix apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 whether or not there is drift (errors still exit 1).
    #[arg(long)]
    pub exit_zero: bool,
    /// Also write the planned changes as code: `--emit terraform DIR` or `--emit cloudformation
    /// FILE` (repeatable). Existing resources are imported, not re-created.
    #[arg(long, num_args = 2, value_names = ["terraform|cloudformation", "PATH"], action = clap::ArgAction::Append)]
    pub emit: Vec<String>,
}

/// Loads the baseline with the command-line overrides applied.
pub(crate) fn load_baseline(args: &BaselineArgs) -> anyhow::Result<baseline::Baseline> {
    let mut b = baseline::load(&args.baseline).with_context(|| format!("cannot load baseline `{}`", args.baseline))?;
    let subs = super::parse_subscriptions(&args.subscribe)?;
    b.override_notification(args.topic.as_deref(), &subs)?;
    let scanners = crate::satisfy::parse_scanners(&args.satisfy).map_err(anyhow::Error::msg)?;
    crate::satisfy::expand(&mut b, &scanners)
        .map_err(|e| anyhow::anyhow!("cannot satisfy {}: {e}", args.satisfy.join(",")))?;
    Ok(b)
}

/// With -v, the number of AWS calls per service (each page counts), on stderr.
pub(crate) fn report_calls(api: &Live, t: &Term, what: &str) {
    report_call_counts(&api.call_counts(), t, what);
}

/// [`report_calls`] for counts per IAM action (summed over several accounts).
pub(crate) fn report_call_counts(counts: &std::collections::BTreeMap<String, u64>, t: &Term, what: &str) {
    if t.verbose == 0 {
        return;
    }
    let mut per_service: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for (action, n) in counts {
        *per_service.entry(action.split(':').next().unwrap_or("?").to_string()).or_default() += n;
    }
    let total: u64 = per_service.values().sum();
    let list: Vec<String> = per_service.iter().map(|(s, n)| format!("{s} {n}")).collect();
    eprintln!("AWS calls after {what}: {total} ({})", list.join(", "));
    for (action, n) in counts {
        tracing::debug!("{action}: {n}");
    }
}

/// The caller's own session (`--profile`, the first `--region`, `--max-attempts`).
pub(crate) async fn base_config(aws_args: &AwsArgs) -> Session {
    Session::connect(&ConnectOptions {
        profile: aws_args.profile.clone(),
        region: aws_args.regions.first().cloned(),
        max_attempts: aws_args.max_attempts,
        operation_timeout: None,
        assume_role: None,
    })
    .await
}

/// The regions to scan: `--region` (sorted, once each), or the configuration's region.
pub(crate) fn regions(aws_args: &AwsArgs, session: &Session) -> anyhow::Result<Vec<String>> {
    if aws_args.regions.is_empty() {
        return Ok(vec![session.region().ok_or_else(|| {
            anyhow::anyhow!(
                "no AWS region configured: pass --region REGION or set AWS_REGION (or a region in your profile)"
            )
        })?]);
    }
    let mut r = aws_args.regions.clone();
    r.sort();
    r.dedup();
    Ok(r)
}

/// Discovers and plans one account in `session`. A spinner only when `spinner` names the
/// terminal, and not under -q, -v or JSON output (uv's rule); several accounts have a bar.
pub(crate) async fn plan_in(
    session: &Session,
    regions: Vec<String>,
    b: &baseline::Baseline,
    spinner: Option<&Term>,
) -> anyhow::Result<(Live, plan::Plan)> {
    let api = session.cloud();
    let scope = discover::Scope {
        regions,
        queries: !b.queries.is_empty(),
        kms_key: b.notification.kms_key.clone(),
        topic: b.notification.topic.clone(),
    };
    let spinner = spinner.filter(|t| t.stderr_is_tty && !t.quiet && t.verbose == 0 && !t.json).map(|_| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(format!("discovering the monitoring chain in {}", scope.regions.join(", ")));
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let snapshot = discover::discover(&api, &scope).await;
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let snapshot = snapshot.context("cannot discover the monitoring chain")?;
    Ok((api, plan::plan(b, &snapshot)))
}

/// Connects (entering `role`'s account when given), discovers and plans: shared by plan and apply.
pub(crate) async fn discover_and_plan(
    aws_args: &AwsArgs,
    role: Option<&str>,
    b: &baseline::Baseline,
    t: &Term,
) -> anyhow::Result<(Live, plan::Plan)> {
    let base = base_config(aws_args).await;
    let regions = regions(aws_args, &base)?;
    let session = match role {
        None => base,
        Some(r) => base.enter(r).await.with_context(|| format!("cannot assume role `{r}`"))?,
    };
    let (api, p) = plan_in(&session, regions, b, Some(t)).await?;
    report_calls(&api, t, "discovery");
    Ok((api, p))
}

/// The flags a saved plan must remember (`apply PLANFILE` uses the same notification target).
pub(crate) fn remember_flags(p: &mut plan::Plan, bargs: &BaselineArgs) {
    p.baseline.topic = bargs.topic.clone();
    p.baseline.subscribe = bargs.subscribe.clone();
    p.baseline.satisfy = bargs.satisfy.clone();
}

pub async fn run(args: &PlanArgs, format: OutputFormat, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let b = load_baseline(&args.baseline)?;
    let base = base_config(&args.aws).await;
    let regions = regions(&args.aws, &base)?;
    let targets = org_plan::targets(&args.aws, &args.org, &base).await?;
    if targets.len() != 1 {
        if args.out.is_some() {
            anyhow::bail!(
                "--out saves one account's plan: run `cwfix plan --assume-role ROLE --out FILE` once per account"
            );
        }
        let run = org_plan::OrgRun { args, b: &b, base: &base, regions, format, t };
        return run.plan(targets, out).await;
    }
    let session = org_plan::enter(&base, &targets[0]).await?;
    let (api, mut p) = plan_in(&session, regions, &b, Some(t)).await?;
    report_calls(&api, t, "discovery");
    remember_flags(&mut p, &args.baseline);
    let plans = [p];
    match format.findings() {
        None if format == OutputFormat::Json => render::json::plan(&plans[0], out)?,
        None => render::human::plan(&plans[0], out, &t.style)?,
        Some(kind) => {
            let ctx = render::findings::Context::new(time::OffsetDateTime::now_utc(), Some(&b));
            render::findings::write(kind, &plans, &ctx, out)?;
        }
    }
    for note in crate::emit::run(&args.emit, &plans)? {
        if !t.quiet {
            eprintln!("{note}");
        }
    }
    let sent = match args.findings {
        Some(_) => org_plan::send_findings(&[(&session, &plans[0])], &b, args.concurrency, t).await,
        None => true,
    };
    if let Some(path) = &args.out {
        plan::file::save(&plans[0], path)?;
        if !t.quiet {
            eprintln!("Saved the plan to {}; apply it with: cwfix apply {}", path.display(), path.display());
        }
    }
    Ok(match (sent, args.exit_zero) {
        (false, _) => Exit::Failure,
        (true, true) => Exit::Success,
        (true, false) => Exit::of_plan(&plans[0]),
    })
}
