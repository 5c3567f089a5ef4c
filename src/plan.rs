//! The planner: a pure function from (baseline, snapshot) to a [`Plan`]. No I/O, no async,
//! no AWS types. Every comparison of filter patterns goes through `pattern::covers`, never
//! string equality. The plan is a value: renderers, `apply` and the saved-plan file all read
//! the same structure, so what apply does is exactly what was shown.

use crate::baseline::{AlarmSettings, Baseline, Control, TopicRef, WantedSubscription};
use crate::model::{
    Alarm, Gap, LogGroup, LogGroupRef, MetricFilter, MetricTransformation, QueryDefinition, Snapshot, Topic, Trail,
};
use crate::pattern::{self, Coverage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Version of the plan JSON document (`docs/json-format.md`): minor bump for added fields,
/// major for removed or retyped ones.
pub const FORMAT_VERSION: &str = "1.0";

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SnsTopic,
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
}

/// What a new topic will look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub topic_arn: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A subscription to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionSpec {
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
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
}

/// One attribute that changes, for `~ field = before -> after` lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// One planned write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    pub region: String,
    /// The first control that needs this change (`null` never happens today).
    pub control: Option<String>,
    /// Every control that needs it (a topic serves many).
    pub controls: Vec<String>,
    pub reason: String,
    pub before: Option<Resource>,
    pub after: Resource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// The chain a compliant control runs through.
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
    /// Whether each scanner will accept the filter this control relies on (live, or as
    /// planned): scanner -> `"pass"` | `{"fail": reason}` | `{"not_checked": reason}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scanners: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
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
    pub log_group: LogGroupRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub cwfix_version: String,
    pub account: String,
    pub partition: String,
    pub regions: Vec<String>,
    pub baseline: BaselineInfo,
    /// Hash of the discovered state the plan was made from (stale-plan check).
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
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether every control holds (exit 0 for `plan`).
    pub fn all_compliant(&self) -> bool {
        self.changes.is_empty() && self.controls.iter().all(|c| c.status == Status::Compliant)
    }
}

/// A stable hash of the snapshot, for refusing stale saved plans.
pub fn fingerprint(snapshot: &Snapshot) -> String {
    let json = serde_json::to_string(snapshot).unwrap_or_default();
    Sha256::digest(json.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

// ---- planning -------------------------------------------------------------------------------

/// Why a trail cannot carry the chain, or `None` if it can.
fn trail_problems(t: &Trail, account: &str, groups: &[LogGroup]) -> Vec<String> {
    let mut p = Vec::new();
    if !t.is_multi_region {
        p.push("is not multi-region".to_string());
    }
    match t.is_logging {
        Some(false) => p.push("is not logging (run `aws cloudtrail start-logging`)".into()),
        None => p.push("logging status unknown (cloudtrail:GetTrailStatus failed)".into()),
        Some(true) => {}
    }
    match t.management_events_all {
        Some(false) => p.push("does not log all (read and write) management events".into()),
        None => p.push("event selectors unknown (cloudtrail:GetEventSelectors failed)".into()),
        Some(true) => {}
    }
    match t.log_group_arn.as_deref().map(LogGroupRef::from_arn) {
        None => p.push("does not deliver to CloudWatch Logs".into()),
        Some(None) => p.push(format!(
            "has an unreadable CloudWatchLogsLogGroupArn `{}`",
            t.log_group_arn.as_deref().unwrap_or("")
        )),
        Some(Some(g)) if g.account != account => p.push(format!(
            "delivers to log group `{}` in account {} (an organization trail?): run cwfix in that account",
            g.name, g.account
        )),
        Some(Some(g)) => {
            if let Some(lg) = groups.iter().find(|x| x.group == g) {
                if !lg.exists {
                    p.push(format!("delivers to log group `{}` in {}, which does not exist", g.name, g.region));
                }
            }
        }
    }
    p
}

struct Ctx<'a> {
    baseline: &'a Baseline,
    snap: &'a Snapshot,
}

impl Ctx<'_> {
    fn gap(&self, region: &str, action: &str) -> Option<&Gap> {
        self.snap.gaps.iter().find(|g| g.region == region && g.action == action)
    }

    fn topic(&self, arn: &str) -> Option<&Topic> {
        self.snap.topics.iter().find(|t| t.topic_arn == arn)
    }

    /// Whether an alarm action reaches a person: an SNS topic with a confirmed subscriber,
    /// not encrypted with the AWS managed key (CloudWatch cannot publish to such a topic).
    fn reaches_someone(&self, arn: &str) -> Result<(), String> {
        let Some(t) = self.topic(arn) else {
            return Err(format!("topic `{arn}` does not exist or was not readable"));
        };
        if !t.readable {
            return Err(format!("topic `{}` could not be read", t.name));
        }
        if t.kms_master_key_id.as_deref().is_some_and(|k| k == "alias/aws/sns" || k.ends_with(":alias/aws/sns")) {
            return Err(format!(
                "topic `{}` is encrypted with the AWS managed key alias/aws/sns, which CloudWatch alarms cannot use: nobody is told",
                t.name
            ));
        }
        if let Some(k) = t.kms_master_key_id.as_deref() {
            if let Some(problem) = self.key_problem(&t.region, k) {
                return Err(format!("topic `{}` {problem}", t.name));
            }
        }
        if t.confirmed_subscriptions().next().is_none() {
            return Err(if t.subscriptions.is_empty() {
                format!("topic `{}` has no subscriptions", t.name)
            } else {
                format!("topic `{}` has only subscriptions pending confirmation", t.name)
            });
        }
        Ok(())
    }

    /// Why CloudWatch cannot publish through key `k`, if it cannot (unknown keys are a problem:
    /// cwfix never claims a link holds that it could not check).
    fn key_problem(&self, region: &str, k: &str) -> Option<String> {
        let Some(key) = self.snap.kms_keys.iter().find(|x| x.region == region && x.reference == k) else {
            return Some(format!("is encrypted with KMS key `{k}`, which cwfix could not check"));
        };
        if key.key_arn.is_none() {
            return Some(format!("is encrypted with KMS key `{k}`, which does not exist or could not be read"));
        }
        if key.aws_managed {
            return Some(format!(
                "is encrypted with the AWS managed key `{k}`, which CloudWatch alarms cannot use: nobody is told"
            ));
        }
        match &key.policy {
            None => Some(format!("is encrypted with KMS key `{k}` whose key policy could not be read")),
            Some(p) => {
                let missing = crate::model::kms_missing_for_cloudwatch(p);
                (!missing.is_empty()).then(|| {
                    format!(
                        "is encrypted with KMS key `{k}` whose policy does not let cloudwatch.amazonaws.com use it (missing {})",
                        missing.join(", ")
                    )
                })
            }
        }
    }

    fn baseline_topic_arn(&self, region: &str) -> String {
        match &self.baseline.notification.topic {
            TopicRef::Arn(a) => a.clone(),
            TopicRef::Name(n) => format!("arn:{}:sns:{}:{}:{}", self.snap.partition, region, self.snap.account, n),
        }
    }
}

