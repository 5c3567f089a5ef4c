//! A resource state as CloudFormation `Properties`, one function per resource kind, and the
//! identifier a resource is imported by. ARNs of topics created in the same template become
//! `{"Ref": id}`. Pure: no ids, no template layout.

use crate::model::{Alarm, MetricFilter, MetricTransformation, QueryDefinition};
use crate::plan::{Resource, RetentionSpec, SubscriptionSpec, TopicPolicySpec, TopicSpec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A number as JSON: whole numbers as integers (`1`, not `1.0`), as the AWS APIs return them.
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// Replaces strings equal to a key of `refs` with `{"Ref": id}`.
pub(super) fn with_refs(v: &Value, refs: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => refs.get(s).map(|id| json!({"Ref": id})).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_refs(x, refs)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), with_refs(x, refs))).collect()),
        other => other.clone(),
    }
}

/// A policy document as JSON (kept as a string if it does not parse).
pub(super) fn policy_document(policy: &str) -> Value {
    serde_json::from_str(policy).unwrap_or(Value::String(policy.to_string()))
}

/// Type and properties of a resource state, with ARNs of topics managed here as references;
/// a topic's name is the `topic_param` parameter when given.
pub(super) fn properties(
    r: &Resource,
    refs: &BTreeMap<String, String>,
    topic_param: Option<&str>,
) -> (&'static str, Value) {
    match r {
        Resource::MetricFilter(f) => ("AWS::Logs::MetricFilter", metric_filter(f)),
        Resource::MetricAlarm(a) => ("AWS::CloudWatch::Alarm", metric_alarm(a, refs)),
        Resource::SnsTopic(t) => ("AWS::SNS::Topic", sns_topic(t, topic_param)),
        Resource::SnsSubscription(s) => ("AWS::SNS::Subscription", subscription(s, refs)),
        Resource::LogRetention(r) => ("AWS::Logs::LogGroup", log_retention(r)),
        Resource::SnsTopicPolicy(t) => ("AWS::SNS::TopicPolicy", topic_policy(t, refs)),
        Resource::QueryDefinition(q) => ("AWS::Logs::QueryDefinition", query_definition(q)),
    }
}

fn metric_filter(f: &MetricFilter) -> Value {
    let mut p = Map::new();
    p.insert("FilterName".into(), json!(f.filter_name));
    p.insert("LogGroupName".into(), json!(f.log_group_name));
    p.insert("FilterPattern".into(), json!(f.filter_pattern));
    if let Some(b) = f.apply_on_transformed_logs {
        p.insert("ApplyOnTransformedLogs".into(), json!(b));
    }
    let ts: Vec<Value> = f.metric_transformations.iter().map(metric_transformation).collect();
    p.insert("MetricTransformations".into(), Value::Array(ts));
    Value::Object(p)
}

fn metric_transformation(t: &MetricTransformation) -> Value {
    let mut m = Map::new();
    m.insert("MetricName".into(), json!(t.metric_name));
    m.insert("MetricNamespace".into(), json!(t.metric_namespace));
    m.insert("MetricValue".into(), json!(t.metric_value));
    if let Some(d) = t.default_value {
        m.insert("DefaultValue".into(), num(d));
    }
    if let Some(u) = &t.unit {
        m.insert("Unit".into(), json!(u));
    }
    if !t.dimensions.is_empty() {
        m.insert(
            "Dimensions".into(),
            Value::Array(t.dimensions.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect()),
        );
    }
    Value::Object(m)
}

