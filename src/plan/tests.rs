//! Table-driven planner tests: baseline + snapshot -> expected verdicts and changes.

use super::*;
use crate::baseline::{self, TopicRef};
use crate::model::{Gap, LogGroupRef, RegionalAlarm, Subscription, Topic};

const ACCOUNT: &str = "123456789012";
const GROUP_ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:ct:*";
/// When the test snapshots were discovered: 2026-12-01T00:00:00Z.
const NOW_MS: i64 = 1_796_083_200_000;

fn base() -> Baseline {
    let mut b = baseline::load(baseline::DEFAULT_BASELINE).unwrap();
    b.notification.subscriptions =
        vec![baseline::WantedSubscription { protocol: "email".into(), endpoint: "a@example.com".into() }];
    b
}

fn trail() -> Trail {
    Trail {
        name: "main".into(),
        arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/main".into(),
        home_region: "us-east-1".into(),
        is_multi_region: true,
        is_organization_trail: false,
        is_logging: Some(true),
        management_events_all: Some(true),
        log_group_arn: Some(GROUP_ARN.into()),
    }
}

fn snap(filters: Vec<MetricFilter>, alarms: Vec<Alarm>, topics: Vec<Topic>) -> Snapshot {
    Snapshot {
        account: ACCOUNT.into(),
        account_alias: None,
        partition: "aws".into(),
        caller_arn: "arn:aws:iam::123456789012:user/x".into(),
        regions: vec!["us-east-1".into()],
        trails: vec![trail()],
        log_groups: vec![LogGroup {
            group: LogGroupRef::from_arn(GROUP_ARN).unwrap(),
            exists: true,
            retention_in_days: None,
            metric_filters: filters,
        }],
        alarms: alarms.into_iter().map(|alarm| RegionalAlarm { region: "us-east-1".into(), alarm }).collect(),
        topic_arns: topics.iter().map(|t| t.topic_arn.clone()).collect(),
        topics,
        queries: vec![],
        kms_keys: vec![],
        gaps: vec![],
        discovered_at_ms: Some(NOW_MS),
        failed_notifications: vec![],
    }
}

fn topic(name: &str, confirmed: bool) -> Topic {
    Topic {
        topic_arn: format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}"),
        name: name.into(),
        region: "us-east-1".into(),
        kms_master_key_id: None,
        policy: None,
        subscriptions: vec![Subscription {
            protocol: "email".into(),
            endpoint: "x@example.com".into(),
            subscription_arn: confirmed.then(|| format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}:1")),
            pending_confirmation: !confirmed,
        }],
        readable: true,
    }
}

/// Filters and alarms that make every control of `b` hold, notifying `topic_name`.
fn full_chain(b: &Baseline, topic_name: &str) -> (Vec<MetricFilter>, Vec<Alarm>) {
    let mut fs = vec![];
    let mut al = vec![];
    for c in &b.controls {
        fs.push(MetricFilter {
            log_group_name: "ct".into(),
            filter_name: format!("f-{}", c.id),
            filter_pattern: c.pattern.source().into(),
            metric_transformations: vec![MetricTransformation {
                metric_name: format!("M{}", c.id),
                metric_namespace: "NS".into(),
                metric_value: "1".into(),
                default_value: None,
                unit: None,
                dimensions: BTreeMap::new(),
            }],
            apply_on_transformed_logs: None,
        });
        al.push(Alarm {
            alarm_name: format!("a-{}", c.id),
            alarm_arn: None,
            alarm_description: None,
            actions_enabled: true,
            alarm_actions: vec![format!("arn:aws:sns:us-east-1:{ACCOUNT}:{topic_name}")],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            metric_name: Some(format!("M{}", c.id)),
            namespace: Some("NS".into()),
            statistic: Some("Sum".into()),
            extended_statistic: None,
            dimensions: BTreeMap::new(),
            period: Some(300),
            unit: None,
            evaluation_periods: Some(1),
            datapoints_to_alarm: None,
            threshold: Some(1.0),
            comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
            treat_missing_data: None,
            evaluate_low_sample_count_percentile: None,
            threshold_metric_id: None,
            metrics_json: None,
        });
    }
    (fs, al)
}

#[test]
fn no_trails_blocks_everything() {
    let mut s = snap(vec![], vec![], vec![]);
    s.trails.clear();
    s.log_groups.clear();
    let p = plan(&base(), &s);
    assert!(p.controls.iter().all(|c| c.status == Status::Blocked));
    assert!(p.changes.is_empty());
    assert!(!p.all_compliant());
}