/// How an alarm differs from the baseline's settings, field by field.
fn alarm_setting_diffs(a: &Alarm, s: &AlarmSettings) -> Vec<String> {
    let mut d = Vec::new();
    if a.statistic.as_deref() != Some(s.statistic.as_str()) || a.extended_statistic.is_some() {
        d.push(format!(
            "statistic {} (want {})",
            a.statistic.as_deref().or(a.extended_statistic.as_deref()).unwrap_or("none"),
            s.statistic
        ));
    }
    if a.period != Some(s.period) {
        d.push(format!("period {} (want {})", a.period.map(|p| p.to_string()).unwrap_or("none".into()), s.period));
    }
    if a.threshold != Some(s.threshold) {
        d.push(format!(
            "threshold {} (want {})",
            a.threshold.map(|p| p.to_string()).unwrap_or("none".into()),
            s.threshold
        ));
    }
    if a.comparison_operator.as_deref() != Some(s.comparison_operator.as_str()) {
        d.push(format!(
            "comparison {} (want {})",
            a.comparison_operator.as_deref().unwrap_or("none"),
            s.comparison_operator
        ));
    }
    if a.evaluation_periods != Some(s.evaluation_periods) {
        d.push(format!(
            "evaluation periods {} (want {})",
            a.evaluation_periods.map(|p| p.to_string()).unwrap_or("none".into()),
            s.evaluation_periods
        ));
    }
    if a.datapoints_to_alarm.is_some_and(|n| n > s.evaluation_periods) {
        d.push(format!(
            "datapoints to alarm {} (more than the evaluation periods)",
            a.datapoints_to_alarm.unwrap_or(0)
        ));
    }
    if !a.actions_enabled {
        d.push("actions are disabled".into());
    }
    d
}

/// The alarm with the baseline's settings enforced; everything else (description, other
/// actions, treatment of missing data) kept as the user had it.
fn corrected_alarm(a: &Alarm, s: &AlarmSettings) -> Alarm {
    let mut n = a.definition();
    n.statistic = Some(s.statistic.clone());
    n.extended_statistic = None;
    n.period = Some(s.period);
    n.threshold = Some(s.threshold);
    n.comparison_operator = Some(s.comparison_operator.clone());
    n.evaluation_periods = Some(s.evaluation_periods);
    if n.datapoints_to_alarm.is_some_and(|d| d > s.evaluation_periods) {
        n.datapoints_to_alarm = None;
    }
    n.actions_enabled = true;
    n
}

fn field_changes<T: Serialize>(before: &T, after: &T) -> Vec<FieldChange> {
    let b = serde_json::to_value(before).unwrap_or_default();
    let a = serde_json::to_value(after).unwrap_or_default();
    let (Some(b), Some(a)) = (b.as_object(), a.as_object()) else { return vec![] };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                b.get(k).cloned().unwrap_or(serde_json::Value::Null),
                a.get(k).cloned().unwrap_or(serde_json::Value::Null),
            );
            (x != y).then(|| FieldChange { field: k.clone(), before: x, after: y })
        })
        .collect()
}

/// What one control needs, before changes are merged across controls.
struct Outcome {
    status: Status,
    reason: String,
    via: Option<Via>,
    changes: Vec<Change>,
    /// The filter pattern the control relies on once the plan is applied (for scanner verdicts).
    pattern: Option<String>,
}

fn outcome(status: Status, reason: impl Into<String>) -> Outcome {
    Outcome { status, reason: reason.into(), via: None, changes: vec![], pattern: None }
}

/// Whether the scanners the control must satisfy (`--satisfy`) accept `pattern`.
fn scanners_accept(c: &Control, pattern: &str) -> bool {
    if c.must_pass.is_empty() {
        return true;
    }
    let Some(topic) = crate::scanner::classify(c) else { return true };
    c.must_pass.iter().all(|name| match name.parse::<crate::scanner::Scanner>() {
        Ok(s) => !crate::scanner::verdict(s, topic, pattern).is_fail(),
        Err(_) => true,
    })
}

/// Judges one control against one log group: compliant (with the chain), or `None`.
fn compliant_via(
    ctx: &Ctx,
    c: &Control,
    trail: &Trail,
    lg: &LogGroup,
    parsed: &[(usize, Option<pattern::Pattern>)],
) -> Option<Via> {
    let region = &lg.group.region;
    for (i, p) in parsed {
        let Some(p) = p else { continue };
        let f = &lg.metric_filters[*i];
        if !pattern::covers(p, &c.pattern).is_covered() || !scanners_accept(c, &f.filter_pattern) {
            continue;
        }
        for t in &f.metric_transformations {
            for ra in ctx
                .snap
                .alarms
                .iter()
                .filter(|ra| &ra.region == region && ra.alarm.watches(&t.metric_name, &t.metric_namespace))
            {
                let a = &ra.alarm;
                if !a.dimensions.is_empty() || !t.dimensions.is_empty() {
                    continue;
                }
                if !alarm_setting_diffs(a, &ctx.baseline.alarm).is_empty() {
                    continue;
                }
                if let Some(topic) = a.alarm_actions.iter().find(|arn| ctx.reaches_someone(arn).is_ok()) {
                    return Some(Via {
                        trail: trail.arn.clone(),
                        log_group: lg.group.name.clone(),
                        region: region.clone(),
                        metric_filter: f.filter_name.clone(),
                        metric_name: t.metric_name.clone(),
                        namespace: t.metric_namespace.clone(),
                        alarm: a.alarm_name.clone(),
                        topic: topic.clone(),
                    });
                }
            }
        }
    }
    None
}

fn filter_address(lg: &str, name: &str) -> String {
    format!("metric_filter.{lg}/{name}")
}

