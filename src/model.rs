//! Plain data for the resources of the monitoring chain, as cwfix sees them.
//! Shared by discovery, the planner, apply, the journal and rollback; imports std and serde only.
//! Field names follow the AWS API so a `before`/`after` document reads like the API call.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A CloudTrail trail and the facts the CIS chain needs from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub is_multi_region: bool,
    pub is_organization_trail: bool,
    /// `None` when the status call was denied or failed.
    pub is_logging: Option<bool>,
    /// Whether management events of ReadWriteType All are logged (basic or advanced selectors);
    /// `None` when it could not be read.
    pub management_events_all: Option<bool>,
    /// `CloudWatchLogsLogGroupArn` as returned (usually with the `:*` suffix).
    pub log_group_arn: Option<String>,
}

/// Where a log group lives, parsed from an ARN such as
/// `arn:aws:logs:us-east-1:123456789012:log-group:NAME:*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogGroupRef {
    pub partition: String,
    pub account: String,
    pub region: String,
    pub name: String,
}

impl LogGroupRef {
    pub fn from_arn(arn: &str) -> Option<LogGroupRef> {
        let mut parts = arn.splitn(7, ':');
        let (arn_word, partition, service, region, account, kind) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if arn_word != "arn" || service != "logs" || kind != "log-group" {
            return None;
        }
        let rest = parts.next()?;
        let name = rest.strip_suffix(":*").unwrap_or(rest);
        if name.is_empty() || region.is_empty() || account.is_empty() {
            return None;
        }
        Some(LogGroupRef {
            partition: partition.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for LogGroupRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, account {})", self.name, self.region, self.account)
    }
}

/// One `metricTransformations` entry of a metric filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricTransformation {
    pub metric_name: String,
    pub metric_namespace: String,
    pub metric_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

/// A metric filter: everything `PutMetricFilter` takes, so it can be restored exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFilter {
    pub log_group_name: String,
    pub filter_name: String,
    pub filter_pattern: String,
    pub metric_transformations: Vec<MetricTransformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_on_transformed_logs: Option<bool>,
}

/// An enum that AWS spells as a string. Known values are variants; anything else AWS may add
/// later is kept verbatim in `Other`, so reading an alarm and writing it back never loses data.
macro_rules! aws_string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl $name {
            /// Every value this cwfix knows, in AWS's spelling.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }

            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => $name::$variant,)+
                    _ => $name::Other(s),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::from(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

aws_string_enum!(
    /// `Statistic` of a metric alarm (extended statistics such as `p99` are a separate field).
    Statistic { SampleCount = "SampleCount", Average = "Average", Sum = "Sum", Minimum = "Minimum", Maximum = "Maximum" }
);

aws_string_enum!(
    /// `ComparisonOperator` of a metric alarm.
    ComparisonOperator {
        GreaterThanOrEqualToThreshold = "GreaterThanOrEqualToThreshold",
        GreaterThanThreshold = "GreaterThanThreshold",
        LessThanThreshold = "LessThanThreshold",
        LessThanOrEqualToThreshold = "LessThanOrEqualToThreshold",
        LessThanLowerOrGreaterThanUpperThreshold = "LessThanLowerOrGreaterThanUpperThreshold",
        LessThanLowerThreshold = "LessThanLowerThreshold",
        GreaterThanUpperThreshold = "GreaterThanUpperThreshold",
    }
);

aws_string_enum!(
    /// `TreatMissingData` of a metric alarm.
    TreatMissingData { Breaching = "breaching", NotBreaching = "notBreaching", Ignore = "ignore", Missing = "missing" }
);

impl ComparisonOperator {
    /// The operators that compare one statistic with one threshold (the others need an anomaly
    /// detection band, which a CIS alarm never has).
    pub fn is_static_threshold(&self) -> bool {
        matches!(
            self,
            ComparisonOperator::GreaterThanOrEqualToThreshold
                | ComparisonOperator::GreaterThanThreshold
                | ComparisonOperator::LessThanThreshold
                | ComparisonOperator::LessThanOrEqualToThreshold
        )
    }
}

/// A metric alarm: everything `PutMetricAlarm` takes for a single-metric alarm, so it can be
/// restored exactly. `metrics_json` holds a metric-math definition verbatim; cwfix never edits
/// such alarms, it only reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub alarm_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    pub actions_enabled: bool,
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    #[serde(default)]
    pub ok_actions: Vec<String>,
    #[serde(default)]
    pub insufficient_data_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<Statistic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_statistic: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_periods: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_operator: Option<ComparisonOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate_low_sample_count_percentile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_metric_id: Option<String>,
    /// Metric-math alarms: present means cwfix must not rewrite this alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_json: Option<String>,
}