#[test]
fn empty_group_plans_the_whole_chain_in_apply_order() {
    let p = plan(&base(), &snap(vec![], vec![], vec![]));
    assert_eq!(p.summary, Summary { add: 32, change: 0, destroy: 0 });
    let kinds: Vec<Kind> = p.changes.iter().map(|c| c.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "topics, subscriptions, filters, alarms");
    assert_eq!(p.changes[0].controls.len(), 15, "one topic serves every control");
    // Filters follow the baseline's control order (5.1, 5.2, ... 5.10), not string order.
    let filters: Vec<&str> =
        p.changes.iter().filter(|c| c.kind == Kind::MetricFilter).map(|c| c.control.as_deref().unwrap()).collect();
    assert_eq!(&filters[..3], &["5.1", "5.2", "5.3"]);
}

#[test]
fn full_chain_is_compliant_and_plan_is_deterministic() {
    let b = base();
    let (f, a) = full_chain(&b, "sec");
    let s = snap(f, a, vec![topic("sec", true)]);
    let p = plan(&b, &s);
    assert!(p.all_compliant(), "{:#?}", p.controls);
    assert_eq!(p, plan(&b, &s));
    let round: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(round, p);
}

#[test]
fn aws_managed_key_topic_reaches_nobody() {
    let b = base();
    let (f, a) = full_chain(&b, "sec");
    let mut t = topic("sec", true);
    t.kms_master_key_id = Some("alias/aws/sns".into());
    let p = plan(&b, &snap(f, a, vec![t]));
    assert!(p.controls.iter().all(|c| c.status == Status::Changes));
    assert!(p.controls[0].reason.contains("alias/aws/sns"), "{}", p.controls[0].reason);
    // Fixed by pointing every alarm at the baseline's topic too.
    assert!(p.changes.iter().any(|c| c.kind == Kind::SnsTopic));
}

#[test]
fn pending_only_subscription_blocks_without_changes() {
    let mut b = base();
    b.notification.topic = TopicRef::Name("sec".into());
    b.notification.subscriptions =
        vec![baseline::WantedSubscription { protocol: "email".into(), endpoint: "x@example.com".into() }];
    let (f, a) = full_chain(&b, "sec");
    let p = plan(&b, &snap(f, a, vec![topic("sec", false)]));
    assert!(p.changes.is_empty(), "{:#?}", p.changes);
    assert!(p.controls.iter().all(|c| c.status == Status::Blocked && c.reason.contains("pending confirmation")));
}

#[test]
fn unreadable_filters_make_controls_unknown_never_create() {
    let mut s = snap(vec![], vec![], vec![]);
    s.gaps.push(Gap {
        region: "us-east-1".into(),
        action: "logs:DescribeMetricFilters".into(),
        resource: "ct".into(),
        error: "denied".into(),
    });
    let p = plan(&base(), &s);
    assert!(p.controls.iter().all(|c| c.status == Status::Unknown));
    assert!(p.changes.is_empty());
}

#[test]
fn foreign_account_log_group_is_unknown_with_the_owner_named() {
    let mut s = snap(vec![], vec![], vec![]);
    s.trails[0].log_group_arn = Some("arn:aws:logs:us-east-1:999988887777:log-group:org:*".into());
    s.log_groups.clear();
    let p = plan(&base(), &s);
    assert_eq!(p.controls[0].status, Status::Unknown);
    assert!(p.controls[0].reason.contains("account 999988887777"), "{}", p.controls[0].reason);
    assert_eq!(p.monitored_in.as_deref(), Some("999988887777"));
}

#[test]
fn metric_math_alarm_with_the_baseline_name_is_not_rewritten() {
    let b = base();
    let mut a = full_chain(&b, "sec").1.remove(0);
    a.alarm_name = b.controls[0].alarm_name.clone();
    a.metric_name = None;
    a.metrics_json = Some("1 metric-math queries".into());
    let p = plan(&b, &snap(vec![], vec![a], vec![]));
    assert_eq!(p.controls[0].status, Status::Blocked);
}

