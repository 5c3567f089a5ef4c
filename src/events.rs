//! Reading log events from files for `pattern test` (and CloudTrail records for `backtest`).
//!
//! Owns file formats and input walking only; no pattern logic and no AWS calls here. Every
//! input may be gzip-compressed (detected by the magic bytes, not the extension); `-` is stdin.
//!
//! **Log files** ([`read_log_file`], what `pattern test` reads) hold CloudTrail records,
//! JSON log events or plain-text lines, decided per file:
//!
//! 1. The whole file is read as a stream of JSON values. If every value is an object, an
//!    array of objects or a CloudTrail `{"Records":[…]}` envelope, each object is one event
//!    (a single object, an array, an S3 CloudTrail file, JSON Lines, or any concatenation).
//! 2. Otherwise, if the file is named `*.json`, `*.jsonl` or `*.ndjson` (optionally `.gz`), it
//!    is a corrupt JSON file: an error with the position of the first JSON error, never
//!    silently read as text.
//! 3. Otherwise the file is read line by line, like `aws logs test-metric-filter
//!    --log-event-messages`: each non-blank line is one log message. A line that parses as
//!    JSON (an object or an array) is a JSON event; any other line is plain text, which only
//!    term and space-delimited patterns can match (§1). Lines that start with `{` yet do not
//!    parse are reported back, so the caller can warn about them.
//!
//! Term and space-delimited patterns see each event's original text, never a
//! re-serialisation (`caf\u00e9` and `1e3` stay as written): the line, or for a record
//! inside an array or envelope its exact byte span in the file (serde_json `RawValue`).
//! Files must be UTF-8, as CloudWatch Logs messages are.
//!
//! **Walking** ([`walk`]): files are read as named; directories recursively, in sorted order,
//! taking files named `*.json`, `*.jsonl`, `*.ndjson`, `*.log`, `*.txt` (each optionally
//! `.gz`) and `*.gz`, and skipping hidden entries, symlinked directories and `CloudTrail-Digest`
//! folders (digests are not events).
//!
//! **CloudTrail records** ([`read_path`], [`parse_bytes`]): the JSON formats of step 1 only, as
//! `serde_json::Value`s in file order; anything else is an error. `backtest` uses these.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use serde_json::Value;

use crate::pattern::Event;

