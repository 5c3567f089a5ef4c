//! Discovery: walks the live monitoring chain through [`CloudApi`] and returns a [`Snapshot`],
//! the planner's only input from AWS. Independent calls run concurrently; every list is paged
//! by the adapter; results are sorted so the snapshot (and so the plan) is deterministic.
//! A denied or failed read becomes a [`Gap`] (the controls that depend on it are `unknown`);
//! only errors that make every other call pointless (endpoint down, no credentials) abort.

mod history;

use crate::aws::{self, CloudApi, ManagementEvents};
use crate::baseline::TopicRef;
use crate::model::{Gap, LogGroup, LogGroupRef, RegionalAlarm, Snapshot, Topic, Trail};
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// What to look at.
#[derive(Debug, Clone)]
pub struct Scope {
    pub regions: Vec<String>,
    /// Whether the baseline has saved queries (only then are they listed).
    pub queries: bool,
    /// The baseline's customer managed key for new topics, if any.
    pub kms_key: Option<String>,
    /// The baseline's notification topic, so an existing one is found by name.
    pub topic: TopicRef,
}

fn gap(region: &str, e: &aws::Error, resource: &str) -> Gap {
    Gap {
        region: region.to_string(),
        action: e.action().to_string(),
        resource: resource.to_string(),
        error: e.to_string(),
    }
}

/// Failed reads, collected as gaps; a fatal error (no endpoint, no credentials) aborts.
#[derive(Default)]
struct Gaps(Vec<Gap>);

impl Gaps {
    /// `Ok(Some(v))`, or `Ok(None)` with a gap recorded, or the fatal error.
    fn keep<T>(&mut self, region: &str, resource: &str, r: aws::Result<T>) -> Result<Option<T>, aws::Error> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_fatal() => Err(e),
            Err(e) => {
                self.0.push(gap(region, &e, resource));
                Ok(None)
            }
        }
    }
}

/// Reads the chain in `scope` and returns it as a snapshot.
/// Only errors after which nothing else can work (endpoint down, no credentials, the caller's
/// identity unknown) are returned; every other failed read becomes a [`Gap`].
pub async fn discover(api: &impl CloudApi, scope: &Scope) -> Result<Snapshot, aws::Error> {
    let id = api.caller_identity().await?;
    // The snapshot's "now": how far back the alarms' history is read, and what the planner
    // measures "in the last 30 days" from (it never reads a clock itself).
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let mut gaps = Gaps::default();
    let (alias, trails) = futures_util::join!(api.account_alias(), trails(api, scope, &mut gaps));
    let trails = trails?;
    // The alias only labels output: unreadable (often not granted) is simply unknown.
    let account_alias = match alias {
        Ok(a) => a,
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => {
            tracing::debug!("no account alias: {e}");
            None
        }
    };
    let groups: BTreeSet<LogGroupRef> =
        trails.iter().filter_map(|t| t.log_group_arn.as_deref().and_then(LogGroupRef::from_arn)).collect();
    let own_groups: Vec<&LogGroupRef> = groups.iter().filter(|g| g.account == id.account).collect();
    // Alarms and topics live in the log groups' regions (metrics are regional); they are read
    // at the same time as the log groups, not after them.
    let chain_regions: BTreeSet<String> = own_groups.iter().map(|g| g.region.clone()).collect();
    let (log_groups, regional) = futures_util::join!(log_groups(api, &own_groups), regional(api, &chain_regions));
    let log_groups = log_groups.into_iter().map(|r| r.collect(&mut gaps)).collect::<Result<Vec<_>, _>>()?;
    let (mut alarms, mut topic_arns) = (Vec::new(), Vec::new());
    for (region, a, t) in regional {
        if let Some(list) = gaps.keep(&region, "alarms", a)? {
            alarms.extend(list.into_iter().map(|alarm| RegionalAlarm { region: region.clone(), alarm }));
        }
        topic_arns.extend(gaps.keep(&region, "topics", t)?.unwrap_or_default());
    }
    let chained = alarms_on_filter_metrics(&log_groups, &alarms);
    let wanted = topics_that_matter(scope, &chained, &topic_arns);
    // Only an alarm that notifies a topic can have failed to: its history is read beside the topics.
    let notifying: Vec<&RegionalAlarm> =
        chained.into_iter().filter(|ra| ra.alarm.alarm_actions.iter().any(|x| is_topic(x))).collect();
    let (topics, reads) = futures_util::join!(topics(api, &wanted, &mut gaps), history::read(api, &notifying, now_ms));
    let topics = topics?;
    let failed_notifications = history::collect(reads, &mut gaps);
    let kms_keys = kms_keys(api, scope, &topics, &chain_regions, &mut gaps).await?;
    let queries = if scope.queries { queries(api, &chain_regions, &mut gaps).await? } else { vec![] };
    alarms.sort_by(|a, b| (&a.region, &a.alarm.alarm_name).cmp(&(&b.region, &b.alarm.alarm_name)));
    topic_arns.sort();
    let mut gaps = gaps.0;
    gaps.sort_by(|a, b| (&a.region, &a.action, &a.resource).cmp(&(&b.region, &b.action, &b.resource)));
    Ok(Snapshot {
        account: id.account,
        account_alias,
        partition: id.partition,
        caller_arn: id.arn,
        regions: scope.regions.clone(),
        trails,
        log_groups,
        alarms,
        topics,
        topic_arns,
        queries,
        kms_keys,
        gaps,
        discovered_at_ms: Some(now_ms),
        failed_notifications,
    })
}

