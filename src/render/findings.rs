//! Findings: the plan's per-control verdicts as records for the tools security teams already
//! read — SARIF (code scanning), ASFF (Security Hub), JUnit (CI) and CSV. This module owns what
//! the four formats share: one [`Finding`] per (account, control), the region and resources it
//! is about, the witness event, the fix (the planned changes) and the scanner verdicts. The
//! format modules only lay them out.
//!
//! Pure: plans in, bytes out. The time is an argument ([`Context::now`]) so output is testable;
//! nothing here reads the clock, the environment or AWS. Formats are documented in
//! `docs/findings.md`.

use crate::baseline::Baseline;
use crate::plan::{Change, ControlVerdict, Kind, Plan, Resource, Status};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// A findings format (`cwfix plan -o sarif|asff|junit|csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sarif,
    Asff,
    Junit,
    Csv,
}

/// What the formats need besides the plans.
#[derive(Debug, Clone)]
pub struct Context {
    /// When the findings were made (ASFF `CreatedAt`/`UpdatedAt`, SARIF invocation end, JUnit
    /// timestamp).
    pub now: time::OffsetDateTime,
    /// Control id -> scanner -> that scanner's id for the control (`securityhub` ->
    /// `CloudWatch.1`, `prowler` -> check id), from the baseline.
    pub scanner_ids: BTreeMap<String, BTreeMap<String, String>>,
}

impl Context {
    /// The context for plans made from `baseline` (scanner ids from its `scanner_ids` and from
    /// the monitoring topic each control is about).
    pub fn new(now: time::OffsetDateTime, baseline: Option<&Baseline>) -> Context {
        let mut scanner_ids = BTreeMap::new();
        for c in baseline.map(|b| b.controls.as_slice()).unwrap_or_default() {
            let mut ids: BTreeMap<String, String> = BTreeMap::new();
            if let Some(topic) = crate::scanner::classify(c) {
                if let Some(sh) = topic.securityhub_control() {
                    ids.insert("securityhub".into(), sh.into());
                }
                ids.insert("prowler".into(), topic.prowler_check().into());
            }
            for (k, v) in &c.scanner_ids {
                ids.insert(k.clone(), v.clone());
            }
            if !ids.is_empty() {
                scanner_ids.insert(c.id.clone(), ids);
            }
        }
        Context { now, scanner_ids }
    }

    /// RFC 3339 UTC with milliseconds, e.g. `2026-12-01T18:00:00.000Z` (ASFF's own examples).
    pub fn timestamp(&self) -> String {
        let t = self.now.to_offset(time::UtcOffset::UTC);
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        t.format(&fmt).unwrap_or_default()
    }
}

/// Writes `plans` as `format`.
pub fn write(format: Format, plans: &[Plan], ctx: &Context, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Sarif => super::sarif::write(plans, ctx, out),
        Format::Asff => super::asff::write(plans, ctx, out),
        Format::Junit => super::junit::write(plans, ctx, out),
        Format::Csv => super::csv::write(plans, ctx, out),
    }
}

/// A resource a finding is about.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRef {
    /// `metric_filter`, `metric_alarm`, `sns_topic`, `sns_subscription`, `log_group`,
    /// `query_definition` or `account`.
    pub kind: &'static str,
    /// The cwfix address (`metric_alarm.NAME`, ...) or, for the account, its id.
    pub address: String,
    /// The AWS ARN when the resource has one.
    pub arn: Option<String>,
}

/// One control of one account, with everything a format may show.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    pub plan: &'a Plan,
    pub control: &'a ControlVerdict,
    /// Where the control lives: its changes' region, the region it holds in, the chain's, or
    /// the first scanned region.
    pub region: String,
    /// The planned changes for this control (the fix), in apply order.
    pub changes: Vec<&'a Change>,
    /// The event the live filter misses, when the plan names one.
    pub witness: Option<Value>,
    /// The resources involved, most specific first; never empty (the account at least).
    pub resources: Vec<ResourceRef>,
    /// Scanner -> that scanner's id for this control.
    pub scanner_ids: BTreeMap<String, String>,
}

