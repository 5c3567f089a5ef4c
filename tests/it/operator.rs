//! The operator's contract (issue #15): the right account, honest exit codes, validated
//! notification targets, controls that explain themselves, clean logs, completions and a man
//! page, and a README that matches the tool.

use crate::common::*;
use crate::util::Moto;
use serde_json::json;

const SUB: &str = "email:sec@example.com";

/// A config file with profiles: `other` holds the credentials of an assumed role (another
/// identity than the environment's keys), `bare` has no credentials at all.
fn profiles(moto: &Moto) -> (String, String) {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    crate::util::aws_json(
        moto,
        &["iam", "create-role", "--role-name", "auditor", "--assume-role-policy-document", doc],
    );
    let c = crate::util::aws_json(
        moto,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/auditor",
            "--role-session-name",
            "profile",
        ],
    )["Credentials"]
        .clone();
    let config = moto.tmp().join("aws-config");
    std::fs::write(&config, "[profile other]\nregion = us-east-1\n[profile bare]\nregion = us-east-1\n").unwrap();
    let creds = moto.tmp().join("aws-credentials");
    std::fs::write(
        &creds,
        format!(
            "[other]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            c["AccessKeyId"].as_str().unwrap(),
            c["SecretAccessKey"].as_str().unwrap(),
            c["SessionToken"].as_str().unwrap()
        ),
    )
    .unwrap();
    (config.display().to_string(), creds.display().to_string())
}

#[test]
fn r15_an_explicit_profile_wins_over_environment_keys_or_fails_naming_it() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let (config, creds) = profiles(&moto);
    let env = [("AWS_CONFIG_FILE", config.as_str()), ("AWS_SHARED_CREDENTIALS_FILE", creds.as_str())];
    // The environment has the keys of user/moto; the profile is the assumed role.
    let other = run_env(&moto, &["plan", "--profile", "other", "-o", "json"], &env);
    assert!(other.code == 2 || other.code == 3, "{other:?}");
    assert!(other.json()["caller_arn"].as_str().unwrap().contains("assumed-role/auditor"), "{other:?}");
    assert!(other.stderr.contains("AWS_ACCESS_KEY_ID is set but ignored: profile `other` is used"), "{other:?}");
    let by_env = run_env(&moto, &["plan", "-o", "json"], &[env[0], env[1], ("AWS_PROFILE", "other")]);
    assert!(by_env.json()["caller_arn"].as_str().unwrap().contains("assumed-role/auditor"), "{by_env:?}");

    let missing = run_env(&moto, &["plan", "--profile", "nosuch"], &env);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("the config profile `nosuch` could not be found"), "{missing:?}");
    let bare = run_env(&moto, &["plan", "--profile", "bare"], &env);
    assert_eq!(bare.code, 1, "{bare:?}");
    assert!(bare.stderr.contains("the profile has no credentials of its own"), "{bare:?}");
}

#[test]
fn r15_apply_says_which_account_it_writes_to_before_writing() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    crate::util::aws_json(&moto, &["iam", "create-account-alias", "--account-alias", "sec-prod"]);
    let out = run(&moto, &["apply", "--yes", "--subscribe", SUB]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("cwfix will write to account 123456789012 (sec-prod) as arn:aws:"), "{out:?}");
    assert!(out.stdout.starts_with("Account 123456789012 (sec-prod), baseline"), "{out:?}");
}

#[test]
fn r15_exit_codes_tell_drift_from_waiting_for_a_person() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB]).code, 2, "changes planned");
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB, "--exit-zero"]).code, 0);
    assert_eq!(run(&moto, &["apply", "--yes", "--subscribe", SUB]).code, 0);
    // Applied, but the email is not confirmed yet: nothing cwfix can do, a person must act.
    let pending = run(&moto, &["plan", "--subscribe", SUB]);
    assert_eq!(pending.code, 3, "{pending:?}");
    assert!(pending.stdout.contains("No changes."), "{pending:?}");
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB, "--exit-zero"]).code, 0);
    moto.confirm_subscriptions();
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB]).code, 0, "every control holds");
    // An account without a trail: blocked, not drift.
    moto.reset();
    let no_trail = run(&moto, &["plan", "--subscribe", SUB]);
    assert_eq!(no_trail.code, 3, "{no_trail:?}");
}

