//! The plan as Terraform-like text: a verdict per control, then each change with its reason
//! and attributes (`+` create, `~` update, `before -> after`), pattern changes as a line diff,
//! and the closing `Plan:` / `No changes.` line.

use super::Style;
use crate::org::{Row, Summary as OrgSummary};
use crate::plan::{Action, Change, Plan, Resource, Status};
use crate::scanner::Verdict;
use serde_json::Value;
use std::io::{self, Write};

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn status_mark(s: Status, st: &Style) -> String {
    match s {
        Status::Compliant => st.green("ok     "),
        Status::Changes => st.yellow("change "),
        Status::Blocked => st.red("blocked"),
        Status::Unknown => st.red("unknown"),
    }
}

/// Renders the whole plan.
pub fn plan(p: &Plan, out: &mut dyn Write, st: &Style) -> io::Result<()> {
    writeln!(
        out,
        "Account {}, baseline {} ({}), regions {}",
        p.account_label(),
        p.baseline.name,
        p.baseline.origin,
        p.regions.join(", ")
    )?;
    if let Some(c) = &p.chain {
        writeln!(out, "Trail {} -> log group {} ({})", c.trail, c.log_group.name, c.log_group.region)?;
    }
    writeln!(out)?;
    writeln!(out, "{}", st.bold("Controls:"))?;
    let w = p.controls.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &p.controls {
        let severity = c.severity.map(|s| format!("  [{}]", s.as_str())).unwrap_or_default();
        writeln!(out, "  {} {:<w$}  {}{}", status_mark(c.status, st), c.id, c.title, st.dim(&severity))?;
        // Every control says why it stands where it stands, even when others share the reason:
        // a reader looking up one control must not have to look elsewhere.
        writeln!(out, "          {:<w$}  {}", "", st.dim(&c.reason))?;
        if let (true, Some(r)) = (c.status != Status::Compliant, &c.rationale) {
            writeln!(out, "          {:<w$}  {} {}", "", st.dim("why it matters:"), st.dim(r))?;
        }
        if !c.scanners.is_empty() {
            // Now -> after apply, so no verdict is silently about the planned state.
            let mark = |v: &Verdict| match v {
                Verdict::Pass => st.green("pass"),
                Verdict::Fail { .. } => st.red("FAIL"),
                Verdict::NotChecked { .. } => "-".to_string(),
            };
            let list: Vec<String> = c
                .scanners
                .iter()
                .map(|(name, after)| match c.scanners_now.get(name) {
                    Some(now) if now != after => format!("{name} {} -> {}", mark(now), mark(after)),
                    _ => format!("{name} {}", mark(after)),
                })
                .collect();
            writeln!(out, "          {:<w$}  {} {}", "", st.dim("scanners (now -> after apply):"), list.join(", "))?;
        }
    }
    for warn in &p.warnings {
        writeln!(out, "{} {warn}", st.yellow("warning:"))?;
    }
    if p.changes.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", st.bold("No changes."))?;
        let open = p.controls.iter().filter(|c| c.status != Status::Compliant).count();
        if open > 0 {
            writeln!(out, "{open} control(s) are blocked or unknown: see their reasons above; cwfix cannot fix them.")?;
        } else {
            writeln!(out, "Every control of the baseline holds.")?;
        }
        return Ok(());
    }
    writeln!(out)?;
    changes(&p.changes, "Plan", out, st)
}

/// The changes section: the legend, each change, and the `<noun>: N to add, N to change, N to
/// destroy.` line counted from these changes (shared by plans and rollbacks).
pub fn changes(changes: &[Change], noun: &str, out: &mut dyn Write, st: &Style) -> io::Result<()> {
    let has = |a: Action| changes.iter().any(|c| c.action == a);
    writeln!(
        out,
        "cwfix will perform the following actions (symbols:{}{}{}):",
        if has(Action::Create) { " + create" } else { "" },
        if has(Action::Update) { " ~ update in place" } else { "" },
        if has(Action::Delete) { " - destroy" } else { "" }
    )?;
    for ch in changes {
        writeln!(out)?;
        change(ch, out, st)?;
    }
    let s = crate::plan::Summary::of(changes);
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        st.bold(&format!("{noun}: {} to add, {} to change, {} to destroy.", s.add, s.change, s.destroy))
    )?;
    Ok(())
}