fn metric_alarm(a: &Alarm, refs: &BTreeMap<String, String>) -> Value {
    let mut p = Map::new();
    // Settings the alarm does not have are left out.
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            p.insert(k.into(), v);
        }
    };
    put("AlarmName", Some(json!(a.alarm_name)));
    put("AlarmDescription", a.alarm_description.as_ref().map(|x| json!(x)));
    put("Namespace", a.namespace.as_ref().map(|x| json!(x)));
    put("MetricName", a.metric_name.as_ref().map(|x| json!(x)));
    put("Statistic", a.statistic.as_ref().map(|x| json!(x)));
    put("ExtendedStatistic", a.extended_statistic.as_ref().map(|x| json!(x)));
    put("Period", a.period.map(|x| json!(x)));
    put("Unit", a.unit.as_ref().map(|x| json!(x)));
    put("EvaluationPeriods", a.evaluation_periods.map(|x| json!(x)));
    put("DatapointsToAlarm", a.datapoints_to_alarm.map(|x| json!(x)));
    put("Threshold", a.threshold.map(num));
    put("ThresholdMetricId", a.threshold_metric_id.as_ref().map(|x| json!(x)));
    put("ComparisonOperator", a.comparison_operator.as_ref().map(|x| json!(x)));
    put("TreatMissingData", a.treat_missing_data.as_ref().map(|x| json!(x)));
    put("EvaluateLowSampleCountPercentile", a.evaluate_low_sample_count_percentile.as_ref().map(|x| json!(x)));
    put("ActionsEnabled", Some(json!(a.actions_enabled)));
    for (k, list) in [
        ("AlarmActions", &a.alarm_actions),
        ("OKActions", &a.ok_actions),
        ("InsufficientDataActions", &a.insufficient_data_actions),
    ] {
        if !list.is_empty() {
            put(k, Some(with_refs(&json!(list), refs)));
        }
    }
    if !a.dimensions.is_empty() {
        put(
            "Dimensions",
            Some(Value::Array(a.dimensions.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect())),
        );
    }
    Value::Object(p)
}

fn sns_topic(t: &TopicSpec, topic_param: Option<&str>) -> Value {
    let mut p = Map::new();
    p.insert("TopicName".into(), topic_param.map(|x| json!({"Ref": x})).unwrap_or_else(|| json!(t.name)));
    for (k, v) in &t.attributes {
        match k.as_str() {
            // The policy is an AWS::SNS::TopicPolicy of its own.
            "Policy" => {}
            "KmsMasterKeyId" | "DisplayName" => {
                p.insert(k.clone(), json!(v));
            }
            _ => {}
        }
    }
    if !t.tags.is_empty() {
        p.insert("Tags".into(), Value::Array(t.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect()));
    }
    Value::Object(p)
}

fn subscription(s: &SubscriptionSpec, refs: &BTreeMap<String, String>) -> Value {
    json!({"TopicArn": with_refs(&json!(s.topic_arn), refs), "Protocol": s.protocol, "Endpoint": s.endpoint})
}

fn log_retention(r: &RetentionSpec) -> Value {
    let mut p = Map::new();
    p.insert("LogGroupName".into(), json!(r.log_group_name));
    if let Some(d) = r.retention_in_days {
        p.insert("RetentionInDays".into(), json!(d));
    }
    Value::Object(p)
}

fn topic_policy(t: &TopicPolicySpec, refs: &BTreeMap<String, String>) -> Value {
    let doc = policy_document(&t.policy);
    json!({"Topics": [with_refs(&json!(t.topic_arn), refs)], "PolicyDocument": with_refs(&doc, refs)})
}

fn query_definition(q: &QueryDefinition) -> Value {
    let mut p = Map::new();
    p.insert("Name".into(), json!(q.name));
    p.insert("QueryString".into(), json!(q.query_string));
    if !q.log_group_names.is_empty() {
        p.insert("LogGroupNames".into(), json!(q.log_group_names));
    }
    Value::Object(p)
}

/// The identifier CloudFormation imports a resource by, or `None` for types cwfix never updates.
pub(super) fn import_identifier(r: &Resource) -> Option<Value> {
    match r {
        Resource::MetricFilter(f) => Some(json!({"LogGroupName": f.log_group_name, "FilterName": f.filter_name})),
        Resource::MetricAlarm(a) => Some(json!({"AlarmName": a.alarm_name})),
        Resource::LogRetention(l) => Some(json!({"LogGroupName": l.log_group_name})),
        Resource::QueryDefinition(q) => q.query_definition_id.as_ref().map(|id| json!({"QueryDefinitionId": id})),
        Resource::SnsTopic(t) => Some(json!({"TopicArn": t.topic_arn})),
        // A topic policy attaches to an existing topic; there is nothing to adopt.
        Resource::SnsSubscription(_) | Resource::SnsTopicPolicy(_) => None,
    }
}