/// Trails from every scanned region (a multi-region trail shows up in each; deduplicated by
/// ARN), with status and selectors read in the trail's home region (shadow copies answer
/// TrailNotFound for selectors in other regions).
async fn trails(api: &impl CloudApi, scope: &Scope, gaps: &mut Gaps) -> Result<Vec<Trail>, aws::Error> {
    let listed = join_all(scope.regions.iter().map(|r| async move { (r.clone(), api.describe_trails(r).await) })).await;
    let mut infos: BTreeMap<String, aws::TrailInfo> = BTreeMap::new();
    for (region, res) in listed {
        for t in gaps.keep(&region, "trails", res)?.unwrap_or_default() {
            infos.entry(t.arn.clone()).or_insert(t);
        }
    }
    let details = join_all(infos.values().map(|t| async move {
        let (status, selectors) = futures_util::join!(
            api.trail_is_logging(&t.home_region, &t.arn),
            api.trail_management_events(&t.home_region, &t.arn)
        );
        (t, status, selectors)
    }))
    .await;
    let mut trails = Vec::new();
    for (t, status, selectors) in details {
        let is_logging = gaps.keep(&t.home_region, &t.arn, status)?;
        let management_events_all = gaps.keep(&t.home_region, &t.arn, selectors)?.map(|m| m == ManagementEvents::All);
        trails.push(Trail {
            name: t.name.clone(),
            arn: t.arn.clone(),
            home_region: t.home_region.clone(),
            is_multi_region: t.is_multi_region,
            is_organization_trail: t.is_organization_trail,
            is_logging,
            management_events_all,
            log_group_arn: t.log_group_arn.clone(),
        });
    }
    Ok(trails)
}

/// One log group's reads, before their errors are sorted into gaps.
struct GroupRead {
    group: LogGroupRef,
    exists: aws::Result<Option<Option<i32>>>,
    filters: aws::Result<Vec<crate::model::MetricFilter>>,
}

impl GroupRead {
    fn collect(self, gaps: &mut Gaps) -> Result<LogGroup, aws::Error> {
        let g = self.group;
        let (exists, retention_in_days) = match gaps.keep(&g.region, &g.name, self.exists)? {
            Some(Some(r)) => (true, r),
            Some(None) => (false, None),
            // Unknown existence: the filters call decides what we can say.
            None => (true, None),
        };
        let metric_filters = gaps.keep(&g.region, &g.name, self.filters)?.unwrap_or_default();
        Ok(LogGroup { group: g, exists, retention_in_days, metric_filters })
    }
}

/// The log groups the trails deliver to, in their own region (from the ARN), with filters.
async fn log_groups(api: &impl CloudApi, groups: &[&LogGroupRef]) -> Vec<GroupRead> {
    join_all(groups.iter().map(|g| async move {
        let (exists, filters) =
            futures_util::join!(api.log_group(&g.region, &g.name), api.metric_filters(&g.region, &g.name));
        GroupRead { group: (*g).clone(), exists, filters }
    }))
    .await
}

type RegionRead = (String, aws::Result<Vec<crate::model::Alarm>>, aws::Result<Vec<String>>);

