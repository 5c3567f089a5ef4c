//! `cwfix hunt` and the Athena / Insights engines (issue #13).
//!
//! - The DuckDB harness (tests/athena/harness.py): the Trino SQL means what the patterns and
//!   queries mean, for every control of every shipped baseline, and the seed queries give the
//!   same rows locally, in SQL and in an independent Python evaluator.
//! - The CLI: seed queries over the fixture, formats, stdin, caret errors.
//! - Athena against moto: moto's Athena does not run SQL (it returns canned results queued
//!   through `/moto-api/static/athena/query-results`), so this tests the plumbing: the SQL
//!   reaches StartQueryExecution, cwfix polls until SUCCEEDED, reads the result set and
//!   rebuilds the report from it.
//! - Insights against moto: the launcher answers StartQuery/GetQueryResults the way Insights
//!   does (see its Logs Insights block), so the rows must equal the local engine's.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{run, Out};
use crate::util::{aws_json, repo_root, venv_python, Moto};

fn fixture() -> String {
    repo_root().join("tests/data/backtest").display().to_string()
}

/// cwfix without moto (local engine): the plain binary in the repo root.
fn local(args: &[&str], stdin: &str) -> Out {
    let mut cmd = assert_cmd::Command::cargo_bin("cwfix").expect("cwfix binary");
    cmd.current_dir(repo_root()).env("NO_COLOR", "1").args(args).write_stdin(stdin.to_string());
    let o = cmd.output().expect("run cwfix");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn athena_sql_is_equivalent_in_duckdb_for_every_baseline() {
    let bin: PathBuf = assert_cmd::cargo::cargo_bin("cwfix");
    let out = Command::new(venv_python())
        .arg(repo_root().join("tests/athena/harness.py"))
        .arg("--cwfix")
        .arg(&bin)
        .arg("--json")
        .current_dir(repo_root())
        .output()
        .expect("run tests/athena/harness.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The per-baseline lines are the evidence; show them with --nocapture.
    println!("{stdout}");
    assert!(out.status.success(), "harness failed ({}):\n{stdout}\n{stderr}", out.status);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("JSON summary");
    assert_eq!(summary["ok"], true);
    let baselines = summary["backtests"].as_array().unwrap();
    // Every shipped baseline plus the filter-vector patterns.
    assert!(baselines.len() >= 10, "{summary}");
    assert_eq!(summary["hunts"].as_array().unwrap().len(), 7);
}

#[test]
fn seed_queries_run_unchanged_over_the_fixture() {
    for (name, rows) in
        [("failed-logins", 5), ("role-assumptions-outside-federation", 20), ("activity-outside-approved-regions", 78)]
    {
        let o = local(&["hunt", "--saved", name, "--account", "111122223333", &fixture(), "-o", "json"], "");
        assert_eq!(o.code, 0, "{o:?}");
        let v = o.json();
        assert_eq!(v["engine"], "local");
        assert_eq!(v["rows"].as_array().unwrap().len(), rows, "{name}: {o:?}");
        assert_eq!(v["columns"][1], "username");
        assert_eq!(v["stats"]["bad_files"].as_array().unwrap().len(), 2, "the fixture's broken files are skipped");
        assert!(o.stderr.contains("could not be read"), "{o:?}");
    }
    // Another account: nothing.
    let o =
        local(&["hunt", "--saved", "failed-logins", "--account", "999999999999", &fixture(), "--format", "csv"], "");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.lines().count(), 1, "header only: {o:?}");
}

#[test]
fn formats_stdin_and_errors() {
    let recs = r#"{"eventName":"AssumeRole","awsRegion":"eu-west-1","userIdentity":{"userName":"a,b"}}
{"eventName":"GetObject","awsRegion":"us-east-1"}"#;
    let o = local(
        &[
            "hunt",
            "fields eventName, userIdentity.userName as who | filter awsRegion != 'us-east-1'",
            "-",
            "--format",
            "csv",
        ],
        recs,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "eventName,who\r\nAssumeRole,\"a,b\"\r\n");
    let o = local(&["hunt", "stats count(*) as n by awsRegion | sort n desc", "-"], recs);
    assert_eq!(o.stdout, "awsRegion  n\neu-west-1  1\nus-east-1  1\n", "{o:?}");

    let o = local(&["hunt", "fields eventName | dedup eventName", "-"], recs);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("unsupported command `dedup`"), "{o:?}");
    assert!(o.stderr.contains("  fields eventName | dedup eventName\n                     ^"), "{o:?}");
    let o = local(&["hunt", "fields toupper(eventName)", "-"], recs);
    assert!(o.stderr.contains("unsupported function `toupper`"), "{o:?}");
    let o = local(&["hunt", "fields @message | filter @message like 'x'", "--engine", "athena", "--sql"], "");
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("strpos((concat('{'"), "{o:?}");
    let o = local(&["hunt", "fields managementEvent", "--engine", "athena", "--sql"], "");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("`managementEvent` is not a column of the CloudTrail table"), "{o:?}");
    let o = local(&["backtest", "--sql", "-b", "cis-v1.2"], "");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("--engine athena"), "{o:?}");
}

