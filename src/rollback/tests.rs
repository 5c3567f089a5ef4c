//! The inversion rules, table by table (pure: intents + observed state -> changes).

use super::observe::Observed;
use super::{invert::invert, Intent, Outcome};
use crate::apply::Op;
use crate::model::{Alarm, MetricFilter, Subscription};
use crate::observe::Target;
use crate::plan::{Action, Resource, SubscriptionSpec, TopicSpec};
use serde_json::json;

const R: &str = "us-east-1";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sec";

fn filter(pattern: &str) -> MetricFilter {
    serde_json::from_value(json!({"log_group_name": "ct", "filter_name": "f", "filter_pattern": pattern,
        "metric_transformations": [{"metric_name": "M", "metric_namespace": "N", "metric_value": "1"}]}))
    .unwrap()
}

fn alarm(period: i32) -> Alarm {
    serde_json::from_value(json!({"alarm_name": "a", "actions_enabled": true, "metric_name": "M", "namespace": "N",
        "statistic": "Sum", "period": period, "threshold": 1.0, "evaluation_periods": 1,
        "comparison_operator": "GreaterThanOrEqualToThreshold"}))
    .unwrap()
}

fn intent(seq: usize, op: Op, before: Option<Resource>, outcome: Outcome) -> Intent {
    let address = match &op {
        Op::PutMetricFilter { .. } => "metric_filter.ct/f",
        Op::PutMetricAlarm { .. } => "metric_alarm.a",
        Op::CreateTopic { .. } => "sns_topic.sec",
        Op::Subscribe { .. } => "sns_subscription.sec/email:a@example.com",
        _ => "other",
    };
    Intent { seq, address: address.into(), region: R.into(), op, before, outcome }
}

fn observed(items: Vec<(Target, Option<Resource>)>) -> Observed {
    let mut o = Observed::default();
    for (t, r) in items {
        o.resources.insert((R.to_string(), t), r);
    }
    o
}

fn filter_target() -> Target {
    Target::Filter { log_group: "ct".into(), name: "f".into() }
}

#[test]
fn a_proven_create_still_as_left_is_deleted() {
    let f = filter("{ $.a = 1 }");
    let it = intent(1, Op::PutMetricFilter { filter: f.clone() }, None, Outcome::Done(None));
    let o = observed(vec![(filter_target(), Some(Resource::MetricFilter(f)))]);
    let rp = invert("r", &[it], &o, false);
    assert_eq!(rp.changes.len(), 1);
    assert_eq!(rp.changes[0].action, Action::Delete);
}

#[test]
fn an_unproven_create_is_skipped_unless_forced() {
    let f = filter("{ $.a = 1 }");
    let it = intent(1, Op::PutMetricFilter { filter: f.clone() }, None, Outcome::Unknown);
    let o = observed(vec![(filter_target(), Some(Resource::MetricFilter(f)))]);
    let rp = invert("r", std::slice::from_ref(&it), &o, false);
    assert!(rp.changes.is_empty());
    assert!(rp.skipped[0].1.contains("cannot prove"), "{:?}", rp.skipped);
    let forced = invert("r", &[it], &o, true);
    assert_eq!(forced.changes[0].action, Action::Delete);
}

#[test]
fn an_update_changed_since_is_left_alone_unless_forced() {
    let (before, after, theirs) = (alarm(60), alarm(300), alarm(900));
    let it = intent(
        1,
        Op::PutMetricAlarm { alarm: after },
        Some(Resource::MetricAlarm(before.clone())),
        Outcome::Done(None),
    );
    let o = observed(vec![(Target::Alarm { name: "a".into() }, Some(Resource::MetricAlarm(theirs)))]);
    let rp = invert("r", std::slice::from_ref(&it), &o, false);
    assert!(rp.changes.is_empty() && rp.skipped.len() == 1, "{rp:?}");
    let forced = invert("r", &[it], &o, true);
    assert_eq!(forced.changes[0].action, Action::Update);
    assert_eq!(forced.changes[0].after, Some(Resource::MetricAlarm(before)));
}

