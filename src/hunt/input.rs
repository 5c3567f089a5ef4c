//! Reading the input files of a hunt: the one place that knows how records arrive.
//!
//! Files are found by `crate::backtest::walk` (files, directories recursively, `-` for stdin,
//! the S3 layout's digest folders skipped) and decoded with the formats of `crate::events`
//! (one object, an array, the `{"Records":[…]}` envelope, JSON Lines or any concatenation,
//! gzip detected by magic bytes, a BOM ignored, a non-object record an error). Unlike
//! `events::read_path`, records are not parsed into trees here: each is handed over as its
//! raw JSON text (`&RawValue`, validated), so `@message` is the record's own text and the
//! evaluator parses only the properties a query reads. `jobs` workers pull paths from a
//! bounded queue; each holds one file at a time (its buffer is reused).
//!
//! Meant to be swapped for `backtest`'s faster streaming source without touching the rest of
//! `hunt`: the contract is "per file, in walk order: its records' texts, or why it is unreadable".

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::value::RawValue;

/// One input file's records (or why it could not be read), numbered in walk order.
pub struct FileEvents<'a> {
    pub seq: u64,
    /// The display name (`<stdin>` for `-`).
    pub name: String,
    /// Each record's JSON text (an object), in file order.
    pub events: Result<Vec<&'a RawValue>, String>,
}

/// Above this capacity a worker's buffer is released after use.
const KEEP_BUFFER: usize = 64 << 20;

/// Read every file under `paths` on `jobs` threads, calling `each` with a per-thread state
/// made by `init`. Returns the states and the number of files walked.
pub fn scan<S: Send>(
    paths: &[PathBuf],
    jobs: usize,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, FileEvents<'_>) + Sync,
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
                    let mut buf = Vec::new();
                    while let Ok(Ok((seq, path))) = rx.lock().map(|r| r.recv()) {
                        let name = if path.as_os_str() == "-" { "<stdin>".into() } else { path.display().to_string() };
                        let events = load(&path, &mut buf).and_then(|()| split(&buf));
                        each(&mut state, FileEvents { seq, name, events });
                        if buf.capacity() > KEEP_BUFFER {
                            buf = Vec::new();
                        }
                    }
                    state
                })
            })
            .collect();
        let mut seq = 0;
        let walked = crate::backtest::walk::walk(paths, &mut |p| {
            seq += 1;
            tx.send((seq, p)).is_ok()
        });
        drop(tx);
        let states = workers.into_iter().map(|w| w.join().expect("hunt worker panicked")).collect();
        walked.map(|n| (states, n)).map_err(Into::into)
    })
}

/// Read one file (`-` = stdin), decompressing gzip, into `buf`.
fn load(path: &Path, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.clear();
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|e| format!("cannot open: {e}"))?)
    };
    let mut r = BufReader::with_capacity(256 << 10, reader);
    let gz = r.fill_buf().map_err(|e| format!("cannot read: {e}"))?.starts_with(&[0x1f, 0x8b]);
    if gz {
        flate2::bufread::MultiGzDecoder::new(r)
            .read_to_end(buf)
            .map_err(|e| format!("cannot decompress (corrupt or truncated gzip data?): {e}"))?;
    } else {
        r.read_to_end(buf).map_err(|e| format!("cannot read: {e}"))?;
    }
    Ok(())
}

/// The `{"Records":[…]}` envelope: exactly one key, an array.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

fn json_error(e: serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]).to_string();
    format!("line {}, column {}: invalid JSON: {msg}", e.line(), e.column())
}

/// Split decompressed bytes into records (the formats of `crate::events::parse_bytes`).
fn split(bytes: &[u8]) -> Result<Vec<&RawValue>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    // The usual case, a CloudTrail S3 file, in one pass: the whole text is one envelope.
    if let Some(rest) = text.trim_start().strip_prefix('{') {
        if rest.trim_start().starts_with("\"Records\"") {
            if let Ok(env) = serde_json::from_str::<Envelope>(text) {
                return check_objects(env.records);
            }
        }
    }
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        let v = v.map_err(json_error)?;
        match v.get().as_bytes().first() {
            Some(b'[') => out.extend(serde_json::from_str::<Vec<&RawValue>>(v.get()).map_err(json_error)?),
            Some(b'{') => match serde_json::from_str::<Envelope>(v.get()) {
                Ok(env) => out.extend(env.records),
                Err(_) => out.push(v),
            },
            _ => out.push(v),
        }
    }
    check_objects(out)
}

/// Every record must be a JSON object.
fn check_objects(out: Vec<&RawValue>) -> Result<Vec<&RawValue>, String> {
    for (index, r) in out.iter().enumerate() {
        if !r.get().starts_with('{') {
            let found = match r.get().as_bytes().first() {
                Some(b'"') => "a string",
                Some(b'[') => "an array",
                Some(b'n') => "null",
                Some(b't' | b'f') => "a boolean",
                _ => "a number",
            };
            return Err(format!("event {index} is {found}, expected a JSON object (a CloudTrail record)"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(b: &[u8]) -> Vec<String> {
        split(b).unwrap().iter().map(|r| r.get().to_string()).collect()
    }

    #[test]
    fn formats_of_events() {
        assert_eq!(texts(br#"{"Records":[{"a":1},{"b":2}]}"#), [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(texts(b"[{\"a\":1}]\n{\"b\":2}\n\n{\"c\":3}"), [r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
        assert_eq!(texts(br#"{"Records":[],"eventName":"x"}"#), [r#"{"Records":[],"eventName":"x"}"#]);
        assert_eq!(texts(b"\xEF\xBB\xBF{\"a\":1}"), [r#"{"a":1}"#]);
        assert!(texts(b"").is_empty());
        assert!(split(b"[1]").unwrap_err().contains("event 0 is a number"));
        assert!(split(b"{\"a\":}").unwrap_err().starts_with("line 1, column 6: invalid JSON"));
    }
}
