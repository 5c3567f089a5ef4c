//! An in-memory [`CloudApi`] for unit tests of discovery, apply and rollback: AWS's semantics
//! where cwfix depends on them (PutMetricFilter and PutMetricAlarm upsert by name, email
//! subscriptions stay pending until confirmed, deletes of missing things fail as AWS's do),
//! every call recorded, and two seams: a fault at the N-th call, and a hook that runs before
//! every call and may change the state (another person editing the account mid-apply).

use super::{AlarmHistoryItem, CloudApi, Error, Identity, ManagementEvents, NewTopic, Result, TrailInfo};
use crate::model::{Alarm, KmsKey, MetricFilter, QueryDefinition, Subscription};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A topic as the fake keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakeTopic {
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub subscriptions: Vec<Subscription>,
}

/// The whole fake account. Public so tests can seed and inspect it. Two states are equal when
/// their resources are (the id counter is not a resource).
#[derive(Debug, Clone)]
pub struct State {
    pub account: String,
    pub trails: Vec<(TrailInfo, bool, ManagementEvents)>,
    /// (region, log group) -> retention in days.
    pub log_groups: BTreeMap<(String, String), Option<i32>>,
    /// (region, log group) -> filters by name.
    pub filters: BTreeMap<(String, String), BTreeMap<String, MetricFilter>>,
    /// (region, alarm name) -> alarm.
    pub alarms: BTreeMap<(String, String), Alarm>,
    pub topics: BTreeMap<String, FakeTopic>,
    pub kms: BTreeMap<(String, String), KmsKey>,
    /// (region, query definition id) -> query.
    pub queries: BTreeMap<(String, String), QueryDefinition>,
    /// (region, alarm name, item): the alarms' history, which AWS writes itself (not a
    /// resource: kept after the alarm is deleted, as AWS does, and not part of `==`).
    pub history: Vec<(String, String, AlarmHistoryItem)>,
    next_id: u64,
}

impl PartialEq for State {
    fn eq(&self, o: &State) -> bool {
        (
            &self.account,
            &self.trails,
            &self.log_groups,
            &self.filters,
            &self.alarms,
            &self.topics,
            &self.kms,
            &self.queries,
        ) == (&o.account, &o.trails, &o.log_groups, &o.filters, &o.alarms, &o.topics, &o.kms, &o.queries)
    }
}

impl State {
    /// An account with one multi-region, logging trail in us-east-1 delivering to log group `ct`.
    pub fn with_trail() -> State {
        let account = "123456789012".to_string();
        let mut s = State {
            account: account.clone(),
            trails: vec![],
            log_groups: BTreeMap::new(),
            filters: BTreeMap::new(),
            alarms: BTreeMap::new(),
            topics: BTreeMap::new(),
            kms: BTreeMap::new(),
            queries: BTreeMap::new(),
            history: vec![],
            next_id: 0,
        };
        s.trails.push((
            TrailInfo {
                name: "main".into(),
                arn: format!("arn:aws:cloudtrail:us-east-1:{account}:trail/main"),
                home_region: "us-east-1".into(),
                is_multi_region: true,
                is_organization_trail: false,
                log_group_arn: Some(format!("arn:aws:logs:us-east-1:{account}:log-group:ct:*")),
            },
            true,
            ManagementEvents::All,
        ));
        s.log_groups.insert(("us-east-1".into(), "ct".into()), None);
        s
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}", self.next_id)
    }

    /// Records the `Action` history item AWS writes when alarm `alarm` notifies `topic` at
    /// `at_ms` (in the topic's region): a success, or a failure with `error`.
    pub fn alarm_acted(&mut self, alarm: &str, topic: &str, at_ms: i64, error: Option<&str>) {
        let (summary, data) = match error {
            None => (
                format!("Successfully executed action {topic}"),
                serde_json::json!({"actionState": "Succeeded", "stateUpdateTimestamp": at_ms,
                                   "notificationResource": topic, "publishedMessage": "{}"}),
            ),
            Some(e) => (
                format!("Failed to execute action {topic}. Received error: \"{e}\""),
                serde_json::json!({"actionState": "Failed", "stateUpdateTimestamp": at_ms,
                                   "notificationResource": topic, "publishedMessage": null, "error": e}),
            ),
        };
        let item = AlarmHistoryItem { timestamp_ms: at_ms, summary, data: data.to_string() };
        self.history.push((topic_region(topic).to_string(), alarm.to_string(), item));
    }

    /// Confirms every pending subscription (the recipient clicks the link).
    pub fn confirm_all(&mut self) {
        for t in self.topics.values_mut() {
            for s in t.subscriptions.iter_mut() {
                s.pending_confirmation = false;
            }
        }
    }
}

