//! The alarms' action history (issue #11: "DescribeAlarmHistory action items that say the
//! notification failed in the last 30 days"). AWS writes an `Action` item each time an alarm
//! runs one of its actions: `HistorySummary` is `Successfully executed action ARN` or `Failed to
//! execute action ARN`, and `HistoryData` a JSON document with `actionState` (`Succeeded`,
//! `Failed`), `notificationResource` (the ARN) and, on failure, `error`.
//!
//! Read only for the alarms that notify a topic and watch a metric of the trail's log group,
//! a few at a time; kept per (alarm, topic) as the latest failure and the latest success. What
//! counts as broken (recent, and not followed by a success) is the planner's decision.

use super::{gap, Gaps};
use crate::aws::{self, AlarmHistoryItem, CloudApi};
use crate::model::{FailedNotification, RegionalAlarm, FAILED_NOTIFICATION_WINDOW_MS};
use futures_util::StreamExt;
use std::collections::BTreeMap;

/// History reads in flight at once per region. An account may have hundreds of alarms on trail
/// metrics, every CloudWatch call of the account and region shares one request quota, and this
/// check matters less than the reads of the chain itself: a few at a time, not all at once.
/// The quota is regional, so regions go side by side (one bound for all of them put 16
/// regions' reads in a queue: 2x the plan's wall time of one region behind 50 ms of latency).
const AT_ONCE: usize = 8;

/// Longest error text kept from `HistoryData` (it may be up to 4095 characters; the plan shows
/// it in one line of a reason).
const ERROR_CHARS: usize = 300;

/// One alarm's history read, before a failed read becomes a gap.
pub(super) struct Read {
    region: String,
    alarm: String,
    items: aws::Result<Vec<AlarmHistoryItem>>,
}

/// Reads the `Action` items of `alarms` from `now_ms` minus the window to `now_ms`.
pub(super) async fn read(api: &impl CloudApi, alarms: &[&RegionalAlarm], now_ms: i64) -> Vec<Read> {
    let mut by_region: BTreeMap<&str, Vec<&RegionalAlarm>> = BTreeMap::new();
    for ra in alarms {
        by_region.entry(ra.region.as_str()).or_default().push(ra);
    }
    // The futures are made first and then streamed: a stream that maps with a closure is not
    // `Send` for every lifetime, which `tokio::spawn` (one task per account) requires.
    let regions: Vec<_> = by_region
        .into_values()
        .map(|list| {
            let reads: Vec<_> = list.into_iter().map(|ra| read_one(api, ra, now_ms)).collect();
            futures_util::stream::iter(reads).buffered(AT_ONCE).collect::<Vec<Read>>()
        })
        .collect();
    futures_util::future::join_all(regions).await.into_iter().flatten().collect()
}

async fn read_one(api: &impl CloudApi, ra: &RegionalAlarm, now_ms: i64) -> Read {
    let start_ms = now_ms - FAILED_NOTIFICATION_WINDOW_MS;
    let items = api.alarm_actions(&ra.region, &ra.alarm.alarm_name, start_ms, now_ms).await;
    Read { region: ra.region.clone(), alarm: ra.alarm.alarm_name.clone(), items }
}

/// The failures the reads found, sorted; a read that failed is a gap. Every error is, even one
/// that would end discovery elsewhere: the check is made "when the API allows", and an endpoint
/// that lacks the operation may answer in ways the SDK cannot tell from a broken connection.
/// The chain is then judged as if the history were clean, and the plan says it could not look.
pub(super) fn collect(reads: Vec<Read>, gaps: &mut Gaps) -> Vec<FailedNotification> {
    let mut out = Vec::new();
    for r in reads {
        match r.items {
            Ok(items) => out.extend(failures(&r.region, &r.alarm, &items)),
            Err(e) => gaps.0.push(gap(&r.region, &e, &r.alarm)),
        }
    }
    out.sort_by(|a, b| (&a.region, &a.alarm_name, &a.topic_arn).cmp(&(&b.region, &b.alarm_name, &b.topic_arn)));
    out
}

/// Per SNS topic the alarm tried to notify and failed at least once: its latest failure, and
/// its latest success to that topic.
pub(crate) fn failures(region: &str, alarm: &str, items: &[AlarmHistoryItem]) -> Vec<FailedNotification> {
    let mut failed: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let mut succeeded: BTreeMap<String, i64> = BTreeMap::new();
    for item in items {
        let Some((topic, error)) = attempt(item) else { continue };
        let at = item.timestamp_ms;
        match error {
            None => {
                let last = succeeded.entry(topic).or_insert(at);
                *last = (*last).max(at);
            }
            Some(e) => {
                let last = failed.entry(topic).or_insert((at, e.clone()));
                if at > last.0 {
                    *last = (at, e);
                }
            }
        }
    }
    failed
        .into_iter()
        .map(|(topic, (at, error))| FailedNotification {
            region: region.to_string(),
            alarm_name: alarm.to_string(),
            last_success_ms: succeeded.get(&topic).copied(),
            topic_arn: topic,
            failed_at_ms: at,
            error,
        })
        .collect()
}

