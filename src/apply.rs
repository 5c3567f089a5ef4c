//! Apply: runs a plan's changes (or a rollback's) through [`CloudApi`], in order, one step at a
//! time: re-read the resource and stop if it is no longer what the plan showed (someone edited
//! it meanwhile: their edit is kept), journal an intent with the definition just read (fsynced),
//! make the call, journal its outcome. No rendering and no prompts: progress goes to an
//! observer callback.

use crate::aws::{self, CloudApi, NewTopic};
use crate::journal::{self, Record, RunWriter};
use crate::model::{Alarm, MetricFilter, QueryDefinition};
use crate::observe::{self, Target};
use crate::plan::{Action, Addr, Change, Kind, Resource, RetentionSpec, SubscriptionSpec, TopicSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One AWS write, with everything it sends. This is the journal's `op` (its JSON is a format).
#[allow(clippy::large_enum_variant)] // a handful per run; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateTopic { topic: TopicSpec },
    DeleteTopic { topic_arn: String },
    SetTopicPolicy { topic_arn: String, policy: String },
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
            Op::SetTopicPolicy { .. } => "set topic policy",
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

    /// The resource this operation writes.
    pub fn target(&self) -> Target {
        match self {
            Op::CreateTopic { topic } => Target::Topic { arn: topic.topic_arn.clone() },
            Op::DeleteTopic { topic_arn } => Target::Topic { arn: topic_arn.clone() },
            Op::SetTopicPolicy { topic_arn, .. } => Target::TopicPolicy { arn: topic_arn.clone() },
            Op::Subscribe { subscription: s } | Op::Unsubscribe { subscription: s, .. } => Target::Subscription {
                topic_arn: s.topic_arn.clone(),
                protocol: s.protocol.clone(),
                endpoint: s.endpoint.clone(),
            },
            Op::PutMetricFilter { filter } => {
                Target::Filter { log_group: filter.log_group_name.clone(), name: filter.filter_name.clone() }
            }
            Op::DeleteMetricFilter { log_group_name, filter_name } => {
                Target::Filter { log_group: log_group_name.clone(), name: filter_name.clone() }
            }
            Op::PutMetricAlarm { alarm } => Target::Alarm { name: alarm.alarm_name.clone() },
            Op::DeleteAlarm { alarm_name } => Target::Alarm { name: alarm_name.clone() },
            Op::PutQueryDefinition { definition: q } => {
                Target::Query { id: q.query_definition_id.clone(), name: q.name.clone() }
            }
            Op::DeleteQueryDefinition { query_definition_id, name } => {
                Target::Query { id: Some(query_definition_id.clone()), name: name.clone() }
            }
            Op::PutRetentionPolicy { log_group_name, .. } | Op::DeleteRetentionPolicy { log_group_name } => {
                Target::Retention { log_group: log_group_name.clone() }
            }
        }
    }

    /// The operation that makes a change happen.
    fn of_change(c: &Change) -> Option<Op> {
        Some(match (&c.action, &c.after, &c.before) {
            (Action::Delete, _, Some(before)) => Op::delete(before)?,
            (_, Some(after), _) => Op::put(after),
            _ => return None,
        })
    }

    fn put(r: &Resource) -> Op {
        match r {
            Resource::SnsTopic(t) => Op::CreateTopic { topic: t.clone() },
            Resource::SnsTopicPolicy(p) => {
                Op::SetTopicPolicy { topic_arn: p.topic_arn.clone(), policy: p.policy.clone() }
            }
            Resource::SnsSubscription(s) => Op::Subscribe { subscription: s.clone() },
            Resource::MetricFilter(f) => Op::PutMetricFilter { filter: f.clone() },
            Resource::MetricAlarm(a) => Op::PutMetricAlarm { alarm: a.definition() },
            Resource::QueryDefinition(q) => Op::PutQueryDefinition { definition: q.clone() },
            Resource::LogRetention(RetentionSpec { log_group_name, retention_in_days: Some(d) }) => {
                Op::PutRetentionPolicy { log_group_name: log_group_name.clone(), retention_in_days: *d }
            }
            Resource::LogRetention(RetentionSpec { log_group_name, retention_in_days: None }) => {
                Op::DeleteRetentionPolicy { log_group_name: log_group_name.clone() }
            }
        }
    }

    fn delete(r: &Resource) -> Option<Op> {
        Some(match r {
            // A topic always has a policy: "deleting" one is never planned (restores put it back).
            Resource::SnsTopicPolicy(_) => return None,
            Resource::SnsTopic(t) => Op::DeleteTopic { topic_arn: t.topic_arn.clone() },
            Resource::SnsSubscription(s) => {
                Op::Unsubscribe { subscription_arn: s.subscription_arn.clone()?, subscription: s.clone() }
            }
            Resource::MetricFilter(f) => {
                Op::DeleteMetricFilter { log_group_name: f.log_group_name.clone(), filter_name: f.filter_name.clone() }
            }
            Resource::MetricAlarm(a) => Op::DeleteAlarm { alarm_name: a.alarm_name.clone() },
            Resource::QueryDefinition(q) => {
                Op::DeleteQueryDefinition { query_definition_id: q.query_definition_id.clone()?, name: q.name.clone() }
            }
            Resource::LogRetention(r) => Op::DeleteRetentionPolicy { log_group_name: r.log_group_name.clone() },
        })
    }
}

