//! Terraform (HCL) for a plan: `versions.tf`, `providers.tf`, `variables.tf`, `main.tf` (one
//! resource per planned change, each under a comment with its controls and the plan's reason)
//! and `imports.tf` (an `import` block, Terraform >= 1.5, for every resource the plan updates in
//! place, so it is adopted rather than duplicated).
//!
//! - Values are the plan's after-state byte for byte (patterns, alarm settings, KMS key, topic
//!   policy); the topic's name and the subscribers are variables whose defaults are the plan's.
//! - A retention change on the trail's existing log group is an imported
//!   `aws_cloudwatch_log_group` that sets only `retention_in_days`, ignores every other
//!   argument (`lifecycle.ignore_changes`) and is never deleted by Terraform (`skip_destroy`).
//! - Several regions: one aliased provider per region (`aws.eu_west_1`), named by every
//!   resource, data source and import; one region: the default provider.
//! - Formatting follows `terraform fmt`: two-space indents, and the `=` of consecutive
//!   single-line attributes aligned (hclwrite's rule: a line whose value opens a bracket it does
//!   not close, a block header, a comment or a blank line ends the run).

use super::{by_region, why, words};
use crate::plan::{Action, Change, Plan, Resource, Status, TopicSpec};
use serde_json::Value;
use std::collections::BTreeMap;

// ---- a small HCL writer ---------------------------------------------------------------------

/// An HCL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string literal (escaped on output).
    Str(String),
    /// Anything written as is: numbers, bools, references, `for` expressions.
    Raw(String),
    List(Vec<Expr>),
    Obj(Vec<(String, Expr)>),
    /// `name(arg)`, e.g. `jsonencode({...})`.
    Call(&'static str, Box<Expr>),
}

/// An HCL string literal: `"` and `\` escaped, control characters as escapes, and template
/// sequences (`${`, `%{`) doubled so they stay literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object key: bare when it is an identifier, quoted otherwise.
fn key(k: &str) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        k.to_string()
    } else {
        quote(k)
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A JSON value as an HCL expression (for `jsonencode`), with `refs` (string -> reference)
/// substituted.
fn from_json(v: &Value, refs: &BTreeMap<String, String>) -> Expr {
    match v {
        Value::Null => Expr::Raw("null".into()),
        Value::Bool(b) => Expr::Raw(b.to_string()),
        Value::Number(n) => Expr::Raw(n.to_string()),
        Value::String(s) => match refs.get(s) {
            Some(r) => Expr::Raw(r.clone()),
            None => Expr::Str(s.clone()),
        },
        Value::Array(a) => Expr::List(a.iter().map(|x| from_json(x, refs)).collect()),
        Value::Object(o) => Expr::Obj(o.iter().map(|(k, x)| (k.clone(), from_json(x, refs))).collect()),
    }
}

impl Expr {
    /// The expression on one line, if it fits (objects never do, except `{}`).
    fn inline(&self) -> Option<String> {
        match self {
            Expr::Str(s) => Some(quote(s)),
            Expr::Raw(r) => Some(r.clone()),
            Expr::List(items) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|i| if matches!(i, Expr::Str(_) | Expr::Raw(_)) { i.inline() } else { None })
                    .collect();
                let s = format!("[{}]", parts?.join(", "));
                (s.len() <= 100).then_some(s)
            }
            Expr::Obj(o) if o.is_empty() => Some("{}".into()),
            Expr::Obj(_) => None,
            Expr::Call(f, arg) => arg.inline().map(|a| format!("{f}({a})")),
        }
    }
}

#[derive(Debug, Clone)]
enum Line {
    /// `key = value` on one line: takes part in `=` alignment.
    Attr { indent: usize, key: String, value: String },
    /// Anything else (block headers, brackets, comments, blank lines): ends an alignment run.
    Raw(String),
}

/// HCL text built line by line, aligned as `terraform fmt` does on output.
#[derive(Debug, Default)]
pub struct Hcl {
    lines: Vec<Line>,
}

impl Hcl {
    fn pad(indent: usize) -> String {
        "  ".repeat(indent)
    }

    pub fn raw(&mut self, indent: usize, text: &str) {
        self.lines.push(Line::Raw(format!("{}{text}", Self::pad(indent))));
    }

