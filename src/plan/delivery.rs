//! The chain's track record: a chain that holds on paper still pages nobody when CloudWatch's
//! last attempt to notify its topic failed (a policy condition or a key grant cwfix cannot
//! evaluate, a key disabled, an SCP, ...). The alarm's action history says so; AWS keeps the
//! failure there until a later notification to the same topic succeeds.
//!
//! Judged against the snapshot's time (`Snapshot::discovered_at_ms`), never a clock. A failure
//! counts when it is in the last 30 days and no later notification to the topic succeeded.
//! cwfix cannot fix a delivery failure itself: the control is `blocked`, and the reason names
//! the alarm, the topic, when, the error and what to check. A history that could not be read
//! changes nothing (the check is made when the API allows) but is said in the reason.

use super::{Ctx, Outcome, Status, Via};
use crate::model::{FailedNotification, Gap, FAILED_NOTIFICATION_WINDOW_MS};

/// The IAM action of the history read, as its gaps name it.
pub(super) const HISTORY_ACTION: &str = "cloudwatch:DescribeAlarmHistory";

impl Ctx<'_> {
    /// The latest notification from `alarm` to `topic` if it failed in the 30 days before
    /// discovery and none succeeded after it.
    pub(super) fn failed_delivery(&self, region: &str, alarm: &str, topic: &str) -> Option<&FailedNotification> {
        let now = self.snap.discovered_at_ms?;
        self.snap.failed_notifications.iter().find(|f| {
            f.region == region
                && f.alarm_name == alarm
                && f.topic_arn == topic
                && !f.succeeded_since()
                && (now - FAILED_NOTIFICATION_WINDOW_MS..=now).contains(&f.failed_at_ms)
        })
    }

    fn history_gap(&self, region: &str, alarm: &str) -> Option<&Gap> {
        self.snap.gaps.iter().find(|g| g.action == HISTORY_ACTION && g.region == region && g.resource == alarm)
    }
}

/// The verdict of a control whose chain holds through `via` (`held`, from `chain::compliant`),
/// once the alarm's history is taken into account.
pub(super) fn check(ctx: &Ctx, mut held: Outcome) -> Outcome {
    let Some(via) = held.via.as_ref() else { return held };
    if let Some(f) = ctx.failed_delivery(&via.region, &via.alarm, &via.topic) {
        held.status = Status::Blocked;
        held.reason = blocked_reason(via, f);
    } else if let Some(g) = ctx.history_gap(&via.region, &via.alarm) {
        held.reason = format!("{}; alarm history not readable: {}", held.reason, g.error);
    }
    held
}

fn blocked_reason(via: &Via, f: &FailedNotification) -> String {
    let topic = crate::model::topic_arn_parts(&via.topic).map(|p| p.3).unwrap_or(&via.topic);
    format!(
        "alarm `{alarm}` could not notify topic `{topic}` at {at} ({error}) and no notification to it has succeeded since. Check that the topic's access policy and, if it is encrypted, its KMS key \
         policy let cloudwatch.amazonaws.com publish (SNS:Publish; kms:Decrypt, kms:GenerateDataKey*), then test with \
         `aws cloudwatch set-alarm-state --alarm-name {alarm} --state-value ALARM --state-reason test` \
         (a successful notification clears this)",
        alarm = via.alarm,
        at = rfc3339(f.failed_at_ms),
        error = f.error,
    )
}

