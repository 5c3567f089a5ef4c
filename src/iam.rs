//! The least-privilege IAM policy each cwfix mode needs, generated from the calls the AWS
//! adapter makes (kept in step by a test that greps `src/aws/live.rs` for action names).

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

/// Which command the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Plan,
    Apply,
}

/// The policy document. Reads need `*` (the List/Describe calls take no resource); writes are
/// scoped where the API allows: metric filters to log groups, alarms and topics to this partition.
pub fn policy(mode: Mode) -> Value {
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
    }

    #[test]
    fn plan_policy_is_read_only() {
        let p = policy(Mode::Plan).to_string();
        for w in WRITE_ACTIONS {
            assert!(!p.contains(w), "{w}");
        }
    }
}
