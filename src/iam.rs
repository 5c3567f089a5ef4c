//! The least-privilege IAM policy each cwfix mode needs, generated from the calls the AWS
//! adapters make (kept in step by tests that grep `src/aws/live.rs`, `src/aws/s3.rs` and the
//! organization and Security Hub adapters for action names).
//!
//! A state in S3 (`--state-dir s3://BUCKET/PREFIX`) needs S3 permissions on that bucket and
//! prefix only, and only then: they are added by [`policy_with_state`] when the state is in S3
//! (`cwfix iam-policy --for apply --state-dir s3://...`, or `CWFIX_STATE_DIR`/the config file),
//! never to the default policy, which would otherwise grant S3 access nobody uses.

use crate::journal::Location;
use serde_json::{json, Value};

/// Read-only calls made by `plan` (and by `apply`/`rollback` before they write).
pub const READ_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "iam:ListAccountAliases",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "logs:DescribeLogGroups",
    "logs:DescribeMetricFilters",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmHistory",
    "sns:ListTopics",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "logs:DescribeQueryDefinitions",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
];

/// Writes made by `apply` and `rollback`.
pub const WRITE_ACTIONS: &[&str] = &[
    "sns:CreateTopic",
    "sns:TagResource",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
    "sns:Unsubscribe",
    "sns:DeleteTopic",
    "logs:PutMetricFilter",
    "logs:DeleteMetricFilter",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "logs:PutQueryDefinition",
    "logs:DeleteQueryDefinition",
    "logs:PutRetentionPolicy",
    "logs:DeleteRetentionPolicy",
];

/// What a state in S3 uses: HeadBucket and listing (`s3:ListBucket`), reading and creating
/// objects, and deleting the lock.
pub const STATE_S3_ACTIONS: &[&str] = &["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"];

/// Calls `--org` makes with the caller's credentials: the organization's accounts, and entering
/// each member (`sts:AssumeRole` on the role `--role-name` names in every account).
pub const ORG_ACTIONS: &[&str] = &[
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "sts:AssumeRole",
];

/// Calls `plan --findings securityhub` makes in each account.
pub const FINDINGS_ACTIONS: &[&str] = &["securityhub:BatchImportFindings"];

/// What a policy covers beyond its mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// `--org`: list the organization and enter its members.
    pub org: bool,
    /// `--findings securityhub`: import findings.
    pub findings: bool,
}

/// Which command the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Plan,
    Apply,
}

/// The policy document. Reads need `*` (the List/Describe calls take no resource); writes are
/// scoped where the API allows: metric filters to log groups, alarms and topics to this partition.
pub fn policy(mode: Mode) -> Value {
    policy_with(mode, Extras::default())
}

/// [`policy`] plus the statements `extras` need: `--org` (the caller lists the organization and
/// assumes roles: a member's role itself needs the mode's policy) and `--findings securityhub`
/// (each account imports its own findings; Security Hub scopes the call to the account's
/// default product, `arn:aws:securityhub:*:*:product/*/default`).
pub fn policy_with(mode: Mode, extras: Extras) -> Value {
    with_extras(mode_policy(mode), extras)
}

/// `doc` (any of the policies above) with the statements `extras` need.
pub fn with_extras(mut doc: Value, extras: Extras) -> Value {
    let Some(statements) = doc["Statement"].as_array_mut() else { return doc };
    if extras.org {
        statements.push(json!({
            "Sid": "CwfixOrganization",
            "Effect": "Allow",
            "Action": &ORG_ACTIONS[..3],
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "CwfixEnterMemberAccounts",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": "arn:aws:iam::*:role/*"
        }));
    }
    if extras.findings {
        statements.push(json!({
            "Sid": "CwfixSecurityHubFindings",
            "Effect": "Allow",
            "Action": FINDINGS_ACTIONS,
            "Resource": "arn:aws:securityhub:*:*:product/*/default"
        }));
    }
    doc
}