/// `2026-11-30T12:00:00Z`, from milliseconds since the Unix epoch.
fn rfc3339(ms: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// The plan's warning for a history that could not be read.
pub(super) fn gap_warning(g: &Gap) -> Option<String> {
    (g.action == HISTORY_ACTION).then(|| {
        format!(
            "alarm history not readable: alarm `{}` in {}: {} (its failed notifications were not checked)",
            g.resource, g.region, g.error
        )
    })
}

#[cfg(test)]
mod tests {
    //! Discovery and planning on the fake account (`aws::fake`), whose history AWS would write.
    use crate::aws::fake::{Fake, FakeTopic, State};
    use crate::baseline::Baseline;
    use crate::model::{Alarm, MetricFilter, MetricTransformation, Subscription};
    use crate::plan::{Plan, Status};
    use crate::testkit::{block_on, plan_on, small_baseline, REGION};
    use std::collections::BTreeMap;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sec";
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    fn now_ms() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() * 1000
    }

    /// The fake account where 5.1 and 5.3 of `small_baseline` hold: filter `f-<id>` -> alarm
    /// `a-<id>` -> topic `sec` with a confirmed subscriber. Plus an EC2 alarm that notifies
    /// `sec` too, on no filter's metric.
    fn holding(b: &Baseline) -> Fake {
        let mut s = State::with_trail();
        for c in &b.controls {
            let f = MetricFilter {
                log_group_name: "ct".into(),
                filter_name: format!("f-{}", c.id),
                filter_pattern: c.pattern.source().into(),
                metric_transformations: vec![MetricTransformation {
                    metric_name: c.metric_name.clone(),
                    metric_namespace: c.namespace.clone(),
                    metric_value: "1".into(),
                    default_value: None,
                    unit: None,
                    dimensions: BTreeMap::new(),
                }],
                apply_on_transformed_logs: None,
            };
            s.filters.entry((REGION.into(), "ct".into())).or_default().insert(f.filter_name.clone(), f);
            let a = alarm(&format!("a-{}", c.id), &c.metric_name, &c.namespace);
            s.alarms.insert((REGION.into(), a.alarm_name.clone()), a);
        }
        let cpu = alarm("cpu-high", "CPUUtilization", "AWS/EC2");
        s.alarms.insert((REGION.into(), cpu.alarm_name.clone()), cpu);
        s.topics.insert(
            TOPIC.into(),
            FakeTopic {
                subscriptions: vec![Subscription {
                    protocol: "email".into(),
                    endpoint: "sec@example.com".into(),
                    subscription_arn: Some(format!("{TOPIC}:1")),
                    pending_confirmation: false,
                }],
                ..Default::default()
            },
        );
        Fake::new(s)
    }

    fn alarm(name: &str, metric: &str, namespace: &str) -> Alarm {
        Alarm {
            alarm_name: name.into(),
            alarm_arn: None,
            alarm_description: None,
            actions_enabled: true,
            alarm_actions: vec![TOPIC.into()],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            metric_name: Some(metric.into()),
            namespace: Some(namespace.into()),
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
        }
    }

    fn control<'p>(p: &'p Plan, id: &str) -> &'p crate::plan::ControlVerdict {
        p.controls.iter().find(|c| c.id == id).unwrap()
    }

    const DENIED: &str =
        "User: arn:aws:iam::123456789012:user/x is not authorized to perform: SNS:Publish (AuthorizationError)";

    #[test]
    fn a_recent_failed_notification_blocks_the_control_with_the_reason() {
        let b = small_baseline();
        let fake = holding(&b);
        assert!(block_on(plan_on(&fake, &b)).all_compliant());
        let reads = || fake.calls().iter().filter(|c| *c == "cloudwatch:DescribeAlarmHistory").count();
        let reads_before = reads();
        let at = now_ms() - 2 * DAY_MS;
        fake.edit(|s| {
            s.alarm_acted("a-5.1", TOPIC, at - DAY_MS, None);
            s.alarm_acted("a-5.1", TOPIC, at, Some(DENIED));
        });
        let p = block_on(plan_on(&fake, &b));
        let c = control(&p, "5.1");
        assert_eq!(c.status, Status::Blocked, "{c:#?}");
        let at_text = super::rfc3339(at);
        for part in
            ["alarm `a-5.1`", "topic `sec`", at_text.as_str(), DENIED, "cloudwatch.amazonaws.com", "set-alarm-state"]
        {
            assert!(c.reason.contains(part), "{part:?} missing from {}", c.reason);
        }
        assert_eq!(c.via.as_ref().map(|v| v.alarm.as_str()), Some("a-5.1"), "the chain it would hold through");
        assert_eq!(control(&p, "5.3").status, Status::Compliant);
        assert!(p.changes.is_empty(), "cwfix cannot fix a delivery failure: {:#?}", p.changes);
        // Only the alarms on the chain's metrics that notify a topic were read (not `cpu-high`).
        assert_eq!(reads() - reads_before, 2, "{:?}", fake.calls());
    }

    #[test]
    fn a_failure_followed_by_a_success_to_the_same_topic_is_history() {
        let b = small_baseline();
        let fake = holding(&b);
        let now = now_ms();
        fake.edit(|s| {
            s.alarm_acted("a-5.1", TOPIC, now - 3 * DAY_MS, Some(DENIED));
            s.alarm_acted("a-5.1", TOPIC, now - DAY_MS, None);
            // A failure of another alarm on no control's chain changes nothing.
            s.alarm_acted("cpu-high", TOPIC, now - DAY_MS, Some(DENIED));
        });
        let p = block_on(plan_on(&fake, &b));
        assert!(p.all_compliant(), "{:#?}", p.controls);
    }

    #[test]
    fn a_failure_older_than_30_days_is_history() {
        let b = small_baseline();
        let fake = holding(&b);
        fake.edit(|s| s.alarm_acted("a-5.3", TOPIC, now_ms() - 31 * DAY_MS, Some(DENIED)));
        let p = block_on(plan_on(&fake, &b));
        assert!(p.all_compliant(), "{:#?}", p.controls);
    }

    #[test]
    fn an_unreadable_history_changes_no_verdict_and_is_said() {
        let b = small_baseline();
        let fake = holding(&b);
        fake.edit(|s| s.alarm_acted("a-5.1", TOPIC, now_ms() - DAY_MS, Some(DENIED)));
        // Deny the first history read (found by a run without the fault).
        let probe = holding(&b);
        block_on(plan_on(&probe, &b));
        let n = probe.calls().iter().position(|c| c == "cloudwatch:DescribeAlarmHistory").unwrap() + 1;
        fake.fail_at(
            n,
            crate::aws::Error::AccessDenied {
                action: "cloudwatch:DescribeAlarmHistory".into(),
                message: "not authorized".into(),
            },
        );
        let p = block_on(plan_on(&fake, &b));
        let c = control(&p, "5.1");
        assert_eq!(c.status, Status::Compliant, "judged as before: {c:#?}");
        assert!(
            c.reason.contains("alarm history not readable: `cloudwatch:DescribeAlarmHistory` was denied"),
            "{}",
            c.reason
        );
        assert!(!control(&p, "5.3").reason.contains("not readable"), "only the alarm that could not be read");
        assert!(
            p.warnings.iter().any(|w| w.starts_with("alarm history not readable: alarm `a-5.1`")),
            "{:?}",
            p.warnings
        );
        assert!(!p.relied_on.keys().any(|k| k.contains("DescribeAlarmHistory")), "no change depends on it");
    }
}
