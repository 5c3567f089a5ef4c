//! SARIF 2.1.0 (`cwfix plan -o sarif`): one run for all accounts, one rule per baseline control,
//! one result per control that does not hold (`changes` and `blocked` are `error`, `unknown`
//! is `warning`: cwfix could not read something, which is not a proven gap but must not pass).
//!
//! Rule ids are `<baseline>/<control>` (`cis-v7.0/5.4`); the Security Hub and Prowler ids of
//! the control are rule properties and relationships to two taxonomies. Each result has a
//! logical location `<account>/<region>/<resource address>` (hierarchy: account, region,
//! resource in `run.logicalLocations`), the reason as message, and in `properties` the status,
//! the witness event, the fix (planned changes with their after-state) and the scanner verdicts.
//! Results carry `partialFingerprints["cwfix/v1"]` = `<account>/<region>/<baseline>/<control>`
//! so a re-upload updates the same alert.

use super::findings::{findings, Context, Finding};
use crate::plan::{Plan, Status};
use serde_json::{json, Map, Value};
use std::io::{self, Write};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Taxonomies the rules relate to: (scanner key, taxonomy name).
const TAXONOMIES: &[(&str, &str)] = &[("securityhub", "AWS Security Hub"), ("prowler", "Prowler")];

pub fn write(plans: &[Plan], ctx: &Context, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(plans, ctx))?;
    writeln!(out)
}

fn rule_id(f: &Finding) -> String {
    format!("{}/{}", f.plan.baseline.name, f.control.id)
}

/// The SARIF log as a JSON value.
pub fn document(plans: &[Plan], ctx: &Context) -> Value {
    let all = findings(plans, ctx);
    let rules = Rules::of(&all);
    let mut locations = Locations::default();
    let results: Vec<Value> =
        all.iter().filter(|f| f.status() != Status::Compliant).map(|f| result(f, &rules, &mut locations)).collect();
    let accounts: Vec<&str> = plans.iter().map(|p| p.account.as_str()).collect();
    let baseline = plans.first().map(|p| p.baseline.name.as_str()).unwrap_or("");
    let mut run = json!({
        "tool": {"driver": {
            "name": "cwfix",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "rules": rules.rules,
        }},
        "automationDetails": {"id": format!("cwfix/{baseline}/")},
        "invocations": [{"executionSuccessful": true, "endTimeUtc": ctx.timestamp()}],
        "logicalLocations": locations.0,
        "results": results,
        "properties": {"accounts": accounts, "baseline": baseline},
    });
    let taxonomies = taxonomies(&rules.taxa);
    if !taxonomies.is_empty() {
        run["taxonomies"] = Value::Array(taxonomies);
    }
    json!({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]})
}

/// The rules: one per control of every plan, first appearance wins (the order of the
/// baseline), with the taxa of [`TAXONOMIES`] they relate to.
struct Rules {
    rules: Vec<Value>,
    /// The rule id of each rule, by index (results point at their rule by index).
    ids: Vec<String>,
    /// Per taxonomy, the ids the rules relate to, each once.
    taxa: Vec<Vec<String>>,
}

impl Rules {
    fn of(all: &[Finding]) -> Rules {
        let mut rules = Rules { rules: Vec::new(), ids: Vec::new(), taxa: vec![Vec::new(); TAXONOMIES.len()] };
        for f in all {
            let id = rule_id(f);
            if rules.ids.contains(&id) {
                continue;
            }
            let relationships = relationships(f, &mut rules.taxa);
            rules.rules.push(rule(f, &id, relationships));
            rules.ids.push(id);
        }
        rules
    }

    fn index(&self, id: &str) -> usize {
        self.ids.iter().position(|x| *x == id).unwrap_or(0)
    }
}

/// The control's ids in the other tools' taxonomies, noting each id in `taxa`.
fn relationships(f: &Finding, taxa: &mut [Vec<String>]) -> Vec<Value> {
    let mut relationships = Vec::new();
    for (i, (key, name)) in TAXONOMIES.iter().enumerate() {
        if let Some(t) = f.scanner_ids.get(*key) {
            if !taxa[i].contains(t) {
                taxa[i].push(t.clone());
            }
            relationships.push(json!({"target": {"id": t, "toolComponent": {"name": name}}, "kinds": ["relevant"]}));
        }
    }
    relationships
}

fn rule(f: &Finding, id: &str, relationships: Vec<Value>) -> Value {
    let mut rule = json!({
        "id": id,
        "shortDescription": {"text": format!("{} {}", f.control.id, f.control.title)},
        "fullDescription": {"text": format!(
            "Control {} of baseline {} ({}): {}. Holds when a multi-region trail delivers to a CloudWatch Logs log group whose metric filter covers the baseline pattern, feeding an alarm that notifies an SNS topic with a confirmed subscription.",
            f.control.id, f.plan.baseline.name, f.plan.baseline.origin, f.control.title)},
        "help": {"text": "Review the result's properties.fix (the planned changes), then run `cwfix apply`, or `cwfix plan --emit terraform DIR` / `--emit cloudformation FILE` to apply them as code."},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "monitoring", "cis-aws-foundations"], "scanner_ids": f.scanner_ids},
    });
    if !relationships.is_empty() {
        rule["relationships"] = Value::Array(relationships);
    }
    rule
}

