//! Encrypted topics (issue #7): a customer managed key must let CloudWatch use it; the AWS
//! managed key `alias/aws/sns` silences alarms and is reported as a broken link.

use crate::common::*;
use crate::util::{aws_json, Moto};
use serde_json::json;

const SUB: &str = "email:sec@example.com";

fn key_with_policy(moto: &Moto, allow_cloudwatch: bool) -> String {
    let key = aws_json(moto, &["kms", "create-key", "--region", "us-east-1"]);
    let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let mut statements = vec![
        json!({"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}),
    ];
    if allow_cloudwatch {
        statements
            .push(json!({"Sid": "CloudWatch", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}));
    }
    let policy = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    aws_json(
        moto,
        &[
            "kms",
            "put-key-policy",
            "--region",
            "us-east-1",
            "--key-id",
            &id,
            "--policy-name",
            "default",
            "--policy",
            &policy,
        ],
    );
    id
}

fn baseline_with_key(moto: &Moto, key: &str) -> String {
    let text = format!("name = \"enc\"\nextends = \"cis-v7.0\"\nonly = [\"5.3\"]\n[notification]\ntopic = \"enc-alarms\"\nkms_key = \"{key}\"\n");
    std::fs::write(moto.workdir().join("enc.toml"), text).unwrap();
    "enc.toml".into()
}

#[test]
fn key_that_cloudwatch_may_not_use_blocks_with_what_is_missing() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let key = key_with_policy(&moto, false);
    let b = baseline_with_key(&moto, &key);
    let out = run(&moto, &["plan", "-o", "json", "--baseline", &b, "--subscribe", SUB]);
    assert_eq!(out.code, 3, "blocked, nothing cwfix can change: {out:?}");
    let p = out.json();
    assert_eq!(status_of(&p, "5.3"), "blocked", "{p:#}");
    let reason = p["controls"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("kms:Decrypt") && reason.contains("kms:GenerateDataKey*"), "{reason}");
    assert_eq!(p["changes"], json!([]));
}

#[test]
fn good_key_encrypts_the_new_topic() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let key = key_with_policy(&moto, true);
    let b = baseline_with_key(&moto, &key);
    let out = run(&moto, &["apply", "--yes", "--baseline", &b, "--subscribe", SUB]);
    assert_eq!(out.code, 0, "{out:?}");
    let attrs = aws_json(
        &moto,
        &["sns", "get-topic-attributes", "--topic-arn", "arn:aws:sns:us-east-1:123456789012:enc-alarms"],
    );
    assert_eq!(attrs["Attributes"]["KmsMasterKeyId"], key.as_str());
    let policy: serde_json::Value = serde_json::from_str(attrs["Attributes"]["Policy"].as_str().unwrap()).unwrap();
    assert!(policy.to_string().contains("cloudwatch.amazonaws.com"), "{policy}");
    assert!(policy.to_string().contains("aws:SourceAccount"), "{policy}");
}

#[test]
fn topic_on_the_aws_managed_key_is_a_broken_link() {
    let moto = Moto::start();
    let mut sc = compliant_scenario(&moto, |_, p| p.to_string());
    sc["topics"] = json!([{"name": "security-alerts", "attributes": {"KmsMasterKeyId": "alias/aws/sns"},
                           "subscriptions": [{"protocol": "email", "endpoint": "secops@example.com"}]}]);
    moto.seed(&sc);
    let p = run(&moto, &["plan", "-o", "json", "--subscribe", SUB]).json();
    assert_eq!(status_of(&p, "5.1"), "changes", "{p:#}");
    assert!(p["controls"][0]["reason"].as_str().unwrap().contains("alias/aws/sns"), "{p:#}");
    // The fix: a topic of cwfix's (unencrypted, since no key is named) added to the alarms.
    let ch = changes(&p);
    assert!(ch.contains(&("sns_topic".into(), "create".into(), "sns_topic.cwfix-cis-alarms".into())), "{ch:?}");
    assert!(ch.iter().filter(|c| c.0 == "metric_alarm" && c.1 == "update").count() == 15, "{ch:?}");
}
