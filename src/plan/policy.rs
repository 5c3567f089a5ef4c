//! Whether an SNS topic policy lets this account's CloudWatch alarms publish. Pure; reads the
//! policy JSON only. The question is asked for one request: principal
//! `cloudwatch.amazonaws.com`, action `SNS:Publish`, resource the topic, with `aws:SourceAccount`
//! = the account and `aws:SourceArn` = an alarm of the account in the topic's region.
//!
//! IAM evaluation, cut to what decides this request: an explicit Deny that matches wins; else
//! some Allow must match. A statement whose conditions use keys this module does not know is
//! treated as "may match" for an Allow (never a false alarm) and as "does not match" for a Deny
//! (never a false alarm either): cwfix reports only what it can prove.

use serde_json::{json, Value};

/// The request CloudWatch makes when an alarm fires.
pub(crate) struct Publish<'a> {
    pub topic_arn: &'a str,
    pub account: &'a str,
    pub partition: &'a str,
    pub region: &'a str,
}

impl Publish<'_> {
    fn alarm_arn(&self) -> String {
        format!("arn:{}:cloudwatch:{}:{}:alarm:cwfix-probe", self.partition, self.region, self.account)
    }
}

/// What the policy says about the request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    Allowed,
    /// An explicit Deny matches (its Sid, if any).
    Denied {
        sid: Option<String>,
    },
    /// No Allow statement can match.
    NotAllowed,
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// IAM's glob: `*` any run, `?` one character; case-insensitive when asked (actions).
fn glob(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    let (p, v): (Vec<char>, Vec<char>) = (p.chars().collect(), v.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn principal_matches(st: &Value) -> bool {
    match st.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(p @ Value::Object(_)) => {
            list(p.get("Service")).iter().any(|s| s == "cloudwatch.amazonaws.com")
                || list(p.get("AWS")).iter().any(|s| s == "*")
        }
        _ => false,
    }
}

fn action_matches(st: &Value) -> bool {
    let acts = list(st.get("Action"));
    if !acts.is_empty() {
        return acts.iter().any(|a| glob(a, "sns:Publish", true));
    }
    // NotAction: matches every action not listed.
    let not = list(st.get("NotAction"));
    !not.is_empty() && !not.iter().any(|a| glob(a, "sns:Publish", true))
}

fn resource_matches(st: &Value, topic_arn: &str) -> bool {
    let res = list(st.get("Resource"));
    if !res.is_empty() {
        return res.iter().any(|r| glob(r, topic_arn, false));
    }
    let not = list(st.get("NotResource"));
    !not.is_empty() && !not.iter().any(|r| glob(r, topic_arn, false))
}

/// `Some(true/false)` when every condition is one this module can evaluate; `None` otherwise.
fn conditions_hold(st: &Value, req: &Publish) -> Option<bool> {
    let Some(Value::Object(ops)) = st.get("Condition") else { return Some(true) };
    let context = |key: &str| -> Option<String> {
        match key.to_ascii_lowercase().as_str() {
            "aws:sourceaccount" | "aws:sourceowner" => Some(req.account.to_string()),
            "aws:sourcearn" => Some(req.alarm_arn()),
            _ => None,
        }
    };
    let mut all = true;
    for (op, keys) in ops {
        let Value::Object(keys) = keys else { return None };
        for (key, wanted) in keys {
            let have = context(key)?;
            let wanted = list(Some(wanted));
            let one = match op.as_str() {
                "StringEquals" | "ArnEquals" => wanted.iter().any(|w| w == &have),
                "StringEqualsIgnoreCase" => wanted.iter().any(|w| w.eq_ignore_ascii_case(&have)),
                "StringLike" | "ArnLike" => wanted.iter().any(|w| glob(w, &have, false)),
                "StringNotEquals" | "ArnNotEquals" => !wanted.iter().any(|w| w == &have),
                "StringNotLike" | "ArnNotLike" => !wanted.iter().any(|w| glob(w, &have, false)),
                _ => return None,
            };
            all &= one;
        }
    }
    Some(all)
}

fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => vec![],
    }
}

