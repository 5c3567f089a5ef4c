//! The planner: a pure function from (baseline, snapshot) to a [`Plan`]. No I/O, no async, no
//! AWS types. Every comparison of filter patterns goes through `pattern::covers`, never string
//! equality. The plan is a value: renderers, `apply` and the saved-plan file all read the same
//! structure, so what apply does is exactly what was shown.
//!
//! One module per link of the chain: `chain` (which trail and log group), `filter`, `alarm`,
//! `notify` (topic, key, subscriptions), `delivery` (the alarm's history: did its last
//! notification fail?), `extras` (retention, saved queries); `changes` builds
//! every [`Change`]; `file` saves and loads plans and decides when a saved plan is stale.
//! Each control is judged on its own; the only decision made across controls (which control
//! repairs which existing filter) does not depend on their order.

mod alarm;
mod chain;
pub mod changes;
mod delivery;
mod extras;
pub mod file;
mod filter;
mod notify;
mod policy;
mod scanners;

pub use changes::Addr;
pub use notify::topic_policy;

use crate::baseline::{Baseline, Control};
use crate::model::{Alarm, LogGroup, MetricFilter, MetricTransformation, QueryDefinition, Snapshot, Trail};
use crate::scanner::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the plan JSON document (`docs/json-format.md`): minor bump for added fields,
/// major for removed or retyped ones. 1.1: `relied_on`, and `delete` changes (rollback plans).
pub const FORMAT_VERSION: &str = "1.1";

/// Tag put on every SNS topic cwfix creates, so rollback and humans can tell.
pub const CREATED_BY_TAG: (&str, &str) = ("created-by", "cwfix");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Compliant,
    Changes,
    Blocked,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SnsTopic,
    SnsTopicPolicy,
    SnsSubscription,
    MetricFilter,
    MetricAlarm,
    LogRetention,
    QueryDefinition,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SnsTopic => "sns_topic",
            Kind::SnsTopicPolicy => "sns_topic_policy",
            Kind::SnsSubscription => "sns_subscription",
            Kind::MetricFilter => "metric_filter",
            Kind::MetricAlarm => "metric_alarm",
            Kind::LogRetention => "log_retention",
            Kind::QueryDefinition => "query_definition",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Only in rollback plans: cwfix deletes only what a run of its own created.
    Delete,
}

/// What a new topic will look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub topic_arn: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A subscription to make (or, with its ARN, one that exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSpec {
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_arn: Option<String>,
}

/// A topic's access policy (the `Policy` attribute, a JSON document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicPolicySpec {
    pub topic_arn: String,
    pub policy: String,
}

/// A log group's retention (`None` = never expire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionSpec {
    pub log_group_name: String,
    pub retention_in_days: Option<i32>,
}

/// The definition of a resource before or after a change.
// Alarms are large and topics small; boxing would only complicate the serde shape of a value
// that exists a few dozen times per plan.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Resource {
    MetricFilter(MetricFilter),
    MetricAlarm(Alarm),
    SnsTopic(TopicSpec),
    QueryDefinition(QueryDefinition),
    SnsSubscription(SubscriptionSpec),
    LogRetention(RetentionSpec),
    SnsTopicPolicy(TopicPolicySpec),
}

/// One attribute that changes, for `~ field = before -> after` lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// One planned write. Built only by the constructors in [`changes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Addr,
    pub kind: Kind,
    pub action: Action,
    pub region: String,
    /// The first control that needs this change.
    pub control: Option<String>,
    /// Every control that needs it (a topic serves many).
    pub controls: Vec<String>,
    pub reason: String,
    pub before: Option<Resource>,
    /// `None` only for a delete.
    pub after: Option<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// The chain a control holds through: a compliant one, or one blocked only because its
