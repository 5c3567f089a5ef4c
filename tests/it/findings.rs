//! Findings outputs (issue #12): `cwfix plan -o sarif|asff|junit|csv` on the demo account and on
//! several accounts, validated with real tools from the moto venv (`tests/it/findings_check.py`):
//! the SARIF against the official 2.1.0 JSON schema (`tests/data/sarif/`), the JUnit with
//! `xml.etree` and `junitparser`, the ASFF with botocore's BatchImportFindings model, and the ASFF
//! round-tripped through moto's Security Hub.

use crate::common::*;
use crate::util::{aws_json, repo_root, venv_python, Moto};
use serde_json::{json, Value};
use std::path::Path;

const SUB: &str = "email:sec@example.com";

/// The demo account of `scripts/demo.sh`.
fn demo_scenario() -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/moto/scenarios/demo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `findings_check.py MODE FILE [ARGS]`; returns its JSON summary, panicking with its
/// report when the file does not validate.
fn check(mode: &str, file: &Path, extra: &[&Path]) -> Value {
    let out = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/it/findings_check.py"))
        .arg(mode)
        .arg(file)
        .args(extra)
        .output()
        .expect("run findings_check.py");
    assert!(
        out.status.success(),
        "{mode} output of {} does not validate:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `cwfix plan ARGS -o FORMAT` written to `<workdir>/NAME`; asserts plan's exit code (2
/// changes planned, or 3 nothing to change but controls open).
fn plan_to(moto: &Moto, format: &str, name: &str, args: &[&str]) -> std::path::PathBuf {
    let mut all = vec!["plan", "-o", format];
    all.extend_from_slice(args);
    let out = run(moto, &all);
    assert!(out.code == 2 || out.code == 3, "{out:?}");
    let path = moto.workdir().join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

#[test]
fn demo_account_findings_validate_in_every_format() {
    let moto = Moto::start();
    moto.seed(&demo_scenario());
    let args = ["--topic", "security-alerts"];
    let plan = run(&moto, &["plan", "-o", "json", "--topic", "security-alerts"]).json();
    let open = plan["controls"].as_array().unwrap().iter().filter(|c| c["status"] != "compliant").count();
    assert_eq!(open, 14, "the demo account holds 5.3 only");

    let sarif = plan_to(&moto, "sarif", "cwfix.sarif", &args);
    let schema = repo_root().join("tests/data/sarif/sarif-schema-2.1.0.json");
    let s = check("sarif", &sarif, &[&schema]);
    assert_eq!(s["valid"], true);
    assert_eq!(s["results"], open, "one result per control that does not hold: {s}");
    assert_eq!(s["rules"], 15);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let r54 = doc["runs"][0]["results"].as_array().unwrap().iter().find(|r| r["ruleId"] == "cis-v7.0/5.4").unwrap();
    assert_eq!(r54["properties"]["witness"], json!({"eventName": "DetachGroupPolicy"}), "{r54:#}");
    assert_eq!(r54["properties"]["fix"][0]["address"], "metric_filter.aws-cloudtrail-logs-demo/IAMPolicyChanges");
    assert!(r54["properties"]["fix"][0]["after"]["filter_pattern"].as_str().unwrap().contains("DetachGroupPolicy"));
    assert_eq!(r54["properties"]["scanners"]["securityhub"], "pass");
    assert_eq!(
        r54["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "123456789012/us-east-1/metric_filter.aws-cloudtrail-logs-demo/IAMPolicyChanges"
    );
    let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let rule53 = rules.iter().find(|r| r["id"] == "cis-v7.0/5.3").unwrap();
    assert_eq!(rule53["properties"]["scanner_ids"]["securityhub"], "CloudWatch.1");
    assert_eq!(rule53["properties"]["scanner_ids"]["prowler"], "cloudwatch_log_metric_filter_root_usage");

    let junit = plan_to(&moto, "junit", "cwfix.xml", &args);
    let j = check("junit", &junit, &[]);
    assert_eq!(j["tests"], 15);
    assert_eq!(j["failures"], open);
    assert_eq!(j["errors"], 0);
    assert_eq!(j["classnames"], json!(["123456789012/cis-v7.0"]));

    let asff = plan_to(&moto, "asff", "cwfix.asff.json", &args);
    let a = check("asff", &asff, &[]);
    assert_eq!(a["findings"], 15);
    assert_eq!(a["statuses"], json!({"FAILED": open, "PASSED": 1}));

    let csv = run(&moto, &["plan", "-o", "csv", "--topic", "security-alerts"]);
    assert_eq!(csv.code, 2);
    let lines: Vec<&str> = csv.stdout.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "account,region,baseline,control,title,status,reason,changes,scanners");
    assert_eq!(lines.len(), 16);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("123456789012,us-east-1,cis-v7.0,5.3,Usage of the root account,compliant,")));
    assert!(lines.iter().any(|l| l.contains(",5.1,") && l.contains(",metric_alarm.UnauthorizedAPICallsAlarm,")));
}

#[test]
fn unknown_controls_are_warnings_errors_and_asff_warnings() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    // Deny the alarm read: every control is unknown.
    moto.set_faults(json!({"deny": ["cloudwatch:DescribeAlarms"]}));
    let sarif = plan_to(&moto, "sarif", "u.sarif", &["--subscribe", SUB]);
    let s = check("sarif", &sarif, &[&repo_root().join("tests/data/sarif/sarif-schema-2.1.0.json")]);
    assert_eq!(s["levels"], json!({"warning": 15}), "{s}");
    let j = check("junit", &plan_to(&moto, "junit", "u.xml", &["--subscribe", SUB]), &[]);
    assert_eq!((j["errors"].as_u64(), j["failures"].as_u64()), (Some(15), Some(0)), "{j}");
    let a = check("asff", &plan_to(&moto, "asff", "u.json", &["--subscribe", SUB]), &[]);
    assert_eq!(a["statuses"], json!({"WARNING": 15}), "{a}");
}

