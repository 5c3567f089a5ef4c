//! Several accounts in one run: which accounts (`--org` with `--ou`/`--exclude-accounts`,
//! `--accounts` with `--role-name`, repeated `--assume-role`), entering each, planning them
//! with bounded concurrency under one progress bar, the organization plan's output, and
//! `--findings securityhub`. An account that cannot be read is reported for that account (in
//! the output, the JSON `errors`, the findings and on stderr) and never stops the others.

use super::error::WithHint;
use super::plan_cmd::{self, PlanArgs};
use super::{AwsArgs, Exit, OrgArgs, OutputFormat, Term};
use crate::aws::session::{self, Session};
use crate::aws::{securityhub, CloudApi};
use crate::baseline::Baseline;
use crate::org::{self, OrgPlan, Outcome, Unread};
use crate::plan::Plan;
use crate::render;
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// One account to work in: through a role, or with the caller's own credentials.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// The account id when known before entering it (`--org`, `--accounts`, a role ARN).
    pub account: Option<String>,
    pub role: Option<String>,
}

impl Target {
    /// How output names the account before (or without) reading it.
    pub fn label(&self) -> String {
        self.account.clone().or_else(|| self.role.clone()).unwrap_or_else(|| "(caller's account)".into())
    }
}

/// The accounts to work in. Without `--org`, the roles of `--assume-role` / `--accounts`
/// (or the caller's own account); with it, the organization's ACTIVE accounts.
pub(crate) async fn targets(aws: &AwsArgs, org_args: &OrgArgs, base: &Session) -> anyhow::Result<Vec<Target>> {
    if !org_args.org {
        return Ok(aws
            .roles()
            .into_iter()
            .map(|role| Target {
                account: role.as_deref().and_then(session::account_of_role).map(str::to_string),
                role,
            })
            .collect());
    }
    let me = base.cloud().caller_identity().await.context("cannot read the caller's identity")?;
    let found = org::accounts(&base.organizations(), org_args.ou.as_deref()).await.map_err(|e| {
        let hint = match &e {
            crate::aws::Error::AccessDenied { .. } => "run --org with the management account's credentials (or a delegated administrator's): `cwfix iam-policy --for plan --org` prints what it needs",
            crate::aws::Error::NotFound { .. } => "`aws organizations list-roots` and `list-organizational-units-for-parent` show the ids",
            _ => "check that the caller's account belongs to an organization",
        };
        anyhow::Error::new(e).context("cannot list the organization's accounts").hint(hint)
    })?;
    for x in org_args.exclude_accounts.iter().map(|x| x.trim()) {
        if !found.iter().any(|a| a.id == x) {
            eprintln!("warning: --exclude-accounts {x}: no such account in the organization");
        }
    }
    let selected = org::select(found, &org_args.exclude_accounts);
    if selected.is_empty() {
        return Err(anyhow::anyhow!("no ACTIVE account to work in")
            .hint("check --ou and --exclude-accounts: suspended and closed accounts are left out"));
    }
    let name = aws.role_name.as_deref().unwrap_or(org::DEFAULT_ROLE_NAME);
    Ok(selected
        .into_iter()
        .map(|a| Target {
            role: (a.id != me.account).then(|| session::role_arn(&me.partition, &a.id, name)),
            account: Some(a.id),
        })
        .collect())
}

/// The session to act in `t`'s account with.
pub(crate) async fn enter(base: &Session, t: &Target) -> anyhow::Result<Session> {
    let Some(role) = &t.role else { return Ok(base.clone()) };
    base.enter(role).await.map_err(|e| {
        let account = t.account.clone().unwrap_or_else(|| "the role's account".into());
        let denied = matches!(e, crate::aws::Error::AccessDenied { .. });
        let err = anyhow::Error::new(e).context(format!("cannot assume role `{role}`"));
        if denied {
            err.hint(format!(
                "check that the role exists in account {account} and trusts the caller (`aws sts get-caller-identity`); or leave the account out with --exclude-accounts {account}"
            ))
        } else {
            err
        }
    })
}

/// The role to roll back a run of `account` with: `--assume-role`, or `--role-name` in that
/// account unless it is the caller's own; `None` = the caller's credentials.
pub(crate) async fn role_for(aws: &AwsArgs, account: &str) -> anyhow::Result<Option<String>> {
    if let Some(r) = aws.assume_roles.first() {
        return Ok(Some(r.clone()));
    }
    let Some(name) = &aws.role_name else { return Ok(None) };
    let me = plan_cmd::base_config(aws).await.cloud().caller_identity().await?;
    Ok((me.account != account).then(|| session::role_arn(&me.partition, account, name)))
}

