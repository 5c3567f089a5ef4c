//! The strictest auditor (issue #11): chains that look whole but can never deliver, and
//! scanner verdicts now and after apply, against moto.

use crate::common::*;
use crate::util::{aws_json, Moto};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";

fn deny_cloudwatch(topic: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
         "Action": "SNS:*", "Resource": format!("arn:aws:sns:us-east-1:{ACCOUNT}:{topic}")},
        {"Sid": "NoAlarms", "Effect": "Deny", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": "SNS:Publish", "Resource": "*"}
    ]})
    .to_string()
}

/// The compliant account with five chains silently broken: 5.1 notifies a topic whose policy
/// denies CloudWatch, 5.2's alarm wants `Unit: Seconds`, 5.3's filter emits 0, 5.4's alarm
/// notifies a topic in another region, 5.5's alarm wants a dimension the filter never emits.
fn five_broken(moto: &Moto) -> Value {
    let mut sc = compliant_scenario(moto, |_, p| p.to_string());
    sc["topics"].as_array_mut().unwrap().extend([
        json!({"name": "denied", "attributes": {"Policy": deny_cloudwatch("denied")},
               "subscriptions": [{"protocol": "email", "endpoint": "secops@example.com"}]}),
        json!({"name": "elsewhere", "region": "eu-west-1",
               "subscriptions": [{"protocol": "email", "endpoint": "secops@example.com"}]}),
    ]);
    for a in sc["alarms"].as_array_mut().unwrap() {
        match a["name"].as_str().unwrap() {
            "user-alarm-5.1" => {
                a["topic"] = json!(null);
                a["alarm_actions"] = json!([format!("arn:aws:sns:us-east-1:{ACCOUNT}:denied")]);
            }
            "user-alarm-5.2" => a["unit"] = json!("Seconds"),
            "user-alarm-5.4" => {
                a["topic"] = json!(null);
                a["alarm_actions"] = json!([format!("arn:aws:sns:eu-west-1:{ACCOUNT}:elsewhere")]);
            }
            "user-alarm-5.5" => a["dimensions"] = json!([{"Name": "Env", "Value": "prod"}]),
            _ => {}
        }
    }
    for f in sc["metric_filters"].as_array_mut().unwrap() {
        if f["name"] == "user-5.3" {
            f["value"] = json!("0");
        }
    }
    sc
}

fn reason<'a>(plan: &'a Value, id: &str) -> &'a str {
    plan["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["reason"].as_str().unwrap()
}