    pub fn blank(&mut self) {
        self.lines.push(Line::Raw(String::new()));
    }

    /// `# text`, one comment line per line of text.
    pub fn comment(&mut self, indent: usize, text: &str) {
        for l in text.lines() {
            self.raw(indent, format!("# {l}").trim_end());
        }
    }

    pub fn open(&mut self, indent: usize, header: &str) {
        self.raw(indent, &format!("{header} {{"));
    }

    pub fn close(&mut self, indent: usize) {
        self.raw(indent, "}");
    }

    /// `key = expr`, on one line when it fits, else opened and closed over several lines.
    pub fn attr(&mut self, indent: usize, k: &str, e: &Expr) {
        match e.inline() {
            Some(v) => self.lines.push(Line::Attr { indent, key: key(k), value: v }),
            None => {
                let (open, close) = Self::brackets(e);
                self.raw(indent, &format!("{} = {open}", key(k)));
                self.body(indent + 1, e);
                self.raw(indent, close);
            }
        }
    }

    fn brackets(e: &Expr) -> (String, &'static str) {
        match e {
            Expr::List(_) => ("[".into(), "]"),
            Expr::Obj(_) => ("{".into(), "}"),
            Expr::Call(f, arg) => {
                let (o, _) = Self::brackets(arg);
                (format!("{f}({o}"), if matches!(**arg, Expr::List(_)) { "])" } else { "})" })
            }
            _ => (String::new(), ""),
        }
    }

    /// The inside of a multi-line list, object or call.
    fn body(&mut self, indent: usize, e: &Expr) {
        match e {
            Expr::Obj(o) => {
                for (k, v) in o {
                    self.attr(indent, k, v);
                }
            }
            Expr::List(items) => {
                for i in items {
                    match i.inline() {
                        Some(v) => self.raw(indent, &format!("{v},")),
                        None => {
                            let (open, close) = Self::brackets(i);
                            self.raw(indent, &open);
                            self.body(indent + 1, i);
                            self.raw(indent, &format!("{close},"));
                        }
                    }
                }
            }
            Expr::Call(_, arg) => self.body(indent, arg),
            _ => {}
        }
    }

    /// The text, with `=` aligned within each run of consecutive single-line attributes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.lines.len() {
            match &self.lines[i] {
                Line::Raw(t) => {
                    out.push_str(t);
                    out.push('\n');
                    i += 1;
                }
                Line::Attr { .. } => {
                    let mut j = i;
                    while j < self.lines.len() && matches!(self.lines[j], Line::Attr { .. }) {
                        j += 1;
                    }
                    let width = self.lines[i..j]
                        .iter()
                        .map(|l| match l {
                            Line::Attr { indent, key, .. } => indent * 2 + key.len(),
                            Line::Raw(_) => 0,
                        })
                        .max()
                        .unwrap_or(0);
                    for l in &self.lines[i..j] {
                        if let Line::Attr { indent, key, value } = l {
                            let lead = format!("{}{key}", Self::pad(*indent));
                            out.push_str(&format!("{lead:<width$} = {value}\n"));
                        }
                    }
                    i = j;
                }
            }
        }
        out
    }
}

// ---- the configuration ----------------------------------------------------------------------

/// A Terraform identifier from a name: `IAMPolicyChanges` -> `iam_policy_changes`.
pub fn ident(name: &str) -> String {
    let w = words(name);
    let s = if w.is_empty() { "resource".to_string() } else { w.join("_") };
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("r_{s}")
    } else {
        s
    }
}

fn region_ident(region: &str) -> String {
    region.replace('-', "_")
}

struct Ctx {
    multi_region: bool,
    /// Topic ARN -> reference expression, for topics created or looked up here.
    topic_refs: BTreeMap<String, String>,
    /// Labels taken, per resource type.
    taken: BTreeMap<&'static str, Vec<String>>,
}

impl Ctx {
    fn label(&mut self, ty: &'static str, name: &str, region: &str) -> String {
        let mut base = ident(name);
        if self.multi_region {
            base = format!("{base}_{}", region_ident(region));
        }
        let taken = self.taken.entry(ty).or_default();
        let mut l = base.clone();
        let mut n = 2;
        while taken.contains(&l) {
            l = format!("{base}_{n}");
            n += 1;
        }
        taken.push(l.clone());
        l
    }

