//! What else the baseline wants on the chain's log group: a minimum retention, and saved
//! Logs Insights queries for threat hunting. Each is a verdict of its own, like a control.

use super::{Change, ControlVerdict, Resource, RetentionSpec, Status};
use crate::baseline::{Baseline, SavedQuery};
use crate::model::{LogGroup, QueryDefinition, Snapshot};

/// Verdicts and changes for retention and saved queries. `no_chain` is the shared verdict
/// when no usable log group exists (no trail, another account, ...).
pub(super) fn plan(
    baseline: &Baseline,
    snap: &Snapshot,
    lg: Option<&LogGroup>,
    no_chain: (Status, String),
) -> Vec<(ControlVerdict, Option<Change>)> {
    let mut out = Vec::new();
    if let Some(min) = baseline.min_retention_days {
        let id = "retention".to_string();
        let title = format!("Trail log group keeps events at least {min} days");
        out.push(match lg {
            None => (verdict(id, title, no_chain.clone(), None), None),
            Some(lg) => retention(id, title, lg, min),
        });
    }
    for q in &baseline.queries {
        let id = format!("query:{}", q.name);
        let title = format!("Saved Insights query `{}`", q.name);
        out.push(match lg {
            None => (verdict(id, title, no_chain.clone(), None), None),
            Some(lg) => query(id, title, snap, lg, q),
        });
    }
    out
}

fn verdict(id: String, title: String, (status, reason): (Status, String), change: Option<&Change>) -> ControlVerdict {
    ControlVerdict {
        id,
        title,
        status,
        reason,
        via: None,
        changes: change.map(|c| vec![c.address.to_string()]).unwrap_or_default(),
        scanners: Default::default(),
        scanners_now: Default::default(),
        severity: None,
        rationale: None,
        remediation: None,
    }
}

fn retention(id: String, title: String, lg: &LogGroup, min: i32) -> (ControlVerdict, Option<Change>) {
    let name = &lg.group.name;
    match lg.retention_in_days {
        None => (verdict(id, title, (Status::Compliant, format!("`{name}` never expires events")), None), None),
        Some(d) if d >= min => {
            (verdict(id, title, (Status::Compliant, format!("`{name}` keeps events {d} days")), None), None)
        }
        Some(d) => {
            let before = RetentionSpec { log_group_name: name.clone(), retention_in_days: Some(d) };
            let after = RetentionSpec { log_group_name: name.clone(), retention_in_days: Some(min) };
            let reason = format!("`{name}` keeps events only {d} days (want at least {min})");
            let ch = Change::update(
                &lg.group.region,
                &id,
                reason.clone(),
                Resource::LogRetention(before),
                Resource::LogRetention(after),
            );
            (verdict(id, title, (Status::Changes, reason), Some(&ch)), Some(ch))
        }
    }
}

fn query(
    id: String,
    title: String,
    snap: &Snapshot,
    lg: &LogGroup,
    q: &SavedQuery,
) -> (ControlVerdict, Option<Change>) {
    let region = &lg.group.region;
    if let Some(g) = snap.gaps.iter().find(|g| &g.region == region && g.action == "logs:DescribeQueryDefinitions") {
        let why = format!("cannot list saved queries: {}", g.error);
        return (verdict(id, title, (Status::Unknown, why), None), None);
    }
    let text = q.query.replace("${account}", &snap.account);
    let existing = snap.queries.iter().find(|(r, x)| r == region && x.name == q.name).map(|(_, x)| x);
    match existing {
        Some(x) if x.query_string == text && x.log_group_names.contains(&lg.group.name) => {
            let why = format!("saved on `{}`", lg.group.name);
            (verdict(id, title, (Status::Compliant, why), None), None)
        }
        Some(x) => {
            let mut after = x.clone();
            after.query_string = text;
            if !after.log_group_names.contains(&lg.group.name) {
                after.log_group_names.push(lg.group.name.clone());
            }
            let reason = if x.query_string != after.query_string {
                "its query text differs from the baseline's"
            } else {
                "it is not scoped to the trail's log group"
            };
            let ch = Change::update(
                region,
                &id,
                reason.into(),
                Resource::QueryDefinition(x.clone()),
                Resource::QueryDefinition(after),
            );
            (verdict(id, title, (Status::Changes, reason.into()), Some(&ch)), Some(ch))
        }
        None => {
            let after = QueryDefinition {
                name: q.name.clone(),
                query_string: text,
                log_group_names: vec![lg.group.name.clone()],
                query_definition_id: None,
            };
            let reason = "no saved query of this name".to_string();
            let ch = Change::create(region, &id, reason.clone(), Resource::QueryDefinition(after));
            (verdict(id, title, (Status::Changes, reason), Some(&ch)), Some(ch))
        }
    }
}
