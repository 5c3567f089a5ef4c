//! AWS Security Finding Format (`cwfix plan -o asff`): a JSON array in the shape of
//! `BatchImportFindings`' `Findings`, one finding per control and account.
//!
//! - `Id` `cwfix/<account>/<region>/<baseline>/<control>` is stable, so importing again
//!   updates the finding instead of adding one; `ProductArn` is the account's default product
//!   (`arn:aws:securityhub:<region>:<account>:product/<account>/default`).
//! - `Compliance.Status`: compliant -> `PASSED`; changes and blocked -> `FAILED`; unknown ->
//!   `WARNING` ("some information is missing", the ASFF meaning; `NOT_AVAILABLE` is for
//!   service outages and Config's NOT_APPLICABLE, and makes Security Hub archive the finding).
//! - `Severity.Label`: `LOW` for FAILED (the severity Security Hub gives CloudWatch.1-14),
//!   `INFORMATIONAL` otherwise. `Severity.Original` is cwfix's status.
//! - `Resources`: the filter, alarm, topic (or log group) the control is about, the account
//!   (`AwsAccount`) when there is nothing more specific. Alarms and topics have their ASFF
//!   types; metric filters, subscriptions, log groups and saved queries are `Other`.
//! - `RecordState` and `Workflow.Status`: a control that holds is `ARCHIVED` / `RESOLVED`, one
//!   that does not `ACTIVE` / `NEW`. Security Hub takes `Workflow` from a provider only when it
//!   creates the finding (later it belongs to the people triaging it), so a control that becomes
//!   compliant is resolved the provider's way: `PASSED` and archived. When it fails again the
//!   finding becomes `ACTIVE`, and Security Hub itself sets a `RESOLVED` workflow back to `NEW`.
//! - Field limits of the API are respected (Title 256, Description 1024, Recommendation 512,
//!   ProductFields values 2048 characters).

use super::findings::{findings, Context, Finding};
use crate::plan::{Plan, Status};
use serde_json::{json, Map, Value};
use std::io::{self, Write};

pub const SCHEMA_VERSION: &str = "2018-10-08";
pub const CIS_TYPE: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";
pub const BEST_PRACTICES_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";

pub fn write(plans: &[Plan], ctx: &Context, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(plans, ctx))?;
    writeln!(out)
}

/// Cuts `s` to at most `max` characters (on a char boundary), marking the cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The findings as a JSON array.
pub fn document(plans: &[Plan], ctx: &Context) -> Value {
    Value::Array(findings(plans, ctx).iter().map(|f| finding(f, ctx)).collect())
}

fn compliance_status(s: Status) -> &'static str {
    match s {
        Status::Compliant => "PASSED",
        Status::Changes | Status::Blocked => "FAILED",
        Status::Unknown => "WARNING",
    }
}

/// `CIS AWS Foundations Benchmark v7.0/5.4` for `cis-v7.0`, plus the scanner ids.
fn related_requirements(f: &Finding) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = f.plan.baseline.name.strip_prefix("cis-v") {
        out.push(format!("CIS AWS Foundations Benchmark v{v}/{}", f.control.id));
    }
    if let Some(sh) = f.scanner_ids.get("securityhub") {
        out.push(format!("AWS Security Hub {sh}"));
    }
    if let Some(p) = f.scanner_ids.get("prowler") {
        out.push(format!("Prowler {p}"));
    }
    out
}

fn recommendation(f: &Finding) -> String {
    match f.status() {
        Status::Compliant => "No action needed: the control holds.".into(),
        Status::Changes => format!(
            "Make the planned changes with `cwfix apply`, or as code with `cwfix plan --emit terraform DIR` / `--emit cloudformation FILE`: {}.",
            f.fix_lines().join(", ")
        ),
        Status::Blocked => format!("cwfix cannot fix this itself: {}", f.control.reason),
        Status::Unknown => format!(
            "Give cwfix read access (`cwfix iam-policy --for plan`) and plan again: {}",
            f.control.reason
        ),
    }
}

fn resource(f: &Finding, r: &super::findings::ResourceRef) -> Value {
    let partition = &f.plan.partition;
    let (ty, id) = match (r.kind, &r.arn) {
        ("account", _) => ("AwsAccount", format!("AWS::::Account:{}", f.plan.account)),
        ("metric_alarm", Some(a)) => ("AwsCloudWatchAlarm", a.clone()),
        ("sns_topic", Some(a)) => ("AwsSnsTopic", a.clone()),
        (_, Some(a)) => ("Other", a.clone()),
        (_, None) => ("Other", format!("{}/{}/{}", f.plan.account, f.region, r.address)),
    };
    let mut details = Map::new();
    details.insert("cwfix_address".into(), json!(r.address));
    details.insert("cwfix_kind".into(), json!(r.kind));
    let mut v = json!({"Type": ty, "Id": id, "Partition": partition, "Region": f.region});
    if ty == "Other" {
        v["Details"] = json!({"Other": details});
    }
    v
}

