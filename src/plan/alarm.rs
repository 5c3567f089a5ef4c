//! The alarm link: an alarm on the filter's metric with the baseline's settings (by default
//! Sum over 300 s, at least 1, one period, actions enabled) whose actions reach a person. Reuses and corrects the
//! user's alarm where there is one (keeping its name, description and other actions), creates
//! the control's own otherwise.

use super::{Change, Ctx, Resource, Status, Stop};
use crate::baseline::{AlarmSettings, Control};
use crate::model::{Alarm, MetricTransformation};
use std::collections::BTreeMap;

/// How an alarm differs from the baseline's settings, field by field (empty = as wanted).
pub(super) fn setting_diffs(a: &Alarm, s: &AlarmSettings) -> Vec<String> {
    let mut d = Vec::new();
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    if a.statistic.as_ref() != Some(&s.statistic) || a.extended_statistic.is_some() {
        let has = a.statistic.as_ref().map(|x| x.to_string()).or(a.extended_statistic.clone());
        d.push(format!("statistic {} (want {})", or_none(has), s.statistic));
    }
    if a.period != Some(s.period) {
        d.push(format!("period {} (want {})", or_none(a.period.map(|p| p.to_string())), s.period));
    }
    if a.threshold != Some(s.threshold) {
        d.push(format!("threshold {} (want {})", or_none(a.threshold.map(|p| p.to_string())), s.threshold));
    }
    if a.comparison_operator.as_ref() != Some(&s.comparison_operator) {
        let has = a.comparison_operator.as_ref().map(|x| x.to_string());
        d.push(format!("comparison {} (want {})", or_none(has), s.comparison_operator));
    }
    if a.evaluation_periods != Some(s.evaluation_periods) {
        let has = a.evaluation_periods.map(|p| p.to_string());
        d.push(format!("evaluation periods {} (want {})", or_none(has), s.evaluation_periods));
    }
    if let Some(n) = a.datapoints_to_alarm.filter(|n| *n > s.evaluation_periods) {
        d.push(format!("datapoints to alarm {n} (more than the evaluation periods)"));
    }
    if !a.actions_enabled {
        d.push("actions are disabled".into());
    }
    d
}

/// Why the alarm never sees the filter's datapoints because of its `Unit`, if it does not: an
/// alarm with a unit only sees datapoints published with that unit, and a filter's metric is
/// published with the filter's unit (none when it names none).
pub(super) fn unit_problem(a: &Alarm, metric: &MetricTransformation) -> Option<String> {
    let wanted = a.unit.as_deref()?;
    match metric.unit.as_deref() {
        Some(u) if u == wanted => None,
        Some(u) => Some(format!("unit {wanted}, but the filter's metric is published in {u}: the alarm never sees it")),
        None if wanted == "None" => None,
        None => Some(format!("unit {wanted}, but the filter's metric has no unit: the alarm never sees it")),
    }
}

/// Alarm actions that are SNS topics of another account: cwfix can neither check nor fix them.
pub(super) fn foreign_topics<'a>(ctx: &Ctx, a: &'a Alarm) -> Vec<&'a str> {
    a.alarm_actions
        .iter()
        .filter(|x| crate::model::topic_arn_parts(x).is_some_and(|p| p.2 != ctx.snap.account))
        .map(String::as_str)
        .collect()
}