#[test]
fn backtest_sql_prunes_partitions() {
    let o = local(
        &[
            "backtest",
            "--engine",
            "athena",
            "--sql",
            "--database",
            "security",
            "--table",
            "ct_pp",
            "--partitions",
            "projected",
            "--since",
            "2024-03-01",
            "--until",
            "2024-03-08",
        ],
        "",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("FROM \"security\".\"ct_pp\""), "{o:?}");
    assert!(o.stdout.contains("\"timestamp\" >= '2024/03/01'"), "{o:?}");
    assert!(o.stdout.contains("eventtime < '2024-03-08T00:00:00Z'"), "{o:?}");
    assert_eq!(o.stdout.matches("\"ct_pp\"").count(), 1, "one table scan: {o:?}");
}

/// Queue Athena results in moto: a header row then `rows`.
fn queue_athena(moto: &Moto, columns: &[&str], rows: &[Vec<&str>]) {
    let cell = |s: &str| if s == "NULL" { json!({}) } else { json!({"VarCharValue": s}) };
    let mut all = vec![json!({"Data": columns.iter().map(|c| cell(c)).collect::<Vec<_>>()})];
    all.extend(rows.iter().map(|r| json!({"Data": r.iter().map(|c| cell(c)).collect::<Vec<_>>()})));
    let info: Vec<Value> = columns.iter().map(|c| json!({"Name": c, "Type": "varchar"})).collect();
    let body = json!({"results": [{"rows": all, "column_info": info}]});
    let (status, text) = moto.http("POST", "/moto-api/static/athena/query-results", Some(&body.to_string()));
    assert_eq!(status, 201, "{text}");
}

#[test]
fn athena_backtest_plumbing_against_moto() {
    let moto = Moto::start();
    // 2024-03-04T12:00:00Z = 1709553600; alarm periods of 300 s.
    let p = (1_709_553_600 / 300).to_string();
    queue_athena(
        &moto,
        &["control", "kind", "k", "n", "t_min", "t_max"],
        &[
            vec!["*", "matched", "NULL", "1000", "1709553600", "1709640000"],
            vec!["5.3", "matched", "NULL", "2", "1709553600", "1709553700"],
            vec!["5.3", "period", &p, "2", "1709553600", "1709553700"],
            vec!["5.3", "day", "19786", "2", "1709553600", "1709553700"],
            vec!["5.3", "principal", "Root", "2", "1709553600", "1709553700"],
            vec!["5.3", "event_name", "ConsoleLogin", "2", "1709553600", "1709553700"],
            vec!["5.3", "ip", "192.0.2.1", "2", "1709553600", "1709553700"],
        ],
    );
    let o = run(
        &moto,
        &[
            "backtest",
            "--engine",
            "athena",
            "--database",
            "security",
            "--output-location",
            "s3://athena-results/cwfix/",
            "-o",
            "json",
        ],
    );
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    assert_eq!(v["events"], 1000);
    let root = v["controls"].as_array().unwrap().iter().find(|c| c["id"] == "5.3").unwrap();
    assert_eq!(root["matched"], 2);
    assert_eq!(root["alarm_windows"], 1);
    assert_eq!(root["top_principals"], json!([{"value": "Root", "count": 2}]));
    assert_eq!(root["daily"], json!([{"date": "2024-03-04", "matched": 2}, {"date": "2024-03-05", "matched": 0}]));
    // The SQL reached Athena, with the database and output location.
    let ids = aws_json(&moto, &["athena", "list-query-executions"]);
    let id = ids["QueryExecutionIds"][0].as_str().unwrap().to_string();
    let ex = aws_json(&moto, &["athena", "get-query-execution", "--query-execution-id", &id]);
    let q = &ex["QueryExecution"];
    assert!(q["Query"].as_str().unwrap().starts_with("-- cwfix backtest --engine athena: baseline cis-v7.0"), "{q:#}");
    assert_eq!(q["QueryExecutionContext"]["Database"], "security");
    assert!(q["ResultConfiguration"]["OutputLocation"].as_str().unwrap().starts_with("s3://athena-results/cwfix/"));

    // A hunt: the result set's columns and rows, header row dropped.
    queue_athena(&moto, &["eventName", "n"], &[vec!["AssumeRole", "7"], vec!["ConsoleLogin", "NULL"]]);
    let o = run(
        &moto,
        &[
            "hunt",
            "stats count(*) as n by eventName",
            "--engine",
            "athena",
            "--workgroup",
            "primary",
            "--output-location",
            "s3://r/",
        ],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "eventName     n\nAssumeRole    7\nConsoleLogin\n", "{o:?}");
}

