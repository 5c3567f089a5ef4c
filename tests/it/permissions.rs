//! AccessDenied (issue #5): a principal that may not read part of the chain. The controls that
//! depend on the denied read are `unknown` — never `compliant`, never "fixed" by creating what
//! could not be read — and the plan names the missing IAM action.
//!
//! Denials come from moto's real IAM enforcement (`POST /moto-api/reset-auth` with body `0`),
//! with the launcher answering each service's own error (`AccessDeniedException` for logs,
//! `AccessDenied` for CloudWatch's CBOR protocol and STS, `AuthorizationError` for SNS).

use crate::common::*;
use crate::util::{aws_json, Moto};
use serde_json::{json, Value};

const SUB: &str = "email:secops@example.com";

/// An IAM user allowed everything except `denied`, with an access key: (key id, secret).
/// Must run while IAM enforcement is still off.
pub(crate) fn limited_user(moto: &Moto, name: &str, denied: &[&str]) -> (String, String) {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": denied, "Resource": "*"}
        ]
    })
    .to_string();
    aws_json(moto, &["iam", "create-user", "--user-name", name]);
    aws_json(
        moto,
        &["iam", "put-user-policy", "--user-name", name, "--policy-name", "cwfix-it", "--policy-document", &policy],
    );
    let key = aws_json(moto, &["iam", "create-access-key", "--user-name", name]);
    let id = key["AccessKey"]["AccessKeyId"].as_str().expect("access key id").to_string();
    let secret = key["AccessKey"]["SecretAccessKey"].as_str().expect("secret").to_string();
    (id, secret)
}

/// Turns moto's IAM enforcement on for every later request (seed.py's requests excepted).
pub(crate) fn enforce_iam(moto: &Moto) {
    let (status, body) = moto.http("POST", "/moto-api/reset-auth", Some("0"));
    assert_eq!(status, 200, "reset-auth: {body}");
}

pub(crate) fn run_as(moto: &Moto, key: &(String, String), args: &[&str]) -> Out {
    run_env(moto, args, &[("AWS_ACCESS_KEY_ID", key.0.as_str()), ("AWS_SECRET_ACCESS_KEY", key.1.as_str())])
}

fn controls(plan: &Value) -> Vec<Value> {
    plan["controls"].as_array().cloned().unwrap_or_default()
}

/// Every control is `unknown`, and its reason or the plan's warnings name `action`.
fn assert_all_unknown_naming(out: &Out, action: &str) -> Value {
    assert_eq!(out.code, 3, "a denied read is a gap: exit 3 ({action}): {out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    let plan = out.json();
    let cs = controls(&plan);
    assert!(!cs.is_empty(), "{plan:#}");
    for c in &cs {
        assert_eq!(c["status"], "unknown", "control {} with {action} denied: {c:#}", c["id"]);
        let named = c["reason"].as_str().unwrap_or("").contains(action)
            || plan["warnings"].as_array().is_some_and(|w| w.iter().any(|x| x.as_str().unwrap_or("").contains(action)));
        assert!(named, "neither the reason of {} nor the warnings name {action}: {plan:#}", c["id"]);
    }
    assert!(
        plan["warnings"].as_array().is_some_and(|w| w.iter().any(|x| x.as_str().unwrap_or("").contains(action))),
        "warnings name {action}: {plan:#}"
    );
    plan
}

/// No change of one of `kinds` is planned (what could not be read is never created or updated).
fn assert_no_changes_of(plan: &Value, kinds: &[&str]) {
    for (kind, action, address) in changes(plan) {
        assert!(
            !kinds.contains(&kind.as_str()),
            "planned {action} {address} although its kind could not be read: {plan:#}"
        );
    }
}

#[test]
fn denied_metric_filters_on_a_bare_trail_are_unknown_not_created() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let key = limited_user(&moto, "no-filters", &["logs:DescribeMetricFilters"]);
    enforce_iam(&moto);
    let out = run_as(&moto, &key, &["plan", "-o", "json", "--subscribe", SUB]);
    let plan = assert_all_unknown_naming(&out, "logs:DescribeMetricFilters");
    assert_no_changes_of(&plan, &["metric_filter", "metric_alarm"]);
    assert!(moto.calls()["calls"]["logs"]["DescribeMetricFilters"].as_u64().unwrap_or(0) >= 1, "{}", moto.calls());
    // The text plan says it too, on stdout, and exits 3 the same way.
    let text = run_as(&moto, &key, &["plan", "--subscribe", SUB]);
    assert_eq!(text.code, 3, "{text:?}");
    assert!(text.stdout.contains("unknown") && text.stdout.contains("logs:DescribeMetricFilters"), "{text:?}");
    assert!(!text.stdout.contains("compliant") && !text.stdout.contains("  ok "), "{text:?}");
}