/// Decides the request against `policy` (the topic's `Policy` attribute).
pub(crate) fn decide(policy: &str, req: &Publish) -> Option<Decision> {
    let doc: Value = serde_json::from_str(policy).ok()?;
    let sts = statements(&doc);
    let applies = |st: &Value| principal_matches(st) && action_matches(st) && resource_matches(st, req.topic_arn);
    for st in sts.iter().filter(|st| st.get("Effect").and_then(Value::as_str) == Some("Deny")) {
        if applies(st) && conditions_hold(st, req) == Some(true) {
            return Some(Decision::Denied { sid: st.get("Sid").and_then(Value::as_str).map(str::to_string) });
        }
    }
    let allowed = sts
        .iter()
        .filter(|st| st.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .any(|st| applies(st) && conditions_hold(st, req) != Some(false));
    Some(if allowed { Decision::Allowed } else { Decision::NotAllowed })
}

/// `policy` with the Deny statements that stop CloudWatch removed and cwfix's statement letting
/// this account's alarms publish added (replacing one of the same Sid). Everything else is kept.
pub(crate) fn repaired(policy: &str, req: &Publish) -> Option<String> {
    let mut doc: Value = serde_json::from_str(policy).ok()?;
    let applies = |st: &Value| {
        st.get("Effect").and_then(Value::as_str) == Some("Deny")
            && principal_matches(st)
            && action_matches(st)
            && resource_matches(st, req.topic_arn)
            && conditions_hold(st, req) == Some(true)
    };
    let mut kept: Vec<Value> = statements(&doc)
        .into_iter()
        .filter(|st| !applies(st) && st.get("Sid").and_then(Value::as_str) != Some(SID))
        .collect();
    kept.push(statement(req));
    doc["Statement"] = Value::Array(kept);
    Some(doc.to_string())
}

/// The Sid of the statement cwfix adds.
pub(crate) const SID: &str = "CloudWatchAlarmsPublish";

/// Lets CloudWatch alarms of this account (and only those) publish to the topic.
pub(crate) fn statement(req: &Publish) -> Value {
    json!({
        "Sid": SID,
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": req.topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": req.account},
            "ArnLike": {"aws:SourceArn": format!("arn:{}:cloudwatch:{}:{}:alarm:*", req.partition, req.region, req.account)}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sec";

    fn req() -> Publish<'static> {
        Publish { topic_arn: TOPIC, account: "123456789012", partition: "aws", region: "us-east-1" }
    }

    fn policy(statements: Value) -> String {
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    #[test]
    fn the_default_topic_policy_allows_the_accounts_alarms() {
        let p = policy(json!([{"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:Publish"], "Resource": TOPIC,
            "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789012"}}}]));
        assert_eq!(decide(&p, &req()), Some(Decision::Allowed));
    }

    #[test]
    fn an_explicit_deny_for_cloudwatch_wins_and_the_repair_removes_it() {
        let p = policy(json!([
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": TOPIC},
            {"Sid": "NoAlarms", "Effect": "Deny", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Publish", "Resource": "*"}
        ]));
        assert_eq!(decide(&p, &req()), Some(Decision::Denied { sid: Some("NoAlarms".into()) }));
        let fixed = repaired(&p, &req()).unwrap();
        assert_eq!(decide(&fixed, &req()), Some(Decision::Allowed));
        assert!(fixed.contains(SID) && !fixed.contains("NoAlarms"));
    }

    #[test]
    fn allows_that_cannot_match_are_not_allowed() {
        for st in [
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "SNS:Publish", "Resource": TOPIC}),
            json!({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Subscribe", "Resource": TOPIC}),
            json!({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Publish", "Resource": TOPIC,
                   "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}),
            json!({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "SNS:Publish", "Resource": TOPIC,
                   "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*"}}}),
        ] {
            assert_eq!(decide(&policy(json!([st.clone()])), &req()), Some(Decision::NotAllowed), "{st}");
        }
    }

    #[test]
    fn unknown_condition_keys_never_raise_a_false_alarm() {
        let p = policy(json!([{"Effect": "Allow", "Principal": "*", "Action": "sns:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}}}]));
        assert_eq!(decide(&p, &req()), Some(Decision::Allowed));
    }

    #[test]
    fn globs() {
        assert!(glob("sns:*", "sns:Publish", true));
        assert!(glob("SNS:Pub?ish", "sns:publish", true));
        assert!(glob("arn:aws:cloudwatch:us-east-1:1:alarm:*", "arn:aws:cloudwatch:us-east-1:1:alarm:x", false));
        assert!(!glob("arn:aws:sns:*:1:other", TOPIC, false));
    }
}
