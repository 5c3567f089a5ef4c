//! Evaluating records against every control: the backtest's [`Sink`].
//!
//! Owns how a raw record becomes a [`pattern::Event`](crate::pattern::Event) and which matches
//! are recorded. Three ways, chosen once per run from the patterns:
//! - JSON patterns whose selectors start with a property name (every shipped baseline): in
//!   groups, each on its reduced document ([`super::fields`]: only the paths it reads), results
//!   cached by the raw values read ([`super::groups`]); `eventTime` is parsed from its raw value.
//!   The report's fields (principal, event name, source IP) are read only for a matching record.
//! - a term or space-delimited pattern: [`Event::from_json_str`] on the record's original bytes,
//!   so terms see the text exactly as stored (`caf\u00e9` stays escaped, `1e3` is not `1000.0`).
//! - a selector that starts with `$.*` or `$[…]`: the whole document.
//!
//! A text record (a line that is not a JSON object) is [`Event::from_message`]: JSON patterns
//! never match it, terms see the line. It has no `eventTime`, so its matches are untimed.

use serde_json::Value;

use super::aggregate::{BatchAcc, Hit, Totals};
use super::fields::{self, PathTree};
use super::groups::Groups;
use super::report::parse_time;
use super::source::{Batch, Record, RecordKind, Sink};
use super::Spec;
use crate::pattern::{Event, Pattern, PatternKind};

/// How JSON records are evaluated.
enum DocMode {
    /// In groups, on reduced documents, results cached ([`Groups`]).
    Grouped(Groups),
    /// The whole document, with the original text.
    Text,
    /// The whole document.
    Whole,
}

/// The patterns and how to read records for them.
pub(crate) struct Evaluator<'a> {
    patterns: Vec<&'a Pattern>,
    mode: DocMode,
    /// The report's fields, read on a match in `Grouped` mode.
    report: PathTree,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(spec: &'a Spec) -> Evaluator<'a> {
        let patterns: Vec<&Pattern> = spec.controls.iter().map(|c| &c.pattern).collect();
        let text = patterns.iter().any(|p| p.kind() != PatternKind::Json);
        let mode = match Groups::new(&patterns) {
            _ if text => DocMode::Text,
            Some(groups) => DocMode::Grouped(groups),
            None => DocMode::Whole,
        };
        let mut report = PathTree::default();
        for path in [&["eventName"][..], &["sourceIPAddress"], &["userIdentity", "type"], &["userIdentity", "arn"]] {
            report.add_str(path);
        }
        report.add_str(&["userIdentity", "invokedBy"]);
        Evaluator { patterns, mode, report }
    }

    /// The event for one record (not a JSON record in `Grouped` mode), and its `eventTime`.
    fn event(&self, rec: &Record<'_>) -> Result<(Event, Option<i64>), String> {
        let ev = match (&self.mode, rec.kind) {
            (DocMode::Text, RecordKind::Json) => {
                let text = std::str::from_utf8(rec.bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
                Event::from_json_str(text).map_err(|e| format!("invalid JSON: {e}"))?
            }
            (_, RecordKind::Json) => {
                serde_json::from_slice(rec.bytes).map(Event::from_value).map_err(|e| format!("invalid JSON: {e}"))?
            }
            (_, RecordKind::Text) => Event::from_message(&rec.text()),
        };
        let time = ev.value().and_then(|d| d.get("eventTime")).and_then(Value::as_str).and_then(parse_time);
        Ok((ev, time))
    }

    /// Evaluate one record, recording its time and its matches.
    pub(crate) fn record(&self, rec: &Record<'_>, acc: &mut BatchAcc) -> Result<(), String> {
        let mut matched = Vec::new();
        let (ev, time) = match (&self.mode, rec.kind) {
            (DocMode::Grouped(groups), RecordKind::Json) => {
                let slot = groups.eval(&self.patterns, rec, &mut matched)?;
                let time = slot.get(rec.bytes).and_then(fields::string_value).and_then(|t| parse_time(&t));
                (None, time)
            }
            _ => {
                let (ev, time) = self.event(rec)?;
                matched.extend((0..self.patterns.len()).filter(|&i| self.patterns[i].matches(&ev)));
                (Some(ev), time)
            }
        };
        if let Some(t) = time {
            acc.saw_time(t);
        }
        if matched.is_empty() {
            return Ok(());
        }
        let (principal, event_name, ip) = self.who(rec, ev.as_ref())?;
        for control in matched {
            let (principal, event_name, ip) = (principal.clone(), event_name.clone(), ip.clone());
            acc.hits.push(Hit { control, time, principal, event_name, ip });
        }
        Ok(())
    }

    /// Principal, event name and source IP of a matching record.
    fn who(&self, rec: &Record<'_>, ev: Option<&Event>) -> Result<(String, String, String), String> {
        let reduced;
        let doc = match ev {
            Some(ev) => ev.value().unwrap_or(&Value::Null),
            None => {
                reduced = Value::Object(fields::extract(rec, &self.report)?);
                &reduced
            }
        };
        Ok((principal_of(doc), str_or(doc.get("eventName"), "(none)"), str_or(doc.get("sourceIPAddress"), "(none)")))
    }
}

fn str_or(v: Option<&Value>, dflt: &str) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => dflt.to_string(),
        Some(other) => other.to_string(),
    }
}

