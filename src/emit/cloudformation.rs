//! CloudFormation for a plan: one template per region with `AWS::SNS::Topic`,
//! `AWS::SNS::TopicPolicy`, `AWS::SNS::Subscription`, `AWS::Logs::MetricFilter`,
//! `AWS::CloudWatch::Alarm`, `AWS::Logs::LogGroup` (retention) and `AWS::Logs::QueryDefinition`.
//!
//! Resources that exist already (the plan updates them in place) must be adopted by a resource
//! import, which changes nothing by itself: CloudFormation then updates a resource only where the
//! next template differs from the imported one. So each template comes with
//! - an *import template*: only those resources, with their current (before) properties and
//!   `DeletionPolicy`/`UpdateReplacePolicy: Retain`, and the `--resources-to-import` document
//!   naming their identifiers; and
//! - the *main template*: every resource with the plan's after-state (the imported ones keep
//!   `Retain`), deployed afterwards as an ordinary stack update.
//!
//! The topic name and each subscriber's endpoint are parameters whose defaults are the plan's.
//! Templates are YAML (every string double-quoted, one comment per resource with its controls
//! and the plan's reason) or JSON when the file name ends in `.json`; both carry the same
//! `Metadata.cwfix` per resource.

use super::{by_region, why, words};
use crate::plan::{Action, Change, Plan, Resource, Status};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The templates of one region.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub region: String,
    /// The main template.
    pub template: String,
    /// Resources that exist already, as they are now, for the IMPORT change set.
    pub import_template: Option<String>,
    /// `aws cloudformation create-change-set --resources-to-import` document (JSON).
    pub resources_to_import: Option<String>,
    /// `LogicalId TYPE identifier` per imported resource, for stderr.
    pub imports: Vec<String>,
}

/// A CloudFormation logical id from a name and a suffix: `IAMPolicyChanges` + `Filter` ->
/// `IamPolicyChangesFilter` (the suffix is left out when the name already ends with it).
pub fn logical_id(name: &str, suffix: &str) -> String {
    let w = words(name);
    let mut id: String = w
        .iter()
        .map(|x| {
            let mut c = x.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    if !id.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase()) {
        id.push_str(suffix);
    }
    if id.starts_with(|c: char| c.is_ascii_digit()) || id.is_empty() {
        id = format!("R{id}");
    }
    id
}

struct Res {
    id: String,
    comment: String,
    body: Value,
}

fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// Replaces strings equal to a key of `refs` with `{"Ref": id}`.
fn with_refs(v: &Value, refs: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => refs.get(s).map(|id| json!({"Ref": id})).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_refs(x, refs)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), with_refs(x, refs))).collect()),
        other => other.clone(),
    }
}

