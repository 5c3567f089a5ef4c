//! Reading CloudTrail events from files for `pattern test` (and later `backtest`).
//!
//! Owns file formats only: one JSON object, a JSON array of objects, the
//! `{"Records":[…]}` envelope CloudTrail writes to S3, JSON Lines (or any concatenation of the
//! above), each optionally gzip-compressed (detected by the magic bytes, not the extension),
//! and `-` for stdin. Events come back as `serde_json::Value` in file order. No pattern logic
//! and no AWS calls here.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why events could not be read. Every variant names the input (`<stdin>` for `-`).
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
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

    #[test]
    fn missing_file() {
        let e = read_path(Path::new("/nonexistent/cwfix/x.json")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cwfix/x.json"));
    }
}
