//! The command line: argument parsing, output routing, prompts and the single exit point.
//! Nothing else in the crate imports this module. Results go to stdout; logs, progress,
//! warnings, prompts and errors to stderr.

mod backtest_cmd;
pub mod exit;
mod hunt_cmd;
pub mod pattern_cmd;
mod plan_cmd;
mod run_cmds;

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use exit::Exit;
use std::io::{IsTerminal, Write};

/// Result documents on stdout: human text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Parser)]
#[command(
    name = "cwfix",
    version,
    about = "Hold the CIS AWS monitoring chain (trail -> metric filter -> alarm -> SNS) against a baseline",
    long_about = "cwfix discovers the CloudTrail -> CloudWatch Logs -> metric filter -> alarm -> SNS chain in an \
AWS account, compares it by meaning with a declarative baseline (CIS AWS Foundations by default), shows a \
Terraform-like plan, applies exactly that plan with a backout journal, and rolls a run back."
)]
pub struct Cli {
    /// Output format of results on stdout.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// When to colour human output (`auto` needs a terminal and honours NO_COLOR).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More logging on stderr (-v cwfix debug, -vv trace, -vvv everything incl. the SDK).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where and as whom to talk to AWS.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// Region to scan (repeatable). Default: the region of the usual AWS configuration.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// AWS profile from ~/.aws/config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Maximum attempts per AWS call, retries included (default 10, or AWS_MAX_ATTEMPTS).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Work in another account through this IAM role (repeatable: one plan or apply per account).
    #[arg(long = "assume-role", value_name = "ROLE_ARN")]
    pub assume_roles: Vec<String>,
    /// Accounts to work in (comma-separated ids), each through the role named by --role-name.
    #[arg(long, value_name = "ID,...", value_delimiter = ',', requires = "role_name")]
    pub accounts: Vec<String>,
    /// Role to assume in each of --accounts, e.g. `OrganizationAccountAccessRole` or a path/name.
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,
    /// Partition of the --accounts role ARNs.
    #[arg(long, default_value = "aws", hide = true)]
    pub partition: String,
}

impl AwsArgs {
    /// The identities to act as: the base credentials, or each assumed role.
    pub fn roles(&self) -> Vec<Option<String>> {
        let mut roles: Vec<String> = self.assume_roles.clone();
        if let Some(name) = &self.role_name {
            for a in self.accounts.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
                roles.push(format!("arn:{}:iam::{a}:role/{}", self.partition, name.trim_start_matches('/')));
            }
        }
        if roles.is_empty() {
            vec![None]
        } else {
            roles.into_iter().map(Some).collect()
        }
    }
}

/// Which baseline, and overrides of its notification target.
#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    /// Shipped baseline name (see `cwfix baselines`) or path to a baseline TOML file.
    #[arg(long, short = 'b', default_value = crate::baseline::DEFAULT_BASELINE)]
    pub baseline: String,
    /// SNS topic (name or ARN) the alarms notify, overriding the baseline.
    #[arg(long, value_name = "NAME|ARN")]
    pub topic: Option<String>,
    /// Subscription to make on the topic, PROTOCOL:ENDPOINT (repeatable), e.g. email:sec@example.com.
    #[arg(long, value_name = "PROTOCOL:ENDPOINT")]
    pub subscribe: Vec<String>,
    /// Also make these scanners pass (comma-separated: securityhub, prowler, steampipe, cloudsploit);
    /// may rewrite patterns or add filters, each explained in the plan.
    #[arg(long, value_name = "SCANNER,...")]
    pub satisfy: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover the live chain, compare it with the baseline, and print what would change. Changes nothing.
    ///
    /// Exit codes: 0 every control holds, 2 changes planned or controls blocked/unknown, 1 error.
    Plan(plan_cmd::PlanArgs),
    /// Make exactly the planned changes, journaling each for rollback.
    ///
    /// Asks for `yes` first unless --yes; refuses without a terminal. Exit 0 when every change
    /// was made, 1 otherwise (the journal is kept and the rollback command printed).
    Apply(run_cmds::ApplyArgs),
    /// Undo one run from its journal, restoring what was there before.
    Rollback(run_cmds::RollbackArgs),
    /// List the runs in the state directory, or show one.
    Runs(run_cmds::RunsArgs),
    /// Print the least-privilege IAM policy (JSON) that a cwfix command needs.
    IamPolicy {
        /// The command the policy is for.
        #[arg(long = "for", value_enum, default_value_t = crate::iam::Mode::Plan)]
        mode: crate::iam::Mode,
    },
    /// List the shipped baselines, or show one.
    Baselines {
        #[command(subcommand)]
        cmd: Option<BaselinesCmd>,
    },
    /// Replay CloudTrail archives against a baseline: how often each alarm would have fired, and why.
    Backtest(backtest_cmd::BacktestArgs),
    /// Run a threat-hunting query (Logs Insights syntax) locally over CloudTrail files, in Athena or in Insights.
    Hunt(hunt_cmd::HuntArgs),
    /// Work with CloudWatch Logs filter patterns (parse, test against events, compare).
    #[command(subcommand)]
    Pattern(pattern_cmd::PatternCmd),
}

