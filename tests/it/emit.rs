//! `cwfix plan --emit terraform DIR` / `--emit cloudformation FILE` (issue #14) on the demo
//! account, the near-miss account, an account of user-owned resources and the hunting baseline
//! (retention and saved queries).
//!
//! - Terraform (no binary here): every file parsed with python-hcl2, checked against the
//!   provider's argument schema (`tests/data/terraform/`), converted back into cwfix's
//!   after-state and compared with the plan, imports checked (`tests/it/emit_check.py`).
//! - CloudFormation: `cfn-lint` on every template, the same conversion, then the real thing
//!   against moto (with the launcher's CloudFormation support): IMPORT change set for the
//!   resources that exist, `aws cloudformation deploy` of the main template, the subscriptions
//!   confirmed, and `cwfix plan` must say "No changes.".

use crate::common::*;
use crate::util::{aws_cli, aws_json, repo_root, venv_dir, venv_python, Moto};
use serde_json::{json, Value};
use std::path::Path;

const SUB: &str = "email:sec@example.com";

fn demo_scenario() -> Value {
    let text = std::fs::read_to_string(repo_root().join("tests/moto/scenarios/demo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A compliant account whose owners wrote their own resources: the 5.1 alarm has a
/// description, an OK action and period 60; the 5.7 filter is a near miss (no ScheduleKeyDeletion).
fn user_resources_scenario(moto: &Moto) -> Value {
    let mut sc = compliant_scenario(moto, |id, p| {
        if id == "5.7" {
            "{($.eventSource = kms.amazonaws.com) && ($.eventName=DisableKey)}".into()
        } else {
            p.to_string()
        }
    });
    for a in sc["alarms"].as_array_mut().unwrap() {
        if a["name"] == "user-alarm-5.1" {
            a["period"] = json!(60);
            a["description"] = json!("owned by the platform team");
            a["ok_actions"] = json!(["arn:aws:sns:us-east-1:123456789012:ok-sink"]);
        }
    }
    sc
}

/// `emit_check.py ARGS`; panics with its report unless the code matches the plan.
fn emit_check(args: &[&str]) -> Value {
    let out = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/it/emit_check.py"))
        .args(args)
        .output()
        .expect("run emit_check.py");
    assert!(out.status.success(), "emit_check {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Plans with `args`, emitting Terraform to `tf/` and CloudFormation to `cfn/cwfix.yaml`;
/// returns the plan JSON (also written to `plan.json`).
fn plan_and_emit(moto: &Moto, args: &[&str]) -> Value {
    let dir = moto.workdir();
    let _ = std::fs::remove_dir_all(dir.join("tf"));
    let _ = std::fs::remove_dir_all(dir.join("cfn"));
    let mut all = vec!["plan", "-o", "json", "--emit", "terraform", "tf", "--emit", "cloudformation", "cfn/cwfix.yaml"];
    all.extend_from_slice(args);
    let out = run(moto, &all);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("Wrote Terraform for account 123456789012 to tf"), "{out:?}");
    assert!(
        out.stderr.contains("Wrote CloudFormation for account 123456789012, us-east-1 to cfn/cwfix.yaml"),
        "{out:?}"
    );
    std::fs::write(dir.join("plan.json"), &out.stdout).unwrap();
    out.json()
}

/// The Terraform checks; returns emit_check's summary.
fn check_terraform(moto: &Moto) -> Value {
    let dir = moto.workdir();
    let schema = repo_root().join("tests/data/terraform/aws-provider-schema.json");
    emit_check(&["terraform", path(&dir.join("tf")), path(&dir.join("plan.json")), path(&schema)])
}

/// cfn-lint on every template, the static check, then import + deploy into moto and a clean plan.
fn check_cloudformation(moto: &Moto, plan: &Value, plan_args: &[&str], stack: &str) -> Value {
    let cfn = moto.workdir().join("cfn");
    let main = cfn.join("cwfix.yaml");
    let import = cfn.join("cwfix.import.yaml");
    let ids = cfn.join("cwfix.resources-to-import.json");
    let updates = plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] == "update").count();
    assert_eq!(import.exists(), updates > 0, "an import template exactly when the plan updates something");
    let mut templates = vec![path(&main).to_string()];
    if import.exists() {
        templates.push(path(&import).to_string());
    }
    let lint = std::process::Command::new(venv_dir().join("bin/cfn-lint")).args(&templates).output().unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint {templates:?}:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let plan_json = moto.workdir().join("plan.json");
    let summary = if import.exists() {
        emit_check(&["cloudformation", path(&main), path(&plan_json), path(&import), path(&ids)])
    } else {
        emit_check(&["cloudformation", path(&main), path(&plan_json)])
    };

    // The real workflow against moto: adopt, then deploy.
    if import.exists() {
        let body = format!("file://{}", import.display());
        let list = format!("file://{}", ids.display());
        aws_json(
            moto,
            &[
                "cloudformation",
                "create-change-set",
                "--change-set-type",
                "IMPORT",
                "--stack-name",
                stack,
                "--change-set-name",
                "adopt",
                "--template-body",
                &body,
                "--resources-to-import",
                &list,
            ],
        );
        let cs = aws_json(
            moto,
            &["cloudformation", "describe-change-set", "--stack-name", stack, "--change-set-name", "adopt"],
        );
        let actions: Vec<&str> =
            cs["Changes"].as_array().unwrap().iter().map(|c| c["ResourceChange"]["Action"].as_str().unwrap()).collect();
        assert_eq!(actions, vec!["Import"; updates], "{cs:#}");
        let before = moto.dump();
        aws_json(moto, &["cloudformation", "execute-change-set", "--stack-name", stack, "--change-set-name", "adopt"]);
        assert_eq!(moto.dump(), before, "an import changes nothing");
        let st = aws_json(moto, &["cloudformation", "describe-stacks", "--stack-name", stack]);
        assert_eq!(st["Stacks"][0]["StackStatus"], "IMPORT_COMPLETE");
    }
    let deploy = aws_cli(moto)
        .args(["cloudformation", "deploy", "--stack-name", stack, "--template-file", path(&main)])
        .output()
        .unwrap();
    assert!(
        deploy.status.success(),
        "deploy failed:\n{}{}\nlauncher log:\n{}",
        String::from_utf8_lossy(&deploy.stdout),
        String::from_utf8_lossy(&deploy.stderr),
        moto.log_tail(20)
    );
    let st = aws_json(moto, &["cloudformation", "describe-stacks", "--stack-name", stack]);
    let status = st["Stacks"][0]["StackStatus"].as_str().unwrap();
    assert!(status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE", "{st:#}");
    moto.confirm_subscriptions();
    let mut again = vec!["plan"];
    again.extend_from_slice(plan_args);
    let clean = run(moto, &again);
    assert_eq!(clean.code, 0, "after the deploy: {clean:?}");
    assert!(clean.stdout.contains("No changes."), "{clean:?}");
    summary
}

/// A second stack with the main template alone must fail: the existing resources were not
/// imported, and CloudFormation does not overwrite what it does not own.
fn deploy_without_import_fails(moto: &Moto) {
    let main = moto.workdir().join("cfn/cwfix.yaml");
    let out = aws_cli(moto)
        .args(["cloudformation", "deploy", "--stack-name", "no-import", "--template-file", path(&main)])
        .output()
        .unwrap();
    assert!(!out.status.success(), "deploying over existing resources must fail");
    let st = aws_json(moto, &["cloudformation", "describe-stacks", "--stack-name", "no-import"]);
    assert_eq!(st["Stacks"][0]["StackStatus"], "ROLLBACK_COMPLETE", "{st:#}");
}

#[test]
fn demo_account_as_terraform_and_cloudformation() {
    let moto = Moto::start();
    moto.seed(&demo_scenario());
    let args = ["--subscribe", SUB];
    let plan = plan_and_emit(&moto, &args);
    let tf = check_terraform(&moto);
    assert_eq!(tf["imports"], 2, "{tf}");
    assert_eq!(tf["converted"], plan["changes"].as_array().unwrap().len(), "{tf}");
    let main = std::fs::read_to_string(moto.workdir().join("tf/main.tf")).unwrap();
    assert!(main.contains("# 5.4: its pattern matches less than the baseline: it misses events such as {\"eventName\":\"DetachGroupPolicy\"}"), "{main}");
    assert!(main.contains("  name = var.topic_name\n"), "{main}");
    let vars = std::fs::read_to_string(moto.workdir().join("tf/variables.tf")).unwrap();
    assert!(vars.contains("endpoint = \"sec@example.com\""), "{vars}");
    let cfn = check_cloudformation(&moto, &plan, &args, "cis-monitoring");
    assert_eq!(cfn["imported"], 2, "{cfn}");
    assert_eq!(cfn["parameters"], json!(["SubscriberEndpoint", "TopicName"]));
    deploy_without_import_fails(&moto);
}

#[test]
fn near_miss_account_imports_and_updates_in_place() {
    let moto = Moto::start();
    moto.seed(&near_miss_scenario(&moto));
    let plan = plan_and_emit(&moto, &[]);
    assert_eq!(plan["changes"].as_array().unwrap().len(), 2);
    let tf = check_terraform(&moto);
    assert_eq!((tf["imports"].as_u64(), tf["converted"].as_u64()), (Some(2), Some(2)), "{tf}");
    assert!(!moto.workdir().join("tf/variables.tf").exists(), "no topic or subscriber to parameterise");
    let imports = std::fs::read_to_string(moto.workdir().join("tf/imports.tf")).unwrap();
    assert!(imports.contains(&format!("  id = \"{GROUP}:user-5.4\"")), "{imports}");
    assert!(imports.contains("  id = \"user-alarm-5.1\""), "{imports}");
    let cfn = check_cloudformation(&moto, &plan, &[], "cis-monitoring");
    assert_eq!(cfn["imported"], 2, "{cfn}");
    // The user's filter keeps its name and metric; only the pattern changed, byte for byte.
    let f = aws_json(
        &moto,
        &["logs", "describe-metric-filters", "--log-group-name", GROUP, "--filter-name-prefix", "user-5.4"],
    );
    let after = plan["changes"][0]["after"]["filter_pattern"].as_str().unwrap();
    assert_eq!(f["metricFilters"][0]["filterPattern"], after);
}

#[test]
fn user_resources_keep_everything_but_the_fix() {
    let moto = Moto::start();
    moto.seed(&user_resources_scenario(&moto));
    let plan = plan_and_emit(&moto, &[]);
    let tf = check_terraform(&moto);
    assert_eq!(tf["imports"], 2, "{tf}");
    let main = std::fs::read_to_string(moto.workdir().join("tf/main.tf")).unwrap();
    assert!(main.contains("alarm_description   = \"owned by the platform team\""), "{main}");
    assert!(main.contains("ok_actions          = [\"arn:aws:sns:us-east-1:123456789012:ok-sink\"]"), "{main}");
    check_cloudformation(&moto, &plan, &[], "cis-monitoring");
    let a = aws_json(&moto, &["cloudwatch", "describe-alarms", "--alarm-names", "user-alarm-5.1"]);
    let alarm = &a["MetricAlarms"][0];
    assert_eq!(alarm["Period"], 300);
    assert_eq!(alarm["AlarmDescription"], "owned by the platform team");
    assert_eq!(alarm["OKActions"], json!(["arn:aws:sns:us-east-1:123456789012:ok-sink"]));
}

#[test]
fn hunting_retention_and_saved_queries() {
    let moto = Moto::start();
    let mut sc = trail_scenario();
    sc["log_groups"] = json!([{"name": GROUP, "retention_days": 30}]);
    moto.seed(&sc);
    // One of the three saved queries exists with other text: updated in place, so imported.
    let qid = aws_json(
        &moto,
        &[
            "logs",
            "put-query-definition",
            "--name",
            "cwfix/hunting/activity-outside-approved-regions",
            "--query-string",
            "fields @timestamp",
            "--log-group-names",
            GROUP,
        ],
    )["queryDefinitionId"]
        .as_str()
        .unwrap()
        .to_string();
    let plan = plan_and_emit(&moto, &["--baseline", "hunting"]);
    let tf = check_terraform(&moto);
    assert_eq!(tf["imports"], 2, "retention and the changed query: {tf}");
    let main = std::fs::read_to_string(moto.workdir().join("tf/main.tf")).unwrap();
    assert!(main.contains("  skip_destroy      = true\n"), "{main}");
    assert!(main.contains("ignore_changes = [kms_key_id, log_group_class, tags, tags_all]"), "{main}");
    let imports = std::fs::read_to_string(moto.workdir().join("tf/imports.tf")).unwrap();
    assert!(imports.contains(&format!("arn:aws:logs:us-east-1:123456789012:query-definition:{qid}")), "{imports}");
    check_cloudformation(&moto, &plan, &["--baseline", "hunting"], "hunting");
    let defs = aws_json(&moto, &["logs", "describe-query-definitions"]);
    assert_eq!(defs["queryDefinitions"].as_array().unwrap().len(), 3, "updated in place, not duplicated: {defs:#}");
    let groups = aws_json(&moto, &["logs", "describe-log-groups", "--log-group-name-prefix", GROUP]);
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 365);
}

#[test]
fn nothing_to_change_still_writes_valid_code() {
    let moto = Moto::start();
    moto.seed(&compliant_scenario(&moto, |_, p| p.to_string()));
    let out = run(&moto, &["plan", "--emit", "terraform", "tf", "--emit", "cloudformation", "cfn.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let main = std::fs::read_to_string(moto.workdir().join("tf/main.tf")).unwrap();
    assert!(main.contains("# No changes"), "{main}");
    let lint = std::process::Command::new(venv_dir().join("bin/cfn-lint"))
        .arg(moto.workdir().join("cfn.json"))
        .output()
        .unwrap();
    assert!(lint.status.success(), "{}", String::from_utf8_lossy(&lint.stdout));
    let bad = run(&moto, &["plan", "--emit", "pulumi", "x"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("unknown --emit format `pulumi`"), "{bad:?}");
}

/// A customer managed key that lets CloudWatch use it (as in `kms.rs`); returns its id.
fn key_for_cloudwatch(moto: &Moto) -> String {
    let key = aws_json(moto, &["kms", "create-key", "--region", "us-east-1"]);
    let id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatch", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}]})
    .to_string();
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

#[test]
fn encrypted_topic_carries_the_key_into_the_code() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let key = key_for_cloudwatch(&moto);
    std::fs::write(
        moto.workdir().join("enc.toml"),
        format!("name = \"enc\"\nextends = \"cis-v7.0\"\nonly = [\"5.3\"]\n[notification]\ntopic = \"enc-alarms\"\nkms_key = \"{key}\"\n"),
    )
    .unwrap();
    let args = ["--baseline", "enc.toml", "--subscribe", SUB];
    let plan = plan_and_emit(&moto, &args);
    check_terraform(&moto);
    let main = std::fs::read_to_string(moto.workdir().join("tf/main.tf")).unwrap();
    assert!(main.contains(&format!("  kms_master_key_id = \"{key}\"\n")), "{main}");
    check_cloudformation(&moto, &plan, &args, "enc");
    let attrs = aws_json(
        &moto,
        &["sns", "get-topic-attributes", "--topic-arn", "arn:aws:sns:us-east-1:123456789012:enc-alarms"],
    );
    assert_eq!(attrs["Attributes"]["KmsMasterKeyId"], key.as_str());
    assert!(attrs["Attributes"]["Policy"].as_str().unwrap().contains("aws:SourceAccount"), "{attrs:#}");
}