/// Properties of a resource state, with ARNs of topics managed here as references.
fn properties(r: &Resource, refs: &BTreeMap<String, String>, topic_param: Option<&str>) -> (&'static str, Value) {
    match r {
        Resource::MetricFilter(f) => {
            let mut p = Map::new();
            p.insert("FilterName".into(), json!(f.filter_name));
            p.insert("LogGroupName".into(), json!(f.log_group_name));
            p.insert("FilterPattern".into(), json!(f.filter_pattern));
            if let Some(b) = f.apply_on_transformed_logs {
                p.insert("ApplyOnTransformedLogs".into(), json!(b));
            }
            let ts: Vec<Value> = f
                .metric_transformations
                .iter()
                .map(|t| {
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
                })
                .collect();
            p.insert("MetricTransformations".into(), Value::Array(ts));
            ("AWS::Logs::MetricFilter", Value::Object(p))
        }
        Resource::MetricAlarm(a) => {
            let mut p = Map::new();
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
            ("AWS::CloudWatch::Alarm", Value::Object(p))
        }
        Resource::SnsTopic(t) => {
            let mut p = Map::new();
            p.insert("TopicName".into(), topic_param.map(|x| json!({"Ref": x})).unwrap_or_else(|| json!(t.name)));
            for (k, v) in &t.attributes {
                match k.as_str() {
                    "Policy" => {}
                    "KmsMasterKeyId" | "DisplayName" => {
                        p.insert(k.clone(), json!(v));
                    }
                    _ => {}
                }
            }
            if !t.tags.is_empty() {
                p.insert(
                    "Tags".into(),
                    Value::Array(t.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect()),
                );
            }
            ("AWS::SNS::Topic", Value::Object(p))
        }
        Resource::SnsSubscription(s) => (
            "AWS::SNS::Subscription",
            json!({"TopicArn": with_refs(&json!(s.topic_arn), refs), "Protocol": s.protocol, "Endpoint": s.endpoint}),
        ),
        Resource::LogRetention(r) => {
            let mut p = Map::new();
            p.insert("LogGroupName".into(), json!(r.log_group_name));
            if let Some(d) = r.retention_in_days {
                p.insert("RetentionInDays".into(), json!(d));
            }
            ("AWS::Logs::LogGroup", Value::Object(p))
        }
        Resource::SnsTopicPolicy(t) => {
            let doc: Value = serde_json::from_str(&t.policy).unwrap_or(Value::String(t.policy.clone()));
            (
                "AWS::SNS::TopicPolicy",
                json!({"Topics": [with_refs(&json!(t.topic_arn), refs)], "PolicyDocument": with_refs(&doc, refs)}),
            )
        }
        Resource::QueryDefinition(q) => {
            let mut p = Map::new();
            p.insert("Name".into(), json!(q.name));
            p.insert("QueryString".into(), json!(q.query_string));
            if !q.log_group_names.is_empty() {
                p.insert("LogGroupNames".into(), json!(q.log_group_names));
            }
            ("AWS::Logs::QueryDefinition", Value::Object(p))
        }
    }
}

