//! The backout journal: one directory per run under the state directory
//! (`<state-dir>/runs/<run-id>/{plan.json,journal.jsonl}`) and the lock file that keeps two
//! runs apart. File I/O only: no AWS, no rendering.
//!
//! The journal is append-only JSON Lines: a header, then for each AWS write an `intent`
//! (with the complete previous definition, or `null` for "absent"), fsynced *before* the call,
//! then a `done` or `failed` record after it, and an `end` record. So the journal is never
//! behind AWS: a run killed at any point leaves a journal that rollback can finish.
//! A torn last line (the process died mid-write) is ignored on reading; a bad line in the
//! middle is corruption and an error.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use state directory `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("another cwfix run holds the lock `{path}` ({holder})")]
    Locked { path: String, holder: String },
    #[error("no run `{id}` in `{dir}` (`cwfix runs` lists the runs there)")]
    UnknownRun { id: String, dir: String },
    #[error("journal `{path}` is corrupt at line {line}: {message}")]
    Corrupt { path: String, line: usize, message: String },
    #[error("refusing state directory `{path}`: {why}")]
    Unsafe { path: String, why: String },
}

type Result<T> = std::result::Result<T, Error>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
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

/// The state directory (default `.cwfix/` in the working directory).
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Held while a run writes; released on drop (and by the OS if the process dies).
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Leave the file; clearing its holder text is enough (the flock is what counts).
        let _ = std::fs::write(&self.path, b"");
    }
}

/// Makes `path` (and missing parents) a directory only its owner can use. An existing directory
/// is never changed: it is checked, and refused if it is a symlink, another user's, or writable
/// by group or others (a journal there could be altered, or a lock faked).
#[cfg(unix)]
fn private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let refuse = |why: String| Error::Unsafe { path: path.display().to_string(), why };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(io(path));
        }
        Err(e) => return Err(io(path)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(refuse("it is a symbolic link; give the real directory".into()));
        }
        Ok(m) if !m.is_dir() => return Err(refuse("it is not a directory".into())),
        Ok(m) => {
            let me = effective_uid();
            if m.uid() != me {
                return Err(refuse(format!("it belongs to uid {}, not to you (uid {me})", m.uid())));
            }
            if m.mode() & 0o022 != 0 {
                return Err(refuse(format!(
                    "it is writable by group or others (mode {:o}); use a private directory (chmod 700)",
                    m.mode() & 0o7777
                )));
            }
        }
    }
    Ok(())
}

/// The effective uid, from the owner of a file this process just created (std has no getuid).
#[cfg(unix)]
fn effective_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    static UID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or_else(|_| {
            let probe = std::env::temp_dir().join(format!(".cwfix-uid-{}", std::process::id()));
            let uid = std::fs::File::create(&probe).and_then(|f| f.metadata()).map(|m| m.uid()).unwrap_or(0);
            let _ = std::fs::remove_file(&probe);
            uid
        })
    })
}

#[cfg(not(unix))]
fn private_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(io(path))
}

fn private_file(path: &Path, append: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Takes the exclusive lock of this state directory.
    pub fn lock(&self, run_id: &str) -> Result<Lock> {
        private_dir(&self.root)?;
        let path = self.root.join("lock");
        let mut file =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io(&path))?;
        if fs2::FileExt::try_lock_exclusive(&file).is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(Error::Locked {
                path: path.display().to_string(),
                holder: if holder.trim().is_empty() { "holder unknown".into() } else { holder.trim().to_string() },
            });
        }
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        file.set_len(0).map_err(io(&path))?;
        writeln!(file, "pid {} on {host}, run {run_id}, since {}", std::process::id(), now()).map_err(io(&path))?;
        Ok(Lock { _file: file, path })
    }

    /// Creates the run directory with its plan and the journal's header, fsynced.
    pub fn create_run(&self, header: &Header, plan: &Value) -> Result<RunWriter> {
        let dir = self.runs_dir().join(&header.run_id);
        private_dir(&self.runs_dir())?;
        private_dir(&dir)?;
        let plan_path = dir.join("plan.json");
        let mut pf = private_file(&plan_path, false).map_err(io(&plan_path))?;
        serde_json::to_writer_pretty(&mut pf, plan)
            .map_err(|e| Error::Io { path: plan_path.display().to_string(), source: e.into() })?;
        pf.sync_all().map_err(io(&plan_path))?;
        let path = dir.join("journal.jsonl");
        let file = private_file(&path, true).map_err(io(&path))?;
        let mut w = RunWriter {
            file,
            path,
            seq: 0,
            #[cfg(test)]
            room: None,
        };
        w.append(&Record::Header(header.clone()))?;
        // Make the new directory entries themselves durable.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(w)
    }

    /// Reads one run's journal.
    pub fn load(&self, id: &str) -> Result<RunLog> {
        if id.is_empty() || id.contains('/') || id.contains('\\') || id.contains("..") {
            return Err(Error::UnknownRun { id: id.into(), dir: self.runs_dir().display().to_string() });
        }
        let path = self.runs_dir().join(id).join("journal.jsonl");
        if !path.exists() {
            return Err(Error::UnknownRun { id: id.into(), dir: self.runs_dir().display().to_string() });
        }
        read_journal(&path)
    }

    /// Every readable run, oldest first, and the runs that could not be read (with why): one
    /// damaged journal must not hide the others.
    pub fn list(&self) -> Result<Listing> {
        let dir = self.runs_dir();
        if !dir.exists() {
            return Ok(Listing::default());
        }
        let mut ids: Vec<String> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        let mut listing = Listing::default();
        for id in ids {
            match self.load(&id) {
                Ok(r) => listing.runs.push(r),
                Err(e) => listing.unreadable.push((id, e.to_string())),
            }
        }
        listing
            .runs
            .sort_by(|a, b| (&a.header.started_at, &a.header.run_id).cmp(&(&b.header.started_at, &b.header.run_id)));
        Ok(listing)
    }
}