/// alarm's last notification to the topic failed (`delivery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Via {
    pub trail: String,
    pub log_group: String,
    pub region: String,
    pub metric_filter: String,
    pub metric_name: String,
    pub namespace: String,
    pub alarm: String,
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlVerdict {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Addresses of the changes this control needs.
    #[serde(default)]
    pub changes: Vec<String>,
    /// What each scanner will say once the plan is applied: scanner -> `"pass"` |
    /// `{"fail": reason}` | `{"not_checked": reason}`. For a control the plan does not change,
    /// the same as `scanners_now`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scanners: BTreeMap<String, Verdict>,
    /// What each scanner says now, on the live account: its pattern rule plus the part of the
    /// chain it checks (trail, alarm, subscriber).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scanners_now: BTreeMap<String, Verdict>,
    /// How bad a gap in this control is (Security Hub's scale), why it matters, and what a
    /// person does about it: from the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<crate::baseline::Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Summary {
    /// Counts `changes` (never taken from a file: see `file`).
    pub fn of(changes: &[Change]) -> Summary {
        let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
        Summary { add: count(Action::Create), change: count(Action::Update), destroy: count(Action::Delete) }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineInfo {
    pub name: String,
    pub origin: String,
    pub hash: String,
    /// `--topic` given with the plan, so `apply PLANFILE` uses the same target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// `--subscribe` values given with the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribe: Vec<String>,
    /// `--satisfy` scanners given with the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub satisfy: Vec<String>,
}

/// The trail and log group the plan builds on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRoot {
    pub trail: String,
    pub log_group: crate::model::LogGroupRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub cwfix_version: String,
    pub account: String,
    /// The account alias, when readable (IAM ListAccountAliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    /// Who discovered: the caller's ARN (informational; a saved plan may be applied by another
    /// identity of the same account).
    #[serde(default)]
    pub caller_arn: String,
    pub partition: String,
    pub regions: Vec<String>,
    pub baseline: BaselineInfo,
    /// Digest of `relied_on` (kept for scripts that compare plans).
    pub state_fingerprint: String,
    pub chain: Option<ChainRoot>,
    pub controls: Vec<ControlVerdict>,
    pub changes: Vec<Change>,
    pub summary: Summary,
    /// When no trail of this account can carry the chain but one delivers to another
    /// account's log group (an organization trail): that account, where the chain is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitored_in: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Everything the plan read or will write, by address, with a digest of its definition:
    /// a saved plan is stale exactly when one of these differs (see `file`).
    #[serde(default)]
    pub relied_on: BTreeMap<String, String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether every control holds (exit 0 for `plan`).
    /// `123456789012 (alias)` or the bare id.
    pub fn account_label(&self) -> String {
        match &self.account_alias {
            Some(a) => format!("{} ({a})", self.account),
            None => self.account.clone(),
        }
    }

    pub fn all_compliant(&self) -> bool {
        self.changes.is_empty() && self.controls.iter().all(|c| c.status == Status::Compliant)
    }
}

/// The inputs every link reads.
pub(crate) struct Ctx<'a> {
    pub baseline: &'a Baseline,
    pub snap: &'a Snapshot,
    /// Single-metric alarms without dimensions by (region, metric name, namespace): every filter
    /// asks which alarms watch its metric, and a scan of all alarms per filter made 16 regions
    /// of 205 filters and 500 alarms cost 26 million comparisons.
    alarms_by_metric: std::collections::HashMap<(&'a str, &'a str, &'a str), Vec<&'a Alarm>>,
}

impl<'a> Ctx<'a> {
    /// The error of a failed read of `resource`, if discovery recorded one.
    fn gap_error(&self, resource: &str) -> Option<String> {
        self.snap.gaps.iter().find(|g| g.resource == resource).map(|g| g.error.clone())
    }

    fn gap(&self, region: &str, action: &str) -> Option<&'a crate::model::Gap> {
        self.snap.gaps.iter().find(|g| g.region == region && g.action == action)
    }

    /// Single-metric alarms in `region` on `metric`, without dimensions (a filter's metric
    /// has none unless it says so).
    fn alarms_on(&self, region: &str, metric: &MetricTransformation) -> Vec<&'a Alarm> {
        let key = (region, metric.metric_name.as_str(), metric.metric_namespace.as_str());
        self.alarms_by_metric.get(&key).cloned().unwrap_or_default()
    }

    fn new(baseline: &'a Baseline, snap: &'a Snapshot) -> Ctx<'a> {
        let mut alarms_by_metric: std::collections::HashMap<_, Vec<&Alarm>> = Default::default();
        // In snapshot order, as the scan this replaces returned them.
        for ra in &snap.alarms {
            let a = &ra.alarm;
            if let (None, Some(name), Some(ns), true) =
                (&a.metrics_json, a.metric_name.as_deref(), a.namespace.as_deref(), a.dimensions.is_empty())
            {
                alarms_by_metric.entry((ra.region.as_str(), name, ns)).or_default().push(a);
            }
        }
        Ctx { baseline, snap, alarms_by_metric }
    }

    fn alarm_named(&self, region: &str, name: &str) -> Option<&'a Alarm> {
        self.snap.alarms.iter().find(|ra| ra.region == region && ra.alarm.alarm_name == name).map(|ra| &ra.alarm)
    }
}

