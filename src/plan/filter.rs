//! The metric filter link: a filter on the trail's log group whose pattern matches everything
//! the baseline's pattern matches (compared by meaning through `pattern::covers`, never as
//! strings), with a metric transformation. Reuses a covering filter; otherwise repairs the
//! control's "own" filter (by name, by metric, or a provably weaker version of the pattern);
//! otherwise creates one.
//!
//! Which control repairs which existing filter is decided for all controls at once
//! ([`assign_own`]), by a rule that does not depend on the order of controls in the baseline.

use super::{Change, Ctx, Resource};
use crate::baseline::{AlarmSettings, Control};
use crate::model::{ComparisonOperator, Statistic};
use crate::model::{LogGroup, MetricFilter, MetricTransformation};
use crate::pattern::{self, Coverage, Pattern};
use std::collections::{BTreeMap, BTreeSet};

/// Every filter of a log group with its parsed pattern (`None` = does not parse, never counts).
pub(super) type Parsed = Vec<(usize, Option<Pattern>)>;

/// Parses every existing pattern once; returns warnings for those that do not parse.
pub(super) fn parse_all(lg: &LogGroup) -> (Parsed, Vec<String>) {
    let mut warnings = Vec::new();
    let parsed = lg
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
    (parsed, warnings)
}

/// Whether the scanners the control must satisfy (`--satisfy`) accept `pattern`.
pub(super) fn scanners_accept(c: &Control, pattern: &str) -> bool {
    if c.must_pass.is_empty() {
        return true;
    }
    let Some(topic) = crate::scanner::classify(c) else { return true };
    c.must_pass.iter().all(|name| match name.parse::<crate::scanner::Scanner>() {
        Ok(s) => !crate::scanner::verdict(s, topic, pattern).is_fail(),
        Err(_) => true,
    })
}

/// Filters on `lg` that cover the control's pattern, satisfy its scanners, and whose metric
/// counts each matching event enough for the alarm to fire on it.
pub(super) fn covering<'a>(c: &Control, s: &AlarmSettings, lg: &'a LogGroup, parsed: &Parsed) -> Vec<&'a MetricFilter> {
    covering_pattern(c, lg, parsed)
        .into_iter()
        .filter(|f| f.metric_transformations.first().is_some_and(|t| value_problem(t, s).is_none()))
        .collect()
}

/// Filters whose pattern covers the control's and that satisfy its scanners (metric aside).
fn covering_pattern<'a>(c: &Control, lg: &'a LogGroup, parsed: &Parsed) -> Vec<&'a MetricFilter> {
    parsed
        .iter()
        .filter(|(_, p)| p.as_ref().is_some_and(|p| pattern::covers_remembered(p, &c.pattern).is_covered()))
        .map(|(i, _)| &lg.metric_filters[*i])
        .filter(|f| scanners_accept(c, &f.filter_pattern))
        .collect()
}

/// Why a matching event does not by itself bring the metric to the alarm's threshold, if it
/// does not: the filter's `metricValue` is what each match adds.
pub(super) fn value_problem(t: &MetricTransformation, s: &AlarmSettings) -> Option<String> {
    let v = match t.metric_value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => {
            return Some(format!(
                "its metric value `{}` is not a number: cwfix cannot prove that a matching event counts",
                t.metric_value
            ))
        }
    };
    let enough = match s.comparison_operator {
        _ if s.statistic == Statistic::SampleCount => true,
        ComparisonOperator::GreaterThanOrEqualToThreshold => v >= s.threshold,
        ComparisonOperator::GreaterThanThreshold => v > s.threshold,
        _ => true,
    };
    (!enough).then(|| {
        format!(
            "its metric value is {v}: one matching event adds {v}, which never reaches the alarm's threshold of {}",
            s.threshold
        )
    })
}

/// How strongly a filter is a control's own, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Claim {
    /// It has the control's filter name.
    Name,
    /// It emits the control's metric.
    Metric,
    /// Its pattern covers the control's, but its metric does not count matches (metricValue).
    Covering,
    /// Its pattern is provably weaker than the control's (a near miss); `true` = no alarm watches it.
    Weaker { unwatched: bool },
}

/// For each control that has no covering filter, the existing filter it will repair (if any).
/// Every candidate pair is ranked by (claim, filter name, control id) and taken greedily, each
/// filter by at most one control: the same baseline in any order gives the same assignment.
pub(super) fn assign_own<'a>(
    ctx: &Ctx,
    controls: &[&Control],
    lg: &'a LogGroup,
    parsed: &Parsed,
) -> BTreeMap<String, &'a MetricFilter> {
    let mut pairs: Vec<(Claim, &str, &str, &'a MetricFilter)> = Vec::new();
    for c in controls {
        for (i, p) in parsed {
            let f = &lg.metric_filters[*i];
            if let Some(claim) = claim(ctx, c, f, p.as_ref(), &lg.group.region) {
                pairs.push((claim, &f.filter_name, &c.id, f));
            }
        }
    }
    pairs.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut taken_filters = BTreeSet::new();
    let mut out = BTreeMap::new();
    for (_, filter_name, control, f) in pairs {
        if out.contains_key(control) || taken_filters.contains(filter_name) {
            continue;
        }
        taken_filters.insert(filter_name);
        out.insert(control.to_string(), f);
    }
    out
}

