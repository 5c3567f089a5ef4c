//! Apply: runs steps through [`CloudApi`] in the planned order, journaling an intent (with the
//! previous definition) before each AWS write and its outcome after. Used for plans and for
//! rollbacks alike. No rendering and no prompts: progress goes to an observer callback.

use crate::aws::{self, CloudApi, NewTopic};
use crate::journal::{self, Record, RunWriter};
use crate::model::{Alarm, MetricFilter, QueryDefinition};
use crate::plan::{Plan, Resource, RetentionSpec, SubscriptionSpec, TopicSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One AWS write, with everything it sends.
#[allow(clippy::large_enum_variant)] // a handful per run; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateTopic { topic: TopicSpec },
    DeleteTopic { topic_arn: String },
    Subscribe { subscription: SubscriptionSpec },
    Unsubscribe { subscription_arn: String, subscription: SubscriptionSpec },
    PutMetricFilter { filter: MetricFilter },
    DeleteMetricFilter { log_group_name: String, filter_name: String },
    PutMetricAlarm { alarm: Alarm },
    DeleteAlarm { alarm_name: String },
    PutQueryDefinition { definition: QueryDefinition },
    DeleteQueryDefinition { query_definition_id: String, name: String },
    PutRetentionPolicy { log_group_name: String, retention_in_days: i32 },
    DeleteRetentionPolicy { log_group_name: String },
}

impl Op {
    pub fn verb(&self) -> &'static str {
        match self {
            Op::CreateTopic { .. } => "create topic",
            Op::DeleteTopic { .. } => "delete topic",
            Op::Subscribe { .. } => "subscribe",
            Op::Unsubscribe { .. } => "unsubscribe",
            Op::PutMetricFilter { .. } => "put metric filter",
            Op::DeleteMetricFilter { .. } => "delete metric filter",
            Op::PutMetricAlarm { .. } => "put metric alarm",
            Op::DeleteAlarm { .. } => "delete alarm",
            Op::PutQueryDefinition { .. } => "put query definition",
            Op::DeleteQueryDefinition { .. } => "delete query definition",
            Op::PutRetentionPolicy { .. } => "put retention policy",
            Op::DeleteRetentionPolicy { .. } => "delete retention policy",
        }
    }
}

/// A step: an operation on one address, and what was there before (`None` = absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub address: String,
    pub region: String,
    pub op: Op,
    pub before: Option<Value>,
    pub reason: String,
}

/// Turns a plan into steps, in the plan's order (topics, subscriptions, filters, alarms).
pub fn steps_from_plan(plan: &Plan) -> Vec<Step> {
    plan.changes
        .iter()
        .map(|c| {
            let op = match &c.after {
                Resource::SnsTopic(t) => Op::CreateTopic { topic: t.clone() },
                Resource::SnsSubscription(s) => Op::Subscribe { subscription: s.clone() },
                Resource::MetricFilter(f) => Op::PutMetricFilter { filter: f.clone() },
                Resource::MetricAlarm(a) => Op::PutMetricAlarm { alarm: a.clone() },
                Resource::QueryDefinition(q) => Op::PutQueryDefinition { definition: q.clone() },
                Resource::LogRetention(RetentionSpec { log_group_name, retention_in_days: Some(d) }) => {
                    Op::PutRetentionPolicy { log_group_name: log_group_name.clone(), retention_in_days: *d }
                }
                Resource::LogRetention(RetentionSpec { log_group_name, retention_in_days: None }) => {
                    Op::DeleteRetentionPolicy { log_group_name: log_group_name.clone() }
                }
            };
            Step {
                address: c.address.clone(),
                region: c.region.clone(),
                op,
                before: c.before.as_ref().and_then(|b| serde_json::to_value(b).ok()),
                reason: c.reason.clone(),
            }
        })
        .collect()
}

/// What the observer hears.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Start { seq: usize, step: &'a Step },
    Done { seq: usize, step: &'a Step, result: Option<&'a Value> },
    Failed { seq: usize, step: &'a Step, error: &'a aws::Error },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub applied: usize,
    pub failed: usize,
    pub not_attempted: usize,
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Journal(#[from] journal::Error),
}