fn mode_policy(mode: Mode) -> Value {
    let mut statements = vec![json!({
        "Sid": "CwfixDiscover",
        "Effect": "Allow",
        "Action": READ_ACTIONS,
        "Resource": "*"
    })];
    if mode == Mode::Apply {
        statements.push(json!({
            "Sid": "CwfixMetricFilters",
            "Effect": "Allow",
            "Action": ["logs:PutMetricFilter", "logs:DeleteMetricFilter", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy"],
            "Resource": "arn:aws:logs:*:*:log-group:*"
        }));
        statements.push(json!({
            "Sid": "CwfixSavedQueries",
            "Effect": "Allow",
            "Action": ["logs:PutQueryDefinition", "logs:DeleteQueryDefinition"],
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "CwfixAlarms",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
            "Resource": "arn:aws:cloudwatch:*:*:alarm:*"
        }));
        statements.push(json!({
            "Sid": "CwfixTopics",
            "Effect": "Allow",
            "Action": ["sns:CreateTopic", "sns:TagResource", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:DeleteTopic"],
            "Resource": "arn:aws:sns:*:*:*"
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The policy for `mode`, plus, for `apply` with a state in S3, access to exactly that bucket
/// and prefix: list it, read and create objects under the prefix, delete only the lock (a
/// journal is never deleted), and use the KMS key the objects are encrypted with, if any.
/// `plan` never touches the state.
pub fn policy_with_state(mode: Mode, state: &Location, kms_key: Option<&str>) -> Value {
    let mut doc = policy(mode);
    let Location::S3 { bucket, prefix } = state else { return doc };
    if mode != Mode::Apply {
        return doc;
    }
    let under = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
    let mut list = json!({
        "Sid": "CwfixStateList",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": format!("arn:aws:s3:::{bucket}")
    });
    if !under.is_empty() {
        // IfExists: HeadBucket (which finds the bucket's region) carries no prefix.
        list["Condition"] = json!({"StringLikeIfExists": {"s3:prefix": [format!("{under}*")]}});
    }
    let mut statements = vec![
        list,
        json!({
            "Sid": "CwfixStateObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/{under}*")
        }),
        json!({
            "Sid": "CwfixStateLock",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/{under}lock")
        }),
    ];
    if let Some(key) = kms_key {
        // SSE-KMS: encrypting a new object and reading one back. An alias cannot be a resource.
        let resource = if key.starts_with("arn:") && !key.contains(":alias/") { key } else { "*" };
        statements.push(json!({
            "Sid": "CwfixStateKms",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": resource
        }));
    }
    if let Some(list) = doc["Statement"].as_array_mut() {
        list.extend(statements);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_the_adapter_uses_is_in_a_policy() {
        let src = include_str!("aws/live.rs");
        let re = regex::Regex::new(r#"const [AB]: &str = "([a-z]+:[A-Za-z]+)""#).unwrap();
        let used: Vec<&str> = re.captures_iter(src).map(|c| c.get(1).unwrap().as_str()).collect();
        assert!(used.len() >= 15, "{used:?}");
        for a in used {
            assert!(READ_ACTIONS.contains(&a) || WRITE_ACTIONS.contains(&a), "{a} missing from the IAM policy");
        }
        // The organization and Security Hub adapters: each action in its own list, and in the
        // policy the matching flag prints.
        let others = [
            (include_str!("aws/organizations.rs"), ORG_ACTIONS, Extras { org: true, findings: false }),
            (include_str!("aws/session.rs"), ORG_ACTIONS, Extras { org: true, findings: false }),
            (include_str!("aws/securityhub.rs"), FINDINGS_ACTIONS, Extras { org: false, findings: true }),
        ];
        for (src, list, extras) in others {
            let used: Vec<&str> = re.captures_iter(src).map(|c| c.get(1).unwrap().as_str()).collect();
            assert!(!used.is_empty());
            let p = policy_with(Mode::Plan, extras).to_string();
            for a in used {
                assert!(list.contains(&a), "{a} missing from its action list");
                assert!(p.contains(&format!("\"{a}\"")), "{a} missing from the policy");
            }
        }
        assert!(!policy(Mode::Plan).to_string().contains("organizations:"), "only with --org");
    }

    #[test]
    fn every_action_the_state_bucket_uses_is_in_the_state_policy() {
        let src = include_str!("aws/s3.rs");
        let re = regex::Regex::new(r#"const [A-Z_]+: &str = "(s3:[A-Za-z]+)""#).unwrap();
        let used: Vec<&str> = re.captures_iter(src).map(|c| c.get(1).unwrap().as_str()).collect();
        assert_eq!(used.len(), 4, "{used:?}");
        let state = Location::S3 { bucket: "b".into(), prefix: "team/cwfix".into() };
        let with = policy_with_state(Mode::Apply, &state, None).to_string();
        for a in used {
            assert!(STATE_S3_ACTIONS.contains(&a), "{a} missing from STATE_S3_ACTIONS");
            assert!(with.contains(a), "{a} missing from the policy for a state in S3");
            // Only a state in S3 needs them.
            assert!(!policy(Mode::Apply).to_string().contains(a), "{a}");
            assert!(!policy_with_state(Mode::Apply, &Location::Dir(".cwfix".into()), None).to_string().contains(a));
            assert!(!policy_with_state(Mode::Plan, &state, None).to_string().contains(a));
        }
        assert!(with.contains("arn:aws:s3:::b/team/cwfix/*") && with.contains("arn:aws:s3:::b/team/cwfix/lock"));
        let kms = policy_with_state(Mode::Apply, &state, Some("arn:aws:kms:us-east-1:1:key/k")).to_string();
        assert!(kms.contains("kms:GenerateDataKey") && kms.contains("arn:aws:kms:us-east-1:1:key/k"), "{kms}");
    }

    #[test]
    fn plan_policy_is_read_only() {
        let p = policy(Mode::Plan).to_string();
        for w in WRITE_ACTIONS {
            assert!(!p.contains(w), "{w}");
        }
    }
}
