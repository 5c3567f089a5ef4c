//! One HCL block per planned change, one function per resource kind, each under a comment with
//! its controls and the plan's reason; and the `import` block of every resource that exists
//! already (the plan updates it in place), so Terraform adopts it instead of duplicating it.

use super::hcl::{from_json, num, Expr};
use super::names::{ident, topic_name};
use super::Config;
use crate::emit::why;
use crate::model::{Alarm, MetricFilter, MetricTransformation, QueryDefinition};
use crate::plan::{Action, Change, Resource, RetentionSpec, SubscriptionSpec, TopicPolicySpec, TopicSpec};
use serde_json::Value;
use std::collections::BTreeMap;

impl Config<'_> {
    /// The block(s) of one change.
    pub(super) fn resource(&mut self, c: &Change) {
        match c.resource() {
            Resource::SnsTopic(t) => self.sns_topic(c, t),
            Resource::SnsSubscription(s) => self.subscriptions(c, s),
            Resource::MetricFilter(f) => self.metric_filter(c, f),
            Resource::MetricAlarm(a) => self.metric_alarm(c, a),
            Resource::LogRetention(r) => self.log_retention(c, r),
            Resource::SnsTopicPolicy(t) => self.topic_policy(c, t),
            Resource::QueryDefinition(q) => self.query_definition(c, q),
        }
    }

    /// A blank line, then the change's controls and reason as a comment.
    fn explain(&mut self, c: &Change) {
        self.main.blank();
        self.main.comment(0, &why(c));
    }

    /// `resource "TYPE" "LABEL" {`, with the region's provider when there are several.
    fn open_resource(&mut self, ty: &str, label: &str, region: &str) {
        self.main.open(0, &format!("resource \"{ty}\" \"{label}\""));
        self.names.provider(&mut self.main, region);
    }

    /// The `data` block of an existing topic that new subscriptions attach to.
    pub(super) fn data_topic(&mut self, arn: &str, label: &str, region: &str) {
        self.main.blank();
        self.main.comment(0, "The existing topic the new subscriptions attach to.");
        self.main.open(0, &format!("data \"aws_sns_topic\" \"{label}\""));
        self.names.provider(&mut self.main, region);
        let name = topic_name(arn).unwrap_or("");
        self.main.attr(1, "name", &self.notify.topic_name_expr(name));
        self.main.close(0);
    }

    /// A new topic (its label was taken up front, so others could refer to it), and its
    /// policy as a separate resource, as the provider wants it.
    fn sns_topic(&mut self, c: &Change, t: &TopicSpec) {
        let label = self.topic_labels.iter().find(|(a, _)| *a == t.topic_arn).map(|x| x.1.clone());
        let label = label.unwrap_or_else(|| ident(&t.name));
        self.explain(c);
        self.open_resource("aws_sns_topic", &label, &c.region);
        self.main.attr(1, "name", &self.notify.topic_name_expr(&t.name));
        for (k, v) in &t.attributes {
            match k.as_str() {
                // Written as its own aws_sns_topic_policy below.
                "Policy" => {}
                "KmsMasterKeyId" => self.main.attr(1, "kms_master_key_id", &Expr::Str(v.clone())),
                "DisplayName" => self.main.attr(1, "display_name", &Expr::Str(v.clone())),
                "DeliveryPolicy" => self.main.attr(1, "delivery_policy", &Expr::Str(v.clone())),
                other => self.main.comment(1, &format!("attribute {other} = {v:?} has no argument here")),
            }
        }
        if !t.tags.is_empty() {
            self.main.attr(1, "tags", &string_map(&t.tags));
        }
        self.main.close(0);
        if let Some(policy) = t.attributes.get("Policy") {
            self.new_topic_policy(c, t, &label, policy);
        }
    }

    /// The policy of a topic created here; the policy's mentions of the topic's ARN become
    /// references, so Terraform orders the two.
    fn new_topic_policy(&mut self, c: &Change, t: &TopicSpec, label: &str, policy: &str) {
        let doc: Value = serde_json::from_str(policy).unwrap_or(Value::String(policy.to_string()));
        let mut refs = BTreeMap::new();
        refs.insert(t.topic_arn.clone(), format!("aws_sns_topic.{label}.arn"));
        self.main.blank();
        self.main.comment(
            0,
            &format!(
                "{}: only this account may manage the topic; only its CloudWatch alarms may publish",
                c.controls.first().map(String::as_str).unwrap_or("")
            ),
        );
        self.open_resource("aws_sns_topic_policy", label, &c.region);
        self.main.attr(1, "arn", &Expr::Raw(format!("aws_sns_topic.{label}.arn")));
        self.main.attr(1, "policy", &Expr::Call("jsonencode", Box::new(from_json(&doc, &refs))));
        self.main.close(0);
    }

    /// One `for_each` resource per topic over its subscribers variable, written at the topic's
    /// first subscription (the others are part of it).
    fn subscriptions(&mut self, c: &Change, s: &SubscriptionSpec) {
        let Some((_, region, group)) = self.notify.group(&s.topic_arn) else {
            return;
        };
        if !std::ptr::eq(group[0], c) {
            return;
        }
        let region = region.clone();
        let name = topic_name(&s.topic_arn).unwrap_or("topic");
        let label = self.names.label("aws_sns_topic_subscription", name, &region);
        self.explain(c);
        self.open_resource("aws_sns_topic_subscription", &label, &region);
        self.main.attr(
            1,
            "for_each",
            &Expr::Raw(format!(
                "{{ for s in var.{} : \"${{s.protocol}}:${{s.endpoint}}\" => s }}",
                self.notify.sub_var(&region)
            )),
        );
        self.main.blank();
        self.main.attr(1, "topic_arn", &self.names.arn(&s.topic_arn));
        self.main.attr(1, "protocol", &Expr::Raw("each.value.protocol".into()));
        self.main.attr(1, "endpoint", &Expr::Raw("each.value.endpoint".into()));
        self.main.close(0);
    }

    fn metric_filter(&mut self, c: &Change, f: &MetricFilter) {
        let label = self.names.label("aws_cloudwatch_log_metric_filter", &f.filter_name, &c.region);
        self.explain(c);
        self.open_resource("aws_cloudwatch_log_metric_filter", &label, &c.region);
        self.main.attr(1, "name", &Expr::Str(f.filter_name.clone()));
        self.main.attr(1, "log_group_name", &Expr::Str(f.log_group_name.clone()));
        self.main.attr(1, "pattern", &Expr::Str(f.filter_pattern.clone()));
        if let Some(b) = f.apply_on_transformed_logs {
            self.main.attr(1, "apply_on_transformed_logs", &Expr::Raw(b.to_string()));
        }
        for t in &f.metric_transformations {
            self.metric_transformation(t);
        }
        self.main.close(0);
        if c.action == Action::Update {
            let id = format!("{}:{}", f.log_group_name, f.filter_name);
            self.import(c, "aws_cloudwatch_log_metric_filter", &label, &id);
        }
    }

    fn metric_transformation(&mut self, t: &MetricTransformation) {
        self.main.blank();
        self.main.open(1, "metric_transformation");
        self.main.attr(2, "name", &Expr::Str(t.metric_name.clone()));
        self.main.attr(2, "namespace", &Expr::Str(t.metric_namespace.clone()));
        self.main.attr(2, "value", &Expr::Str(t.metric_value.clone()));
        if let Some(d) = t.default_value {
            self.main.attr(2, "default_value", &Expr::Str(num(d)));
        }
        if let Some(u) = &t.unit {
            self.main.attr(2, "unit", &Expr::Str(u.clone()));
        }
        if !t.dimensions.is_empty() {
            self.main.attr(2, "dimensions", &string_map(&t.dimensions));
        }
        self.main.close(1);
    }

    fn metric_alarm(&mut self, c: &Change, a: &Alarm) {
        let label = self.names.label("aws_cloudwatch_metric_alarm", &a.alarm_name, &c.region);
        self.explain(c);
        self.open_resource("aws_cloudwatch_metric_alarm", &label, &c.region);
        for (k, v) in self.alarm_arguments(a) {
            if let Some(v) = v {
                self.main.attr(1, k, &v);
            }
        }
        if !a.dimensions.is_empty() {
            self.main.attr(1, "dimensions", &string_map(&a.dimensions));
        }
        self.main.close(0);
        if c.action == Action::Update {
            self.import(c, "aws_cloudwatch_metric_alarm", &label, &a.alarm_name);
        }
    }

    /// The alarm's arguments in the order written (`None`: not set); action lists name
    /// topics managed here by reference.
    fn alarm_arguments(&self, a: &Alarm) -> Vec<(&'static str, Option<Expr>)> {
        let s = |v: &Option<String>| v.clone().map(Expr::Str);
        let n = |v: Option<i32>| v.map(|x| Expr::Raw(x.to_string()));
        let mut attrs: Vec<(&str, Option<Expr>)> = vec![
            ("alarm_name", Some(Expr::Str(a.alarm_name.clone()))),
            ("alarm_description", s(&a.alarm_description)),
            ("namespace", s(&a.namespace)),
            ("metric_name", s(&a.metric_name)),
            ("statistic", a.statistic.as_ref().map(|x| Expr::Str(x.to_string()))),
            ("extended_statistic", s(&a.extended_statistic)),
            ("period", n(a.period)),
            ("unit", s(&a.unit)),
            ("evaluation_periods", n(a.evaluation_periods)),
            ("datapoints_to_alarm", n(a.datapoints_to_alarm)),
            ("threshold", a.threshold.map(|t| Expr::Raw(num(t)))),
            ("threshold_metric_id", s(&a.threshold_metric_id)),
            ("comparison_operator", a.comparison_operator.as_ref().map(|x| Expr::Str(x.to_string()))),
            ("treat_missing_data", a.treat_missing_data.as_ref().map(|x| Expr::Str(x.to_string()))),
            ("evaluate_low_sample_count_percentiles", s(&a.evaluate_low_sample_count_percentile)),
            ("actions_enabled", Some(Expr::Raw(a.actions_enabled.to_string()))),
        ];
        for (k, list) in [
            ("alarm_actions", &a.alarm_actions),
            ("ok_actions", &a.ok_actions),
            ("insufficient_data_actions", &a.insufficient_data_actions),
        ] {
            if !list.is_empty() {
                attrs.push((k, Some(self.names.arns(list))));
            }
        }
        attrs
    }

    /// Retention on the trail's log group, which exists: imported, and only its retention is
    /// managed, so Terraform never changes its other settings nor deletes it.
    fn log_retention(&mut self, c: &Change, r: &RetentionSpec) {
        let label = self.names.label("aws_cloudwatch_log_group", &r.log_group_name, &c.region);
        self.explain(c);
        self.main.comment(0, "The trail's log group exists: imported, only its retention is managed here, and Terraform never deletes it.");
        self.open_resource("aws_cloudwatch_log_group", &label, &c.region);
        self.main.attr(1, "name", &Expr::Str(r.log_group_name.clone()));
        self.main.attr(1, "retention_in_days", &Expr::Raw(r.retention_in_days.unwrap_or(0).to_string()));
        self.main.attr(1, "skip_destroy", &Expr::Raw("true".into()));
        self.main.blank();
        self.main.open(1, "lifecycle");
        let ignored = ["kms_key_id", "log_group_class", "tags", "tags_all"];
        self.main.attr(2, "ignore_changes", &Expr::List(ignored.iter().map(|x| Expr::Raw(x.to_string())).collect()));
        self.main.close(1);
        self.main.close(0);
        self.import(c, "aws_cloudwatch_log_group", &label, &r.log_group_name);
    }

    /// A new policy on a topic that exists already (always imported: the topic has one).
    fn topic_policy(&mut self, c: &Change, t: &TopicPolicySpec) {
        let name = topic_name(&t.topic_arn).unwrap_or("topic");
        let label = self.names.label("aws_sns_topic_policy", name, &c.region);
        let doc: Value = serde_json::from_str(&t.policy).unwrap_or(Value::String(t.policy.clone()));
        self.explain(c);
        self.open_resource("aws_sns_topic_policy", &label, &c.region);
        self.main.attr(1, "arn", &Expr::Str(t.topic_arn.clone()));
        self.main.attr(1, "policy", &Expr::Call("jsonencode", Box::new(from_json(&doc, &BTreeMap::new()))));
        self.main.close(0);
        self.import(c, "aws_sns_topic_policy", &label, &t.topic_arn);
    }

    fn query_definition(&mut self, c: &Change, q: &QueryDefinition) {
        let label = self.names.label("aws_cloudwatch_query_definition", &q.name, &c.region);
        self.explain(c);
        self.open_resource("aws_cloudwatch_query_definition", &label, &c.region);
        self.main.attr(1, "name", &Expr::Str(q.name.clone()));
        self.main.attr(1, "query_string", &Expr::Str(q.query_string.clone()));
        if !q.log_group_names.is_empty() {
            let groups = q.log_group_names.iter().map(|g| Expr::Str(g.clone())).collect();
            self.main.attr(1, "log_group_names", &Expr::List(groups));
        }
        self.main.close(0);
        if c.action == Action::Update {
            // The provider imports a query definition by its ARN, which the plan does not
            // carry: built from the id.
            if let Some(id) = &q.query_definition_id {
                let p = self.plan;
                let arn = format!("arn:{}:logs:{}:{}:query-definition:{id}", p.partition, c.region, p.account);
                self.import(c, "aws_cloudwatch_query_definition", &label, &arn);
            }
        }
    }

    /// An `import` block for imports.tf, and its `ADDRESS ID` line for stderr.
    fn import(&mut self, c: &Change, ty: &str, label: &str, id: &str) {
        let h = &mut self.imports;
        h.blank();
        h.comment(0, &format!("{} ({})", c.address, c.region));
        h.open(0, "import");
        self.names.provider(h, &c.region);
        h.attr(1, "to", &Expr::Raw(format!("{ty}.{label}")));
        h.attr(1, "id", &Expr::Str(id.to_string()));
        h.close(0);
        self.import_lines.push(format!("{ty}.{label} {id}"));
    }
}

/// A map of strings as an HCL object (tags, dimensions).
fn string_map<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> Expr {
    Expr::Obj(m.into_iter().map(|(k, v)| (k.clone(), Expr::Str(v.clone()))).collect())
}