#[test]
fn the_order_of_controls_does_not_change_the_plan() {
    let b = base();
    // A filter with the name of 5.4's filter but the metric of 5.5's: both controls could
    // claim it; the name wins whatever the order.
    let c4 = b.controls.iter().find(|c| c.id == "5.4").unwrap().clone();
    let c5 = b.controls.iter().find(|c| c.id == "5.5").unwrap().clone();
    let shared = MetricFilter {
        log_group_name: "ct".into(),
        filter_name: c4.filter_name.clone(),
        filter_pattern: "{ $.eventName = Nothing }".into(),
        metric_transformations: vec![MetricTransformation {
            metric_name: c5.metric_name.clone(),
            metric_namespace: c5.namespace.clone(),
            metric_value: "1".into(),
            default_value: None,
            unit: None,
            dimensions: BTreeMap::new(),
        }],
        apply_on_transformed_logs: None,
    };
    let s = snap(vec![shared], vec![], vec![]);
    let forward = plan(&b, &s);
    let mut reversed_b = b.clone();
    reversed_b.controls.reverse();
    let reversed = plan(&reversed_b, &s);
    let by_addr = |p: &Plan| -> BTreeMap<String, Option<Resource>> {
        p.changes.iter().map(|c| (c.address.to_string(), c.after.clone())).collect()
    };
    assert_eq!(by_addr(&forward), by_addr(&reversed));
    let by_id = |p: &Plan| -> BTreeMap<String, (Status, String)> {
        p.controls.iter().map(|c| (c.id.clone(), (c.status, c.reason.clone()))).collect()
    };
    assert_eq!(by_id(&forward), by_id(&reversed));
    let repaired = forward.changes.iter().find(|c| c.action == Action::Update).expect("one repair");
    assert_eq!(repaired.controls, vec!["5.4".to_string()]);
}

#[test]
fn changes_are_built_with_matching_kinds_and_addresses() {
    let p = plan(&base(), &snap(vec![], vec![], vec![]));
    for c in &p.changes {
        let after = c.after.as_ref().expect("plans never delete");
        assert_eq!(c.kind, after.kind(), "{}", c.address);
        assert_eq!(c.address, Addr::of_resource(after), "{}", c.address);
    }
    assert_eq!(p.summary, Summary::of(&p.changes));
}

/// A compliant account (`full_chain` on topic `sec`) with one link broken by `break_it`.
fn broken(break_it: impl FnOnce(&mut Snapshot)) -> Plan {
    let mut b = base();
    b.notification.topic = TopicRef::Name("sec".into());
    let (f, a) = full_chain(&b, "sec");
    let mut s = snap(f, a, vec![topic("sec", true)]);
    assert!(plan(&b, &s).all_compliant());
    break_it(&mut s);
    plan(&b, &s)
}

#[test]
fn a_topic_policy_that_denies_cloudwatch_is_a_broken_link_fixed_in_place() {
    let p = broken(|s| {
        s.topics[0].policy = Some(
            serde_json::json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": "*"},
                {"Sid": "NoCloudWatch", "Effect": "Deny", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Publish", "Resource": "*"}
            ]})
            .to_string(),
        );
    });
    assert!(p.controls.iter().all(|c| c.status == Status::Changes), "{:#?}", p.controls);
    assert!(p.controls[0].reason.contains("denies cloudwatch.amazonaws.com SNS:Publish"), "{}", p.controls[0].reason);
    let policies: Vec<&Change> = p.changes.iter().filter(|c| c.kind == Kind::SnsTopicPolicy).collect();
    assert_eq!(policies.len(), 1, "one policy update serves every control: {:#?}", p.changes);
    let ch = policies[0];
    assert_eq!((ch.kind, ch.action), (Kind::SnsTopicPolicy, Action::Update));
    let Some(Resource::SnsTopicPolicy(after)) = &ch.after else { panic!() };
    assert!(after.policy.contains("CloudWatchAlarmsPublish") && !after.policy.contains("NoCloudWatch"));
    assert!(after.policy.contains("\"Owner\""), "other statements are kept");
}

#[test]
fn an_alarm_unit_the_filter_never_publishes_is_removed() {
    let p = broken(|s| s.alarms[2].alarm.unit = Some("Seconds".into()));
    let c = &p.controls[2];
    assert_eq!(c.status, Status::Changes);
    assert!(c.reason.contains("unit Seconds, but the filter's metric has no unit"), "{}", c.reason);
    let ch = p.changes.iter().find(|x| x.kind == Kind::MetricAlarm).unwrap();
    assert!(ch.fields.iter().any(|f| f.field == "unit" && f.after.is_null()), "{:?}", ch.fields);
}