    fn provider(&self, h: &mut Hcl, region: &str) {
        if self.multi_region {
            h.attr(1, "provider", &Expr::Raw(format!("aws.{}", region_ident(region))));
        }
    }

    /// An ARN as an expression: a reference when the topic is managed or looked up here.
    fn arn(&self, arn: &str) -> Expr {
        match self.topic_refs.get(arn) {
            Some(r) => Expr::Raw(r.clone()),
            None => Expr::Str(arn.to_string()),
        }
    }

    fn arns(&self, list: &[String]) -> Expr {
        Expr::List(list.iter().map(|a| self.arn(a)).collect())
    }
}

/// The `import` blocks' ids, as `terraform import`-style lines (`ADDRESS ID`), for stderr.
pub fn imports(p: &Plan) -> Vec<String> {
    plan_config(p).1
}

/// The files of the configuration: (file name, text).
pub fn files(p: &Plan) -> Vec<(String, String)> {
    let (files, _) = plan_config(p);
    files
}

fn plan_config(p: &Plan) -> (Vec<(String, String)>, Vec<String>) {
    let regions = by_region(p);
    let mut ctx = Ctx { multi_region: regions.len() > 1, topic_refs: BTreeMap::new(), taken: BTreeMap::new() };
    let header = format!(
        "Generated by cwfix {} from the plan of account {} (baseline {}, {}).\nEvery resource carries the plan's after-state; resources that exist already are imported (imports.tf).",
        env!("CARGO_PKG_VERSION"),
        p.account,
        p.baseline.name,
        p.baseline.origin
    );

    // Topics: created ones become resources named by var.topic_name; topics that only get
    // subscribers are looked up by the same variable.
    let created: Vec<(&Change, &TopicSpec)> = p
        .changes
        .iter()
        .filter_map(|c| match c.resource() {
            Resource::SnsTopic(t) if c.action == Action::Create => Some((c, t)),
            _ => None,
        })
        .collect();
    let subs: Vec<&Change> =
        p.changes.iter().filter(|c| matches!(c.resource(), Resource::SnsSubscription(_))).collect();
    let topic_name = created.first().map(|(_, t)| t.name.clone()).or_else(|| {
        subs.first().and_then(|c| match c.resource() {
            Resource::SnsSubscription(s) => crate::model::topic_arn_parts(&s.topic_arn).map(|x| x.3.to_string()),
            _ => None,
        })
    });
    let topic_var = topic_name.is_some()
        && created.iter().all(|(_, t)| Some(&t.name) == topic_name.as_ref())
        && subs.iter().all(|c| match c.resource() {
            Resource::SnsSubscription(s) => {
                crate::model::topic_arn_parts(&s.topic_arn).map(|x| x.3) == topic_name.as_deref()
            }
            _ => true,
        });
    let topic_name_expr = |name: &str| -> Expr {
        if topic_var {
            Expr::Raw("var.topic_name".into())
        } else {
            Expr::Str(name.to_string())
        }
    };

    let mut main = Hcl::default();
    let mut imports_hcl = Hcl::default();
    let mut import_lines = Vec::new();
    main.comment(0, &header);
    let open: Vec<&crate::plan::ControlVerdict> =
        p.controls.iter().filter(|c| matches!(c.status, Status::Blocked | Status::Unknown)).collect();
    if !open.is_empty() {
        main.comment(0, "Controls no code can fix (cwfix reports them as blocked or unknown):");
        for c in &open {
            main.comment(0, &format!("  {} {}: {}", c.id, crate::render::findings::status_str(c.status), c.reason));
        }
    }
    if p.changes.is_empty() {
        main.comment(0, "No changes: every control the plan could fix holds.");
    }

    // Labels for topics first, so alarms and subscriptions can refer to them.
    let mut topic_labels: Vec<(String, String, String)> = Vec::new(); // (arn, label, region)
    for (c, t) in &created {
        let label = ctx.label("aws_sns_topic", &t.name, &c.region);
        ctx.topic_refs.insert(t.topic_arn.clone(), format!("aws_sns_topic.{label}.arn"));
        topic_labels.push((t.topic_arn.clone(), label, c.region.clone()));
    }
    let mut data_topics: Vec<(String, String, String)> = Vec::new(); // (arn, label, region)
    for c in &subs {
        if let Resource::SnsSubscription(s) = c.resource() {
            if !ctx.topic_refs.contains_key(&s.topic_arn) {
                let name = crate::model::topic_arn_parts(&s.topic_arn).map(|x| x.3).unwrap_or("topic").to_string();
                let label = ctx.label("data.aws_sns_topic", &name, &c.region);
                ctx.topic_refs.insert(s.topic_arn.clone(), format!("data.aws_sns_topic.{label}.arn"));
                data_topics.push((s.topic_arn.clone(), label, c.region.clone()));
            }
        }
    }
    for (arn, label, region) in &data_topics {
        main.blank();
        main.comment(0, "The existing topic the new subscriptions attach to.");
        main.open(0, &format!("data \"aws_sns_topic\" \"{label}\""));
        ctx.provider(&mut main, region);
        let name = crate::model::topic_arn_parts(arn).map(|x| x.3).unwrap_or("").to_string();
        main.attr(1, "name", &topic_name_expr(&name));
        main.close(0);
    }

    // Subscriptions per topic: one for_each resource over a variable.
    let mut sub_groups: Vec<(String, String, Vec<&Change>)> = Vec::new(); // (topic arn, region, changes)
    for c in &subs {
        if let Resource::SnsSubscription(s) = c.resource() {
            match sub_groups.iter_mut().find(|(a, _, _)| *a == s.topic_arn) {
                Some((_, _, v)) => v.push(c),
                None => sub_groups.push((s.topic_arn.clone(), c.region.clone(), vec![c])),
            }
        }
    }
    let endpoints = |v: &[&Change]| -> Vec<(String, String)> {
        v.iter()
            .filter_map(|c| match c.resource() {
                Resource::SnsSubscription(s) => Some((s.protocol.clone(), s.endpoint.clone())),
                _ => None,
            })
            .collect()
    };
    let one_sub_var = sub_groups.windows(2).all(|w| endpoints(&w[0].2) == endpoints(&w[1].2));
    let sub_var = |region: &str| -> String {
        if one_sub_var {
            "subscriptions".into()
        } else {
            format!("subscriptions_{}", region_ident(region))
        }
    };

    for (_, changes) in &regions {
        for c in changes {
            match c.resource() {
                Resource::SnsTopic(t) => {
                    let label = topic_labels.iter().find(|(a, _, _)| *a == t.topic_arn).map(|x| x.1.clone());
                    let label = label.unwrap_or_else(|| ident(&t.name));
                    main.blank();
                    main.comment(0, &why(c));
                    main.open(0, &format!("resource \"aws_sns_topic\" \"{label}\""));
                    ctx.provider(&mut main, &c.region);
                    main.attr(1, "name", &topic_name_expr(&t.name));
                    for (k, v) in &t.attributes {
                        match k.as_str() {
                            "Policy" => {}
                            "KmsMasterKeyId" => main.attr(1, "kms_master_key_id", &Expr::Str(v.clone())),
                            "DisplayName" => main.attr(1, "display_name", &Expr::Str(v.clone())),
                            "DeliveryPolicy" => main.attr(1, "delivery_policy", &Expr::Str(v.clone())),
                            other => main.comment(1, &format!("attribute {other} = {v:?} has no argument here")),
                        }
                    }
                    if !t.tags.is_empty() {
                        main.attr(
                            1,
                            "tags",
                            &Expr::Obj(t.tags.iter().map(|(k, v)| (k.clone(), Expr::Str(v.clone()))).collect()),
                        );
                    }
                    main.close(0);
                    if let Some(policy) = t.attributes.get("Policy") {
                        let doc: Value = serde_json::from_str(policy).unwrap_or(Value::String(policy.clone()));
                        let mut refs = BTreeMap::new();
                        refs.insert(t.topic_arn.clone(), format!("aws_sns_topic.{label}.arn"));
                        main.blank();
                        main.comment(
                            0,
                            &format!(
                                "{}: only this account may manage the topic; only its CloudWatch alarms may publish",
                                c.controls.first().map(String::as_str).unwrap_or("")
                            ),
                        );
                        main.open(0, &format!("resource \"aws_sns_topic_policy\" \"{label}\""));
                        ctx.provider(&mut main, &c.region);
                        main.attr(1, "arn", &Expr::Raw(format!("aws_sns_topic.{label}.arn")));
                        main.attr(1, "policy", &Expr::Call("jsonencode", Box::new(from_json(&doc, &refs))));
                        main.close(0);
                    }
                }
                Resource::SnsSubscription(s) => {
                    // One resource per topic, written at its first subscription.
                    let Some((_, region, group)) = sub_groups.iter().find(|(a, _, _)| *a == s.topic_arn) else {
                        continue;
                    };
                    if !std::ptr::eq(group[0], *c) {
                        continue;
                    }
                    let name = crate::model::topic_arn_parts(&s.topic_arn).map(|x| x.3).unwrap_or("topic");
                    let label = ctx.label("aws_sns_topic_subscription", name, region);
                    main.blank();
                    main.comment(0, &why(c));
                    main.open(0, &format!("resource \"aws_sns_topic_subscription\" \"{label}\""));
                    ctx.provider(&mut main, region);
                    main.attr(
                        1,
                        "for_each",
                        &Expr::Raw(format!(
                            "{{ for s in var.{} : \"${{s.protocol}}:${{s.endpoint}}\" => s }}",
                            sub_var(region)
                        )),
                    );
                    main.blank();
                    main.attr(1, "topic_arn", &ctx.arn(&s.topic_arn));
                    main.attr(1, "protocol", &Expr::Raw("each.value.protocol".into()));
                    main.attr(1, "endpoint", &Expr::Raw("each.value.endpoint".into()));
                    main.close(0);
                }
                Resource::MetricFilter(f) => {
                    let label = ctx.label("aws_cloudwatch_log_metric_filter", &f.filter_name, &c.region);
                    main.blank();
                    main.comment(0, &why(c));
                    main.open(0, &format!("resource \"aws_cloudwatch_log_metric_filter\" \"{label}\""));
                    ctx.provider(&mut main, &c.region);
                    main.attr(1, "name", &Expr::Str(f.filter_name.clone()));
                    main.attr(1, "log_group_name", &Expr::Str(f.log_group_name.clone()));
                    main.attr(1, "pattern", &Expr::Str(f.filter_pattern.clone()));
                    if let Some(b) = f.apply_on_transformed_logs {
                        main.attr(1, "apply_on_transformed_logs", &Expr::Raw(b.to_string()));
                    }
                    for t in &f.metric_transformations {
                        main.blank();
                        main.open(1, "metric_transformation");
                        main.attr(2, "name", &Expr::Str(t.metric_name.clone()));
                        main.attr(2, "namespace", &Expr::Str(t.metric_namespace.clone()));
                        main.attr(2, "value", &Expr::Str(t.metric_value.clone()));
                        if let Some(d) = t.default_value {
                            main.attr(2, "default_value", &Expr::Str(num(d)));
                        }
                        if let Some(u) = &t.unit {
                            main.attr(2, "unit", &Expr::Str(u.clone()));
                        }
                        if !t.dimensions.is_empty() {
                            main.attr(
                                2,
                                "dimensions",
                                &Expr::Obj(
                                    t.dimensions.iter().map(|(k, v)| (k.clone(), Expr::Str(v.clone()))).collect(),
                                ),
                            );
                        }
                        main.close(1);
                    }
                    main.close(0);
                    if c.action == Action::Update {
                        import(
                            &ctx,
                            &mut imports_hcl,
                            &mut import_lines,
                            c,
                            "aws_cloudwatch_log_metric_filter",
                            &label,
                            &format!("{}:{}", f.log_group_name, f.filter_name),
                        );
                    }
                }
                Resource::MetricAlarm(a) => {
                    let label = ctx.label("aws_cloudwatch_metric_alarm", &a.alarm_name, &c.region);
                    main.blank();
                    main.comment(0, &why(c));
                    main.open(0, &format!("resource \"aws_cloudwatch_metric_alarm\" \"{label}\""));
                    ctx.provider(&mut main, &c.region);
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
                            attrs.push((k, Some(ctx.arns(list))));
                        }
                    }
                    for (k, v) in attrs {
                        if let Some(v) = v {
                            main.attr(1, k, &v);
                        }
                    }
                    if !a.dimensions.is_empty() {
                        main.attr(
                            1,
                            "dimensions",
                            &Expr::Obj(a.dimensions.iter().map(|(k, v)| (k.clone(), Expr::Str(v.clone()))).collect()),
                        );
                    }
                    main.close(0);
                    if c.action == Action::Update {
                        import(
                            &ctx,
                            &mut imports_hcl,
                            &mut import_lines,
                            c,
                            "aws_cloudwatch_metric_alarm",
                            &label,
                            &a.alarm_name,
                        );
                    }
                }
                Resource::LogRetention(r) => {
                    let label = ctx.label("aws_cloudwatch_log_group", &r.log_group_name, &c.region);
                    main.blank();
                    main.comment(0, &why(c));
                    main.comment(0, "The trail's log group exists: imported, only its retention is managed here, and Terraform never deletes it.");
                    main.open(0, &format!("resource \"aws_cloudwatch_log_group\" \"{label}\""));
                    ctx.provider(&mut main, &c.region);
                    main.attr(1, "name", &Expr::Str(r.log_group_name.clone()));
                    main.attr(1, "retention_in_days", &Expr::Raw(r.retention_in_days.unwrap_or(0).to_string()));
                    main.attr(1, "skip_destroy", &Expr::Raw("true".into()));
                    main.blank();
                    main.open(1, "lifecycle");
                    main.attr(
                        2,
                        "ignore_changes",
                        &Expr::List(
                            ["kms_key_id", "log_group_class", "tags", "tags_all"]
                                .iter()
                                .map(|x| Expr::Raw(x.to_string()))
                                .collect(),
                        ),
                    );
                    main.close(1);
                    main.close(0);
                    import(
                        &ctx,
                        &mut imports_hcl,
                        &mut import_lines,
                        c,
                        "aws_cloudwatch_log_group",
                        &label,
                        &r.log_group_name,
                    );
                }
                Resource::SnsTopicPolicy(t) => {
                    let name = crate::model::topic_arn_parts(&t.topic_arn).map(|x| x.3).unwrap_or("topic");
                    let label = ctx.label("aws_sns_topic_policy", name, &c.region);
                    let doc: Value = serde_json::from_str(&t.policy).unwrap_or(Value::String(t.policy.clone()));
                    main.blank();
                    main.comment(0, &why(c));
                    main.open(0, &format!("resource \"aws_sns_topic_policy\" \"{label}\""));
                    ctx.provider(&mut main, &c.region);
                    main.attr(1, "arn", &Expr::Str(t.topic_arn.clone()));
                    main.attr(1, "policy", &Expr::Call("jsonencode", Box::new(from_json(&doc, &BTreeMap::new()))));
                    main.close(0);
                    import(&ctx, &mut imports_hcl, &mut import_lines, c, "aws_sns_topic_policy", &label, &t.topic_arn);
                }
                Resource::QueryDefinition(q) => {
                    let label = ctx.label("aws_cloudwatch_query_definition", &q.name, &c.region);
                    main.blank();
                    main.comment(0, &why(c));
                    main.open(0, &format!("resource \"aws_cloudwatch_query_definition\" \"{label}\""));
                    ctx.provider(&mut main, &c.region);
                    main.attr(1, "name", &Expr::Str(q.name.clone()));
                    main.attr(1, "query_string", &Expr::Str(q.query_string.clone()));
                    if !q.log_group_names.is_empty() {
                        main.attr(
                            1,
                            "log_group_names",
                            &Expr::List(q.log_group_names.iter().map(|g| Expr::Str(g.clone())).collect()),
                        );
                    }
                    main.close(0);
                    if c.action == Action::Update {
                        if let Some(id) = &q.query_definition_id {
                            let arn =
                                format!("arn:{}:logs:{}:{}:query-definition:{id}", p.partition, c.region, p.account);
                            import(
                                &ctx,
                                &mut imports_hcl,
                                &mut import_lines,
                                c,
                                "aws_cloudwatch_query_definition",
                                &label,
                                &arn,
                            );
                        }
                    }
                }
            }
        }
    }

    // variables.tf
    let mut vars = Hcl::default();
    if topic_var {
        if let Some(name) = &topic_name {
            let managed = !created.is_empty();
            vars.open(0, "variable \"topic_name\"");
            vars.attr(
                1,
                "description",
                &Expr::Str(if managed {
                    "Name of the SNS topic the CIS alarms notify (created here).".into()
                } else {
                    "Name of the existing SNS topic the CIS alarms notify.".into()
                }),
            );
            vars.attr(1, "type", &Expr::Raw("string".into()));
            vars.attr(1, "default", &Expr::Str(name.clone()));
            vars.close(0);
        }
    }
    let mut declared: Vec<String> = Vec::new();
    for (_, region, group) in &sub_groups {
        let var = sub_var(region);
        if declared.contains(&var) {
            continue;
        }
        declared.push(var.clone());
        if !vars.lines.is_empty() {
            vars.blank();
        }
        vars.open(0, &format!("variable \"{var}\""));
        vars.attr(
            1,
            "description",
            &Expr::Str("Who the alarms reach: SNS subscriptions on the topic (email ones stay pending until the recipient confirms).".into()),
        );
        vars.attr(1, "type", &Expr::Raw("list(object({ protocol = string, endpoint = string }))".into()));
        let items: Vec<Expr> = endpoints(group)
            .into_iter()
            .map(|(pr, ep)| Expr::Obj(vec![("protocol".into(), Expr::Str(pr)), ("endpoint".into(), Expr::Str(ep))]))
            .collect();
        vars.attr(1, "default", &Expr::List(items));
        vars.close(0);
    }

    // providers.tf and versions.tf
    let mut providers = Hcl::default();
    let region_list: Vec<String> = if regions.is_empty() {
        vec![p
            .chain
            .as_ref()
            .map(|c| c.log_group.region.clone())
            .or_else(|| p.regions.first().cloned())
            .unwrap_or_else(|| "us-east-1".into())]
    } else {
        regions.iter().map(|(r, _)| r.clone()).collect()
    };
    for (i, r) in region_list.iter().enumerate() {
        if i > 0 {
            providers.blank();
        }
        providers.open(0, "provider \"aws\"");
        if ctx.multi_region {
            providers.attr(1, "alias", &Expr::Str(region_ident(r)));
        }
        providers.attr(1, "region", &Expr::Str(r.clone()));
        providers.attr(1, "allowed_account_ids", &Expr::List(vec![Expr::Str(p.account.clone())]));
        providers.close(0);
    }
    let mut versions = Hcl::default();
    versions.open(0, "terraform");
    versions.attr(1, "required_version", &Expr::Str(">= 1.5.0".into()));
    versions.blank();
    versions.open(1, "required_providers");
    versions.attr(
        2,
        "aws",
        &Expr::Obj(vec![
            ("source".into(), Expr::Str("hashicorp/aws".into())),
            ("version".into(), Expr::Str(">= 5.0".into())),
        ]),
    );
    versions.close(1);
    versions.close(0);

    let mut files =
        vec![("versions.tf".to_string(), versions.render()), ("providers.tf".to_string(), providers.render())];
    if !vars.lines.is_empty() {
        files.push(("variables.tf".to_string(), vars.render()));
    }
    files.push(("main.tf".to_string(), main.render()));
    if !imports_hcl.lines.is_empty() {
        let mut h = Hcl::default();
        h.comment(0, "Resources the plan changes in place exist already: adopt them (Terraform >= 1.5) instead of creating duplicates.");
        h.lines.extend(imports_hcl.lines);
        files.push(("imports.tf".to_string(), h.render()));
    }
    (files, import_lines)
}

