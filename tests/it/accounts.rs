//! Several accounts (issue #5): `--assume-role` plans each account; an organization trail that
//! delivers to another account's log group is not a false gap of the member account.

use crate::common::*;
use crate::util::{aws_cli, aws_json, venv_python, Moto};
use serde_json::json;

const MEMBER: &str = "123456789012";
const LOGGING: &str = "111122223333";

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

fn seed_as(moto: &Moto, creds: &(String, String, String), scenario: &serde_json::Value) {
    use std::io::Write;
    let mut child = std::process::Command::new(venv_python())
        .arg(crate::util::repo_root().join("tests/moto/seed.py"))
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
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "seed as role failed");
}

#[test]
fn organization_trail_is_planned_in_the_account_that_owns_the_log_group() {
    let moto = Moto::start();
    // The logging account holds the trail's log group and the chain.
    let logging_role = format!("arn:aws:iam::{LOGGING}:role/cwfix");
    let creds = assume(&moto, &logging_role);
    seed_as(&moto, &creds, &trail_scenario());
    // The member account's trail delivers to the logging account's log group.
    let st = aws_cli(&moto).args(["s3", "mb", "s3://member-trail"]).status().unwrap();
    assert!(st.success());
    let group_arn = format!("arn:aws:logs:us-east-1:{LOGGING}:log-group:{GROUP}:*");
    aws_json(
        &moto,
        &[
            "cloudtrail",
            "create-trail",
            "--name",
            "org",
            "--s3-bucket-name",
            "member-trail",
            "--is-multi-region-trail",
            "--cloud-watch-logs-log-group-arn",
            &group_arn,
            "--cloud-watch-logs-role-arn",
            &format!("arn:aws:iam::{MEMBER}:role/ct"),
        ],
    );
    aws_json(&moto, &["cloudtrail", "start-logging", "--name", "org"]);

    // From the member account alone: not a gap, but "monitored in account ...".
    let member = run(&moto, &["plan", "-o", "json"]);
    assert_eq!(member.code, 3, "nothing to change here, a person must look elsewhere: {member:?}");
    let p = member.json();
    assert_eq!(p["account"], MEMBER);
    assert_eq!(status_of(&p, "5.1"), "unknown", "{p:#}");
    assert!(p["controls"][0]["reason"].as_str().unwrap().contains(&format!("monitored in account {LOGGING}")), "{p:#}");
    assert_eq!(p["changes"], json!([]));

    // Both accounts in one run: the logging account gets the plan.
    let both = run(
        &moto,
        &[
            "plan",
            "-o",
            "json",
            "--subscribe",
            "email:sec@example.com",
            "--assume-role",
            &format!("arn:aws:iam::{MEMBER}:role/cwfix"),
            "--assume-role",
            &logging_role,
        ],
    );
    assert_eq!(both.code, 2, "{both:?}");
    let doc = both.json();
    assert_eq!(doc["format_version"], "2.0");
    assert_eq!(doc["errors"], json!([]));
    let plans = doc["accounts"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["account"], MEMBER);
    assert_eq!(plans[1]["account"], LOGGING);
    assert_eq!(plans[1]["summary"]["add"], 32, "{:#}", plans[1]);
    assert!(both.stderr.contains(&format!("lives in account {LOGGING}")), "{both:?}");

    // The same with --accounts and a role name.
    let by_name =
        run(&moto, &["plan", "-o", "json", "--accounts", &format!("{MEMBER},{LOGGING}"), "--role-name", "cwfix"]);
    // No subscriber named: blocked in the logging account too, nothing cwfix can change.
    assert_eq!(by_name.code, 3, "{by_name:?}");
    assert_eq!(by_name.json()["accounts"].as_array().unwrap().len(), 2);

    // And apply acts in the assumed account.
    let applied =
        run(&moto, &["apply", "--yes", "--subscribe", "email:sec@example.com", "--assume-role", &logging_role]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let member_after = run(&moto, &["plan", "-o", "json"]).json();
    assert_eq!(member_after["changes"], json!([]), "nothing was written to the member account");
}