/// The identifier CloudFormation imports a resource by, or `None` for types cwfix never updates.
fn import_identifier(r: &Resource) -> Option<Value> {
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

fn metadata(c: &Change) -> Value {
    json!({"cwfix": {"address": c.address, "action": c.action, "controls": c.controls, "reason": c.reason}})
}

/// The templates of every region the plan changes (one for the chain's region when nothing changes).
pub fn templates(p: &Plan, as_json: bool) -> Vec<Template> {
    let mut regions = by_region(p);
    if regions.is_empty() {
        let r = p
            .chain
            .as_ref()
            .map(|c| c.log_group.region.clone())
            .or_else(|| p.regions.first().cloned())
            .unwrap_or_else(|| "us-east-1".into());
        regions.push((r, vec![]));
    }
    regions.iter().map(|(region, changes)| template(p, region, changes, as_json)).collect()
}

fn template(p: &Plan, region: &str, changes: &[&Change], as_json: bool) -> Template {
    let mut taken: Vec<String> = Vec::new();
    let mut unique = |id: String| -> String {
        let mut l = id.clone();
        let mut n = 2;
        while taken.contains(&l) {
            l = format!("{id}{n}");
            n += 1;
        }
        taken.push(l.clone());
        l
    };
    // Topics created here: referenced by Ref, named by the TopicName parameter.
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    let mut topic_ids: BTreeMap<String, String> = BTreeMap::new();
    for c in changes {
        if let Resource::SnsTopic(t) = c.resource() {
            let id = unique(logical_id(&t.name, "Topic"));
            refs.insert(t.topic_arn.clone(), id.clone());
            topic_ids.insert(c.address.to_string(), id);
        }
    }
    let topic_param = (!topic_ids.is_empty()).then_some("TopicName");
    let mut params = Map::new();
    if let Some(name) = changes.iter().find_map(|c| match c.resource() {
        Resource::SnsTopic(t) => Some(t.name.clone()),
        _ => None,
    }) {
        params.insert(
            "TopicName".into(),
            json!({"Type": "String", "Default": name, "Description": "Name of the SNS topic the CIS alarms notify (created by this stack)."}),
        );
    }
    let mut resources: Vec<Res> = Vec::new();
    let mut imported: Vec<(String, &Change)> = Vec::new();
    let mut subscriber = 0;
    for c in changes {
        let (ty, mut props) = properties(c.resource(), &refs, topic_param);
        let id = match c.resource() {
            Resource::SnsTopic(_) => {
                topic_ids.get(c.address.as_str()).cloned().unwrap_or_else(|| unique("Topic".into()))
            }
            Resource::MetricFilter(f) => unique(logical_id(&f.filter_name, "Filter")),
            Resource::MetricAlarm(a) => unique(logical_id(&a.alarm_name, "Alarm")),
            Resource::SnsSubscription(s) => {
                subscriber += 1;
                let param = if subscriber == 1 {
                    "SubscriberEndpoint".to_string()
                } else {
                    format!("SubscriberEndpoint{subscriber}")
                };
                params.insert(
                    param.clone(),
                    json!({"Type": "String", "Default": s.endpoint, "Description": format!("Who the alarms reach ({} subscription; email ones stay pending until the recipient confirms).", s.protocol)}),
                );
                props["Endpoint"] = json!({"Ref": param});
                let topic = crate::model::topic_arn_parts(&s.topic_arn).map(|x| x.3).unwrap_or("Topic");
                unique(logical_id(&format!("{topic} subscription"), ""))
            }
            Resource::LogRetention(l) => unique(logical_id(&l.log_group_name, "LogGroup")),
            Resource::QueryDefinition(q) => unique(logical_id(&q.name, "Query")),
            Resource::SnsTopicPolicy(t) => {
                let topic = crate::model::topic_arn_parts(&t.topic_arn).map(|x| x.3).unwrap_or("Topic");
                unique(logical_id(&format!("{topic} policy"), ""))
            }
        };
        let mut body = Map::new();
        body.insert("Type".into(), json!(ty));
        let adopt = c.action == Action::Update && import_identifier(c.resource()).is_some();
        if adopt {
            body.insert("DeletionPolicy".into(), json!("Retain"));
            body.insert("UpdateReplacePolicy".into(), json!("Retain"));
            imported.push((id.clone(), c));
        }
        body.insert("Metadata".into(), metadata(c));
        body.insert("Properties".into(), props);
        resources.push(Res { id: id.clone(), comment: why(c), body: Value::Object(body) });
        if let Resource::SnsTopic(t) = c.resource() {
            if let Some(policy) = t.attributes.get("Policy") {
                let doc: Value = serde_json::from_str(policy).unwrap_or(Value::String(policy.clone()));
                let pid = unique(format!("{id}Policy"));
                resources.push(Res {
                    id: pid,
                    comment: format!(
                        "{}: only this account may manage the topic; only its CloudWatch alarms may publish",
                        c.controls.first().map(String::as_str).unwrap_or("")
                    ),
                    body: json!({
                        "Type": "AWS::SNS::TopicPolicy",
                        "Metadata": metadata(c),
                        "Properties": {"Topics": [{"Ref": id}], "PolicyDocument": with_refs(&doc, &refs)},
                    }),
                });
            }
        }
    }
    let description = format!(
        "cwfix {}: CIS monitoring chain changes for account {} in {region} (baseline {})",
        env!("CARGO_PKG_VERSION"),
        p.account,
        p.baseline.name
    );
    let mut header = vec![
        format!(
            "Generated by cwfix {} from the plan of account {} (baseline {}, {}), region {region}.",
            env!("CARGO_PKG_VERSION"),
            p.account,
            p.baseline.name,
            p.baseline.origin
        ),
        "Every resource carries the plan's after-state.".to_string(),
    ];
    if !imported.is_empty() {
        header.push(format!(
            "{} resource(s) exist already: import them first with the .import template and the resources-to-import file",
            imported.len()
        ));
        header.push("  aws cloudformation create-change-set --change-set-type IMPORT --stack-name STACK --change-set-name adopt \\".into());
        header
            .push("    --template-body file://IMPORT_TEMPLATE --resources-to-import file://RESOURCES_TO_IMPORT".into());
        header.push("  aws cloudformation execute-change-set --stack-name STACK --change-set-name adopt".into());
        header.push(
            "then deploy this template: aws cloudformation deploy --stack-name STACK --template-file THIS_FILE".into(),
        );
    } else {
        header.push("Deploy: aws cloudformation deploy --stack-name STACK --template-file THIS_FILE".into());
    }
    let open: Vec<String> = p
        .controls
        .iter()
        .filter(|c| matches!(c.status, Status::Blocked | Status::Unknown))
        .map(|c| format!("  {} {}: {}", c.id, crate::render::findings::status_str(c.status), c.reason))
        .collect();
    if !open.is_empty() {
        header.push("Controls no template can fix (cwfix reports them as blocked or unknown):".into());
        header.extend(open);
    }
    let meta = json!({"cwfix": {"account": p.account, "region": region, "baseline": p.baseline.name, "cwfix_version": env!("CARGO_PKG_VERSION")}});
    let template = render(&header, &description, &meta, &params, &resources, as_json);

    let (import_template, resources_to_import, imports) = if imported.is_empty() {
        (None, None, vec![])
    } else {
        let mut list = Vec::new();
        let mut lines = Vec::new();
        let mut res = Vec::new();
        for (id, c) in &imported {
            let before = c.before.as_ref().unwrap_or(c.resource());
            let (ty, props) = properties(before, &BTreeMap::new(), None);
            let ident = import_identifier(before).unwrap_or(Value::Null);
            lines.push(format!("{id} {ty} {ident}"));
            list.push(json!({"ResourceType": ty, "LogicalResourceId": id, "ResourceIdentifier": ident}));
            res.push(Res {
                id: id.clone(),
                comment: format!("{} as it is now (adopted unchanged; the main template then updates it)", c.address),
                body: json!({"Type": ty, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": props}),
            });
        }
        let h = vec![
            format!(
                "Generated by cwfix {}: resources of account {} in {region} that exist already, as they are now.",
                env!("CARGO_PKG_VERSION"),
                p.account
            ),
            "Import them (change set type IMPORT, with the resources-to-import file), then deploy the main template."
                .to_string(),
        ];
        let d = format!(
            "cwfix {}: adopt existing CIS monitoring resources of account {} in {region}",
            env!("CARGO_PKG_VERSION"),
            p.account
        );
        let t = render(&h, &d, &meta, &Map::new(), &res, as_json);
        (Some(t), Some(serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default() + "\n"), lines)
    };
    Template { region: region.to_string(), template, import_template, resources_to_import, imports }
}

fn render(
    header: &[String],
    description: &str,
    meta: &Value,
    params: &Map<String, Value>,
    res: &[Res],
    as_json: bool,
) -> String {
    if as_json {
        let mut t = Map::new();
        t.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
        t.insert("Description".into(), json!(description));
        t.insert("Metadata".into(), meta.clone());
        if !params.is_empty() {
            t.insert("Parameters".into(), Value::Object(params.clone()));
        }
        let mut r = Map::new();
        for x in res {
            r.insert(x.id.clone(), x.body.clone());
        }
        if r.is_empty() {
            r.insert("NoChanges".into(), json!({"Type": "AWS::CloudFormation::WaitConditionHandle"}));
        }
        t.insert("Resources".into(), Value::Object(r));
        return serde_json::to_string_pretty(&Value::Object(t)).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    for h in header {
        out.push_str(format!("# {h}").trim_end());
        out.push('\n');
    }
    out.push_str("AWSTemplateFormatVersion: \"2010-09-09\"\n");
    out.push_str(&format!("Description: {}\n", scalar(&json!(description))));
    out.push_str("Metadata:\n");
    yaml(meta, 2, &mut out);
    if !params.is_empty() {
        out.push_str("Parameters:\n");
        yaml(&Value::Object(params.clone()), 2, &mut out);
    }
    out.push_str("Resources:");
    if res.is_empty() {
        // A template needs a resource; an empty plan gets a harmless wait condition handle.
        out.push_str("\n  NoChanges:\n    Type: \"AWS::CloudFormation::WaitConditionHandle\"\n");
        return out;
    }
    out.push('\n');
    for (i, r) in res.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for l in r.comment.lines() {
            out.push_str(&format!("  # {l}\n"));
        }
        out.push_str(&format!("  {}:\n", r.id));
        yaml(&r.body, 4, &mut out);
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn yaml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_default()
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}

/// Block-style YAML of a mapping or sequence at `indent` spaces; scalars as JSON (double-quoted
/// strings, which YAML reads the same).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if is_block(x) {
                    out.push_str(&format!("{pad}{}:\n", yaml_key(k)));
                    yaml(x, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", yaml_key(k), scalar(x)));
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                if is_block(x) {
                    let mut inner = String::new();
                    yaml(x, indent + 2, &mut inner);
                    // The first line of the item goes after the dash.
                    let body = inner.strip_prefix(&" ".repeat(indent + 2)).unwrap_or(&inner);
                    out.push_str(&format!("{pad}- {body}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(x)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings::tests::sample;

    #[test]
    fn logical_ids() {
        assert_eq!(logical_id("IAMPolicyChanges", "Filter"), "IamPolicyChangesFilter");
        assert_eq!(logical_id("RootAccountUsageAlarm", "Alarm"), "RootAccountUsageAlarm");
        assert_eq!(logical_id("cis-5.1-unauthorized-api-calls", "Filter"), "Cis51UnauthorizedApiCallsFilter");
    }

    #[test]
    fn yaml_blocks() {
        let mut s = String::new();
        yaml(&json!({"A": [{"K": "v", "L": 1}, "x"], "B": {}, "C": "q\""}), 0, &mut s);
        assert_eq!(s, "A:\n  - K: \"v\"\n    L: 1\n  - \"x\"\nB: {}\nC: \"q\\\"\"\n");
    }

    #[test]
    fn sample_plan_template_and_import() {
        let t = templates(&sample(), false);
        assert_eq!(t.len(), 1);
        let main = &t[0].template;
        assert!(
            main.contains(
                "  IamPolicyChangesFilter:\n    Type: \"AWS::Logs::MetricFilter\"\n    DeletionPolicy: \"Retain\""
            ),
            "{main}"
        );
        assert!(
            main.contains("FilterPattern: \"{($.eventName=DeleteGroupPolicy)||($.eventName=DetachGroupPolicy)}\""),
            "{main}"
        );
        assert!(main.contains("Ref: \"SecurityAlertsTopic\""), "{main}");
        let imp = t[0].import_template.as_ref().unwrap();
        assert!(imp.contains("FilterPattern: \"{($.eventName=DeleteGroupPolicy)}\""), "before-state: {imp}");
        assert!(!imp.contains("SecurityAlertsTopic"), "{imp}");
        let ids: Value = serde_json::from_str(t[0].resources_to_import.as_ref().unwrap()).unwrap();
        let filter =
            ids.as_array().unwrap().iter().find(|x| x["LogicalResourceId"] == "IamPolicyChangesFilter").unwrap();
        assert_eq!(filter["ResourceIdentifier"], json!({"LogGroupName": "ct", "FilterName": "IAMPolicyChanges"}));
        let j: Value = serde_json::from_str(&templates(&sample(), true)[0].template).unwrap();
        assert_eq!(j["Resources"]["UnauthorizedApiCallsAlarm"]["Properties"]["Period"], 300);
    }
}