/// A step: an operation on one address, and what must be there right before it (`None` = absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub address: Addr,
    pub kind: Kind,
    pub region: String,
    pub op: Op,
    pub before: Option<Resource>,
    pub reason: String,
}

/// Turns changes into steps, in their order. A change no operation can express (a delete
/// without the ARN it needs) is an error, never silently dropped.
pub fn steps(changes: &[Change]) -> Result<Vec<Step>, Error> {
    changes
        .iter()
        .map(|c| {
            let op = Op::of_change(c).ok_or_else(|| Error::Inexpressible { address: c.address.to_string() })?;
            Ok(Step {
                address: c.address.clone(),
                kind: c.kind,
                region: c.region.clone(),
                op,
                before: c.before.clone(),
                reason: c.reason.clone(),
            })
        })
        .collect()
}

/// What the observer hears.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Start {
        seq: usize,
        step: &'a Step,
    },
    Done {
        seq: usize,
        step: &'a Step,
        result: Option<&'a Value>,
    },
    Failed {
        seq: usize,
        step: &'a Step,
        error: &'a aws::Error,
    },
    /// The resource is no longer what the plan showed; nothing was written to it.
    Conflict {
        step: &'a Step,
        found: &'a Option<Resource>,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub applied: usize,
    pub failed: usize,
    pub not_attempted: usize,
    /// Set when a precondition stopped the run: the address and what was found.
    pub conflict: Option<String>,
    pub errors: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.conflict.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the journal could not be written after {applied} change(s) were made")]
    Journal {
        applied: usize,
        #[source]
        source: journal::Error,
    },
    #[error("`{address}`: no AWS operation can make this change (a delete needs the resource's ARN or id)")]
    Inexpressible { address: String },
    #[cfg(test)]
    #[error("simulated crash")]
    SimulatedCrash,
}