/// Why events could not be read. Every variant names the input (`<stdin>` for `-`).
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("`{path}`: no such file or directory")]
    NotFound { path: String },
    #[error("`{path}` is not UTF-8 text (byte {offset}); log messages must be UTF-8")]
    NotUtf8 { path: String, offset: usize },
    #[error("`{path}` holds no event files (*.json, *.jsonl, *.ndjson, *.log, *.txt, *.gz)")]
    NoEventFiles { path: String },
    #[error("cannot list directory `{path}`")]
    Walk {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot decompress `{path}` (corrupt gzip data?)")]
    Gzip {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` line {line}, column {column}: invalid JSON: {message}")]
    Json { path: String, line: usize, column: usize, message: String },
    #[error("`{path}`: event {index} is {found}, expected a JSON object (a CloudTrail record)")]
    NotAnObject { path: String, index: usize, found: &'static str },
}

impl EventsError {
    /// The input the error is about, as displayed (`<stdin>` for `-`).
    pub fn path(&self) -> &str {
        match self {
            EventsError::NotFound { path }
            | EventsError::NotUtf8 { path, .. }
            | EventsError::NoEventFiles { path }
            | EventsError::Walk { path, .. }
            | EventsError::Io { path, .. }
            | EventsError::Gzip { path, .. }
            | EventsError::Json { path, .. }
            | EventsError::NotAnObject { path, .. } => path,
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The display name of an input path (`-` is stdin).
fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Read all events of one file (`-` = stdin).
pub fn read_path(path: &Path) -> Result<Vec<Value>, EventsError> {
    let name = display_name(path);
    if path == Path::new("-") {
        return read_from(&name, io::stdin().lock());
    }
    let file = File::open(path).map_err(|source| EventsError::Io { path: name.clone(), source })?;
    read_from(&name, io::BufReader::new(file))
}

/// Read all events of several files, in order; no files means stdin.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Value>, EventsError> {
    if paths.is_empty() {
        return read_path(Path::new("-"));
    }
    let mut out = Vec::new();
    for p in paths {
        out.extend(read_path(p)?);
    }
    Ok(out)
}

/// Read all events from a reader; `name` is used in errors.
pub fn read_from(name: &str, mut reader: impl Read) -> Result<Vec<Value>, EventsError> {
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).map_err(|source| EventsError::Io { path: name.to_string(), source })?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut plain = Vec::new();
        // MultiGzDecoder: concatenated gzip members are legal and produced by some tools.
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut plain)
            .map_err(|source| EventsError::Gzip { path: name.to_string(), source })?;
        raw = plain;
    }
    parse_bytes(name, &raw)
}

/// Parse decompressed bytes: a stream of JSON values, each an event, an array of events or a
/// `{"Records": […]}` envelope.
pub fn parse_bytes(name: &str, bytes: &[u8]) -> Result<Vec<Value>, EventsError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    for item in stream {
        let value = item.map_err(|e| EventsError::Json {
            path: name.to_string(),
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        match value {
            Value::Array(items) => out.extend(items),
            Value::Object(mut m) if is_envelope(&m) => {
                if let Some(Value::Array(items)) = m.remove("Records") {
                    out.extend(items);
                }
            }
            other => out.push(other),
        }
    }
    for (index, v) in out.iter().enumerate() {
        if !v.is_object() {
            return Err(EventsError::NotAnObject { path: name.to_string(), index, found: kind_of(v) });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------- log files

/// The events of one log file, as [`read_log_file`] found them.
#[derive(Debug)]
pub struct LogFile {
    /// The events in file order.
    pub events: Vec<Event>,
    /// How the file was read.
    pub layout: Layout,
    /// Lines that start with `{` but are not JSON, read as plain text: `(line number, why)`.
    pub malformed: Vec<(usize, String)>,
}

/// How a log file was read (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The whole file is JSON records.
    Json,
    /// One message per line.
    Lines,
}

/// Read the events of one log file (`-` = stdin), by the rules of the module doc.
pub fn read_log_file(path: &Path) -> Result<LogFile, EventsError> {
    let json_name = path.file_name().is_some_and(|n| is_json_name(&n.to_string_lossy()));
    let name = display_name(path);
    let raw = if path == Path::new("-") {
        read_all(&name, io::stdin().lock())?
    } else {
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => EventsError::NotFound { path: name.clone() },
            _ => EventsError::Io { path: name.clone(), source },
        })?;
        read_all(&name, io::BufReader::new(file))?
    };
    parse_log_bytes(&name, &raw, json_name)
}

/// `*.json`, `*.jsonl`, `*.ndjson`, optionally `.gz`: the name promises JSON records.
fn is_json_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    [".json", ".jsonl", ".ndjson"].iter().any(|e| n.ends_with(e))
}

/// Read a whole input and decompress it if it is gzip.
fn read_all(name: &str, mut reader: impl Read) -> Result<Vec<u8>, EventsError> {
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).map_err(|source| EventsError::Io { path: name.to_string(), source })?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut plain = Vec::new();
        // MultiGzDecoder: concatenated gzip members are legal and produced by some tools.
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut plain)
            .map_err(|source| EventsError::Gzip { path: name.to_string(), source })?;
        raw = plain;
    }
    Ok(raw)
}

/// Parse the (decompressed) bytes of a log file; `name` is used in errors. With `json_only`
/// (the file's name says JSON) content that is not JSON records is an error instead of lines.
pub fn parse_log_bytes(name: &str, bytes: &[u8], json_only: bool) -> Result<LogFile, EventsError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|e| EventsError::NotUtf8 { path: name.to_string(), offset: e.valid_up_to() })?;
    if let Some(records) = json_records(text) {
        let mut events = Vec::with_capacity(records.len());
        for r in records {
            match Event::from_json_str(r.get()) {
                Ok(ev) => events.push(ev),
                // Not reachable: the span was just parsed. Fall back to lines rather than panic.
                Err(_) => return Ok(log_lines(text)),
            }
        }
        return Ok(LogFile { events, layout: Layout::Json, malformed: Vec::new() });
    }
    if json_only {
        // The CloudTrail reader says where and why (`line 2, column 14: invalid JSON: …`).
        parse_bytes(name, bytes)?;
    }
    Ok(log_lines(text))
}

/// Step 1: the records of a file that is JSON records throughout, with their original spans;
/// `None` when it is not.
fn json_records(text: &str) -> Option<Vec<&RawValue>> {
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        let value = item.ok()?;
        let span = value.get();
        if span.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(span).ok()?;
            out.extend(objects(items)?);
        } else if span.starts_with('{') {
            match serde_json::from_str::<Envelope<'_>>(span) {
                Ok(env) => out.extend(objects(env.records)?),
                Err(_) => out.push(value),
            }
        } else {
            return None;
        }
    }
    Some(out)
}

/// All of `items` if every one is a JSON object, else `None`.
fn objects(items: Vec<&RawValue>) -> Option<Vec<&RawValue>> {
    items.iter().all(|r| r.get().starts_with('{')).then_some(items)
}

/// CloudTrail's S3 envelope: exactly one key, `Records`, an array (as [`is_envelope`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// Step 2: one message per non-blank line (a trailing `\r` is not part of it).
fn log_lines(text: &str) -> LogFile {
    let mut events = Vec::new();
    let mut malformed = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let t = line.trim_start();
        if t.trim_end().is_empty() {
            continue;
        }
        if t.starts_with('{') || t.starts_with('[') {
            match Event::from_json_str(line) {
                Ok(ev) => {
                    events.push(ev);
                    continue;
                }
                Err(e) if t.starts_with('{') => malformed.push((i + 1, strip_position(&e.to_string()))),
                Err(_) => {}
            }
        }
        events.push(Event::from_text(line));
    }
    LogFile { events, layout: Layout::Lines, malformed }
}

// ---------------------------------------------------------------------------------------- walking

/// What [`walk`] found.
#[derive(Debug, Default)]
pub struct Walked {
    /// Files to read, in order (`-` for stdin).
    pub files: Vec<PathBuf>,
    /// Directories inside the walked ones that could not be listed (the walk went on).
    pub errors: Vec<EventsError>,
}

/// Is this directory entry a log file? (Named files are always read.) Any `.gz` counts, which
/// covers `.json.gz`, `.log.gz` and CloudTrail's own names.
fn is_log_file(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.starts_with('.') && [".json", ".jsonl", ".ndjson", ".log", ".txt", ".gz"].iter().any(|e| n.ends_with(e))
}

/// Expand `paths` into the files to read: files (and `-`) as given, directories walked by
/// the rules of the module doc. A path that does not exist, a directory that cannot be
/// listed or that holds no log file at all is an error, so a typo never reads as "no events".
pub fn walk(paths: &[PathBuf]) -> Result<Walked, EventsError> {
    let mut w = Walked::default();
    for p in paths {
        if p == Path::new("-") {
            w.files.push(p.clone());
            continue;
        }
        let name = display_name(p);
        let meta = std::fs::metadata(p).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => EventsError::NotFound { path: name.clone() },
            _ => EventsError::Io { path: name.clone(), source },
        })?;
        if !meta.is_dir() {
            w.files.push(p.clone());
            continue;
        }
        let before = w.files.len();
        walk_dir(p, &mut w, true)?;
        if w.files.len() == before {
            return Err(EventsError::NoEventFiles { path: name });
        }
    }
    Ok(w)
}

fn walk_dir(dir: &Path, w: &mut Walked, top: bool) -> Result<(), EventsError> {
    let list = || -> io::Result<Vec<(PathBuf, std::fs::FileType)>> {
        let mut entries = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            entries.push((e.path(), e.file_type()?));
        }
        Ok(entries)
    };
    let mut entries = match list() {
        Ok(entries) => entries,
        Err(source) => {
            let err = EventsError::Walk { path: display_name(dir), source };
            // The directory asked for must be listable; one deep inside is reported and skipped.
            if top {
                return Err(err);
            }
            w.errors.push(err);
            return Ok(());
        }
    };
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, ft) in entries {
        let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if ft.is_dir() {
            if !name.starts_with('.') && name != "CloudTrail-Digest" {
                walk_dir(&path, w, false)?;
            }
        } else if (ft.is_file() || (ft.is_symlink() && path.is_file())) && is_log_file(&name) {
            w.files.push(path);
        }
    }
    Ok(())
}

/// CloudTrail's S3 files hold exactly one key, `Records`, an array. Requiring the array keeps a
/// (hypothetical) record with a `Records` field from being unwrapped.
fn is_envelope(m: &serde_json::Map<String, Value>) -> bool {
    matches!(m.get("Records"), Some(Value::Array(_))) && m.len() == 1
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn names(v: &[Value]) -> Vec<&str> {
        v.iter().map(|e| e["eventName"].as_str().unwrap()).collect()
    }

    #[test]
    fn single_object() {
        let v = parse_bytes("t", br#" {"eventName":"A"} "#).unwrap();
        assert_eq!(names(&v), ["A"]);
    }

    #[test]
    fn array_envelope_and_lines() {
        let v = parse_bytes("t", br#"[{"eventName":"A"},{"eventName":"B"}]"#).unwrap();
        assert_eq!(names(&v), ["A", "B"]);
        let v = parse_bytes("t", br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#).unwrap();
        assert_eq!(names(&v), ["A", "B"]);
        let v = parse_bytes("t", b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n\n{\"eventName\":\"C\"}\n").unwrap();
        assert_eq!(names(&v), ["A", "B", "C"]);
        assert!(parse_bytes("t", b"").unwrap().is_empty());
    }

    #[test]
    fn records_field_inside_a_record_is_not_unwrapped() {
        let v = parse_bytes("t", br#"{"eventName":"A","Records":[]}"#).unwrap();
        assert_eq!(names(&v), ["A"]);
    }

    #[test]
    fn gzip_by_magic_bytes() {
        let data = gz(br#"{"Records":[{"eventName":"A"}]}"#);
        let v = read_from("x.json", &data[..]).unwrap();
        assert_eq!(names(&v), ["A"]);
    }

    #[test]
    fn gzip_file_and_stdin_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trail.json.gz");
        std::fs::write(&p, gz(b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}")).unwrap();
        let v = read_paths(std::slice::from_ref(&p)).unwrap();
        assert_eq!(names(&v), ["A", "B"]);
        assert_eq!(display_name(Path::new("-")), "<stdin>");
    }

    #[test]
    fn bad_json_names_file_and_line() {
        let e = parse_bytes("events.jsonl", b"{\"eventName\":\"A\"}\n{\"eventName\": }\n").unwrap_err();
        match &e {
            EventsError::Json { path, line, .. } => {
                assert_eq!(path, "events.jsonl");
                assert_eq!(*line, 2);
            }
            other => panic!("{other:?}"),
        }
        let shown = e.to_string();
        assert!(shown.starts_with("`events.jsonl` line 2, column"), "{shown}");
    }

    #[test]
    fn non_object_event_is_an_error() {
        let e = parse_bytes("t", b"[1]").unwrap_err();
        assert!(matches!(e, EventsError::NotAnObject { index: 0, .. }), "{e}");
    }

    #[test]
    fn corrupt_gzip() {
        let mut data = gz(b"{\"a\":1}");
        let n = data.len();
        data.truncate(n - 6);
        data[12] ^= 0xff;
        assert!(read_from("x.gz", &data[..]).is_err());
    }

    // ------------------------------------------------------------------------- log files

    fn texts(f: &LogFile) -> Vec<&str> {
        f.events.iter().map(|e| e.text()).collect()
    }

    fn is_json(f: &LogFile) -> Vec<bool> {
        f.events.iter().map(|e| e.value().is_some()).collect()
    }

    #[test]
    fn log_json_records_keep_their_original_text() {
        // Escapes, number spellings and spacing stay as written: term patterns see them.
        let rec = r#"{"eventName":"caf\u00e9", "n":1e3 ,"z":1,"a":2}"#;
        for file in [
            rec.to_string(),
            format!("[{rec},\n {rec}]"),
            format!("{{\"Records\":[{rec},{rec}]}}"),
            format!("{rec}\n{rec}\n"),
            format!("{rec}{rec}"),
        ] {
            let f = parse_log_bytes("t", file.as_bytes(), false).unwrap();
            assert_eq!(f.layout, Layout::Json, "{file}");
            assert!(texts(&f).iter().all(|t| *t == rec), "{file}: {:?}", texts(&f));
            let doc = f.events[0].value().unwrap();
            assert_eq!(doc["eventName"], "café");
            // RawValue and preserve_order together: the document keeps the file's key order.
            assert_eq!(doc.as_object().unwrap().keys().collect::<Vec<_>>(), ["eventName", "n", "z", "a"]);
        }
        // A pretty-printed record is one event whose text is its span, newlines included.
        let pretty = "{\n  \"eventName\": \"A\"\n}\n";
        let f = parse_log_bytes("t", pretty.as_bytes(), true).unwrap();
        assert_eq!(texts(&f), [pretty.trim_end()]);
    }

    #[test]
    fn log_plain_text_lines() {
        let log = "127.0.0.1 frank GET 200 2326\r\n\n   \n10.0.0.2 bob POST 500 12\n";
        let f = parse_log_bytes("access.log", log.as_bytes(), false).unwrap();
        assert_eq!(f.layout, Layout::Lines);
        assert_eq!(texts(&f), ["127.0.0.1 frank GET 200 2326", "10.0.0.2 bob POST 500 12"]);
        assert_eq!(is_json(&f), [false, false]);
        assert!(f.malformed.is_empty());
        // Scalars are text too (a log line `200` is not an event document).
        let f = parse_log_bytes("t", b"200\n\"quoted\"\n", false).unwrap();
        assert_eq!((f.layout, texts(&f)), (Layout::Lines, vec!["200", "\"quoted\""]));
        assert!(parse_log_bytes("t", b"", false).unwrap().events.is_empty());
    }

    #[test]
    fn log_mixed_lines() {
        let log = "{\"a\":1}\nplain text\n[INFO] starting\n{\"a\": }\n[1,2]\n";
        let f = parse_log_bytes("app.log", log.as_bytes(), false).unwrap();
        assert_eq!(f.layout, Layout::Lines);
        assert_eq!(texts(&f), ["{\"a\":1}", "plain text", "[INFO] starting", "{\"a\": }", "[1,2]"]);
        assert_eq!(is_json(&f), [true, false, false, false, true]);
        assert_eq!(f.malformed.len(), 1);
        assert_eq!(f.malformed[0].0, 4);
    }

    #[test]
    fn log_json_names_must_hold_json() {
        let e = parse_log_bytes("trail.json", b"{\"a\":1}\nnot json\n", true).unwrap_err();
        assert!(matches!(e, EventsError::Json { line: 2, .. }), "{e}");
        assert!(is_json_name("x.JSON.gz") && is_json_name("x.jsonl") && is_json_name("x.ndjson"));
        assert!(!is_json_name("x.log") && !is_json_name("x.gz") && !is_json_name("-"));
    }

    #[test]
    fn log_files_gzip_bom_and_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app.log.gz");
        std::fs::write(&p, gz("\u{feff}caf\u{e9} ok\n".as_bytes())).unwrap();
        let f = read_log_file(&p).unwrap();
        assert_eq!(texts(&f), ["café ok"]);
        let e = parse_log_bytes("bin.log", b"ok\n\xff\xfe", false).unwrap_err();
        assert!(matches!(e, EventsError::NotUtf8 { offset: 3, .. }), "{e}");
        let e = read_log_file(Path::new("/nonexistent/cwfix/x.log")).unwrap_err();
        assert_eq!(e.to_string(), "`/nonexistent/cwfix/x.log`: no such file or directory");
    }

    #[test]
    fn walk_is_recursive_sorted_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "b/2.json.gz",
            "b/1.log",
            "a/x.jsonl",
            "a/notes.md",
            "a/.hidden.json",
            ".git/HEAD.json",
            "CloudTrail-Digest/d.json.gz",
            "c/access.TXT",
            "c/data.csv",
            "top.ndjson",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x\n").unwrap();
        }
        let w = walk(&[root.to_path_buf(), PathBuf::from("-")]).unwrap();
        let rel: Vec<String> = w
            .files
            .iter()
            .map(|p| p.strip_prefix(root).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string()))
            .collect();
        assert_eq!(rel, ["a/x.jsonl", "b/1.log", "b/2.json.gz", "c/access.TXT", "top.ndjson", "-"]);
        assert!(w.errors.is_empty());
        // A named file is read whatever its name.
        let csv = root.join("c/data.csv");
        assert_eq!(walk(std::slice::from_ref(&csv)).unwrap().files, [csv]);
        // Typos and empty directories are errors, not "no events".
        let e = walk(&[root.join("nope")]).unwrap_err();
        assert!(matches!(e, EventsError::NotFound { .. }), "{e}");
        std::fs::create_dir(root.join("empty")).unwrap();
        let e = walk(&[root.join("empty")]).unwrap_err();
        assert!(matches!(e, EventsError::NoEventFiles { .. }), "{e}");
    }

    #[test]
    fn missing_file() {
        let e = read_path(Path::new("/nonexistent/cwfix/x.json")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cwfix/x.json"));
    }
}
