//! End-to-end tests of the local engine on small files.

use std::io::Write;
use std::path::PathBuf;

use super::*;

fn write(dir: &tempfile::TempDir, name: &str, events: &[serde_json::Value]) -> PathBuf {
    let p = dir.path().join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    writeln!(f, "{}", serde_json::json!({ "Records": events })).unwrap();
    p
}

fn ev(name: &str, region: &str, user: Option<&str>, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "eventTime": "2024-03-04T12:00:00Z", "eventName": name, "awsRegion": region,
        "eventSource": "sts.amazonaws.com", "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser"},
    });
    if let Some(u) = user {
        v["userIdentity"]["userName"] = u.into();
    }
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn run(q: &str, paths: &[PathBuf], jobs: usize) -> Outcome {
    run_local(&parse(q).unwrap(), paths, &Options { jobs, since: None, until: None }).unwrap()
}

fn corpus() -> (tempfile::TempDir, Vec<PathBuf>) {
    let d = tempfile::tempdir().unwrap();
    let a = write(
        &d,
        "a.json",
        &[
            ev("AssumeRole", "us-east-1", Some("ann"), serde_json::json!({})),
            ev("AssumeRoleWithSAML", "eu-west-1", None, serde_json::json!({})),
            ev("GetObject", "ap-south-1", Some("bob"), serde_json::json!({"errorCode": "AccessDenied"})),
        ],
    );
    let b = write(
        &d,
        "b.json",
        &[
            ev("AssumeRole", "ap-south-1", None, serde_json::json!({"resources": [{"ARN": "arn:r1"}]})),
            ev(
                "ConsoleLogin",
                "us-west-1",
                Some("cy"),
                serde_json::json!({"eventSource": "signin.amazonaws.com", "errorMessage": "Failed authentication"}),
            ),
        ],
    );
    (d, vec![a, b])
}

#[test]
fn fields_filter_and_aliases() {
    let (_d, p) = corpus();
    for jobs in [1, 3] {
        let o = run(
            "fields eventName, coalesce(userIdentity.userName, resources.0.ARN) as who, concat(who, '/', eventName) as k \
             | filter eventName like 'AssumeRole' and eventName not like 'AssumeRoleWithSAML'",
            &p,
            jobs,
        );
        assert_eq!(o.columns, ["eventName", "who", "k"]);
        assert_eq!(
            o.rows,
            vec![
                vec![Some("AssumeRole".into()), Some("ann".into()), Some("ann/AssumeRole".into())],
                vec![Some("AssumeRole".into()), Some("arn:r1".into()), Some("arn:r1/AssumeRole".into())],
            ]
        );
        assert_eq!(o.stats.records_scanned, 5);
        assert_eq!(o.stats.records_matched, 2);
    }
}

#[test]
fn not_equal_is_true_on_missing_fields() {
    let (_d, p) = corpus();
    let o = run("filter errorCode != 'AccessDenied' | display eventName", &p, 2);
    assert_eq!(o.rows.len(), 4);
    let o = run("filter errorCode = 'AccessDenied' or not ispresent(userIdentity.userName) | display eventName", &p, 2);
    assert_eq!(o.rows.len(), 3);
    let o = run("filter awsRegion in ['us-east-1', 'us-west-1'] | display awsRegion", &p, 2);
    assert_eq!(o.rows.len(), 2);
}

#[test]
fn stats_sort_limit() {
    let (_d, p) = corpus();
    let o = run("stats count(*) as n by awsRegion | sort n desc, awsRegion | limit 2", &p, 2);
    assert_eq!(o.columns, ["awsRegion", "n"]);
    assert_eq!(
        o.rows,
        vec![vec![Some("ap-south-1".into()), Some("2".into())], vec![Some("eu-west-1".into()), Some("1".into())]]
    );
    let o = run("filter @message like 'error' | stats count(*), count(errorCode) as e", &p, 1);
    assert_eq!(o.rows, vec![vec![Some("2".into()), Some("1".into())]]);
}

#[test]
fn sort_and_limit_stream_with_bounded_rows() {
    let (_d, p) = corpus();
    let o = run("fields eventName, awsRegion | sort awsRegion desc | limit 2", &p, 2);
    assert_eq!(o.rows.iter().map(|r| r[1].clone().unwrap()).collect::<Vec<_>>(), ["us-west-1", "us-east-1"]);
    let o = run("limit 1", &p, 2);
    assert_eq!(o.columns, ["@timestamp", "@message"]);
    assert_eq!(o.rows[0][0].as_deref(), Some("2024-03-04 12:00:00.000"));
    assert!(o.rows[0][1].as_deref().unwrap().contains(r#""eventName":"AssumeRole""#));
}

#[test]
fn local_errors() {
    let e = exec::run(&parse("fields @logStream").unwrap(), &[], &Options { jobs: 1, since: None, until: None })
        .unwrap_err();
    assert!(e.to_string().contains("`@logStream` is not in CloudTrail files"), "{e}");
    let e = exec::run(&parse("sort a | filter b = 1").unwrap(), &[], &Options { jobs: 1, since: None, until: None })
        .unwrap_err();
    assert!(e.to_string().contains("move the filter before"), "{e}");
}
