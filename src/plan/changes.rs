//! Addresses and changes: the one place a [`Change`] is built, so every change has a typed
//! address, a kind that agrees with its resource, and attribute diffs computed the same way.

use super::{Action, Change, FieldChange, Kind, Resource};
use serde::{Deserialize, Serialize};

/// A resource address, one syntax everywhere (plan, JSON, journal, rollback):
/// `metric_filter.<log group>/<name>`, `metric_alarm.<name>`, `sns_topic.<name>`,
/// `sns_subscription.<topic>/<protocol>:<endpoint>`, `log_retention.<log group>`,
/// `query_definition.<name>`. Built only through the constructors below.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Addr(String);

impl Addr {
    fn of(kind: Kind, name: &str) -> Addr {
        Addr(format!("{}.{name}", kind.as_str()))
    }

    pub fn metric_filter(log_group: &str, name: &str) -> Addr {
        Addr::of(Kind::MetricFilter, &format!("{log_group}/{name}"))
    }

    pub fn metric_alarm(name: &str) -> Addr {
        Addr::of(Kind::MetricAlarm, name)
    }

    pub fn sns_topic(name: &str) -> Addr {
        Addr::of(Kind::SnsTopic, name)
    }

    pub fn sns_subscription(topic_name: &str, protocol: &str, endpoint: &str) -> Addr {
        Addr::of(Kind::SnsSubscription, &format!("{topic_name}/{protocol}:{endpoint}"))
    }

    pub fn sns_topic_policy(topic_name: &str) -> Addr {
        Addr::of(Kind::SnsTopicPolicy, topic_name)
    }

    pub fn log_retention(log_group: &str) -> Addr {
        Addr::of(Kind::LogRetention, log_group)
    }

    pub fn query_definition(name: &str) -> Addr {
        Addr::of(Kind::QueryDefinition, name)
    }

