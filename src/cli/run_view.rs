//! What the writing commands share: where the state is (flag, environment, config file), the
//! confirmation prompt, and running steps under the lock with a fresh journal while printing
//! progress.

use super::error::WithHint;
use super::{AwsArgs, Exit, OutputFormat, Term};
use crate::apply::{self, Event, Step};
use crate::aws::live::{self, ConnectOptions, Live};
use crate::aws::s3::{Bucket, Encryption};
use crate::journal::{self, AnyStore, Header, Location, Lock, RunKind, Store};
use anyhow::bail;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Where run journals and the lock live: a directory, or s3://BUCKET/PREFIX to share them
    /// between machines [default: `state_dir` in the config file, else .cwfix]
    #[arg(long, global = true, value_name = "DIR|s3://BUCKET/PREFIX", env = "CWFIX_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// KMS key (id, ARN or alias/NAME) to encrypt a state in S3 with (SSE-KMS) instead of
    /// SSE-S3 (AES256) [default: `state_kms_key` in the config file]
    #[arg(long, global = true, value_name = "KEY", env = "CWFIX_STATE_KMS_KEY")]
    pub state_kms_key: Option<String>,
}

/// The optional config file: `$CWFIX_CONFIG`, else `$XDG_CONFIG_HOME/cwfix/config.toml`, else
/// `~/.config/cwfix/config.toml`. Flags and environment variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    state_dir: Option<PathBuf>,
    state_kms_key: Option<String>,
}

fn config() -> anyhow::Result<Config> {
    let (path, explicit) = match std::env::var_os("CWFIX_CONFIG").filter(|v| !v.is_empty()) {
        Some(p) => (PathBuf::from(p), true),
        None => {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")));
            match base {
                Some(b) => (b.join("cwfix").join("config.toml"), false),
                None => return Ok(Config::default()),
            }
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(Config::default()),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot read config file `{}`", path.display()))
                .hint("CWFIX_CONFIG names the config file; unset it to use none"))
        }
    };
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!("{}", e.message().trim_end())
            .context(format!("invalid config file `{}`", path.display()))
            .hint("the config file knows two keys: state_dir = \"s3://BUCKET/PREFIX\" and state_kms_key = \"KEY\"")
    })
}

impl StateArgs {
    /// Where the state is, and the KMS key for S3 objects: flag or environment, else the
    /// config file, else `.cwfix`.
    pub fn resolve(&self) -> anyhow::Result<(Location, Option<String>)> {
        let conf = if self.state_dir.is_some() && self.state_kms_key.is_some() { Config::default() } else { config()? };
        let dir = self.state_dir.clone().or(conf.state_dir).unwrap_or_else(|| PathBuf::from(".cwfix"));
        let location = Location::parse(&dir).map_err(|e| {
            anyhow::Error::new(e).hint(
                "give a directory or s3://BUCKET/PREFIX (--state-dir, CWFIX_STATE_DIR or state_dir in the config file)",
            )
        })?;
        Ok((location, self.state_kms_key.clone().or(conf.state_kms_key)))
    }

    /// Opens the state. A state in S3 is reached with `conn`, the command's own AWS settings
    /// (profile, region, retries), without any role it assumes for the account it changes: the
    /// state bucket usually lives in the account CI runs in.
    pub async fn open(&self, conn: &ConnectOptions) -> anyhow::Result<AnyStore> {
        let (location, kms) = self.resolve()?;
        match &location {
            Location::Dir(p) => Ok(AnyStore::Local(journal::StateDir::new(p))),
            Location::S3 { bucket, prefix } => {
                let conf = live::sdk_config(&ConnectOptions { assume_role: None, ..conn.clone() }).await;
                let encryption = kms.map(Encryption::Kms).unwrap_or_default();
                let b = Bucket::connect(&conf, bucket, encryption).await.map_err(|source| {
                    state_error(
                        journal::Error::Remote { location: location.to_string(), source },
                        &location.to_string(),
                    )
                })?;
                Ok(AnyStore::S3(journal::s3::S3Store::new(Arc::new(b), prefix)))
            }
        }
    }
}

/// `cwfix iam-policy`: the policy for `mode`, plus what the state needs when it is in S3.
pub fn iam_policy(mode: crate::iam::Mode, state: &StateArgs) -> anyhow::Result<serde_json::Value> {
    let (location, kms) = state.resolve()?;
    Ok(crate::iam::policy_with_state(mode, &location, kms.as_deref()))
}

