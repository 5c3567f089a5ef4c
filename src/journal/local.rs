//! The local state directory (default `.cwfix/` in the working directory):
//! `runs/<run-id>/{plan.json,journal.jsonl}` and the `lock` file. File I/O only.
//!
//! The journal file is JSON Lines, appended and fsynced record by record. The directory is
//! created private (0700, files 0600); an existing one is never loosened but checked, and
//! refused if it is a symbolic link, another user's, or writable by group or others. The lock
//! is an `flock` on `lock`, so the OS releases it when its process dies, and the file names
//! its holder for whoever is refused.

use super::{io_err as io, parse_lines, Error, Header, Holder, Listing, Lock, LockKind, Record, Result, RunLog};
use super::{valid_run_id, RunWriter, Sink, Store};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// A state directory on this machine.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
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

/// Synchronous, since a directory needs no network: the [`Store`] methods call these.
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

    fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Takes the exclusive lock of this state directory.
    pub fn lock(&self, run_id: &str) -> Result<Lock> {
        private_dir(&self.root)?;
        let path = self.lock_path();
        let mut file =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io(&path))?;
        if fs2::FileExt::try_lock_exclusive(&file).is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let run_id = super::holder_run(&holder).map(str::to_string);
            return Err(Error::Locked {
                path: path.display().to_string(),
                holder: if holder.trim().is_empty() { "holder unknown".into() } else { holder.trim().to_string() },
                run_id,
                stays_after_death: false,
            });
        }
        file.set_len(0).map_err(io(&path))?;
        writeln!(file, "{}", Holder::me(run_id)).map_err(io(&path))?;
        Ok(Lock { kind: LockKind::File { _file: file, path } })
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
        let mut file = private_file(&path, true).map_err(io(&path))?;
        let mut line = serde_json::to_vec(&Record::Header(header.clone()))
            .map_err(|e| Error::Io { path: path.display().to_string(), source: e.into() })?;
        line.push(b'\n');
        file.write_all(&line).and_then(|_| file.sync_data()).map_err(io(&path))?;
        // Make the new directory entries themselves durable.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(RunWriter::new(Sink::File { file, path }))
    }

    /// Reads one run's journal.
    pub fn load(&self, id: &str) -> Result<RunLog> {
        let unknown = || Error::UnknownRun { id: id.into(), dir: self.runs_dir().display().to_string() };
        if !valid_run_id(id) {
            return Err(unknown());
        }
        let path = self.runs_dir().join(id).join("journal.jsonl");
        if !path.exists() {
            return Err(unknown());
        }
        read_journal(&path)
    }

    /// Every readable run, oldest first, and the runs that could not be read (with why).
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
        listing.sort();
        Ok(listing)
    }

    /// The holder line of a lock some live process holds (a lock file nobody `flock`s is stale
    /// text, not a lock).
    pub fn lock_holder(&self) -> Result<Option<String>> {
        let path = self.lock_path();
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        if fs2::FileExt::try_lock_exclusive(&file).is_ok() {
            let _ = fs2::FileExt::unlock(&file);
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(Some(if text.trim().is_empty() { "holder unknown".into() } else { text.trim().to_string() }))
    }
}

impl Store for StateDir {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn run_location(&self, id: &str) -> String {
        self.runs_dir().join(id).display().to_string()
    }

    async fn lock(&self, run_id: &str) -> Result<Lock> {
        StateDir::lock(self, run_id)
    }

    async fn create_run(&self, header: &Header, plan: &Value) -> Result<RunWriter> {
        StateDir::create_run(self, header, plan)
    }

    async fn load(&self, id: &str) -> Result<RunLog> {
        StateDir::load(self, id)
    }

    async fn list(&self) -> Result<Listing> {
        StateDir::list(self)
    }

    async fn lock_holder(&self) -> Result<Option<String>> {
        StateDir::lock_holder(self)
    }

    /// A local lock belongs to a live process (the OS drops it with the process), so there is
    /// never a stale one to remove: a held lock is refused, and no lock is `None`.
    async fn unlock(&self, _run_id: &str) -> Result<Option<String>> {
        match StateDir::lock_holder(self)? {
            None => Ok(None),
            Some(holder) => Err(Error::Locked {
                path: self.lock_path().display().to_string(),
                holder,
                run_id: None,
                stays_after_death: false,
            }),
        }
    }
}

fn read_journal(path: &Path) -> Result<RunLog> {
    let f = File::open(path).map_err(io(path))?;
    let mut raw = Vec::new();
    let mut r = BufReader::new(f);
    loop {
        let mut buf = Vec::new();
        let n = r.read_until(b'\n', &mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        raw.push(buf);
    }
    parse_lines(&path.display().to_string(), &raw)
}