/// `userIdentity.arn`, or `Root` for the root user, or the type (with `invokedBy` when present)
/// when there is no ARN, e.g. `AWSService:ec2.amazonaws.com`.
fn principal_of(doc: &Value) -> String {
    let Some(u) = doc.get("userIdentity") else { return "(none)".into() };
    let ty = u.get("type").and_then(Value::as_str);
    if ty == Some("Root") {
        return "Root".into();
    }
    if let Some(arn) = u.get("arn").and_then(Value::as_str) {
        return arn.to_string();
    }
    match (ty, u.get("invokedBy").and_then(Value::as_str)) {
        (Some(t), Some(by)) => format!("{t}:{by}"),
        (Some(t), None) => t.to_string(),
        (None, Some(by)) => by.to_string(),
        (None, None) => "(none)".into(),
    }
}

/// The backtest as a [`Sink`] of the streaming source.
pub(crate) struct BacktestSink<'a> {
    pub eval: Evaluator<'a>,
    pub period: i64,
    pub controls: usize,
}

impl Sink for BacktestSink<'_> {
    type Part = BatchAcc;
    type Total = Totals;

    fn batch(&self, batch: &Batch<'_>, part: &mut BatchAcc) -> Result<(), String> {
        for rec in batch.records() {
            self.eval.record(&rec, part).map_err(|e| format!("record at byte {}: {e}", rec.offset))?;
        }
        Ok(())
    }

    fn commit(&self, part: BatchAcc, total: &mut Totals) {
        total.commit(part, self.period, self.controls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::{ControlSpec, Spec};

    fn spec(patterns: &[&str]) -> Spec {
        Spec {
            baseline: "t".into(),
            controls: patterns
                .iter()
                .map(|p| ControlSpec {
                    id: p.to_string(),
                    title: p.to_string(),
                    pattern: crate::pattern::parse(p).unwrap(),
                })
                .collect(),
            alarm: Default::default(),
        }
    }

    /// Evaluate one record as the source would hand it over (split first).
    fn eval(ev: &Evaluator, bytes: &[u8], acc: &mut BatchAcc) -> Result<(), String> {
        let mut cuts = crate::backtest::split::Cuts::default();
        crate::backtest::split::Splitter::new().split(bytes, true, &mut cuts).map_err(|e| e.msg)?;
        let s = &cuts.spans[0];
        let fields = &cuts.fields[s.fields.start as usize..s.fields.end as usize];
        let rec = if s.kind == RecordKind::Json {
            Record::for_test(&bytes[s.range.clone()], fields)
        } else {
            Record::text_for_test(&bytes[s.range.clone()])
        };
        ev.record(&rec, acc)
    }

    /// Every way of reading gives what `Pattern::matches` gives on the full document.
    #[test]
    fn reduced_documents_match_like_full_ones() {
        let patterns = [
            r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }"#,
            r#"{ $.additionalEventData.MFAUsed != "Yes" }"#,
            r#"{ $.errorCode = "*UnauthorizedOperation" || $.errorCode = "AccessDenied*" }"#,
            r#"{ $.userIdentity = * }"#,
            r#"{ $.userIdentity IS NULL }"#,
            r#"{ $.tags.k NOT EXISTS }"#,
            r#"{ $.n > 100 }"#,
        ];
        let records: [&[u8]; 6] = [
            br#"{"userIdentity":{"type":"Root"},"additionalEventData":{"MFAUsed":"No"},"tags":[{"k":1}],"n":1e3}"#,
            br#"{"userIdentity":{"type":"Root","invokedBy":"x"},"additionalEventData":"MFAUsed","n":"101"}"#,
            br#"{"userIdentity":null,"errorCode":"Client.UnauthorizedOperation","tags":{"k":null}}"#,
            br#"{"userIdentity":"Root","additionalEventData":{"MFAUsed":null},"errorCode":"AccessDeniedException"}"#,
            br#"{"event\u004eame":"x","additionalEventData":{"MFAUsed":"Yes"},"n":[101]}"#,
            br#"{}"#,
        ];
        let s = spec(&patterns);
        let ev = Evaluator::new(&s);
        assert!(matches!(ev.mode, DocMode::Grouped(_)));
        for r in records {
            let mut acc = BatchAcc::default();
            eval(&ev, r, &mut acc).unwrap();
            let got: Vec<usize> = acc.hits.iter().map(|h| h.control).collect();
            let full = Event::from_value(serde_json::from_slice(r).unwrap());
            let want: Vec<usize> = (0..patterns.len()).filter(|&i| s.controls[i].pattern.matches(&full)).collect();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(r));
        }
    }

    #[test]
    fn terms_see_the_original_text() {
        let s = spec(&["caf\\u00e9", "1e3", r#"{ $.eventName = "A" }"#]);
        let ev = Evaluator::new(&s);
        assert!(matches!(ev.mode, DocMode::Text));
        let mut acc = BatchAcc::default();
        eval(&ev, br#"{"eventName":"A","x":"caf\u00e9","n":1e3}"#, &mut acc).unwrap();
        let got: Vec<usize> = acc.hits.iter().map(|h| h.control).collect();
        assert_eq!(got, [0, 1, 2]);
    }

    #[test]
    fn text_records_and_report_fields() {
        let s = spec(&["ERROR", r#"{ $.eventName = "A" }"#]);
        let ev = Evaluator::new(&s);
        let mut acc = BatchAcc::default();
        eval(&ev, b"2024-01-01 ERROR disk full", &mut acc).unwrap();
        assert_eq!(acc.hits.len(), 1);
        assert_eq!((acc.hits[0].control, acc.hits[0].time), (0, None));
        let s = spec(&[r#"{ $.eventName = "A" }"#]);
        let ev = Evaluator::new(&s);
        let mut acc = BatchAcc::default();
        let rec = br#"{"eventTime":"2024-01-02T10:00:00Z","eventName":"A","sourceIPAddress":"192.0.2.1",
            "userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}}"#;
        eval(&ev, rec, &mut acc).unwrap();
        let h = &acc.hits[0];
        assert_eq!(h.time, Some(1_704_189_600));
        assert_eq!(
            (h.principal.as_str(), h.event_name.as_str(), h.ip.as_str()),
            ("AWSService:ec2.amazonaws.com", "A", "192.0.2.1")
        );
    }
}
