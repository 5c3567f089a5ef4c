//! Reads one resource of the chain as it is now, in the shape a plan's `before`/`after` has,
//! and decides whether two such states are the same definition. Apply and rollback use it
//! right before every write (the precondition: the resource is still what the plan showed),
//! and rollback to observe what a run left. Reads only; no decisions about what to write.

use crate::aws::{self, CloudApi};
use crate::model::QueryDefinition;
use crate::plan::{Kind, Resource, RetentionSpec, SubscriptionSpec, TopicSpec};

/// What identifies one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Filter {
        log_group: String,
        name: String,
    },
    Alarm {
        name: String,
    },
    Topic {
        arn: String,
    },
    TopicPolicy {
        arn: String,
    },
    Subscription {
        topic_arn: String,
        protocol: String,
        endpoint: String,
    },
    /// By id when known (AWS allows several queries of one name), else by name.
    Query {
        id: Option<String>,
        name: String,
    },
    Retention {
        log_group: String,
    },
}

impl Target {
    pub fn kind(&self) -> Kind {
        match self {
            Target::Filter { .. } => Kind::MetricFilter,
            Target::Alarm { .. } => Kind::MetricAlarm,
            Target::Topic { .. } => Kind::SnsTopic,
            Target::TopicPolicy { .. } => Kind::SnsTopicPolicy,
            Target::Subscription { .. } => Kind::SnsSubscription,
            Target::Query { .. } => Kind::QueryDefinition,
            Target::Retention { .. } => Kind::LogRetention,
        }
    }

    /// The target a resource definition names.
    pub fn of(r: &Resource) -> Target {
        match r {
            Resource::MetricFilter(f) => {
                Target::Filter { log_group: f.log_group_name.clone(), name: f.filter_name.clone() }
            }
            Resource::MetricAlarm(a) => Target::Alarm { name: a.alarm_name.clone() },
            Resource::SnsTopic(t) => Target::Topic { arn: t.topic_arn.clone() },
            Resource::SnsTopicPolicy(p) => Target::TopicPolicy { arn: p.topic_arn.clone() },
            Resource::SnsSubscription(s) => Target::Subscription {
                topic_arn: s.topic_arn.clone(),
                protocol: s.protocol.clone(),
                endpoint: s.endpoint.clone(),
            },
            Resource::QueryDefinition(q) => Target::Query { id: q.query_definition_id.clone(), name: q.name.clone() },
            Resource::LogRetention(r) => Target::Retention { log_group: r.log_group_name.clone() },
        }
    }
}

/// The current definition of `target` in `region` (`None` = absent).
pub async fn read(api: &impl CloudApi, region: &str, target: &Target) -> aws::Result<Option<Resource>> {
    Ok(match target {
        Target::Filter { log_group, name } => {
            api.metric_filter(region, log_group, name).await?.map(Resource::MetricFilter)
        }
        Target::Alarm { name } => api.metric_alarm(region, name).await?.map(|a| Resource::MetricAlarm(a.definition())),
        Target::Topic { arn } => api.topic_attributes(region, arn).await?.map(|attributes| {
            let name = crate::model::topic_arn_parts(arn).map(|p| p.3).unwrap_or(arn).to_string();
            Resource::SnsTopic(TopicSpec { name, topic_arn: arn.clone(), attributes, tags: Default::default() })
        }),
        Target::TopicPolicy { arn } => api.topic_attributes(region, arn).await?.map(|attrs| {
            let policy = attrs.get("Policy").cloned().unwrap_or_default();
            Resource::SnsTopicPolicy(crate::plan::TopicPolicySpec { topic_arn: arn.clone(), policy })
        }),
        Target::Subscription { topic_arn, protocol, endpoint } => {
            let subs = match api.subscriptions(region, topic_arn).await {
                Ok(s) => s,
                // No topic, no subscription.
                Err(aws::Error::NotFound { .. }) => vec![],
                Err(e) => return Err(e),
            };
            subs.into_iter().find(|s| &s.protocol == protocol && &s.endpoint == endpoint).map(|s| {
                Resource::SnsSubscription(SubscriptionSpec {
                    topic_arn: topic_arn.clone(),
                    protocol: s.protocol,
                    endpoint: s.endpoint,
                    subscription_arn: s.subscription_arn,
                })
            })
        }
        Target::Query { id, name } => {
            let all = api.query_definitions(region).await?;
            let found = match id {
                Some(id) => all.into_iter().find(|q| q.query_definition_id.as_deref() == Some(id.as_str())),
                None => all.into_iter().find(|q| &q.name == name),
            };
            found.map(Resource::QueryDefinition)
        }
        Target::Retention { log_group } => api.log_group(region, log_group).await?.map(|retention_in_days| {
            Resource::LogRetention(RetentionSpec { log_group_name: log_group.clone(), retention_in_days })
        }),
    })
}

/// Whether two states of one resource are the same definition. Identity fields AWS assigns
/// (alarm ARN, query id when one side lacks it) and the attributes AWS adds to topics do not
/// count; for subscriptions, presence and (when both are known) the ARN do.
pub fn same(a: &Option<Resource>, b: &Option<Resource>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => same_definition(x, y),
        _ => false,
    }
}

fn same_definition(x: &Resource, y: &Resource) -> bool {
    match (x, y) {
        (Resource::MetricAlarm(a), Resource::MetricAlarm(b)) => a.definition() == b.definition(),
        (Resource::SnsTopic(a), Resource::SnsTopic(b)) => a.topic_arn == b.topic_arn,
        // The same document, whatever its spacing or key order (AWS may re-serialise it).
        (Resource::SnsTopicPolicy(a), Resource::SnsTopicPolicy(b)) => {
            a.topic_arn == b.topic_arn
                && serde_json::from_str::<serde_json::Value>(&a.policy).ok()
                    == serde_json::from_str::<serde_json::Value>(&b.policy).ok()
        }
        (Resource::SnsSubscription(a), Resource::SnsSubscription(b)) => {
            (&a.topic_arn, &a.protocol, &a.endpoint) == (&b.topic_arn, &b.protocol, &b.endpoint)
                && (a.subscription_arn.is_none()
                    || b.subscription_arn.is_none()
                    || a.subscription_arn == b.subscription_arn)
        }
        (Resource::QueryDefinition(a), Resource::QueryDefinition(b)) => {
            let strip = |q: &QueryDefinition| QueryDefinition { query_definition_id: None, ..q.clone() };
            strip(a) == strip(b)
                && (a.query_definition_id.is_none()
                    || b.query_definition_id.is_none()
                    || a.query_definition_id == b.query_definition_id)
        }
        _ => x == y,
    }
}
