//! Baselines: TOML files that declare which monitoring controls must hold and how cwfix
//! creates what is missing. Loads, resolves `extends`, and validates into a [`Baseline`].
//! Errors name the file and line. Imports `pattern` and std/serde/toml only; no AWS, no async.
//! The file format is documented in `docs/baseline-format.md`.

use crate::pattern::{self, Pattern};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The baseline used when none is named: the newest CIS AWS Foundations monitoring set.
pub const DEFAULT_BASELINE: &str = "cis-v7.0";

/// Baselines compiled into the binary, addressed by name (the file stem).
/// A test checks that every file in `baselines/` is listed here.
pub const SHIPPED: &[(&str, &str)] = &[
    ("cis-v7.0", include_str!("../baselines/cis-v7.0.toml")),
    ("cis-v5.0", include_str!("../baselines/cis-v5.0.toml")),
    ("cis-v2.0", include_str!("../baselines/cis-v2.0.toml")),
    ("cis-v1.4", include_str!("../baselines/cis-v1.4.toml")),
    ("cis-v1.2", include_str!("../baselines/cis-v1.2.toml")),
    ("securityhub", include_str!("../baselines/securityhub.toml")),
    ("cloudguard-ssm", include_str!("../baselines/cloudguard-ssm.toml")),
    ("important-metrics", include_str!("../baselines/important-metrics.toml")),
    ("hunting", include_str!("../baselines/hunting.toml")),
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
    pub statistic: String,
    pub period: i32,
    pub threshold: f64,
    pub comparison_operator: String,
    pub evaluation_periods: i32,
    pub treat_missing_data: String,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            statistic: "Sum".into(),
            period: 300,
            threshold: 1.0,
            comparison_operator: "GreaterThanOrEqualToThreshold".into(),
            evaluation_periods: 1,
            treat_missing_data: "notBreaching".into(),
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
}

/// A saved CloudWatch Logs Insights query the baseline wants on the trail's log group.
/// `${account}` in the query is replaced by the account id at plan time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedQuery {
    pub name: String,
    pub query: String,
}

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