    /// The address of `r`, the resource it names.
    pub fn of_resource(r: &Resource) -> Addr {
        match r {
            Resource::MetricFilter(f) => Addr::metric_filter(&f.log_group_name, &f.filter_name),
            Resource::MetricAlarm(a) => Addr::metric_alarm(&a.alarm_name),
            Resource::SnsTopic(t) => Addr::sns_topic(&t.name),
            Resource::SnsSubscription(s) => Addr::sns_subscription(
                crate::model::topic_arn_parts(&s.topic_arn).map(|p| p.3).unwrap_or(&s.topic_arn),
                &s.protocol,
                &s.endpoint,
            ),
            Resource::LogRetention(r) => Addr::log_retention(&r.log_group_name),
            Resource::QueryDefinition(q) => Addr::query_definition(&q.name),
            Resource::SnsTopicPolicy(p) => {
                Addr::sns_topic_policy(crate::model::topic_arn_parts(&p.topic_arn).map(|x| x.3).unwrap_or(&p.topic_arn))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Addr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Addr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Addr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Resource {
    pub fn kind(&self) -> Kind {
        match self {
            Resource::MetricFilter(_) => Kind::MetricFilter,
            Resource::MetricAlarm(_) => Kind::MetricAlarm,
            Resource::SnsTopic(_) => Kind::SnsTopic,
            Resource::SnsSubscription(_) => Kind::SnsSubscription,
            Resource::LogRetention(_) => Kind::LogRetention,
            Resource::QueryDefinition(_) => Kind::QueryDefinition,
            Resource::SnsTopicPolicy(_) => Kind::SnsTopicPolicy,
        }
    }

    /// Reads a resource of a known kind back from JSON (the journal stores untyped values, and
    /// several kinds share field names, so the kind must be given).
    pub fn from_value(kind: Kind, v: serde_json::Value) -> Result<Resource, serde_json::Error> {
        Ok(match kind {
            Kind::MetricFilter => Resource::MetricFilter(serde_json::from_value(v)?),
            Kind::MetricAlarm => Resource::MetricAlarm(serde_json::from_value(v)?),
            Kind::SnsTopic => Resource::SnsTopic(serde_json::from_value(v)?),
            Kind::SnsSubscription => Resource::SnsSubscription(serde_json::from_value(v)?),
            Kind::LogRetention => Resource::LogRetention(serde_json::from_value(v)?),
            Kind::QueryDefinition => Resource::QueryDefinition(serde_json::from_value(v)?),
            Kind::SnsTopicPolicy => Resource::SnsTopicPolicy(serde_json::from_value(v)?),
        })
    }
}

/// What a change with no definition at all would show (never built: every constructor sets one).
static NO_RESOURCE: Resource =
    Resource::LogRetention(super::RetentionSpec { log_group_name: String::new(), retention_in_days: None });

impl Change {
    /// The resource the change is about: its definition after the change, or before it for a
    /// delete.
    pub fn resource(&self) -> &Resource {
        self.after.as_ref().or(self.before.as_ref()).unwrap_or(&NO_RESOURCE)
    }

    /// A resource to create where none is.
    pub fn create(region: &str, control: &str, reason: String, after: Resource) -> Change {
        Change {
            address: Addr::of_resource(&after),
            kind: after.kind(),
            action: Action::Create,
            region: region.to_string(),
            control: Some(control.to_string()),
            controls: vec![control.to_string()],
            reason,
            fields: vec![],
            before: None,
            after: Some(after),
        }
    }

    /// An existing resource rewritten in place; the address is the existing one's.
    pub fn update(region: &str, control: &str, reason: String, before: Resource, after: Resource) -> Change {
        Change {
            address: Addr::of_resource(&before),
            kind: before.kind(),
            action: Action::Update,
            region: region.to_string(),
            control: Some(control.to_string()),
            controls: vec![control.to_string()],
            reason,
            fields: field_changes(&before, &after),
            before: Some(before),
            after: Some(after),
        }
    }

    /// A resource to remove (rollback of a create). `control` names the run it undoes.
    pub fn delete(region: &str, control: Option<&str>, reason: String, before: Resource) -> Change {
        Change {
            address: Addr::of_resource(&before),
            kind: before.kind(),
            action: Action::Delete,
            region: region.to_string(),
            control: control.map(str::to_string),
            controls: control.map(|c| vec![c.to_string()]).unwrap_or_default(),
            reason,
            fields: vec![],
            before: Some(before),
            after: None,
        }
    }
}

/// The top-level attributes that differ between two definitions.
pub fn field_changes<T: Serialize>(before: &T, after: &T) -> Vec<FieldChange> {
    let b = serde_json::to_value(before).unwrap_or_default();
    let a = serde_json::to_value(after).unwrap_or_default();
    let (Some(b), Some(a)) = (b.as_object(), a.as_object()) else { return vec![] };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                b.get(k).cloned().unwrap_or(serde_json::Value::Null),
                a.get(k).cloned().unwrap_or(serde_json::Value::Null),
            );
            (x != y).then(|| FieldChange { field: k.clone(), before: x, after: y })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RetentionSpec, SubscriptionSpec};

    #[test]
    fn addresses_have_one_syntax() {
        assert_eq!(Addr::metric_filter("ct", "f").as_str(), "metric_filter.ct/f");
        assert_eq!(Addr::sns_subscription("t", "email", "a@b.c").as_str(), "sns_subscription.t/email:a@b.c");
        let sub = Resource::SnsSubscription(SubscriptionSpec {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
            protocol: "email".into(),
            endpoint: "a@b.c".into(),
            subscription_arn: None,
        });
        assert_eq!(Addr::of_resource(&sub), Addr::sns_subscription("t", "email", "a@b.c"));
        assert_eq!(serde_json::to_string(&Addr::metric_alarm("a")).unwrap(), "\"metric_alarm.a\"");
    }

    #[test]
    fn an_update_lists_the_fields_that_differ() {
        let before = Resource::LogRetention(RetentionSpec { log_group_name: "g".into(), retention_in_days: Some(30) });
        let after = Resource::LogRetention(RetentionSpec { log_group_name: "g".into(), retention_in_days: Some(365) });
        let c = Change::update("us-east-1", "retention", "short".into(), before, after);
        assert_eq!(c.address, "log_retention.g");
        assert_eq!(c.fields.len(), 1);
        assert_eq!(c.fields[0].field, "retention_in_days");
    }
}
