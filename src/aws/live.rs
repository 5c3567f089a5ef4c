//! [`CloudApi`] over the AWS SDK for Rust. SDK types and errors stop here.
//!
//! One `SdkConfig` (standard credential/region/endpoint chain, so `AWS_ENDPOINT_URL`, profiles
//! and `AWS_REGION` work as everywhere), adaptive retry with bounded attempts and backoff, and
//! explicit timeouts: the SDK sets only a connect timeout by default, so a silent endpoint
//! would otherwise hang forever.

use super::{AlarmHistoryItem, CloudApi, Error, Identity, ManagementEvents, NewTopic, Result, TrailInfo};
use crate::model::{Alarm, KmsKey, MetricFilter, MetricTransformation, QueryDefinition, Subscription};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_sts::error::SdkError;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// How the SDK is set up: from flags, with the standard environment as fallback.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub max_attempts: Option<u32>,
    pub operation_timeout: Option<Duration>,
    /// Work in another account through this role (STS AssumeRole from the base credentials).
    pub assume_role: Option<String>,
}

/// Loads the shared SDK configuration.
pub async fn sdk_config(opts: &ConnectOptions) -> SdkConfig {
    let attempts = opts
        .max_attempts
        .or_else(|| std::env::var("AWS_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()))
        .unwrap_or(10)
        .max(1);
    // Adaptive retry adds client-side rate limiting on throttling to backoff with jitter.
    // A short maximum backoff keeps "endpoint down" failing within seconds despite 10 attempts.
    let retry = RetryConfig::adaptive()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(1));
    let op = opts.operation_timeout.unwrap_or(Duration::from_secs(60));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(20))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(op)
        .build();
    let http = http_client();
    // An explicit profile (--profile or AWS_PROFILE) is the identity to use, as with the aws
    // CLI's --profile: its credentials or an error naming it, never the environment's keys
    // (the SDK's default chain would prefer AWS_ACCESS_KEY_ID and act on another account).
    let profile = opts.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let loader = || {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http.clone())
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone());
        if let Some(p) = &profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        loader
    };
    let base = match &profile {
        None => loader().load().await,
        Some(p) => {
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
                tracing::warn!("AWS_ACCESS_KEY_ID is set but ignored: profile `{p}` is used");
            }
            let region = loader().load().await.region().cloned();
            let pc = aws_config::provider_config::ProviderConfig::without_region()
                .with_region(region)
                .with_http_client(http.clone());
            let creds =
                aws_config::profile::ProfileFileCredentialsProvider::builder().configure(&pc).profile_name(p).build();
            loader().credentials_provider(creds).load().await
        }
    };
    match &opts.assume_role {
        None => base,
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name("cwfix")
                .configure(&base)
                .build()
                .await;
            loader().credentials_provider(provider).load().await
        }
    }
}

/// The HTTP client every SDK client uses. Built here rather than through the SDK's
/// `default-https-client` feature so the binary has one TLS stack (rustls + ring) and no
/// aws-lc-sys build (see Cargo.toml). Anything that builds an `SdkConfig` must pass it.
pub fn http_client() -> aws_sdk_sts::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The region the standard chain resolved, if any.
pub fn default_region(conf: &SdkConfig) -> Option<String> {
    conf.region().map(|r| r.to_string())
}

#[derive(Clone)]
struct Clients {
    trail: aws_sdk_cloudtrail::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cw: aws_sdk_cloudwatch::Client,
    sns: aws_sdk_sns::Client,
    kms: aws_sdk_kms::Client,
}

