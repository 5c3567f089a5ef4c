//! The least-privilege IAM policy each cwfix mode needs, generated from the calls the AWS
//! adapters make (kept in step by a test that greps `src/aws/live.rs` and the other adapters
//! for action names).

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
    let mut doc = mode_policy(mode);
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
    fn plan_policy_is_read_only() {
        let p = policy(Mode::Plan).to_string();
        for w in WRITE_ACTIONS {
            assert!(!p.contains(w), "{w}");
        }
    }
}