/// Plans the changes that make `c` hold on log group `lg`.
fn plan_control(
    ctx: &Ctx,
    c: &Control,
    lg: &LogGroup,
    parsed: &[(usize, Option<pattern::Pattern>)],
    claimed: &mut std::collections::BTreeSet<String>,
) -> Outcome {
    let region = lg.group.region.clone();
    let base = &ctx.baseline;
    if let Some(g) = ctx.gap(&region, "logs:DescribeMetricFilters") {
        return outcome(Status::Unknown, format!("cannot read the metric filters of `{}`: {}", lg.group.name, g.error));
    }
    if let Some(g) = ctx.gap(&region, "cloudwatch:DescribeAlarms") {
        return outcome(Status::Unknown, format!("cannot read the alarms in {region}: {}", g.error));
    }
    let mut changes = Vec::new();
    let mut reasons = Vec::new();

    // 1. The metric filter: reuse one that covers the baseline, else fix the control's own, else create.
    let covering: Vec<&MetricFilter> = parsed
        .iter()
        .filter(|(_, p)| p.as_ref().is_some_and(|p| pattern::covers(p, &c.pattern).is_covered()))
        .map(|(i, _)| &lg.metric_filters[*i])
        .filter(|f| !f.metric_transformations.is_empty() && scanners_accept(c, &f.filter_pattern))
        .collect();
    let alarms_on = |t: &MetricTransformation| -> Vec<&Alarm> {
        ctx.snap
            .alarms
            .iter()
            .filter(|ra| {
                ra.region == region
                    && ra.alarm.watches(&t.metric_name, &t.metric_namespace)
                    && ra.alarm.dimensions.is_empty()
            })
            .map(|ra| &ra.alarm)
            .collect()
    };
    let metric: MetricTransformation;
    let relied_on: String;
    if let Some(f) = covering
        .iter()
        .find(|f| !alarms_on(&f.metric_transformations[0]).is_empty())
        .or_else(|| covering.iter().find(|f| f.filter_name == c.filter_name))
        .or(covering.first())
    {
        metric = f.metric_transformations[0].clone();
        relied_on = f.filter_pattern.clone();
    } else {
        // The control's own filter: by name, by metric, or a weaker version of the baseline
        // pattern (everything it matches, the baseline matches too: a near miss such as a list
        // of event names with one missing). A filter cwfix cannot prove weaker is left alone.
        let unclaimed = |f: &&MetricFilter| !claimed.contains(&f.filter_name);
        let own = lg
            .metric_filters
            .iter()
            .filter(unclaimed)
            .find(|f| f.filter_name == c.filter_name)
            .or_else(|| {
                lg.metric_filters.iter().filter(unclaimed).find(|f| {
                    f.metric_transformations
                        .iter()
                        .any(|t| t.metric_name == c.metric_name && t.metric_namespace == c.namespace)
                })
            })
            .or_else(|| {
                let mut weaker: Vec<&MetricFilter> = parsed
                    .iter()
                    .filter(|(_, p)| p.as_ref().is_some_and(|p| pattern::covers(&c.pattern, p).is_covered()))
                    .map(|(i, _)| &lg.metric_filters[*i])
                    .filter(|f| !claimed.contains(&f.filter_name) && !f.metric_transformations.is_empty())
                    .collect();
                weaker.sort_by_key(|f| (alarms_on(&f.metric_transformations[0]).is_empty(), f.filter_name.clone()));
                weaker.first().copied()
            });
        if let Some(f) = own {
            claimed.insert(f.filter_name.clone());
        }
        match own {
            Some(f) => {
                // Keep the filter's name and metric (alarms may watch it); fix the pattern only.
                let why = match pattern::parse(&f.filter_pattern) {
                    Err(e) => format!("its pattern does not parse ({})", e.to_string().lines().next().unwrap_or("")),
                    Ok(p) => match pattern::covers(&p, &c.pattern) {
                        Coverage::NotCovered { witness: Some(w), .. } => {
                            format!("its pattern matches less than the baseline: it misses events such as {w}")
                        }
                        Coverage::NotCovered { reason, .. } => {
                            format!("its pattern matches less than the baseline: {reason}")
                        }
                        Coverage::Unknown { reason } => {
                            format!("cwfix cannot prove its pattern matches everything the baseline does: {reason}")
                        }
                        Coverage::Covers if !scanners_accept(c, &f.filter_pattern) => {
                            format!("rewritten so that {} accept it (same meaning or broader)", c.must_pass.join(", "))
                        }
                        Coverage::Covers => "it has no metric transformation".into(),
                    },
                };
                let mut after = f.clone();
                after.filter_pattern = c.pattern.source().trim().to_string();
                if after.metric_transformations.is_empty() {
                    after.metric_transformations = vec![new_transformation(c)];
                }
                metric = after.metric_transformations[0].clone();
                relied_on = after.filter_pattern.clone();
                reasons.push(format!("metric filter `{}`: {why}", f.filter_name));
                changes.push(Change {
                    address: filter_address(&lg.group.name, &f.filter_name),
                    kind: Kind::MetricFilter,
                    action: Action::Update,
                    region: region.clone(),
                    control: Some(c.id.clone()),
                    controls: vec![c.id.clone()],
                    reason: why,
                    fields: field_changes(f, &after),
                    before: Some(Resource::MetricFilter(f.clone())),
                    after: Resource::MetricFilter(after),
                });
            }
            None => {
                let after = MetricFilter {
                    log_group_name: lg.group.name.clone(),
                    filter_name: c.filter_name.clone(),
                    filter_pattern: c.pattern.source().trim().to_string(),
                    metric_transformations: vec![new_transformation(c)],
                    apply_on_transformed_logs: None,
                };
                metric = after.metric_transformations[0].clone();
                relied_on = after.filter_pattern.clone();
                let why = if lg.metric_filters.is_empty() {
                    "the log group has no metric filters".to_string()
                } else {
                    format!("none of the {} metric filters on the log group matches everything the baseline pattern matches", lg.metric_filters.len())
                };
                reasons.push(why.clone());
                changes.push(Change {
                    address: filter_address(&lg.group.name, &c.filter_name),
                    kind: Kind::MetricFilter,
                    action: Action::Create,
                    region: region.clone(),
                    control: Some(c.id.clone()),
                    controls: vec![c.id.clone()],
                    reason: why,
                    fields: vec![],
                    before: None,
                    after: Resource::MetricFilter(after),
                });
            }
        }
    }

    // 2. The alarm on that metric.
    let settings = &base.alarm;
    let on_metric = alarms_on(&metric);
    let topic_arn = ctx.baseline_topic_arn(&region);
    let mut uses_baseline_topic = false;
    let good_alarm = on_metric.iter().find(|a| {
        alarm_setting_diffs(a, settings).is_empty() && a.alarm_actions.iter().any(|x| ctx.reaches_someone(x).is_ok())
    });
    if good_alarm.is_none() {
        // A topic cwfix could not read may well reach someone: that is unknown, never a
        // broken link to "fix" with a second topic.
        let unreadable: Vec<&Topic> = on_metric
            .iter()
            .flat_map(|a| a.alarm_actions.iter())
            .chain(std::iter::once(&topic_arn))
            .filter_map(|arn| ctx.topic(arn))
            .filter(|t| !t.readable)
            .collect();
        if let Some(t) = unreadable.first() {
            let why = ctx
                .snap
                .gaps
                .iter()
                .find(|g| g.resource == t.topic_arn)
                .map(|g| g.error.clone())
                .unwrap_or_else(|| "it could not be read".into());
            return outcome(Status::Unknown, format!("cannot tell whether topic `{}` reaches anyone: {why}", t.name));
        }
        let candidate = on_metric
            .iter()
            .filter(|a| a.metrics_json.is_none())
            .min_by_key(|a| {
                (a.alarm_name != c.alarm_name, alarm_setting_diffs(a, settings).len(), a.alarm_name.clone())
            })
            .copied()
            .or_else(|| {
                ctx.snap
                    .alarms
                    .iter()
                    .find(|ra| ra.region == region && ra.alarm.alarm_name == c.alarm_name)
                    .map(|ra| &ra.alarm)
            });
        match candidate {
            Some(a) if a.metrics_json.is_some() => {
                return outcome(
                    Status::Blocked,
                    format!("alarm `{}` has the baseline's name but is a metric-math alarm; cwfix will not rewrite it: rename the control's alarm_name", a.alarm_name),
                );
            }
            Some(a) => {
                let mut after = corrected_alarm(a, settings);
                let mut why: Vec<String> = alarm_setting_diffs(a, settings);
                if !a.watches(&metric.metric_name, &metric.metric_namespace) {
                    why.push(format!(
                        "it watches {}/{} instead of {}/{}",
                        a.namespace.as_deref().unwrap_or("?"),
                        a.metric_name.as_deref().unwrap_or("?"),
                        metric.metric_namespace,
                        metric.metric_name
                    ));
                    after.metric_name = Some(metric.metric_name.clone());
                    after.namespace = Some(metric.metric_namespace.clone());
                    after.dimensions.clear();
                }
                if !a.alarm_actions.iter().any(|x| ctx.reaches_someone(x).is_ok()) {
                    let broken: Vec<String> =
                        a.alarm_actions.iter().filter_map(|x| ctx.reaches_someone(x).err()).collect();
                    why.push(if broken.is_empty() {
                        "it notifies nobody (no SNS action)".to_string()
                    } else {
                        format!("its actions reach nobody ({})", broken.join("; "))
                    });
                    if !after.alarm_actions.contains(&topic_arn) {
                        after.alarm_actions.push(topic_arn.clone());
                    }
                    uses_baseline_topic = true;
                }
                let unchanged = after == a.definition();
                let reason = format!("alarm `{}`: {}", a.alarm_name, why.join(", "));
                reasons.push(reason.clone());
                // Already pointing at the baseline's topic: only its subscribers are missing.
                if !unchanged {
                    changes.push(Change {
                        address: format!("metric_alarm.{}", a.alarm_name),
                        kind: Kind::MetricAlarm,
                        action: Action::Update,
                        region: region.clone(),
                        control: Some(c.id.clone()),
                        controls: vec![c.id.clone()],
                        reason,
                        fields: field_changes(&a.definition(), &after),
                        before: Some(Resource::MetricAlarm(a.definition())),
                        after: Resource::MetricAlarm(after),
                    });
                }
            }
            None => {
                let after = Alarm {
                    alarm_name: c.alarm_name.clone(),
                    alarm_arn: None,
                    alarm_description: Some(format!("cwfix: CIS {} {} ({})", c.id, c.title, base.name)),
                    actions_enabled: true,
                    alarm_actions: vec![topic_arn.clone()],
                    ok_actions: vec![],
                    insufficient_data_actions: vec![],
                    metric_name: Some(metric.metric_name.clone()),
                    namespace: Some(metric.metric_namespace.clone()),
                    statistic: Some(settings.statistic.clone()),
                    extended_statistic: None,
                    dimensions: BTreeMap::new(),
                    period: Some(settings.period),
                    unit: None,
                    evaluation_periods: Some(settings.evaluation_periods),
                    datapoints_to_alarm: None,
                    threshold: Some(settings.threshold),
                    comparison_operator: Some(settings.comparison_operator.clone()),
                    treat_missing_data: Some(settings.treat_missing_data.clone()),
                    evaluate_low_sample_count_percentile: None,
                    threshold_metric_id: None,
                    metrics_json: None,
                };
                uses_baseline_topic = true;
                let reason = format!("no alarm watches {}/{}", metric.metric_namespace, metric.metric_name);
                reasons.push(reason.clone());
                changes.push(Change {
                    address: format!("metric_alarm.{}", c.alarm_name),
                    kind: Kind::MetricAlarm,
                    action: Action::Create,
                    region: region.clone(),
                    control: Some(c.id.clone()),
                    controls: vec![c.id.clone()],
                    reason,
                    fields: vec![],
                    before: None,
                    after: Resource::MetricAlarm(after),
                });
            }
        }
    }

    // 3. The topic and its subscribers, when the alarm relies on the baseline's topic.
    let mut pending_note = None;
    if uses_baseline_topic {
        let wanted = &base.notification.subscriptions;
        let existing = ctx.topic(&topic_arn);
        let topic_name = base.notification.topic.name().to_string();
        if existing.is_none() && ctx.snap.topic_arns.contains(&topic_arn) {
            return outcome(Status::Unknown, format!("topic `{topic_name}` exists but could not be read"));
        }
        if existing.is_none() {
            if let TopicRef::Arn(arn) = &base.notification.topic {
                return outcome(
                    Status::Blocked,
                    format!("the baseline's topic `{arn}` does not exist; cwfix creates topics only by name"),
                );
            }
        }
        if let Some(t) = existing {
            if let Err(e) = ctx.reaches_someone(&t.topic_arn) {
                if t.kms_master_key_id.as_deref().is_some_and(|k| k.ends_with("alias/aws/sns")) {
                    return outcome(Status::Blocked, format!("{e}; re-create the topic with a customer managed key that lets cloudwatch.amazonaws.com use it"));
                }
            }
        }
        let have: Vec<(String, String)> = existing
            .map(|t| t.subscriptions.iter().map(|s| (s.protocol.clone(), s.endpoint.clone())).collect())
            .unwrap_or_default();
        let to_add: Vec<&WantedSubscription> =
            wanted.iter().filter(|w| !have.contains(&(w.protocol.clone(), w.endpoint.clone()))).collect();
        let confirmed_now = existing.is_some_and(|t| t.confirmed_subscriptions().next().is_some());
        let pending_now = existing.is_some_and(|t| t.subscriptions.iter().any(|s| s.pending_confirmation));
        if !confirmed_now && to_add.is_empty() && !pending_now {
            return outcome(
                Status::Blocked,
                format!(
                    "the alarm must notify topic `{topic_name}`, which has no subscriber and the baseline names none: give one with `--subscribe email:ADDRESS` or [[notification.subscriptions]] in the baseline"
                ),
            );
        }
        if !confirmed_now && to_add.is_empty() && pending_now {
            pending_note = Some(format!(
                "topic `{topic_name}` has only subscriptions pending confirmation: the recipient must confirm"
            ));
        }
        if existing.is_none() {
            if let Some(k) = &base.notification.kms_key {
                if let Some(problem) = ctx.key_problem(&region, k) {
                    return outcome(
                        Status::Blocked,
                        format!("the topic cwfix would create {problem}: add a key policy statement allowing the service principal cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*"),
                    );
                }
            }
            let mut attributes = BTreeMap::new();
            attributes.insert(
                "Policy".to_string(),
                topic_policy(&topic_arn, &ctx.snap.account, &ctx.snap.partition, &region),
            );
            if let Some(k) = &base.notification.kms_key {
                attributes.insert("KmsMasterKeyId".to_string(), k.clone());
            }
            let mut tags = BTreeMap::new();
            tags.insert(CREATED_BY_TAG.0.to_string(), CREATED_BY_TAG.1.to_string());
            tags.insert("cwfix-baseline".to_string(), base.name.clone());
            let reason = if base.notification.kms_key.is_some() {
                format!("topic `{topic_name}` does not exist (encrypted with the baseline's customer managed key)")
            } else {
                format!("topic `{topic_name}` does not exist (unencrypted: the baseline names no customer managed KMS key, and the AWS managed key would silence CloudWatch)")
            };
            changes.push(Change {
                address: format!("sns_topic.{topic_name}"),
                kind: Kind::SnsTopic,
                action: Action::Create,
                region: region.clone(),
                control: Some(c.id.clone()),
                controls: vec![c.id.clone()],
                reason,
                fields: vec![],
                before: None,
                after: Resource::SnsTopic(TopicSpec {
                    name: topic_name.clone(),
                    topic_arn: topic_arn.clone(),
                    attributes,
                    tags,
                }),
            });
        }
        for w in to_add {
            changes.push(Change {
                address: format!("sns_subscription.{topic_name}/{}:{}", w.protocol, w.endpoint),
                kind: Kind::SnsSubscription,
                action: Action::Create,
                region: region.clone(),
                control: Some(c.id.clone()),
                controls: vec![c.id.clone()],
                reason: format!(
                    "topic `{topic_name}` has no confirmed subscriber; the baseline wants {}:{}",
                    w.protocol, w.endpoint
                ),
                fields: vec![],
                before: None,
                after: Resource::SnsSubscription(SubscriptionSpec {
                    topic_arn: topic_arn.clone(),
                    protocol: w.protocol.clone(),
                    endpoint: w.endpoint.clone(),
                }),
            });
        }
    }
    if changes.is_empty() {
        // Only a pending confirmation stands between this control and compliance.
        return Outcome {
            status: Status::Blocked,
            reason: pending_note.unwrap_or_else(|| "waiting for a subscriber to confirm".into()),
            via: None,
            changes,
            pattern: Some(relied_on),
        };
    }
    let mut reason = reasons.join("; ");
    if let Some(n) = pending_note {
        reason = format!("{reason}; {n}");
    }
    Outcome { status: Status::Changes, reason, via: None, changes, pattern: Some(relied_on) }
}