/// The real AWS, one client set per region, built on first use and reused.
pub struct Live {
    conf: SdkConfig,
    sts: aws_sdk_sts::Client,
    iam: aws_sdk_iam::Client,
    regional: Mutex<HashMap<String, Clients>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Live {
    pub fn new(conf: &SdkConfig) -> Live {
        Live {
            conf: conf.clone(),
            sts: aws_sdk_sts::Client::new(conf),
            iam: aws_sdk_iam::Client::new(conf),
            regional: Mutex::new(HashMap::new()),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn clients(&self, region: &str) -> Clients {
        let mut map = self.regional.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(region.to_string())
            .or_insert_with(|| {
                let r = Region::new(region.to_string());
                Clients {
                    trail: aws_sdk_cloudtrail::Client::from_conf(
                        aws_sdk_cloudtrail::config::Builder::from(&self.conf).region(r.clone()).build(),
                    ),
                    logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                        aws_sdk_cloudwatchlogs::config::Builder::from(&self.conf).region(r.clone()).build(),
                    ),
                    cw: aws_sdk_cloudwatch::Client::from_conf(
                        aws_sdk_cloudwatch::config::Builder::from(&self.conf).region(r.clone()).build(),
                    ),
                    sns: aws_sdk_sns::Client::from_conf(
                        aws_sdk_sns::config::Builder::from(&self.conf).region(r.clone()).build(),
                    ),
                    kms: aws_sdk_kms::Client::from_conf(
                        aws_sdk_kms::config::Builder::from(&self.conf).region(r).build(),
                    ),
                }
            })
            .clone()
    }

    fn count(&self, action: &str) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        *calls.entry(action.to_string()).or_default() += 1;
    }

    /// API calls made so far, per IAM action (each page counts).
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The endpoint override in force, for error messages.
    pub fn endpoint(&self) -> Option<String> {
        self.conf.endpoint_url().map(str::to_string)
    }
}

fn filter_from_sdk(f: &aws_sdk_cloudwatchlogs::types::MetricFilter, log_group: &str) -> MetricFilter {
    MetricFilter {
        log_group_name: f.log_group_name().unwrap_or(log_group).to_string(),
        filter_name: f.filter_name().unwrap_or_default().to_string(),
        filter_pattern: f.filter_pattern().unwrap_or_default().to_string(),
        metric_transformations: f
            .metric_transformations()
            .iter()
            .map(|t| MetricTransformation {
                metric_name: t.metric_name().to_string(),
                metric_namespace: t.metric_namespace().to_string(),
                metric_value: t.metric_value().to_string(),
                default_value: t.default_value(),
                unit: unit_str(t.unit()),
                dimensions: t
                    .dimensions()
                    .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })
            .collect(),
        apply_on_transformed_logs: f.apply_on_transformed_logs().then_some(true),
    }
}

fn alarm_from_sdk(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> Alarm {
    let metrics = a.metrics();
    Alarm {
        alarm_name: a.alarm_name().unwrap_or_default().to_string(),
        alarm_arn: a.alarm_arn().map(str::to_string),
        alarm_description: a.alarm_description().map(str::to_string),
        actions_enabled: a.actions_enabled().unwrap_or(true),
        alarm_actions: a.alarm_actions().to_vec(),
        ok_actions: a.ok_actions().to_vec(),
        insufficient_data_actions: a.insufficient_data_actions().to_vec(),
        metric_name: a.metric_name().map(str::to_string),
        namespace: a.namespace().map(str::to_string),
        statistic: a.statistic().map(|s| s.as_str().into()),
        extended_statistic: a.extended_statistic().map(str::to_string),
        dimensions: a
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string()))
            .collect(),
        period: a.period(),
        unit: a.unit().map(|u| u.as_str().to_string()),
        evaluation_periods: a.evaluation_periods(),
        datapoints_to_alarm: a.datapoints_to_alarm(),
        threshold: a.threshold(),
        comparison_operator: a.comparison_operator().map(|c| c.as_str().into()),
        treat_missing_data: a.treat_missing_data().map(Into::into),
        evaluate_low_sample_count_percentile: a.evaluate_low_sample_count_percentile().map(str::to_string),
        threshold_metric_id: a.threshold_metric_id().map(str::to_string),
        metrics_json: (!metrics.is_empty()).then(|| format!("{} metric-math queries", metrics.len())),
    }
}