#[cfg(test)]
thread_local! {
    /// Unit tests: "die" (stop without another journal record) at this stage of this step.
    pub static CRASH_AT: std::cell::Cell<Option<(&'static str, usize)>> = const { std::cell::Cell::new(None) };
}

/// Crash injection, for tests only: unit tests stop here (see `CRASH_AT`); builds with the
/// `crash-injection` feature (the integration tests') abort the process, like SIGKILL, when
/// `CWFIX_TEST_CRASH=after-intent:N` or `after-call:N`. Release builds have neither.
fn crash_point(_stage: &'static str, _seq: usize) -> Result<(), Error> {
    #[cfg(feature = "crash-injection")]
    if std::env::var("CWFIX_TEST_CRASH").ok().as_deref() == Some(format!("{_stage}:{_seq}").as_str()) {
        std::process::abort();
    }
    #[cfg(test)]
    if CRASH_AT.with(|c| c.get()) == Some((_stage, _seq)) {
        return Err(Error::SimulatedCrash);
    }
    Ok(())
}

async fn call(api: &impl CloudApi, step: &Step) -> aws::Result<Option<Value>> {
    let r = &step.region;
    match &step.op {
        Op::CreateTopic { topic } => {
            let new =
                NewTopic { name: topic.name.clone(), attributes: topic.attributes.clone(), tags: topic.tags.clone() };
            let arn = api.create_topic(r, &new).await?;
            Ok(Some(serde_json::json!({ "topic_arn": arn })))
        }
        Op::DeleteTopic { topic_arn } => api.delete_topic(r, topic_arn).await.map(|_| None),
        Op::SetTopicPolicy { topic_arn, policy } => {
            api.set_topic_attribute(r, topic_arn, "Policy", policy).await.map(|_| None)
        }
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

/// Executes the steps in order, journaling each; stops at the first failure or conflict
/// (later steps depend on earlier ones: an alarm on a topic that failed to appear would
/// notify nobody).
pub async fn execute(
    api: &impl CloudApi,
    steps: &[Step],
    journal: &mut RunWriter,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Report, Error> {
    let mut report = Report::default();
    for (i, step) in steps.iter().enumerate() {
        let outcome = run_step(api, step, journal, observe).await;
        let stop = match outcome {
            Err(source) => return Err(into_interrupted(source, report.applied)),
            Ok(StepOutcome::Done) => {
                report.applied += 1;
                false
            }
            Ok(StepOutcome::Failed(e)) => {
                report.failed += 1;
                report.errors.push(format!("{}: {e}", step.address));
                true
            }
            Ok(StepOutcome::Conflict(why)) => {
                report.conflict = Some(why);
                true
            }
        };
        if stop {
            report.not_attempted = steps.len() - i - 1;
            break;
        }
    }
    let status = match (&report.conflict, report.failed) {
        (Some(_), _) => "stopped",
        (None, 0) => "completed",
        _ => "failed",
    };
    let end = Record::End { status: status.into(), applied: report.applied, failed: report.failed, at: journal::now() };
    journal.append(&end).await.map_err(|source| Error::Journal { applied: report.applied, source })?;
    Ok(report)
}

/// A journal failure inside a step counts that step's write if it was made (`made` = 1).
fn into_interrupted(e: Error, applied: usize) -> Error {
    match e {
        Error::Journal { source, applied: made } => Error::Journal { applied: applied + made, source },
        other => other,
    }
}

enum StepOutcome {
    Done,
    Failed(aws::Error),
    Conflict(String),
}

/// One step: precondition, intent, call, outcome.
async fn run_step(
    api: &impl CloudApi,
    step: &Step,
    journal: &mut RunWriter,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<StepOutcome, Error> {
    let jerr = |source| Error::Journal { applied: 0, source };
    let current = match observe::read(api, &step.region, &step.op.target()).await {
        Ok(c) => c,
        Err(e) => {
            let why = format!("{}: cannot read it before writing: {e}", step.address);
            journal.append(&stopped(step, &why, None)).await.map_err(jerr)?;
            return Ok(StepOutcome::Conflict(why));
        }
    };
    if !observe::same(&current, &step.before) {
        let why = format!("{} changed since the plan was made; it was left as it is", step.address);
        journal.append(&stopped(step, &why, current.as_ref())).await.map_err(jerr)?;
        observe(Event::Conflict { step, found: &current });
        return Ok(StepOutcome::Conflict(why));
    }
    let seq = journal.next_seq();
    journal
        .append(&Record::Intent {
            seq,
            address: step.address.to_string(),
            region: step.region.clone(),
            op: serde_json::to_value(&step.op).unwrap_or(Value::Null),
            before: current.as_ref().and_then(|c| serde_json::to_value(c).ok()),
            at: journal::now(),
        })
        .await
        .map_err(jerr)?;
    crash_point("after-intent", seq)?;
    observe(Event::Start { seq, step });
    let outcome = call(api, step).await;
    crash_point("after-call", seq)?;
    match outcome {
        Ok(result) => {
            // The write was made: a journal failure now must count it.
            let made = |source| Error::Journal { applied: 1, source };
            journal.append(&Record::Done { seq, result: result.clone(), at: journal::now() }).await.map_err(made)?;
            observe(Event::Done { seq, step, result: result.as_ref() });
            Ok(StepOutcome::Done)
        }
        Err(e) => {
            journal.append(&Record::Failed { seq, error: e.to_string(), at: journal::now() }).await.map_err(jerr)?;
            observe(Event::Failed { seq, step, error: &e });
            Ok(StepOutcome::Failed(e))
        }
    }
}

fn stopped(step: &Step, why: &str, found: Option<&Resource>) -> Record {
    Record::Stopped {
        address: step.address.to_string(),
        reason: why.to_string(),
        found: found.and_then(|f| serde_json::to_value(f).ok()),
        at: journal::now(),
    }
}

#[cfg(test)]
mod tests;
