//! The pure half of rollback: (journal intents, observed state) -> changes. For each write of
//! the run, newest first:
//! - the resource is as it was before the run: nothing to do;
//! - it is as the run left it: put back the definition from before, or delete it if the run
//!   created it, but only when the journal proves the create call returned (an intent without
//!   an answer may be someone else's resource made after the run died: skipped unless forced);
//! - someone changed it since: left alone unless forced.
//!
//! A topic the run created goes only if nobody else subscribed to it since (unless forced);
//! its pending subscriptions go with it.

use super::observe::{target_now, Observed};
use super::{Intent, Outcome, RollbackPlan};
use crate::apply::Op;
use crate::model::Subscription;
use crate::observe;
use crate::plan::{Change, Resource, RetentionSpec, SubscriptionSpec, TopicSpec};
use serde_json::Value;
use std::collections::BTreeSet;

pub(crate) fn invert(run_id: &str, intents: &[Intent], observed: &Observed, force: bool) -> RollbackPlan {
    let mut plan = RollbackPlan::default();
    let doomed_topics = topics_to_delete(intents, observed, force);
    for it in intents {
        let address = it.address.clone();
        match decide(it, observed, force, &doomed_topics) {
            Decision::Unchanged(why) => plan.unchanged.push((address, why)),
            Decision::Skip(why) => plan.skipped.push((address, why)),
            Decision::Write(ch) => {
                let mut ch = *ch;
                // A rollback's changes answer to the run, not to controls.
                ch.control = Some(format!("rollback of {run_id}"));
                ch.controls = vec![];
                plan.changes.push(ch);
            }
        }
    }
    plan
}

enum Decision {
    Unchanged(String),
    Skip(String),
    Write(Box<Change>),
}