/// Turns an SDK error into a classified [`Error`] with a one-line message (no Debug dumps).
pub(super) fn classify<E, R>(action: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let action = action.to_string();
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = e.message().unwrap_or("").to_string();
            classify_code(action, code, message)
        }
        SdkError::TimeoutError(_) => Error::Transport { action, message: "the request timed out".into() },
        SdkError::DispatchFailure(d) => {
            let chain = source_chain(&err);
            if chain.to_ascii_lowercase().contains("credential") {
                Error::Credentials { action, message: credentials_message(chain) }
            } else if d.is_timeout() {
                Error::Transport { action, message: format!("timed out ({chain})") }
            } else {
                Error::Transport { action, message: chain }
            }
        }
        SdkError::ResponseError(_) => {
            Error::Transport { action, message: format!("unreadable response: {}", source_chain(&err)) }
        }
        _ => {
            let chain = source_chain(&err);
            if chain.to_ascii_lowercase().contains("credential") {
                Error::Credentials { action, message: credentials_message(chain) }
            } else {
                Error::Service { action, code: "ClientError".into(), message: chain }
            }
        }
    }
}

/// A missing profile in the words of the aws CLI; other credential trouble as the SDK says it.
fn credentials_message(chain: String) -> String {
    let missing = chain.find("profile `").and_then(|i| {
        let rest = &chain[i + 9..];
        let name = &rest[..rest.find('`')?];
        rest.contains("was not defined").then(|| name.to_string())
    });
    match missing {
        Some(p) => format!("the config profile `{p}` could not be found (in ~/.aws/config or ~/.aws/credentials)"),
        None if chain.contains("credential provider was not enabled") => {
            "the profile has no credentials of its own (no access keys, role_arn, sso_session or credential_process)"
                .into()
        }
        None if chain.contains("No profiles were defined") => {
            "no AWS profiles are defined (~/.aws/config and ~/.aws/credentials are missing or empty)".into()
        }
        None => chain,
    }
}

fn classify_code(action: String, code: String, message: String) -> Error {
    let lc = code.to_ascii_lowercase();
    if lc.contains("accessdenied")
        || lc == "unauthorizedoperation"
        || lc == "authorizationerror"
        || lc == "authorizationerrorexception"
        || lc == "403"
    {
        Error::AccessDenied { action, message: if message.is_empty() { code } else { message } }
    } else if lc.contains("notfound") || lc == "nosuchentity" || lc == "resourcenotfoundexception" {
        Error::NotFound { action, message }
    } else if lc.contains("throttl")
        || lc == "requestlimitexceeded"
        || lc == "toomanyrequestsexception"
        || lc == "limitexceededexception" && message.to_ascii_lowercase().contains("rate")
    {
        Error::Throttled { action, message }
    } else if lc.contains("invalidclienttokenid")
        || lc.contains("unrecognizedclient")
        || lc.contains("expiredtoken")
        || lc.contains("signaturedoesnotmatch")
    {
        Error::Credentials { action, message: format!("{code}: {message}") }
    } else {
        Error::Service { action, code, message }
    }
}

/// The error's causes joined on one line, skipping repeats, without Debug output.
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    let text = parts.join(": ");
    if text.contains("no credentials found in chain") {
        // The SDK lists every provider it tried on lines of their own; one line says it all.
        return "no credentials found in the environment, the AWS config and credentials files, web identity, ECS or instance metadata".into();
    }
    // One paragraph: SDK messages sometimes span lines.
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

fn unit_str<T: AsRef<str>>(u: Option<&T>) -> Option<String> {
    u.map(|x| x.as_ref().to_string())
}