impl Alarm {
    /// The fields that identify the definition for comparison (the ARN is an identity, not
    /// part of the definition cwfix writes).
    pub fn definition(&self) -> Alarm {
        Alarm { alarm_arn: None, ..self.clone() }
    }

    pub fn watches(&self, metric_name: &str, namespace: &str) -> bool {
        self.metrics_json.is_none()
            && self.metric_name.as_deref() == Some(metric_name)
            && self.namespace.as_deref() == Some(namespace)
    }
}

/// An SNS subscription as listed on its topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    /// The subscription ARN; `None` while AWS lists it as `PendingConfirmation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_arn: Option<String>,
    pub pending_confirmation: bool,
}

/// An SNS topic and the facts the chain needs from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub topic_arn: String,
    pub name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
    /// The topic's access policy (`Policy` attribute), when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub subscriptions: Vec<Subscription>,
    /// `false` when attributes or subscriptions could not be read (denied).
    #[serde(default = "yes")]
    pub readable: bool,
}

fn yes() -> bool {
    true
}

impl Topic {
    pub fn confirmed_subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.iter().filter(|s| !s.pending_confirmation)
    }
}

/// Parts of an SNS topic ARN: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`.
pub fn topic_arn_parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut p = arn.splitn(6, ':');
    let (a, partition, svc, region, account, name) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    (a == "arn" && svc == "sns" && !name.is_empty()).then_some((partition, region, account, name))
}

/// A KMS key as far as the chain cares: who manages it and whether CloudWatch may use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KmsKey {
    /// The id as referenced (alias, key id or ARN).
    pub reference: String,
    pub region: String,
    /// `None` when the key does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
    pub aws_managed: bool,
    /// The key policy document; `None` if it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// What a key policy lacks for CloudWatch alarms to publish to a topic encrypted with it:
/// `cloudwatch.amazonaws.com` needs `kms:Decrypt` and `kms:GenerateDataKey*`. Empty = fine.
pub fn kms_missing_for_cloudwatch(policy: &str) -> Vec<&'static str> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(policy) else {
        return vec!["a readable key policy"];
    };
    let as_list = |v: Option<&serde_json::Value>| -> Vec<String> {
        match v {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => vec![],
        }
    };
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(o @ serde_json::Value::Object(_)) => vec![o.clone()],
        _ => vec![],
    };
    let mut granted: Vec<String> = Vec::new();
    for st in &statements {
        if st.get("Effect").and_then(|e| e.as_str()) != Some("Allow") {
            continue;
        }
        let principal = st.get("Principal");
        let for_cloudwatch = match principal {
            Some(serde_json::Value::String(s)) => s == "*",
            Some(p) => {
                as_list(p.get("Service")).iter().any(|s| s == "cloudwatch.amazonaws.com")
                    || as_list(p.get("AWS")).iter().any(|s| s == "*")
            }
            None => false,
        };
        if for_cloudwatch {
            granted.extend(as_list(st.get("Action")));
        }
    }
    let allows = |need: &str| {
        granted.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*"
                || a == "kms:*"
                || a == need.to_ascii_lowercase()
                || (a.ends_with('*') && need.to_ascii_lowercase().starts_with(&a[..a.len() - 1]))
        })
    };
    let mut missing = vec![];
    if !allows("kms:Decrypt") {
        missing.push("kms:Decrypt");
    }
    if !allows("kms:GenerateDataKey") {
        missing.push("kms:GenerateDataKey*");
    }
    missing
}

/// A saved CloudWatch Logs Insights query (PutQueryDefinition), scoped to log groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryDefinition {
    pub name: String,
    pub query_string: String,
    #[serde(default)]
    pub log_group_names: Vec<String>,
    /// Assigned by AWS; `None` for one not yet created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_definition_id: Option<String>,
}

/// Log group facts: existence, retention, and every metric filter on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogGroup {
    pub group: LogGroupRef,
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i32>,
    pub metric_filters: Vec<MetricFilter>,
}

/// Something discovery could not read, and why. Controls that depend on it are `unknown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub region: String,
    /// The IAM action that was denied or failed, e.g. `logs:DescribeMetricFilters`.
    pub action: String,
    pub resource: String,
    pub error: String,
}

