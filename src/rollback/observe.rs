//! The reads rollback makes: the current state of every resource a run wrote, each read once,
//! and the subscriptions of every topic the run created (to tell whether others subscribed
//! since). No decisions here.

use super::{Intent, Outcome};
use crate::apply::Op;
use crate::aws::{self, CloudApi};
use crate::model::Subscription;
use crate::observe::{self, Target};
use crate::plan::Resource;
use std::collections::BTreeMap;

/// The live state rollback decides on.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observed {
    /// (region, target) -> current definition (`None` = absent).
    pub resources: BTreeMap<(String, Target), Option<Resource>>,
    /// Topic ARN -> its subscriptions now (for topics the run created).
    pub topic_subscriptions: BTreeMap<String, Vec<Subscription>>,
}

impl Observed {
    pub fn get(&self, region: &str, t: &Target) -> Option<Resource> {
        self.resources.get(&(region.to_string(), t.clone())).cloned().flatten()
    }
}

/// The target an intent's resource is found by now: the id or ARN AWS returned, if any.
pub(crate) fn target_now(it: &Intent) -> Target {
    let result = match &it.outcome {
        Outcome::Done(r) => r.as_ref(),
        _ => None,
    };
    let returned = |key: &str| result.and_then(|r| r.get(key)).and_then(|v| v.as_str()).map(str::to_string);
    match (&it.op, it.op.target()) {
        (Op::PutQueryDefinition { definition }, Target::Query { id: None, name }) => {
            Target::Query { id: returned("query_definition_id").or(definition.query_definition_id.clone()), name }
        }
        (Op::CreateTopic { .. }, Target::Topic { arn }) => Target::Topic { arn: returned("topic_arn").unwrap_or(arn) },
        (_, t) => t,
    }
}

pub(crate) async fn observe(api: &impl CloudApi, intents: &[Intent]) -> aws::Result<Observed> {
    let mut o = Observed::default();
    for it in intents {
        let t = target_now(it);
        let k = (it.region.clone(), t.clone());
        if let std::collections::btree_map::Entry::Vacant(e) = o.resources.entry(k) {
            e.insert(observe::read(api, &it.region, &t).await?);
        }
        if let (Op::CreateTopic { .. }, Target::Topic { arn }) = (&it.op, &t) {
            if !o.topic_subscriptions.contains_key(arn) {
                let subs = match api.subscriptions(&it.region, arn).await {
                    Ok(s) => s,
                    Err(aws::Error::NotFound { .. }) => vec![],
                    Err(e) => return Err(e),
                };
                o.topic_subscriptions.insert(arn.clone(), subs);
            }
        }
    }
    Ok(o)
}
