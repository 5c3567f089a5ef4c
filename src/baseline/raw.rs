//! The baseline file as written: serde shapes that mirror the TOML, with spans kept where an
//! error must name a line. Nothing here checks meaning; `validate` does.

use super::{Error, SavedQuery, WantedSubscription};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBaseline {
    pub name: Option<Spanned<String>>,
    pub title: Option<String>,
    pub source: Option<String>,
    pub extends: Option<Spanned<String>>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    pub only: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub exclude: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub alarm: RawAlarm,
    #[serde(default)]
    pub metrics: RawMetrics,
    pub notification: Option<RawNotification>,
    #[serde(default)]
    pub controls: Vec<RawControl>,
    #[serde(default)]
    pub queries: Vec<Spanned<SavedQuery>>,
    #[serde(default)]
    pub log_group: RawLogGroup,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogGroup {
    pub min_retention_days: Option<Spanned<i32>>,
}

/// `[alarm]`. Each value keeps its span so an impossible setting is reported at its line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlarm {
    pub statistic: Option<Spanned<String>>,
    pub period: Option<Spanned<i32>>,
    pub threshold: Option<Spanned<f64>>,
    pub comparison_operator: Option<Spanned<String>>,
    pub evaluation_periods: Option<Spanned<i32>>,
    pub treat_missing_data: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotification {
    pub topic: Option<Spanned<String>>,
    pub kms_key: Option<Spanned<String>>,
    pub subscriptions: Option<Vec<Spanned<WantedSubscription>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub id: Spanned<String>,
    pub title: Option<String>,
    pub pattern: Option<Spanned<String>>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub filter_name: Option<String>,
    pub alarm_name: Option<String>,
    #[serde(default)]
    pub scanner_ids: BTreeMap<String, String>,
    pub rationale: Option<String>,
    pub severity: Option<Spanned<String>>,
    pub remediation: Option<String>,
}

/// Byte offset -> 1-based line, in O(log n): one table per file, so a file with tens of
/// thousands of controls is located in linear time overall.
#[derive(Debug, Clone)]
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// A file's text, name and line table, shared by everything that came from it.
#[derive(Debug)]
pub(super) struct Source {
    pub origin: String,
    pub lines: LineIndex,
}

impl Source {
    pub fn new(origin: &str, text: &str) -> Source {
        Source { origin: origin.to_string(), lines: LineIndex::new(text) }
    }

    pub fn line_of<T>(&self, s: &Spanned<T>) -> usize {
        self.lines.line(s.span().start)
    }

    /// An error at the line of `s`.
    pub fn at<T>(&self, s: &Spanned<T>, message: String) -> Error {
        Error::Invalid { path: self.origin.clone(), line: Some(self.line_of(s)), message }
    }

    /// An error about the file as a whole.
    pub fn whole(&self, message: String) -> Error {
        Error::Invalid { path: self.origin.clone(), line: None, message }
    }
}

/// Parses TOML text into the raw shape; syntax errors name the file and line.
pub(super) fn parse(text: &str, origin: &str) -> Result<RawBaseline, Error> {
    toml::from_str::<RawBaseline>(text).map_err(|e| {
        let line = e.span().map(|s| LineIndex::new(text).line(s.start)).unwrap_or(1);
        Error::Syntax { path: origin.to_string(), line, message: e.message().trim().to_string() }
    })
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn line_index_matches_counting_newlines() {
        let text = "a\nbc\n\nd";
        let idx = LineIndex::new(text);
        for off in 0..text.len() {
            let slow = text[..off].bytes().filter(|b| *b == b'\n').count() + 1;
            assert_eq!(idx.line(off), slow, "offset {off}");
        }
    }
}
