//! End-to-end tests of `backtest::run` over files (the pieces have their own tests).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::pattern::Event;

fn settings(threshold: f64, evaluation_periods: i32) -> AlarmSettings {
    AlarmSettings { threshold, evaluation_periods, ..AlarmSettings::default() }
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn spec(patterns: &[(&str, &str)], alarm: AlarmSettings) -> Spec {
    Spec {
        baseline: "test".into(),
        controls: patterns
            .iter()
            .map(|(id, p)| ControlSpec {
                id: id.to_string(),
                title: id.to_string(),
                pattern: crate::pattern::parse(p).unwrap(),
            })
            .collect(),
        alarm,
    }
}

fn rec(name: &str, time: &str) -> Value {
    serde_json::json!({"eventTime": time, "eventName": name, "sourceIPAddress": "192.0.2.1",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a"}})
}

fn opts(jobs: usize) -> Options {
    Options { jobs, top: 5 }
}

fn run(s: &Spec, paths: &[PathBuf], o: &Options) -> Result<Report, Error> {
    super::run(s, paths, o, &Progress::default())
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backtest")
}

fn names(bad: &[Unreadable]) -> Vec<&str> {
    bad.iter().map(|b| b.path.rsplit('/').next().unwrap()).collect()
}

#[test]
fn one_window_from_files_gz_and_plain_and_bad_files_counted() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02");
    std::fs::create_dir_all(&sub).unwrap();
    let recs: Vec<Value> = (0..3)
        .map(|i| rec("StopLogging", &format!("2024-01-02T10:0{i}:00Z")))
        .chain([rec("DescribeTrails", "2024-01-02T10:01:00Z")])
        .collect();
    let env = serde_json::json!({"Records": recs});
    std::fs::write(sub.join("a.json.gz"), gz(env.to_string().as_bytes())).unwrap();
    std::fs::write(sub.join("b.json"), rec("DeleteTrail", "2024-01-02T11:00:00Z").to_string()).unwrap();
    let mut trunc = gz(env.to_string().as_bytes());
    trunc.truncate(trunc.len() / 2);
    std::fs::write(sub.join("c.json.gz"), trunc).unwrap();
    std::fs::write(sub.join("d.json"), b"{\"eventName\": }").unwrap();
    std::fs::write(sub.join("e.json"), b"[{\"eventName\":\"StopLogging\"}, 3]").unwrap();
    std::fs::write(sub.join("notes.txt"), b"ignored").unwrap();
    let s = spec(&[("trail", "{ ($.eventName = StopLogging) || ($.eventName = DeleteTrail) }")], settings(1.0, 1));
    let r = run(&s, &[dir.path().to_path_buf()], &opts(2)).unwrap();
    assert_eq!(r.files_read, 2);
    assert_eq!(r.events, 5);
    assert_eq!(names(&r.unreadable), ["c.json.gz", "d.json", "e.json"]);
    assert!(r.unreadable[0].error.starts_with("cannot decompress"), "{:?}", r.unreadable);
    assert!(r.unreadable[1].error.contains("line 1, column 15"), "{:?}", r.unreadable);
    assert!(r.unreadable[2].error.contains("record is a number"), "{:?}", r.unreadable);
    let c = &r.controls[0];
    assert_eq!(c.matched, 4);
    let starts: Vec<String> = c.alarm.windows.iter().map(|w| format_time(w.start)).collect();
    assert_eq!(starts, ["2024-01-02T10:00:00Z", "2024-01-02T11:00:00Z"]);
    assert_eq!(c.alarm.windows[0].value, 3.0);
    assert_eq!(c.alarm.transitions, 2);
    assert_eq!(c.top_event_names[0], Count { value: "StopLogging".into(), count: 3 });
    assert_eq!(c.top_principals[0].value, "arn:aws:iam::111122223333:user/a");
    assert_eq!(c.daily, vec![(1_704_153_600, 4)]);
}

#[test]
fn leading_records_key_that_is_not_an_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        br#"{"Records":[{"eventName":"A"}],"eventName":"B"} {"Records":[{"eventName":"C"}]} [{"eventName":"D"}]"#;
    let f = dir.path().join("t.json");
    std::fs::write(&f, text).unwrap();
    let s = spec(&[("all", "{ $.eventName = * }"), ("rec", "{ $.Records NOT EXISTS }")], settings(1.0, 1));
    let r = run(&s, &[f], &opts(1)).unwrap();
    let expected = crate::events::parse_bytes("t", text).unwrap();
    assert_eq!(r.events as usize, expected.len());
    assert_eq!(r.events, 3);
    assert_eq!(r.controls[0].matched, 3);
    assert_eq!(r.controls[1].matched, 2);
}

/// The fixture directory: S3 layout, gz and plain, one truncated gz, one invalid JSON.
#[test]
fn fixture_directory_recursion() {
    let b = crate::baseline::load(crate::baseline::DEFAULT_BASELINE).unwrap();
    let s = Spec::from_baseline(&b);
    let r = run(&s, &[fixtures()], &opts(2)).unwrap();
    let bad = names(&r.unreadable);
    assert_eq!(bad.len(), 2, "{:?}", r.unreadable);
    assert!(bad.iter().any(|b| b.ends_with(".json.gz")) && bad.iter().any(|b| b.ends_with(".json")), "{bad:?}");
    assert!(r.files_read >= 3, "{}", r.files_read);
    assert!(r.controls.iter().all(|c| c.matched > 0), "every control has a true positive in the fixtures");
    // Same result with one worker.
    let r1 = run(&s, &[fixtures()], &opts(1)).unwrap();
    let m: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
    let m1: Vec<u64> = r1.controls.iter().map(|c| c.matched).collect();
    assert_eq!(m, m1);
    assert_eq!(r.events, r1.events);
}

/// What `cwfix pattern test` counts: `Pattern::matches` over `events::read_path` of each
/// readable file.
fn reference_counts(s: &Spec) -> (u64, Vec<u64>) {
    let mut files = Vec::new();
    walk::walk(&[fixtures()], &mut |p| {
        files.push(p);
        true
    })
    .unwrap();
    let mut events = 0u64;
    let mut counts = vec![0u64; s.controls.len()];
    for f in &files {
        let Ok(values) = crate::events::read_path(f) else { continue };
        for v in values {
            events += 1;
            let ev = Event::from_value(v);
            for (i, c) in s.controls.iter().enumerate() {
                counts[i] += u64::from(c.pattern.matches(&ev));
            }
        }
    }
    (events, counts)
}

#[test]
fn parity_with_pattern_matches() {
    let b = crate::baseline::load(crate::baseline::DEFAULT_BASELINE).unwrap();
    let s = Spec::from_baseline(&b);
    let r = run(&s, &[fixtures()], &opts(2)).unwrap();
    let (events, counts) = reference_counts(&s);
    assert_eq!(r.events, events);
    let got: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
    assert_eq!(got, counts);
}

/// Parity with patterns that need the whole message (terms) or whole document (`$.*`).
#[test]
fn parity_with_term_and_wildcard_patterns() {
    for extra in ["AccessDenied", "{ $.* = \"AccessDenied\" }"] {
        let s = spec(&[("t", extra), ("j", "{ $.eventName = Stop* }")], settings(1.0, 1));
        let r = run(&s, &[fixtures()], &opts(1)).unwrap();
        let (_, counts) = reference_counts(&s);
        let got: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
        assert_eq!(got, counts, "{extra}");
        assert!(counts[1] > 0);
    }
}

#[test]
fn plain_text_lines_are_events() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app.log");
    std::fs::write(&f, "10.0.0.1 - GET /admin 403\n10.0.0.2 - GET / 200\n\n{\"eventName\":\"X\"}\n").unwrap();
    let s = spec(
        &[("403", "[ip, dash, verb, path, status = 403]"), ("x", "{ $.eventName = X }"), ("get", "GET")],
        settings(1.0, 1),
    );
    let r = run(&s, &[f], &opts(1)).unwrap();
    assert_eq!(r.events, 3);
    let got: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
    assert_eq!(got, [1, 1, 2]);
    assert_eq!(r.controls[0].untimed, 1);
}

#[test]
fn missing_path_and_empty_inputs_are_errors() {
    let s = spec(&[("x", "{ $.eventName = X }")], settings(1.0, 1));
    let e = run(&s, &[PathBuf::from("/nonexistent/cwfix/x.json")], &opts(1)).unwrap_err();
    assert_eq!(e.to_string(), "`/nonexistent/cwfix/x.json` does not exist");
    let dir = tempfile::tempdir().unwrap();
    let e = run(&s, &[dir.path().to_path_buf()], &opts(1)).unwrap_err();
    assert!(matches!(e, Error::NoEvents { files_read: 0, .. }), "{e}");
    assert!(e.to_string().starts_with("no input files in"), "{e}");
    std::fs::write(dir.path().join("empty.json"), b"{\"Records\":[]}").unwrap();
    std::fs::write(dir.path().join("bad.json.gz"), b"\x1f\x8b\x08junk").unwrap();
    let e = run(&s, &[dir.path().to_path_buf()], &opts(1)).unwrap_err();
    assert!(matches!(&e, Error::NoEvents { files_read: 1, unreadable, .. } if unreadable.len() == 1), "{e}");
    assert!(e.to_string().contains("1 file(s) read, 1 unreadable (`"), "{e}");
}
