//! Baselines: TOML files that declare which monitoring controls must hold and how cwfix
//! creates what is missing. Loads, resolves `extends`, and validates into a [`Baseline`].
//! Errors name the file and line. Imports `pattern` and std/serde/toml only; no AWS, no async.
//! The file format is documented in `docs/baseline-format.md`.

mod explain;
mod raw;
mod resolve;
pub mod target;
mod validate;

use crate::model::{ComparisonOperator, Statistic, TreatMissingData};
use crate::pattern::Pattern;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The baseline used when none is named: the newest CIS AWS Foundations monitoring set.
pub const DEFAULT_BASELINE: &str = "cis-v7.0";

/// Baselines compiled into the binary, addressed by name (the file stem).
/// A test checks that every file in `baselines/` is listed here.
pub const SHIPPED: &[(&str, &str)] = &[
    ("cis-v7.0", include_str!("../../baselines/cis-v7.0.toml")),
    ("cis-v5.0", include_str!("../../baselines/cis-v5.0.toml")),
    ("cis-v2.0", include_str!("../../baselines/cis-v2.0.toml")),
    ("cis-v1.4", include_str!("../../baselines/cis-v1.4.toml")),
    ("cis-v1.2", include_str!("../../baselines/cis-v1.2.toml")),
    ("securityhub", include_str!("../../baselines/securityhub.toml")),
    ("cloudguard-ssm", include_str!("../../baselines/cloudguard-ssm.toml")),
    ("important-metrics", include_str!("../../baselines/important-metrics.toml")),
    ("hunting", include_str!("../../baselines/hunting.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read baseline `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax { path: String, line: usize, message: String },
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid { path: String, line: Option<usize>, message: String },
    #[error("unknown baseline `{name}` (shipped baselines: {available}; or give a path to a .toml file)")]
    Unknown { name: String, available: String },
    #[error("baseline `{path}` extends itself through a cycle of `extends`")]
    Cycle { path: String },
}

/// Alarm settings every control's alarm must have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSettings {
    pub statistic: Statistic,
    pub period: i32,
    pub threshold: f64,
    pub comparison_operator: ComparisonOperator,
    pub evaluation_periods: i32,
    pub treat_missing_data: TreatMissingData,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            statistic: Statistic::Sum,
            period: 300,
            threshold: 1.0,
            comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
            evaluation_periods: 1,
            treat_missing_data: TreatMissingData::NotBreaching,
        }
    }
}

/// The SNS topic, by name (in the log group's region and the caller's account) or by ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicRef {
    Name(String),
    Arn(String),
}

impl TopicRef {
    pub fn name(&self) -> &str {
        match self {
            TopicRef::Name(n) => n,
            TopicRef::Arn(a) => a.rsplit(':').next().unwrap_or(a),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WantedSubscription {
    pub protocol: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub topic: TopicRef,
    pub kms_key: Option<String>,
    pub subscriptions: Vec<WantedSubscription>,
}

/// One control: a filter pattern, the metric it feeds, and the names cwfix uses when creating.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub pattern: Pattern,
    pub metric_name: String,
    pub namespace: String,
    pub filter_name: String,
    pub alarm_name: String,
    pub scanner_ids: BTreeMap<String, String>,
    /// Why this control looks the way it does, when cwfix changed it (e.g. `--satisfy`).
    pub note: Option<String>,
    /// Scanners (by name) that must accept the filter this control relies on (`--satisfy`).
    pub must_pass: Vec<String>,
    /// Why the control matters, in a sentence or two.
    pub rationale: Option<String>,
    /// How bad a gap is (Security Hub's scale, where it rates the control).
    pub severity: Option<Severity>,
    /// What to do by hand when cwfix cannot fix it.
    pub remediation: Option<String>,
}

/// Security Hub's severity labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "informational" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return Err(format!("severity `{s}` is not one of informational, low, medium, high, critical")),
        })
    }
}

/// A saved CloudWatch Logs Insights query the baseline wants on the trail's log group.
/// `${account}` in the query is replaced by the account id at plan time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedQuery {
    pub name: String,
    pub query: String,
}

/// At most this many controls: CloudWatch Logs allows 100 metric filters per log group (a hard
/// quota), so a larger baseline could never hold. Also keeps a runaway file from running long.
pub const MAX_CONTROLS: usize = 100;

/// Retention values CloudWatch Logs accepts (PutRetentionPolicy).
pub const RETENTION_DAYS: &[i32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// A validated, fully resolved baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub name: String,
    pub title: String,
    pub source: String,
    pub aliases: Vec<String>,
    pub notes: Vec<String>,
    /// Where it came from: `shipped:NAME` or a file path.
    pub origin: String,
    pub alarm: AlarmSettings,
    pub notification: Notification,
    pub controls: Vec<Control>,
    /// Saved Insights queries for threat hunting, scoped to the trail's log group.
    pub queries: Vec<SavedQuery>,
    /// The least retention the trail's log group must keep (days); `None` = not checked.
    pub min_retention_days: Option<i32>,
}
/// Names of every shipped baseline, for listings and error messages.
pub fn shipped_names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(n, _)| *n).collect()
}