#[test]
fn r11_five_silently_broken_chains_are_found_and_fixed() {
    let moto = Moto::start();
    moto.seed(&five_broken(&moto));
    let before = moto.dump();
    let out = run(&moto, &["plan", "--topic", "security-alerts", "-o", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let p = out.json();
    for id in ["5.1", "5.2", "5.3", "5.4", "5.5"] {
        assert_eq!(status_of(&p, id), "changes", "{id}: {}", reason(&p, id));
    }
    for id in ["5.6", "5.10", "5.15"] {
        assert_eq!(status_of(&p, id), "compliant", "{id}: {}", reason(&p, id));
    }
    assert!(reason(&p, "5.1").contains("denies cloudwatch.amazonaws.com SNS:Publish"), "{}", reason(&p, "5.1"));
    assert!(reason(&p, "5.2").contains("unit Seconds, but the filter's metric has no unit"), "{}", reason(&p, "5.2"));
    assert!(reason(&p, "5.3").contains("its metric value is 0"), "{}", reason(&p, "5.3"));
    assert!(reason(&p, "5.4").contains("can only notify topics in their own region"), "{}", reason(&p, "5.4"));
    assert!(reason(&p, "5.5").contains("no alarm watches"), "{}", reason(&p, "5.5"));

    let applied = run(&moto, &["apply", "--yes", "--topic", "security-alerts"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let again = run(&moto, &["plan", "--topic", "security-alerts"]);
    assert_eq!(again.code, 0, "every chain delivers now: {again:?}");
    // Undo restores every definition exactly.
    let id = run_id_of(&applied);
    assert_eq!(run(&moto, &["rollback", &id, "--yes"]).code, 0);
    assert_eq!(moto.dump(), before);
}

#[test]
fn r11_a_baseline_topic_that_refuses_cloudwatch_gets_its_policy_fixed_and_restored() {
    let moto = Moto::start();
    let mut sc = compliant_scenario(&moto, |_, p| p.to_string());
    sc["topics"][0]["attributes"] = json!({"Policy": deny_cloudwatch("security-alerts")});
    moto.seed(&sc);
    let arn = format!("arn:aws:sns:us-east-1:{ACCOUNT}:security-alerts");
    let policy_now =
        || aws_json(&moto, &["sns", "get-topic-attributes", "--topic-arn", &arn])["Attributes"]["Policy"].clone();
    let original = policy_now();
    let out = run(&moto, &["plan", "--topic", "security-alerts", "-o", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        changes(&out.json()),
        vec![("sns_topic_policy".to_string(), "update".to_string(), "sns_topic_policy.security-alerts".to_string())]
    );
    let applied = run(&moto, &["apply", "--yes", "--topic", "security-alerts"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(policy_now().as_str().unwrap().contains("CloudWatchAlarmsPublish"));
    assert_eq!(run(&moto, &["plan", "--topic", "security-alerts"]).code, 0);
    assert_eq!(run(&moto, &["rollback", &run_id_of(&applied), "--yes"]).code, 0);
    assert_eq!(policy_now(), original, "rollback restores the exact previous policy");
}

#[test]
fn r11_scanner_verdicts_say_now_and_after_apply() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let out = run(&moto, &["plan", "--subscribe", "email:sec@example.com", "-o", "json"]);
    let p = out.json();
    for c in p["controls"].as_array().unwrap() {
        // A fresh account: every scanner that checks the control fails it today.
        for (s, v) in c["scanners_now"].as_object().unwrap() {
            assert!(v.get("fail").is_some() || v.get("not_checked").is_some(), "{} {s}: {v}", c["id"]);
        }
    }
    let c51 = &p["controls"][0];
    assert_eq!(c51["scanners"]["prowler"], "pass", "after apply: {c51:#}");
    let text = run(&moto, &["plan", "--subscribe", "email:sec@example.com"]);
    assert!(text.stdout.contains("prowler FAIL -> pass"), "{text:?}");
    assert!(text.stdout.contains("scanners (now -> after apply):"), "{text:?}");
}

/// Seconds since the epoch, as DescribeAlarmHistory's JSON protocol spells a time.
fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

const DAY_S: f64 = 24.0 * 60.0 * 60.0;

/// The `Action` item CloudWatch writes when `alarm` notifies `topic` at `at` (epoch seconds):
/// a success, or a failure with `error`.
fn action_item(alarm: &str, topic: &str, at: f64, error: Option<&str>) -> Value {
    let ms = (at * 1000.0) as i64;
    let (summary, data) = match error {
        None => (
            format!("Successfully executed action {topic}"),
            json!({"actionState": "Succeeded", "stateUpdateTimestamp": ms, "notificationResource": topic,
                   "publishedMessage": "{\"AlarmName\":\"...\"}"}),
        ),
        Some(e) => (
            // The summary's wording as AWS's Knowledge Center quotes it.
            format!("Failed to execute action {topic}. Received error: \"{e}\""),
            json!({"actionState": "Failed", "stateUpdateTimestamp": ms, "notificationResource": topic,
                   "publishedMessage": null, "error": e}),
        ),
    };
    json!({"AlarmName": alarm, "AlarmType": "MetricAlarm", "Timestamp": at, "HistoryItemType": "Action",
           "HistorySummary": summary, "HistoryData": data.to_string()})
}

fn demo_scenario() -> Value {
    let text = std::fs::read_to_string(crate::util::repo_root().join("tests/moto/scenarios/demo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn control<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()
}

const KMS_DENIED: &str = "Failed to publish: KMS.AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/cloudwatch is not authorized to perform: kms:GenerateDataKey";

#[test]
fn r11_a_notification_that_failed_blocks_the_control_until_one_succeeds() {
    let moto = Moto::start();
    moto.seed(&demo_scenario());
    let topic = format!("arn:aws:sns:us-east-1:{ACCOUNT}:security-alerts");
    let now = now_s();
    let failed_at = now - 2.0 * DAY_S;
    moto.add_alarm_history(
        "us-east-1",
        &json!([
            action_item("RootAccountUsageAlarm", &topic, now - 5.0 * DAY_S, None),
            action_item("RootAccountUsageAlarm", &topic, failed_at, Some(KMS_DENIED)),
            // Not an action: the alarm went to ALARM (AWS writes one before each action).
            {"AlarmName": "RootAccountUsageAlarm", "Timestamp": failed_at - 1.0, "HistoryItemType": "StateUpdate",
             "HistorySummary": "Alarm updated from OK to ALARM", "HistoryData": "{}"},
            // Another alarm's failure, 40 days ago: outside the window.
            action_item("IAMPolicyChangesAlarm", &topic, now - 40.0 * DAY_S, Some("old")),
        ]),
    );
    let out = run(&moto, &["plan", "--topic", "security-alerts", "-o", "json"]);
    assert_eq!(out.code, 2, "the demo's other controls still have changes: {out:?}");
    let p = out.json();
    let c = control(&p, "5.3");
    assert_eq!(c["status"], "blocked", "{c:#}");
    let why = c["reason"].as_str().unwrap();
    for part in [
        "alarm `RootAccountUsageAlarm`",
        "topic `security-alerts`",
        KMS_DENIED,
        "cloudwatch.amazonaws.com",
        "set-alarm-state",
    ] {
        assert!(why.contains(part), "{part:?} missing from {why}");
    }
    assert_eq!(c["via"]["alarm"], "RootAccountUsageAlarm", "{c:#}");
    assert!(p["changes"].as_array().unwrap().iter().all(|ch| ch["control"] != "5.3"), "nothing to change for 5.3");
    assert!(moto.calls_of("cloudwatch", "DescribeAlarmHistory") >= 1, "{}", moto.calls());
    let text = run(&moto, &["plan", "--topic", "security-alerts"]);
    let line = text.stdout.lines().position(|l| l.contains("5.3") && l.contains("blocked")).expect("5.3 blocked");
    assert!(
        text.stdout.lines().nth(line + 1).unwrap().contains("could not notify topic `security-alerts`"),
        "{text:?}"
    );

    // The aws CLI (botocore's JSON protocol) reads the same history the way AWS returns it:
    // newest first, `Action` items only, paged one item at a time.
    let start = format!("{}", (now - 30.0 * DAY_S) as i64);
    let args = |scan: &str| {
        vec![
            "cloudwatch",
            "describe-alarm-history",
            "--alarm-name",
            "RootAccountUsageAlarm",
            "--history-item-type",
            "Action",
            "--start-date",
            &start,
            "--scan-by",
            scan,
            "--page-size",
            "1",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    moto.reset_calls();
    let args_desc = args("TimestampDescending");
    let h = aws_json(&moto, &args_desc.iter().map(String::as_str).collect::<Vec<_>>());
    let items = h["AlarmHistoryItems"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{h:#}");
    assert_eq!(moto.calls_of("cloudwatch", "DescribeAlarmHistory"), 2, "one page per item: {}", moto.calls());
    assert!(items[0]["HistorySummary"].as_str().unwrap().starts_with(&format!("Failed to execute action {topic}. ")));
    let data: Value = serde_json::from_str(items[0]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!((data["actionState"].as_str(), data["error"].as_str()), (Some("Failed"), Some(KMS_DENIED)));
    assert!(items[1]["HistorySummary"].as_str().unwrap().starts_with("Successfully executed action"));
    let args_asc = args("TimestampAscending");
    let asc = aws_json(&moto, &args_asc.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(asc["AlarmHistoryItems"][0], items[1], "oldest first");
    let bad = crate::util::aws_cli(&moto)
        .args(["cloudwatch", "describe-alarm-history", "--max-records", "101"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ValidationError"), "{bad:?}");

    // The next notification gets through (someone fixed the key policy): compliant again.
    moto.add_alarm_history("us-east-1", &json!([action_item("RootAccountUsageAlarm", &topic, now - 60.0, None)]));
    let again = run(&moto, &["plan", "--topic", "security-alerts", "-o", "json"]);
    assert_eq!(status_of(&again.json(), "5.3"), "compliant", "{again:?}");
}

#[test]
fn r11_an_alarm_that_acts_all_day_costs_ten_history_pages_and_its_newest_item_decides() {
    let moto = Moto::start();
    moto.seed(&demo_scenario());
    let topic = format!("arn:aws:sns:us-east-1:{ACCOUNT}:security-alerts");
    let now = now_s();
    // With no history, every alarm read costs one call.
    moto.reset_calls();
    run(&moto, &["plan", "--topic", "security-alerts", "-o", "json"]);
    let one_page_each = moto.calls_of("cloudwatch", "DescribeAlarmHistory");
    assert!(one_page_each > 0, "{}", moto.calls());
    // 1,200 deliveries every few minutes, then the newest one fails: only the newest 1,000
    // items are read (10 pages), and they hold the failure.
    let mut items: Vec<Value> = (1..=1200)
        .map(|i| action_item("RootAccountUsageAlarm", &topic, now - 600.0 - 180.0 * i as f64, None))
        .collect();
    items.push(action_item("RootAccountUsageAlarm", &topic, now - 300.0, Some(KMS_DENIED)));
    moto.add_alarm_history("us-east-1", &Value::Array(items));
    moto.reset_calls();
    let out = run(&moto, &["plan", "--topic", "security-alerts", "-o", "json"]);
    assert_eq!(status_of(&out.json(), "5.3"), "blocked", "{out:?}");
    assert_eq!(moto.calls_of("cloudwatch", "DescribeAlarmHistory"), one_page_each - 1 + 10, "{}", moto.calls());
}

#[test]
fn r11_an_unreadable_alarm_history_changes_no_verdict_and_is_said() {
    use crate::permissions::{enforce_iam, limited_user, run_as};
    let moto = Moto::start();
    moto.seed(&compliant_scenario(&moto, |_, p| p.to_string()));
    let topic = format!("arn:aws:sns:us-east-1:{ACCOUNT}:security-alerts");
    moto.add_alarm_history(
        "us-east-1",
        &json!([action_item("user-alarm-5.1", &topic, now_s() - DAY_S, Some("AuthorizationError"))]),
    );
    assert_eq!(status_of(&run(&moto, &["plan", "-o", "json"]).json(), "5.1"), "blocked");
    let key = limited_user(&moto, "no-history", &["cloudwatch:DescribeAlarmHistory"]);
    enforce_iam(&moto);
    let out = run_as(&moto, &key, &["plan", "-o", "json"]);
    assert_eq!(out.code, 0, "the check is made when the API allows: {out:?}");
    let p = out.json();
    for c in p["controls"].as_array().unwrap() {
        assert_eq!(c["status"], "compliant", "{c:#}");
        let why = c["reason"].as_str().unwrap();
        assert!(why.contains("alarm history not readable") && why.contains("cloudwatch:DescribeAlarmHistory"), "{why}");
    }
    let warnings: Vec<&str> = p["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("alarm history not readable: alarm `user-alarm-5.1`")),
        "{warnings:?}"
    );
}
