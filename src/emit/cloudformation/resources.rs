//! The main template of one region while it is built: one resource per change with the plan's
//! after-state (a created topic's policy beside it), unique logical ids, a parameter for the
//! topic's name and one per subscriber endpoint. Resources that exist already keep `Retain` and
//! are remembered for the import template.

use super::properties::{import_identifier, policy_document, properties, with_refs};
use super::{logical_id, metadata, Res};
use crate::emit::why;
use crate::plan::{Action, Change, Resource, SubscriptionSpec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Logical ids taken in one template.
#[derive(Default)]
struct LogicalIds {
    taken: Vec<String>,
}

impl LogicalIds {
    /// `id`, or on a clash `id2`, `id3`, ...
    fn unique(&mut self, id: String) -> String {
        let mut l = id.clone();
        let mut n = 2;
        while self.taken.contains(&l) {
            l = format!("{id}{n}");
            n += 1;
        }
        self.taken.push(l.clone());
        l
    }
}

#[derive(Default)]
pub(super) struct Stack<'c> {
    ids: LogicalIds,
    /// Topic ARN -> logical id, for topics created here: other resources `Ref` them.
    refs: BTreeMap<String, String>,
    /// Change address -> logical id of each topic.
    topic_ids: BTreeMap<String, String>,
    pub params: Map<String, Value>,
    pub resources: Vec<Res>,
    /// Resources that exist already, as (logical id, change): imported before the deploy.
    pub imported: Vec<(String, &'c Change)>,
    /// Subscriptions so far, to number their endpoint parameters.
    subscribers: usize,
}

impl<'c> Stack<'c> {
    /// The resources, parameters and imports of `changes`.
    pub fn of(changes: &[&'c Change]) -> Stack<'c> {
        let mut s = Stack::default();
        s.topics(changes);
        for c in changes {
            s.add(c);
        }
        s
    }

    /// Topic ids first, so every resource can refer to its topic; the topics' name becomes the
    /// `TopicName` parameter.
    fn topics(&mut self, changes: &[&Change]) {
        for c in changes {
            if let Resource::SnsTopic(t) = c.resource() {
                let id = self.ids.unique(logical_id(&t.name, "Topic"));
                self.refs.insert(t.topic_arn.clone(), id.clone());
                self.topic_ids.insert(c.address.to_string(), id);
            }
        }
        if let Some(name) = changes.iter().find_map(|c| match c.resource() {
            Resource::SnsTopic(t) => Some(t.name.clone()),
            _ => None,
        }) {
            self.params.insert(
                "TopicName".into(),
                json!({"Type": "String", "Default": name, "Description": "Name of the SNS topic the CIS alarms notify (created by this stack)."}),
            );
        }
    }

    /// The resource of one change, and a created topic's policy.
    fn add(&mut self, c: &'c Change) {
        let topic_param = (!self.topic_ids.is_empty()).then_some("TopicName");
        let (ty, mut props) = properties(c.resource(), &self.refs, topic_param);
        let id = self.id_of(c, &mut props);
        let mut body = Map::new();
        body.insert("Type".into(), json!(ty));
        // An update in place adopts the existing resource: imported first, and retained should
        // the stack ever be deleted, since cwfix did not create it.
        let adopt = c.action == Action::Update && import_identifier(c.resource()).is_some();
        if adopt {
            body.insert("DeletionPolicy".into(), json!("Retain"));
            body.insert("UpdateReplacePolicy".into(), json!("Retain"));
            self.imported.push((id.clone(), c));
        }
        body.insert("Metadata".into(), metadata(c));
        body.insert("Properties".into(), props);
        self.resources.push(Res { id: id.clone(), comment: why(c), body: Value::Object(body) });
        if let Resource::SnsTopic(t) = c.resource() {
            if let Some(policy) = t.attributes.get("Policy") {
                self.add_topic_policy(c, &id, policy);
            }
        }
    }

    /// The logical id of a change's resource; a subscription's endpoint becomes a parameter.
    fn id_of(&mut self, c: &Change, props: &mut Value) -> String {
        match c.resource() {
            Resource::SnsTopic(_) => {
                self.topic_ids.get(c.address.as_str()).cloned().unwrap_or_else(|| self.ids.unique("Topic".into()))
            }
            Resource::MetricFilter(f) => self.ids.unique(logical_id(&f.filter_name, "Filter")),
            Resource::MetricAlarm(a) => self.ids.unique(logical_id(&a.alarm_name, "Alarm")),
            Resource::SnsSubscription(s) => {
                props["Endpoint"] = json!({"Ref": self.subscriber_parameter(s)});
                let topic = crate::model::topic_arn_parts(&s.topic_arn).map(|x| x.3).unwrap_or("Topic");
                self.ids.unique(logical_id(&format!("{topic} subscription"), ""))
            }
            Resource::LogRetention(l) => self.ids.unique(logical_id(&l.log_group_name, "LogGroup")),
            Resource::QueryDefinition(q) => self.ids.unique(logical_id(&q.name, "Query")),
            Resource::SnsTopicPolicy(t) => {
                let topic = crate::model::topic_arn_parts(&t.topic_arn).map(|x| x.3).unwrap_or("Topic");
                self.ids.unique(logical_id(&format!("{topic} policy"), ""))
            }
        }
    }

    /// `SubscriberEndpoint`, `SubscriberEndpoint2`, ...: the endpoint, defaulting to the plan's.
    fn subscriber_parameter(&mut self, s: &SubscriptionSpec) -> String {
        self.subscribers += 1;
        let param = if self.subscribers == 1 {
            "SubscriberEndpoint".to_string()
        } else {
            format!("SubscriberEndpoint{}", self.subscribers)
        };
        self.params.insert(
            param.clone(),
            json!({"Type": "String", "Default": s.endpoint, "Description": format!("Who the alarms reach ({} subscription; email ones stay pending until the recipient confirms).", s.protocol)}),
        );
        param
    }

    /// The policy of a topic created here, as its own resource that `Ref`s the topic.
    fn add_topic_policy(&mut self, c: &Change, topic_id: &str, policy: &str) {
        let doc = policy_document(policy);
        let id = self.ids.unique(format!("{topic_id}Policy"));
        self.resources.push(Res {
            id,
            comment: format!(
                "{}: only this account may manage the topic; only its CloudWatch alarms may publish",
                c.controls.first().map(String::as_str).unwrap_or("")
            ),
            body: json!({
                "Type": "AWS::SNS::TopicPolicy",
                "Metadata": metadata(c),
                "Properties": {"Topics": [{"Ref": topic_id}], "PolicyDocument": with_refs(&doc, &self.refs)},
            }),
        });
    }
}