#[test]
fn r15_notification_targets_are_validated() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let url = "https://hooks.example.com/services/T000/B000/XXXX";
    let out = run(&moto, &["plan", "--subscribe", url, "-o", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    let sub =
        out.json()["changes"].as_array().unwrap().iter().find(|c| c["kind"] == "sns_subscription").cloned().unwrap();
    assert_eq!(sub["after"]["protocol"], "https");
    assert_eq!(sub["after"]["endpoint"], url, "never split inside a URL");
    for (bad, want) in [
        ("slack:#sec", "AWS Chatbot"),
        ("email:not-an-address", "an email address"),
        ("sqs:my-queue", "an SQS queue ARN"),
        ("https://", "a URL starting with https://"),
    ] {
        let out = run(&moto, &["plan", "--subscribe", bad]);
        assert_eq!(out.code, 1, "{bad}: {out:?}");
        assert!(out.stderr.contains(want), "{bad}: {out:?}");
    }
}

#[test]
fn r15_controls_explain_themselves() {
    let moto = Moto::start();
    let shown = run(&moto, &["baselines", "show", "cis-v7.0", "-o", "json"]).json();
    let root = shown["controls"].as_array().unwrap().iter().find(|c| c["id"] == "5.3").unwrap().clone();
    assert_eq!(root["severity"], "low");
    assert!(root["rationale"].as_str().unwrap().contains("root user"));
    assert!(!root["remediation"].as_str().unwrap().is_empty());
    let ssm = run(&moto, &["baselines", "show", "cloudguard-ssm", "-o", "json"]).json();
    assert_eq!(ssm["controls"][0]["severity"], "high");
    moto.seed(&trail_scenario());
    let plan = run(&moto, &["plan", "-o", "json"]).json();
    let c = &plan["controls"][0];
    assert_eq!(c["severity"], "low");
    assert!(c["rationale"].is_string() && c["remediation"].is_string(), "{c:#}");
    let text = run(&moto, &["plan"]);
    assert!(text.stdout.contains("Unauthorized API calls  [low]"), "{text:?}");
    assert!(text.stdout.contains("why it matters:"), "{text:?}");
    // Every blocked control shows its reason, even when it shares it with the next one.
    let blocked = text.stdout.matches("has no subscriber and the baseline names none").count();
    assert_eq!(blocked, 15, "{text:?}");
}

#[test]
fn r15_logs_carry_no_colour_codes_into_pipes() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let out = run_env(&moto, &["-v", "--color", "never", "plan", "--profile", "nosuch"], &[("NO_COLOR", "")]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(!out.stderr.contains('\u{1b}'), "{out:?}");
    let auto = run_env(&moto, &["-v", "plan", "--subscribe", SUB], &[("NO_COLOR", "")]);
    assert!(!auto.stderr.contains('\u{1b}'), "stderr is a pipe: {auto:?}");
}

#[test]
fn r15_completions_and_man_page() {
    let moto = Moto::start();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&moto, &["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {out:?}");
        assert!(out.stdout.contains("cwfix"), "{shell}");
    }
    let man = run(&moto, &["man"]);
    assert_eq!(man.code, 0);
    assert!(man.stdout.starts_with(".ie") && man.stdout.contains(".TH cwfix 1"), "{}", &man.stdout[..200]);
}

#[test]
fn r15_readme_lists_what_iam_policy_prints() {
    let moto = Moto::start();
    let policy = run(&moto, &["iam-policy", "--for", "plan"]).json();
    let readme = std::fs::read_to_string(crate::util::repo_root().join("README.md")).unwrap();
    for action in policy["Statement"][0]["Action"].as_array().unwrap() {
        let a = action.as_str().unwrap();
        let (service, name) = a.split_once(':').unwrap();
        // README groups actions as `service:A/B/C`.
        let listed = readme.lines().any(|l| l.contains(&format!("{service}:")) && l.contains(name));
        assert!(listed, "README's read-only policy list lacks {a}");
    }
    let _ = json!(null);
}
