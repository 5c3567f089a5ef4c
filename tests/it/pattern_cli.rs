//! `cwfix pattern diff|test` as a user runs them: the real binary, no AWS and no moto server.
//! Issue #11 (exact numbers, the work budget, plain-text lines, original event text) and
//! issue #15 item 8 (`pattern test DIR`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::repo_root;

/// Output of one run.
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
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `cwfix ARGS` in `dir` with `stdin`.
fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Out {
    let mut cmd = assert_cmd::Command::cargo_bin("cwfix").expect("cwfix binary");
    cmd.current_dir(dir).args(args).write_stdin(stdin).env("NO_COLOR", "1").env_remove("RUST_LOG");
    // A guard against hangs, as for every command in these tests; not a performance assertion.
    cmd.timeout(Duration::from_secs(120));
    let o = cmd.output().expect("run cwfix");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Out {
    run_in(&repo_root(), args, "")
}

fn write(path: &Path, data: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    path.to_path_buf()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ------------------------------------------------------------------------------- diff

#[test]
fn r11_diff_compares_big_integers_exactly() {
    let out = run(&["pattern", "diff", "{ $.n > 9007199254740993 }", "{ $.n > 9007199254740992 }"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "B covers A\nmatched by B only: {\"n\":9007199254740993}\n", "{out:?}");
    // The `.0` spelling compares the field as an f64, where 2^53 + 1 rounds down to 2^53.
    let out = run(&["pattern", "diff", "{ $.n > 9007199254740992.0 }", "{ $.n > 9007199254740992 }", "-o", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!(v["relation"], "b_covers_a", "{out:?}");
    assert_eq!(v["a_covers_b"]["witness"], json!({"n": 9007199254740993u64}), "{out:?}");
    let out = run(&["pattern", "diff", "{ $.n >= 9007199254740992.0 }", "{ $.n >= 9007199254740992 }"]);
    assert_eq!(out.stdout, "equivalent\n", "{out:?}");
}

#[test]
fn r11_diff_whitespace_phrases_are_not_match_all() {
    // A phrase of one no-break space must occur like any phrase: it covers nothing else.
    let out = run(&["pattern", "diff", "\"\u{a0}\"", "StopLogging"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("neither\n"), "{out:?}");
    // A tab phrase does not cover `StopLogging` either (the other direction stays unknown: a
    // witness is a JSON document, where a tab is written `\t`).
    let out = run(&["pattern", "diff", "\"\t\"", "StopLogging"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("matched by B only: {\"message\":\"StopLogging\"}\n"), "{out:?}");
    assert!(!out.stdout.contains("covers") && !out.stdout.contains("equivalent"), "{out:?}");
    let out = run(&["pattern", "diff", "\" \"", "StopLogging"]);
    assert!(out.stdout.starts_with("A covers B\n"), "{out:?}");
}

#[test]
fn r11_diff_pathological_pair_answers_unknown() {
    let fixture = std::fs::read_to_string(repo_root().join("tests/data/pattern/pathological.txt")).unwrap();
    let pats: Vec<&str> = fixture.lines().filter(|l| !l.starts_with('#')).collect();
    let out = run(&["pattern", "diff", pats[0], pats[1]]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.starts_with("unknown: comparing them needs more than 2000000 steps, the work budget"),
        "{out:?}"
    );
    assert!(out.stdout.contains("4096 disjuncts"), "{out:?}");
    let v = run(&["pattern", "diff", pats[0], pats[1], "-o", "json"]).json();
    assert_eq!(v["relation"], "unknown");
    assert_eq!(v["a_covers_b"]["result"], "unknown", "{v}");
    assert!(v["a_covers_b"]["reason"].as_str().unwrap().contains("work budget"), "{v}");
    // B does not cover A, and a witness shows it.
    assert_eq!(v["b_covers_a"]["result"], "not_covered", "{v}");
}

// ------------------------------------------------------------------------------- test: plain text

#[test]
fn r11_test_reads_plain_text_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        &dir.path().join("access.log"),
        b"192.0.2.10 alice 2026-11-20T14:03:11Z GET /index.html 200 512\r\n\
          192.0.2.11 bob 2026-11-20T14:03:12Z GET /big.iso 200 734003200\r\n\
          \r\n\
          198.51.100.7 - 2026-11-20T14:03:13Z POST /login 401 1200\r\n",
    );
    let out = run_in(dir.path(), &["pattern", "test", "[ip, user, ..., bytes > 1000]", s(&log)], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "192.0.2.11 bob 2026-11-20T14:03:12Z GET /big.iso 200 734003200\n\
         198.51.100.7 - 2026-11-20T14:03:13Z POST /login 401 1200\n",
        "{out:?}"
    );
    assert_eq!(out.stderr, "2 of 3 events matched (1 file)\n", "{out:?}");
    // Term patterns read the lines too; a JSON pattern matches no plain-text line.
    let out = run_in(dir.path(), &["pattern", "test", "?401 ?403", s(&log)], "");
    assert_eq!(out.stdout, "198.51.100.7 - 2026-11-20T14:03:13Z POST /login 401 1200\n", "{out:?}");
    let out = run_in(dir.path(), &["pattern", "test", "{ $.user = * }", s(&log)], "");
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    // Stdin works the same, and a line that is a JSON object is a JSON event.
    let out = run_in(
        dir.path(),
        &["pattern", "test", "{ $.status = 500 }"],
        "plain line\n{\"status\": 500, \"path\": \"/x\"}\n[INFO] done\n",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "{\"status\": 500, \"path\": \"/x\"}\n", "{out:?}");
    assert_eq!(out.stderr, "1 of 3 events matched (1 file)\n", "{out:?}");
}

#[test]
fn r11_test_keeps_json_files_working() {
    let dir = tempfile::tempdir().unwrap();
    let rec = |name: &str| format!("{{\"eventName\":\"{name}\",\"eventSource\":\"cloudtrail.amazonaws.com\"}}");
    let envelope = format!("{{\"Records\":[{},{}]}}", rec("StopLogging"), rec("DescribeTrails"));
    let files = [
        write(&dir.path().join("one.json"), rec("StopLogging").as_bytes()),
        write(&dir.path().join("array.json"), format!("[{}, {}]", rec("StopLogging"), rec("X")).as_bytes()),
        write(&dir.path().join("trail.json.gz"), &gz(envelope.as_bytes())),
        write(&dir.path().join("lines.jsonl"), format!("{}\n{}\n", rec("A"), rec("StopLogging")).as_bytes()),
    ];
    let mut args = vec!["pattern", "test", "{ $.eventName = StopLogging }", "-o", "json"];
    args.extend(files.iter().map(|p| s(p)));
    let out = run_in(dir.path(), &args, "");
    assert_eq!(out.code, 0, "{out:?}");
    let v = out.json();
    assert_eq!((v["total"].as_u64(), v["matches"].as_u64(), v["files"].as_u64()), (Some(7), Some(4), Some(4)));
    assert_eq!(v["matched"], json!([0, 1, 3, 6]));
    assert_eq!(v["unreadable"], json!([]));
    // A corrupt JSON file is still an error with its position, never read as text.
    let bad = write(&dir.path().join("bad.json"), b"{\"Records\":[{\"eventName\":\"A\"},{\"eventName\": }]}");
    let out = run_in(dir.path(), &["pattern", "test", "A", s(&bad)], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr, format!("error: `{}` line 1, column 45: invalid JSON: expected value\n", s(&bad)));
}

#[test]
fn r11_terms_see_the_original_event_text() {
    let dir = tempfile::tempdir().unwrap();
    let rec = r#"{"eventName":"caf\u00e9","requestParameters":{"size":1e3}}"#;
    let lines = write(&dir.path().join("events.jsonl"), format!("{rec}\n").as_bytes());
    let envelope = write(&dir.path().join("trail.json"), format!("{{\"Records\":[{rec}, {rec}]}}").as_bytes());
    let array = write(&dir.path().join("array.json.gz"), &gz(format!("[{rec}]").as_bytes()));
    for file in [&lines, &envelope, &array] {
        // As written in the file: the escape and the exponent, not `café` and `1000.0`.
        for (pattern, matches) in
            [("\"caf\\u00e9\"", true), ("\"size\\\":1e3\"", true), ("café", false), ("1000", false)]
        {
            let out = run_in(dir.path(), &["pattern", "test", pattern, s(file), "-o", "json"], "");
            assert_eq!(out.code, 0, "{out:?}");
            let v = out.json();
            assert_eq!(v["matches"] == v["total"], matches, "{pattern} on {}: {v}", file.display());
            assert!(v["total"].as_u64().unwrap() >= 1);
        }
        // JSON patterns see the decoded document.
        let out = run_in(dir.path(), &["pattern", "test", "{ $.eventName = \"café\" }", s(file)], "");
        assert!(
            out.stderr.starts_with(&format!("{n} of {n} events", n = if file == &envelope { 2 } else { 1 })),
            "{out:?}"
        );
        // Matches are printed as they were written.
        assert_eq!(out.stdout.lines().next(), Some(rec), "{out:?}");
    }
}

// ------------------------------------------------------------------------------- test: directories

#[test]
fn r15_test_walks_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("AWSLogs");
    let rec = |name: &str| format!("{{\"eventName\":\"{name}\"}}");
    let trail = |names: &[&str]| {
        let recs: Vec<String> = names.iter().map(|n| rec(n)).collect();
        gz(format!("{{\"Records\":[{}]}}", recs.join(",")).as_bytes())
    };
    let ct = root.join("111122223333/CloudTrail");
    write(&ct.join("us-east-1/2026/11/21/b.json.gz"), &trail(&["StopLogging", "B1"]));
    write(&ct.join("us-east-1/2026/11/20/a.json.gz"), &trail(&["A1", "StopLogging"]));
    write(&ct.join("eu-west-1/2026/11/20/c.json.gz"), &trail(&["StopLogging"]));
    write(&root.join("111122223333/CloudTrail-Digest/us-east-1/d.json.gz"), &trail(&["StopLogging"]));
    write(&root.join("exports/lines.jsonl"), format!("{}\n", rec("StopLogging")).as_bytes());
    write(&root.join("exports/app.log"), b"12:00 StopLogging requested\n");
    write(&root.join("exports/notes.md"), b"StopLogging is in the CIS list\n");
    write(&root.join(".cache/x.json"), rec("StopLogging").as_bytes());

    let out = run_in(dir.path(), &["pattern", "test", "StopLogging", "AWSLogs"], "");
    assert_eq!(out.code, 0, "{out:?}");
    // Sorted walk: eu-west-1 before us-east-1, 11/20 before 11/21, exports last; no digest,
    // no hidden folder, no .md file.
    assert_eq!(
        out.stdout,
        format!("{s}\n{s}\n{s}\n12:00 StopLogging requested\n{s}\n", s = rec("StopLogging")),
        "{out:?}"
    );
    assert_eq!(out.stderr, "5 of 7 events matched (5 files)\n", "{out:?}");

    // An unreadable file is reported on one line and the run fails, after testing the rest.
    write(&ct.join("us-east-1/2026/11/22/broken.json.gz"), &trail(&["StopLogging"])[..20]);
    let out = run_in(dir.path(), &["pattern", "test", "StopLogging", "AWSLogs", "-o", "json"], "");
    assert_eq!(out.code, 1, "{out:?}");
    let v = out.json();
    assert_eq!((v["matches"].as_u64(), v["files"].as_u64()), (Some(5), Some(5)), "{v}");
    let bad = v["unreadable"].as_array().unwrap();
    assert_eq!(bad.len(), 1, "{v}");
    assert!(bad[0]["path"].as_str().unwrap().ends_with("broken.json.gz"), "{v}");
    assert!(out.stderr.starts_with("warning: skipped: cannot decompress `"), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
}

#[test]
fn r15_test_missing_path_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["pattern", "test", "StopLogging", "AWSLogs/"], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "error: `AWSLogs/`: no such file or directory\n", "{out:?}");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let out = run_in(dir.path(), &["pattern", "test", "StopLogging", "empty"], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("error: `empty` holds no event files"), "{out:?}");
}
