//! The last links: SNS topic (its KMS key, its policy) -> at least one confirmed subscription.
//! Decides whether an alarm action reaches a person, and plans the baseline's topic and its
//! subscribers when an alarm relies on them.

use super::policy::{self, Decision, Publish};
use super::{Change, Ctx, Resource, Status, Stop, SubscriptionSpec, TopicPolicySpec, TopicSpec, CREATED_BY_TAG};
use crate::baseline::{Control, TopicRef, WantedSubscription};
use crate::model::{Alarm, Topic};
use std::collections::BTreeMap;

impl Ctx<'_> {
    pub(super) fn topic(&self, arn: &str) -> Option<&Topic> {
        self.snap.topics.iter().find(|t| t.topic_arn == arn)
    }

    /// Whether one of the alarm's actions reaches someone.
    pub(super) fn notifies_someone(&self, a: &Alarm, region: &str) -> bool {
        a.alarm_actions.iter().any(|x| self.reaches_someone(x, region).is_ok())
    }

    /// Whether an action of an alarm in `region` reaches a person: an SNS topic in the alarm's
    /// region and account, whose policy lets CloudWatch publish, not encrypted with a key
    /// CloudWatch cannot use, with a confirmed subscriber.
    pub(super) fn reaches_someone(&self, arn: &str, region: &str) -> Result<(), String> {
        if let Some((_, topic_region, account, name)) = crate::model::topic_arn_parts(arn) {
            if topic_region != region {
                return Err(format!(
                    "topic `{name}` is in {topic_region}, but CloudWatch alarms in {region} can only notify topics in their own region"
                ));
            }
            if account != self.snap.account {
                return Err(format!("topic `{name}` is in account {account}, which cwfix cannot check from here"));
            }
        }
        let Some(t) = self.topic(arn) else {
            return Err(format!("topic `{arn}` does not exist or was not readable"));
        };
        if !t.readable {
            return Err(format!("topic `{}` could not be read", t.name));
        }
        if let Some(problem) = self.policy_problem(t) {
            return Err(format!("topic `{}` {problem}", t.name));
        }
        if t.kms_master_key_id.as_deref().is_some_and(is_aws_managed_sns_key) {
            return Err(format!(
                "topic `{}` is encrypted with the AWS managed key alias/aws/sns, which CloudWatch alarms cannot use: nobody is told",
                t.name
            ));
        }
        if let Some(problem) = t.kms_master_key_id.as_deref().and_then(|k| self.key_problem(&t.region, k)) {
            return Err(format!("topic `{}` {problem}", t.name));
        }
        if t.confirmed_subscriptions().next().is_none() {
            return Err(if t.subscriptions.is_empty() {
                format!("topic `{}` has no subscriptions", t.name)
            } else {
                format!("topic `{}` has only subscriptions pending confirmation", t.name)
            });
        }
        Ok(())
    }

    /// Why CloudWatch cannot publish through key `k`, if it cannot (unknown keys are a problem:
    /// cwfix never claims a link holds that it could not check).
    pub(super) fn key_problem(&self, region: &str, k: &str) -> Option<String> {
        let Some(key) = self.snap.kms_keys.iter().find(|x| x.region == region && x.reference == k) else {
            return Some(format!("is encrypted with KMS key `{k}`, which cwfix could not check"));
        };
        if key.key_arn.is_none() {
            return Some(format!("is encrypted with KMS key `{k}`, which does not exist or could not be read"));
        }
        if key.aws_managed {
            return Some(format!(
                "is encrypted with the AWS managed key `{k}`, which CloudWatch alarms cannot use: nobody is told"
            ));
        }
        let Some(policy) = &key.policy else {
            return Some(format!("is encrypted with KMS key `{k}` whose key policy could not be read"));
        };
        let missing = crate::model::kms_missing_for_cloudwatch(policy);
        (!missing.is_empty()).then(|| {
            format!(
                "is encrypted with KMS key `{k}` whose policy does not let cloudwatch.amazonaws.com use it (missing {})",
                missing.join(", ")
            )
        })
    }

    /// Why the topic's policy stops this account's alarms from publishing, if it does.
    pub(super) fn policy_problem(&self, t: &crate::model::Topic) -> Option<String> {
        let req = self.publish(t);
        match policy::decide(t.policy.as_deref()?, &req)? {
            Decision::Allowed => None,
            Decision::Denied { sid } => Some(format!(
                "has a policy statement{} that denies cloudwatch.amazonaws.com SNS:Publish: the alarm's notifications are refused",
                sid.map(|s| format!(" `{s}`")).unwrap_or_default()
            )),
            Decision::NotAllowed => Some(
                "has a policy with no statement letting cloudwatch.amazonaws.com publish for this account's alarms: the alarm's notifications are refused"
                    .into(),
            ),
        }
    }

    fn publish<'t>(&'t self, t: &'t crate::model::Topic) -> Publish<'t> {
        Publish {
            topic_arn: &t.topic_arn,
            account: &self.snap.account,
            partition: &self.snap.partition,
            region: &t.region,
        }
    }

    pub(super) fn baseline_topic_arn(&self, region: &str) -> String {
        match &self.baseline.notification.topic {
            TopicRef::Arn(a) => a.clone(),
            TopicRef::Name(n) => format!("arn:{}:sns:{}:{}:{}", self.snap.partition, region, self.snap.account, n),
        }
    }
}