/// How a state in S3 is reached by a command with AWS flags: its profile, region and retries
/// (see [`StateArgs::open`]).
pub fn state_connect(aws: &AwsArgs) -> ConnectOptions {
    ConnectOptions {
        profile: aws.profile.clone(),
        region: aws.regions.first().cloned(),
        max_attempts: aws.max_attempts,
        ..ConnectOptions::default()
    }
}

/// Adds the remedy to a state error: who to wait for, how to remove a dead run's lock, which
/// permission or bucket is missing.
pub fn state_error(e: journal::Error, location: &str) -> anyhow::Error {
    use crate::aws::Error as A;
    let hint = match &e {
        journal::Error::Locked { run_id, stays_after_death: true, holder, .. } => {
            let id = run_id.as_deref().unwrap_or("RUN_ID");
            let dead = if holder_is_dead(holder) { " (that process no longer runs on this host)" } else { "" };
            Some(format!(
                "if that run is still going, wait for it; if it died{dead}, remove its lock: \
                 cwfix runs unlock {id} --yes --state-dir {location}"
            ))
        }
        journal::Error::Locked { .. } => {
            Some("wait for that run to finish (a local lock goes away when its process ends)".into())
        }
        journal::Error::OtherHolder { holder_run, .. } => Some(format!(
            "name the run the lock names, once it is surely not running: cwfix runs unlock {holder_run} --yes --state-dir {location}"
        )),
        journal::Error::Remote { source: A::NotFound { message, .. }, .. } if message.starts_with("bucket") => {
            let bucket = location.trim_start_matches("s3://").split('/').next().unwrap_or("BUCKET");
            Some(format!(
                "create the bucket (`aws s3 mb s3://{bucket}`), or point --state-dir, CWFIX_STATE_DIR or state_dir in the config file at one that exists"
            ))
        }
        journal::Error::Remote { source: A::AccessDenied { action, .. }, .. } => Some(format!(
            "grant `{action}` on the state bucket; `cwfix iam-policy --for apply --state-dir {location}` prints every permission a state in S3 needs"
        )),
        _ => None,
    };
    match hint {
        Some(h) => anyhow::Error::new(e).hint(h),
        None => anyhow::Error::new(e),
    }
}

/// A holder line `pid N on HOST, ...` naming this host and a process that no longer exists.
fn holder_is_dead(holder: &str) -> bool {
    let mut words = holder.split_whitespace();
    let (Some("pid"), Some(pid), Some("on"), Some(host)) = (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    cfg!(target_os = "linux")
        && host.trim_end_matches(',') == journal::hostname()
        && pid.parse::<u32>().is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
}

/// Takes the state's lock for a new run, with the remedy when another run holds it.
pub async fn take_lock(state: &AnyStore, run_id: &str) -> anyhow::Result<Lock> {
    state.lock(run_id).await.map_err(|e| state_error(e, &state.location()))
}

/// Releases `lock` after the work done under it, whatever its outcome: a lock in S3 outlives
/// the process, so no error path may leave it behind.
pub async fn release<T>(state: &AnyStore, lock: Lock, result: anyhow::Result<T>) -> anyhow::Result<T> {
    let released = lock.release().await;
    match (result, released) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => {
            Err(state_error(e, &state.location()).context("the run is over but its lock could not be removed"))
        }
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(le)) => {
            eprintln!("warning: the lock could not be removed either: {le}");
            Err(e)
        }
    }
}

/// Asks for exactly `yes`; refuses when stdin is not a terminal.
pub fn confirm(t: &Term, what: &str) -> anyhow::Result<bool> {
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

pub fn json_line(out: &mut dyn Write, v: serde_json::Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)?;
    out.flush()
}

fn step_line(step: &Step) -> String {
    format!("{} ({})", step.address, step.op.verb())
}

/// A run about to write (under the state's lock, which the caller holds and releases): where,
/// with which header and plan document.
pub struct Run<'a> {
    pub state: &'a AnyStore,
    pub header: Header,
    pub plan_doc: serde_json::Value,
}