/// Alarms and topic ARNs of each chain region.
async fn regional(api: &impl CloudApi, regions: &BTreeSet<String>) -> Vec<RegionRead> {
    join_all(regions.iter().map(|r| async move {
        let (alarms, topics) = futures_util::join!(api.metric_alarms(r), api.list_topics(r));
        (r.clone(), alarms, topics)
    }))
    .await
}

/// Alarms that watch a metric a filter of the log groups publishes (in the filter's region).
fn alarms_on_filter_metrics<'a>(log_groups: &[LogGroup], alarms: &'a [RegionalAlarm]) -> Vec<&'a RegionalAlarm> {
    let metrics: BTreeSet<(&str, &str, &str)> = log_groups
        .iter()
        .flat_map(|g| {
            g.metric_filters.iter().flat_map(move |f| {
                f.metric_transformations
                    .iter()
                    .map(move |t| (g.group.region.as_str(), t.metric_name.as_str(), t.metric_namespace.as_str()))
            })
        })
        .collect();
    // A set lookup per alarm (not a scan of every filter metric): thousands of each per account.
    alarms
        .iter()
        .filter(|ra| {
            let a = &ra.alarm;
            a.metrics_json.is_none()
                && match (a.metric_name.as_deref(), a.namespace.as_deref()) {
                    (Some(m), Some(n)) => metrics.contains(&(ra.region.as_str(), m, n)),
                    _ => false,
                }
        })
        .collect()
}

fn is_topic(action: &str) -> bool {
    action.starts_with("arn:") && action.contains(":sns:")
}

/// Topics that matter: those in actions of alarms on the filters' metrics (`chained`), and the
/// baseline's own topic (by ARN, or by name in each chain region).
fn topics_that_matter(scope: &Scope, chained: &[&RegionalAlarm], topic_arns: &[String]) -> BTreeSet<String> {
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for ra in chained {
        wanted.extend(ra.alarm.alarm_actions.iter().filter(|x| is_topic(x)).cloned());
    }
    match &scope.topic {
        TopicRef::Arn(arn) => {
            wanted.insert(arn.clone());
        }
        TopicRef::Name(name) => {
            let named = |arn: &&String| crate::model::topic_arn_parts(arn).is_some_and(|(_, _, _, n)| n == name);
            wanted.extend(topic_arns.iter().filter(named).cloned());
        }
    }
    wanted
}

async fn topics(api: &impl CloudApi, wanted: &BTreeSet<String>, gaps: &mut Gaps) -> Result<Vec<Topic>, aws::Error> {
    let reads = join_all(wanted.iter().map(|arn| async move {
        let region = crate::model::topic_arn_parts(arn).map(|p| p.1.to_string()).unwrap_or_default();
        let (attrs, subs) = futures_util::join!(api.topic_attributes(&region, arn), api.subscriptions(&region, arn));
        (arn.clone(), region, attrs, subs)
    }))
    .await;
    let mut topics = Vec::new();
    for (arn, region, attrs, subs) in reads {
        let name = crate::model::topic_arn_parts(&arn).map(|p| p.3.to_string()).unwrap_or_default();
        let attrs = match gaps.keep(&region, &arn, attrs)? {
            // The topic named in an alarm action no longer exists: a broken link, not a topic.
            Some(None) => continue,
            Some(Some(a)) => Some(a),
            None => None,
        };
        let subscriptions = gaps.keep(&region, &arn, subs)?;
        let readable = attrs.is_some() && subscriptions.is_some();
        topics.push(Topic {
            topic_arn: arn,
            name,
            region,
            kms_master_key_id: attrs.as_ref().and_then(|a| a.get("KmsMasterKeyId")).filter(|k| !k.is_empty()).cloned(),
            policy: attrs.as_ref().and_then(|a| a.get("Policy")).filter(|p| !p.is_empty()).cloned(),
            subscriptions: subscriptions.unwrap_or_default(),
            readable,
        });
    }
    Ok(topics)
}