type Hook = Box<dyn FnMut(usize, &str, &mut State) + Send>;

/// The fake. `calls()` lists every call by IAM action, in order.
pub struct Fake {
    state: Mutex<State>,
    calls: Mutex<Vec<String>>,
    /// Fail the call with this 1-based number with this error.
    fail_at: Mutex<Option<(usize, Error)>>,
    hook: Mutex<Option<Hook>>,
}

impl Fake {
    pub fn new(state: State) -> Fake {
        Fake { state: Mutex::new(state), calls: Mutex::new(vec![]), fail_at: Mutex::new(None), hook: Mutex::new(None) }
    }

    pub fn state(&self) -> State {
        self.state.lock().unwrap().clone()
    }

    pub fn edit(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap());
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Writes made so far (calls that are not reads).
    pub fn writes(&self) -> Vec<String> {
        self.calls().into_iter().filter(|a| !is_read(a)).collect()
    }

    pub fn fail_at(&self, call: usize, e: Error) {
        *self.fail_at.lock().unwrap() = Some((call, e));
    }

    /// Runs `hook(call number, action, state)` before every call.
    pub fn on_call(&self, hook: impl FnMut(usize, &str, &mut State) + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
    }

    /// Records the call, runs the hook and the fault, then `f` on the state.
    fn call<T>(&self, action: &str, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(action.to_string());
            calls.len()
        };
        let mut state = self.state.lock().unwrap();
        if let Some(h) = self.hook.lock().unwrap().as_mut() {
            h(n, action, &mut state);
        }
        let mut fail = self.fail_at.lock().unwrap();
        if fail.as_ref().is_some_and(|(at, _)| *at == n) {
            return Err(fail.take().expect("checked").1);
        }
        drop(fail);
        f(&mut state)
    }
}

fn is_read(action: &str) -> bool {
    let verb = action.split(':').nth(1).unwrap_or("");
    ["Describe", "Get", "List"].iter().any(|p| verb.starts_with(p))
}

fn not_found(action: &str, what: &str) -> Error {
    Error::NotFound { action: action.into(), message: format!("{what} does not exist") }
}

fn key(region: &str, name: &str) -> (String, String) {
    (region.to_string(), name.to_string())
}

fn topic_region(arn: &str) -> &str {
    crate::model::topic_arn_parts(arn).map(|p| p.1).unwrap_or("")
}

impl CloudApi for Fake {
    async fn caller_identity(&self) -> Result<Identity> {
        self.call("sts:GetCallerIdentity", |s| {
            Ok(Identity {
                account: s.account.clone(),
                arn: format!("arn:aws:iam::{}:user/fake", s.account),
                partition: "aws".into(),
            })
        })
    }

    async fn account_alias(&self) -> Result<Option<String>> {
        self.call("iam:ListAccountAliases", |_| Ok(Some("fake-account".to_string())))
    }

    async fn describe_trails(&self, _region: &str) -> Result<Vec<TrailInfo>> {
        self.call("cloudtrail:DescribeTrails", |s| Ok(s.trails.iter().map(|t| t.0.clone()).collect()))
    }

    async fn trail_is_logging(&self, _region: &str, arn: &str) -> Result<bool> {
        self.call("cloudtrail:GetTrailStatus", |s| {
            s.trails.iter().find(|t| t.0.arn == arn).map(|t| t.1).ok_or_else(|| not_found("GetTrailStatus", arn))
        })
    }

    async fn trail_management_events(&self, _region: &str, arn: &str) -> Result<ManagementEvents> {
        self.call("cloudtrail:GetEventSelectors", |s| {
            s.trails.iter().find(|t| t.0.arn == arn).map(|t| t.2).ok_or_else(|| not_found("GetEventSelectors", arn))
        })
    }

    async fn log_group(&self, region: &str, name: &str) -> Result<Option<Option<i32>>> {
        self.call("logs:DescribeLogGroups", |s| Ok(s.log_groups.get(&key(region, name)).copied()))
    }