#[test]
fn insights_engine_against_moto_matches_the_local_engine() {
    let moto = Moto::start();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let group = "aws-cloudtrail-logs-hunt";
    let mut records = Vec::new();
    for (i, (name, region, user)) in [
        ("AssumeRole", "us-east-1", "ann"),
        ("AssumeRoleWithSAML", "eu-west-1", "bob"),
        ("ConsoleLogin", "ap-south-1", "cy"),
        ("AssumeRole", "sa-east-1", "dee"),
    ]
    .iter()
    .enumerate()
    {
        let t = now - 600 + i as i64 * 60;
        let time = cwfix::backtest::format_time(t);
        records.push((
            t,
            json!({"eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "userName": user,
                   "arn": format!("arn:aws:iam::111122223333:user/{user}")},
                   "eventTime": time, "eventSource": "sts.amazonaws.com", "eventName": name, "awsRegion": region,
                   "recipientAccountId": "111122223333", "sourceIPAddress": "192.0.2.1"}),
        ));
    }
    aws_json(&moto, &["logs", "create-log-group", "--log-group-name", group]);
    aws_json(&moto, &["logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "s"]);
    let events: Vec<Value> =
        records.iter().map(|(t, r)| json!({"timestamp": t * 1000, "message": r.to_string()})).collect();
    let file = moto.tmp().join("events.json");
    std::fs::write(&file, serde_json::to_string(&events).unwrap()).unwrap();
    aws_json(
        &moto,
        &[
            "logs",
            "put-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            "s",
            "--log-events",
            &format!("file://{}", file.display()),
        ],
    );
    let local_file = moto.tmp().join("records.jsonl");
    std::fs::write(&local_file, records.iter().map(|(_, r)| r.to_string() + "\n").collect::<String>()).unwrap();

    for saved in ["role-assumptions-outside-federation", "activity-outside-approved-regions"] {
        let o = run(
            &moto,
            &[
                "hunt",
                "--saved",
                saved,
                "--account",
                "111122223333",
                "--engine",
                "insights",
                "--log-group",
                group,
                "--since",
                "1h",
                "-o",
                "json",
            ],
        );
        assert_eq!(o.code, 0, "{o:?}");
        let remote = o.json();
        let l = local(
            &["hunt", "--saved", saved, "--account", "111122223333", local_file.to_str().unwrap(), "-o", "json"],
            "",
        );
        assert_eq!(l.code, 0, "{l:?}");
        let mine = l.json();
        assert_eq!(remote["engine"], "insights");
        assert_eq!(remote["columns"], mine["columns"]);
        assert_eq!(remote["rows"], mine["rows"], "{saved}");
        assert!(!mine["rows"].as_array().unwrap().is_empty(), "{saved}");
    }
    // cwfix polled: the first GetQueryResults of each query says Running.
    assert!(moto.calls_of("logs", "GetQueryResults") >= 4, "{:#}", moto.calls());
    assert_eq!(moto.calls_of("logs", "StartQuery"), 2);

    let o = run(&moto, &["hunt", "fields eventName", "--engine", "insights", "--log-group", group]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("--since"), "{o:?}");
}