fn import(ctx: &Ctx, h: &mut Hcl, lines: &mut Vec<String>, c: &Change, ty: &str, label: &str, id: &str) {
    h.blank();
    h.comment(0, &format!("{} ({})", c.address, c.region));
    h.open(0, "import");
    if ctx.multi_region {
        h.attr(1, "provider", &Expr::Raw(format!("aws.{}", region_ident(&c.region))));
    }
    h.attr(1, "to", &Expr::Raw(format!("{ty}.{label}")));
    h.attr(1, "id", &Expr::Str(id.to_string()));
    h.close(0);
    lines.push(format!("{ty}.{label} {id}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings::tests::sample;

    #[test]
    fn several_regions_get_a_provider_alias_each() {
        let mut p = sample();
        let mut extra = p.changes[1].clone();
        extra.region = "eu-west-1".into();
        extra.address = crate::plan::Addr::metric_filter("ct", "IAMPolicyChanges-eu");
        p.changes.push(extra);
        let files = files(&p);
        let get = |n: &str| files.iter().find(|(f, _)| f == n).unwrap().1.clone();
        let providers = get("providers.tf");
        assert!(
            providers.contains("  alias               = \"us_east_1\"\n  region              = \"us-east-1\""),
            "{providers}"
        );
        assert!(providers.contains("  alias               = \"eu_west_1\""), "{providers}");
        let main = get("main.tf");
        assert!(main.contains("resource \"aws_cloudwatch_log_metric_filter\" \"iam_policy_changes_eu_west_1\" {\n  provider       = aws.eu_west_1\n"), "{main}");
        assert!(
            main.contains("resource \"aws_sns_topic\" \"security_alerts_us_east_1\" {\n  provider = aws.us_east_1\n"),
            "{main}"
        );
        let imports = get("imports.tf");
        assert!(imports.contains("  provider = aws.eu_west_1\n  to       = aws_cloudwatch_log_metric_filter.iam_policy_changes_eu_west_1\n"), "{imports}");
    }

    #[test]
    fn strings_are_escaped_for_hcl() {
        assert_eq!(quote("{ $.a = \"b\" }"), r#""{ $.a = \"b\" }""#);
        assert_eq!(quote("${x} %{y} $z"), r#""$${x} %%{y} $z""#);
        assert_eq!(quote("a\\b\n"), r#""a\\b\n""#);
    }

    #[test]
    fn equals_signs_align_like_terraform_fmt() {
        let mut h = Hcl::default();
        h.open(0, "resource \"x\" \"y\"");
        h.attr(1, "name", &Expr::Str("a".into()));
        h.attr(1, "log_group_name", &Expr::Str("b".into()));
        h.blank();
        h.open(1, "metric_transformation");
        h.attr(2, "name", &Expr::Str("m".into()));
        h.attr(2, "namespace", &Expr::Str("n".into()));
        h.close(1);
        h.attr(
            1,
            "policy",
            &Expr::Call("jsonencode", Box::new(Expr::Obj(vec![("Version".into(), Expr::Str("1".into()))]))),
        );
        h.close(0);
        assert_eq!(
            h.render(),
            "resource \"x\" \"y\" {\n  name           = \"a\"\n  log_group_name = \"b\"\n\n  metric_transformation {\n    name      = \"m\"\n    namespace = \"n\"\n  }\n  policy = jsonencode({\n    Version = \"1\"\n  })\n}\n"
        );
    }

    #[test]
    fn sample_plan_becomes_resources_and_imports() {
        let files = files(&sample());
        let main = &files.iter().find(|(n, _)| n == "main.tf").unwrap().1;
        assert!(main.contains("resource \"aws_cloudwatch_log_metric_filter\" \"iam_policy_changes\" {"), "{main}");
        assert!(
            main.contains(r#"pattern        = "{($.eventName=DeleteGroupPolicy)||($.eventName=DetachGroupPolicy)}""#),
            "{main}"
        );
        assert!(main.contains("resource \"aws_sns_topic\" \"security_alerts\""), "{main}");
        assert!(main.contains("aws_sns_topic.security_alerts.arn"), "the alarm refers to the managed topic: {main}");
        assert!(main.contains("# 5.4: its pattern matches less than the baseline"), "{main}");
        let imports = &files.iter().find(|(n, _)| n == "imports.tf").unwrap().1;
        assert!(imports.contains("to = aws_cloudwatch_log_metric_filter.iam_policy_changes"), "{imports}");
        assert!(imports.contains(r#"id = "ct:IAMPolicyChanges""#), "{imports}");
        assert_eq!(super::imports(&sample()).len(), 2);
        let vars = &files.iter().find(|(n, _)| n == "variables.tf").unwrap().1;
        assert!(vars.contains("default     = \"security-alerts\""), "{vars}");
    }
}