/// KMS keys of the topics found, and the baseline's key in each chain region.
async fn kms_keys(
    api: &impl CloudApi,
    scope: &Scope,
    topics: &[Topic],
    chain_regions: &BTreeSet<String>,
    gaps: &mut Gaps,
) -> Result<Vec<crate::model::KmsKey>, aws::Error> {
    let mut key_refs: BTreeSet<(String, String)> = topics
        .iter()
        .filter_map(|t| t.kms_master_key_id.as_ref().map(|k| (t.region.clone(), k.clone())))
        .filter(|(_, k)| !k.ends_with("alias/aws/sns"))
        .collect();
    if let Some(k) = &scope.kms_key {
        key_refs.extend(chain_regions.iter().map(|r| (r.clone(), k.clone())));
    }
    let reads = join_all(key_refs.iter().map(|(r, k)| async move { (r, k, api.kms_key(r, k).await) })).await;
    let mut keys = Vec::new();
    for (r, k, res) in reads {
        keys.push(gaps.keep(r, k, res)?.unwrap_or_else(|| crate::model::KmsKey {
            reference: k.clone(),
            region: r.clone(),
            key_arn: None,
            aws_managed: false,
            policy: None,
        }));
    }
    Ok(keys)
}

/// Saved Insights queries of the chain regions.
async fn queries(
    api: &impl CloudApi,
    chain_regions: &BTreeSet<String>,
    gaps: &mut Gaps,
) -> Result<Vec<(String, crate::model::QueryDefinition)>, aws::Error> {
    let reads = join_all(chain_regions.iter().map(|r| async move { (r, api.query_definitions(r).await) })).await;
    let mut out = Vec::new();
    for (r, res) in reads {
        out.extend(gaps.keep(r, "query definitions", res)?.unwrap_or_default().into_iter().map(|q| (r.clone(), q)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::Fake;
    use crate::testkit::*;

    #[test]
    fn discovers_the_chain_and_reads_only_what_matters() {
        block_on(async {
            let fake = Fake::new(account());
            fake.edit(|s| {
                // An Auto Scaling alarm and an unrelated topic: listed, never read in detail.
                let mut other = s.alarms.values().next().unwrap().clone();
                other.alarm_name = "TargetTracking-web-AlarmHigh".into();
                other.metric_name = Some("CPUUtilization".into());
                other.namespace = Some("AWS/EC2".into());
                s.alarms.insert((REGION.into(), other.alarm_name.clone()), other);
                s.topics.insert("arn:aws:sns:us-east-1:123456789012:unrelated".into(), Default::default());
            });
            let b = small_baseline();
            let snap = discover(&fake, &scope(&b)).await.unwrap();
            assert_eq!(snap.account, "123456789012");
            assert_eq!(snap.trails.len(), 1);
            assert_eq!(snap.log_groups[0].metric_filters.len(), 1);
            assert_eq!(snap.alarms.len(), 2);
            assert!(snap.topics.is_empty(), "{:?}", snap.topics);
            assert!(snap.gaps.is_empty());
            assert!(!fake.calls().iter().any(|c| c == "sns:GetTopicAttributes"), "{:?}", fake.calls());
        });
    }

    #[test]
    fn a_denied_read_is_a_gap_and_its_controls_are_unknown() {
        block_on(async {
            let fake = Fake::new(account());
            let b = small_baseline();
            // Deny the metric filter read (the 5th call: identity, trails, status, selectors, filters...).
            let order_probe = Fake::new(account());
            discover(&order_probe, &scope(&b)).await.unwrap();
            let n = order_probe.calls().iter().position(|c| c == "logs:DescribeMetricFilters").unwrap() + 1;
            fake.fail_at(
                n,
                aws::Error::AccessDenied { action: "logs:DescribeMetricFilters".into(), message: "denied".into() },
            );
            let snap = discover(&fake, &scope(&b)).await.unwrap();
            assert_eq!(snap.gaps.len(), 1);
            assert_eq!(snap.gaps[0].action, "logs:DescribeMetricFilters");
            let p = crate::plan::plan(&b, &snap);
            assert!(p.changes.is_empty());
            assert!(p.controls.iter().all(|c| c.status == crate::plan::Status::Unknown), "{:#?}", p.controls);
        });
    }

    #[test]
    fn no_endpoint_is_fatal() {
        block_on(async {
            let fake = Fake::new(account());
            fake.fail_at(
                1,
                aws::Error::Transport { action: "sts:GetCallerIdentity".into(), message: "refused".into() },
            );
            assert!(matches!(discover(&fake, &scope(&small_baseline())).await, Err(aws::Error::Transport { .. })));
        });
    }
}