fn claim(ctx: &Ctx, c: &Control, f: &MetricFilter, p: Option<&Pattern>, region: &str) -> Option<Claim> {
    if f.filter_name == c.filter_name {
        return Some(Claim::Name);
    }
    if f.metric_transformations.iter().any(|t| t.metric_name == c.metric_name && t.metric_namespace == c.namespace) {
        return Some(Claim::Metric);
    }
    let covers = p.is_some_and(|p| pattern::covers_remembered(p, &c.pattern).is_covered());
    if covers && scanners_accept(c, &f.filter_pattern) && !f.metric_transformations.is_empty() {
        return Some(Claim::Covering);
    }
    let weaker = p.is_some_and(|p| pattern::covers_remembered(&c.pattern, p).is_covered());
    let first = f.metric_transformations.first()?;
    weaker.then(|| Claim::Weaker { unwatched: ctx.alarms_on(region, first).is_empty() })
}

/// What the filter link needs.
pub(super) struct FilterPlan {
    /// The metric the alarm must watch.
    pub metric: MetricTransformation,
    /// The pattern the control will rely on once applied (for scanner verdicts).
    pub pattern: String,
    pub change: Option<Change>,
    pub reason: Option<String>,
}

/// Plans the filter of `c` on `lg`: reuse a covering filter, repair `own`, or create one.
pub(super) fn plan(ctx: &Ctx, c: &Control, lg: &LogGroup, parsed: &Parsed, own: Option<&MetricFilter>) -> FilterPlan {
    let region = &lg.group.region;
    let cover = covering(c, &ctx.baseline.alarm, lg, parsed);
    let reuse = cover
        .iter()
        .find(|f| !ctx.alarms_on(region, &f.metric_transformations[0]).is_empty())
        .or_else(|| cover.iter().find(|f| f.filter_name == c.filter_name))
        .or(cover.first());
    if let Some(f) = reuse {
        return FilterPlan {
            metric: f.metric_transformations[0].clone(),
            pattern: f.filter_pattern.clone(),
            change: None,
            reason: None,
        };
    }
    match own {
        Some(f) => repair(c, &ctx.baseline.alarm, region, f),
        None => create(c, lg),
    }
}

/// Keeps the filter's name and metric (alarms may watch it) and fixes what keeps it from
/// counting the baseline's events: the pattern, a missing metric, or its metric value.
fn repair(c: &Control, s: &AlarmSettings, region: &str, f: &MetricFilter) -> FilterPlan {
    let mut after = f.clone();
    let mut why = Vec::new();
    let pattern_covers =
        pattern::parse(&f.filter_pattern).is_ok_and(|p| pattern::covers_remembered(&p, &c.pattern).is_covered());
    if !pattern_covers || !scanners_accept(c, &f.filter_pattern) || f.metric_transformations.is_empty() {
        why.push(why_not_covering(c, f));
        after.filter_pattern = c.pattern.source().trim().to_string();
    }
    if after.metric_transformations.is_empty() {
        after.metric_transformations = vec![new_transformation(c)];
    }
    if let Some(problem) = value_problem(&after.metric_transformations[0], s) {
        why.push(format!("{problem} (set to 1)"));
        after.metric_transformations[0].metric_value = "1".into();
    }
    let why = why.join("; ");
    let reason = format!("metric filter `{}`: {why}", f.filter_name);
    FilterPlan {
        metric: after.metric_transformations[0].clone(),
        pattern: after.filter_pattern.clone(),
        change: Some(Change::update(
            region,
            &c.id,
            why,
            Resource::MetricFilter(f.clone()),
            Resource::MetricFilter(after),
        )),
        reason: Some(reason),
    }
}

fn why_not_covering(c: &Control, f: &MetricFilter) -> String {
    match pattern::parse(&f.filter_pattern) {
        Err(e) => format!("its pattern does not parse ({})", e.to_string().lines().next().unwrap_or("")),
        Ok(p) => match pattern::covers_remembered(&p, &c.pattern) {
            Coverage::NotCovered { witness: Some(w), .. } => {
                format!("its pattern matches less than the baseline: it misses events such as {w}")
            }
            Coverage::NotCovered { reason, .. } => format!("its pattern matches less than the baseline: {reason}"),
            Coverage::Unknown { reason } => {
                format!("cwfix cannot prove its pattern matches everything the baseline does: {reason}")
            }
            Coverage::Covers if !scanners_accept(c, &f.filter_pattern) => {
                format!("rewritten so that {} accept it (same meaning or broader)", c.must_pass.join(", "))
            }
            Coverage::Covers => "it has no metric transformation".into(),
        },
    }
}

fn create(c: &Control, lg: &LogGroup) -> FilterPlan {
    let after = MetricFilter {
        log_group_name: lg.group.name.clone(),
        filter_name: c.filter_name.clone(),
        filter_pattern: c.pattern.source().trim().to_string(),
        metric_transformations: vec![new_transformation(c)],
        apply_on_transformed_logs: None,
    };
    let why = if lg.metric_filters.is_empty() {
        "the log group has no metric filters".to_string()
    } else {
        format!(
            "none of the {} metric filters on the log group matches everything the baseline pattern matches",
            lg.metric_filters.len()
        )
    };
    FilterPlan {
        metric: after.metric_transformations[0].clone(),
        pattern: after.filter_pattern.clone(),
        change: Some(Change::create(&lg.group.region, &c.id, why.clone(), Resource::MetricFilter(after))),
        reason: Some(why),
    }
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