#[derive(Debug, Subcommand)]
pub enum BaselinesCmd {
    /// Print one baseline (name or path), resolved, with canonical patterns.
    Show { name: String },
}

/// Decisions about the terminal, made once.
pub struct Term {
    pub style: crate::render::Style,
    pub stderr_is_tty: bool,
    pub stdin_is_tty: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub json: bool,
}

fn term(cli: &Cli) -> Term {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stdout().is_terminal() && !no_color && !dumb && cli.output == OutputFormat::Human,
    };
    Term {
        style: crate::render::Style { color },
        stderr_is_tty: std::io::stderr().is_terminal(),
        stdin_is_tty: std::io::stdin().is_terminal(),
        quiet: cli.quiet,
        verbose: cli.verbose,
        json: cli.output == OutputFormat::Json,
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match (cli.quiet, cli.verbose) {
        // The SDK logs recoverable trouble (IMDS probes, retries) with Debug dumps at WARN;
        // cwfix reports what matters itself, so other crates stay silent unless -vvv.
        (true, _) => "cwfix=error",
        (_, 0) => "cwfix=warn",
        (_, 1) => "cwfix=debug",
        (_, 2) => "cwfix=trace",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let t = term(&cli);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(&cli, &t, &mut out).and_then(|exit| {
        out.flush()?;
        Ok(exit)
    });
    match result {
        Ok(exit) => std::process::ExitCode::from(exit.code()),
        Err(err) => {
            // A closed pipe (`cwfix plan | head`) is a quiet success, as in ripgrep.
            if err
                .chain()
                .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
            {
                return std::process::ExitCode::SUCCESS;
            }
            report_error(&err);
            std::process::ExitCode::from(Exit::Failure.code())
        }
    }
}

fn run(cli: &Cli, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Pattern(cmd) => pattern_cmd::run(cmd, cli.output, out),
        Command::Backtest(args) => backtest_cmd::run(args, cli.output, out),
        Command::Hunt(args) => hunt_cmd::run(args, cli.output, out),
        Command::Baselines { cmd } => baselines(cmd.as_ref(), cli.output, out),
        Command::Plan(args) => runtime()?.block_on(plan_cmd::run(args, cli.output, t, out)),
        Command::Apply(args) => runtime()?.block_on(run_cmds::apply(args, cli.output, t, out)),
        Command::Rollback(args) => runtime()?.block_on(run_cmds::rollback(args, cli.output, t, out)),
        Command::Runs(args) => run_cmds::runs(args, cli.output, out),
        Command::IamPolicy { mode } => {
            serde_json::to_writer_pretty(&mut *out, &crate::iam::policy(*mode))?;
            writeln!(out)?;
            Ok(Exit::Success)
        }
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn baselines(cmd: Option<&BaselinesCmd>, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    use crate::baseline;
    match cmd {
        None => {
            let mut rows = Vec::new();
            for name in baseline::shipped_names() {
                let b = baseline::load(name)?;
                rows.push(b);
            }
            if format == OutputFormat::Json {
                let doc: Vec<_> = rows
                    .iter()
                    .map(|b| serde_json::json!({"name": b.name, "aliases": b.aliases, "title": b.title, "source": b.source, "controls": b.controls.len(), "queries": b.queries.len(), "min_retention_days": b.min_retention_days}))
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else {
                let w = rows.iter().map(|b| b.name.len()).max().unwrap_or(0);
                for b in &rows {
                    let default = if b.name == baseline::DEFAULT_BASELINE { " (default)" } else { "" };
                    let mut extra = String::new();
                    if !b.queries.is_empty() {
                        extra.push_str(&format!(", {} saved queries", b.queries.len()));
                    }
                    if let Some(d) = b.min_retention_days {
                        extra.push_str(&format!(", retention >= {d} days"));
                    }
                    writeln!(out, "{:<w$}  {:>2} controls{extra}  {}{}", b.name, b.controls.len(), b.title, default)?;
                    if !b.aliases.is_empty() {
                        writeln!(out, "{:<w$}  also: {}", "", b.aliases.join(", "))?;
                    }
                    writeln!(out, "{:<w$}  source: {}", "", b.source)?;
                }
            }
        }
        Some(BaselinesCmd::Show { name }) => {
            let b = baseline::load(name).map_err(anyhow::Error::from)?;
            if format == OutputFormat::Json {
                let doc = serde_json::json!({
                    "name": b.name, "title": b.title, "source": b.source, "aliases": b.aliases, "notes": b.notes,
                    "hash": b.hash(), "alarm": b.alarm, "notification": b.notification,
                    "controls": b.controls.iter().map(|c| serde_json::json!({
                        "id": c.id, "title": c.title, "pattern": c.pattern.source(), "canonical": c.pattern.canonical(),
                        "metric_name": c.metric_name, "namespace": c.namespace, "filter_name": c.filter_name,
                        "alarm_name": c.alarm_name, "scanner_ids": c.scanner_ids,
                    })).collect::<Vec<_>>(),
                });
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{} — {}", b.name, b.title)?;
                writeln!(out, "source: {}", b.source)?;
                for n in &b.notes {
                    writeln!(out, "note: {n}")?;
                }
                let a = &b.alarm;
                writeln!(
                    out,
                    "alarm: {} over {} s {} {} for {} period(s), missing data {}",
                    a.statistic,
                    a.period,
                    a.comparison_operator,
                    a.threshold,
                    a.evaluation_periods,
                    a.treat_missing_data
                )?;
                writeln!(out, "topic: {}", b.notification.topic.name())?;
                for s in &b.notification.subscriptions {
                    writeln!(out, "  subscription: {}:{}", s.protocol, s.endpoint)?;
                }
                for c in &b.controls {
                    writeln!(out)?;
                    writeln!(out, "{}  {}", c.id, c.title)?;
                    writeln!(out, "  metric   {}/{}", c.namespace, c.metric_name)?;
                    writeln!(out, "  filter   {}", c.filter_name)?;
                    writeln!(out, "  alarm    {}", c.alarm_name)?;
                    writeln!(out, "  pattern  {}", c.pattern.source().trim())?;
                }
            }
        }
    }
    Ok(Exit::Success)
}

/// Renders an error once, at the edge: `error:` line, its causes, and a hint when one helps.
fn report_error(err: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        let _ = writeln!(stderr, "error: {top}");
    }
    for cause in chain {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
    if let Some(h) = hint(err) {
        let _ = writeln!(stderr, "hint: {h}");
    }
}

fn hint(err: &anyhow::Error) -> Option<String> {
    use crate::aws::Error as E;
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<E>() {
            return Some(match e {
                E::Transport { .. } => match std::env::var("AWS_ENDPOINT_URL") {
                    Ok(url) => format!("AWS_ENDPOINT_URL is `{url}`: is that endpoint up? (unset it to talk to real AWS)"),
                    Err(_) => "check the network and the region; a proxy or firewall may block AWS endpoints".into(),
                },
                E::Credentials { .. } => "configure credentials: `aws configure`, `aws sso login --profile NAME` with --profile NAME, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
                E::AccessDenied { action, .. } => format!("grant `{action}` to the caller; `cwfix iam-policy --for plan|apply` prints the least-privilege policy"),
                E::Throttled { .. } => "AWS kept throttling; try again later or raise --max-attempts".into(),
                _ => return None,
            });
        }
        if cause.downcast_ref::<crate::baseline::Error>().is_some() {
            return Some(
                "`cwfix baselines` lists the shipped baselines; docs/baseline-format.md describes the file format"
                    .into(),
            );
        }
    }
    None
}

/// Parses `PROTOCOL:ENDPOINT`.
pub(crate) fn parse_subscriptions(v: &[String]) -> anyhow::Result<Vec<crate::baseline::WantedSubscription>> {
    v.iter()
        .map(|s| {
            let (p, e) = s.split_once(':').ok_or_else(|| {
                anyhow::anyhow!("--subscribe `{s}`: expected PROTOCOL:ENDPOINT, e.g. email:sec@example.com")
            })?;
            Ok(crate::baseline::WantedSubscription { protocol: p.to_string(), endpoint: e.to_string() })
        })
        .collect()
}