impl Finding<'_> {
    pub fn status(&self) -> Status {
        self.control.status
    }

    /// `compliant`, `changes`, `blocked` or `unknown`.
    pub fn status_str(&self) -> &'static str {
        status_str(self.control.status)
    }

    /// A stable identifier: `<account>/<region>/<baseline>/<control>`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.plan.account, self.region, self.plan.baseline.name, self.control.id)
    }

    /// The fix as JSON: each change's address, action, kind, region, changed fields and after-state.
    pub fn fix(&self) -> Value {
        Value::Array(
            self.changes
                .iter()
                .map(|c| {
                    let mut o = serde_json::json!({
                        "address": c.address,
                        "action": c.action,
                        "kind": c.kind,
                        "region": c.region,
                        "reason": c.reason,
                        "after": c.after,
                    });
                    if !c.fields.is_empty() {
                        o["fields"] = serde_json::to_value(&c.fields).unwrap_or_default();
                    }
                    o
                })
                .collect(),
        )
    }

    /// One line per change: `update metric_filter.ct/f`.
    pub fn fix_lines(&self) -> Vec<String> {
        self.changes.iter().map(|c| format!("{} {}", action_verb(c), c.address)).collect()
    }

    /// `securityhub=pass; prowler=FAIL (reason)`-style summary of the scanner verdicts.
    pub fn scanner_summary(&self) -> String {
        self.control.scanners.iter().map(|(k, v)| format!("{k}={}", verdict_label(v))).collect::<Vec<_>>().join("; ")
    }
}

pub fn status_str(s: Status) -> &'static str {
    match s {
        Status::Compliant => "compliant",
        Status::Changes => "changes",
        Status::Blocked => "blocked",
        Status::Unknown => "unknown",
    }
}

fn action_verb(c: &Change) -> &'static str {
    match c.action {
        crate::plan::Action::Create => "create",
        crate::plan::Action::Update => "update",
        crate::plan::Action::Delete => "delete",
    }
}

/// `pass`, `fail` or `not_checked` for one scanner verdict as the plan stores it.
pub fn verdict_label(v: &crate::scanner::Verdict) -> &'static str {
    v.label()
}

/// The witness event in a reason such as `... it misses events such as {"eventName":"X"}`.
pub fn witness(text: &str) -> Option<Value> {
    const MARK: &str = "misses events such as ";
    let at = text.find(MARK)? + MARK.len();
    let mut it = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
    it.next()?.ok()
}

/// Every finding of `plans`: one per (plan, control), in plan and control order.
pub fn findings<'a>(plans: &'a [Plan], ctx: &Context) -> Vec<Finding<'a>> {
    let mut out = Vec::new();
    for p in plans {
        for c in &p.controls {
            out.push(finding(p, c, ctx));
        }
    }
    out
}

fn finding<'a>(p: &'a Plan, c: &'a ControlVerdict, ctx: &Context) -> Finding<'a> {
    let changes: Vec<&Change> =
        p.changes.iter().filter(|ch| c.changes.iter().any(|a| ch.address == a.as_str())).collect();
    let region = changes
        .first()
        .map(|ch| ch.region.clone())
        .or_else(|| c.via.as_ref().map(|v| v.region.clone()))
        .or_else(|| p.chain.as_ref().map(|ch| ch.log_group.region.clone()))
        .or_else(|| p.regions.first().cloned())
        .unwrap_or_else(|| "us-east-1".into());
    let witness = witness(&c.reason).or_else(|| changes.iter().find_map(|ch| witness(&ch.reason)));
    let resources = resources(p, c, &changes);
    Finding {
        plan: p,
        control: c,
        region,
        changes,
        witness,
        resources,
        scanner_ids: ctx.scanner_ids.get(&c.id).cloned().unwrap_or_default(),
    }
}

fn arn(p: &Plan, service: &str, region: &str, rest: &str) -> String {
    format!("arn:{}:{service}:{region}:{}:{rest}", p.partition, p.account)
}