#[test]
fn denied_metric_filters_on_a_compliant_account_are_unknown_not_compliant() {
    let moto = Moto::start();
    moto.seed(&compliant_scenario(&moto, |_, p| p.to_string()));
    let admin = run(&moto, &["plan", "-o", "json", "--subscribe", SUB]);
    assert_eq!(admin.code, 0, "the account is compliant for a reader with every permission: {admin:?}");
    let key = limited_user(&moto, "no-filters", &["logs:DescribeMetricFilters"]);
    enforce_iam(&moto);
    let out = run_as(&moto, &key, &["plan", "-o", "json", "--subscribe", SUB]);
    let plan = assert_all_unknown_naming(&out, "logs:DescribeMetricFilters");
    assert_no_changes_of(&plan, &["metric_filter", "metric_alarm"]);
}

#[test]
fn denied_alarms_are_unknown_and_no_alarm_is_created() {
    let moto = Moto::start();
    moto.seed(&compliant_scenario(&moto, |_, p| p.to_string()));
    let key = limited_user(&moto, "no-alarms", &["cloudwatch:DescribeAlarms"]);
    enforce_iam(&moto);
    let out = run_as(&moto, &key, &["plan", "-o", "json", "--subscribe", SUB]);
    let plan = assert_all_unknown_naming(&out, "cloudwatch:DescribeAlarms");
    assert_no_changes_of(&plan, &["metric_alarm", "metric_filter"]);
    // The denial went through the CBOR protocol (what the Rust SDK speaks to CloudWatch).
    assert!(moto.calls_of("cloudwatch", "DescribeAlarms") >= 1, "{}", moto.calls());
}

#[test]
fn denied_alarms_on_a_bare_trail_plan_no_alarm() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let key = limited_user(&moto, "no-alarms", &["cloudwatch:DescribeAlarms"]);
    enforce_iam(&moto);
    let out = run_as(&moto, &key, &["plan", "-o", "json", "--subscribe", SUB]);
    let plan = assert_all_unknown_naming(&out, "cloudwatch:DescribeAlarms");
    assert_no_changes_of(&plan, &["metric_alarm"]);
}

fn denied_subscriptions(extra: &[&str]) {
    let moto = Moto::start();
    moto.seed(&compliant_scenario(&moto, |_, p| p.to_string()));
    let key = limited_user(&moto, "no-subs", &["sns:ListSubscriptionsByTopic"]);
    enforce_iam(&moto);
    let mut args = vec!["plan", "-o", "json", "--subscribe", SUB];
    args.extend_from_slice(extra);
    let out = run_as(&moto, &key, &args);
    let plan = assert_all_unknown_naming(&out, "sns:ListSubscriptionsByTopic");
    // Not knowing who is subscribed is no reason to re-point the alarms at a new topic.
    assert_no_changes_of(&plan, &["sns_topic", "sns_subscription", "metric_alarm", "metric_filter"]);
}

#[test]
fn denied_subscriptions_of_the_baseline_topic_are_unknown() {
    denied_subscriptions(&["--topic", "security-alerts"]);
}

#[test]
fn denied_subscriptions_of_the_alarms_topic_are_unknown() {
    // The alarms notify `security-alerts`; the baseline's own topic is the default one.
    denied_subscriptions(&[]);
}