fn is_aws_managed_sns_key(k: &str) -> bool {
    k == "alias/aws/sns" || k.ends_with(":alias/aws/sns")
}

/// What the notification link needs.
pub(super) struct NotifyPlan {
    pub changes: Vec<Change>,
    /// Set when only a pending confirmation stands between the control and compliance.
    pub pending_note: Option<String>,
}

/// Plans the baseline's topic and subscribers in `region` for control `c`, whose alarm will
/// notify that topic. `Err` is the control's final verdict when the link cannot be fixed.
pub(super) fn plan(ctx: &Ctx, c: &Control, region: &str) -> Result<NotifyPlan, Stop> {
    let base = ctx.baseline;
    let topic_arn = ctx.baseline_topic_arn(region);
    let topic_name = base.notification.topic.name().to_string();
    let existing = ctx.topic(&topic_arn);
    if existing.is_none() && ctx.snap.topic_arns.contains(&topic_arn) {
        return Err(Stop::new(Status::Unknown, format!("topic `{topic_name}` exists but could not be read")));
    }
    if let (None, TopicRef::Arn(arn)) = (existing, &base.notification.topic) {
        return Err(Stop::new(
            Status::Blocked,
            format!("the baseline's topic `{arn}` does not exist; cwfix creates topics only by name"),
        ));
    }
    if let Some(t) = existing {
        if let (Err(e), true) = (
            ctx.reaches_someone(&t.topic_arn, region),
            t.kms_master_key_id.as_deref().is_some_and(is_aws_managed_sns_key),
        ) {
            return Err(Stop::new(
                Status::Blocked,
                format!(
                    "{e}; re-create the topic with a customer managed key that lets cloudwatch.amazonaws.com use it"
                ),
            ));
        }
    }
    let have: Vec<(&str, &str)> = existing
        .map(|t| t.subscriptions.iter().map(|s| (s.protocol.as_str(), s.endpoint.as_str())).collect())
        .unwrap_or_default();
    let to_add: Vec<&WantedSubscription> = base
        .notification
        .subscriptions
        .iter()
        .filter(|w| !have.contains(&(w.protocol.as_str(), w.endpoint.as_str())))
        .collect();
    let confirmed_now = existing.is_some_and(|t| t.confirmed_subscriptions().next().is_some());
    let pending_now = existing.is_some_and(|t| t.subscriptions.iter().any(|s| s.pending_confirmation));
    let mut pending_note = None;
    if !confirmed_now && to_add.is_empty() {
        if !pending_now {
            return Err(Stop::new(
                Status::Blocked,
                format!(
                    "the alarm must notify topic `{topic_name}`, which has no subscriber and the baseline names none: give one with `--subscribe email:ADDRESS` or [[notification.subscriptions]] in the baseline"
                ),
            ));
        }
        pending_note = Some(format!(
            "topic `{topic_name}` has only subscriptions pending confirmation: the recipient must confirm"
        ));
    }
    let mut changes = Vec::new();
    if existing.is_none() {
        changes.push(new_topic(ctx, c, region, &topic_arn, &topic_name)?);
    }
    if let Some(fix) = existing.and_then(|t| repair_policy(ctx, c, t)) {
        changes.push(fix);
    }
    for w in to_add {
        let reason = format!(
            "topic `{topic_name}` has no confirmed subscriber; the baseline wants {}:{}",
            w.protocol, w.endpoint
        );
        let spec = SubscriptionSpec {
            topic_arn: topic_arn.clone(),
            protocol: w.protocol.clone(),
            endpoint: w.endpoint.clone(),
            subscription_arn: None,
        };
        changes.push(Change::create(region, &c.id, reason, Resource::SnsSubscription(spec)));
    }
    Ok(NotifyPlan { changes, pending_note })
}