/// What one control needs, before changes are merged across controls.
pub(crate) struct Outcome {
    status: Status,
    reason: String,
    via: Option<Via>,
    changes: Vec<Change>,
    /// The filter pattern the control relies on once the plan is applied (for scanner verdicts).
    pattern: Option<String>,
}

impl Outcome {
    fn verdict(status: Status, reason: impl Into<String>) -> Outcome {
        Outcome { status, reason: reason.into(), via: None, changes: vec![], pattern: None }
    }
}

/// A link that cannot be decided or fixed: the control's final verdict (unknown or blocked).
pub(crate) struct Stop {
    status: Status,
    reason: String,
}

impl Stop {
    fn new(status: Status, reason: impl Into<String>) -> Stop {
        Stop { status, reason: reason.into() }
    }
}

impl From<Stop> for Outcome {
    fn from(s: Stop) -> Outcome {
        Outcome::verdict(s.status, s.reason)
    }
}

/// Judges `c` against one usable log group: the chain it holds through, if it holds. A chain
/// whose last notification failed (`delivery`) is returned only when no other one holds.
fn holds_via(ctx: &Ctx, c: &Control, trail: &Trail, lg: &LogGroup, parsed: &filter::Parsed) -> Option<Via> {
    let region = &lg.group.region;
    let mut failing = None;
    for f in filter::covering(c, &ctx.baseline.alarm, lg, parsed) {
        for t in f.metric_transformations.iter().filter(|t| t.dimensions.is_empty()) {
            for a in ctx.alarms_on(region, t) {
                if !alarm::setting_diffs(a, &ctx.baseline.alarm).is_empty() || alarm::unit_problem(a, t).is_some() {
                    continue;
                }
                for topic in a.alarm_actions.iter().filter(|arn| ctx.reaches_someone(arn, region).is_ok()) {
                    let via = Via {
                        trail: trail.arn.clone(),
                        log_group: lg.group.name.clone(),
                        region: region.clone(),
                        metric_filter: f.filter_name.clone(),
                        metric_name: t.metric_name.clone(),
                        namespace: t.metric_namespace.clone(),
                        alarm: a.alarm_name.clone(),
                        topic: topic.clone(),
                    };
                    if ctx.failed_delivery(region, &a.alarm_name, topic).is_none() {
                        return Some(via);
                    }
                    failing.get_or_insert(via);
                }
            }
        }
    }
    failing
}

