//! Notification targets: SNS subscription protocols and the endpoints SNS accepts for each.
//! An alarm that notifies an endpoint SNS rejects, or one nobody can confirm, reaches nobody,
//! which is the one thing cwfix exists to prevent; so targets are checked before any plan.

use super::WantedSubscription;

/// Protocols SNS `Subscribe` takes, in SNS's spelling.
pub const PROTOCOLS: &[&str] = &["email", "email-json", "http", "https", "sqs", "sms", "lambda", "application"];

/// Checks one target; the error says what SNS expects.
pub fn validate(protocol: &str, endpoint: &str) -> Result<(), String> {
    let bad = |want: &str| Err(format!("`{protocol}:{endpoint}`: a {protocol} endpoint must be {want}"));
    match protocol {
        "email" | "email-json" => {
            if is_email(endpoint) {
                Ok(())
            } else {
                bad("an email address such as security@example.com")
            }
        }
        "http" | "https" => {
            let rest = endpoint.strip_prefix(&format!("{protocol}://"));
            match rest {
                Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => Ok(()),
                _ => bad(&format!("a URL starting with {protocol}:// (the endpoint must confirm the subscription)")),
            }
        }
        "sqs" => arn_of(endpoint, "sqs", |rest| !rest.is_empty()).map_or_else(
            || bad("an SQS queue ARN such as arn:aws:sqs:us-east-1:123456789012:alerts"),
            |_| Ok(()),
        ),
        "lambda" => arn_of(endpoint, "lambda", |rest| rest.starts_with("function:") && rest.len() > 9).map_or_else(
            || bad("a Lambda function ARN such as arn:aws:lambda:us-east-1:123456789012:function:notify"),
            |_| Ok(()),
        ),
        "application" => arn_of(endpoint, "sns", |rest| rest.starts_with("endpoint/")).map_or_else(
            || bad("an SNS platform endpoint ARN (arn:aws:sns:REGION:ACCOUNT:endpoint/...)"),
            |_| Ok(()),
        ),
        "sms" => {
            let digits = endpoint.strip_prefix('+').unwrap_or("");
            if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                bad("a phone number in E.164 form such as +14155550100")
            }
        }
        "firehose" => Err(format!(
            "`{protocol}:{endpoint}`: Firehose subscriptions need a SubscriptionRoleArn, which cwfix does not manage; subscribe the stream yourself"
        )),
        "slack" | "teams" | "chime" | "msteams" => Err(format!(
            "`{protocol}:{endpoint}`: SNS has no `{protocol}` protocol. To reach {protocol}, configure AWS Chatbot (Amazon Q Developer in chat applications) on the topic (it subscribes itself), or subscribe an https:// endpoint that confirms SNS subscriptions"
        )),
        _ => Err(format!("`{protocol}:{endpoint}`: `{protocol}` is not an SNS protocol (one of {})", PROTOCOLS.join(", "))),
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:REST` with `rest_ok(REST)`.
fn arn_of<'a>(s: &'a str, service: &str, rest_ok: impl Fn(&str) -> bool) -> Option<&'a str> {
    let mut p = s.splitn(6, ':');
    let (a, partition, svc, region, account, rest) = (p.next()?, p.next()?, p.next()?, p.next()?, p.next()?, p.next()?);
    let ok = a == "arn"
        && partition.starts_with("aws")
        && svc == service
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && rest_ok(rest);
    ok.then_some(rest)
}

/// Parses a `--subscribe` value: `PROTOCOL:ENDPOINT`, or a bare `https://...`/`http://...` URL
/// (whose own `:` must not be taken for the separator).
pub fn parse(value: &str) -> Result<WantedSubscription, String> {
    let v = value.trim();
    for scheme in ["https", "http"] {
        if v.starts_with(&format!("{scheme}://")) {
            validate(scheme, v)?;
            return Ok(WantedSubscription { protocol: scheme.into(), endpoint: v.into() });
        }
    }
    let (protocol, endpoint) = v
        .split_once(':')
        .ok_or_else(|| format!("`{value}`: expected PROTOCOL:ENDPOINT, e.g. email:security@example.com"))?;
    let protocol = protocol.to_ascii_lowercase();
    validate(&protocol, endpoint)?;
    Ok(WantedSubscription { protocol, endpoint: endpoint.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_sns_accepts() {
        for (p, e) in [
            ("email", "sec@example.com"),
            ("email-json", "a.b+c@mail.example.org"),
            ("https", "https://hooks.example.com/sns"),
            ("http", "http://10.0.0.1:8080/x"),
            ("sqs", "arn:aws:sqs:us-east-1:123456789012:alerts"),
            ("lambda", "arn:aws:lambda:eu-west-1:123456789012:function:notify:live"),
            ("sms", "+14155550100"),
            ("application", "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/abc"),
        ] {
            assert_eq!(validate(p, e), Ok(()), "{p}:{e}");
        }
    }

    #[test]
    fn refuses_what_reaches_nobody() {
        for (p, e) in [
            ("email", "not-an-address"),
            ("https", "//hooks.slack.com/services/T/B/X"),
            ("sqs", "my-queue"),
            ("sms", "555-0100"),
            ("slack", "#sec"),
            ("pager", "x"),
        ] {
            assert!(validate(p, e).is_err(), "{p}:{e}");
        }
        assert!(validate("slack", "#sec").unwrap_err().contains("AWS Chatbot"));
    }

    #[test]
    fn bare_urls_keep_their_scheme() {
        let w = parse("https://hooks.slack.com/services/T/B/X").unwrap();
        assert_eq!((w.protocol.as_str(), w.endpoint.as_str()), ("https", "https://hooks.slack.com/services/T/B/X"));
        let w = parse("https:https://example.com/x").unwrap();
        assert_eq!(w.endpoint, "https://example.com/x");
        assert!(parse("slack:#sec").is_err());
        assert!(parse("nocolon").is_err());
    }
}
