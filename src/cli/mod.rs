//! The command line: argument parsing, output routing, prompts and the single exit point.
//! Nothing else in the crate imports this module. Results go to stdout; logs, progress,
//! warnings, prompts and errors to stderr.

mod apply_cmd;
mod backtest_cmd;
mod baselines_cmd;
pub mod error;
pub mod exit;
mod hunt_cmd;
mod org_plan;
pub mod pattern_cmd;
mod plan_cmd;
mod rollback_cmd;
mod run_view;
mod runs_cmd;

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use exit::Exit;
use std::io::{IsTerminal, Write};

/// Result documents on stdout: human text, JSON, or (for `plan` only) findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
    /// SARIF 2.1.0 (code scanning), `plan` only.
    Sarif,
    /// AWS Security Finding Format (Security Hub BatchImportFindings), `plan` only.
    Asff,
    /// JUnit XML (CI test reports), `plan` only.
    Junit,
    /// CSV, one row per control and account, `plan` only.
    Csv,
}

impl OutputFormat {
    /// The findings format, for the formats only `plan` speaks.
    pub fn findings(self) -> Option<crate::render::findings::Format> {
        use crate::render::findings::Format;
        match self {
            OutputFormat::Sarif => Some(Format::Sarif),
            OutputFormat::Asff => Some(Format::Asff),
            OutputFormat::Junit => Some(Format::Junit),
            OutputFormat::Csv => Some(Format::Csv),
            OutputFormat::Human | OutputFormat::Json => None,
        }
    }
}

/// Where `plan --findings` sends the ASFF findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsTarget {
    /// Security Hub (BatchImportFindings) of each account planned, in each finding's region.
    Securityhub,
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
    /// Role to assume in each of --accounts, or in each member account with --org (default
    /// `OrganizationAccountAccessRole` there), e.g. `OrganizationAccountAccessRole` or a path/name.
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

/// The accounts of an AWS Organization to work in (`--org`), for `plan` and `apply`.
#[derive(Debug, Clone, Default, Args)]
pub struct OrgArgs {
    /// Work in every ACTIVE account of the organization (organizations:ListAccounts): each
    /// member through --role-name (default `OrganizationAccountAccessRole`), the caller's own
    /// account (the management account) with the caller's credentials.
    #[arg(long, conflicts_with_all = ["assume_roles", "accounts"])]
    pub org: bool,
    /// With --org: only the accounts under this organizational unit or root, at any depth
    /// (e.g. `ou-ab12-cd34ef56`).
    #[arg(long, value_name = "OU_ID", requires = "org")]
    pub ou: Option<String>,
    /// With --org: leave these accounts out (comma-separated ids).
    #[arg(long, value_name = "ID,...", value_delimiter = ',', requires = "org")]
    pub exclude_accounts: Vec<String>,
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
    /// Exit codes: 0 every control holds; 1 error (any error, including a command-line
    /// mistake); 2 changes are planned; 3 nothing cwfix can change, but controls are blocked or
    /// unknown (a person must act: confirm a subscription, fix a trail, grant a read).
    /// `--exit-zero` exits 0 instead of 2 or 3.
    ///
    /// Several accounts (--org, --accounts, repeated --assume-role): 1 if any account could
    /// not be read (its role could not be assumed, its identity could not be read, throttling
    /// outlasted the retries) or `--findings` could not send every finding, even with
    /// --exit-zero; otherwise the highest of 0, 3, 2 over the accounts read, where a member
    /// whose chain lives in another account planned in the same run counts as that account.
    Plan(plan_cmd::PlanArgs),
    /// Make exactly the planned changes, journaling each for rollback.
    ///
    /// Asks for `yes` first unless --yes; refuses without a terminal. Exit 0 when every change
    /// was made, 1 otherwise (the journal is kept and the rollback command printed).
    Apply(apply_cmd::ApplyArgs),
    /// Undo one run from its journal, restoring what was there before.
    Rollback(rollback_cmd::RollbackArgs),
    /// List the runs in the state directory, or show one.
    Runs(runs_cmd::RunsArgs),
    /// Print the least-privilege IAM policy (JSON) that a cwfix command needs.
    IamPolicy {
        /// The command the policy is for.
        #[arg(long = "for", value_enum, default_value_t = crate::iam::Mode::Plan)]
        mode: crate::iam::Mode,
        /// Add what `--org` needs of the caller: listing the organization's accounts and
        /// assuming the member role (`--role-name`) in each.
        #[arg(long)]
        org: bool,
        /// Add what `plan --findings securityhub` needs in each account: BatchImportFindings.
        #[arg(long, value_name = "securityhub")]
        findings: Option<FindingsTarget>,
        // With --for apply and a state in S3: also the S3 (and KMS) permissions the state needs.
        #[command(flatten)]
        state: run_view::StateArgs,
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell, e.g. `cwfix completions bash > /etc/bash_completion.d/cwfix`.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `cwfix man | man -l -`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum BaselinesCmd {
    /// Print one baseline (name or path), resolved, with canonical patterns.
    Show { name: String },
}

/// Decisions about the terminal, made once.
pub struct Term {
    pub style: crate::render::Style,
    /// `NO_COLOR` unset or empty and `TERM` not `dumb`.
    pub color_allowed: bool,
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
        color_allowed: !no_color && !dumb,
        stderr_is_tty: std::io::stderr().is_terminal(),
        stdin_is_tty: std::io::stdin().is_terminal(),
        quiet: cli.quiet,
        verbose: cli.verbose,
        json: cli.output != OutputFormat::Human,
    }
}

fn init_logging(cli: &Cli, t: &Term) {
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
    // Colour codes only on a terminal, and only when colour is on (never into a pipe or file).
    let ansi = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => t.stderr_is_tty && t.color_allowed,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .try_init();
}

pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let t = term(&cli);
    init_logging(&cli, &t);
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
            error::report(&err);
            std::process::ExitCode::from(Exit::Failure.code())
        }
    }
}

