//! Rollback: turns one run's journal into the inverse steps, newest first, after checking each
//! resource against the live state. A resource is only touched if it is still what the run
//! left (else it is skipped with the reason, unless forced); intents without a `done` record
//! (a crashed run) are undone only if the call took effect. The steps then go through
//! `apply::execute`, so a rollback is journaled as a run of its own (and can itself be undone).

use crate::apply::{Op, Step};
use crate::aws::{self, CloudApi};
use crate::journal::{Record, RunLog};
use crate::model::{Alarm, MetricFilter, QueryDefinition, Subscription};
use crate::plan::{RetentionSpec, TopicSpec};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("run `{run}` was made in account {journal}, but the credentials are for account {live}")]
    WrongAccount { run: String, journal: String, live: String },
    #[error("journal of run `{run}` has an unreadable operation at seq {seq}: {message}")]
    BadRecord { run: String, seq: usize, message: String },
    #[error(transparent)]
    Aws(#[from] aws::Error),
}

/// What rollback will do, and what it leaves alone and why.
#[derive(Debug, Clone, Default)]
pub struct RollbackPlan {
    pub steps: Vec<Step>,
    /// (address, why) for items changed since the run; skipped unless `--force`.
    pub skipped: Vec<(String, String)>,
    /// (address, why) for items already as they were before the run.
    pub unchanged: Vec<(String, String)>,
}

struct Intent {
    seq: usize,
    address: String,
    region: String,
    op: Op,
    before: Option<Value>,
    result: Option<Value>,
}

fn intents(log: &RunLog) -> Result<Vec<Intent>, Error> {
    let mut out = Vec::new();
    for r in &log.records {
        if let Record::Intent { seq, address, region, op, before, .. } = r {
            let op: Op = serde_json::from_value(op.clone()).map_err(|e| Error::BadRecord {
                run: log.header.run_id.clone(),
                seq: *seq,
                message: e.to_string(),
            })?;
            let result = match log.done(*seq) {
                Some(Record::Done { result, .. }) => result.clone(),
                _ => None,
            };
            out.push(Intent {
                seq: *seq,
                address: address.clone(),
                region: region.clone(),
                op,
                before: before.clone(),
                result,
            });
        }
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.seq));
    Ok(out)
}

/// Live reads, cached per rollback so each list call is made once.
struct Live<'a, A: CloudApi> {
    api: &'a A,
    filters: BTreeMap<(String, String), Vec<MetricFilter>>,
    alarms: BTreeMap<String, Vec<Alarm>>,
    subscriptions: BTreeMap<String, Vec<Subscription>>,
}

impl<A: CloudApi> Live<'_, A> {
    async fn filter(&mut self, region: &str, group: &str, name: &str) -> aws::Result<Option<MetricFilter>> {
        let key = (region.to_string(), group.to_string());
        if !self.filters.contains_key(&key) {
            let v = self.api.metric_filters(region, group).await?;
            self.filters.insert(key.clone(), v);
        }
        Ok(self.filters[&key].iter().find(|f| f.filter_name == name).cloned())
    }

    async fn subscriptions(&mut self, region: &str, topic_arn: &str) -> aws::Result<&[Subscription]> {
        if !self.subscriptions.contains_key(topic_arn) {
            let v = self.api.subscriptions(region, topic_arn).await?;
            self.subscriptions.insert(topic_arn.to_string(), v);
        }
        Ok(&self.subscriptions[topic_arn])
    }

    async fn alarm(&mut self, region: &str, name: &str) -> aws::Result<Option<Alarm>> {
        if !self.alarms.contains_key(region) {
            let v = self.api.metric_alarms(region).await?;
            self.alarms.insert(region.to_string(), v);
        }
        Ok(self.alarms[region].iter().find(|a| a.alarm_name == name).map(Alarm::definition))
    }
}