/// What reading one account gave.
struct Read {
    session: Session,
    plan: Plan,
    calls: BTreeMap<String, u64>,
}

/// Enters and plans one account (a `'static` task: everything it needs is owned).
async fn read_account(
    base: Session,
    target: Target,
    regions: Vec<String>,
    b: std::sync::Arc<Baseline>,
) -> anyhow::Result<Read> {
    let session = enter(&base, &target).await?;
    let (api, plan) = plan_cmd::plan_in(&session, regions, &b, None).await?;
    Ok(Read { session, plan, calls: api.call_counts() })
}

/// A `cwfix plan` over several accounts.
pub(crate) struct OrgRun<'a> {
    pub args: &'a PlanArgs,
    pub b: &'a Baseline,
    pub base: &'a Session,
    pub regions: Vec<String>,
    pub format: OutputFormat,
    pub t: &'a Term,
}

impl OrgRun<'_> {
    pub async fn plan(&self, targets: Vec<Target>, out: &mut dyn Write) -> anyhow::Result<Exit> {
        let results = self.read(targets).await;
        let mut org = OrgPlan::default();
        let mut sessions = Vec::new();
        let mut failed = Vec::new();
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        for (target, result) in results {
            match result {
                Ok(mut r) => {
                    plan_cmd::remember_flags(&mut r.plan, &self.args.baseline);
                    r.calls.iter().for_each(|(k, n)| *calls.entry(k.clone()).or_default() += n);
                    sessions.push(r.session);
                    org.outcomes.push(Outcome::Planned(Box::new(r.plan)));
                }
                Err(e) => {
                    org.outcomes.push(Outcome::Unread(Unread { account: target.label(), error: format!("{e:#}") }));
                    failed.push((target.label(), e));
                }
            }
        }
        plan_cmd::report_call_counts(&calls, self.t, &format!("discovery of {} account(s)", sessions.len()));
        let sent = match self.args.findings {
            Some(_) => {
                let pairs: Vec<(&Session, &Plan)> = sessions.iter().zip(org.plans()).collect();
                send_findings(&pairs, self.b, self.args.concurrency, self.t).await
            }
            None => true,
        };
        self.render(&org, out)?;
        let plans: Vec<Plan> = org.plans().cloned().collect();
        for note in crate::emit::run(&self.args.emit, &plans)? {
            if !self.t.quiet {
                eprintln!("{note}");
            }
        }
        out.flush()?;
        self.notes(&org);
        report_unread(failed, org.outcomes.len());
        Ok(self.exit(&org, sent))
    }

    /// Every account, at most `--concurrency` account-regions at a time, under one bar.
    async fn read(&self, targets: Vec<Target>) -> Vec<(Target, anyhow::Result<Read>)> {
        let n = self.regions.len();
        let t = self.t;
        let bar = (t.stderr_is_tty && !t.quiet && t.verbose == 0 && !t.json).then(|| {
            let pb = indicatif::ProgressBar::new((targets.len() * n) as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} account-regions {msg}") {
                pb.set_style(style);
            }
            pb.set_message(format!("({} accounts x {n} regions)", targets.len()));
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        });
        // Each account is a task of its own, so planning (CPU) runs on every worker thread.
        let b = std::sync::Arc::new(self.b.clone());
        let results = org::bounded(targets, n, self.args.concurrency as usize, |target| {
            let job = read_account(self.base.clone(), target.clone(), self.regions.clone(), b.clone());
            let task = tokio::spawn(job);
            let bar = &bar;
            async move {
                let read = task.await.unwrap_or_else(|e| Err(anyhow::anyhow!("the account's task failed: {e}")));
                if let Some(pb) = bar {
                    pb.inc(n as u64);
                }
                (target, read)
            }
        })
        .await;
        if let Some(pb) = bar {
            pb.finish_and_clear();
        }
        results
    }

    fn render(&self, org: &OrgPlan, out: &mut dyn Write) -> anyhow::Result<()> {
        match self.format.findings() {
            Some(kind) => {
                let ctx = render::findings::Context::new(time::OffsetDateTime::now_utc(), Some(self.b));
                let partition = org.plans().next().map(|p| p.partition.clone()).unwrap_or_else(|| "aws".into());
                let plans = org.plans_for_findings(self.b, &self.regions, &partition);
                render::findings::write(kind, &plans, &ctx, out)?;
            }
            None if self.format == OutputFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &org.document())?;
                writeln!(out)?;
            }
            None => self.human(org, out)?,
        }
        Ok(())
    }

    /// One section per account, then the closing table.
    fn human(&self, org: &OrgPlan, out: &mut dyn Write) -> std::io::Result<()> {
        let st = &self.t.style;
        for (i, o) in org.outcomes.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            match o {
                Outcome::Planned(p) => {
                    writeln!(out, "{}", st.bold(&format!("=== account {} ===", p.account_label())))?;
                    render::human::plan(p, out, st)?;
                }
                Outcome::Unread(u) => {
                    writeln!(out, "{}", st.bold(&format!("=== account {} ===", u.account)))?;
                    writeln!(out, "{} could not read the account: {}", st.red("error:"), u.error)?;
                }
            }
        }
        writeln!(out)?;
        render::human::organization(&org.rows(), &org.summary(), out, st)
    }

    fn notes(&self, org: &OrgPlan) {
        if self.t.quiet {
            return;
        }
        for p in org.plans().filter(|p| org.delegated(p)) {
            let owner = p.monitored_in.as_deref().unwrap_or_default();
            eprintln!("note: account {}'s chain lives in account {owner}, which this run planned too", p.account);
        }
    }

    /// 1 when an account could not be read or findings could not be sent; else the worst plan
    /// (members planned through another account's chain count as that account).
    fn exit(&self, org: &OrgPlan, sent: bool) -> Exit {
        if !sent || org.unread().next().is_some() {
            return Exit::Failure;
        }
        if self.args.exit_zero {
            return Exit::Success;
        }
        org.plans().filter(|p| !org.delegated(p)).map(Exit::of_plan).max().unwrap_or(Exit::Success)
    }
}

