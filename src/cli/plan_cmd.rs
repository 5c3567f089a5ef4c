//! `cwfix plan`: load the baseline, discover, plan, render, optionally save.

use super::{AwsArgs, BaselineArgs, Exit, OutputFormat, Term};
use crate::aws::live::{self, ConnectOptions, Live};
use crate::{baseline, discover, plan, render};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
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
    if t.verbose == 0 {
        return;
    }
    let mut per_service: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for (action, n) in api.call_counts() {
        *per_service.entry(action.split(':').next().unwrap_or("?").to_string()).or_default() += n;
    }
    let total: u64 = per_service.values().sum();
    let list: Vec<String> = per_service.iter().map(|(s, n)| format!("{s} {n}")).collect();
    eprintln!("AWS calls after {what}: {total} ({})", list.join(", "));
    for (action, n) in api.call_counts() {
        tracing::debug!("{action}: {n}");
    }
}

/// Connects, discovers and plans: shared by plan, apply and rollback checks.
pub(crate) async fn discover_and_plan(
    aws_args: &AwsArgs,
    role: Option<&str>,
    b: &baseline::Baseline,
    t: &Term,
) -> anyhow::Result<(Live, plan::Plan)> {
    let conf = live::sdk_config(&ConnectOptions {
        profile: aws_args.profile.clone(),
        region: aws_args.regions.first().cloned(),
        max_attempts: aws_args.max_attempts,
        operation_timeout: None,
        assume_role: role.map(str::to_string),
    })
    .await;
    let regions = if aws_args.regions.is_empty() {
        vec![live::default_region(&conf).ok_or_else(|| {
            anyhow::anyhow!(
                "no AWS region configured: pass --region REGION or set AWS_REGION (or a region in your profile)"
            )
        })?]
    } else {
        let mut r = aws_args.regions.clone();
        r.sort();
        r.dedup();
        r
    };
    let api = Live::new(&conf);
    let scope = discover::Scope {
        regions,
        queries: !b.queries.is_empty(),
        kms_key: b.notification.kms_key.clone(),
        topic: b.notification.topic.clone(),
    };
    // A spinner only on a terminal, and not under -q, -v or JSON output (uv's rule).
    let spinner = (t.stderr_is_tty && !t.quiet && t.verbose == 0 && !t.json).then(|| {
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
    report_calls(&api, t, "discovery");
    Ok((api, plan::plan(b, &snapshot)))
}

pub async fn run(args: &PlanArgs, format: OutputFormat, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let b = load_baseline(&args.baseline)?;
    let roles = args.aws.roles();
    if roles.len() > 1 && args.out.is_some() {
        anyhow::bail!("--out saves one account's plan: run `cwfix plan --assume-role ROLE --out FILE` once per role");
    }
    let mut plans = Vec::new();
    for role in &roles {
        let found = discover_and_plan(&args.aws, role.as_deref(), &b, t).await;
        let (_api, mut p) = match role {
            Some(r) => found.with_context(|| format!("in the account of role `{r}`"))?,
            None => found?,
        };
        p.baseline.topic = args.baseline.topic.clone();
        p.baseline.subscribe = args.baseline.subscribe.clone();
        p.baseline.satisfy = args.baseline.satisfy.clone();
        plans.push(p);
    }
    match format {
        OutputFormat::Json if plans.len() == 1 => render::json::plan(&plans[0], out)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &serde_json::json!({"format_version": plan::FORMAT_VERSION, "plans": plans}),
            )?;
            writeln!(out)?;
        }
        OutputFormat::Human => {
            for (i, p) in plans.iter().enumerate() {
                if plans.len() > 1 {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    writeln!(out, "{}", t.style.bold(&format!("=== account {} ===", p.account)))?;
                }
                render::human::plan(p, out, &t.style)?;
            }
        }
        _ => {
            let kind = format.findings().context("this output format is not a findings format")?;
            let ctx = render::findings::Context::new(time::OffsetDateTime::now_utc(), Some(&b));
            render::findings::write(kind, &plans, &ctx, out)?;
        }
    }
    for note in crate::emit::run(&args.emit, &plans)? {
        if !t.quiet {
            eprintln!("{note}");
        }
    }
    let accounts: Vec<&str> = plans.iter().map(|p| p.account.as_str()).collect();
    for p in &plans {
        if let Some(owner) = p.monitored_in.as_deref().filter(|o| accounts.contains(o)) {
            if !t.quiet {
                eprintln!("note: account {}'s chain lives in account {owner}, which this run planned too", p.account);
            }
        }
    }
    let exit = plans.iter().map(Exit::of_plan).max().unwrap_or(Exit::Success);
    if let Some(path) = &args.out {
        plan::file::save(&plans[0], path)?;
        if !t.quiet {
            eprintln!("Saved the plan to {}; apply it with: cwfix apply {}", path.display(), path.display());
        }
    }
    Ok(if args.exit_zero { Exit::Success } else { exit })
}
