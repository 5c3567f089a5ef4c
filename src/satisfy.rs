//! `--satisfy SCANNER,...`: rewrites a baseline so that the named scanners will pass as well as
//! the baseline's meaning holds. A control's pattern may be replaced by a scanner-accepted one
//! that still covers it (proved with `pattern::covers`), and a control may gain sibling controls
//! with extra filters (e.g. a second unauthorized-API-calls filter for Security Hub's literal),
//! each with a note saying why it exists. The planner then plans them like any other control.

use crate::baseline::{Baseline, Control};
use crate::pattern;
use crate::scanner::{self, Scanner};

/// Parses `securityhub,prowler`.
pub fn parse_scanners(list: &[String]) -> Result<Vec<Scanner>, String> {
    let mut out = Vec::new();
    for item in list.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        out.push(item.parse::<Scanner>().map_err(|e| format!("--satisfy: {e}"))?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Expands `b` for `scanners`. Controls cwfix cannot classify are left as they are.
pub fn expand(b: &mut Baseline, scanners: &[Scanner]) -> Result<(), String> {
    if scanners.is_empty() {
        return Ok(());
    }
    let mut out: Vec<Control> = Vec::new();
    for c in &b.controls {
        let Some(topic) = scanner::classify(c) else {
            out.push(c.clone());
            continue;
        };
        let texts = scanner::satisfying_patterns(topic, scanners, &c.pattern)
            .map_err(|e| format!("control `{}`: {e}", c.id))?;
        let parsed: Vec<(pattern::Pattern, String)> = texts
            .into_iter()
            .map(|(t, why)| {
                pattern::parse(&t)
                    .map(|p| (p, why))
                    .map_err(|e| format!("control `{}`: scanner pattern does not parse: {e}", c.id))
            })
            .collect::<Result<_, _>>()?;
        let primary = parsed.iter().position(|(p, _)| pattern::covers(p, &c.pattern).is_covered()).ok_or_else(|| {
            format!("control `{}`: no scanner-accepted pattern covers the baseline's, so no single plan satisfies {scanners:?}", c.id)
        })?;
        let passing = |p: &pattern::Pattern| -> Vec<String> {
            scanners
                .iter()
                .filter(|s| scanner::verdict(**s, topic, p.source()).is_pass())
                .map(|s| s.as_str().to_string())
                .collect()
        };
        let mut main = c.clone();
        main.must_pass = passing(&parsed[primary].0);
        if parsed[primary].0.canonical() != c.pattern.canonical() {
            main.pattern = parsed[primary].0.clone();
            main.note = Some(format!("pattern replaced so that {}: {}", names(scanners), parsed[primary].1));
        }
        out.push(main);
        let mut n = 0;
        for (i, (p, why)) in parsed.iter().enumerate() {
            if i == primary {
                continue;
            }
            n += 1;
            let suffix = if n == 1 { "scanner".to_string() } else { format!("scanner{n}") };
            out.push(Control {
                id: format!("{}+{suffix}", c.id),
                title: format!("{} (extra filter for scanners)", c.title),
                pattern: p.clone(),
                metric_name: format!(
                    "{}{}",
                    c.metric_name,
                    if n == 1 { "Scanner".to_string() } else { format!("Scanner{n}") }
                ),
                namespace: c.namespace.clone(),
                filter_name: format!("{}-{suffix}", c.filter_name),
                alarm_name: format!("{}-{suffix}", c.alarm_name),
                scanner_ids: c.scanner_ids.clone(),
                note: Some(why.clone()),
                must_pass: passing(p),
                rationale: c.rationale.clone(),
                severity: c.severity,
                remediation: c.remediation.clone(),
            });
        }
    }
    b.controls = out;
    Ok(())
}

fn names(s: &[Scanner]) -> String {
    s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
}
