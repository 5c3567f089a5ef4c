//! The plan as Terraform-like text: a verdict per control, then each change with its reason
//! and attributes (`+` create, `~` update, `before -> after`), pattern changes as a line diff,
//! and the closing `Plan:` / `No changes.` line.

use super::Style;
use crate::plan::{Action, Change, Plan, Resource, Status};
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
        p.account,
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
    for (i, c) in p.controls.iter().enumerate() {
        writeln!(out, "  {} {:<w$}  {}", status_mark(c.status, st), c.id, c.title)?;
        // Controls blocked for one shared reason (no trail, no subscriber) say it once.
        let same_as_next = p.controls.get(i + 1).is_some_and(|n| n.status == c.status && n.reason == c.reason);
        if !same_as_next {
            writeln!(out, "          {:<w$}  {}", "", st.dim(&c.reason))?;
        }
        if !c.scanners.is_empty() {
            let list: Vec<String> = c
                .scanners
                .iter()
                .map(|(name, v)| match v {
                    serde_json::Value::String(s) if s == "pass" => format!("{name} {}", st.green("pass")),
                    serde_json::Value::Object(o) if o.contains_key("fail") => format!("{name} {}", st.red("FAIL")),
                    _ => format!("{name} -"),
                })
                .collect();
            writeln!(out, "          {:<w$}  {} {}", "", st.dim("scanners:"), list.join(", "))?;
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
    let has_create = p.changes.iter().any(|c| c.action == Action::Create);
    let has_update = p.changes.iter().any(|c| c.action == Action::Update);
    writeln!(
        out,
        "cwfix will perform the following actions (symbols:{}{}):",
        if has_create { " + create" } else { "" },
        if has_update { " ~ update in place" } else { "" }
    )?;
    for ch in &p.changes {
        writeln!(out)?;
        change(ch, out, st)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        st.bold(&format!(
            "Plan: {} to add, {} to change, {} to destroy.",
            p.summary.add, p.summary.change, p.summary.destroy
        ))
    )?;
    Ok(())
}

fn change(ch: &Change, out: &mut dyn Write, st: &Style) -> io::Result<()> {
    let verb = match ch.action {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
    };
    writeln!(out, "  {}", st.bold(&format!("# {} {verb}", ch.address)))?;
    writeln!(out, "  {}", st.dim(&format!("# ({}; controls {}) {}", ch.region, ch.controls.join(", "), ch.reason)))?;
    match ch.action {
        Action::Create => {
            writeln!(out, "  {} {} {{", st.green("+"), ch.kind.as_str())?;
            let after = serde_json::to_value(&ch.after).unwrap_or_default();
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
                            writeln!(out, "      {} {:<w$} = {}", st.green("+"), format!("{k}.{ak}"), shown)?;
                        }
                        continue;
                    }
                    writeln!(out, "      {} {:<w$} = {}", st.green("+"), k, value_text(v))?;
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