fn run(cli: &Cli, t: &Term, out: &mut dyn Write) -> anyhow::Result<Exit> {
    if cli.output.findings().is_some() && !matches!(cli.command, Command::Plan(_)) {
        anyhow::bail!(
            "`--output {}` is a findings format that only `cwfix plan` writes; use human or json here",
            format!("{:?}", cli.output).to_lowercase()
        );
    }
    match &cli.command {
        Command::Pattern(cmd) => pattern_cmd::run(cmd, cli.output, out),
        Command::Backtest(args) => backtest_cmd::run(args, cli.output, out),
        Command::Baselines { cmd } => baselines_cmd::run(cmd.as_ref(), cli.output, out),
        Command::Hunt(args) => hunt_cmd::run(args, cli.output, out),
        Command::Plan(args) => runtime()?.block_on(plan_cmd::run(args, cli.output, t, out)),
        Command::Apply(args) => runtime()?.block_on(apply_cmd::run(args, cli.output, t, out)),
        Command::Rollback(args) => runtime()?.block_on(rollback_cmd::run(args, cli.output, t, out)),
        Command::Runs(args) => runs_cmd::run(args, cli.output, out),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut <Cli as clap::CommandFactory>::command(), "cwfix", &mut script);
            out.write_all(&script)?;
            Ok(Exit::Success)
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)?;
            Ok(Exit::Success)
        }
        Command::IamPolicy { mode, org, findings, state } => {
            let extras = crate::iam::Extras { org: *org, findings: findings.is_some() };
            let doc = crate::iam::with_extras(run_view::iam_policy(*mode, state)?, extras);
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
            Ok(Exit::Success)
        }
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// Help and version go to stdout with exit 0; any other command-line mistake is an error,
/// exit 1 (clap's own 2 would read as "changes planned" to a CI job).
fn usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::from(Exit::Failure.code()),
    }
}

/// Parses and checks `--subscribe` values (`PROTOCOL:ENDPOINT`, or a bare https:// URL).
pub(crate) fn parse_subscriptions(v: &[String]) -> anyhow::Result<Vec<crate::baseline::WantedSubscription>> {
    v.iter().map(|s| crate::baseline::target::parse(s).map_err(|e| anyhow::anyhow!("--subscribe {e}"))).collect()
}