#[test]
fn asff_round_trips_through_moto_security_hub_without_duplicates() {
    let moto = Moto::start();
    moto.seed(&near_miss_scenario(&moto));
    aws_json(&moto, &["securityhub", "enable-security-hub"]);
    let asff = plan_to(&moto, "asff", "findings.json", &[]);
    let file = format!("file://{}", asff.display());
    for _ in 0..2 {
        let r = aws_json(&moto, &["securityhub", "batch-import-findings", "--findings", &file]);
        assert_eq!((r["SuccessCount"].as_u64(), r["FailedCount"].as_u64()), (Some(15), Some(0)), "{r:#}");
    }
    let found = aws_json(&moto, &["securityhub", "get-findings", "--max-results", "100"]);
    let list = found["Findings"].as_array().unwrap();
    assert_eq!(list.len(), 15, "two imports of the same findings leave one per control");
    let failed: Vec<&str> = list
        .iter()
        .filter(|f| f["Compliance"]["Status"] == "FAILED")
        .map(|f| f["GeneratorId"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["cwfix/cis-v7.0/5.1", "cwfix/cis-v7.0/5.4"]);

    // Fixed: the same ids come back PASSED and update the findings in place.
    let out = run(&moto, &["apply", "--yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    let again = run(&moto, &["plan", "-o", "asff"]);
    assert_eq!(again.code, 0, "{again:?}");
    std::fs::write(&asff, &again.stdout).unwrap();
    aws_json(&moto, &["securityhub", "batch-import-findings", "--findings", &file]);
    let found = aws_json(&moto, &["securityhub", "get-findings", "--max-results", "100"]);
    let list = found["Findings"].as_array().unwrap();
    assert_eq!(list.len(), 15);
    assert!(list.iter().all(|f| f["Compliance"]["Status"] == "PASSED"), "{found:#}");
}

/// Credentials for `role_arn` from moto's STS (moto keeps a separate state per account).
fn assume(moto: &Moto, role_arn: &str) -> (String, String, String) {
    let v = aws_json(moto, &["sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "seed"]);
    let c = &v["Credentials"];
    (
        c["AccessKeyId"].as_str().unwrap().into(),
        c["SecretAccessKey"].as_str().unwrap().into(),
        c["SessionToken"].as_str().unwrap().into(),
    )
}

/// `seed.py seed` with another account's credentials.
fn seed_as(moto: &Moto, creds: &(String, String, String), scenario: &Value) {
    use std::io::Write;
    let mut child = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/moto/seed.py"))
        .args([moto.url().as_str(), "seed"])
        .env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .env("AWS_SESSION_TOKEN", &creds.2)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(scenario.to_string().as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success(), "seed as role failed");
}

#[test]
fn several_accounts_are_one_document_with_findings_per_account() {
    let moto = Moto::start();
    moto.seed(&near_miss_scenario(&moto));
    let other = "111122223333";
    // S3 bucket names are global: the other account's trail writes to a bucket of its own.
    let mut sc = trail_scenario();
    sc["trails"][0]["s3_bucket"] = json!("other-account-trail");
    seed_as(&moto, &assume(&moto, &format!("arn:aws:iam::{other}:role/cwfix")), &sc);
    let args = ["--accounts", "123456789012,111122223333", "--role-name", "cwfix", "--subscribe", SUB];
    let schema = repo_root().join("tests/data/sarif/sarif-schema-2.1.0.json");
    let s = check("sarif", &plan_to(&moto, "sarif", "two.sarif", &args), &[&schema]);
    assert_eq!(s["results"], 2 + 15, "{s}");
    let j = check("junit", &plan_to(&moto, "junit", "two.xml", &args), &[]);
    assert_eq!(j["suites"], 2);
    assert_eq!(j["tests"], 30);
    assert_eq!(j["classnames"], json!(["111122223333/cis-v7.0", "123456789012/cis-v7.0"]));
    let asff = plan_to(&moto, "asff", "two.json", &args);
    let a = check("asff", &asff, &[]);
    assert_eq!(a["findings"], 30);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&asff).unwrap()).unwrap();
    let accounts: std::collections::BTreeSet<&str> =
        doc.as_array().unwrap().iter().map(|f| f["AwsAccountId"].as_str().unwrap()).collect();
    assert_eq!(accounts.into_iter().collect::<Vec<_>>(), vec![other, "123456789012"]);
    let ids: Vec<&str> = doc.as_array().unwrap().iter().map(|f| f["Id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"cwfix/111122223333/us-east-1/cis-v7.0/5.1"), "{ids:?}");
    assert!(doc.as_array().unwrap().iter().all(|f| f["ProductArn"]
        == format!("arn:aws:securityhub:us-east-1:{0}:product/{0}/default", f["AwsAccountId"].as_str().unwrap())));
    let csv = run(&moto, &["plan", "-o", "csv", "--accounts", "123456789012,111122223333", "--role-name", "cwfix"]);
    assert_eq!(csv.stdout.split("\r\n").filter(|l| !l.is_empty()).count(), 31);
}

#[test]
fn findings_formats_are_for_plan_only() {
    let moto = Moto::start();
    for args in [&["runs", "-o", "sarif"][..], &["apply", "--yes", "-o", "junit"][..], &["baselines", "-o", "csv"][..]]
    {
        let out = run(&moto, args);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stderr.contains("only `cwfix plan` writes"), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}