/// Plans the changes that make `c` hold on log group `lg`, link by link.
fn plan_control(ctx: &Ctx, c: &Control, lg: &LogGroup, parsed: &filter::Parsed, own: Option<&MetricFilter>) -> Outcome {
    let region = &lg.group.region;
    if let Some(g) = ctx.gap(region, "logs:DescribeMetricFilters") {
        return Outcome::verdict(
            Status::Unknown,
            format!("cannot read the metric filters of `{}`: {}", lg.group.name, g.error),
        );
    }
    if let Some(g) = ctx.gap(region, "cloudwatch:DescribeAlarms") {
        return Outcome::verdict(Status::Unknown, format!("cannot read the alarms in {region}: {}", g.error));
    }
    let f = filter::plan(ctx, c, lg, parsed, own);
    let a = match alarm::plan(ctx, c, region, &f.metric) {
        Ok(a) => a,
        Err(stop) => return stop.into(),
    };
    let n = if a.uses_baseline_topic {
        match notify::plan(ctx, c, region) {
            Ok(n) => Some(n),
            Err(stop) => return stop.into(),
        }
    } else {
        None
    };
    let reasons: Vec<String> = [f.reason, a.reason].into_iter().flatten().collect();
    let pending_note = n.as_ref().and_then(|n| n.pending_note.clone());
    let changes: Vec<Change> =
        n.map(|n| n.changes).unwrap_or_default().into_iter().chain(f.change).chain(a.change).collect();
    if changes.is_empty() {
        // Only a pending confirmation stands between this control and compliance.
        return Outcome {
            status: Status::Blocked,
            reason: pending_note.unwrap_or_else(|| "waiting for a subscriber to confirm".into()),
            via: None,
            changes,
            pattern: Some(f.pattern),
        };
    }
    let mut reason = reasons.join("; ");
    if let Some(n) = pending_note {
        reason = format!("{reason}; {n}");
    }
    Outcome { status: Status::Changes, reason, via: None, changes, pattern: Some(f.pattern) }
}