fn change(ch: &Change, out: &mut dyn Write, st: &Style) -> io::Result<()> {
    let verb = match ch.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Delete => "will be destroyed",
    };
    writeln!(out, "  {}", st.bold(&format!("# {} {verb}", ch.address)))?;
    let by = if ch.controls.is_empty() {
        ch.control.clone().unwrap_or_default()
    } else {
        format!("controls {}", ch.controls.join(", "))
    };
    writeln!(out, "  {}", st.dim(&format!("# ({}; {by}) {}", ch.region, ch.reason)))?;
    match ch.action {
        Action::Create | Action::Delete => {
            let (sign, shown) = match ch.action {
                Action::Create => (st.green("+"), &ch.after),
                _ => (st.red("-"), &ch.before),
            };
            writeln!(out, "  {sign} {} {{", ch.kind.as_str())?;
            let after = serde_json::to_value(shown).unwrap_or_default();
            if let Some(obj) = after.as_object() {
                let w = obj.keys().map(|k| k.len()).max().unwrap_or(0);
                for (k, v) in obj {
                    if matches!(v, Value::Array(a) if a.is_empty()) || v.is_null() {
                        continue;
                    }
                    if k == "attributes" || k == "tags" {
                        for (ak, av) in v.as_object().into_iter().flatten() {
                            let shown = if ak == "Policy" {
                                "(topic policy: owner manages; cloudwatch.amazonaws.com may publish for this account's alarms)".to_string()
                            } else {
                                value_text(av)
                            };
                            writeln!(out, "      {sign} {:<w$} = {}", format!("{k}.{ak}"), shown)?;
                        }
                        continue;
                    }
                    writeln!(out, "      {sign} {:<w$} = {}", k, value_text(v))?;
                }
            }
            writeln!(out, "    }}")?;
        }
        Action::Update => {
            writeln!(out, "  {} {} {{", st.yellow("~"), ch.kind.as_str())?;
            for f in &ch.fields {
                if f.field == "filter_pattern" {
                    writeln!(out, "      {} filter_pattern:", st.yellow("~"))?;
                    pattern_diff(f.before.as_str().unwrap_or(""), f.after.as_str().unwrap_or(""), out, st)?;
                } else {
                    writeln!(
                        out,
                        "      {} {} = {} -> {}",
                        st.yellow("~"),
                        f.field,
                        value_text(&f.before),
                        value_text(&f.after)
                    )?;
                }
            }
            if let Some(Resource::MetricAlarm(_) | Resource::MetricFilter(_)) = &ch.before {
                writeln!(out, "      {}", st.dim("(other attributes unchanged)"))?;
            }
            writeln!(out, "    }}")?;
        }
    }
    Ok(())
}

/// Shows a pattern change as a diff of its `||`/`&&` clauses, one per line, so a missing event
/// name stands out even in a 1000-character pattern.
fn pattern_diff(before: &str, after: &str, out: &mut dyn Write, st: &Style) -> io::Result<()> {
    let split = |s: &str| -> String {
        let s = s.trim();
        let (open, body, close) = match (s.strip_prefix('{'), s.ends_with('}')) {
            (Some(rest), true) => ("{\n", rest[..rest.len() - 1].to_string(), "\n}"),
            _ => ("", s.to_string(), ""),
        };
        let mut t = format!("{open}{}{close}", body.replace("||", "\n||").replace("&&", "\n&&"));
        t.push('\n');
        t.lines().map(|l| l.trim().to_string() + "\n").collect()
    };
    let (b, a) = (split(before), split(after));
    let diff = similar::TextDiff::from_lines(&b, &a);
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end();
        match change.tag() {
            similar::ChangeTag::Delete => writeln!(out, "          {} {}", st.red("-"), st.red(line))?,
            similar::ChangeTag::Insert => writeln!(out, "          {} {}", st.green("+"), st.green(line))?,
            similar::ChangeTag::Equal => writeln!(out, "            {}", st.dim(line))?,
        }
    }
    Ok(())
}

