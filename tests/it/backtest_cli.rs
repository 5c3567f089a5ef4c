//! `cwfix backtest` as a user runs it: the real binary on files (no AWS, no moto).
//! Issue #15 item 5 (honest input handling), #11 (raw text lines), #16 (counts unchanged).

use std::path::{Path, PathBuf};

use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

fn cwfix(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = assert_cmd::Command::cargo_bin("cwfix").expect("cwfix binary");
    cmd.current_dir(dir).env("NO_COLOR", "1").env_remove("RUST_LOG").args(args).write_stdin("");
    cmd.timeout(std::time::Duration::from_secs(120));
    let o = cmd.output().expect("run cwfix");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backtest")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The fixture files `cwfix pattern test` can read (all but the truncated gzip and broken JSON).
fn readable_fixtures() -> Vec<PathBuf> {
    let base = fixtures().join("AWSLogs/111122223333/CloudTrail");
    [
        "us-east-1/2024/03/04/111122223333_CloudTrail_us-east-1_20240304T1200Z_Q3x9LmT0aZ1bC2dE.json.gz",
        "eu-west-1/2024/03/04/111122223333_CloudTrail_eu-west-1_20240304T1800Z_Hk4sPq7Wn2Vb8Xy0.json.gz",
        "us-east-1/2024/03/05/export-array.json",
        "us-east-1/2024/03/05/export-lines.jsonl",
    ]
    .iter()
    .map(|f| base.join(f))
    .collect()
}

fn matched(doc: &Value) -> Vec<(String, u64)> {
    doc["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or_default().to_string(), c["matched"].as_u64().unwrap_or(u64::MAX)))
        .collect()
}

#[test]
fn nonexistent_path_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let out = cwfix(d.path(), &["backtest", "/nonexistent/cwfix/AWSLogs"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(out.stderr.trim(), "error: `/nonexistent/cwfix/AWSLogs` does not exist", "{out:?}");
    // Among good inputs too: nothing is read.
    let out = cwfix(d.path(), &["backtest", "-o", "json", s(&fixtures()), "/nonexistent/x.json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn empty_directory_and_no_events_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = cwfix(d.path(), &["backtest", s(&empty)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.starts_with("error: no input files in `"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one paragraph: {out:?}");
    // Files, but no record in any of them (one empty, one unreadable).
    std::fs::write(empty.join("a.json"), "{\"Records\":[]}").unwrap();
    std::fs::write(empty.join("b.json.gz"), b"\x1f\x8b\x08 not gzip").unwrap();
    let out = cwfix(d.path(), &["backtest", "-o", "json", s(&empty)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.contains("no events in `"), "{out:?}");
    assert!(out.stderr.contains("1 file(s) read, 1 unreadable (`"), "{out:?}");
}

/// The fixture directory holds 4 readable files and 2 unreadable ones: text and JSON say the
/// same, and the warning names both.
#[test]
fn mixed_good_and_bad_files_counts_agree_between_text_and_json() {
    let d = tempfile::tempdir().unwrap();
    let text = cwfix(d.path(), &["backtest", s(&fixtures())]);
    assert_eq!(text.code, 0, "{text:?}");
    let json = cwfix(d.path(), &["backtest", "-o", "json", s(&fixtures())]);
    assert_eq!(json.code, 0, "{json:?}");
    let doc = json.json();
    assert_eq!(doc["files_read"], 4, "{json:?}");
    assert_eq!(doc["files_unreadable"], 2, "{json:?}");
    assert_eq!(doc["unreadable"].as_array().map(Vec::len), Some(2));
    let line = format!("{} events from 4 files read, 2 unreadable (skipped)", doc["events"]);
    assert!(text.stdout.lines().nth(1).is_some_and(|l| l.starts_with(&line)), "{line}\n{text:?}");
    for out in [&text, &json] {
        assert!(out.stderr.starts_with("warning: 2 file(s) could not be read and were skipped:"), "{out:?}");
        assert!(out.stderr.contains("TruncatedGzip0001.json.gz: cannot decompress"), "{out:?}");
        assert!(out.stderr.contains("broken.json: line 1, column "), "{out:?}");
    }
    // Per control, the table's MATCHED column is the JSON's `matched`.
    for (id, n) in matched(&doc) {
        let row = text.stdout.lines().find(|l| l.split_whitespace().next() == Some(id.as_str())).expect("row");
        assert_eq!(row.split_whitespace().nth(1), Some(n.to_string().as_str()), "{row}");
    }
    // -q: no warning; results unchanged.
    let quiet = cwfix(d.path(), &["-q", "backtest", "-o", "json", s(&fixtures())]);
    assert!(quiet.stderr.is_empty(), "{quiet:?}");
    assert_eq!(matched(&quiet.json()), matched(&doc));
}

/// Plain log lines are events: terms see the line, space-delimited fields split it, JSON
/// patterns see the JSON lines among them.
#[test]
fn plain_text_lines() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("access.log"),
        "192.0.2.1 - alice [04/Mar/2024:10:00:00 +0000] \"GET /admin HTTP/1.1\" 403 12\n\
         192.0.2.2 - bob [04/Mar/2024:10:00:01 +0000] \"GET / HTTP/1.1\" 200 512\n\
         {\"eventName\":\"StopLogging\",\"eventTime\":\"2024-03-04T10:00:02Z\"}\n\
         \n\
         192.0.2.1 - alice [04/Mar/2024:10:00:03 +0000] \"POST /login HTTP/1.1\" 403 0\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("logs.toml"),
        r#"name = "logs"
title = "text log test"
source = "test"
[notification]
topic = "t"
[[controls]]
id = "denied"
title = "HTTP 403"
pattern = '[ip, ident, user, time, request, status = 403, bytes]'
metric_name = "Denied"
[[controls]]
id = "alice"
title = "alice anywhere"
pattern = 'alice'
metric_name = "Alice"
[[controls]]
id = "stop"
title = "StopLogging"
pattern = '{ $.eventName = "StopLogging" }'
metric_name = "Stop"
"#,
    )
    .unwrap();
    let out = cwfix(d.path(), &["backtest", "-o", "json", "--baseline", "logs.toml", "access.log"]);
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["events"], 4, "{out:?}");
    let want: Vec<(String, u64)> = vec![("denied".into(), 2), ("alice".into(), 2), ("stop".into(), 1)];
    assert_eq!(matched(&doc), want);
    assert_eq!(doc["controls"][0]["untimed"], 2, "text lines have no eventTime");
}

/// The same records gzipped or not, and each file as part of a directory or alone.
#[test]
fn gz_and_plain_give_the_same_counts() {
    let d = tempfile::tempdir().unwrap();
    let src = &readable_fixtures()[2]; // export-array.json
    let plain = d.path().join("plain.json");
    std::fs::copy(src, &plain).unwrap();
    let gz = d.path().join("packed.json.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, &std::fs::read(src).unwrap()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let a = cwfix(d.path(), &["backtest", "-o", "json", s(&plain)]);
    let b = cwfix(d.path(), &["backtest", "-o", "json", "-j", "1", s(&gz)]);
    assert_eq!((a.code, b.code), (0, 0), "{a:?}\n{b:?}");
    let (a, b) = (a.json(), b.json());
    assert_eq!(a["events"], b["events"]);
    assert!(a["events"].as_u64().unwrap() > 0);
    assert_eq!(matched(&a), matched(&b));
    assert_eq!(a["controls"], b["controls"]);
}

/// Per control of the default baseline, backtest counts what `cwfix pattern test` counts.
#[test]
fn counts_equal_pattern_test_for_each_control() {
    let d = tempfile::tempdir().unwrap();
    let files = readable_fixtures();
    let mut args = vec!["backtest", "-o", "json"];
    args.extend(files.iter().map(|f| s(f)));
    let bt = cwfix(d.path(), &args);
    assert_eq!(bt.code, 0, "{bt:?}");
    let bt = bt.json();
    assert_eq!(bt["files_unreadable"], 0);
    let shown = cwfix(d.path(), &["baselines", "show", "cis-v7.0", "-o", "json"]).json();
    let controls = shown["controls"].as_array().expect("controls");
    assert_eq!(controls.len(), 15);
    for (c, (id, n)) in controls.iter().zip(matched(&bt)) {
        assert_eq!(c["id"].as_str(), Some(id.as_str()));
        let mut args = vec!["pattern", "test", "-o", "json", c["pattern"].as_str().expect("pattern")];
        args.extend(files.iter().map(|f| s(f)));
        let pt = cwfix(d.path(), &args);
        assert_eq!(pt.code, 0, "{pt:?}");
        let pt = pt.json();
        assert_eq!(pt["matches"].as_u64(), Some(n), "control {id}");
        assert_eq!(pt["total"], bt["events"], "control {id}");
        assert!(n > 0, "control {id} has a true positive in the fixtures");
    }
}