#[test]
fn a_metric_value_that_never_reaches_the_threshold_is_set_to_one() {
    let p = broken(|s| s.log_groups[0].metric_filters[4].metric_transformations[0].metric_value = "0".into());
    let c = &p.controls[4];
    assert_eq!(c.status, Status::Changes, "{:#?}", c);
    assert!(c.reason.contains("its metric value is 0"), "{}", c.reason);
    let ch = p.changes.iter().find(|x| x.kind == Kind::MetricFilter).unwrap();
    assert_eq!(ch.action, Action::Update);
    assert_eq!(ch.address.to_string(), "metric_filter.ct/f-5.5");
    let Some(Resource::MetricFilter(after)) = &ch.after else { panic!() };
    assert_eq!(after.metric_transformations[0].metric_value, "1");
    let fields: Vec<&str> = ch.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["metric_transformations"], "the user's pattern is kept when it already covers");
}

#[test]
fn a_topic_in_another_region_reaches_nobody() {
    let p = broken(|s| {
        let arn = "arn:aws:sns:eu-west-1:123456789012:sec".to_string();
        s.alarms[0].alarm.alarm_actions = vec![arn.clone()];
        let mut t = topic("sec", true);
        t.topic_arn = arn;
        t.region = "eu-west-1".into();
        s.topics.push(t);
    });
    let c = &p.controls[0];
    assert_eq!(c.status, Status::Changes);
    assert!(c.reason.contains("can only notify topics in their own region"), "{}", c.reason);
}

#[test]
fn a_topic_in_another_account_blocks_with_the_reason() {
    let p = broken(|s| s.alarms[1].alarm.alarm_actions = vec!["arn:aws:sns:us-east-1:999988887777:central".into()]);
    let c = &p.controls[1];
    assert_eq!(c.status, Status::Blocked, "{c:#?}");
    assert!(c.reason.contains("another account"), "{}", c.reason);
}

#[test]
fn scanner_verdicts_say_now_and_after_apply() {
    let p = plan(&base(), &snap(vec![], vec![], vec![]));
    let c = &p.controls[0];
    assert_eq!(c.status, Status::Changes);
    for s in ["prowler", "securityhub", "steampipe", "cloudsploit"] {
        assert!(c.scanners_now[s].is_fail(), "{s} now: {:?}", c.scanners_now[s]);
    }
    assert!(c.scanners["prowler"].is_pass(), "prowler after apply: {:?}", c.scanners["prowler"]);
    // A compliant control: now and after are the same.
    let b = base();
    let (f, a) = full_chain(&b, "sec");
    let mut b2 = b.clone();
    b2.notification.topic = TopicRef::Name("sec".into());
    let ok = plan(&b2, &snap(f, a, vec![topic("sec", true)]));
    assert_eq!(ok.controls[2].scanners, ok.controls[2].scanners_now);
    assert!(ok.controls[2].scanners_now["prowler"].is_pass(), "{:?}", ok.controls[2].scanners_now);
}

fn failed_notification(alarm: &str, topic: &str, days_ago: i64) -> crate::model::FailedNotification {
    crate::model::FailedNotification {
        region: "us-east-1".into(),
        alarm_name: alarm.into(),
        topic_arn: format!("arn:aws:sns:us-east-1:{ACCOUNT}:{topic}"),
        failed_at_ms: NOW_MS - days_ago * 24 * 60 * 60 * 1000,
        error: "AuthorizationError".into(),
        last_success_ms: None,
    }
}

#[test]
fn a_failed_notification_counts_within_30_days_of_discovery() {
    let p = broken(|s| s.failed_notifications.push(failed_notification("a-5.2", "sec", 29)));
    assert_eq!(p.controls[1].status, Status::Blocked, "{:#?}", p.controls[1]);
    assert!(p.controls[1].reason.contains("at 2026-11-02T00:00:00Z (AuthorizationError)"), "{}", p.controls[1].reason);
    assert!(p.changes.is_empty());
    // Measured from the snapshot's time, not the clock: 31 days before discovery is history,
    // and a snapshot without a time counts nothing as recent.
    assert!(broken(|s| s.failed_notifications.push(failed_notification("a-5.2", "sec", 31))).all_compliant());
    assert!(broken(|s| {
        s.failed_notifications.push(failed_notification("a-5.2", "sec", 1));
        s.discovered_at_ms = None;
    })
    .all_compliant());
}

#[test]
fn an_alarm_with_another_topic_that_delivers_still_holds() {
    let p = broken(|s| {
        s.alarms[3].alarm.alarm_actions.insert(0, format!("arn:aws:sns:us-east-1:{ACCOUNT}:ops"));
        s.topics.push(topic("ops", true));
        s.failed_notifications.push(failed_notification("a-5.4", "ops", 1));
    });
    let c = &p.controls[3];
    assert_eq!(c.status, Status::Compliant, "{c:#?}");
    assert!(c.via.as_ref().unwrap().topic.ends_with(":sec"), "{c:#?}");
}