fn find_shipped(name: &str) -> Option<(&'static str, &'static str)> {
    if let Some(found) = SHIPPED.iter().find(|(n, _)| *n == name) {
        return Some(*found);
    }
    // Aliases are declared inside the files (e.g. `cis-v6.0` is the same set as `cis-v7.0`).
    SHIPPED
        .iter()
        .copied()
        .find(|(_, text)| raw::parse(text, "shipped").map(|raw| raw.aliases.iter().any(|a| a == name)).unwrap_or(false))
}

/// Loads a baseline by shipped name or file path.
pub fn load(name_or_path: &str) -> Result<Baseline, Error> {
    let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/') || name_or_path.contains('\\');
    if !looks_like_path {
        if let Some((name, text)) = find_shipped(name_or_path) {
            return from_text(text, &format!("shipped:{name}"), None);
        }
        if !Path::new(name_or_path).exists() {
            return Err(Error::Unknown { name: name_or_path.to_string(), available: shipped_names().join(", ") });
        }
    }
    let path = PathBuf::from(name_or_path);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: name_or_path.to_string(), source })?;
    from_text(&text, name_or_path, path.parent())
}

/// Parses and validates baseline text. `origin` names it in errors; `dir` resolves relative `extends`.
pub fn from_text(text: &str, origin: &str, dir: Option<&Path>) -> Result<Baseline, Error> {
    let mut seen = BTreeSet::new();
    let resolved = resolve::resolve(resolve::Input { text, origin, dir }, &mut seen)?;
    validate::validate(resolved, origin)
}

/// A topic as the baseline or `--topic` names it: an SNS topic ARN, or a name.
pub fn parse_topic(t: &str) -> Result<TopicRef, String> {
    if t.starts_with("arn:") {
        return match crate::model::topic_arn_parts(t) {
            Some(_) => Ok(TopicRef::Arn(t.into())),
            None => Err(format!("`{t}` is not an SNS topic ARN")),
        };
    }
    if t.is_empty() || t.len() > 256 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("`{t}`: topic names use 1-256 letters, digits, `-` and `_`"));
    }
    Ok(TopicRef::Name(t.into()))
}