/// The alarm with the baseline's settings enforced; everything else (description, other
/// actions, treatment of missing data) kept as the user had it.
fn corrected(a: &Alarm, s: &AlarmSettings) -> Alarm {
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

/// The control's own alarm, as cwfix creates it.
fn new_alarm(c: &Control, baseline_name: &str, s: &AlarmSettings, metric: &MetricTransformation, topic: &str) -> Alarm {
    Alarm {
        alarm_name: c.alarm_name.clone(),
        alarm_arn: None,
        alarm_description: Some(format!("cwfix: CIS {} {} ({baseline_name})", c.id, c.title)),
        actions_enabled: true,
        alarm_actions: vec![topic.to_string()],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
        metric_name: Some(metric.metric_name.clone()),
        namespace: Some(metric.metric_namespace.clone()),
        statistic: Some(s.statistic.clone()),
        extended_statistic: None,
        dimensions: BTreeMap::new(),
        period: Some(s.period),
        unit: None,
        evaluation_periods: Some(s.evaluation_periods),
        datapoints_to_alarm: None,
        threshold: Some(s.threshold),
        comparison_operator: Some(s.comparison_operator.clone()),
        treat_missing_data: Some(s.treat_missing_data.clone()),
        evaluate_low_sample_count_percentile: None,
        threshold_metric_id: None,
        metrics_json: None,
    }
}

/// What the alarm link needs.
pub(super) struct AlarmPlan {
    pub change: Option<Change>,
    pub reason: Option<String>,
    /// The alarm will notify the baseline's topic, so that topic must reach someone.
    pub uses_baseline_topic: bool,
}

/// Plans the alarm on `metric` in `region`. `Err` is the control's final verdict (unknown or
/// blocked) when the alarm link cannot be decided or fixed.
pub(super) fn plan(ctx: &Ctx, c: &Control, region: &str, metric: &MetricTransformation) -> Result<AlarmPlan, Stop> {
    let settings = &ctx.baseline.alarm;
    let on_metric = ctx.alarms_on(region, metric);
    let good = on_metric.iter().any(|a| {
        setting_diffs(a, settings).is_empty() && unit_problem(a, metric).is_none() && ctx.notifies_someone(a, region)
    });
    if good {
        return Ok(AlarmPlan { change: None, reason: None, uses_baseline_topic: false });
    }
    let topic_arn = ctx.baseline_topic_arn(region);
    // A topic cwfix could not read may well reach someone: that is unknown, never a broken link
    // to "fix" with a second topic.
    let actions = on_metric.iter().flat_map(|a| a.alarm_actions.iter()).chain(std::iter::once(&topic_arn));
    if let Some(t) = actions.filter_map(|arn| ctx.topic(arn)).find(|t| !t.readable) {
        let why = ctx.gap_error(&t.topic_arn).unwrap_or_else(|| "it could not be read".into());
        return Err(Stop::new(
            Status::Unknown,
            format!("cannot tell whether topic `{}` reaches anyone: {why}", t.name),
        ));
    }
    let candidate = on_metric
        .iter()
        .filter(|a| a.metrics_json.is_none())
        .min_by_key(|a| (a.alarm_name != c.alarm_name, setting_diffs(a, settings).len(), a.alarm_name.clone()))
        .copied()
        .or_else(|| ctx.alarm_named(region, &c.alarm_name));
    match candidate {
        Some(a) if a.metrics_json.is_some() => Err(Stop::new(
            Status::Blocked,
            format!("alarm `{}` has the baseline's name but is a metric-math alarm; cwfix will not rewrite it: rename the control's alarm_name", a.alarm_name),
        )),
        Some(a) if !ctx.notifies_someone(a, region) && !foreign_topics(ctx, a).is_empty() => Err(Stop::new(
            Status::Blocked,
            format!(
                "alarm `{}` notifies {}, a topic in another account that cwfix can neither check nor change: confirm there that its policy lets this account's alarms publish and that someone is subscribed, or add a topic of this account",
                a.alarm_name,
                foreign_topics(ctx, a).join(", ")
            ),
        )),
        Some(a) => Ok(fix_existing(ctx, c, region, a, metric, &topic_arn)),
        None => {
            let after = new_alarm(c, &ctx.baseline.name, settings, metric, &topic_arn);
            let reason = format!("no alarm watches {}/{}", metric.metric_namespace, metric.metric_name);
            let change = Change::create(region, &c.id, reason.clone(), Resource::MetricAlarm(after));
            Ok(AlarmPlan { change: Some(change), reason: Some(reason), uses_baseline_topic: true })
        }
    }
}

/// Corrects the user's alarm `a`: settings, the metric it watches, and an action that reaches
/// someone (the baseline's topic is added beside the user's own actions, never instead).
fn fix_existing(
    ctx: &Ctx,
    c: &Control,
    region: &str,
    a: &Alarm,
    metric: &MetricTransformation,
    topic_arn: &str,
) -> AlarmPlan {
    let mut after = corrected(a, &ctx.baseline.alarm);
    let mut why = setting_diffs(a, &ctx.baseline.alarm);
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
    let mut uses_baseline_topic = false;
    if let Some(u) = unit_problem(a, metric) {
        why.push(u);
        after.unit = metric.unit.clone();
    }
    if !ctx.notifies_someone(a, region) {
        let broken: Vec<String> = a.alarm_actions.iter().filter_map(|x| ctx.reaches_someone(x, region).err()).collect();
        why.push(if broken.is_empty() {
            "it notifies nobody (no SNS action)".to_string()
        } else {
            format!("its actions reach nobody ({})", broken.join("; "))
        });
        if !after.alarm_actions.iter().any(|x| x == topic_arn) {
            after.alarm_actions.push(topic_arn.to_string());
        }
        uses_baseline_topic = true;
    }
    let reason = format!("alarm `{}`: {}", a.alarm_name, why.join(", "));
    // Already pointing at the baseline's topic: only its subscribers are missing.
    let change = (after != a.definition()).then(|| {
        Change::update(
            region,
            &c.id,
            reason.clone(),
            Resource::MetricAlarm(a.definition()),
            Resource::MetricAlarm(after),
        )
    });
    AlarmPlan { change, reason: Some(reason), uses_baseline_topic }
}