impl CloudApi for Live {
    async fn caller_identity(&self) -> Result<Identity> {
        const A: &str = "sts:GetCallerIdentity";
        self.count(A);
        let out = self.sts.get_caller_identity().send().await.map_err(|e| classify(A, e))?;
        let arn = out.arn().unwrap_or_default().to_string();
        let partition = arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_string();
        Ok(Identity { account: out.account().unwrap_or_default().to_string(), arn, partition })
    }

    async fn account_alias(&self) -> Result<Option<String>> {
        const A: &str = "iam:ListAccountAliases";
        self.count(A);
        let out = self.iam.list_account_aliases().send().await.map_err(|e| classify(A, e))?;
        Ok(out.account_aliases().first().cloned())
    }

    async fn describe_trails(&self, region: &str) -> Result<Vec<TrailInfo>> {
        const A: &str = "cloudtrail:DescribeTrails";
        self.count(A);
        let out = self
            .clients(region)
            .trail
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(out
            .trail_list()
            .iter()
            .map(|t| TrailInfo {
                name: t.name().unwrap_or_default().to_string(),
                arn: t.trail_arn().unwrap_or_default().to_string(),
                home_region: t.home_region().unwrap_or(region).to_string(),
                is_multi_region: t.is_multi_region_trail().unwrap_or(false),
                is_organization_trail: t.is_organization_trail().unwrap_or(false),
                log_group_arn: t.cloud_watch_logs_log_group_arn().filter(|s| !s.is_empty()).map(str::to_string),
            })
            .collect())
    }

    async fn trail_is_logging(&self, region: &str, trail_arn: &str) -> Result<bool> {
        const A: &str = "cloudtrail:GetTrailStatus";
        self.count(A);
        let out =
            self.clients(region).trail.get_trail_status().name(trail_arn).send().await.map_err(|e| classify(A, e))?;
        Ok(out.is_logging().unwrap_or(false))
    }

    async fn trail_management_events(&self, region: &str, trail_arn: &str) -> Result<ManagementEvents> {
        const A: &str = "cloudtrail:GetEventSelectors";
        self.count(A);
        let out = self
            .clients(region)
            .trail
            .get_event_selectors()
            .trail_name(trail_arn)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        let mut best = ManagementEvents::None;
        let mut raise = |m: ManagementEvents| {
            best = match (best, m) {
                (ManagementEvents::All, _) | (_, ManagementEvents::All) => ManagementEvents::All,
                (ManagementEvents::Partial, _) | (_, ManagementEvents::Partial) => ManagementEvents::Partial,
                _ => ManagementEvents::None,
            }
        };
        for s in out.event_selectors() {
            if s.include_management_events().unwrap_or(true) {
                let all = s.read_write_type().map(|r| r.as_str() == "All").unwrap_or(true);
                // Excluded management event sources (e.g. KMS) drop events CIS filters need.
                let excludes = !s.exclude_management_event_sources().is_empty();
                raise(if all && !excludes { ManagementEvents::All } else { ManagementEvents::Partial });
            }
        }
        for s in out.advanced_event_selectors() {
            let fields = s.field_selectors();
            let is_mgmt =
                fields.iter().any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"));
            if !is_mgmt {
                continue;
            }
            let narrowed = fields.iter().any(|f| f.field() != "eventCategory");
            raise(if narrowed { ManagementEvents::Partial } else { ManagementEvents::All });
        }
        Ok(best)
    }