#[test]
fn an_update_as_left_is_restored_even_without_an_answer() {
    let (before, after) = (alarm(60), alarm(300));
    let it = intent(
        1,
        Op::PutMetricAlarm { alarm: after.clone() },
        Some(Resource::MetricAlarm(before.clone())),
        Outcome::Unknown,
    );
    let o = observed(vec![(Target::Alarm { name: "a".into() }, Some(Resource::MetricAlarm(after)))]);
    let rp = invert("r", &[it], &o, false);
    assert_eq!(rp.changes[0].after, Some(Resource::MetricAlarm(before)));
}

#[test]
fn already_as_before_is_unchanged() {
    let f = filter("{ $.a = 1 }");
    let it = intent(1, Op::PutMetricFilter { filter: f }, None, Outcome::Failed);
    let o = observed(vec![(filter_target(), None)]);
    let rp = invert("r", &[it], &o, false);
    assert!(rp.changes.is_empty() && rp.skipped.is_empty());
    assert_eq!(rp.unchanged[0].1, "the write failed; nothing to undo");
}

#[test]
fn a_topic_others_subscribed_to_is_kept() {
    let spec = TopicSpec {
        name: "sec".into(),
        topic_arn: TOPIC.into(),
        attributes: Default::default(),
        tags: Default::default(),
    };
    let it = intent(1, Op::CreateTopic { topic: spec.clone() }, None, Outcome::Done(Some(json!({"topic_arn": TOPIC}))));
    let mut o = observed(vec![(Target::Topic { arn: TOPIC.into() }, Some(Resource::SnsTopic(spec)))]);
    o.topic_subscriptions.insert(
        TOPIC.into(),
        vec![Subscription {
            protocol: "email".into(),
            endpoint: "someone-else@example.com".into(),
            subscription_arn: None,
            pending_confirmation: true,
        }],
    );
    let rp = invert("r", std::slice::from_ref(&it), &o, false);
    assert!(rp.changes.is_empty());
    assert!(rp.skipped[0].1.contains("someone-else@example.com"), "{:?}", rp.skipped);
    let forced = invert("r", &[it], &o, true);
    assert_eq!(forced.changes[0].action, Action::Delete);
}

#[test]
fn the_runs_pending_subscription_goes_with_its_topic() {
    let spec = TopicSpec {
        name: "sec".into(),
        topic_arn: TOPIC.into(),
        attributes: Default::default(),
        tags: Default::default(),
    };
    let sub = SubscriptionSpec {
        topic_arn: TOPIC.into(),
        protocol: "email".into(),
        endpoint: "a@example.com".into(),
        subscription_arn: None,
    };
    let topic =
        intent(1, Op::CreateTopic { topic: spec.clone() }, None, Outcome::Done(Some(json!({"topic_arn": TOPIC}))));
    let subscribe = intent(2, Op::Subscribe { subscription: sub.clone() }, None, Outcome::Unknown);
    let target =
        Target::Subscription { topic_arn: TOPIC.into(), protocol: "email".into(), endpoint: "a@example.com".into() };
    let mut o = observed(vec![
        (Target::Topic { arn: TOPIC.into() }, Some(Resource::SnsTopic(spec))),
        (target, Some(Resource::SnsSubscription(sub))),
    ]);
    o.topic_subscriptions.insert(
        TOPIC.into(),
        vec![Subscription {
            protocol: "email".into(),
            endpoint: "a@example.com".into(),
            subscription_arn: None,
            pending_confirmation: true,
        }],
    );
    let rp = invert("r", &[subscribe, topic], &o, false);
    assert_eq!(
        rp.unchanged,
        vec![("sns_subscription.sec/email:a@example.com".to_string(), "removed with its topic".to_string())]
    );
    assert_eq!(rp.changes.len(), 1);
    assert_eq!(rp.changes[0].address, "sns_topic.sec");
}