fn new_transformation(c: &Control) -> MetricTransformation {
    MetricTransformation {
        metric_name: c.metric_name.clone(),
        metric_namespace: c.namespace.clone(),
        metric_value: "1".into(),
        default_value: None,
        unit: None,
        dimensions: BTreeMap::new(),
    }
}

/// A topic policy that lets this account manage the topic and lets CloudWatch alarms of this
/// account (and only those) publish to it.
pub fn topic_policy(topic_arn: &str, account: &str, partition: &str, region: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerManages",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
                "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                           "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
                "Resource": topic_arn
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "SNS:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": format!("arn:{partition}:cloudwatch:{region}:{account}:alarm:*")}
                }
            }
        ]
    })
    .to_string()
}

/// Verdicts and changes for the baseline's log-retention requirement and saved queries.
fn log_group_extras(
    baseline: &Baseline,
    snap: &Snapshot,
    lg: Option<&LogGroup>,
    controls: &[ControlVerdict],
) -> Vec<(ControlVerdict, Vec<Change>)> {
    let mut out = Vec::new();
    let verdict = |id: String, title: String, status: Status, reason: String, changes: &[Change]| ControlVerdict {
        id,
        title,
        status,
        reason,
        via: None,
        changes: changes.iter().map(|c| c.address.clone()).collect(),
        scanners: BTreeMap::new(),
    };
    // Without a usable log group these share the controls' verdict (no trail, other account, ...).
    let no_chain = || {
        controls
            .first()
            .map(|c| (c.status, c.reason.clone()))
            .unwrap_or((Status::Blocked, "no trail delivers to a CloudWatch Logs log group".into()))
    };
    if let Some(min) = baseline.min_retention_days {
        let id = "retention".to_string();
        let title = format!("Trail log group keeps events at least {min} days");
        match lg {
            None => {
                let (st, why) = no_chain();
                out.push((verdict(id, title, st, why, &[]), vec![]));
            }
            Some(lg) => match lg.retention_in_days {
                None => out.push((
                    verdict(id, title, Status::Compliant, format!("`{}` never expires events", lg.group.name), &[]),
                    vec![],
                )),
                Some(d) if d >= min => out.push((
                    verdict(id, title, Status::Compliant, format!("`{}` keeps events {d} days", lg.group.name), &[]),
                    vec![],
                )),
                Some(d) => {
                    let before = RetentionSpec { log_group_name: lg.group.name.clone(), retention_in_days: Some(d) };
                    let after = RetentionSpec { log_group_name: lg.group.name.clone(), retention_in_days: Some(min) };
                    let reason = format!("`{}` keeps events only {d} days (want at least {min})", lg.group.name);
                    let ch = Change {
                        address: format!("log_retention.{}", lg.group.name),
                        kind: Kind::LogRetention,
                        action: Action::Update,
                        region: lg.group.region.clone(),
                        control: Some(id.clone()),
                        controls: vec![id.clone()],
                        reason: reason.clone(),
                        fields: field_changes(&before, &after),
                        before: Some(Resource::LogRetention(before)),
                        after: Resource::LogRetention(after),
                    };
                    out.push((verdict(id, title, Status::Changes, reason, std::slice::from_ref(&ch)), vec![ch]));
                }
            },
        }
    }
    for q in &baseline.queries {
        let id = format!("query:{}", q.name);
        let title = format!("Saved Insights query `{}`", q.name);
        let Some(lg) = lg else {
            let (st, why) = no_chain();
            out.push((verdict(id, title, st, why, &[]), vec![]));
            continue;
        };
        let region = &lg.group.region;
        if let Some(g) = snap.gaps.iter().find(|g| &g.region == region && g.action == "logs:DescribeQueryDefinitions") {
            out.push((
                verdict(id, title, Status::Unknown, format!("cannot list saved queries: {}", g.error), &[]),
                vec![],
            ));
            continue;
        }
        let text = q.query.replace("${account}", &snap.account);
        let existing = snap.queries.iter().filter(|(r, x)| r == region && x.name == q.name).map(|(_, x)| x).next();
        let address = format!("query_definition.{}", q.name);
        match existing {
            Some(x) if x.query_string == text && x.log_group_names.contains(&lg.group.name) => {
                out.push((verdict(id, title, Status::Compliant, format!("saved on `{}`", lg.group.name), &[]), vec![]));
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
                let ch = Change {
                    address,
                    kind: Kind::QueryDefinition,
                    action: Action::Update,
                    region: region.clone(),
                    control: Some(id.clone()),
                    controls: vec![id.clone()],
                    reason: reason.into(),
                    fields: field_changes(x, &after),
                    before: Some(Resource::QueryDefinition(x.clone())),
                    after: Resource::QueryDefinition(after),
                };
                out.push((verdict(id, title, Status::Changes, reason.into(), std::slice::from_ref(&ch)), vec![ch]));
            }
            None => {
                let after = QueryDefinition {
                    name: q.name.clone(),
                    query_string: text,
                    log_group_names: vec![lg.group.name.clone()],
                    query_definition_id: None,
                };
                let reason = "no saved query of this name".to_string();
                let ch = Change {
                    address,
                    kind: Kind::QueryDefinition,
                    action: Action::Create,
                    region: region.clone(),
                    control: Some(id.clone()),
                    controls: vec![id.clone()],
                    reason: reason.clone(),
                    fields: vec![],
                    before: None,
                    after: Resource::QueryDefinition(after),
                };
                out.push((verdict(id, title, Status::Changes, reason, std::slice::from_ref(&ch)), vec![ch]));
            }
        }
    }
    out
}

