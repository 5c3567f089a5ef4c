//! What each scanner says about a control *now*, on the live account: its rule for the
//! pattern (`crate::scanner`) plus the part of the chain it checks (`docs/baselines.md`,
//! "Scanner rules"):
//!
//! | scanner | trails it looks at | alarm | notification |
//! |---|---|---|---|
//! | Security Hub | multi-region, logging, all management events | on the filter's metric | a confirmed subscriber |
//! | Prowler | any trail with a log group | by metric name only | not checked |
//! | Steampipe | multi-region, logging, all management events | by metric name only | any subscription (pending counts) |
//! | CloudSploit | any trail with a log group | not checked | not checked |
//!
//! The verdict after apply is the pattern verdict of the filter the plan leaves in place (the
//! rest of the chain is what the plan builds); for a control the plan does not change, it is
//! the verdict now.

use super::Ctx;
use crate::baseline::Control;
use crate::model::{LogGroup, LogGroupRef, MetricFilter, Trail};
use crate::scanner::{self, MonitoringTopic, Scanner, Verdict};
use std::collections::BTreeMap;

/// Per scanner, its verdict on the live chain for `c` (empty when `c` maps to no topic).
pub(super) fn now(ctx: &Ctx, c: &Control) -> BTreeMap<String, Verdict> {
    let Some(topic) = scanner::classify(c) else { return BTreeMap::new() };
    Scanner::ALL.iter().map(|s| (s.as_str().to_string(), live(ctx, *s, topic))).collect()
}

fn live(ctx: &Ctx, s: Scanner, topic: MonitoringTopic) -> Verdict {
    if !scanner::evaluates(s, topic) {
        return scanner::verdict(s, topic, "");
    }
    let groups = log_groups(ctx, s);
    if groups.is_empty() {
        return fail(match s {
            Scanner::SecurityHub | Scanner::Steampipe => {
                "no multi-region, logging trail with all management events delivers to CloudWatch Logs"
            }
            _ => "no trail delivers to CloudWatch Logs",
        });
    }
    let accepted: Vec<(&LogGroup, &MetricFilter)> = groups
        .iter()
        .flat_map(|g| g.metric_filters.iter().map(move |f| (*g, f)))
        .filter(|(_, f)| scanner::verdict(s, topic, &f.filter_pattern).is_pass())
        .collect();
    if accepted.is_empty() {
        return fail(&format!("no metric filter on the trail's log group is one {} accepts", s.display_name()));
    }
    if s == Scanner::CloudSploit {
        return Verdict::Pass;
    }
    let alarmed: Vec<_> = accepted.iter().flat_map(|(g, f)| alarms(ctx, s, g, f)).collect();
    if alarmed.is_empty() {
        let names: Vec<&str> = accepted.iter().map(|(_, f)| f.filter_name.as_str()).collect();
        return fail(&format!("filter `{}` is accepted, but no alarm watches its metric", names.join("`, `")));
    }
    if s == Scanner::Prowler {
        return Verdict::Pass;
    }
    let notified = alarmed.iter().any(|(region, a)| {
        a.alarm_actions.iter().filter_map(|arn| ctx.topic(arn)).any(|t| {
            t.region == *region
                && match s {
                    Scanner::SecurityHub => t.confirmed_subscriptions().next().is_some(),
                    _ => !t.subscriptions.is_empty(),
                }
        })
    });
    if notified {
        Verdict::Pass
    } else {
        fail(match s {
            Scanner::SecurityHub => "the alarm's topic has no confirmed subscriber",
            _ => "the alarm's topic has no subscription",
        })
    }
}

fn fail(reason: &str) -> Verdict {
    Verdict::Fail { reason: reason.to_string() }
}

fn trail_counts(s: Scanner, t: &Trail) -> bool {
    match s {
        Scanner::SecurityHub | Scanner::Steampipe => {
            t.is_multi_region && t.is_logging == Some(true) && t.management_events_all == Some(true)
        }
        Scanner::Prowler | Scanner::CloudSploit => true,
    }
}

/// The log groups (of this account) that trails the scanner looks at deliver to.
fn log_groups<'a>(ctx: &Ctx<'a>, s: Scanner) -> Vec<&'a LogGroup> {
    let wanted: Vec<LogGroupRef> = ctx
        .snap
        .trails
        .iter()
        .filter(|t| trail_counts(s, t))
        .filter_map(|t| t.log_group_arn.as_deref().and_then(LogGroupRef::from_arn))
        .collect();
    ctx.snap.log_groups.iter().filter(|g| g.exists && wanted.contains(&g.group)).collect()
}

/// Alarms the scanner counts for filter `f`: Security Hub on the metric (name and namespace),
/// Prowler and Steampipe by metric name only.
fn alarms<'a>(ctx: &Ctx<'a>, s: Scanner, g: &LogGroup, f: &MetricFilter) -> Vec<(&'a str, &'a crate::model::Alarm)> {
    ctx.snap
        .alarms
        .iter()
        .filter(|ra| ra.region == g.group.region)
        .filter(|ra| {
            f.metric_transformations.iter().any(|t| match s {
                Scanner::SecurityHub => ra.alarm.watches(&t.metric_name, &t.metric_namespace),
                _ => ra.alarm.metric_name.as_deref() == Some(t.metric_name.as_str()),
            })
        })
        .map(|ra| (ra.region.as_str(), &ra.alarm))
        .collect()
}