fn resources(p: &Plan, c: &ControlVerdict, changes: &[&Change]) -> Vec<ResourceRef> {
    let mut out: Vec<ResourceRef> = Vec::new();
    // Most specific first: filter, alarm, topic, subscription, then the rest.
    let mut ordered: Vec<&&Change> = changes.iter().collect();
    ordered.sort_by_key(|ch| match ch.kind {
        Kind::MetricFilter => 0,
        Kind::MetricAlarm => 1,
        Kind::SnsTopic => 2,
        Kind::SnsTopicPolicy => 2,
        Kind::SnsSubscription => 3,
        Kind::LogRetention => 4,
        Kind::QueryDefinition => 5,
    });
    for ch in ordered {
        let r = &ch.region;
        let (kind, arn) = match ch.resource() {
            Resource::MetricFilter(_) => ("metric_filter", None),
            Resource::MetricAlarm(a) => {
                ("metric_alarm", Some(arn(p, "cloudwatch", r, &format!("alarm:{}", a.alarm_name))))
            }
            Resource::SnsTopic(t) => ("sns_topic", Some(t.topic_arn.clone())),
            Resource::SnsTopicPolicy(t) => ("sns_topic_policy", Some(t.topic_arn.clone())),
            Resource::SnsSubscription(_) => ("sns_subscription", None),
            Resource::LogRetention(l) => {
                ("log_group", Some(arn(p, "logs", r, &format!("log-group:{}", l.log_group_name))))
            }
            Resource::QueryDefinition(q) => (
                "query_definition",
                q.query_definition_id.as_ref().map(|id| arn(p, "logs", r, &format!("query-definition:{id}"))),
            ),
        };
        out.push(ResourceRef { kind, address: ch.address.to_string(), arn });
    }
    if let Some(v) = &c.via {
        out.push(ResourceRef {
            kind: "metric_filter",
            address: format!("metric_filter.{}/{}", v.log_group, v.metric_filter),
            arn: None,
        });
        out.push(ResourceRef {
            kind: "metric_alarm",
            address: format!("metric_alarm.{}", v.alarm),
            arn: Some(arn(p, "cloudwatch", &v.region, &format!("alarm:{}", v.alarm))),
        });
        let topic = v.topic.rsplit(':').next().unwrap_or(&v.topic);
        out.push(ResourceRef { kind: "sns_topic", address: format!("sns_topic.{topic}"), arn: Some(v.topic.clone()) });
    }
    if out.is_empty() {
        if let Some(ch) = &p.chain {
            let g = &ch.log_group;
            out.push(ResourceRef {
                kind: "log_group",
                address: format!("log_group.{}", g.name),
                arn: Some(format!("arn:{}:logs:{}:{}:log-group:{}", g.partition, g.region, g.account, g.name)),
            });
        }
    }
    if out.is_empty() {
        out.push(ResourceRef { kind: "account", address: p.account.clone(), arn: None });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A plan with one control of each status: 5.3 compliant, 5.4 changes (near miss with a
    /// witness), 5.1 changes (alarm period and a new topic), 5.9 blocked, 5.10 unknown. Built
    /// from the documented JSON document (`docs/json-format.md`), not from the Rust types, so
    /// it survives refactors of `plan`.
    pub(crate) fn sample() -> Plan {
        let reason54 = "its pattern matches less than the baseline: it misses events such as {\"eventName\":\"DetachGroupPolicy\"}";
        let filter = |pattern: &str| {
            json!({"log_group_name": "ct", "filter_name": "IAMPolicyChanges", "filter_pattern": pattern,
                   "metric_transformations": [{"metric_name": "IAMPolicyEventCount", "metric_namespace": "CloudTrailMetrics", "metric_value": "1"}]})
        };
        let alarm = |period: i32, actions: Vec<&str>| {
            json!({"alarm_name": "UnauthorizedAPICallsAlarm", "actions_enabled": true, "alarm_actions": actions,
                   "ok_actions": [], "insufficient_data_actions": [],
                   "metric_name": "UnauthorizedAttemptCount", "namespace": "CloudTrailMetrics", "statistic": "Sum",
                   "period": period, "threshold": 1.0, "comparison_operator": "GreaterThanOrEqualToThreshold",
                   "evaluation_periods": 1})
        };
        let old = "arn:aws:sns:us-east-1:123456789012:old";
        let topic = "arn:aws:sns:us-east-1:123456789012:security-alerts";
        serde_json::from_value(json!({
            "format_version": "1.0", "cwfix_version": "0", "account": "123456789012", "partition": "aws",
            "regions": ["us-east-1"],
            "baseline": {"name": "cis-v7.0", "origin": "shipped:cis-v7.0", "hash": "h"},
            "state_fingerprint": "f",
            "chain": {"trail": "arn:aws:cloudtrail:us-east-1:123456789012:trail/main",
                      "log_group": {"partition": "aws", "account": "123456789012", "region": "us-east-1", "name": "ct"}},
            "controls": [
                {"id": "5.1", "title": "Unauthorized API calls", "status": "changes",
                 "reason": "alarm `UnauthorizedAPICallsAlarm`: period 60 (want 300)",
                 "changes": ["sns_topic.security-alerts", "metric_alarm.UnauthorizedAPICallsAlarm"]},
                {"id": "5.3", "title": "Usage of the root account", "status": "compliant",
                 "reason": "metric filter `RootAccountUsage` -> alarm `RootAccountUsageAlarm` -> topic `security-alerts`",
                 "via": {"trail": "arn:aws:cloudtrail:us-east-1:123456789012:trail/main", "log_group": "ct",
                         "region": "us-east-1", "metric_filter": "RootAccountUsage", "metric_name": "RootAccountUsageCount",
                         "namespace": "CloudTrailMetrics", "alarm": "RootAccountUsageAlarm", "topic": topic},
                 "changes": [],
                 "scanners": {"prowler": "pass", "securityhub": {"fail": "not the literal"}}},
                {"id": "5.4", "title": "IAM policy changes", "status": "changes",
                 "reason": format!("metric filter `IAMPolicyChanges`: {reason54}"),
                 "changes": ["metric_filter.ct/IAMPolicyChanges"], "scanners": {"prowler": "pass"}},
                {"id": "5.9", "title": "AWS Config configuration changes", "status": "blocked",
                 "reason": "topic `security-alerts` has only subscriptions pending confirmation: the recipient must confirm",
                 "changes": []},
                {"id": "5.10", "title": "Security group changes", "status": "unknown",
                 "reason": "cannot read the alarms in us-east-1: AccessDenied", "changes": []}
            ],
            "changes": [
                {"address": "sns_topic.security-alerts", "kind": "sns_topic", "action": "create", "region": "us-east-1",
                 "control": "5.1", "controls": ["5.1"], "reason": "topic `security-alerts` does not exist",
                 "before": null,
                 "after": {"name": "security-alerts", "topic_arn": topic, "attributes": {}, "tags": {}}},
                {"address": "metric_filter.ct/IAMPolicyChanges", "kind": "metric_filter", "action": "update",
                 "region": "us-east-1", "control": "5.4", "controls": ["5.4"], "reason": reason54,
                 "before": filter("{($.eventName=DeleteGroupPolicy)}"),
                 "after": filter("{($.eventName=DeleteGroupPolicy)||($.eventName=DetachGroupPolicy)}"),
                 "fields": [{"field": "filter_pattern", "before": "{($.eventName=DeleteGroupPolicy)}",
                             "after": "{($.eventName=DeleteGroupPolicy)||($.eventName=DetachGroupPolicy)}"}]},
                {"address": "metric_alarm.UnauthorizedAPICallsAlarm", "kind": "metric_alarm", "action": "update",
                 "region": "us-east-1", "control": "5.1", "controls": ["5.1"],
                 "reason": "alarm `UnauthorizedAPICallsAlarm`: period 60 (want 300)",
                 "before": alarm(60, vec![old]), "after": alarm(300, vec![old, topic]),
                 "fields": [{"field": "period", "before": 60, "after": 300}]}
            ],
            "summary": {"add": 1, "change": 2, "destroy": 0},
            "warnings": []
        }))
        .expect("the sample is a valid plan document")
    }

    pub(crate) fn ctx() -> Context {
        let b = crate::baseline::load("cis-v7.0").unwrap();
        Context::new(time::macros::datetime!(2026-12-01 18:00:00 UTC), Some(&b))
    }

    #[test]
    fn witness_is_read_from_the_reason() {
        let w = witness("x: it misses events such as {\"eventName\":\"A b\"}; alarm `y`: period 60").unwrap();
        assert_eq!(w, json!({"eventName": "A b"}));
        assert_eq!(witness("no witness here"), None);
    }

    #[test]
    fn one_finding_per_control_with_resources_fix_and_ids() {
        let p = sample();
        let c = ctx();
        let f = findings(std::slice::from_ref(&p), &c);
        assert_eq!(f.len(), 5);
        let f54 = f.iter().find(|x| x.control.id == "5.4").unwrap();
        assert_eq!(f54.witness, Some(json!({"eventName": "DetachGroupPolicy"})));
        assert_eq!(f54.key(), "123456789012/us-east-1/cis-v7.0/5.4");
        assert_eq!(f54.resources[0].kind, "metric_filter");
        assert_eq!(f54.scanner_ids["securityhub"], "CloudWatch.4");
        assert_eq!(f54.scanner_ids["prowler"], "cloudwatch_log_metric_filter_policy_changes");
        let f51 = f.iter().find(|x| x.control.id == "5.1").unwrap();
        assert_eq!(
            f51.fix_lines(),
            vec!["create sns_topic.security-alerts", "update metric_alarm.UnauthorizedAPICallsAlarm"]
        );
        assert_eq!(f51.resources[0].kind, "metric_alarm", "alarm before topic");
        let f53 = f.iter().find(|x| x.control.id == "5.3").unwrap();
        assert_eq!(f53.resources.len(), 3);
        assert_eq!(f53.scanner_summary(), "prowler=pass; securityhub=fail");
        let f59 = f.iter().find(|x| x.control.id == "5.9").unwrap();
        assert_eq!(f59.resources[0].kind, "log_group");
        assert_eq!(c.timestamp(), "2026-12-01T18:00:00.000Z");
    }
}