/// What `StateDir::list` found.
#[derive(Debug, Default)]
pub struct Listing {
    pub runs: Vec<RunLog>,
    /// (run id, why it could not be read).
    pub unreadable: Vec<(String, String)>,
}

/// Appends records, each flushed and fsynced before returning.
pub struct RunWriter {
    file: File,
    path: PathBuf,
    seq: usize,
    /// Tests: appends left before the disk is "full".
    #[cfg(test)]
    pub(crate) room: Option<usize>,
}

impl RunWriter {
    pub fn append(&mut self, r: &Record) -> Result<()> {
        #[cfg(test)]
        if let Some(room) = self.room.as_mut() {
            if *room == 0 {
                let full = std::io::Error::from_raw_os_error(28); // ENOSPC
                return Err(Error::Io { path: self.path.display().to_string(), source: full });
            }
            *room -= 1;
        }
        let mut line =
            serde_json::to_vec(r).map_err(|e| Error::Io { path: self.path.display().to_string(), source: e.into() })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        Ok(())
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

fn read_journal(path: &Path) -> Result<RunLog> {
    let f = File::open(path).map_err(io(path))?;
    let raw = {
        let mut v = Vec::new();
        let mut r = BufReader::new(f);
        loop {
            let mut buf = Vec::new();
            let n = r.read_until(b'\n', &mut buf).map_err(io(path))?;
            if n == 0 {
                break;
            }
            v.push(buf);
        }
        v
    };
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
            Err(e) => {
                return Err(Error::Corrupt { path: path.display().to_string(), line: i + 1, message: e.to_string() })
            }
        }
    }
    let header = match records.first() {
        Some(Record::Header(h)) => h.clone(),
        _ => {
            return Err(Error::Corrupt {
                path: path.display().to_string(),
                line: 1,
                message: "the first record is not a header".into(),
            })
        }
    };
    Ok(RunLog { header, records, torn_tail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: &str) -> Header {
        Header {
            run_id: id.into(),
            kind: RunKind::Apply,
            rolls_back: None,
            account: "123456789012".into(),
            regions: vec!["us-east-1".into()],
            baseline: "cis-v7.0".into(),
            baseline_hash: "h".into(),
            cwfix_version: "0".into(),
            started_at: now(),
        }
    }

    #[test]
    fn write_read_roundtrip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path().join(".cwfix"));
        let _lock = sd.lock("r1").unwrap();
        let mut w = sd.create_run(&header("r1"), &serde_json::json!({"x": 1})).unwrap();
        let seq = w.next_seq();
        w.append(&Record::Intent {
            seq,
            address: "a".into(),
            region: "us-east-1".into(),
            op: serde_json::json!({"op":"x"}),
            before: None,
            at: now(),
        })
        .unwrap();
        drop(w);
        // Simulate a death mid-write.
        let p = dir.path().join(".cwfix/runs/r1/journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"type\":\"done\",\"se").unwrap();
        let log = sd.load("r1").unwrap();
        assert!(log.torn_tail);
        assert_eq!(log.intents(), 1);
        assert_eq!(log.status(), RunStatus::Incomplete);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let w = sd.create_run(&header("r2"), &serde_json::json!({})).unwrap();
        drop(w);
        let p = dir.path().join("runs/r2/journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"garbage\n{\"type\":\"end\",\"status\":\"completed\",\"applied\":0,\"failed\":0,\"at\":\"x\"}\n")
            .unwrap();
        let err = sd.load("r2").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        let _a = sd.lock("one").unwrap();
        let err = sd.lock("two").err().unwrap().to_string();
        assert!(err.contains("run one"), "{err}");
    }

    #[test]
    fn unknown_run() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path());
        assert!(matches!(sd.load("nope"), Err(Error::UnknownRun { .. })));
        assert!(matches!(sd.load("../x"), Err(Error::UnknownRun { .. })));
    }

    #[test]
    fn run_ids_and_times_sort_by_time() {
        let id = new_run_id();
        assert_eq!(id.len(), "20261123T141023Z-7f3a".len());
        assert!(id.starts_with("20"));
        // Fixed width, so a time on a whole second does not sort after the next millisecond.
        let t = now();
        assert_eq!(t.len(), "2026-11-23T14:10:23.040Z".len(), "{t}");
        assert!(time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok(), "{t}");
    }
}
