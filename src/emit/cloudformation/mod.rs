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
//!
//! Layout: `properties` turns a resource state into CloudFormation properties, `resources`
//! builds a region's main template (logical ids, parameters, what to import), `render` writes
//! a template as YAML or JSON; this module assembles the templates of each region.

mod properties;
mod render;
mod resources;

use super::{by_region, words};
use crate::plan::{Change, Plan, Status};
use properties::{import_identifier, properties};
use render::render;
use resources::Stack;
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

/// One resource of a template: logical id, the comment above it (YAML), and its body (`Type`,
/// policies, `Metadata`, `Properties`).
struct Res {
    id: String,
    comment: String,
    body: Value,
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

/// The main template of one region and, when resources exist already, the import template
/// and resources-to-import document that must come first.
fn template(p: &Plan, region: &str, changes: &[&Change], as_json: bool) -> Template {
    let stack = Stack::of(changes);
    let meta = json!({"cwfix": {"account": p.account, "region": region, "baseline": p.baseline.name, "cwfix_version": env!("CARGO_PKG_VERSION")}});
    let description = format!(
        "cwfix {}: CIS monitoring chain changes for account {} in {region} (baseline {})",
        env!("CARGO_PKG_VERSION"),
        p.account,
        p.baseline.name
    );
    let header = header(p, region, stack.imported.len());
    let template = render(&header, &description, &meta, &stack.params, &stack.resources, as_json);
    let (import_template, resources_to_import, imports) = if stack.imported.is_empty() {
        (None, None, vec![])
    } else {
        let (t, ids, lines) = import(p, region, &stack.imported, &meta, as_json);
        (Some(t), Some(ids), lines)
    };
    Template { region: region.to_string(), template, import_template, resources_to_import, imports }
}

/// The main template's header comment: where it comes from, how to deploy it (importing the
/// `imported` existing resources first), and the controls no template can fix.
fn header(p: &Plan, region: &str, imported: usize) -> Vec<String> {
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
    if imported > 0 {
        header.push(format!(
            "{imported} resource(s) exist already: import them first with the .import template and the resources-to-import file"
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
    header
}

/// The import template (the `imported` resources as they are now, before the plan's change,
/// retained), the resources-to-import document, and one `LogicalId TYPE identifier` line each.
fn import(
    p: &Plan,
    region: &str,
    imported: &[(String, &Change)],
    meta: &Value,
    as_json: bool,
) -> (String, String, Vec<String>) {
    let mut list = Vec::new();
    let mut lines = Vec::new();
    let mut res = Vec::new();
    for (id, c) in imported {
        let before = c.before.as_ref().unwrap_or(c.resource());
        // No references: an import template holds only existing resources, as they are.
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
    let t = render(&h, &d, meta, &Map::new(), &res, as_json);
    (t, serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_default() + "\n", lines)
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
