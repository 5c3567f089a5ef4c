//! The backout journal: one journal per run, plus the lock that keeps two runs apart, kept in
//! a state *store*. No AWS calls of its own beyond the store, no rendering.
//!
//! The journal is append-only: a header, then for each AWS write an `intent` (with the
//! complete previous definition, or `null` for "absent"), made durable *before* the call, then
//! a `done` or `failed` record after it, and an `end` record. So the journal is never behind
//! AWS: a run killed at any point leaves a journal that rollback can finish. A torn or missing
//! last record (the process died mid-write) is ignored on reading; a bad record in the middle
//! is corruption and an error.
//!
//! Two stores implement [`Store`], and the commands use them through [`AnyStore`]:
//! - [`local::StateDir`]: a private directory (`.cwfix/` by default), byte for byte as before
//!   this module had a trait: `runs/<run-id>/{plan.json,journal.jsonl}` and an `flock`ed `lock`.
//! - [`s3::S3Store`]: `s3://BUCKET/PREFIX`, one immutable object per record, each created with a
//!   conditional put; see that module for the layout and why.

pub mod local;
pub mod s3;

pub use local::StateDir;

use crate::aws::s3::Objects;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use state directory `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The S3 store failed: the bucket is missing, access was denied, the endpoint is down...
    #[error("cannot use state `{location}`")]
    Remote {
        location: String,
        #[source]
        source: crate::aws::Error,
    },
    #[error("another cwfix run holds the lock `{path}` ({holder})")]
    Locked {
        path: String,
        holder: String,
        /// The run that holds it, when the lock says (the S3 lock always does).
        run_id: Option<String>,
        /// A local lock disappears with its process; an S3 lock stays until deleted.
        stays_after_death: bool,
    },
    #[error("the lock `{path}` names another run ({holder}), not run {run_id}; nothing removed")]
    OtherHolder { path: String, holder: String, holder_run: String, run_id: String },
    #[error("no run `{id}` in `{dir}` (`cwfix runs` lists the runs there)")]
    UnknownRun { id: String, dir: String },
    #[error("journal `{path}` is corrupt at line {line}: {message}")]
    Corrupt { path: String, line: usize, message: String },
    #[error("refusing state directory `{path}`: {why}")]
    Unsafe { path: String, why: String },
    #[error("invalid state location `{given}`: {why}")]
    Location { given: String, why: String },
}

type Result<T> = std::result::Result<T, Error>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Apply,
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub run_id: String,
    pub kind: RunKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolls_back: Option<String>,
    pub account: String,
    pub regions: Vec<String>,
    pub baseline: String,
    pub baseline_hash: String,
    pub cwfix_version: String,
    pub started_at: String,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    Intent {
        seq: usize,
        address: String,
        region: String,
        /// The operation, with everything it writes (see `apply::Op`).
        op: Value,
        /// The complete previous definition, or `null` when the resource was absent.
        before: Option<Value>,
        at: String,
    },
    Done {
        seq: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        at: String,
    },
    Failed {
        seq: usize,
        error: String,
        at: String,
    },
    /// A write not made: right before it, the resource was no longer what the plan showed
    /// (or could not be read). `found` is what was there.
    Stopped {
        address: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        found: Option<Value>,
        at: String,
    },
    End {
        status: String,
        applied: usize,
        failed: usize,
        at: String,
    },
}

/// RFC 3339 UTC time with milliseconds, always three digits (`2026-11-23T14:10:23.040Z`), so
/// that times sort as strings: runs started within one second still list in order.
pub fn now() -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc().format(&fmt).unwrap_or_default()
}

/// A run id that sorts by time: `20261123T141023Z-7f3a`.
pub fn new_run_id() -> String {
    let t = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let suffix: u16 = rand::random();
    format!("{}-{:04x}", t.format(&fmt).unwrap_or_default(), suffix)
}

/// A run id that can name a directory or key: no separators, no `..`.
fn valid_run_id(id: &str) -> bool {
    !(id.is_empty() || id.contains('/') || id.contains('\\') || id.contains(".."))
}

/// This machine's name, for the lock's holder line (CI runners differ by it).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Who holds a lock: written into it when it is taken, shown when another run is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub run_id: String,
    pub since: String,
    #[serde(default)]
    pub cwfix_version: String,
}

impl Holder {
    /// This process, about to run `run_id`.
    pub fn me(run_id: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            run_id: run_id.to_string(),
            since: now(),
            cwfix_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}, run {}, since {}", self.pid, self.host, self.run_id, self.since)
    }
}

/// The run a holder line (`pid N on HOST, run ID, since T`) names.
pub fn holder_run(holder: &str) -> Option<&str> {
    holder.split(", run ").nth(1).and_then(|s| s.split(',').next()).filter(|r| !r.is_empty())
}

/// Where state lives, as given by `--state-dir`, `CWFIX_STATE_DIR` or the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    /// `s3://BUCKET/PREFIX`; `prefix` has no leading or trailing `/` and may be empty.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl Location {
    /// `s3://BUCKET[/PREFIX]` is S3; any other `scheme://` is refused; the rest is a directory.
    pub fn parse(given: &Path) -> Result<Location> {
        let Some(s) = given.to_str() else { return Ok(Location::Dir(given.to_path_buf())) };
        let bad = |why: &str| Error::Location { given: s.to_string(), why: why.to_string() };
        let Some(rest) = s.strip_prefix("s3://") else {
            if let Some((scheme, _)) = s.split_once("://") {
                if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') {
                    return Err(bad("only local directories and s3://BUCKET/PREFIX are supported"));
                }
            }
            return Ok(Location::Dir(given.to_path_buf()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_bucket {
            return Err(bad("the bucket name must be 3-63 characters: lowercase letters, digits, `-` and `.`"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|seg| seg == "." || seg == "..") || prefix.contains("//") {
            return Err(bad("the prefix may not contain empty, `.` or `..` segments"));
        }
        Ok(Location::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// What a state store does. Each run writes through the [`RunWriter`] it gets from
/// `create_run`, under the [`Lock`] it took first.
#[allow(async_fn_in_trait)] // used within cwfix, never across threads
pub trait Store {
    /// The store as the user names it (`.cwfix`, `s3://bucket/prefix`), for messages and for
    /// the `--state-dir` of printed commands.
    fn location(&self) -> String;
    /// Where one run's journal is, for messages.
    fn run_location(&self, id: &str) -> String;
    /// Takes the store's exclusive lock for `run_id`, or says who holds it.
    async fn lock(&self, run_id: &str) -> Result<Lock>;
    /// Creates the run with its plan and the journal's header, durable before returning.
    async fn create_run(&self, header: &Header, plan: &Value) -> Result<RunWriter>;
    /// Reads one run's journal.
    async fn load(&self, id: &str) -> Result<RunLog>;
    /// Every readable run, oldest first, and the runs that could not be read (with why): one
    /// damaged journal must not hide the others.
    async fn list(&self) -> Result<Listing>;
    /// Who holds the lock right now, if anyone.
    async fn lock_holder(&self) -> Result<Option<String>>;
    /// Removes a lock left by run `run_id` (whose process died); `None` when there is no lock.
    /// Refuses a lock that names another run, and one a live process holds.
    async fn unlock(&self, run_id: &str) -> Result<Option<String>>;
}

/// The store a command was pointed at.
pub enum AnyStore {
    Local(StateDir),
    S3(s3::S3Store),
}

impl Store for AnyStore {
    fn location(&self) -> String {
        match self {
            AnyStore::Local(s) => Store::location(s),
            AnyStore::S3(s) => s.location(),
        }
    }

    fn run_location(&self, id: &str) -> String {
        match self {
            AnyStore::Local(s) => Store::run_location(s, id),
            AnyStore::S3(s) => s.run_location(id),
        }
    }

    async fn lock(&self, run_id: &str) -> Result<Lock> {
        match self {
            AnyStore::Local(s) => Store::lock(s, run_id).await,
            AnyStore::S3(s) => s.lock(run_id).await,
        }
    }

    async fn create_run(&self, header: &Header, plan: &Value) -> Result<RunWriter> {
        match self {
            AnyStore::Local(s) => Store::create_run(s, header, plan).await,
            AnyStore::S3(s) => s.create_run(header, plan).await,
        }
    }

    async fn load(&self, id: &str) -> Result<RunLog> {
        match self {
            AnyStore::Local(s) => Store::load(s, id).await,
            AnyStore::S3(s) => s.load(id).await,
        }
    }

    async fn list(&self) -> Result<Listing> {
        match self {
            AnyStore::Local(s) => Store::list(s).await,
            AnyStore::S3(s) => s.list().await,
        }
    }

    async fn lock_holder(&self) -> Result<Option<String>> {
        match self {
            AnyStore::Local(s) => Store::lock_holder(s).await,
            AnyStore::S3(s) => s.lock_holder().await,
        }
    }

    async fn unlock(&self, run_id: &str) -> Result<Option<String>> {
        match self {
            AnyStore::Local(s) => Store::unlock(s, run_id).await,
            AnyStore::S3(s) => s.unlock(run_id).await,
        }
    }
}

/// Held while a run writes. Release it with [`Lock::release`]; a local lock is also released
/// on drop (and by the OS if the process dies), an S3 lock only by deleting it.
pub struct Lock {
    kind: LockKind,
}

enum LockKind {
    File { _file: File, path: PathBuf },
    Object { objects: Arc<dyn Objects>, key: String, run_id: String, released: bool },
}

impl Lock {
    /// Releases the lock. An S3 lock is deleted only if it still names this run (someone may
    /// have removed it with `cwfix runs unlock` and another run taken it since).
    pub async fn release(mut self) -> Result<()> {
        if let LockKind::Object { objects, key, run_id, released } = &mut self.kind {
            let remote = |source| Error::Remote { location: objects.url(key), source };
            let ours = match objects.get(key).await.map_err(remote)? {
                Some(body) => serde_json::from_slice::<Holder>(&body).is_ok_and(|h| h.run_id == *run_id),
                None => false,
            };
            if ours {
                objects.delete(key).await.map_err(remote)?;
            } else {
                tracing::warn!("the lock {} no longer named run {run_id}; left as it is", objects.url(key));
            }
            *released = true;
        }
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        match &self.kind {
            // Leave the file; clearing its holder text is enough (the flock is what counts).
            LockKind::File { path, .. } => {
                let _ = std::fs::write(path, b"");
            }
            LockKind::Object { objects, key, run_id, released: false } => {
                tracing::warn!(
                    "the lock {} of run {run_id} was not released; `cwfix runs unlock {run_id} --yes` removes it",
                    objects.url(key)
                );
            }
            LockKind::Object { .. } => {}
        }
    }
}

/// What `Store::list` found.
#[derive(Debug, Default)]
pub struct Listing {
    pub runs: Vec<RunLog>,
    /// (run id, why it could not be read).
    pub unreadable: Vec<(String, String)>,
}

impl Listing {
    fn sort(&mut self) {
        self.runs
            .sort_by(|a, b| (&a.header.started_at, &a.header.run_id).cmp(&(&b.header.started_at, &b.header.run_id)));
    }
}

/// Appends records, each durable before `append` returns: fsynced to the local file, or
/// stored as its own S3 object.
pub struct RunWriter {
    sink: Sink,
    seq: usize,
    /// Tests: appends left before the disk is "full".
    #[cfg(test)]
    pub(crate) room: Option<usize>,
}

enum Sink {
    File { file: File, path: PathBuf },
    Objects(s3::RecordSink),
}

impl RunWriter {
    fn new(sink: Sink) -> RunWriter {
        RunWriter {
            sink,
            seq: 0,
            #[cfg(test)]
            room: None,
        }
    }

    fn label(&self) -> String {
        match &self.sink {
            Sink::File { path, .. } => path.display().to_string(),
            Sink::Objects(s) => s.location(),
        }
    }

    pub async fn append(&mut self, r: &Record) -> Result<()> {
        #[cfg(test)]
        if let Some(room) = self.room.as_mut() {
            if *room == 0 {
                let full = std::io::Error::from_raw_os_error(28); // ENOSPC
                return Err(Error::Io { path: self.label(), source: full });
            }
            *room -= 1;
        }
        let mut line = serde_json::to_vec(r).map_err(|e| Error::Io { path: self.label(), source: e.into() })?;
        line.push(b'\n');
        match &mut self.sink {
            Sink::File { file, path } => {
                let io = |source| Error::Io { path: path.display().to_string(), source };
                file.write_all(&line).map_err(io)?;
                file.flush().map_err(io)?;
                file.sync_data().map_err(io)
            }
            Sink::Objects(s) => s.append(line).await,
        }
    }

    /// The next sequence number for an intent.
    pub fn next_seq(&mut self) -> usize {
        self.seq += 1;
        self.seq
    }
}

/// A journal as read back.
#[derive(Debug, Clone)]
pub struct RunLog {
    pub header: Header,
    pub records: Vec<Record>,
    /// The last line was cut off mid-write (the process died); it was ignored.
    pub torn_tail: bool,
}

/// How a run ended, as `cwfix runs` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Failed,
    /// Stopped before a write because the resource had changed since the plan.
    Stopped,
    /// No `end` record: the process died or was killed; rollback can finish it.
    Incomplete,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Incomplete => "incomplete",
        }
    }
}

impl RunLog {
    pub fn status(&self) -> RunStatus {
        match self.records.iter().rev().find_map(|r| match r {
            Record::End { status, .. } => Some(status.clone()),
            _ => None,
        }) {
            Some(s) if s == "completed" => RunStatus::Completed,
            Some(s) if s == "stopped" => RunStatus::Stopped,
            Some(_) => RunStatus::Failed,
            None => RunStatus::Incomplete,
        }
    }

    pub fn intents(&self) -> usize {
        self.records.iter().filter(|r| matches!(r, Record::Intent { .. })).count()
    }

    pub fn done(&self, seq: usize) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| matches!(r, Record::Done { seq: s, .. } | Record::Failed { seq: s, .. } if *s == seq))
    }
}

/// Parses a journal's lines (each with its `\n`, except maybe a torn last one), whatever store
/// they came from. `path` names the journal in errors.
fn parse_lines(path: &str, raw: &[Vec<u8>]) -> Result<RunLog> {
    let mut records = Vec::new();
    let mut torn_tail = false;
    let last = raw.len().saturating_sub(1);
    for (i, line) in raw.iter().enumerate() {
        let complete = line.ends_with(b"\n");
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(text.trim_end()) {
            Ok(r) => records.push(r),
            Err(_) if i == last && !complete => torn_tail = true,
            Err(e) => return Err(Error::Corrupt { path: path.to_string(), line: i + 1, message: e.to_string() }),
        }
    }
    let header = match records.first() {
        Some(Record::Header(h)) => h.clone(),
        _ => {
            return Err(Error::Corrupt {
                path: path.to_string(),
                line: 1,
                message: "the first record is not a header".into(),
            })
        }
    };
    Ok(RunLog { header, records, torn_tail })
}

#[cfg(test)]
mod tests;