    async fn metric_filters(&self, region: &str, log_group: &str) -> Result<Vec<MetricFilter>> {
        self.call("logs:DescribeMetricFilters", |s| {
            Ok(s.filters.get(&key(region, log_group)).map(|m| m.values().cloned().collect()).unwrap_or_default())
        })
    }

    async fn metric_filter(&self, region: &str, log_group: &str, name: &str) -> Result<Option<MetricFilter>> {
        self.call("logs:DescribeMetricFilters", |s| {
            Ok(s.filters.get(&key(region, log_group)).and_then(|m| m.get(name)).cloned())
        })
    }

    async fn metric_alarms(&self, region: &str) -> Result<Vec<Alarm>> {
        self.call("cloudwatch:DescribeAlarms", |s| {
            Ok(s.alarms.iter().filter(|((r, _), _)| r == region).map(|(_, a)| a.clone()).collect())
        })
    }

    async fn metric_alarm(&self, region: &str, name: &str) -> Result<Option<Alarm>> {
        self.call("cloudwatch:DescribeAlarms", |s| Ok(s.alarms.get(&key(region, name)).cloned()))
    }

    async fn alarm_actions(
        &self,
        region: &str,
        alarm: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<AlarmHistoryItem>> {
        self.call("cloudwatch:DescribeAlarmHistory", |s| {
            let mut items: Vec<AlarmHistoryItem> = s
                .history
                .iter()
                .filter(|(r, a, i)| r == region && a == alarm && (start_ms..=end_ms).contains(&i.timestamp_ms))
                .map(|(_, _, i)| i.clone())
                .collect();
            items.sort_by_key(|i| std::cmp::Reverse(i.timestamp_ms));
            Ok(items)
        })
    }

    async fn list_topics(&self, region: &str) -> Result<Vec<String>> {
        self.call("sns:ListTopics", |s| Ok(s.topics.keys().filter(|a| topic_region(a) == region).cloned().collect()))
    }

    async fn topic_attributes(&self, _region: &str, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
        self.call("sns:GetTopicAttributes", |s| Ok(s.topics.get(arn).map(|t| t.attributes.clone())))
    }

    async fn subscriptions(&self, _region: &str, arn: &str) -> Result<Vec<Subscription>> {
        self.call("sns:ListSubscriptionsByTopic", |s| match s.topics.get(arn) {
            // AWS lists a pending subscription as "PendingConfirmation", without its ARN.
            Some(t) => Ok(t
                .subscriptions
                .iter()
                .map(|x| Subscription {
                    subscription_arn: x.subscription_arn.clone().filter(|_| !x.pending_confirmation),
                    ..x.clone()
                })
                .collect()),
            None => Err(not_found("sns:ListSubscriptionsByTopic", arn)),
        })
    }

    async fn kms_key(&self, region: &str, k: &str) -> Result<KmsKey> {
        self.call("kms:DescribeKey", |s| {
            Ok(s.kms.get(&key(region, k)).cloned().unwrap_or(KmsKey {
                reference: k.into(),
                region: region.into(),
                key_arn: None,
                aws_managed: false,
                policy: None,
            }))
        })
    }

    async fn query_definitions(&self, region: &str) -> Result<Vec<QueryDefinition>> {
        self.call("logs:DescribeQueryDefinitions", |s| {
            Ok(s.queries.iter().filter(|((r, _), _)| r == region).map(|(_, q)| q.clone()).collect())
        })
    }

    async fn create_topic(&self, region: &str, t: &NewTopic) -> Result<String> {
        self.call("sns:CreateTopic", |s| {
            let arn = format!("arn:aws:sns:{region}:{}:{}", s.account, t.name);
            // CreateTopic is idempotent for the same attributes, as in AWS.
            let topic = s.topics.entry(arn.clone()).or_default();
            topic.attributes.extend(t.attributes.clone());
            topic.tags.extend(t.tags.clone());
            Ok(arn)
        })
    }

    async fn delete_topic(&self, _region: &str, arn: &str) -> Result<()> {
        self.call("sns:DeleteTopic", |s| {
            s.topics.remove(arn);
            Ok(())
        })
    }

    async fn set_topic_attribute(&self, _region: &str, arn: &str, name: &str, value: &str) -> Result<()> {
        self.call("sns:SetTopicAttributes", |s| {
            let t = s.topics.get_mut(arn).ok_or_else(|| not_found("sns:SetTopicAttributes", arn))?;
            t.attributes.insert(name.to_string(), value.to_string());
            Ok(())
        })
    }

    async fn subscribe(&self, _region: &str, arn: &str, protocol: &str, endpoint: &str) -> Result<String> {
        self.call("sns:Subscribe", |s| {
            let id = s.id();
            let t = s.topics.get_mut(arn).ok_or_else(|| not_found("sns:Subscribe", arn))?;
            if let Some(x) = t.subscriptions.iter().find(|x| x.protocol == protocol && x.endpoint == endpoint) {
                return Ok(x.subscription_arn.clone().unwrap_or_default());
            }
            let sub_arn = format!("{arn}:{id}");
            // Email waits for the recipient; AWS still returns the ARN when asked for it (the
            // fake keeps it, and hides it when listing, as AWS does).
            t.subscriptions.push(Subscription {
                protocol: protocol.into(),
                endpoint: endpoint.into(),
                subscription_arn: Some(sub_arn.clone()),
                pending_confirmation: protocol.starts_with("email"),
            });
            Ok(sub_arn)
        })
    }

    async fn unsubscribe(&self, _region: &str, sub_arn: &str) -> Result<()> {
        self.call("sns:Unsubscribe", |s| {
            for t in s.topics.values_mut() {
                t.subscriptions.retain(|x| x.subscription_arn.as_deref() != Some(sub_arn));
            }
            Ok(())
        })
    }

    async fn put_metric_filter(&self, region: &str, f: &MetricFilter) -> Result<()> {
        self.call("logs:PutMetricFilter", |s| {
            if !s.log_groups.contains_key(&key(region, &f.log_group_name)) {
                return Err(not_found("logs:PutMetricFilter", &f.log_group_name));
            }
            s.filters.entry(key(region, &f.log_group_name)).or_default().insert(f.filter_name.clone(), f.clone());
            Ok(())
        })
    }

    async fn delete_metric_filter(&self, region: &str, log_group: &str, name: &str) -> Result<()> {
        self.call("logs:DeleteMetricFilter", |s| {
            let removed = s.filters.get_mut(&key(region, log_group)).and_then(|m| m.remove(name));
            removed.map(|_| ()).ok_or_else(|| not_found("logs:DeleteMetricFilter", name))
        })
    }

    async fn put_metric_alarm(&self, region: &str, a: &Alarm) -> Result<()> {
        self.call("cloudwatch:PutMetricAlarm", |s| {
            let mut stored = a.clone();
            stored.alarm_arn = Some(format!("arn:aws:cloudwatch:{region}:{}:alarm:{}", s.account, a.alarm_name));
            s.alarms.insert(key(region, &a.alarm_name), stored);
            Ok(())
        })
    }

    async fn delete_alarm(&self, region: &str, name: &str) -> Result<()> {
        self.call("cloudwatch:DeleteAlarms", |s| {
            s.alarms.remove(&key(region, name));
            Ok(())
        })
    }

    async fn put_query_definition(&self, region: &str, q: &QueryDefinition) -> Result<String> {
        self.call("logs:PutQueryDefinition", |s| {
            let id = q.query_definition_id.clone().unwrap_or_else(|| s.id());
            let stored = QueryDefinition { query_definition_id: Some(id.clone()), ..q.clone() };
            s.queries.insert(key(region, &id), stored);
            Ok(id)
        })
    }

    async fn delete_query_definition(&self, region: &str, id: &str) -> Result<()> {
        self.call("logs:DeleteQueryDefinition", |s| {
            s.queries.remove(&key(region, id)).map(|_| ()).ok_or_else(|| not_found("logs:DeleteQueryDefinition", id))
        })
    }

    async fn put_retention_policy(&self, region: &str, log_group: &str, days: i32) -> Result<()> {
        self.call("logs:PutRetentionPolicy", |s| {
            let g = s.log_groups.get_mut(&key(region, log_group)).ok_or_else(|| not_found("logs", log_group))?;
            *g = Some(days);
            Ok(())
        })
    }

    async fn delete_retention_policy(&self, region: &str, log_group: &str) -> Result<()> {
        self.call("logs:DeleteRetentionPolicy", |s| {
            let g = s.log_groups.get_mut(&key(region, log_group)).ok_or_else(|| not_found("logs", log_group))?;
            *g = None;
            Ok(())
        })
    }
}
