//! Saved plans: `plan --out FILE` writes one, `apply FILE` reads it back and refuses it only
//! when it is no longer true.
//!
//! The rule: a plan records a digest of every resource it read or will write (`relied_on`):
//! the trails and the log groups of the chain, every filter on those log groups, the alarms on
//! the filters' or the baseline's metrics or with the baseline's alarm names, the topics those
//! alarms and the baseline name (with their subscriptions and KMS keys), the baseline's saved
//! queries, and what could not be read (but for the alarms' history, on which no change
//! depends). Apply discovers again; the saved plan is stale exactly
//! when one of those differs (the refusal names it), or when the account or the baseline
//! differs. Other alarms and topics (Auto Scaling creates and deletes alarms all day) and the
//! caller's identity (plan with a read-only role, apply with another) do not matter. Finally
//! the fresh plan must make exactly the saved changes: a file edited by hand is refused.

use super::{Addr, Plan, FORMAT_VERSION};
use crate::baseline::{Baseline, TopicRef};
use crate::model::Snapshot;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read saved plan `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the plan to `{path}`")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a plan saved by `cwfix plan --out`: {message}")]
    NotAPlan { path: String, message: String },
    #[error(
        "saved plan `{path}` has format {found}; this cwfix reads {FORMAT_VERSION} (plan again with this version)"
    )]
    Format { path: String, found: String },
}

/// Why a saved plan cannot be applied now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Stale {
    #[error("it is for account {saved}, but the credentials are for account {live}")]
    Account { saved: String, live: String },
    #[error("the baseline `{name}` changed since the plan was made")]
    Baseline { name: String },
    #[error("{} changed since the plan was made", list(.changed))]
    Changed { changed: Vec<String> },
    #[error("its changes are not what cwfix plans from the same account state: the file was edited, or made by another cwfix version ({saved_by}; this is {this})")]
    Differs { saved_by: String, this: String },
}

fn list(v: &[String]) -> String {
    match v.len() {
        0 => "nothing".into(),
        1..=3 => v.join(", "),
        n => format!("{} and {} more", v[..3].join(", "), n - 3),
    }
}

/// Writes `plan` to `path` (via a temporary file and a rename, so a reader never sees half).
pub fn save(plan: &Plan, path: &Path) -> Result<(), Error> {
    let err = |source| Error::Write { path: path.display().to_string(), source };
    let doc = serde_json::to_vec_pretty(plan).map_err(|e| err(e.into()))?;
    let tmp = path.with_extension("cwfix-tmp");
    std::fs::write(&tmp, &doc).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Reads a saved plan and checks its format version (same major).
pub fn load(path: &Path) -> Result<Plan, Error> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: name.clone(), source })?;
    let probe: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::NotAPlan { path: name.clone(), message: e.to_string() })?;
    let found = probe.get("format_version").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
    if found.is_empty() {
        return Err(Error::NotAPlan { path: name, message: "it has no format_version".into() });
    }
    if major(&found) != major(FORMAT_VERSION) || probe.get("relied_on").is_none() {
        return Err(Error::Format { path: name, found });
    }
    serde_json::from_value(probe).map_err(|e| Error::NotAPlan { path: name, message: e.to_string() })
}

/// Whether `saved` may be applied, given `fresh`, the plan made just now from the live account
/// with the same baseline.
pub fn check(saved: &Plan, fresh: &Plan) -> Result<(), Stale> {
    if saved.account != fresh.account {
        return Err(Stale::Account { saved: saved.account.clone(), live: fresh.account.clone() });
    }
    if saved.baseline.hash != fresh.baseline.hash {
        return Err(Stale::Baseline { name: saved.baseline.name.clone() });
    }
    let keys: BTreeSet<&String> = saved.relied_on.keys().chain(fresh.relied_on.keys()).collect();
    let changed: Vec<String> =
        keys.into_iter().filter(|k| saved.relied_on.get(*k) != fresh.relied_on.get(*k)).cloned().collect();
    if !changed.is_empty() {
        return Err(Stale::Changed { changed });
    }
    if saved.changes != fresh.changes {
        return Err(Stale::Differs { saved_by: saved.cwfix_version.clone(), this: fresh.cwfix_version.clone() });
    }
    Ok(())
}

/// A short digest of any serialisable value.
pub fn digest<T: Serialize>(v: &T) -> String {
    let json = serde_json::to_vec(v).unwrap_or_default();
    Sha256::digest(&json).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Everything in `snap` that the plan for `b` depends on, by a readable key (see the module
/// doc for the rule).
pub fn relied_on(b: &Baseline, snap: &Snapshot) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for t in &snap.trails {
        m.insert(format!("trail {}", t.arn), digest(t));
    }
    let mut metrics: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let chain_regions: BTreeSet<&str> = snap.log_groups.iter().map(|lg| lg.group.region.as_str()).collect();
    for lg in &snap.log_groups {
        let g = &lg.group;
        m.insert(format!("log group {} ({})", g.name, g.region), digest(&(lg.exists, lg.retention_in_days)));
        for f in &lg.metric_filters {
            m.insert(format!("{} ({})", Addr::metric_filter(&g.name, &f.filter_name), g.region), digest(f));
            for t in &f.metric_transformations {
                metrics.insert((g.region.as_str(), t.metric_name.as_str(), t.metric_namespace.as_str()));
            }
        }
    }
    let alarm_names: BTreeSet<&str> = b.controls.iter().map(|c| c.alarm_name.as_str()).collect();
    for ra in &snap.alarms {
        let a = &ra.alarm;
        // A set lookup, not a scan of every filter metric per alarm: 16 regions of 205 filters
        // and 500 alarms made that scan the largest cost of a plan.
        let watches_a_filter_metric = a.metrics_json.is_none()
            && match (a.metric_name.as_deref(), a.namespace.as_deref()) {
                (Some(n), Some(ns)) => metrics.contains(&(ra.region.as_str(), n, ns)),
                _ => false,
            };
        let relevant = chain_regions.contains(ra.region.as_str())
            && (alarm_names.contains(a.alarm_name.as_str())
                || watches_a_filter_metric
                || b.controls.iter().any(|c| a.watches(&c.metric_name, &c.namespace)));
        if relevant {
            m.insert(format!("{} ({})", Addr::metric_alarm(&a.alarm_name), ra.region), digest(&a.definition()));
        }
    }
    for t in &snap.topics {
        m.insert(format!("{} ({})", Addr::sns_topic(&t.name), t.region), digest(t));
    }
    for region in &chain_regions {
        let arn = match &b.notification.topic {
            TopicRef::Arn(a) => a.clone(),
            TopicRef::Name(n) => format!("arn:{}:sns:{region}:{}:{n}", snap.partition, snap.account),
        };
        m.insert(format!("topic {arn} exists"), digest(&snap.topic_arns.contains(&arn)));
    }
    for k in &snap.kms_keys {
        m.insert(format!("kms key {} ({})", k.reference, k.region), digest(k));
    }
    let query_names: BTreeSet<&str> = b.queries.iter().map(|q| q.name.as_str()).collect();
    for (region, q) in snap.queries.iter().filter(|(_, q)| query_names.contains(q.name.as_str())) {
        m.insert(format!("{} ({region})", Addr::query_definition(&q.name)), digest(q));
    }
    // A history read changes no planned change (it can only block a control or add a note),
    // so it failing at apply time is no reason to refuse the saved plan.
    for g in snap.gaps.iter().filter(|g| g.action != super::delivery::HISTORY_ACTION) {
        // The message may carry a request id; that the read failed is what the plan relied on.
        m.insert(format!("unreadable: {} on {} ({})", g.action, g.resource, g.region), digest(&g.action));
    }
    m
}