/// The closing table of a run over several accounts: one row per account (control counts by
/// status and planned adds/changes, or why it could not be read), then the totals.
pub fn organization(rows: &[Row], s: &OrgSummary, out: &mut dyn Write, st: &Style) -> io::Result<()> {
    writeln!(
        out,
        "{}",
        st.bold(&format!(
            "Organization: {} account(s), {} planned, {} could not be read",
            s.accounts, s.planned, s.unread
        ))
    )?;
    let wa = rows.iter().map(|r| r.account.len()).chain([7]).max().unwrap_or(12);
    let wl = rows.iter().filter_map(|r| r.alias.as_ref().map(|a| a.len())).chain([5]).max().unwrap_or(5);
    writeln!(
        out,
        "  {:<wa$}  {:<wl$}  {:>9}  {:>7}  {:>7}  {:>7}  {:>4}  {:>6}  NOTE",
        "ACCOUNT", "ALIAS", "COMPLIANT", "CHANGES", "BLOCKED", "UNKNOWN", "ADD", "CHANGE"
    )?;
    for r in rows {
        let alias = r.alias.as_deref().unwrap_or("-");
        match &r.result {
            Ok((c, add, change)) => {
                let note = r.monitored_in.as_ref().map(|o| format!("chain in account {o}")).unwrap_or_default();
                let line = format!(
                    "  {:<wa$}  {:<wl$}  {:>9}  {:>7}  {:>7}  {:>7}  {:>4}  {:>6}  {}",
                    r.account, alias, c.compliant, c.changes, c.blocked, c.unknown, add, change, note
                );
                writeln!(out, "{}", line.trim_end())?;
            }
            Err(e) => writeln!(out, "  {:<wa$}  {:<wl$}  {} {e}", r.account, alias, st.red("error:"))?,
        }
    }
    writeln!(
        out,
        "  {:<wa$}  {:<wl$}  {:>9}  {:>7}  {:>7}  {:>7}  {:>4}  {:>6}",
        "TOTAL", "", s.compliant, s.changes, s.blocked, s.unknown, s.add, s.change
    )?;
    writeln!(
        out,
        "{}",
        st.bold(&format!("Plan (all accounts): {} to add, {} to change, {} to destroy.", s.add, s.change, s.destroy))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BaselineInfo, Change, ControlVerdict, FieldChange, Kind, Plan, Summary};
    use crate::render::Style;
    use serde_json::json;

    fn sample() -> Plan {
        let before: crate::model::Alarm = serde_json::from_value(json!({
            "alarm_name": "a", "actions_enabled": true, "alarm_actions": ["arn:aws:sns:us-east-1:1:t"],
            "metric_name": "M", "namespace": "N", "statistic": "Sum", "period": 60, "threshold": 1.0,
            "comparison_operator": "GreaterThanOrEqualToThreshold", "evaluation_periods": 1
        }))
        .unwrap();
        let mut after = before.clone();
        after.period = Some(300);
        let filter: crate::model::MetricFilter = serde_json::from_value(json!({
            "log_group_name": "ct", "filter_name": "f", "filter_pattern": "{ ($.eventName = A) || ($.eventName = B) }",
            "metric_transformations": [{"metric_name": "M", "metric_namespace": "N", "metric_value": "1"}]
        }))
        .unwrap();
        let mut weaker = filter.clone();
        weaker.filter_pattern = "{ ($.eventName = A) }".into();
        Plan {
            format_version: "1.0".into(),
            cwfix_version: "0".into(),
            account: "123456789012".into(),
            partition: "aws".into(),
            regions: vec!["us-east-1".into()],
            baseline: BaselineInfo {
                name: "b".into(),
                origin: "shipped:b".into(),
                hash: "h".into(),
                topic: None,
                subscribe: vec![],
                satisfy: vec![],
            },
            state_fingerprint: "f".into(),
            chain: None,
            controls: vec![
                ControlVerdict {
                    id: "1".into(),
                    title: "One".into(),
                    status: Status::Changes,
                    reason: "alarm `a`: period 60 (want 300)".into(),
                    via: None,
                    changes: vec!["metric_alarm.a".into()],
                    scanners: Default::default(),
                    scanners_now: Default::default(),
                    severity: Some(crate::baseline::Severity::Low),
                    rationale: Some("Probing shows up as denied calls.".into()),
                    remediation: None,
                },
                ControlVerdict {
                    id: "2".into(),
                    title: "Two".into(),
                    status: Status::Blocked,
                    reason: "no trail".into(),
                    via: None,
                    changes: vec![],
                    scanners: Default::default(),
                    scanners_now: Default::default(),
                    severity: None,
                    rationale: None,
                    remediation: None,
                },
                ControlVerdict {
                    id: "3".into(),
                    title: "Three".into(),
                    status: Status::Blocked,
                    reason: "no trail".into(),
                    via: None,
                    changes: vec![],
                    scanners: Default::default(),
                    scanners_now: Default::default(),
                    severity: None,
                    rationale: None,
                    remediation: None,
                },
            ],
            changes: vec![
                Change {
                    address: crate::plan::Addr::metric_filter("ct", "f"),
                    kind: Kind::MetricFilter,
                    action: Action::Update,
                    region: "us-east-1".into(),
                    control: Some("1".into()),
                    controls: vec!["1".into()],
                    reason: "matches less".into(),
                    fields: vec![FieldChange {
                        field: "filter_pattern".into(),
                        before: json!(weaker.filter_pattern),
                        after: json!(filter.filter_pattern),
                    }],
                    before: Some(Resource::MetricFilter(weaker)),
                    after: Some(Resource::MetricFilter(filter)),
                },
                Change {
                    address: crate::plan::Addr::metric_alarm("a"),
                    kind: Kind::MetricAlarm,
                    action: Action::Update,
                    region: "us-east-1".into(),
                    control: Some("1".into()),
                    controls: vec!["1".into()],
                    reason: "period".into(),
                    fields: vec![FieldChange { field: "period".into(), before: json!(60), after: json!(300) }],
                    before: Some(Resource::MetricAlarm(before)),
                    after: Some(Resource::MetricAlarm(after)),
                },
            ],
            summary: Summary { add: 0, change: 2, destroy: 0 },
            monitored_in: None,
            warnings: vec![],
            relied_on: Default::default(),
            account_alias: None,
            caller_arn: "arn:aws:iam::123456789012:user/x".into(),
        }
    }

    #[test]
    fn plan_text_is_stable() {
        let mut out = Vec::new();
        plan(&sample(), &mut out, &Style { color: false }).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn colour_only_when_asked() {
        let mut plain = Vec::new();
        plan(&sample(), &mut plain, &Style { color: false }).unwrap();
        assert!(!String::from_utf8(plain).unwrap().contains('\x1b'));
        let mut coloured = Vec::new();
        plan(&sample(), &mut coloured, &Style { color: true }).unwrap();
        assert!(String::from_utf8(coloured).unwrap().contains("\x1b[33m"));
    }

    #[test]
    fn organization_table_is_stable() {
        use crate::org::{OrgPlan, Outcome, Unread};
        let mut p = sample();
        p.account_alias = Some("prod-logging".into());
        let mut member = sample();
        member.account = "210987654321".into();
        member.monitored_in = Some(p.account.clone());
        let org = OrgPlan {
            outcomes: vec![
                Outcome::Planned(Box::new(p)),
                Outcome::Planned(Box::new(member)),
                Outcome::Unread(Unread {
                    account: "111122223333".into(),
                    error: "cannot assume role `r`: `sts:AssumeRole` was denied".into(),
                }),
            ],
        };
        let mut out = Vec::new();
        organization(&org.rows(), &org.summary(), &mut out, &Style { color: false }).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }
}