/// How long a failed notification counts (issue #11: "in the last 30 days"): discovery reads that
/// much of each alarm's history, and the planner measures it back from the snapshot's time.
pub const FAILED_NOTIFICATION_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// An SNS notification an alarm could not deliver, from its action history
/// (`DescribeAlarmHistory` items of type `Action`): per (alarm, topic), the latest failure in the
/// window discovery read, and the latest success to that topic in the same window, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedNotification {
    pub region: String,
    pub alarm_name: String,
    pub topic_arn: String,
    /// When the action failed (the item's `Timestamp`), in milliseconds since the Unix epoch.
    pub failed_at_ms: i64,
    /// The `error` of the item's `HistoryData` (its summary when it names none).
    pub error: String,
    /// The latest successful notification of the same alarm to the same topic, if any: when it
    /// is later than the failure, the link works again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_ms: Option<i64>,
}

impl FailedNotification {
    /// Whether a later notification to the same topic succeeded (the failure is history).
    pub fn succeeded_since(&self) -> bool {
        self.last_success_ms.is_some_and(|s| s > self.failed_at_ms)
    }
}

/// Everything discovery found: the input of the pure planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub account: String,
    /// The account alias, when the account has one and it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    pub partition: String,
    pub caller_arn: String,
    pub regions: Vec<String>,
    /// Trails visible from the scanned regions, deduplicated by ARN, sorted by ARN.
    pub trails: Vec<Trail>,
    /// The log groups the trails deliver to, sorted.
    pub log_groups: Vec<LogGroup>,
    /// Metric alarms in the log groups' regions, with their region, sorted by (region, name).
    pub alarms: Vec<RegionalAlarm>,
    /// Topics in those regions that matter (in alarm actions, or named by the baseline).
    pub topics: Vec<Topic>,
    /// All topic ARNs listed in the scanned regions (for name lookup).
    #[serde(default)]
    pub topic_arns: Vec<String>,
    /// Saved Insights queries in the chain's regions, with their region.
    #[serde(default)]
    pub queries: Vec<(String, QueryDefinition)>,
    /// KMS keys of the topics that matter and of the baseline.
    #[serde(default)]
    pub kms_keys: Vec<KmsKey>,
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// When discovery read the account, in milliseconds since the Unix epoch: the planner's
    /// "now" (it never reads a clock, so the plan stays a function of its inputs). `None` when
    /// unknown; then no notification failure counts as recent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_at_ms: Option<i64>,
    /// Failed notifications of the alarms on the chain's metrics, from their action history,
    /// sorted by (region, alarm, topic).
    #[serde(default)]
    pub failed_notifications: Vec<FailedNotification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionalAlarm {
    pub region: String,
    pub alarm: Alarm,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_group_arns() {
        let g = LogGroupRef::from_arn("arn:aws:logs:eu-west-1:123456789012:log-group:a/b:c:*").unwrap();
        assert_eq!((g.region.as_str(), g.account.as_str(), g.name.as_str()), ("eu-west-1", "123456789012", "a/b:c"));
        assert!(LogGroupRef::from_arn("arn:aws:s3:::bucket").is_none());
    }

    #[test]
    fn aws_string_enums_round_trip_unknown_values() {
        let v: Vec<ComparisonOperator> = serde_json::from_str(r#"["GreaterThanThreshold","SomethingNew"]"#).unwrap();
        assert_eq!(v[0], ComparisonOperator::GreaterThanThreshold);
        assert_eq!(v[1], ComparisonOperator::Other("SomethingNew".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["GreaterThanThreshold","SomethingNew"]"#);
        assert_eq!(TreatMissingData::from("notBreaching"), TreatMissingData::NotBreaching);
        assert!(TreatMissingData::Breaching == "breaching");
    }

    #[test]
    fn key_policies_for_cloudwatch() {
        let ok = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*"}]}"#;
        assert!(kms_missing_for_cloudwatch(ok).is_empty());
        let partial = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["cloudwatch.amazonaws.com"]},"Action":"kms:Decrypt","Resource":"*"}]}"#;
        assert_eq!(kms_missing_for_cloudwatch(partial), vec!["kms:GenerateDataKey*"]);
        let owner_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#;
        assert_eq!(kms_missing_for_cloudwatch(owner_only).len(), 2);
    }
}