// ---- raw file shape -------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    name: Option<toml::Spanned<String>>,
    title: Option<String>,
    source: Option<String>,
    extends: Option<toml::Spanned<String>>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    only: Option<Vec<String>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    alarm: RawAlarm,
    #[serde(default)]
    metrics: RawMetrics,
    notification: Option<RawNotification>,
    #[serde(default)]
    controls: Vec<RawControl>,
    #[serde(default)]
    queries: Vec<SavedQuery>,
    #[serde(default)]
    log_group: RawLogGroup,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogGroup {
    min_retention_days: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarm {
    statistic: Option<String>,
    period: Option<i32>,
    threshold: Option<f64>,
    comparison_operator: Option<String>,
    evaluation_periods: Option<i32>,
    treat_missing_data: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotification {
    topic: Option<String>,
    kms_key: Option<String>,
    subscriptions: Option<Vec<WantedSubscription>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: toml::Spanned<String>,
    title: Option<String>,
    pattern: Option<toml::Spanned<String>>,
    metric_name: Option<String>,
    namespace: Option<String>,
    filter_name: Option<String>,
    alarm_name: Option<String>,
    #[serde(default)]
    scanner_ids: BTreeMap<String, String>,
}

/// A control during resolution, remembering which file and line each value came from.
#[derive(Debug, Clone)]
struct Draft {
    raw: RawControl,
    file: String,
    text: std::sync::Arc<String>,
}

struct Resolved {
    name: Option<String>,
    title: Option<String>,
    source: Option<String>,
    aliases: Vec<String>,
    notes: Vec<String>,
    alarm: RawAlarm,
    namespace: Option<String>,
    notification: RawNotification,
    controls: Vec<Draft>,
    queries: Vec<SavedQuery>,
    min_retention_days: Option<i32>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
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
    SHIPPED.iter().copied().find(|(_, text)| {
        toml::from_str::<RawBaseline>(text).map(|raw| raw.aliases.iter().any(|a| a == name)).unwrap_or(false)
    })
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
    let resolved = resolve(text, origin, dir, &mut seen)?;
    validate(resolved, origin)
}

fn parse_raw(text: &str, origin: &str) -> Result<RawBaseline, Error> {
    toml::from_str::<RawBaseline>(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        Error::Syntax { path: origin.to_string(), line, message: e.message().trim().to_string() }
    })
}

fn resolve(text: &str, origin: &str, dir: Option<&Path>, seen: &mut BTreeSet<String>) -> Result<Resolved, Error> {
    if !seen.insert(origin.to_string()) || seen.len() > 8 {
        return Err(Error::Cycle { path: origin.to_string() });
    }
    let raw = parse_raw(text, origin)?;
    let shared_text = std::sync::Arc::new(text.to_string());
    let mut base = match &raw.extends {
        None => Resolved {
            name: None,
            title: None,
            source: None,
            aliases: vec![],
            notes: vec![],
            alarm: RawAlarm::default(),
            namespace: None,
            notification: RawNotification::default(),
            controls: vec![],
            queries: vec![],
            min_retention_days: None,
        },
        Some(parent) => {
            let parent_name = parent.get_ref();
            let (parent_text, parent_origin, parent_dir): (String, String, Option<PathBuf>) =
                if let Some((n, t)) = find_shipped(parent_name) {
                    (t.to_string(), format!("shipped:{n}"), None)
                } else {
                    let p = dir.map(|d| d.join(parent_name)).unwrap_or_else(|| PathBuf::from(parent_name));
                    if !p.exists() {
                        return Err(Error::Invalid {
                            path: origin.to_string(),
                            line: Some(line_of(text, parent.span().start)),
                            message: format!(
                                "extends `{parent_name}`: no shipped baseline or file of that name (shipped: {})",
                                shipped_names().join(", ")
                            ),
                        });
                    }
                    let t = std::fs::read_to_string(&p)
                        .map_err(|source| Error::Io { path: p.display().to_string(), source })?;
                    (t, p.display().to_string(), p.parent().map(Path::to_path_buf))
                };
            let mut r = resolve(&parent_text, &parent_origin, parent_dir.as_deref(), seen)?;
            // A child is a new baseline: it does not inherit the parent's name or aliases.
            r.name = None;
            r.aliases.clear();
            r
        }
    };
    if let Some(n) = raw.name {
        base.name = Some(n.into_inner());
    }
    base.title = raw.title.or(base.title);
    base.source = raw.source.or(base.source);
    base.aliases.extend(raw.aliases);
    base.notes.extend(raw.notes);
    let a = raw.alarm;
    base.alarm = RawAlarm {
        statistic: a.statistic.or(base.alarm.statistic),
        period: a.period.or(base.alarm.period),
        threshold: a.threshold.or(base.alarm.threshold),
        comparison_operator: a.comparison_operator.or(base.alarm.comparison_operator),
        evaluation_periods: a.evaluation_periods.or(base.alarm.evaluation_periods),
        treat_missing_data: a.treat_missing_data.or(base.alarm.treat_missing_data),
    };
    base.namespace = raw.metrics.namespace.or(base.namespace);
    if let Some(n) = raw.notification {
        base.notification = RawNotification {
            topic: n.topic.or(base.notification.topic),
            kms_key: n.kms_key.or(base.notification.kms_key),
            subscriptions: n.subscriptions.or(base.notification.subscriptions),
        };
    }
    for q in raw.queries {
        // A child's query replaces the parent's of the same name.
        base.queries.retain(|x| x.name != q.name);
        base.queries.push(q);
    }
    base.min_retention_days = raw.log_group.min_retention_days.or(base.min_retention_days);
    for c in raw.controls {
        let id = c.id.get_ref().clone();
        if let Some(existing) = base.controls.iter_mut().find(|d| d.raw.id.get_ref() == &id) {
            // Override only the fields the child gives; remember the child's file for errors.
            let merged = RawControl {
                id: c.id.clone(),
                title: c.title.or(existing.raw.title.take()),
                pattern: c.pattern.clone().or(existing.raw.pattern.take()),
                metric_name: c.metric_name.or(existing.raw.metric_name.take()),
                namespace: c.namespace.or(existing.raw.namespace.take()),
                filter_name: c.filter_name.or(existing.raw.filter_name.take()),
                alarm_name: c.alarm_name.or(existing.raw.alarm_name.take()),
                scanner_ids: if c.scanner_ids.is_empty() {
                    std::mem::take(&mut existing.raw.scanner_ids)
                } else {
                    c.scanner_ids
                },
            };
            let (file, text) = if c.pattern.is_some() {
                (origin.to_string(), shared_text.clone())
            } else {
                (existing.file.clone(), existing.text.clone())
            };
            *existing = Draft { raw: merged, file, text };
        } else {
            base.controls.push(Draft { raw: c, file: origin.to_string(), text: shared_text.clone() });
        }
    }
    if let Some(only) = &raw.only {
        for id in only {
            if !base.controls.iter().any(|d| d.raw.id.get_ref() == id) {
                return Err(Error::Invalid {
                    path: origin.to_string(),
                    line: None,
                    message: format!("only: no control with id `{id}`"),
                });
            }
        }
        base.controls.retain(|d| only.contains(d.raw.id.get_ref()));
    }
    for id in &raw.exclude {
        if !base.controls.iter().any(|d| d.raw.id.get_ref() == id) {
            return Err(Error::Invalid {
                path: origin.to_string(),
                line: None,
                message: format!("exclude: no control with id `{id}`"),
            });
        }
    }
    base.controls.retain(|d| !raw.exclude.contains(d.raw.id.get_ref()));
    Ok(base)
}

fn validate(r: Resolved, origin: &str) -> Result<Baseline, Error> {
    let invalid = |line: Option<usize>, message: String| Error::Invalid { path: origin.to_string(), line, message };
    let name = r.name.clone().ok_or_else(|| invalid(Some(1), "missing `name`".into()))?;
    if r.controls.is_empty() && r.queries.is_empty() && r.min_retention_days.is_none() {
        return Err(invalid(None, "the baseline has no controls, queries or retention requirement".into()));
    }
    if let Some(d) = r.min_retention_days {
        if !RETENTION_DAYS.contains(&d) {
            return Err(invalid(
                None,
                format!("log_group.min_retention_days {d} is not a value CloudWatch Logs accepts ({RETENTION_DAYS:?})"),
            ));
        }
    }
    for q in &r.queries {
        if q.name.trim().is_empty() || q.name.len() > 255 || q.query.trim().is_empty() || q.query.len() > 10_000 {
            return Err(invalid(
                None,
                format!("queries: `{}` needs a name (1-255 characters) and a query (1-10000 characters)", q.name),
            ));
        }
    }
    let defaults = AlarmSettings::default();
    let alarm = AlarmSettings {
        statistic: r.alarm.statistic.unwrap_or(defaults.statistic),
        period: r.alarm.period.unwrap_or(defaults.period),
        threshold: r.alarm.threshold.unwrap_or(defaults.threshold),
        comparison_operator: r.alarm.comparison_operator.unwrap_or(defaults.comparison_operator),
        evaluation_periods: r.alarm.evaluation_periods.unwrap_or(defaults.evaluation_periods),
        treat_missing_data: r.alarm.treat_missing_data.unwrap_or(defaults.treat_missing_data),
    };
    const STATS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
    if !STATS.contains(&alarm.statistic.as_str()) {
        return Err(invalid(None, format!("alarm.statistic `{}` is not one of {}", alarm.statistic, STATS.join(", "))));
    }
    const OPS: &[&str] =
        &["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"];
    if !OPS.contains(&alarm.comparison_operator.as_str()) {
        return Err(invalid(
            None,
            format!("alarm.comparison_operator `{}` is not one of {}", alarm.comparison_operator, OPS.join(", ")),
        ));
    }
    if alarm.period < 10 || (alarm.period > 30 && alarm.period % 60 != 0) {
        return Err(invalid(
            None,
            format!("alarm.period {} must be 10, 20, 30 or a multiple of 60 seconds", alarm.period),
        ));
    }
    if alarm.evaluation_periods < 1 {
        return Err(invalid(None, "alarm.evaluation_periods must be at least 1".into()));
    }
    const MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];
    if !MISSING.contains(&alarm.treat_missing_data.as_str()) {
        return Err(invalid(
            None,
            format!("alarm.treat_missing_data `{}` is not one of {}", alarm.treat_missing_data, MISSING.join(", ")),
        ));
    }
    let topic = match r.notification.topic.as_deref() {
        None => TopicRef::Name("cwfix-cis-alarms".into()),
        Some(t) if t.starts_with("arn:") => {
            if crate::model::topic_arn_parts(t).is_none() {
                return Err(invalid(None, format!("notification.topic `{t}` is not an SNS topic ARN")));
            }
            TopicRef::Arn(t.into())
        }
        Some(t) => {
            if t.is_empty() || t.len() > 256 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(invalid(
                    None,
                    format!("notification.topic `{t}`: topic names use 1-256 letters, digits, `-` and `_`"),
                ));
            }
            TopicRef::Name(t.into())
        }
    };
    if let Some(k) = &r.notification.kms_key {
        if k.ends_with("alias/aws/sns") {
            return Err(invalid(
                None,
                "notification.kms_key `alias/aws/sns`: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key; name a customer managed key whose policy allows cloudwatch.amazonaws.com".into(),
            ));
        }
    }
    let mut subscriptions = r.notification.subscriptions.unwrap_or_default();
    for s in &subscriptions {
        const PROTOCOLS: &[&str] =
            &["email", "email-json", "http", "https", "sqs", "sms", "lambda", "application", "firehose"];
        if !PROTOCOLS.contains(&s.protocol.as_str()) {
            return Err(invalid(
                None,
                format!("notification.subscriptions: protocol `{}` is not one of {}", s.protocol, PROTOCOLS.join(", ")),
            ));
        }
        if s.endpoint.trim().is_empty() {
            return Err(invalid(
                None,
                format!("notification.subscriptions: empty endpoint for protocol `{}`", s.protocol),
            ));
        }
    }
    subscriptions.sort();
    subscriptions.dedup();
    let default_ns = r.namespace.clone().unwrap_or_else(|| "CISBenchmark".into());
    let mut controls = Vec::new();
    let mut ids = BTreeSet::new();
    let mut filter_names = BTreeSet::new();
    let mut alarm_names = BTreeSet::new();
    for d in r.controls {
        let c = d.raw;
        let line = Some(line_of(&d.text, c.id.span().start));
        let at = |message: String| Error::Invalid { path: d.file.clone(), line, message };
        let id = c.id.into_inner();
        if id.trim().is_empty() {
            return Err(at("control with an empty `id`".into()));
        }
        if !ids.insert(id.clone()) {
            return Err(at(format!("duplicate control id `{id}`")));
        }
        let title = c.title.ok_or_else(|| at(format!("control `{id}`: missing `title`")))?;
        let pattern_src = c.pattern.ok_or_else(|| at(format!("control `{id}`: missing `pattern`")))?;
        let pattern_line = line_of(&d.text, pattern_src.span().start);
        let pattern = pattern::parse(pattern_src.get_ref()).map_err(|e| Error::Invalid {
            path: d.file.clone(),
            line: Some(pattern_line),
            message: format!("control `{id}`: invalid filter pattern: {e}"),
        })?;
        let metric_name = c.metric_name.ok_or_else(|| at(format!("control `{id}`: missing `metric_name`")))?;
        let namespace = c.namespace.unwrap_or_else(|| default_ns.clone());
        let filter_name = c.filter_name.unwrap_or_else(|| format!("cwfix-{id}-{metric_name}"));
        let alarm_name = c.alarm_name.unwrap_or_else(|| filter_name.clone());
        for (what, v, max) in [
            ("metric_name", &metric_name, 255),
            ("namespace", &namespace, 255),
            ("filter_name", &filter_name, 512),
            ("alarm_name", &alarm_name, 255),
        ] {
            if v.is_empty() || v.len() > max || v.contains(':') && what != "alarm_name" || v.contains('*') {
                return Err(at(format!("control `{id}`: {what} `{v}` is empty, too long or has `:`/`*`")));
            }
        }
        if !filter_names.insert(filter_name.clone()) {
            return Err(at(format!("control `{id}`: filter_name `{filter_name}` is used by another control")));
        }
        if !alarm_names.insert(alarm_name.clone()) {
            return Err(at(format!("control `{id}`: alarm_name `{alarm_name}` is used by another control")));
        }
        controls.push(Control {
            id,
            title,
            pattern,
            metric_name,
            namespace,
            filter_name,
            alarm_name,
            scanner_ids: c.scanner_ids,
            note: None,
            must_pass: vec![],
        });
    }
    Ok(Baseline {
        name,
        title: r.title.unwrap_or_default(),
        source: r.source.unwrap_or_default(),
        aliases: r.aliases,
        notes: r.notes,
        origin: origin.to_string(),
        alarm,
        notification: Notification { topic, kms_key: r.notification.kms_key, subscriptions },
        controls,
        queries: r.queries,
        min_retention_days: r.min_retention_days,
    })
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
            self.notification.topic = if t.starts_with("arn:") {
                if crate::model::topic_arn_parts(t).is_none() {
                    return Err(Error::Invalid {
                        path: "--topic".into(),
                        line: None,
                        message: format!("`{t}` is not an SNS topic ARN"),
                    });
                }
                TopicRef::Arn(t.to_string())
            } else {
                TopicRef::Name(t.to_string())
            };
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
}
