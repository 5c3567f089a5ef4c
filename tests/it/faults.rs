//! Robustness against a misbehaving endpoint (issue #5): throttling, 5xx, an endpoint that is
//! down. Faults are injected by the test launcher in front of moto, never by cwfix itself.

use crate::common::*;
use crate::util::Moto;
use serde_json::json;

const SUB: &str = "email:sec@example.com";

fn scenario(moto: &Moto) -> serde_json::Value {
    let mut sc = near_miss_scenario(moto);
    sc["alarms"].as_array_mut().unwrap().retain(|a| a["name"] != "user-alarm-5.9");
    sc
}

#[test]
fn thirty_percent_throttling_changes_nothing() {
    let moto = Moto::start();
    moto.seed(&scenario(&moto));
    let calm = run(&moto, &["plan", "-o", "json", "--subscribe", SUB]);
    assert_eq!(calm.code, 2, "{calm:?}");

    moto.set_faults(json!({"throttle_rate": 0.3, "seed": 7}));
    let stormy = run(&moto, &["plan", "-o", "json", "--subscribe", SUB]);
    assert_eq!(stormy.code, 2, "{stormy:?}");
    assert_eq!(stormy.json(), calm.json(), "throttling must not change the plan");
    let injected = moto.calls()["faults"].clone();
    assert!(injected.to_string().contains(':'), "faults were injected: {injected}");

    let applied = run(&moto, &["apply", "--yes", "--subscribe", SUB, "-o", "json"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    moto.set_faults(json!({}));
    moto.confirm_subscriptions();
    let after = run(&moto, &["plan", "--subscribe", SUB]);
    assert_eq!(after.code, 0, "{after:?}");
}

#[test]
fn server_errors_are_retried() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let calm = run(&moto, &["plan", "-o", "json", "--subscribe", SUB]).json();
    moto.set_faults(json!({"error_5xx_rate": 0.3, "seed": 3}));
    let out = run(&moto, &["plan", "-o", "json", "--subscribe", SUB]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.json(), calm);
}

#[test]
fn endless_throttling_is_a_clear_error() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    moto.set_faults(json!({"throttle_rate": 1.0, "services": ["logs"]}));
    let out = run(&moto, &["plan", "--max-attempts", "2"]);
    assert_eq!(out.code, 3, "a throttled read is a gap, the plan still comes: {out:?}");
    assert!(out.stdout.contains("unknown"), "{out:?}");
    assert!(out.stdout.contains("logs:DescribeMetricFilters"), "{out:?}");
}
