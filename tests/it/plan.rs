//! `cwfix plan` against the moto test bed (issue #3).

use crate::common::*;
use crate::util::Moto;
use serde_json::json;

#[test]
fn empty_log_group_plans_every_control() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let out = run(&moto, &["plan", "-o", "json", "--subscribe", "email:sec@example.com"]);
    assert_eq!(out.code, 2, "{out:?}");
    let p = out.json();
    assert_eq!(p["format_version"], "1.1");
    assert_eq!(p["account"], "123456789012");
    assert_eq!(p["baseline"]["name"], "cis-v7.0");
    assert_eq!(p["controls"].as_array().unwrap().len(), 15);
    assert!(p["controls"].as_array().unwrap().iter().all(|c| c["status"] == "changes"), "{p:#}");
    let ch = changes(&p);
    let count = |kind: &str| ch.iter().filter(|c| c.0 == kind && c.1 == "create").count();
    assert_eq!(
        (count("sns_topic"), count("sns_subscription"), count("metric_filter"), count("metric_alarm")),
        (1, 1, 15, 15)
    );
    assert_eq!(p["summary"], json!({"add": 32, "change": 0, "destroy": 0}));
    for c in p["changes"].as_array().unwrap() {
        assert_eq!(c["region"], "us-east-1");
        for key in ["address", "kind", "action", "control", "reason", "before", "after"] {
            assert!(c.get(key).is_some(), "change lacks {key}: {c:#}");
        }
    }
    // Human output, same plan.
    let human = run(&moto, &["plan", "--subscribe", "email:sec@example.com"]);
    assert_eq!(human.code, 2);
    assert!(human.stdout.contains("Plan: 32 to add, 0 to change, 0 to destroy."), "{human:?}");
    assert!(human
        .stdout
        .contains("# metric_filter.aws-cloudtrail-logs-test/cis-5.1-unauthorized-api-calls will be created"));
    assert!(!human.stdout.contains("\x1b["), "no colour without a terminal");
}