/// Makes the plan. Pure: the same inputs give the same plan, byte for byte.
pub fn plan(baseline: &Baseline, snap: &Snapshot) -> Plan {
    let ctx = Ctx { baseline, snap };
    let mut warnings = Vec::new();
    // Parse every existing pattern once; unparseable ones are reported and never count.
    let parsed: BTreeMap<LogGroupRef, Vec<(usize, Option<pattern::Pattern>)>> = snap
        .log_groups
        .iter()
        .map(|lg| {
            let v = lg
                .metric_filters
                .iter()
                .enumerate()
                .map(|(i, f)| match pattern::parse(&f.filter_pattern) {
                    Ok(p) => (i, Some(p)),
                    Err(e) => {
                        warnings.push(format!(
                            "metric filter `{}` on `{}` has a pattern cwfix cannot parse, so it never counts: {}",
                            f.filter_name,
                            lg.group.name,
                            e.to_string().lines().next().unwrap_or("")
                        ));
                        (i, None)
                    }
                })
                .collect();
            (lg.group.clone(), v)
        })
        .collect();

    // Trails that can carry the chain, each with its log group.
    let mut usable: Vec<(&Trail, &LogGroup)> = Vec::new();
    let mut trail_notes = Vec::new();
    for t in &snap.trails {
        let problems = trail_problems(t, &snap.account, &snap.log_groups);
        if problems.is_empty() {
            let g = t.log_group_arn.as_deref().and_then(LogGroupRef::from_arn);
            if let Some(lg) = g.and_then(|g| snap.log_groups.iter().find(|x| x.group == g)) {
                usable.push((t, lg));
                continue;
            }
        }
        trail_notes.push(format!("trail `{}` {}", t.name, problems.join(", ")));
    }

    // Which control holds through which usable trail, judged once: [trail][control].
    let holds: Vec<Vec<Option<Via>>> = usable
        .iter()
        .map(|(t, lg)| baseline.controls.iter().map(|c| compliant_via(&ctx, c, t, lg, &parsed[&lg.group])).collect())
        .collect();
    // The primary log group: where most controls already hold; ties by trail ARN.
    let primary = usable
        .iter()
        .zip(&holds)
        .map(|((t, lg), h)| (h.iter().filter(|v| v.is_some()).count(), *t, *lg))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.arn.cmp(&a.1.arn)))
        .map(|(_, t, lg)| (t, lg));

    // A trail that would do but delivers to another account's log group.
    let foreign_owner: Option<(&Trail, String)> = snap.trails.iter().find_map(|t| {
        let g = t.log_group_arn.as_deref().and_then(LogGroupRef::from_arn)?;
        (g.account != snap.account && t.is_multi_region && t.is_logging != Some(false)).then_some((t, g.account))
    });
    let trail_gaps: Vec<&Gap> = snap.gaps.iter().filter(|g| g.action.starts_with("cloudtrail:")).collect();
    let mut verdicts = Vec::new();
    let mut all_changes: Vec<Change> = Vec::new();
    let mut claimed = std::collections::BTreeSet::new();
    for (ci, c) in baseline.controls.iter().enumerate() {
        let via = holds.iter().find_map(|h| h[ci].clone());
        let out = if let Some(via) = via {
            let pattern = snap
                .log_groups
                .iter()
                .filter(|g| g.group.name == via.log_group && g.group.region == via.region)
                .flat_map(|g| g.metric_filters.iter())
                .find(|f| f.filter_name == via.metric_filter)
                .map(|f| f.filter_pattern.clone());
            Outcome {
                status: Status::Compliant,
                reason: format!(
                    "metric filter `{}` -> alarm `{}` -> topic `{}`",
                    via.metric_filter,
                    via.alarm,
                    via.topic.rsplit(':').next().unwrap_or("")
                ),
                via: Some(via),
                changes: vec![],
                pattern,
            }
        } else if let Some((_, lg)) = primary {
            plan_control(&ctx, c, lg, &parsed[&lg.group], &mut claimed)
        } else if !trail_gaps.is_empty() && snap.trails.is_empty() {
            outcome(Status::Unknown, format!("cannot list trails: {}", trail_gaps[0].error))
        } else if let Some((t, owner)) = &foreign_owner {
            // An organization trail delivering to another account's log group: the chain lives
            // there. Not a gap of this account, and nothing cwfix can see from here.
            outcome(
                Status::Unknown,
                format!(
                    "monitored in account {owner}: trail `{}` delivers to a log group there; plan that account (e.g. `cwfix plan --assume-role arn:{}:iam::{owner}:role/ROLE`)",
                    t.name, snap.partition
                ),
            )
        } else if snap.trails.is_empty() {
            outcome(
                Status::Blocked,
                format!(
                    "no CloudTrail trail in {}: create a multi-region trail that logs all management events and delivers to a CloudWatch Logs log group (cwfix does not create trails or log groups)",
                    snap.regions.join(", ")
                ),
            )
        } else {
            outcome(
                Status::Blocked,
                format!(
                    "no trail can carry the chain: {}; fix one trail (cwfix does not change trails or create log groups)",
                    trail_notes.join("; ")
                ),
            )
        };
        let mut addresses = Vec::new();
        for ch in out.changes {
            addresses.push(ch.address.clone());
            if let Some(existing) = all_changes.iter_mut().find(|x| x.address == ch.address) {
                if existing.after == ch.after {
                    existing.controls.push(c.id.clone());
                } else {
                    warnings.push(format!(
                        "{} is wanted differently by controls {} and {}; the first wins",
                        ch.address,
                        existing.controls.join(","),
                        c.id
                    ));
                }
            } else {
                all_changes.push(ch);
            }
        }
        let scanners = match (crate::scanner::classify(c), &out.pattern) {
            (Some(topic), Some(p)) => crate::scanner::verdicts(topic, p)
                .into_iter()
                .map(|(s, v)| (s.as_str().to_string(), serde_json::to_value(&v).unwrap_or_default()))
                .collect(),
            _ => BTreeMap::new(),
        };
        let mut reason = out.reason;
        if let Some(n) = &c.note {
            reason = format!("{reason} [{n}]");
        }
        verdicts.push(ControlVerdict {
            id: c.id.clone(),
            title: c.title.clone(),
            status: out.status,
            reason,
            via: out.via,
            changes: addresses,
            scanners,
        });
    }
    // Log retention and saved queries live on the chain's log group too.
    for (verdict, changes) in log_group_extras(baseline, snap, primary.map(|(_, lg)| lg), &verdicts) {
        for ch in changes {
            all_changes.push(ch);
        }
        verdicts.push(verdict);
    }
    // Apply order: topics, subscriptions, filters, alarms; by address within a kind.
    let order =
        |c: &Change| baseline.controls.iter().position(|x| Some(&x.id) == c.control.as_ref()).unwrap_or(usize::MAX);
    all_changes.sort_by(|a, b| (a.kind, order(a), &a.address).cmp(&(b.kind, order(b), &b.address)));
    let summary = Summary {
        add: all_changes.iter().filter(|c| c.action == Action::Create).count(),
        change: all_changes.iter().filter(|c| c.action == Action::Update).count(),
        destroy: 0,
    };
    for g in &snap.gaps {
        warnings.push(format!("{} on {} in {} failed: {}", g.action, g.resource, g.region, g.error));
    }
    Plan {
        format_version: FORMAT_VERSION.into(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        account: snap.account.clone(),
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
        state_fingerprint: fingerprint(snap),
        chain: primary.map(|(t, lg)| ChainRoot { trail: t.arn.clone(), log_group: lg.group.clone() }),
        controls: verdicts,
        changes: all_changes,
        summary,
        monitored_in: if primary.is_none() { foreign_owner.map(|(_, owner)| owner) } else { None },
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline;
    use crate::model::{RegionalAlarm, Subscription};

    const ACCOUNT: &str = "123456789012";
    const GROUP_ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:ct:*";

    fn base() -> Baseline {
        let mut b = baseline::load(baseline::DEFAULT_BASELINE).unwrap();
        b.notification.subscriptions =
            vec![baseline::WantedSubscription { protocol: "email".into(), endpoint: "a@example.com".into() }];
        b
    }

    fn trail() -> Trail {
        Trail {
            name: "main".into(),
            arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/main".into(),
            home_region: "us-east-1".into(),
            is_multi_region: true,
            is_organization_trail: false,
            is_logging: Some(true),
            management_events_all: Some(true),
            log_group_arn: Some(GROUP_ARN.into()),
        }
    }

    fn snap(filters: Vec<MetricFilter>, alarms: Vec<Alarm>, topics: Vec<Topic>) -> Snapshot {
        Snapshot {
            account: ACCOUNT.into(),
            partition: "aws".into(),
            caller_arn: "arn:aws:iam::123456789012:user/x".into(),
            regions: vec!["us-east-1".into()],
            trails: vec![trail()],
            log_groups: vec![LogGroup {
                group: LogGroupRef::from_arn(GROUP_ARN).unwrap(),
                exists: true,
                retention_in_days: None,
                metric_filters: filters,
            }],
            alarms: alarms.into_iter().map(|alarm| RegionalAlarm { region: "us-east-1".into(), alarm }).collect(),
            topic_arns: topics.iter().map(|t| t.topic_arn.clone()).collect(),
            topics,
            queries: vec![],
            kms_keys: vec![],
            gaps: vec![],
        }
    }

    fn topic(name: &str, confirmed: bool) -> Topic {
        Topic {
            topic_arn: format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}"),
            name: name.into(),
            region: "us-east-1".into(),
            kms_master_key_id: None,
            subscriptions: vec![Subscription {
                protocol: "email".into(),
                endpoint: "x@example.com".into(),
                subscription_arn: confirmed.then(|| format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}:1")),
                pending_confirmation: !confirmed,
            }],
            readable: true,
        }
    }

    /// Filters and alarms that make every control of `b` hold, notifying `topic_name`.
    fn full_chain(b: &Baseline, topic_name: &str) -> (Vec<MetricFilter>, Vec<Alarm>) {
        let mut fs = vec![];
        let mut al = vec![];
        for c in &b.controls {
            fs.push(MetricFilter {
                log_group_name: "ct".into(),
                filter_name: format!("f-{}", c.id),
                filter_pattern: c.pattern.source().into(),
                metric_transformations: vec![MetricTransformation {
                    metric_name: format!("M{}", c.id),
                    metric_namespace: "NS".into(),
                    metric_value: "1".into(),
                    default_value: None,
                    unit: None,
                    dimensions: BTreeMap::new(),
                }],
                apply_on_transformed_logs: None,
            });
            al.push(Alarm {
                alarm_name: format!("a-{}", c.id),
                alarm_arn: None,
                alarm_description: None,
                actions_enabled: true,
                alarm_actions: vec![format!("arn:aws:sns:us-east-1:{ACCOUNT}:{topic_name}")],
                ok_actions: vec![],
                insufficient_data_actions: vec![],
                metric_name: Some(format!("M{}", c.id)),
                namespace: Some("NS".into()),
                statistic: Some("Sum".into()),
                extended_statistic: None,
                dimensions: BTreeMap::new(),
                period: Some(300),
                unit: None,
                evaluation_periods: Some(1),
                datapoints_to_alarm: None,
                threshold: Some(1.0),
                comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
                treat_missing_data: None,
                evaluate_low_sample_count_percentile: None,
                threshold_metric_id: None,
                metrics_json: None,
            });
        }
        (fs, al)
    }

    #[test]
    fn no_trails_blocks_everything() {
        let mut s = snap(vec![], vec![], vec![]);
        s.trails.clear();
        s.log_groups.clear();
        let p = plan(&base(), &s);
        assert!(p.controls.iter().all(|c| c.status == Status::Blocked));
        assert!(p.changes.is_empty());
        assert!(!p.all_compliant());
    }

    #[test]
    fn empty_group_plans_the_whole_chain_in_apply_order() {
        let p = plan(&base(), &snap(vec![], vec![], vec![]));
        assert_eq!(p.summary, Summary { add: 32, change: 0, destroy: 0 });
        let kinds: Vec<Kind> = p.changes.iter().map(|c| c.kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(kinds, sorted, "topics, subscriptions, filters, alarms");
        assert_eq!(p.changes[0].controls.len(), 15, "one topic serves every control");
        // Filters follow the baseline's control order (5.1, 5.2, ... 5.10), not string order.
        let filters: Vec<&str> =
            p.changes.iter().filter(|c| c.kind == Kind::MetricFilter).map(|c| c.control.as_deref().unwrap()).collect();
        assert_eq!(&filters[..3], &["5.1", "5.2", "5.3"]);
    }

    #[test]
    fn full_chain_is_compliant_and_plan_is_deterministic() {
        let b = base();
        let (f, a) = full_chain(&b, "sec");
        let s = snap(f, a, vec![topic("sec", true)]);
        let p = plan(&b, &s);
        assert!(p.all_compliant(), "{:#?}", p.controls);
        assert_eq!(p, plan(&b, &s));
        let round: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(round, p);
    }

    #[test]
    fn aws_managed_key_topic_reaches_nobody() {
        let b = base();
        let (f, a) = full_chain(&b, "sec");
        let mut t = topic("sec", true);
        t.kms_master_key_id = Some("alias/aws/sns".into());
        let p = plan(&b, &snap(f, a, vec![t]));
        assert!(p.controls.iter().all(|c| c.status == Status::Changes));
        assert!(p.controls[0].reason.contains("alias/aws/sns"), "{}", p.controls[0].reason);
        // Fixed by pointing every alarm at the baseline's topic too.
        assert!(p.changes.iter().any(|c| c.kind == Kind::SnsTopic));
    }

    #[test]
    fn pending_only_subscription_blocks_without_changes() {
        let mut b = base();
        b.notification.topic = TopicRef::Name("sec".into());
        b.notification.subscriptions =
            vec![baseline::WantedSubscription { protocol: "email".into(), endpoint: "x@example.com".into() }];
        let (f, a) = full_chain(&b, "sec");
        let p = plan(&b, &snap(f, a, vec![topic("sec", false)]));
        assert!(p.changes.is_empty(), "{:#?}", p.changes);
        assert!(p.controls.iter().all(|c| c.status == Status::Blocked && c.reason.contains("pending confirmation")));
    }

    #[test]
    fn unreadable_filters_make_controls_unknown_never_create() {
        let mut s = snap(vec![], vec![], vec![]);
        s.gaps.push(Gap {
            region: "us-east-1".into(),
            action: "logs:DescribeMetricFilters".into(),
            resource: "ct".into(),
            error: "denied".into(),
        });
        let p = plan(&base(), &s);
        assert!(p.controls.iter().all(|c| c.status == Status::Unknown));
        assert!(p.changes.is_empty());
    }

    #[test]
    fn foreign_account_log_group_is_unknown_with_the_owner_named() {
        let mut s = snap(vec![], vec![], vec![]);
        s.trails[0].log_group_arn = Some("arn:aws:logs:us-east-1:999988887777:log-group:org:*".into());
        s.log_groups.clear();
        let p = plan(&base(), &s);
        assert_eq!(p.controls[0].status, Status::Unknown);
        assert!(p.controls[0].reason.contains("account 999988887777"), "{}", p.controls[0].reason);
        assert_eq!(p.monitored_in.as_deref(), Some("999988887777"));
    }

    #[test]
    fn metric_math_alarm_with_the_baseline_name_is_not_rewritten() {
        let b = base();
        let mut a = full_chain(&b, "sec").1.remove(0);
        a.alarm_name = b.controls[0].alarm_name.clone();
        a.metric_name = None;
        a.metrics_json = Some("1 metric-math queries".into());
        let p = plan(&b, &snap(vec![], vec![a], vec![]));
        assert_eq!(p.controls[0].status, Status::Blocked);
    }
}