/// Test-only fault switch: `CWFIX_TEST_CRASH=after-intent:N` or `after-call:N` kills the
/// process (abort, like SIGKILL: no destructors, no `end` record) at the N-th step.
fn crash_point(stage: &str, seq: usize) {
    if let Ok(v) = std::env::var("CWFIX_TEST_CRASH") {
        if let Some((s, n)) = v.split_once(':') {
            if s == stage && n.parse::<usize>().ok() == Some(seq) {
                std::process::abort();
            }
        }
    }
}

async fn call(api: &impl CloudApi, step: &Step) -> aws::Result<Option<Value>> {
    let r = &step.region;
    match &step.op {
        Op::CreateTopic { topic } => {
            let arn = api
                .create_topic(
                    r,
                    &NewTopic {
                        name: topic.name.clone(),
                        attributes: topic.attributes.clone(),
                        tags: topic.tags.clone(),
                    },
                )
                .await?;
            Ok(Some(serde_json::json!({ "topic_arn": arn })))
        }
        Op::DeleteTopic { topic_arn } => api.delete_topic(r, topic_arn).await.map(|_| None),
        Op::Subscribe { subscription: s } => {
            let arn = api.subscribe(r, &s.topic_arn, &s.protocol, &s.endpoint).await?;
            Ok(Some(serde_json::json!({ "subscription_arn": arn })))
        }
        Op::Unsubscribe { subscription_arn, .. } => api.unsubscribe(r, subscription_arn).await.map(|_| None),
        Op::PutMetricFilter { filter } => api.put_metric_filter(r, filter).await.map(|_| None),
        Op::DeleteMetricFilter { log_group_name, filter_name } => {
            api.delete_metric_filter(r, log_group_name, filter_name).await.map(|_| None)
        }
        Op::PutMetricAlarm { alarm } => api.put_metric_alarm(r, alarm).await.map(|_| None),
        Op::DeleteAlarm { alarm_name } => api.delete_alarm(r, alarm_name).await.map(|_| None),
        Op::PutQueryDefinition { definition } => {
            let id = api.put_query_definition(r, definition).await?;
            Ok(Some(serde_json::json!({ "query_definition_id": id })))
        }
        Op::DeleteQueryDefinition { query_definition_id, .. } => {
            api.delete_query_definition(r, query_definition_id).await.map(|_| None)
        }
        Op::PutRetentionPolicy { log_group_name, retention_in_days } => {
            api.put_retention_policy(r, log_group_name, *retention_in_days).await.map(|_| None)
        }
        Op::DeleteRetentionPolicy { log_group_name } => {
            api.delete_retention_policy(r, log_group_name).await.map(|_| None)
        }
    }
}

/// Executes the steps in order, journaling each; stops at the first failure (later steps
/// depend on earlier ones: an alarm on a topic that failed to appear would notify nobody).
pub async fn execute(
    api: &impl CloudApi,
    steps: &[Step],
    journal: &mut RunWriter,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Report, Error> {
    let mut report = Report::default();
    for (i, step) in steps.iter().enumerate() {
        let seq = journal.next_seq();
        journal.append(&Record::Intent {
            seq,
            address: step.address.clone(),
            region: step.region.clone(),
            op: serde_json::to_value(&step.op).unwrap_or(Value::Null),
            before: step.before.clone(),
            at: journal::now(),
        })?;
        crash_point("after-intent", seq);
        observe(Event::Start { seq, step });
        let outcome = call(api, step).await;
        crash_point("after-call", seq);
        match outcome {
            Ok(result) => {
                journal.append(&Record::Done { seq, result: result.clone(), at: journal::now() })?;
                report.applied += 1;
                observe(Event::Done { seq, step, result: result.as_ref() });
            }
            Err(e) => {
                journal.append(&Record::Failed { seq, error: e.to_string(), at: journal::now() })?;
                report.failed += 1;
                report.errors.push(format!("{}: {e}", step.address));
                observe(Event::Failed { seq, step, error: &e });
                report.not_attempted = steps.len() - i - 1;
                break;
            }
        }
    }
    let status = if report.failed == 0 { "completed" } else { "failed" };
    journal.append(&Record::End {
        status: status.into(),
        applied: report.applied,
        failed: report.failed,
        at: journal::now(),
    })?;
    Ok(report)
}