/// What the run left for this write (`None` = it removed the resource).
fn left_by(it: &Intent) -> Option<Resource> {
    let returned = |key: &str| match &it.outcome {
        Outcome::Done(Some(r)) => r.get(key).and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    match &it.op {
        Op::CreateTopic { topic } => Some(Resource::SnsTopic(TopicSpec {
            topic_arn: returned("topic_arn").unwrap_or_else(|| topic.topic_arn.clone()),
            ..topic.clone()
        })),
        Op::Subscribe { subscription } => Some(Resource::SnsSubscription(SubscriptionSpec {
            subscription_arn: returned("subscription_arn").filter(|a| a.starts_with("arn:")),
            ..subscription.clone()
        })),
        Op::SetTopicPolicy { topic_arn, policy } => Some(Resource::SnsTopicPolicy(crate::plan::TopicPolicySpec {
            topic_arn: topic_arn.clone(),
            policy: policy.clone(),
        })),
        Op::PutMetricFilter { filter } => Some(Resource::MetricFilter(filter.clone())),
        Op::PutMetricAlarm { alarm } => Some(Resource::MetricAlarm(alarm.definition())),
        Op::PutQueryDefinition { definition } => Some(Resource::QueryDefinition(crate::model::QueryDefinition {
            query_definition_id: returned("query_definition_id").or(definition.query_definition_id.clone()),
            ..definition.clone()
        })),
        Op::PutRetentionPolicy { log_group_name, retention_in_days } => Some(Resource::LogRetention(RetentionSpec {
            log_group_name: log_group_name.clone(),
            retention_in_days: Some(*retention_in_days),
        })),
        Op::DeleteRetentionPolicy { log_group_name } => Some(Resource::LogRetention(RetentionSpec {
            log_group_name: log_group_name.clone(),
            retention_in_days: None,
        })),
        Op::DeleteTopic { .. }
        | Op::Unsubscribe { .. }
        | Op::DeleteMetricFilter { .. }
        | Op::DeleteAlarm { .. }
        | Op::DeleteQueryDefinition { .. } => None,
    }
}

fn decide(it: &Intent, observed: &Observed, force: bool, doomed_topics: &BTreeSet<String>) -> Decision {
    let live = observed.get(&it.region, &target_now(it));
    let after = left_by(it);
    if observe::same(&live, &it.before) {
        return Decision::Unchanged(match it.outcome {
            Outcome::Failed => "the write failed; nothing to undo".into(),
            _ => "already as before the run".into(),
        });
    }
    let as_left = observe::same(&live, &after);
    if !as_left && !force {
        return Decision::Skip("changed since the run; use --force to restore it anyway".into());
    }
    match (&it.before, live) {
        (None, None) => Decision::Unchanged("already as before the run".into()),
        (None, Some(now)) => delete_created(it, now, after, observed, force, doomed_topics),
        (Some(b), now) => Decision::Write(Box::new(restore(it, now, b.clone(), as_left))),
    }
}

/// Puts back `before`: an update of what is there, or a create if it is gone.
fn restore(it: &Intent, now: Option<Resource>, before: Resource, as_left: bool) -> Change {
    let region = &it.region;
    let before = match (&now, before) {
        // Update a saved query in place, under the id it has now.
        (Some(Resource::QueryDefinition(n)), Resource::QueryDefinition(b)) => {
            Resource::QueryDefinition(crate::model::QueryDefinition {
                query_definition_id: n.query_definition_id.clone(),
                ..b
            })
        }
        // Re-created without an id: AWS assigns a new one.
        (None, Resource::QueryDefinition(b)) => {
            Resource::QueryDefinition(crate::model::QueryDefinition { query_definition_id: None, ..b })
        }
        (_, b) => b,
    };
    match now {
        Some(n) => {
            let why = if as_left {
                "restore the definition from before the run".to_string()
            } else {
                "changed since the run; restored anyway (--force)".to_string()
            };
            Change::update(region, "", why, n, before)
        }
        None => {
            let why = match it.op {
                Op::Unsubscribe { .. } => "unsubscribed by the run (the recipient must confirm again)",
                _ => "deleted by the run",
            };
            Change::create(region, "", why.into(), before)
        }
    }
}

/// Deletes what the run created, if the journal proves it did (or `force`).
fn delete_created(
    it: &Intent,
    now: Resource,
    after: Option<Resource>,
    observed: &Observed,
    force: bool,
    doomed_topics: &BTreeSet<String>,
) -> Decision {
    let proven = matches!(it.outcome, Outcome::Done(_));
    if let Resource::SnsSubscription(s) = &now {
        if doomed_topics.contains(&s.topic_arn) {
            return Decision::Unchanged("removed with its topic".into());
        }
    }
    if !proven && !force {
        return Decision::Skip(
            "the run died before AWS answered the create, so cwfix cannot prove this is the run's (someone may have created it since); use --force to delete it anyway".into(),
        );
    }
    let (target, why) = match (now, after) {
        // Delete the topic with the run's definition: the live attributes include ones AWS adds,
        // and a rollback of this rollback must re-create it as the run made it.
        (Resource::SnsTopic(_), Some(Resource::SnsTopic(spec))) => {
            if !doomed_topics.contains(&spec.topic_arn) {
                return Decision::Skip(others_subscribed(&spec.topic_arn, observed));
            }
            (Resource::SnsTopic(spec), "created by the run")
        }
        (Resource::SnsSubscription(live), after) => {
            let recorded = match after {
                Some(Resource::SnsSubscription(a)) => a.subscription_arn,
                _ => None,
            };
            let Some(arn) = live.subscription_arn.clone().or(recorded) else {
                return Decision::Skip(
                    "pending subscription whose ARN the run did not record; AWS deletes unconfirmed subscriptions after 3 days".into(),
                );
            };
            (
                Resource::SnsSubscription(SubscriptionSpec { subscription_arn: Some(arn), ..live }),
                "subscribed by the run",
            )
        }
        (now, _) => (now, "created by the run"),
    };
    Decision::Write(Box::new(Change::delete(&it.region, None, why.into(), target)))
}

fn others_subscribed(topic_arn: &str, observed: &Observed) -> String {
    let subs = observed.topic_subscriptions.get(topic_arn).cloned().unwrap_or_default();
    format!(
        "created by the run, but other subscription(s) were added since ({}); kept (use --force to delete it anyway)",
        subs.iter().map(|x| format!("{}:{}", x.protocol, x.endpoint)).collect::<Vec<_>>().join(", ")
    )
}

/// Topics the run created that this rollback deletes: still there, provably the run's (or
/// forced), and with no subscriptions but the run's own (or forced).
fn topics_to_delete(intents: &[Intent], observed: &Observed, force: bool) -> BTreeSet<String> {
    let ours: Vec<(&str, &str, &str)> = intents
        .iter()
        .filter_map(|it| match &it.op {
            Op::Subscribe { subscription: s } => Some((s.topic_arn.as_str(), s.protocol.as_str(), s.endpoint.as_str())),
            _ => None,
        })
        .collect();
    let mut out = BTreeSet::new();
    for it in intents.iter().filter(|it| matches!(it.op, Op::CreateTopic { .. }) && it.before.is_none()) {
        let observe::Target::Topic { arn } = target_now(it) else { continue };
        if observed.get(&it.region, &target_now(it)).is_none() {
            continue;
        }
        let proven = matches!(it.outcome, Outcome::Done(_));
        let subs: &[Subscription] = observed.topic_subscriptions.get(&arn).map(Vec::as_slice).unwrap_or(&[]);
        let foreign = subs.iter().any(|x| !ours.contains(&(arn.as_str(), x.protocol.as_str(), x.endpoint.as_str())));
        if force || (proven && !foreign) {
            out.insert(arn);
        }
    }
    out
}
