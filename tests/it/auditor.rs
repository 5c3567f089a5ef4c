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