/// The baseline's topic lets CloudWatch publish again: its Deny statements for CloudWatch go
/// and cwfix's Allow statement is added; every other statement is kept (an update rollback undoes).
fn repair_policy(ctx: &Ctx, c: &Control, t: &crate::model::Topic) -> Option<Change> {
    let why = ctx.policy_problem(t)?;
    let before = t.policy.clone()?;
    let after = policy::repaired(&before, &ctx.publish(t))?;
    let spec = |policy| Resource::SnsTopicPolicy(TopicPolicySpec { topic_arn: t.topic_arn.clone(), policy });
    let reason = format!("topic `{}` {why}; cwfix adds a statement allowing them", t.name);
    Some(Change::update(&t.region, &c.id, reason, spec(before), spec(after)))
}

/// The baseline's topic, as cwfix creates it: tagged, with a policy that lets only this
/// account's alarms publish, encrypted only with a customer managed key CloudWatch may use.
fn new_topic(ctx: &Ctx, c: &Control, region: &str, topic_arn: &str, topic_name: &str) -> Result<Change, Stop> {
    let base = ctx.baseline;
    if let Some(problem) = base.notification.kms_key.as_deref().and_then(|k| ctx.key_problem(region, k)) {
        return Err(Stop::new(
            Status::Blocked,
            format!("the topic cwfix would create {problem}: add a key policy statement allowing the service principal cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*"),
        ));
    }
    let mut attributes = BTreeMap::new();
    attributes.insert("Policy".to_string(), topic_policy(topic_arn, &ctx.snap.account, &ctx.snap.partition, region));
    if let Some(k) = &base.notification.kms_key {
        attributes.insert("KmsMasterKeyId".to_string(), k.clone());
    }
    let mut tags = BTreeMap::new();
    tags.insert(CREATED_BY_TAG.0.to_string(), CREATED_BY_TAG.1.to_string());
    tags.insert("cwfix-baseline".to_string(), base.name.clone());
    let reason = if base.notification.kms_key.is_some() {
        format!("topic `{topic_name}` does not exist (encrypted with the baseline's customer managed key)")
    } else {
        format!("topic `{topic_name}` does not exist (unencrypted: the baseline names no customer managed KMS key, and the AWS managed key would silence CloudWatch)")
    };
    let spec = TopicSpec { name: topic_name.to_string(), topic_arn: topic_arn.to_string(), attributes, tags };
    Ok(Change::create(region, &c.id, reason, Resource::SnsTopic(spec)))
}

/// A topic policy that lets this account manage the topic and lets CloudWatch alarms of this
/// account (and only those) publish to it.
pub fn topic_policy(topic_arn: &str, account: &str, partition: &str, region: &str) -> String {
    let req = Publish { topic_arn, account, partition, region };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerManages",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
                "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                           "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
                "Resource": topic_arn
            },
            policy::statement(&req)
        ]
    })
    .to_string()
}