    async fn log_group(&self, region: &str, name: &str) -> Result<Option<Option<i32>>> {
        const A: &str = "logs:DescribeLogGroups";
        let mut pages =
            self.clients(region).logs.describe_log_groups().log_group_name_prefix(name).into_paginator().send();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = page.map_err(|e| classify(A, e))?;
            if let Some(g) = page.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
                return Ok(Some(g.retention_in_days()));
            }
        }
        Ok(None)
    }

    async fn metric_filters(&self, region: &str, log_group: &str) -> Result<Vec<MetricFilter>> {
        const A: &str = "logs:DescribeMetricFilters";
        let mut pages =
            self.clients(region).logs.describe_metric_filters().log_group_name(log_group).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let e = classify(A, e);
                    if matches!(e, Error::NotFound { .. }) {
                        return Ok(vec![]);
                    }
                    return Err(e);
                }
            };
            out.extend(page.metric_filters().iter().map(|f| filter_from_sdk(f, log_group)));
        }
        out.sort_by(|a, b| a.filter_name.cmp(&b.filter_name));
        Ok(out)
    }

    async fn metric_alarms(&self, region: &str) -> Result<Vec<Alarm>> {
        const A: &str = "cloudwatch:DescribeAlarms";
        use aws_sdk_cloudwatch::types::AlarmType;
        let mut pages = self
            .clients(region)
            .cw
            .describe_alarms()
            .alarm_types(AlarmType::MetricAlarm)
            // The largest page AWS allows: half the round trips of the default 50.
            .max_records(100)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = page.map_err(|e| classify(A, e))?;
            out.extend(page.metric_alarms().iter().map(alarm_from_sdk));
        }
        out.sort_by(|a, b| a.alarm_name.cmp(&b.alarm_name));
        Ok(out)
    }

    async fn metric_filter(&self, region: &str, log_group: &str, name: &str) -> Result<Option<MetricFilter>> {
        const A: &str = "logs:DescribeMetricFilters";
        let mut pages = self
            .clients(region)
            .logs
            .describe_metric_filters()
            .log_group_name(log_group)
            .filter_name_prefix(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = match page.map_err(|e| classify(A, e)) {
                Ok(p) => p,
                Err(Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            if let Some(f) = page.metric_filters().iter().find(|f| f.filter_name() == Some(name)) {
                return Ok(Some(filter_from_sdk(f, log_group)));
            }
        }
        Ok(None)
    }

    async fn metric_alarm(&self, region: &str, name: &str) -> Result<Option<Alarm>> {
        const A: &str = "cloudwatch:DescribeAlarms";
        use aws_sdk_cloudwatch::types::AlarmType;
        self.count(A);
        let out = self
            .clients(region)
            .cw
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name)).map(alarm_from_sdk))
    }

    async fn alarm_actions(
        &self,
        region: &str,
        alarm: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<AlarmHistoryItem>> {
        const A: &str = "cloudwatch:DescribeAlarmHistory";
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{HistoryItemType, ScanBy};
        let mut pages = self
            .clients(region)
            .cw
            .describe_alarm_history()
            .alarm_name(alarm)
            .history_item_type(HistoryItemType::Action)
            .start_date(DateTime::from_millis(start_ms))
            .end_date(DateTime::from_millis(end_ms))
            .scan_by(ScanBy::TimestampDescending)
            // The largest page AWS allows (1-100).
            .max_records(100)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        let mut read = 0;
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = page.map_err(|e| classify(A, e))?;
            read += 1;
            for item in page.alarm_history_items() {
                // An item without a time cannot be placed before or after another: skipped.
                let Some(timestamp_ms) = item.timestamp().and_then(|t| t.to_millis().ok()) else { continue };
                out.push(AlarmHistoryItem {
                    timestamp_ms,
                    summary: item.history_summary().unwrap_or_default().to_string(),
                    data: item.history_data().unwrap_or_default().to_string(),
                });
            }
            if read == ALARM_HISTORY_PAGES {
                // Newest first: what each topic's newest item says (failed, or delivered
                // since) is in these pages for every topic they name; an alarm that acts all
                // day would otherwise cost a call per 100 items of 30 days.
                break;
            }
        }
        Ok(out)
    }

    async fn list_topics(&self, region: &str) -> Result<Vec<String>> {
        const A: &str = "sns:ListTopics";
        let mut pages = self.clients(region).sns.list_topics().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = page.map_err(|e| classify(A, e))?;
            out.extend(page.topics().iter().filter_map(|t| t.topic_arn().map(str::to_string)));
        }
        out.sort();
        Ok(out)
    }

    async fn topic_attributes(&self, region: &str, topic_arn: &str) -> Result<Option<BTreeMap<String, String>>> {
        const A: &str = "sns:GetTopicAttributes";
        self.count(A);
        match self
            .clients(region)
            .sns
            .get_topic_attributes()
            .topic_arn(topic_arn)
            .send()
            .await
            .map_err(|e| classify(A, e))
        {
            Ok(out) => Ok(Some(
                out.attributes().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
            )),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn subscriptions(&self, region: &str, topic_arn: &str) -> Result<Vec<Subscription>> {
        const A: &str = "sns:ListSubscriptionsByTopic";
        let mut pages =
            self.clients(region).sns.list_subscriptions_by_topic().topic_arn(topic_arn).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = match page.map_err(|e| classify(A, e)) {
                Ok(p) => p,
                Err(Error::NotFound { .. }) => return Ok(vec![]),
                Err(e) => return Err(e),
            };
            for s in page.subscriptions() {
                let arn = s.subscription_arn().unwrap_or_default();
                // AWS lists an unconfirmed subscription with the literal ARN "PendingConfirmation";
                // "Deleted" appears briefly after an unsubscribe. Neither reaches anybody.
                let pending = arn == "PendingConfirmation" || arn == "Deleted" || arn.is_empty();
                out.push(Subscription {
                    protocol: s.protocol().unwrap_or_default().to_string(),
                    endpoint: s.endpoint().unwrap_or_default().to_string(),
                    subscription_arn: (!pending).then(|| arn.to_string()),
                    pending_confirmation: pending,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    async fn kms_key(&self, region: &str, key: &str) -> Result<KmsKey> {
        const A: &str = "kms:DescribeKey";
        const B: &str = "kms:GetKeyPolicy";
        self.count(A);
        let kms = self.clients(region).kms;
        let meta = match kms.describe_key().key_id(key).send().await.map_err(|e| classify(A, e)) {
            Ok(out) => out.key_metadata().cloned(),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(meta) = meta else {
            return Ok(KmsKey {
                reference: key.to_string(),
                region: region.to_string(),
                key_arn: None,
                aws_managed: false,
                policy: None,
            });
        };
        let aws_managed = meta.key_manager().is_some_and(|m| m.as_str() == "AWS");
        self.count(B);
        let policy = kms
            .get_key_policy()
            .key_id(meta.key_id())
            .policy_name("default")
            .send()
            .await
            .map_err(|e| classify(B, e))?
            .policy()
            .map(str::to_string);
        Ok(KmsKey {
            reference: key.to_string(),
            region: region.to_string(),
            key_arn: meta.arn().map(str::to_string),
            aws_managed,
            policy,
        })
    }

    async fn query_definitions(&self, region: &str) -> Result<Vec<QueryDefinition>> {
        const A: &str = "logs:DescribeQueryDefinitions";
        // No paginator in the SDK for this call: follow nextToken by hand, bounded.
        let logs = self.clients(region).logs;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            self.count(A);
            let page = logs
                .describe_query_definitions()
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify(A, e))?;
            for q in page.query_definitions() {
                out.push(QueryDefinition {
                    name: q.name().unwrap_or_default().to_string(),
                    query_string: q.query_string().unwrap_or_default().to_string(),
                    log_group_names: q.log_group_names().to_vec(),
                    query_definition_id: q.query_definition_id().map(str::to_string),
                });
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| (&a.name, &a.query_definition_id).cmp(&(&b.name, &b.query_definition_id)));
        Ok(out)
    }

    async fn put_query_definition(&self, region: &str, q: &QueryDefinition) -> Result<String> {
        const A: &str = "logs:PutQueryDefinition";
        self.count(A);
        let out = self
            .clients(region)
            .logs
            .put_query_definition()
            .name(&q.name)
            .query_string(&q.query_string)
            .set_log_group_names(Some(q.log_group_names.clone()))
            .set_query_definition_id(q.query_definition_id.clone())
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(out.query_definition_id().unwrap_or_default().to_string())
    }

    async fn delete_query_definition(&self, region: &str, id: &str) -> Result<()> {
        const A: &str = "logs:DeleteQueryDefinition";
        self.count(A);
        self.clients(region)
            .logs
            .delete_query_definition()
            .query_definition_id(id)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn put_retention_policy(&self, region: &str, log_group: &str, days: i32) -> Result<()> {
        const A: &str = "logs:PutRetentionPolicy";
        self.count(A);
        self.clients(region)
            .logs
            .put_retention_policy()
            .log_group_name(log_group)
            .retention_in_days(days)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn delete_retention_policy(&self, region: &str, log_group: &str) -> Result<()> {
        const A: &str = "logs:DeleteRetentionPolicy";
        self.count(A);
        self.clients(region)
            .logs
            .delete_retention_policy()
            .log_group_name(log_group)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn create_topic(&self, region: &str, topic: &NewTopic) -> Result<String> {
        const A: &str = "sns:CreateTopic";
        self.count(A);
        let mut req = self.clients(region).sns.create_topic().name(&topic.name);
        for (k, v) in &topic.attributes {
            req = req.attributes(k, v);
        }
        for (k, v) in &topic.tags {
            let tag = aws_sdk_sns::types::Tag::builder().key(k).value(v).build().map_err(|e| Error::Service {
                action: A.into(),
                code: "InvalidTag".into(),
                message: e.to_string(),
            })?;
            req = req.tags(tag);
        }
        let out = req.send().await.map_err(|e| classify(A, e))?;
        Ok(out.topic_arn().unwrap_or_default().to_string())
    }

    async fn delete_topic(&self, region: &str, topic_arn: &str) -> Result<()> {
        const A: &str = "sns:DeleteTopic";
        self.count(A);
        self.clients(region).sns.delete_topic().topic_arn(topic_arn).send().await.map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn set_topic_attribute(&self, region: &str, topic_arn: &str, name: &str, value: &str) -> Result<()> {
        const A: &str = "sns:SetTopicAttributes";
        self.count(A);
        self.clients(region)
            .sns
            .set_topic_attributes()
            .topic_arn(topic_arn)
            .attribute_name(name)
            .attribute_value(value)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn subscribe(&self, region: &str, topic_arn: &str, protocol: &str, endpoint: &str) -> Result<String> {
        const A: &str = "sns:Subscribe";
        self.count(A);
        let out = self
            .clients(region)
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint)
            // Ask for the real ARN even while confirmation is pending, so rollback can remove it.
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(out.subscription_arn().unwrap_or_default().to_string())
    }

    async fn unsubscribe(&self, region: &str, subscription_arn: &str) -> Result<()> {
        const A: &str = "sns:Unsubscribe";
        self.count(A);
        self.clients(region)
            .sns
            .unsubscribe()
            .subscription_arn(subscription_arn)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn put_metric_filter(&self, region: &str, filter: &MetricFilter) -> Result<()> {
        const A: &str = "logs:PutMetricFilter";
        use aws_sdk_cloudwatchlogs::types::{MetricTransformation as T, StandardUnit};
        self.count(A);
        let mut req = self
            .clients(region)
            .logs
            .put_metric_filter()
            .log_group_name(&filter.log_group_name)
            .filter_name(&filter.filter_name)
            .filter_pattern(&filter.filter_pattern);
        for t in &filter.metric_transformations {
            let mut b = T::builder()
                .metric_name(&t.metric_name)
                .metric_namespace(&t.metric_namespace)
                .metric_value(&t.metric_value)
                .set_default_value(t.default_value)
                .set_unit(t.unit.as_deref().map(StandardUnit::from));
            for (k, v) in &t.dimensions {
                b = b.dimensions(k, v);
            }
            let t = b.build().map_err(|e| Error::Service {
                action: A.into(),
                code: "InvalidParameter".into(),
                message: e.to_string(),
            })?;
            req = req.metric_transformations(t);
        }
        if let Some(x) = filter.apply_on_transformed_logs {
            req = req.apply_on_transformed_logs(x);
        }
        req.send().await.map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn delete_metric_filter(&self, region: &str, log_group: &str, filter_name: &str) -> Result<()> {
        const A: &str = "logs:DeleteMetricFilter";
        self.count(A);
        self.clients(region)
            .logs
            .delete_metric_filter()
            .log_group_name(log_group)
            .filter_name(filter_name)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn put_metric_alarm(&self, region: &str, a: &Alarm) -> Result<()> {
        const A: &str = "cloudwatch:PutMetricAlarm";
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StandardUnit, Statistic};
        self.count(A);
        let mut req = self
            .clients(region)
            .cw
            .put_metric_alarm()
            .alarm_name(&a.alarm_name)
            .set_alarm_description(a.alarm_description.clone())
            .actions_enabled(a.actions_enabled)
            .set_alarm_actions(Some(a.alarm_actions.clone()))
            .set_ok_actions(Some(a.ok_actions.clone()))
            .set_insufficient_data_actions(Some(a.insufficient_data_actions.clone()))
            .set_metric_name(a.metric_name.clone())
            .set_namespace(a.namespace.clone())
            .set_statistic(a.statistic.as_ref().map(|s| Statistic::from(s.as_str())))
            .set_extended_statistic(a.extended_statistic.clone())
            .set_period(a.period)
            .set_unit(a.unit.as_deref().map(StandardUnit::from))
            .set_evaluation_periods(a.evaluation_periods)
            .set_datapoints_to_alarm(a.datapoints_to_alarm)
            .set_threshold(a.threshold)
            .set_comparison_operator(a.comparison_operator.as_ref().map(|c| ComparisonOperator::from(c.as_str())))
            .set_treat_missing_data(a.treat_missing_data.as_ref().map(|t| t.to_string()))
            .set_evaluate_low_sample_count_percentile(a.evaluate_low_sample_count_percentile.clone())
            .set_threshold_metric_id(a.threshold_metric_id.clone());
        for (k, v) in &a.dimensions {
            req = req.dimensions(Dimension::builder().name(k).value(v).build());
        }
        req.send().await.map_err(|e| classify(A, e))?;
        Ok(())
    }

    async fn delete_alarm(&self, region: &str, alarm_name: &str) -> Result<()> {
        const A: &str = "cloudwatch:DeleteAlarms";
        self.count(A);
        self.clients(region).cw.delete_alarms().alarm_names(alarm_name).send().await.map_err(|e| classify(A, e))?;
        Ok(())
    }
}

/// Pages of alarm history read per alarm (100 items each, newest first). Enough for every topic
/// of an alarm that notifies a few, ten times over; see `alarm_actions`.
const ALARM_HISTORY_PAGES: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        let c = |code: &str| classify_code("x:Y".into(), code.into(), "m".into());
        assert!(matches!(c("AccessDeniedException"), Error::AccessDenied { .. }));
        assert!(matches!(c("AccessDenied"), Error::AccessDenied { .. }));
        assert!(matches!(c("ResourceNotFoundException"), Error::NotFound { .. }));
        assert!(matches!(c("TrailNotFoundException"), Error::NotFound { .. }));
        assert!(matches!(c("ThrottlingException"), Error::Throttled { .. }));
        assert!(matches!(c("Throttling"), Error::Throttled { .. }));
        assert!(matches!(c("InvalidClientTokenId"), Error::Credentials { .. }));
        assert!(matches!(c("InvalidParameterException"), Error::Service { .. }));
    }
}
