//! Reading the input files of a hunt: the one place that knows how records arrive.
//!
//! Today this is `crate::backtest::walk` (files, directories recursively, `-` for stdin, the
//! S3 layout's digest folders skipped) and `crate::events::read_path` (JSON object, array,
//! `{"Records":[…]}`, JSON Lines, gzip by magic bytes) on `jobs` worker threads fed by a
//! bounded queue: each worker holds one file's records at a time. It is meant to be swapped
//! for the faster streaming source of `backtest` without touching the rest of `hunt`.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One input file's records (or why it could not be read), numbered in walk order.
pub struct FileEvents {
    pub seq: u64,
    /// The display name (`<stdin>` for `-`).
    pub name: String,
    pub events: Result<Vec<Value>, String>,
}

/// Read every file under `paths` on `jobs` threads, calling `each` with a per-thread state
/// made by `init`. Returns the states and the number of files walked.
pub fn scan<S: Send>(
    paths: &[PathBuf],
    jobs: usize,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, FileEvents) + Sync,
) -> Result<(Vec<S>, u64), crate::backtest::Error> {
    let stdin = [PathBuf::from("-")];
    let paths: &[PathBuf] = if paths.is_empty() { &stdin } else { paths };
    let (tx, rx) = mpsc::sync_channel::<(u64, PathBuf)>(jobs * 2);
    let rx = Arc::new(Mutex::new(rx));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                let rx = Arc::clone(&rx);
                let (init, each) = (&init, &each);
                s.spawn(move || {
                    let mut state = init();
                    while let Ok(Ok((seq, path))) = rx.lock().map(|r| r.recv()) {
                        let name = if path.as_os_str() == "-" { "<stdin>".into() } else { path.display().to_string() };
                        let events = crate::events::read_path(&path).map_err(|e| why(&e, &name));
                        each(&mut state, FileEvents { seq, name, events });
                    }
                    state
                })
            })
            .collect();
        let mut seq = 0;
        let walked = crate::backtest::walk(paths, &mut |p| {
            seq += 1;
            tx.send((seq, p)).is_ok()
        });
        drop(tx);
        let states = workers.into_iter().map(|w| w.join().expect("hunt worker panicked")).collect();
        walked.map(|n| (states, n))
    })
}

/// The error without the file name (the caller prints it) but with its cause.
fn why(e: &crate::events::EventsError, name: &str) -> String {
    let mut s = e.to_string().replace(&format!("`{name}` "), "").replace(&format!(" `{name}`"), "");
    if let Some(src) = std::error::Error::source(e) {
        s = format!("{s}: {src}");
    }
    s
}