#[test]
fn get_caller_identity_cannot_be_denied_by_iam_as_on_aws() {
    // AWS: "No permissions are required to perform this operation. If an administrator attaches
    // a policy to your identity that explicitly denies access to the sts:GetCallerIdentity
    // action, you can still perform this operation." moto behaves the same.
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let key = limited_user(&moto, "no-sts", &["sts:GetCallerIdentity"]);
    enforce_iam(&moto);
    let out = run_as(&moto, &key, &["plan", "-o", "json", "--subscribe", SUB]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.json()["account"], "123456789012", "{out:?}");
}

/// stderr is one short paragraph (no blank line, a few lines at most), no panic, no Debug dump.
fn assert_one_paragraph(out: &Out) {
    let err = out.stderr.trim();
    assert!(!err.is_empty(), "{out:?}");
    assert!(!err.contains("\n\n"), "one paragraph: {out:?}");
    assert!(err.lines().count() <= 4, "short: {out:?}");
    for bad in ["panicked", "RUST_BACKTRACE", "ServiceError {", "DispatchFailure", "source: "] {
        assert!(!err.contains(bad), "no panic / SDK dump ({bad}): {out:?}");
    }
}

#[test]
fn denied_get_caller_identity_is_a_one_paragraph_error() {
    // No IAM policy can deny GetCallerIdentity (see above), so the launcher injects the denial
    // (fault `deny`) to prove the error path: exit 1, one paragraph naming the action.
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    moto.set_faults(json!({"deny": ["sts:GetCallerIdentity"]}));
    let out = run(&moto, &["plan", "--subscribe", SUB]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("sts:GetCallerIdentity"), "names the action: {out:?}");
    assert_one_paragraph(&out);
    assert!(out.stdout.trim().is_empty(), "no plan without an identity: {out:?}");
    // Nothing else was attempted once the identity was denied.
    let calls = moto.calls();
    assert_eq!(calls["total"], calls["calls"]["sts"]["GetCallerIdentity"], "{calls}");
}

#[test]
fn unknown_access_key_is_a_one_paragraph_error() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    enforce_iam(&moto);
    let key = ("AKIAIOSFODNN7NOTREAL".to_string(), "not-a-secret".to_string());
    let out = run_as(&moto, &key, &["plan", "--subscribe", SUB]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_paragraph(&out);
    assert!(out.stderr.contains("sts:GetCallerIdentity"), "names the call that failed: {out:?}");
}

#[test]
fn testbed_answers_iam_denials_in_each_protocol() {
    // The launcher's translation, seen by an independent client (the aws CLI / botocore).
    let moto = Moto::start();
    let logs = limited_user(
        &moto,
        "deny-all-reads",
        &["logs:DescribeLogGroups", "sns:ListTopics", "cloudwatch:DescribeAlarms"],
    );
    enforce_iam(&moto);
    for (args, code) in [
        (vec!["logs", "describe-log-groups"], "AccessDeniedException"),
        (vec!["sns", "list-topics"], "AuthorizationError"),
        (vec!["cloudwatch", "describe-alarms"], "AccessDenied"),
    ] {
        let out = crate::util::aws_cli(&moto)
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", &logs.0)
            .env("AWS_SECRET_ACCESS_KEY", &logs.1)
            .output()
            .expect("aws cli");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must be denied");
        assert!(err.contains(&format!("({code})")), "{args:?}: want {code}, got {err}");
        assert!(err.contains("is not authorized to perform"), "{args:?}: {err}");
    }
    // Turning enforcement off again (the documented `inf`).
    let (status, body) = moto.http("POST", "/moto-api/reset-auth", Some("inf"));
    assert_eq!(status, 200, "{body}");
    aws_json(&moto, &["logs", "describe-log-groups"]);
    // A body that is not a number is a clear 400, not a launcher failure.
    let (status, body) = moto.http("POST", "/moto-api/reset-auth", Some(""));
    assert_eq!(status, 400, "{body}");
}