/// Each unread account's error, rendered once on stderr, then the count.
fn report_unread(failed: Vec<(String, anyhow::Error)>, total: usize) {
    if failed.is_empty() {
        return;
    }
    let n = failed.len();
    for (account, e) in failed {
        super::error::report(&e.context(format!("account {account} could not be read")));
    }
    eprintln!("error: {n} of {total} accounts could not be read (exit 1); the others were planned");
}

/// Sends each plan's ASFF findings to its own account's Security Hub, in each finding's
/// region (BatchImportFindings must come from the finding's account when it uses the
/// account's default product). Reports on stderr; `false` when anything was not sent.
pub(crate) async fn send_findings(accounts: &[(&Session, &Plan)], b: &Baseline, concurrency: u16, t: &Term) -> bool {
    let ctx = render::findings::Context::new(time::OffsetDateTime::now_utc(), Some(b));
    let results = org::bounded(accounts.to_vec(), 1, concurrency as usize, |(session, p)| {
        let ctx = &ctx;
        async move {
            let hub = session.findings_hub();
            let mut by_region: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
            if let serde_json::Value::Array(list) = render::asff::document(std::slice::from_ref(p), ctx) {
                for f in list {
                    let region = f["Region"].as_str().unwrap_or("us-east-1").to_string();
                    by_region.entry(region).or_default().push(f);
                }
            }
            let mut sent = Vec::new();
            for (region, list) in by_region {
                let s = securityhub::send(&hub, &region, &list, Duration::from_millis(200)).await;
                sent.push((region, s));
            }
            (p.account.clone(), sent)
        }
    })
    .await;
    report_sent(&results, t)
}

fn report_sent(results: &[(String, Vec<(String, securityhub::Sent)>)], t: &Term) -> bool {
    let (mut imported, mut calls, mut ok) = (0, 0, true);
    for (account, per_region) in results {
        for (region, s) in per_region {
            imported += s.imported;
            calls += s.calls;
            if let Some(e) = &s.error {
                ok = false;
                let hint = match e {
                    crate::aws::Error::AccessDenied { .. } => "grant it: `cwfix iam-policy --for plan --findings securityhub`".to_string(),
                    _ => format!("is Security Hub enabled in account {account}, {region}? (`aws securityhub enable-security-hub`)"),
                };
                let err = anyhow::Error::new(e.clone())
                    .context(format!("cannot send findings to Security Hub of account {account} in {region}"))
                    .hint(hint);
                super::error::report(&err);
            }
            for r in &s.rejected {
                ok = false;
                eprintln!(
                    "error: Security Hub of account {account} in {region} rejected `{}`: {}: {}",
                    r.id, r.code, r.message
                );
            }
        }
    }
    if !t.quiet {
        eprintln!(
            "Security Hub: {imported} finding(s) imported into {} account(s) ({calls} BatchImportFindings call(s))",
            results.len()
        );
    }
    ok
}