fn from_value<T: serde::de::DeserializeOwned>(v: &Option<Value>) -> Option<T> {
    v.as_ref().and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Decides, for a resource with `live` state, what undoing `after` (back to `before`) takes.
enum Verdict<T> {
    /// Already as before (or the call never took effect).
    Unchanged,
    /// Still as the run left it: restore.
    Restore,
    /// Someone changed it since; the live definition is kept unless forced.
    ChangedSince(T),
}

fn judge<T: PartialEq + Clone>(live: &Option<T>, after: &Option<T>, before: &Option<T>) -> Verdict<T> {
    if live == before {
        Verdict::Unchanged
    } else if live == after {
        Verdict::Restore
    } else {
        match live {
            Some(l) => Verdict::ChangedSince(l.clone()),
            None => Verdict::Unchanged,
        }
    }
}

/// Builds the rollback of `log` against the live state.
pub async fn plan_rollback(api: &impl CloudApi, log: &RunLog, force: bool) -> Result<RollbackPlan, Error> {
    let id = api.caller_identity().await?;
    if id.account != log.header.account {
        return Err(Error::WrongAccount {
            run: log.header.run_id.clone(),
            journal: log.header.account.clone(),
            live: id.account,
        });
    }
    let mut live = Live { api, filters: BTreeMap::new(), alarms: BTreeMap::new(), subscriptions: BTreeMap::new() };
    let mut plan = RollbackPlan::default();
    // Subscriptions this rollback removes, per topic, so a topic the run created can go too.
    let mut removing: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut orphans: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for it in intents(log)? {
        let r = it.region.clone();
        let mut push = |op: Op, before: Option<Value>, reason: String| {
            plan.steps.push(Step { address: it.address.clone(), region: r.clone(), op, before, reason });
        };
        match &it.op {
            Op::PutMetricFilter { filter } => {
                let cur = live.filter(&r, &filter.log_group_name, &filter.filter_name).await?;
                let before: Option<MetricFilter> = from_value(&it.before);
                match judge(&cur, &Some(filter.clone()), &before) {
                    Verdict::Unchanged => plan.unchanged.push((it.address.clone(), "already as before the run".into())),
                    v @ (Verdict::Restore | Verdict::ChangedSince(_)) => {
                        if let Verdict::ChangedSince(_) = v {
                            if !force {
                                plan.skipped.push((
                                    it.address.clone(),
                                    "changed since the run; use --force to restore it anyway".into(),
                                ));
                                continue;
                            }
                        }
                        let cur_v = cur.as_ref().and_then(|c| serde_json::to_value(c).ok());
                        match before {
                            None => push(
                                Op::DeleteMetricFilter {
                                    log_group_name: filter.log_group_name.clone(),
                                    filter_name: filter.filter_name.clone(),
                                },
                                cur_v,
                                "created by the run".into(),
                            ),
                            Some(b) => push(
                                Op::PutMetricFilter { filter: b },
                                cur_v,
                                "restore the definition from before the run".into(),
                            ),
                        }
                    }
                }
            }
            Op::DeleteMetricFilter { log_group_name, filter_name } => {
                let cur = live.filter(&r, log_group_name, filter_name).await?;
                let before: Option<MetricFilter> = from_value(&it.before);
                match (cur, before) {
                    (None, Some(b)) => push(Op::PutMetricFilter { filter: b }, None, "deleted by the run".into()),
                    (Some(_), _) | (None, None) => plan.unchanged.push((it.address.clone(), "already present".into())),
                }
            }
            Op::PutMetricAlarm { alarm } => {
                let cur = live.alarm(&r, &alarm.alarm_name).await?;
                let before: Option<Alarm> = from_value::<Alarm>(&it.before).map(|a| a.definition());
                match judge(&cur, &Some(alarm.definition()), &before) {
                    Verdict::Unchanged => plan.unchanged.push((it.address.clone(), "already as before the run".into())),
                    v => {
                        if let Verdict::ChangedSince(_) = v {
                            if !force {
                                plan.skipped.push((
                                    it.address.clone(),
                                    "changed since the run; use --force to restore it anyway".into(),
                                ));
                                continue;
                            }
                        }
                        let cur_v = cur.as_ref().and_then(|c| serde_json::to_value(c).ok());
                        match before {
                            None => push(
                                Op::DeleteAlarm { alarm_name: alarm.alarm_name.clone() },
                                cur_v,
                                "created by the run".into(),
                            ),
                            Some(b) => push(
                                Op::PutMetricAlarm { alarm: b },
                                cur_v,
                                "restore the definition from before the run".into(),
                            ),
                        }
                    }
                }
            }
            Op::DeleteAlarm { alarm_name } => {
                let cur = live.alarm(&r, alarm_name).await?;
                match (cur, from_value::<Alarm>(&it.before)) {
                    (None, Some(b)) => {
                        push(Op::PutMetricAlarm { alarm: b.definition() }, None, "deleted by the run".into())
                    }
                    _ => plan.unchanged.push((it.address.clone(), "already present".into())),
                }
            }
            Op::Subscribe { subscription: s } => {
                let arn = it
                    .result
                    .as_ref()
                    .and_then(|v| v.get("subscription_arn"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let found = live.subscriptions(&r, &s.topic_arn).await?.iter().find(|x| {
                    x.protocol == s.protocol
                        && x.endpoint == s.endpoint
                        && (x.subscription_arn.is_none() || x.subscription_arn == arn || arn.is_none())
                });
                match (found, arn) {
                    (None, _) => plan
                        .unchanged
                        .push((it.address.clone(), "no such subscription (never made or already removed)".into())),
                    (Some(x), arn) => {
                        let arn = arn.or_else(|| x.subscription_arn.clone());
                        match arn {
                            Some(a) if a.starts_with("arn:") => {
                                removing
                                    .entry(s.topic_arn.clone())
                                    .or_default()
                                    .push((s.protocol.clone(), s.endpoint.clone()));
                                push(
                                    Op::Unsubscribe { subscription_arn: a, subscription: s.clone() },
                                    serde_json::to_value(s).ok(),
                                    "subscribed by the run".into(),
                                );
                            }
                            // The run died before recording the ARN of a pending subscription:
                            // it goes with its topic if the run created that topic (decided below).
                            _ => orphans.entry(s.topic_arn.clone()).or_default().push((
                                s.protocol.clone(),
                                s.endpoint.clone(),
                                it.address.clone(),
                            )),
                        }
                    }
                }
            }
            Op::Unsubscribe { subscription: s, .. } => {
                let subs = live.subscriptions(&r, &s.topic_arn).await?;
                if subs.iter().any(|x| x.protocol == s.protocol && x.endpoint == s.endpoint) {
                    plan.unchanged.push((it.address.clone(), "already subscribed".into()));
                } else {
                    push(
                        Op::Subscribe { subscription: s.clone() },
                        None,
                        "unsubscribed by the run (the recipient must confirm again)".into(),
                    );
                }
            }
            Op::CreateTopic { topic } => {
                let arn = it
                    .result
                    .as_ref()
                    .and_then(|v| v.get("topic_arn"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| topic.topic_arn.clone());
                if api.topic_attributes(&r, &arn).await?.is_none() {
                    plan.unchanged.push((it.address.clone(), "topic does not exist".into()));
                    continue;
                }
                let subs = live.subscriptions(&r, &arn).await?.to_vec();
                let mut ours = removing.get(&arn).cloned().unwrap_or_default();
                let orphaned = orphans.remove(&arn).unwrap_or_default();
                ours.extend(orphaned.iter().map(|(p, e, _)| (p.clone(), e.clone())));
                let others: Vec<&Subscription> =
                    subs.iter().filter(|x| !ours.contains(&(x.protocol.clone(), x.endpoint.clone()))).collect();
                if !others.is_empty() && !force {
                    orphans.insert(arn.clone(), orphaned);
                    plan.skipped.push((
                        it.address.clone(),
                        format!(
                            "created by the run, but {} other subscription(s) were added since ({}); kept (use --force to delete it anyway)",
                            others.len(),
                            others.iter().map(|x| format!("{}:{}", x.protocol, x.endpoint)).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                    continue;
                }
                for (_, _, address) in &orphaned {
                    plan.unchanged.push((address.clone(), "pending subscription: removed with its topic".into()));
                }
                let spec = TopicSpec { topic_arn: arn.clone(), ..topic.clone() };
                push(Op::DeleteTopic { topic_arn: arn }, serde_json::to_value(&spec).ok(), "created by the run".into());
            }
            Op::PutQueryDefinition { definition } => {
                let live_all = api.query_definitions(&r).await?;
                let id = it
                    .result
                    .as_ref()
                    .and_then(|v| v.get("query_definition_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| definition.query_definition_id.clone());
                // Without a recorded id (the run died), the query is recognised by its content.
                let cur = match &id {
                    Some(id) => {
                        live_all.iter().find(|q| q.query_definition_id.as_deref() == Some(id.as_str())).cloned()
                    }
                    None => live_all
                        .iter()
                        .find(|q| {
                            q.name == definition.name
                                && q.query_string == definition.query_string
                                && q.log_group_names == definition.log_group_names
                        })
                        .cloned(),
                };
                let before: Option<QueryDefinition> = from_value(&it.before);
                let strip = |q: &QueryDefinition| QueryDefinition { query_definition_id: None, ..q.clone() };
                match cur {
                    None => plan.unchanged.push((it.address.clone(), "no such saved query".into())),
                    Some(c) if before.as_ref().map(strip) == Some(strip(&c)) => {
                        plan.unchanged.push((it.address.clone(), "already as before the run".into()))
                    }
                    Some(c) if strip(&c) != strip(definition) && !force => plan
                        .skipped
                        .push((it.address.clone(), "changed since the run; use --force to restore it anyway".into())),
                    Some(c) => {
                        let cid = c.query_definition_id.clone().unwrap_or_default();
                        match before {
                            None => push(
                                Op::DeleteQueryDefinition { query_definition_id: cid, name: c.name.clone() },
                                serde_json::to_value(&c).ok(),
                                "created by the run".into(),
                            ),
                            Some(b) => push(
                                Op::PutQueryDefinition {
                                    definition: QueryDefinition { query_definition_id: Some(cid), ..b },
                                },
                                serde_json::to_value(&c).ok(),
                                "restore the definition from before the run".into(),
                            ),
                        }
                    }
                }
            }
            Op::DeleteQueryDefinition { name, .. } => {
                let live_all = api.query_definitions(&r).await?;
                match from_value::<QueryDefinition>(&it.before) {
                    Some(b) if !live_all.iter().any(|q| q.name == *name && q.query_string == b.query_string) => push(
                        Op::PutQueryDefinition { definition: QueryDefinition { query_definition_id: None, ..b } },
                        None,
                        "deleted by the run".into(),
                    ),
                    _ => plan.unchanged.push((it.address.clone(), "already present".into())),
                }
            }
            Op::PutRetentionPolicy { log_group_name, retention_in_days } => {
                let cur = api.log_group(&r, log_group_name).await?.flatten();
                let before: Option<RetentionSpec> = from_value(&it.before);
                let before_days = before.and_then(|b| b.retention_in_days);
                if cur == before_days {
                    plan.unchanged.push((it.address.clone(), "already as before the run".into()));
                } else if cur != Some(*retention_in_days) && !force {
                    plan.skipped
                        .push((it.address.clone(), "changed since the run; use --force to restore it anyway".into()));
                } else {
                    let cur_v = serde_json::to_value(RetentionSpec {
                        log_group_name: log_group_name.clone(),
                        retention_in_days: cur,
                    })
                    .ok();
                    match before_days {
                        Some(d) => push(
                            Op::PutRetentionPolicy { log_group_name: log_group_name.clone(), retention_in_days: d },
                            cur_v,
                            "restore the retention from before the run".into(),
                        ),
                        None => push(
                            Op::DeleteRetentionPolicy { log_group_name: log_group_name.clone() },
                            cur_v,
                            "the log group never expired events before the run".into(),
                        ),
                    }
                }
            }
            Op::DeleteRetentionPolicy { log_group_name } => {
                let cur = api.log_group(&r, log_group_name).await?.flatten();
                match from_value::<RetentionSpec>(&it.before).and_then(|b| b.retention_in_days) {
                    Some(d) if cur.is_none() => push(
                        Op::PutRetentionPolicy { log_group_name: log_group_name.clone(), retention_in_days: d },
                        None,
                        "retention removed by the run".into(),
                    ),
                    _ => plan.unchanged.push((it.address.clone(), "already as before the run".into())),
                }
            }
            Op::DeleteTopic { topic_arn } => {
                if api.topic_attributes(&r, topic_arn).await?.is_some() {
                    plan.unchanged.push((it.address.clone(), "topic exists".into()));
                } else if let Some(spec) = from_value::<TopicSpec>(&it.before) {
                    push(Op::CreateTopic { topic: spec }, None, "deleted by the run".into());
                }
            }
        }
    }
    for (_, list) in orphans {
        for (_, _, address) in list {
            plan.skipped.push((
                address,
                "pending subscription whose ARN the run did not record; AWS deletes unconfirmed subscriptions after 3 days".into(),
            ));
        }
    }
    Ok(plan)
}
