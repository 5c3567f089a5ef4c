//! The first links: which trail (multi-region, logging, all management events) delivers to
//! which log group, and which of those carries the chain. Also the reason a control is blocked
//! or unknown when no trail of this account can carry it.

use super::{Ctx, Outcome, Status, Via};
use crate::model::{Gap, LogGroup, LogGroupRef, Trail};

/// The trails that can carry the chain, and what to say when none can.
pub(super) struct Chain<'a> {
    /// Usable trails with their log group, sorted by trail ARN.
    pub usable: Vec<(&'a Trail, &'a LogGroup)>,
    /// Why each other trail cannot carry it ("trail `x` is not multi-region, ...").
    pub notes: Vec<String>,
    /// A trail that would do but delivers to another account's log group, and that account.
    pub foreign_owner: Option<(&'a Trail, String)>,
}

impl<'a> Chain<'a> {
    pub fn find(ctx: &Ctx<'a>) -> Chain<'a> {
        let snap = ctx.snap;
        let mut usable = Vec::new();
        let mut notes = Vec::new();
        for t in &snap.trails {
            let problems = trail_problems(t, &snap.account, &snap.log_groups);
            if problems.is_empty() {
                let g = t.log_group_arn.as_deref().and_then(LogGroupRef::from_arn);
                if let Some(lg) = g.and_then(|g| snap.log_groups.iter().find(|x| x.group == g)) {
                    usable.push((t, lg));
                    continue;
                }
            }
            notes.push(format!("trail `{}` {}", t.name, problems.join(", ")));
        }
        let foreign_owner = snap.trails.iter().find_map(|t| {
            let g = t.log_group_arn.as_deref().and_then(LogGroupRef::from_arn)?;
            (g.account != snap.account && t.is_multi_region && t.is_logging != Some(false)).then_some((t, g.account))
        });
        Chain { usable, notes, foreign_owner }
    }

    /// The log group where changes go: the usable one where most controls already hold
    /// (`holds[i]` = controls holding through `usable[i]`); ties go to the smaller trail ARN.
    pub fn primary(&self, holds: &[usize]) -> Option<(&'a Trail, &'a LogGroup)> {
        self.usable
            .iter()
            .zip(holds)
            .max_by(|(a, na), (b, nb)| na.cmp(nb).then_with(|| b.0.arn.cmp(&a.0.arn)))
            .map(|(u, _)| *u)
    }

    /// The verdict of a control that does not hold when no usable trail exists.
    pub fn without_usable_trail(&self, ctx: &Ctx) -> Outcome {
        let snap = ctx.snap;
        let trail_gaps: Vec<&Gap> = snap.gaps.iter().filter(|g| g.action.starts_with("cloudtrail:")).collect();
        if !trail_gaps.is_empty() && snap.trails.is_empty() {
            return Outcome::verdict(Status::Unknown, format!("cannot list trails: {}", trail_gaps[0].error));
        }
        if let Some((t, owner)) = &self.foreign_owner {
            // An organization trail delivering to another account's log group: the chain lives
            // there. Not a gap of this account, and nothing cwfix can see from here.
            return Outcome::verdict(
                Status::Unknown,
                format!(
                    "monitored in account {owner}: trail `{}` delivers to a log group there; plan that account (e.g. `cwfix plan --assume-role arn:{}:iam::{owner}:role/ROLE`)",
                    t.name, snap.partition
                ),
            );
        }
        if snap.trails.is_empty() {
            return Outcome::verdict(
                Status::Blocked,
                format!(
                    "no CloudTrail trail in {}: create a multi-region trail that logs all management events and delivers to a CloudWatch Logs log group (cwfix does not create trails or log groups)",
                    snap.regions.join(", ")
                ),
            );
        }
        Outcome::verdict(
            Status::Blocked,
            format!(
                "no trail can carry the chain: {}; fix one trail (cwfix does not change trails or create log groups)",
                self.notes.join("; ")
            ),
        )
    }
}

/// Why a trail cannot carry the chain (empty when it can).
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
            if groups.iter().any(|x| x.group == g && !x.exists) {
                p.push(format!("delivers to log group `{}` in {}, which does not exist", g.name, g.region));
            }
        }
    }
    p
}

/// The verdict of a control that holds through `via`.
pub(super) fn compliant(ctx: &Ctx, via: Via) -> Outcome {
    let pattern = ctx
        .snap
        .log_groups
        .iter()
        .filter(|g| g.group.name == via.log_group && g.group.region == via.region)
        .flat_map(|g| g.metric_filters.iter())
        .find(|f| f.filter_name == via.metric_filter)
        .map(|f| f.filter_pattern.clone());
    let topic = via.topic.rsplit(':').next().unwrap_or("").to_string();
    Outcome {
        status: Status::Compliant,
        reason: format!("metric filter `{}` -> alarm `{}` -> topic `{topic}`", via.metric_filter, via.alarm),
        via: Some(via),
        changes: vec![],
        pattern,
    }
}
