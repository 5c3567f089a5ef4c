//! `cwfix baselines [show NAME]`: the shipped baselines, and one baseline resolved, with each
//! control's pattern, names, severity, rationale and remediation.

use super::{BaselinesCmd, Exit, OutputFormat};
use std::io::Write;

pub fn run(cmd: Option<&BaselinesCmd>, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<Exit> {
    use crate::baseline;
    match cmd {
        None => {
            let mut rows = Vec::new();
            for name in baseline::shipped_names() {
                let b = baseline::load(name)?;
                rows.push(b);
            }
            if format == OutputFormat::Json {
                let doc: Vec<_> = rows
                    .iter()
                    .map(|b| serde_json::json!({"name": b.name, "aliases": b.aliases, "title": b.title, "source": b.source, "controls": b.controls.len(), "queries": b.queries.len(), "min_retention_days": b.min_retention_days}))
                    .collect();
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else {
                let w = rows.iter().map(|b| b.name.len()).max().unwrap_or(0);
                for b in &rows {
                    let default = if b.name == baseline::DEFAULT_BASELINE { " (default)" } else { "" };
                    let mut extra = String::new();
                    if !b.queries.is_empty() {
                        extra.push_str(&format!(", {} saved queries", b.queries.len()));
                    }
                    if let Some(d) = b.min_retention_days {
                        extra.push_str(&format!(", retention >= {d} days"));
                    }
                    writeln!(out, "{:<w$}  {:>2} controls{extra}  {}{}", b.name, b.controls.len(), b.title, default)?;
                    if !b.aliases.is_empty() {
                        writeln!(out, "{:<w$}  also: {}", "", b.aliases.join(", "))?;
                    }
                    writeln!(out, "{:<w$}  source: {}", "", b.source)?;
                }
            }
        }
        Some(BaselinesCmd::Show { name }) => {
            let b = baseline::load(name).map_err(anyhow::Error::from)?;
            if format == OutputFormat::Json {
                let doc = serde_json::json!({
                    "name": b.name, "title": b.title, "source": b.source, "aliases": b.aliases, "notes": b.notes,
                    "hash": b.hash(), "alarm": b.alarm, "notification": b.notification,
                    "controls": b.controls.iter().map(|c| serde_json::json!({
                        "id": c.id, "title": c.title, "pattern": c.pattern.source(), "canonical": c.pattern.canonical(),
                        "metric_name": c.metric_name, "namespace": c.namespace, "filter_name": c.filter_name,
                        "alarm_name": c.alarm_name, "scanner_ids": c.scanner_ids,
                        "severity": c.severity, "rationale": c.rationale, "remediation": c.remediation,
                    })).collect::<Vec<_>>(),
                });
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{} — {}", b.name, b.title)?;
                writeln!(out, "source: {}", b.source)?;
                for n in &b.notes {
                    writeln!(out, "note: {n}")?;
                }
                let a = &b.alarm;
                writeln!(
                    out,
                    "alarm: {} over {} s {} {} for {} period(s), missing data {}",
                    a.statistic,
                    a.period,
                    a.comparison_operator,
                    a.threshold,
                    a.evaluation_periods,
                    a.treat_missing_data
                )?;
                writeln!(out, "topic: {}", b.notification.topic.name())?;
                for s in &b.notification.subscriptions {
                    writeln!(out, "  subscription: {}:{}", s.protocol, s.endpoint)?;
                }
                for c in &b.controls {
                    writeln!(out)?;
                    let sev = c.severity.map(|s| format!("  [{}]", s.as_str())).unwrap_or_default();
                    writeln!(out, "{}  {}{sev}", c.id, c.title)?;
                    writeln!(out, "  metric   {}/{}", c.namespace, c.metric_name)?;
                    writeln!(out, "  filter   {}", c.filter_name)?;
                    writeln!(out, "  alarm    {}", c.alarm_name)?;
                    writeln!(out, "  pattern  {}", c.pattern.source().trim())?;
                    if let Some(r) = &c.rationale {
                        writeln!(out, "  why      {r}")?;
                    }
                    if let Some(r) = &c.remediation {
                        writeln!(out, "  to do    {r}")?;
                    }
                }
            }
        }
    }
    Ok(Exit::Success)
}