impl Baseline {
    /// A stable hash of the resolved baseline's meaning (canonical patterns, names, settings),
    /// used to refuse a saved plan whose baseline has changed since.
    pub fn hash(&self) -> String {
        let doc = serde_json::json!({
            "name": self.name,
            "alarm": self.alarm,
            "notification": self.notification,
            "controls": self.controls.iter().map(|c| serde_json::json!({
                "id": c.id, "pattern": c.pattern.canonical(), "metric_name": c.metric_name,
                "namespace": c.namespace, "filter_name": c.filter_name, "alarm_name": c.alarm_name,
            })).collect::<Vec<_>>(),
            "queries": self.queries,
            "min_retention_days": self.min_retention_days,
        });
        let digest = Sha256::digest(doc.to_string().as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Applies command-line overrides of the notification target.
    pub fn override_notification(
        &mut self,
        topic: Option<&str>,
        subscribe: &[WantedSubscription],
    ) -> Result<(), Error> {
        if let Some(t) = topic {
            self.notification.topic =
                parse_topic(t).map_err(|message| Error::Invalid { path: "--topic".into(), line: None, message })?;
        }
        if !subscribe.is_empty() {
            self.notification.subscriptions = subscribe.to_vec();
            self.notification.subscriptions.sort();
            self.notification.subscriptions.dedup();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_is_listed_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = shipped_names().iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "baselines/ and baseline::SHIPPED disagree");
        for name in shipped_names() {
            let b = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(b.name, name);
        }
    }

    #[test]
    fn default_baseline_has_fifteen_cis_controls() {
        let b = load(DEFAULT_BASELINE).unwrap();
        assert_eq!(b.controls.len(), 15);
        assert_eq!(b.alarm, AlarmSettings::default());
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = from_text("name = \"x\"\n\n[[controls]]\nid = \"1\"\ntitle = 3\n", "my.toml", None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("my.toml:5:"), "{msg}");
    }

    #[test]
    fn bad_pattern_names_line() {
        let text = "name = \"x\"\n[[controls]]\nid = \"1\"\ntitle = \"t\"\nmetric_name = \"M\"\npattern = '{ $.a = '\n";
        let msg = from_text(text, "my.toml", None).unwrap_err().to_string();
        assert!(msg.starts_with("my.toml:6: control `1`: invalid filter pattern"), "{msg}");
    }

    #[test]
    fn extends_overrides_and_filters() {
        let text = r#"
name = "mine"
extends = "cis-v7.0"
only = ["5.1", "5.3"]
[notification]
topic = "sec"
[[notification.subscriptions]]
protocol = "email"
endpoint = "a@example.com"
[[controls]]
id = "5.3"
alarm_name = "root-usage"
"#;
        let b = from_text(text, "mine.toml", None).unwrap();
        assert_eq!(b.name, "mine");
        assert_eq!(b.controls.len(), 2);
        assert_eq!(b.controls[1].alarm_name, "root-usage");
        assert_eq!(b.notification.topic, TopicRef::Name("sec".into()));
        assert_eq!(b.notification.subscriptions.len(), 1);
    }

    #[test]
    fn unknown_name_lists_shipped() {
        let msg = load("cis-v9").unwrap_err().to_string();
        assert!(msg.contains("cis-v7.0"), "{msg}");
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let msg = from_text("name = \"x\"\nbogus = 1\n", "f.toml", None).unwrap_err().to_string();
        assert!(msg.starts_with("f.toml:2:"), "{msg}");
    }

    fn control_toml(id: &str) -> String {
        format!("[[controls]]\nid = \"{id}\"\ntitle = \"t\"\nmetric_name = \"M{id}\"\npattern = '{{ $.eventName = X{id} }}'\n")
    }

    #[test]
    fn duplicate_ids_in_one_file_are_refused_with_both_lines() {
        let text = format!("name = \"x\"\n{}{}{}", control_toml("1"), control_toml("2"), control_toml("1"));
        let msg = from_text(&text, "dup.toml", None).unwrap_err().to_string();
        assert!(msg.starts_with("dup.toml:13: duplicate control id `1` (also at line 3)"), "{msg}");
    }

    #[test]
    fn impossible_alarm_settings_are_refused_at_their_line() {
        for (setting, want) in [
            ("threshold = nan", "alarm.threshold NaN must be a finite number greater than 0"),
            ("threshold = inf", "alarm.threshold inf must be"),
            ("threshold = 0.0", "alarm.threshold 0 must be"),
            ("threshold = -1.0", "alarm.threshold -1 must be"),
            ("period = 45", "alarm.period 45 must be"),
            ("evaluation_periods = 0", "alarm.evaluation_periods 0 must be"),
            ("statistic = \"p99\"", "alarm.statistic `p99` is not one of"),
            ("comparison_operator = \"GreaterThanUpperThreshold\"", "needs an anomaly detection band"),
            ("treat_missing_data = \"yes\"", "alarm.treat_missing_data `yes` is not one of"),
        ] {
            let text = format!("name = \"x\"\n[alarm]\n{setting}\n{}", control_toml("1"));
            let msg = from_text(&text, "a.toml", None).unwrap_err().to_string();
            assert!(msg.starts_with("a.toml:3: "), "{setting}: {msg}");
            assert!(msg.contains(want), "{setting}: {msg}");
        }
    }

    #[test]
    fn an_overlay_file_is_named_after_itself() {
        let text = "extends = \"cis-v7.0\"\n[notification]\ntopic = \"sec\"\n";
        let b = from_text(text, "/home/me/team-alerts.toml", None).unwrap();
        assert_eq!(b.name, "team-alerts");
        assert_eq!(b.controls.len(), 15);
        assert_eq!(b.notification.topic, TopicRef::Name("sec".into()));
    }

    #[test]
    fn subscriptions_in_a_file_are_validated() {
        let text = "extends = \"cis-v7.0\"\n[notification]\n[[notification.subscriptions]]\nprotocol = \"slack\"\nendpoint = \"#sec\"\n";
        let msg = from_text(text, "n.toml", None).unwrap_err().to_string();
        assert!(msg.starts_with("n.toml:3: notification.subscriptions:"), "{msg}");
        assert!(msg.contains("AWS Chatbot"), "{msg}");
    }

    #[test]
    fn a_huge_file_is_refused_by_the_filter_quota() {
        let mut text = String::from("name = \"huge\"\n");
        for i in 0..60_000 {
            text.push_str(&control_toml(&i.to_string()));
        }
        let msg = from_text(&text, "huge.toml", None).unwrap_err().to_string();
        assert!(msg.contains("60000 controls") && msg.contains("at most 100"), "{msg}");
    }

    #[test]
    fn a_hundred_controls_load() {
        let mut text = String::from("name = \"big\"\n");
        for i in 0..MAX_CONTROLS {
            text.push_str(&control_toml(&i.to_string()));
        }
        assert_eq!(from_text(&text, "big.toml", None).unwrap().controls.len(), MAX_CONTROLS);
    }
}