fn finding(f: &Finding, ctx: &Context) -> Value {
    let account = &f.plan.account;
    let status = f.status();
    let cis = f.plan.baseline.name.starts_with("cis-") || f.scanner_ids.contains_key("securityhub");
    let now = ctx.timestamp();
    let mut product_fields = Map::new();
    let mut pf = |k: &str, v: String| {
        product_fields.insert(format!("cwfix/{k}"), json!(clip(&v, 2048)));
    };
    pf("Status", f.status_str().to_string());
    pf("Baseline", f.plan.baseline.name.clone());
    pf("Control", f.control.id.clone());
    if !f.changes.is_empty() {
        pf("Fix", f.fix_lines().join("; "));
    }
    if let Some(w) = &f.witness {
        pf("WitnessEvent", w.to_string());
    }
    if !f.control.scanners.is_empty() {
        pf("Scanners", f.scanner_summary());
    }
    let mut resources: Vec<Value> = Vec::new();
    for r in f.resources.iter().take(32) {
        let v = resource(f, r);
        if !resources.iter().any(|x| x["Id"] == v["Id"]) {
            resources.push(v);
        }
    }
    let mut compliance = json!({"Status": compliance_status(status)});
    let related = related_requirements(f);
    if !related.is_empty() {
        compliance["RelatedRequirements"] = json!(related);
    }
    if status != Status::Compliant {
        compliance["StatusReasons"] = json!([{"ReasonCode": format!("CWFIX_{}", f.status_str().to_ascii_uppercase()), "Description": clip(&f.control.reason, 2048)}]);
    }
    json!({
        "SchemaVersion": SCHEMA_VERSION,
        "Id": format!("cwfix/{}", f.key()),
        "ProductArn": format!("arn:{}:securityhub:{}:{account}:product/{account}/default", f.plan.partition, f.region),
        "ProductName": "cwfix",
        "CompanyName": "cwfix",
        "GeneratorId": format!("cwfix/{}/{}", f.plan.baseline.name, f.control.id),
        "AwsAccountId": account,
        "Region": f.region,
        "Types": [if cis { CIS_TYPE } else { BEST_PRACTICES_TYPE }],
        "FirstObservedAt": now,
        "LastObservedAt": now,
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Label": if status == Status::Changes || status == Status::Blocked { "LOW" } else { "INFORMATIONAL" }, "Original": f.status_str()},
        "Title": clip(&format!("{} {}", f.control.id, f.control.title), 256),
        "Description": clip(&f.control.reason, 1024),
        "Remediation": {"Recommendation": {"Text": clip(&recommendation(f), 512)}},
        "ProductFields": Value::Object(product_fields),
        "Resources": resources,
        "Compliance": compliance,
        "RecordState": if status == Status::Compliant { "ARCHIVED" } else { "ACTIVE" },
        "Workflow": {"Status": if status == Status::Compliant { "RESOLVED" } else { "NEW" }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings::tests::{ctx, sample};

    #[test]
    fn one_finding_per_control_with_stable_ids_and_statuses() {
        let doc = document(&[sample()], &ctx());
        let list = doc.as_array().unwrap();
        assert_eq!(list.len(), 5);
        let by = |id: &str| list.iter().find(|f| f["GeneratorId"] == format!("cwfix/cis-v7.0/{id}")).unwrap();
        assert_eq!(by("5.3")["Compliance"]["Status"], "PASSED");
        assert_eq!(by("5.4")["Compliance"]["Status"], "FAILED");
        assert_eq!(by("5.9")["Compliance"]["Status"], "FAILED");
        assert_eq!(by("5.10")["Compliance"]["Status"], "WARNING");
        assert_eq!(
            (by("5.3")["RecordState"].as_str(), by("5.3")["Workflow"]["Status"].as_str()),
            (Some("ARCHIVED"), Some("RESOLVED"))
        );
        assert_eq!(
            (by("5.4")["RecordState"].as_str(), by("5.4")["Workflow"]["Status"].as_str()),
            (Some("ACTIVE"), Some("NEW"))
        );
        assert_eq!(by("5.4")["Id"], "cwfix/123456789012/us-east-1/cis-v7.0/5.4");
        assert_eq!(by("5.4")["ProductArn"], "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default");
        assert_eq!(by("5.4")["CreatedAt"], "2026-12-01T18:00:00.000Z");
        assert_eq!(by("5.4")["Types"][0], CIS_TYPE);
        assert_eq!(by("5.4")["Compliance"]["RelatedRequirements"][0], "CIS AWS Foundations Benchmark v7.0/5.4");
        assert_eq!(by("5.3")["Resources"][1]["Type"], "AwsCloudWatchAlarm");
        assert_eq!(by("5.3")["Resources"][2]["Type"], "AwsSnsTopic");
        assert_eq!(by("5.4")["ProductFields"]["cwfix/WitnessEvent"], "{\"eventName\":\"DetachGroupPolicy\"}");
        assert!(by("5.1")["Remediation"]["Recommendation"]["Text"].as_str().unwrap().contains("update metric_alarm."));
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("ééé", 2), "é…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