/// What one `Action` item says about an SNS notification: the topic, and the error when it
/// failed. `None` for other actions (Auto Scaling, EC2, Lambda, ...) and items it cannot read.
/// `HistoryData` is the record; the summary's wording is the fallback when it is unreadable.
fn attempt(item: &AlarmHistoryItem) -> Option<(String, Option<String>)> {
    let data: serde_json::Value = serde_json::from_str(&item.data).unwrap_or_default();
    let field = |k| text(&data, k);
    let summary = item
        .summary
        .strip_prefix("Successfully executed action ")
        .map(|rest| (true, first_arn(rest)))
        .or_else(|| item.summary.strip_prefix("Failed to execute action ").map(|rest| (false, first_arn(rest))));
    let ok = match field("actionState") {
        Some("Succeeded") => true,
        Some("Failed") => false,
        // A state this cwfix does not know says neither.
        Some(_) => return None,
        None => summary?.0,
    };
    let topic = field("notificationResource").or(summary.map(|s| s.1))?;
    crate::model::topic_arn_parts(topic)?;
    let error = (!ok).then(|| one_line(field("error").unwrap_or(&item.summary)));
    Some((topic.to_string(), error))
}

/// The ARN a summary names: AWS may go on after it (`Failed to execute action ARN. Received
/// error: "..."`), and an ARN has no spaces.
fn first_arn(rest: &str) -> &str {
    rest.split_whitespace().next().unwrap_or("").trim_end_matches('.')
}

/// A non-empty string field of a JSON object.
fn text<'a>(data: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty())
}

/// `s` on one line, at most [`ERROR_CHARS`] characters.
fn one_line(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(ERROR_CHARS) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sec";

    fn item(at: i64, summary: &str, data: serde_json::Value) -> AlarmHistoryItem {
        AlarmHistoryItem { timestamp_ms: at, summary: summary.into(), data: data.to_string() }
    }

    fn failed(at: i64, error: &str) -> AlarmHistoryItem {
        item(
            at,
            &format!("Failed to execute action {TOPIC}"),
            serde_json::json!({"actionState": "Failed", "stateUpdateTimestamp": at,
                               "notificationResource": TOPIC, "publishedMessage": null, "error": error}),
        )
    }

    fn succeeded(at: i64) -> AlarmHistoryItem {
        item(
            at,
            &format!("Successfully executed action {TOPIC}"),
            serde_json::json!({"actionState": "Succeeded", "stateUpdateTimestamp": at,
                               "notificationResource": TOPIC, "publishedMessage": "{}"}),
        )
    }

    #[test]
    fn the_latest_failure_and_the_latest_success_per_topic() {
        let items = [succeeded(5), failed(4, "AuthorizationError: old"), failed(3, "older"), succeeded(1)];
        let f = failures("us-east-1", "a", &items);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].failed_at_ms, f[0].error.as_str()), (4, "AuthorizationError: old"));
        assert_eq!(f[0].last_success_ms, Some(5));
        assert!(f[0].succeeded_since());
        let f = failures("us-east-1", "a", &[failed(9, "KMS.AccessDeniedException"), succeeded(5)]);
        assert!(!f[0].succeeded_since(), "{f:?}");
    }

    #[test]
    fn only_sns_actions_count_and_the_summary_is_the_fallback() {
        let lambda = item(
            7,
            "Failed to execute action arn:aws:lambda:us-east-1:123456789012:function:f",
            serde_json::json!({"actionState": "Failed", "notificationResource": "arn:aws:lambda:us-east-1:123456789012:function:f"}),
        );
        // The wording AWS's Knowledge Center quotes for a topic policy that refuses CloudWatch.
        let summary = format!(
            "Failed to execute action {TOPIC}. Received error: \"Resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:a is not authorized to perform: SNS:Publish on resource: {TOPIC}\""
        );
        let no_data = AlarmHistoryItem { timestamp_ms: 8, summary: summary.clone(), data: "".into() };
        let f = failures("us-east-1", "a", &[lambda, no_data]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].topic_arn.as_str(), f[0].failed_at_ms), (TOPIC, 8));
        assert_eq!(f[0].error, summary);
        assert!(failures("us-east-1", "a", &[succeeded(1)]).is_empty(), "successes alone are no failure");
    }

    #[test]
    fn long_errors_are_cut_to_one_line() {
        let f = failures("us-east-1", "a", &[failed(1, &format!("line one\nline two {}", "x".repeat(500)))]);
        assert!(f[0].error.starts_with("line one line two x") && f[0].error.ends_with("..."), "{}", f[0].error);
        assert_eq!(f[0].error.chars().count(), ERROR_CHARS + 3);
    }
}