/// `run.logicalLocations`: account -> region -> resource, each once, parents by index.
#[derive(Default)]
struct Locations(Vec<Value>);

impl Locations {
    /// The index of the location named `fqn`, added on first use.
    fn index(&mut self, fqn: String, name: String, kind: &str, parent: Option<usize>) -> usize {
        if let Some(i) = self.0.iter().position(|l| l["fullyQualifiedName"] == fqn.as_str()) {
            return i;
        }
        let mut l = json!({"name": name, "fullyQualifiedName": fqn, "kind": kind});
        if let Some(p) = parent {
            l["parentIndex"] = json!(p);
        }
        self.0.push(l);
        self.0.len() - 1
    }
}

/// The result of a control that does not hold, located at its most specific resource (the
/// account itself when there is none).
fn result(f: &Finding, rules: &Rules, locations: &mut Locations) -> Value {
    let account = &f.plan.account;
    let a = locations.index(account.clone(), account.clone(), "namespace", None);
    let r = locations.index(format!("{account}/{}", f.region), f.region.clone(), "namespace", Some(a));
    let res = &f.resources[0];
    let fqn = if res.kind == "account" { account.clone() } else { format!("{account}/{}/{}", f.region, res.address) };
    let idx =
        if res.kind == "account" { a } else { locations.index(fqn.clone(), res.address.clone(), "resource", Some(r)) };
    // An unreadable control is not a proven gap, but must not pass either.
    let level = if f.status() == Status::Unknown { "warning" } else { "error" };
    let mut loc = json!({"index": idx, "fullyQualifiedName": fqn, "kind": if res.kind == "account" { "namespace" } else { "resource" }});
    if res.kind != "account" {
        loc["name"] = json!(res.address);
    }
    let id = rule_id(f);
    json!({
        "ruleId": id,
        "ruleIndex": rules.index(&id),
        "level": level,
        "kind": "fail",
        "message": {"text": format!("{} {} ({}, {}): {}", f.control.id, f.control.title, account, f.region, f.control.reason)},
        "locations": [{"logicalLocations": [loc]}],
        "partialFingerprints": {"cwfix/v1": f.key()},
        "properties": result_properties(f),
    })
}

/// What a security team needs beside the message: status, witness event, fix, the scanners'
/// verdicts and the resources involved.
fn result_properties(f: &Finding) -> Value {
    let mut props = Map::new();
    props.insert("account".into(), json!(f.plan.account));
    props.insert("region".into(), json!(f.region));
    props.insert("baseline".into(), json!(f.plan.baseline.name));
    props.insert("control".into(), json!(f.control.id));
    props.insert("status".into(), json!(f.status_str()));
    if let Some(w) = &f.witness {
        props.insert("witness".into(), w.clone());
    }
    props.insert("fix".into(), f.fix());
    if !f.control.scanners.is_empty() {
        props.insert("scanners".into(), serde_json::to_value(&f.control.scanners).unwrap_or_default());
    }
    props.insert(
        "resources".into(),
        Value::Array(f.resources.iter().map(|r| json!({"kind": r.kind, "address": r.address, "arn": r.arn})).collect()),
    );
    Value::Object(props)
}

/// One taxonomy per tool some rule relates to.
fn taxonomies(taxa: &[Vec<String>]) -> Vec<Value> {
    TAXONOMIES
        .iter()
        .zip(taxa)
        .filter(|(_, t)| !t.is_empty())
        .map(|((_, name), t)| json!({"name": name, "taxa": t.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings::tests::{ctx, sample};

    #[test]
    fn one_result_per_open_control_with_levels_and_properties() {
        let doc = document(&[sample()], &ctx());
        let run = &doc["runs"][0];
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 4, "compliant 5.3 has no result");
        let by = |id: &str| results.iter().find(|r| r["ruleId"] == format!("cis-v7.0/{id}")).unwrap();
        assert_eq!(by("5.4")["level"], "error");
        assert_eq!(by("5.9")["level"], "error");
        assert_eq!(by("5.10")["level"], "warning");
        assert_eq!(by("5.4")["properties"]["witness"], json!({"eventName": "DetachGroupPolicy"}));
        assert_eq!(by("5.4")["properties"]["fix"][0]["address"], "metric_filter.ct/IAMPolicyChanges");
        assert_eq!(
            by("5.4")["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "123456789012/us-east-1/metric_filter.ct/IAMPolicyChanges"
        );
        assert_eq!(by("5.4")["partialFingerprints"]["cwfix/v1"], "123456789012/us-east-1/cis-v7.0/5.4");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 5);
        let r54 = rules.iter().find(|r| r["id"] == "cis-v7.0/5.4").unwrap();
        assert_eq!(r54["properties"]["scanner_ids"]["securityhub"], "CloudWatch.4");
        assert_eq!(r54["relationships"][0]["target"]["id"], "CloudWatch.4");
        // ruleIndex points at the rule.
        for r in results {
            assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"], r["ruleId"]);
        }
        // Location parents form account -> region -> resource.
        let locs = run["logicalLocations"].as_array().unwrap();
        assert_eq!(locs[0]["fullyQualifiedName"], "123456789012");
        assert_eq!(locs[1]["parentIndex"], 0);
    }
}