/// Runs steps with a fresh journal, printing progress; returns the exit code.
pub async fn run_steps(
    api: &Live,
    run: Run<'_>,
    steps: &[Step],
    format: OutputFormat,
    t: &Term,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let run_id = run.header.run_id.clone();
    let kind = run.header.kind;
    let location = run.state.location();
    let mut journal = run.state.create_run(&run.header, &run.plan_doc).await.map_err(|e| state_error(e, &location))?;
    let rollback_cmd = format!("cwfix rollback {run_id} --state-dir {location}");
    if format == OutputFormat::Json {
        json_line(
            out,
            serde_json::json!({"type": "run_start", "run_id": run_id, "kind": kind, "changes": steps.len()}),
        )?;
    } else {
        writeln!(out)?;
        writeln!(out, "Run {run_id}: journal in {}", run.state.run_location(&run_id))?;
    }
    let mut io_err: Option<std::io::Error> = None;
    let mut observe = |e: Event<'_>| {
        if let Err(e) = progress_line(out, format, t, &run_id, e) {
            io_err.get_or_insert(e);
        }
    };
    let report = apply::execute(api, steps, &mut journal, &mut observe).await;
    let report = match report {
        Ok(r) => r,
        Err(e @ apply::Error::Journal { .. }) => {
            return Err(anyhow::Error::new(e)
                .context(format!("run {run_id} stopped"))
                .hint(format!("free space or fix the state directory, then undo what was made: {rollback_cmd}")));
        }
        Err(e) => return Err(e.into()),
    };
    super::plan_cmd::report_calls(api, t, if kind == RunKind::Rollback { "rollback" } else { "apply" });
    if let Some(e) = io_err {
        // The AWS work is done and journaled; a closed stdout must not hide that.
        tracing::warn!("could not print progress: {e}");
    }
    summary(out, format, t, &run_id, kind, &report)?;
    if kind == RunKind::Apply {
        if !report.ok() {
            eprintln!("error: the apply stopped part way; what was made is journaled");
            eprintln!("hint: to undo it: {rollback_cmd}");
        } else if !t.quiet {
            eprintln!("To undo this run: {rollback_cmd}");
        }
    }
    Ok(if report.ok() { Exit::Success } else { Exit::Failure })
}

fn progress_line(
    out: &mut dyn Write,
    format: OutputFormat,
    t: &Term,
    run_id: &str,
    e: Event<'_>,
) -> std::io::Result<()> {
    match (format, e) {
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
        (OutputFormat::Json, Event::Conflict { step, found }) => json_line(
            out,
            serde_json::json!({"type": "change_conflict", "run_id": run_id, "address": step.address, "expected": step.before, "found": found}),
        ),
        (_, Event::Start { .. }) => Ok(()),
        (_, Event::Done { step, .. }) => writeln!(out, "  {} {}", t.style.green("done"), step_line(step)),
        (_, Event::Failed { step, error, .. }) => {
            writeln!(out, "  {} {}: {error}", t.style.red("FAILED"), step_line(step))
        }
        (_, Event::Conflict { step, .. }) => writeln!(
            out,
            "  {} {}: changed since the plan was made; left as it is, nothing written",
            t.style.red("STOPPED"),
            step_line(step)
        ),
    }
}

fn summary(
    out: &mut dyn Write,
    format: OutputFormat,
    t: &Term,
    run_id: &str,
    kind: RunKind,
    report: &apply::Report,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        return json_line(
            out,
            serde_json::json!({"type": "summary", "run_id": run_id, "applied": report.applied, "failed": report.failed,
                "not_attempted": report.not_attempted, "conflict": report.conflict}),
        );
    }
    writeln!(out)?;
    let noun = if kind == RunKind::Rollback { "Rollback" } else { "Apply" };
    if report.ok() {
        return writeln!(
            out,
            "{} {noun} complete! {} change(s) made. Run id: {run_id}",
            t.style.green("✓"),
            report.applied
        );
    }
    if let Some(why) = &report.conflict {
        writeln!(out, "{} {noun} stopped: {why}.", t.style.red("✗"))?;
        return writeln!(
            out,
            "  {} change(s) made before it, {} not attempted. Plan again to see the account as it is now. Run id: {run_id}",
            report.applied, report.not_attempted
        );
    }
    writeln!(
        out,
        "{} {noun} failed: {} change(s) made, {} failed, {} not attempted. Run id: {run_id}",
        t.style.red("✗"),
        report.applied,
        report.failed,
        report.not_attempted
    )
}

/// A journal header for a new run.
pub fn header(
    run_id: String,
    kind: RunKind,
    rolls_back: Option<String>,
    account: &str,
    regions: &[String],
    baseline: (&str, &str),
) -> Header {
    Header {
        run_id,
        kind,
        rolls_back,
        account: account.to_string(),
        regions: regions.to_vec(),
        baseline: baseline.0.to_string(),
        baseline_hash: baseline.1.to_string(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        started_at: journal::now(),
    }
}
