//! The thin adapter in front of the AWS SDK. [`CloudApi`] is the only way the rest of cwfix
//! talks to AWS; it takes and returns `model` types, never SDK shapes. `live` implements it
//! with the aws-sdk-* crates (this module is the sole home of `aws_sdk_*` and `aws_config`),
//! `fake` in memory for unit tests of discovery and apply. `session` enters member accounts,
//! `organizations` lists them and `securityhub` imports findings, each behind a narrow trait.

pub mod athena;
#[cfg(test)]
pub mod fake;
pub mod insights;
pub mod live;
pub mod organizations;
pub mod s3;
pub mod securityhub;
pub mod session;

use crate::model::{Alarm, KmsKey, MetricFilter, QueryDefinition, Subscription};
use std::collections::BTreeMap;

/// What went wrong on one AWS call, classified for the callers that branch on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("`{action}` was denied: {message}")]
    AccessDenied { action: String, message: String },
    #[error("`{action}`: not found: {message}")]
    NotFound { action: String, message: String },
    #[error("`{action}` was throttled and retries ran out: {message}")]
    Throttled { action: String, message: String },
    #[error("`{action}` failed: {code}: {message}")]
    Service { action: String, code: String, message: String },
    #[error("cannot reach the AWS endpoint for `{action}`: {message}")]
    Transport { action: String, message: String },
    #[error("no usable AWS credentials for `{action}`: {message}")]
    Credentials { action: String, message: String },
}

impl Error {
    /// The IAM action of the failed call, e.g. `logs:DescribeMetricFilters`.
    pub fn action(&self) -> &str {
        match self {
            Error::AccessDenied { action, .. }
            | Error::NotFound { action, .. }
            | Error::Throttled { action, .. }
            | Error::Service { action, .. }
            | Error::Transport { action, .. }
            | Error::Credentials { action, .. } => action,
        }
    }

    /// Errors after which nothing else can work either (no endpoint, no credentials).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Transport { .. } | Error::Credentials { .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Who is calling: from STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub partition: String,
}

/// A trail as DescribeTrails lists it (status and selectors are separate calls).
#[derive(Debug, Clone, PartialEq)]
pub struct TrailInfo {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub is_multi_region: bool,
    pub is_organization_trail: bool,
    pub log_group_arn: Option<String>,
}

/// What the event selectors of a trail say about management events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ManagementEvents {
    /// Read and write management events are logged.
    All,
    /// Only read or only write, or excluded event sources.
    Partial,
    None,
}

/// One alarm history item as DescribeAlarmHistory returns it. AWS writes these itself: an
/// `Action` item each time an alarm runs one of its actions, saying whether it worked.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmHistoryItem {
    /// `Timestamp`, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// `HistorySummary`, e.g. `Failed to execute action arn:aws:sns:us-east-1:123456789012:t`.
    pub summary: String,
    /// `HistoryData`: a JSON document (`actionState`, `notificationResource`, `error`, ...).
    pub data: String,
}

/// What cwfix writes when it creates a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTopic {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// The calls cwfix makes. Every method takes the region it acts in.
#[allow(async_fn_in_trait)]
pub trait CloudApi {
    async fn caller_identity(&self) -> Result<Identity>;
    /// The account's alias (IAM ListAccountAliases); `None` when it has none.
    async fn account_alias(&self) -> Result<Option<String>>;
    async fn describe_trails(&self, region: &str) -> Result<Vec<TrailInfo>>;
    async fn trail_is_logging(&self, region: &str, trail_arn: &str) -> Result<bool>;
    async fn trail_management_events(&self, region: &str, trail_arn: &str) -> Result<ManagementEvents>;
    /// `Ok(None)` when the log group does not exist; `Some(retention_in_days)` otherwise.
    async fn log_group(&self, region: &str, name: &str) -> Result<Option<Option<i32>>>;
    async fn metric_filters(&self, region: &str, log_group: &str) -> Result<Vec<MetricFilter>>;
    async fn metric_alarms(&self, region: &str) -> Result<Vec<Alarm>>;
    /// One filter by name (a precondition read right before a write); `None` when absent.
    async fn metric_filter(&self, region: &str, log_group: &str, name: &str) -> Result<Option<MetricFilter>>;
    /// One metric alarm by name; `None` when absent.
    async fn metric_alarm(&self, region: &str, name: &str) -> Result<Option<Alarm>>;
    /// DescribeAlarmHistory: the alarm's `Action` items with `start_ms <= Timestamp <= end_ms`,
    /// newest first; at most the newest 1,000 (the verdict per topic rests on its newest item).
    async fn alarm_actions(
        &self,
        region: &str,
        alarm: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<AlarmHistoryItem>>;
    async fn list_topics(&self, region: &str) -> Result<Vec<String>>;
    /// Topic attributes (`KmsMasterKeyId`, `Policy`, ...); `Ok(None)` when the topic is gone.
    async fn topic_attributes(&self, region: &str, topic_arn: &str) -> Result<Option<BTreeMap<String, String>>>;
    async fn subscriptions(&self, region: &str, topic_arn: &str) -> Result<Vec<Subscription>>;
    /// DescribeKey + GetKeyPolicy; a missing key comes back with `key_arn: None`.
    async fn kms_key(&self, region: &str, key: &str) -> Result<KmsKey>;

    async fn query_definitions(&self, region: &str) -> Result<Vec<QueryDefinition>>;

    async fn create_topic(&self, region: &str, topic: &NewTopic) -> Result<String>;
    async fn delete_topic(&self, region: &str, topic_arn: &str) -> Result<()>;
    /// SetTopicAttributes for one attribute (cwfix sets only `Policy`).
    async fn set_topic_attribute(&self, region: &str, topic_arn: &str, name: &str, value: &str) -> Result<()>;
    /// Returns the subscription ARN (also for a subscription pending confirmation).
    async fn subscribe(&self, region: &str, topic_arn: &str, protocol: &str, endpoint: &str) -> Result<String>;
    async fn unsubscribe(&self, region: &str, subscription_arn: &str) -> Result<()>;
    async fn put_metric_filter(&self, region: &str, filter: &MetricFilter) -> Result<()>;
    async fn delete_metric_filter(&self, region: &str, log_group: &str, filter_name: &str) -> Result<()>;
    async fn put_metric_alarm(&self, region: &str, alarm: &Alarm) -> Result<()>;
    async fn delete_alarm(&self, region: &str, alarm_name: &str) -> Result<()>;
    /// Creates (no id) or updates (id) a saved query; returns its id.
    async fn put_query_definition(&self, region: &str, q: &QueryDefinition) -> Result<String>;
    async fn delete_query_definition(&self, region: &str, id: &str) -> Result<()>;
    async fn put_retention_policy(&self, region: &str, log_group: &str, days: i32) -> Result<()>;
    async fn delete_retention_policy(&self, region: &str, log_group: &str) -> Result<()>;
}