#[test]
fn compliant_account_has_no_changes_even_when_spelled_differently() {
    let moto = Moto::start();
    // Other spacing, quoting, clause order and newlines: equal meaning.
    let sc = compliant_scenario(&moto, |id, p| {
        match id {
        "5.3" => "{$.userIdentity.type=Root&&$.userIdentity.invokedBy NOT EXISTS&&$.eventType!=AwsServiceEvent}".into(),
        "5.4" => {
            let inner = p.trim().trim_start_matches('{').trim_end_matches('}');
            let mut terms: Vec<&str> = inner.split("||").map(str::trim).collect();
            terms.reverse();
            format!("{{\n  {}\n}}", terms.join("\n  || "))
        }
        "5.7" => "{ (($.eventName = \"ScheduleKeyDeletion\") || ($.eventName = \"DisableKey\")) && ($.eventSource = \"kms.amazonaws.com\") }".into(),
        // Spacing outside quoted values (inside them it is meaning, not layout).
        _ => p.replace(" = ", "=").replace(") || (", ")  ||\n(").replace("{ ", "{").replace(" }", " \t}"),
    }
    });
    moto.seed(&sc);
    let out = run(&moto, &["plan"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("No changes."), "{out:?}");
    let j = run(&moto, &["plan", "-o", "json"]).json();
    assert!(j["controls"].as_array().unwrap().iter().all(|c| c["status"] == "compliant"), "{j:#}");
    assert_eq!(j["changes"], json!([]));
}

#[test]
fn near_miss_pattern_is_updated_and_period_60_alarm_is_fixed() {
    let moto = Moto::start();
    let sc = near_miss_scenario(&moto);
    moto.seed(&sc);
    let p = run(&moto, &["plan", "-o", "json"]);
    assert_eq!(p.code, 2, "{p:?}");
    let p = p.json();
    assert_eq!(
        changes(&p),
        vec![
            ("metric_filter".into(), "update".into(), format!("metric_filter.{GROUP}/user-5.4")),
            ("metric_alarm".into(), "update".into(), "metric_alarm.user-alarm-5.1".into()),
        ],
        "{p:#}"
    );
    let alarm = &p["changes"][1];
    assert_eq!(alarm["fields"], json!([{"field": "period", "before": 60, "after": 300}]));
    assert!(p["changes"][0]["reason"].as_str().unwrap().contains("DetachGroupPolicy"), "{:#}", p["changes"][0]);
    let human = run(&moto, &["plan"]);
    assert!(human.stdout.contains("~ period = 60 -> 300"), "{human:?}");
    assert!(human.stdout.contains("+ ||($.eventName=DetachGroupPolicy)"), "{human:?}");
    assert!(human.stdout.contains("Plan: 0 to add, 2 to change, 0 to destroy."), "{human:?}");
}

#[test]
fn topic_without_subscribers_gets_a_subscription() {
    let moto = Moto::start();
    let mut sc = compliant_scenario(&moto, |_, p| p.to_string());
    sc["topics"] = json!([{"name": "security-alerts", "subscriptions": []}]);
    moto.seed(&sc);
    // Without a subscriber named anywhere, cwfix cannot close the chain: blocked, not guessed.
    let blocked = run(&moto, &["plan", "-o", "json"]);
    assert_eq!(blocked.code, 3);
    assert_eq!(status_of(&blocked.json(), "5.1"), "blocked");
    let out =
        run(&moto, &["plan", "-o", "json", "--topic", "security-alerts", "--subscribe", "email:oncall@example.com"]);
    assert_eq!(out.code, 2, "{out:?}");
    let p = out.json();
    // The alarms already notify the topic; only the subscription is missing.
    assert_eq!(
        changes(&p),
        vec![(
            "sns_subscription".into(),
            "create".into(),
            "sns_subscription.security-alerts/email:oncall@example.com".into()
        )],
        "{p:#}"
    );
}

#[test]
fn no_trail_blocks_every_control() {
    let moto = Moto::start();
    let out = run(&moto, &["plan", "-o", "json"]);
    assert_eq!(out.code, 3, "{out:?}");
    let p = out.json();
    assert!(p["controls"].as_array().unwrap().iter().all(|c| c["status"] == "blocked"));
    assert!(p["controls"][0]["reason"].as_str().unwrap().contains("no CloudTrail trail"));
    assert_eq!(p["changes"], json!([]));
    let human = run(&moto, &["plan"]);
    assert!(human.stdout.contains("No changes."));
}

#[test]
fn trail_without_cloudwatch_logs_is_blocked() {
    let moto = Moto::start();
    moto.seed(
        &json!({"trails": [{"name": "s3-only", "region": "us-east-1", "multi_region": true, "log_group": null}]}),
    );
    let p = run(&moto, &["plan", "-o", "json"]).json();
    assert_eq!(status_of(&p, "5.1"), "blocked");
    assert!(p["controls"][0]["reason"].as_str().unwrap().contains("does not deliver to CloudWatch Logs"), "{p:#}");
}

#[test]
fn log_group_in_another_region_than_the_scan() {
    let moto = Moto::start();
    // A multi-region trail homed in us-east-1 shows up in eu-west-1 too; its log group stays in us-east-1.
    moto.seed(&trail_scenario());
    let out = run(&moto, &["plan", "-o", "json", "--region", "eu-west-1", "--subscribe", "email:sec@example.com"]);
    assert_eq!(out.code, 2, "{out:?}");
    let p = out.json();
    assert_eq!(p["chain"]["log_group"]["region"], "us-east-1");
    assert!(p["changes"].as_array().unwrap().iter().all(|c| c["region"] == "us-east-1"), "{p:#}");
    assert_eq!(p["summary"]["add"], 32);
}

#[test]
fn bad_baseline_is_a_clear_error() {
    let moto = Moto::start();
    std::fs::write(
        moto.workdir().join("bad.toml"),
        "name = \"x\"\n[[controls]]\nid = \"1\"\ntitle = \"t\"\nmetric_name = \"M\"\npattern = '{ $.a = '\n",
    )
    .unwrap();
    let out = run(&moto, &["plan", "--baseline", "bad.toml"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("bad.toml:6"), "{out:?}");
    assert!(!out.stderr.contains("panicked"));
    let out = run(&moto, &["plan", "--baseline", "cis-v99"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown baseline `cis-v99`"), "{out:?}");
}

#[test]
fn unreachable_endpoint_fails_fast_and_clearly() {
    let moto = Moto::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let out = run_env(&moto, &["plan"], &[("AWS_ENDPOINT_URL", url.as_str())]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("cannot reach the AWS endpoint"), "{out:?}");
    assert!(out.stderr.starts_with("error: cannot discover the monitoring chain"), "{out:?}");
    assert!(out.stderr.contains("hint: AWS_ENDPOINT_URL is"), "{out:?}");
    assert!(out.stderr.lines().count() <= 6, "one short paragraph, no SDK dump: {out:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn missing_credentials_is_a_clear_error() {
    let moto = Moto::start();
    let out = run_env(&moto, &["plan"], &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.to_lowercase().contains("credentials"), "{out:?}");
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn cli_and_cwfix_see_the_same_filters() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let out = run(&moto, &["apply", "--yes", "--subscribe", "email:sec@example.com"]);
    assert_eq!(out.code, 0, "{out:?}");
    // The independent client (aws CLI, JSON protocol, not the CBOR bridge) sees what cwfix wrote.
    let filters = crate::util::aws_json(&moto, &["logs", "describe-metric-filters", "--log-group-name", GROUP]);
    assert_eq!(filters["metricFilters"].as_array().unwrap().len(), 15);
    let alarms = crate::util::aws_json(&moto, &["cloudwatch", "describe-alarms"]);
    let alarms = alarms["MetricAlarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 15);
    assert!(alarms.iter().all(|a| a["Period"] == 300 && a["Statistic"] == "Sum" && a["EvaluationPeriods"] == 1));
}

#[test]
fn scanner_verdicts_and_satisfy() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let p = run(&moto, &["plan", "-o", "json", "--subscribe", "email:sec@example.com"]).json();
    // Every planned CIS filter gets a verdict per scanner; the CIS route-table text fails Prowler.
    let rt = p["controls"].as_array().unwrap().iter().find(|c| c["id"] == "5.13").unwrap();
    assert_eq!(rt["scanners"]["steampipe"], "pass", "{rt:#}");
    assert!(rt["scanners"]["prowler"]["fail"].is_string(), "{rt:#}");

    // Security Hub and Steampipe disagree on 5.1: two filters, each explained.
    let both = run(
        &moto,
        &["plan", "-o", "json", "--subscribe", "email:sec@example.com", "--satisfy", "securityhub,steampipe"],
    )
    .json();
    let ids: Vec<&str> = both["controls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"5.1") && ids.contains(&"5.1+scanner"), "{ids:?}");
    let extra = both["controls"].as_array().unwrap().iter().find(|c| c["id"] == "5.1+scanner").unwrap();
    assert!(extra["reason"].as_str().unwrap().contains('['), "the reason explains the extra filter: {extra:#}");
    let pair: Vec<&serde_json::Value> = both["controls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("5.1"))
        .filter(|c| c["id"] == "5.1" || c["id"] == "5.1+scanner")
        .collect();
    assert!(pair.iter().any(|c| c["scanners"]["securityhub"] == "pass"));
    assert!(pair.iter().any(|c| c["scanners"]["steampipe"] == "pass"));

    // Prowler wants 21 Organizations event names; the written filter still covers CIS's 18.
    let prowler =
        run(&moto, &["plan", "-o", "json", "--subscribe", "email:sec@example.com", "--satisfy", "prowler"]).json();
    let org = prowler["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "metric_filter" && c["control"] == "5.15")
        .unwrap();
    let text = org["after"]["filter_pattern"].as_str().unwrap();
    assert!(text.contains("EnableAllFeatures") && text.contains("CancelHandshake"), "{text}");
    let c = prowler["controls"].as_array().unwrap().iter().find(|c| c["id"] == "5.15").unwrap();
    assert_eq!(c["scanners"]["prowler"], "pass", "{c:#}");
}