/// Makes the plan. Pure: the same inputs give the same plan, byte for byte.
pub fn plan(baseline: &Baseline, snap: &Snapshot) -> Plan {
    let ctx = Ctx::new(baseline, snap);
    let mut warnings = Vec::new();
    let parsed: Vec<filter::Parsed> = snap
        .log_groups
        .iter()
        .map(|lg| {
            let (p, w) = filter::parse_all(lg);
            warnings.extend(w);
            p
        })
        .collect();
    let parsed_of = |lg: &LogGroup| &parsed[snap.log_groups.iter().position(|x| x.group == lg.group).unwrap_or(0)];
    let chain = chain::Chain::find(&ctx);
    // Which control holds through which usable trail, judged once: [trail][control].
    let holds: Vec<Vec<Option<Via>>> = chain
        .usable
        .iter()
        .map(|(t, lg)| baseline.controls.iter().map(|c| holds_via(&ctx, c, t, lg, parsed_of(lg))).collect())
        .collect();
    let counts: Vec<usize> = holds.iter().map(|h| h.iter().flatten().count()).collect();
    let primary = chain.primary(&counts);
    // Through any usable trail; one whose last notification did not fail first.
    let via_of = |i: usize| {
        let vias = || holds.iter().filter_map(|h| h[i].as_ref());
        vias().find(|v| ctx.failed_delivery(&v.region, &v.alarm, &v.topic).is_none()).or(vias().next()).cloned()
    };
    // Existing filters the failing controls will repair, decided for all of them at once.
    let own = match primary {
        Some((_, lg)) => {
            let failing: Vec<&Control> = baseline
                .controls
                .iter()
                .enumerate()
                .filter(|(i, c)| {
                    via_of(*i).is_none() && filter::covering(c, &baseline.alarm, lg, parsed_of(lg)).is_empty()
                })
                .map(|(_, c)| c)
                .collect();
            filter::assign_own(&ctx, &failing, lg, parsed_of(lg))
        }
        None => BTreeMap::new(),
    };
    let outcomes: Vec<Outcome> = baseline
        .controls
        .iter()
        .enumerate()
        .map(|(i, c)| match (via_of(i), primary) {
            (Some(via), _) => delivery::check(&ctx, chain::compliant(&ctx, via)),
            (None, Some((_, lg))) => plan_control(&ctx, c, lg, parsed_of(lg), own.get(&c.id).copied()),
            (None, None) => chain.without_usable_trail(&ctx),
        })
        .collect();
    let (mut verdicts, mut changes) = merge(&ctx, outcomes, &mut warnings);
    let no_chain = verdicts
        .first()
        .map(|c| (c.status, c.reason.clone()))
        .unwrap_or((Status::Blocked, "no trail delivers to a CloudWatch Logs log group".into()));
    for (verdict, change) in extras::plan(baseline, snap, primary.map(|(_, lg)| lg), no_chain) {
        changes.extend(change);
        verdicts.push(verdict);
    }
    sort_for_apply(baseline, &mut changes);
    for g in &snap.gaps {
        warnings.push(
            delivery::gap_warning(g)
                .unwrap_or_else(|| format!("{} on {} in {} failed: {}", g.action, g.resource, g.region, g.error)),
        );
    }
    let relied_on = file::relied_on(baseline, snap);
    Plan {
        format_version: FORMAT_VERSION.into(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        account: snap.account.clone(),
        account_alias: snap.account_alias.clone(),
        caller_arn: snap.caller_arn.clone(),
        partition: snap.partition.clone(),
        regions: snap.regions.clone(),
        baseline: BaselineInfo {
            name: baseline.name.clone(),
            origin: baseline.origin.clone(),
            hash: baseline.hash(),
            topic: None,
            subscribe: vec![],
            satisfy: vec![],
        },
        state_fingerprint: file::digest(&relied_on),
        chain: primary.map(|(t, lg)| ChainRoot { trail: t.arn.clone(), log_group: lg.group.clone() }),
        controls: verdicts,
        summary: Summary::of(&changes),
        changes,
        monitored_in: if primary.is_none() { chain.foreign_owner.map(|(_, owner)| owner) } else { None },
        warnings,
        relied_on,
    }
}

/// Turns per-control outcomes into verdicts and one list of changes: a change several controls
/// need (the topic) appears once, naming them all. Two different wishes for one address keep
/// the one of the smallest control id (a rule that ignores the baseline's order) and warn.
fn merge(ctx: &Ctx, outcomes: Vec<Outcome>, warnings: &mut Vec<String>) -> (Vec<ControlVerdict>, Vec<Change>) {
    let baseline = ctx.baseline;
    let mut by_addr: BTreeMap<Addr, Change> = BTreeMap::new();
    let mut verdicts = Vec::new();
    for (c, mut out) in baseline.controls.iter().zip(outcomes) {
        let addresses = out.changes.iter().map(|ch| ch.address.to_string()).collect();
        for ch in std::mem::take(&mut out.changes) {
            match by_addr.get_mut(&ch.address) {
                None => {
                    by_addr.insert(ch.address.clone(), ch);
                }
                Some(existing) if existing.after == ch.after => existing.controls.push(c.id.clone()),
                Some(existing) => {
                    let holder = existing.control.clone().unwrap_or_default();
                    let winner = holder.as_str().min(c.id.as_str()).to_string();
                    warnings.push(format!(
                        "{} is wanted differently by controls {} and {}; control {winner} wins",
                        ch.address,
                        existing.controls.join(","),
                        c.id
                    ));
                    if c.id < holder {
                        *existing = ch;
                    }
                }
            }
        }
        verdicts.push(verdict(ctx, c, out, addresses));
    }
    (verdicts, by_addr.into_values().collect())
}

fn verdict(ctx: &Ctx, c: &Control, out: Outcome, changes: Vec<String>) -> ControlVerdict {
    let scanners_now = scanners::now(ctx, c);
    let scanners = match (crate::scanner::classify(c), &out.pattern, out.status) {
        (Some(topic), Some(p), Status::Changes) => {
            crate::scanner::verdicts(topic, p).into_iter().map(|(s, v)| (s.as_str().to_string(), v)).collect()
        }
        _ => scanners_now.clone(),
    };
    let reason = match &c.note {
        Some(n) => format!("{} [{n}]", out.reason),
        None => out.reason,
    };
    ControlVerdict {
        id: c.id.clone(),
        title: c.title.clone(),
        status: out.status,
        reason,
        via: out.via,
        changes,
        scanners,
        scanners_now,
        severity: c.severity,
        rationale: c.rationale.clone(),
        remediation: c.remediation.clone(),
    }
}

/// Apply order: topics, subscriptions, filters, alarms, then the extras; within a kind in the
/// baseline's control order, then by address.
fn sort_for_apply(baseline: &Baseline, changes: &mut [Change]) {
    let position: BTreeMap<&str, usize> =
        baseline.controls.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let order = |c: &Change| c.control.as_deref().and_then(|id| position.get(id).copied()).unwrap_or(usize::MAX);
    changes.sort_by(|a, b| (a.kind, order(a), &a.address).cmp(&(b.kind, order(b), &b.address)));
}

#[cfg(test)]
mod tests;
