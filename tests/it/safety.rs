//! The safety core against moto (issue #10): a saved plan is refused only when something it
//! relies on changed; apply shows what will run and never loses an edit; rollback never deletes
//! what the run did not create; bad baselines and unsafe state directories are refused; usage
//! errors are errors.

use crate::common::*;
use crate::util::{aws_cli, aws_json, venv_dir, Moto};
use serde_json::{json, Value};
use std::process::Command;

const SUB: &str = "email:sec@example.com";

fn aws(moto: &Moto, args: &[&str]) {
    let out = aws_cli(moto).args(args).output().expect("run aws cli");
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Credentials of another identity in the same account (a write role next to the CI's read role).
fn other_identity(moto: &Moto) -> Vec<(String, String)> {
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    aws(moto, &["iam", "create-role", "--role-name", "cwfix-writer", "--assume-role-policy-document", doc]);
    let creds = aws_json(
        moto,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/cwfix-writer",
            "--role-session-name",
            "writer",
        ],
    );
    let c = &creds["Credentials"];
    vec![
        ("AWS_ACCESS_KEY_ID".into(), c["AccessKeyId"].as_str().unwrap().into()),
        ("AWS_SECRET_ACCESS_KEY".into(), c["SecretAccessKey"].as_str().unwrap().into()),
        ("AWS_SESSION_TOKEN".into(), c["SessionToken"].as_str().unwrap().into()),
    ]
}

#[test]
fn r10_saved_plan_survives_unrelated_changes_and_another_identity() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let made = run(&moto, &["plan", "--subscribe", SUB, "--out", "plan.json"]);
    assert_eq!(made.code, 2, "{made:?}");
    // Auto Scaling adds an alarm, another team a topic: nothing the plan relies on.
    aws(
        &moto,
        &[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "TargetTracking-web-AlarmHigh-7f3e",
            "--namespace",
            "AWS/EC2",
            "--metric-name",
            "CPUUtilization",
            "--statistic",
            "Average",
            "--period",
            "60",
            "--threshold",
            "70",
            "--comparison-operator",
            "GreaterThanThreshold",
            "--evaluation-periods",
            "3",
        ],
    );
    aws(&moto, &["sns", "create-topic", "--name", "another-teams-topic"]);
    let env = other_identity(&moto);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let applied = run_env(&moto, &["apply", "plan.json", "--yes"], &env);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(applied.stdout.contains("Apply complete! 32 change(s) made."), "{applied:?}");
}

#[test]
fn r10_a_saved_plan_is_stale_when_what_it_relies_on_changed_and_says_what() {
    let moto = Moto::start();
    moto.seed(&near_miss_scenario(&moto));
    let made = run(&moto, &["plan", "--out", "plan.json"]);
    assert_eq!(made.code, 2, "{made:?}");
    aws(
        &moto,
        &[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "user-alarm-5.1",
            "--namespace",
            "CloudTrailMetrics",
            "--metric-name",
            "UnauthorizedAPICallsCount",
            "--statistic",
            "Sum",
            "--period",
            "120",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--evaluation-periods",
            "1",
        ],
    );
    let stale = run(&moto, &["apply", "plan.json", "--yes"]);
    assert_eq!(stale.code, 1, "{stale:?}");
    let lines: Vec<&str> = stale.stderr.lines().collect();
    assert_eq!(lines[0], "error: saved plan `plan.json` is stale", "{stale:?}");
    assert!(lines[1].contains("metric_alarm.user-alarm-5.1 (us-east-1) changed since the plan was made"), "{stale:?}");
    assert_eq!(lines.last().unwrap(), &"hint: run `cwfix plan --out plan.json` again", "{stale:?}");
}

#[test]
fn r10_the_confirmation_shows_what_runs_and_an_edited_plan_is_refused() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB, "--out", "plan.json"]).code, 2);
    let path = moto.workdir().join("plan.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Someone makes the file say "nothing to do" but leaves the changes.
    doc["summary"] = json!({"add": 0, "change": 0, "destroy": 0});
    for c in doc["controls"].as_array_mut().unwrap() {
        c["status"] = json!("compliant");
    }
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    let truthful = run(&moto, &["apply", "plan.json", "--yes"]);
    assert_eq!(truthful.code, 0, "{truthful:?}");
    assert!(truthful.stdout.contains("Plan: 32 to add, 0 to change, 0 to destroy."), "{truthful:?}");
    assert!(truthful.stdout.contains("Apply complete! 32 change(s) made."), "{truthful:?}");

    // A plan whose changes were edited is not what cwfix plans: refused, nothing written.
    moto.reset();
    moto.seed(&trail_scenario());
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB, "--out", "plan.json"]).code, 2);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["changes"].as_array_mut().unwrap().truncate(3);
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    let before = moto.dump();
    let edited = run(&moto, &["apply", "plan.json", "--yes"]);
    assert_eq!(edited.code, 1, "{edited:?}");
    assert!(edited.stderr.contains("the file was edited"), "{edited:?}");
    assert_eq!(moto.dump(), before);
}

#[test]
fn r10_flags_beside_a_saved_plan_are_refused() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    assert_eq!(run(&moto, &["plan", "--subscribe", SUB, "--out", "plan.json"]).code, 2);
    let out = run(&moto, &["apply", "plan.json", "--yes", "--topic", "other", "--subscribe", "email:x@example.com"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("--topic, --subscribe would change the plan"), "{out:?}");
}

/// Someone rewrites a filter while apply waits at its prompt: the write is refused, the edit kept.
#[test]
fn r10_an_edit_made_at_the_prompt_is_kept() {
    let moto = Moto::start();
    moto.seed(&near_miss_scenario(&moto));
    let aws_bin = venv_dir().join("bin").join("aws");
    let edit = format!(
        "{} logs put-metric-filter --log-group-name {GROUP} --filter-name user-5.4 --filter-pattern '{{ $.eventName = EditedAtThePrompt }}' --metric-transformations metricName=IAMPolicyChangesCount,metricNamespace=CloudTrailMetrics,metricValue=1",
        aws_bin.display()
    );
    let bin = assert_cmd::cargo::cargo_bin("cwfix");
    let mut cmd = Command::new(venv_dir().join("bin").join("python"));
    cmd.arg(crate::util::repo_root().join("tests/moto/pty_run.py"))
        .args(["--wait", "Enter a value", "--then", &edit, "--send", "yes", "--"])
        .arg(&bin)
        .arg("apply")
        .current_dir(moto.workdir());
    crate::util::apply_aws_env(&mut cmd, &moto);
    cmd.env("NO_COLOR", "1");
    let out = cmd.output().expect("run pty_run.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("STOPPED"), "{text}");
    assert!(text.contains("metric_filter.aws-cloudtrail-logs-test/user-5.4 changed since the plan was made"), "{text}");
    let filters = aws_json(
        &moto,
        &["logs", "describe-metric-filters", "--log-group-name", GROUP, "--filter-name-prefix", "user-5.4"],
    );
    assert_eq!(filters["metricFilters"][0]["filterPattern"], "{ $.eventName = EditedAtThePrompt }");
    // Nothing after the stop was written either: the 5.1 alarm still evaluates every 60 s.
    let alarms = aws_json(&moto, &["cloudwatch", "describe-alarms", "--alarm-names", "user-alarm-5.1"]);
    assert_eq!(alarms["MetricAlarms"][0]["Period"], 60);
}

#[test]
fn r10_rollback_keeps_an_alarm_another_run_created_after_a_crash() {
    let moto = Moto::start();
    std::fs::write(moto.workdir().join("small.toml"), "name = \"small\"\nextends = \"cis-v7.0\"\nonly = [\"5.1\"]\n")
        .unwrap();
    moto.seed(&trail_scenario());
    let before = moto.dump();
    // topic, subscription, filter, alarm: die right after journaling the intent of the alarm.
    let crashed = run_env(
        &moto,
        &["apply", "--yes", "--baseline", "small.toml", "--subscribe", SUB],
        &[("CWFIX_TEST_CRASH", "after-intent:4")],
    );
    assert_ne!(crashed.code, 0, "{crashed:?}");
    let id = run(&moto, &["runs", "-o", "json"]).json()[0]["run_id"].as_str().unwrap().to_string();
    // Another run creates that very alarm.
    let b = run(&moto, &["baselines", "show", "small.toml", "-o", "json"]).json();
    let name = b["controls"][0]["alarm_name"].as_str().unwrap().to_string();
    aws(
        &moto,
        &[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            &name,
            "--namespace",
            "CISBenchmark",
            "--metric-name",
            b["controls"][0]["metric_name"].as_str().unwrap(),
            "--statistic",
            "Sum",
            "--period",
            "300",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
            "--evaluation-periods",
            "1",
        ],
    );
    let rb = run(&moto, &["rollback", &id, "--yes"]);
    assert_eq!(rb.code, 1, "{rb:?}");
    assert!(rb.stdout.contains(&format!("metric_alarm.{name}: skipped")), "{rb:?}");
    let alarms = aws_json(&moto, &["cloudwatch", "describe-alarms", "--alarm-names", &name]);
    assert_eq!(alarms["MetricAlarms"].as_array().unwrap().len(), 1, "the other run's alarm is kept");
    // Everything the run did make is gone.
    let mut after = moto.dump();
    let mut expected = before;
    for d in [&mut after, &mut expected] {
        d["regions"]["us-east-1"].as_object_mut().unwrap().remove("alarms");
    }
    assert_eq!(after, expected);
}

#[test]
fn r10_bad_baselines_are_refused_with_file_and_line() {
    let moto = Moto::start();
    let dir = moto.workdir();
    let control = |id: &str| {
        format!("[[controls]]\nid = \"{id}\"\ntitle = \"t\"\nmetric_name = \"M{id}\"\npattern = '{{ $.eventName = X{id} }}'\n")
    };
    std::fs::write(dir.join("dup.toml"), format!("name = \"dup\"\n{}{}", control("a"), control("a"))).unwrap();
    std::fs::write(dir.join("nan.toml"), format!("name = \"nan\"\n[alarm]\nthreshold = nan\n{}", control("a")))
        .unwrap();
    let mut huge = String::from("name = \"huge\"\n");
    for i in 0..60_000 {
        huge.push_str(&control(&i.to_string()));
    }
    std::fs::write(dir.join("huge.toml"), huge).unwrap();
    for (file, want) in [
        ("dup.toml", "dup.toml:8: duplicate control id `a` (also at line 3)"),
        ("nan.toml", "nan.toml:3: alarm.threshold NaN must be a finite number greater than 0"),
        ("huge.toml", "huge.toml: 60000 controls: CloudWatch Logs allows at most 100 metric filters on a log group"),
    ] {
        let out = run(&moto, &["baselines", "show", file]);
        assert_eq!(out.code, 1, "{file}: {out:?}");
        assert!(out.stderr.contains(want), "{file}: {out:?}");
    }
    // The overlay a user writes: extends + notification, no name.
    std::fs::write(dir.join("team.toml"), "extends = \"cis-v7.0\"\n[notification]\ntopic = \"sec\"\n").unwrap();
    moto.seed(&trail_scenario());
    let out = run(&moto, &["plan", "--baseline", "team.toml", "--subscribe", SUB, "-o", "json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.json()["baseline"]["name"], "team");
}

#[cfg(unix)]
#[test]
fn r10_state_directories_are_never_loosened_and_damaged_runs_do_not_hide_others() {
    use std::os::unix::fs::PermissionsExt;
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let shared = moto.workdir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = run(&moto, &["apply", "--yes", "--subscribe", SUB, "--state-dir", "shared"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("writable by group or others"), "{out:?}");
    assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777, 0o1777, "mode untouched");

    let real = moto.tmp().join("real-state");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, moto.workdir().join("linked")).unwrap();
    let out = run(&moto, &["apply", "--yes", "--subscribe", SUB, "--state-dir", "linked"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("symbolic link"), "{out:?}");

    let ok = run(&moto, &["apply", "--yes", "--subscribe", SUB]);
    assert_eq!(ok.code, 0, "{ok:?}");
    let good = run_id_of(&ok);
    let broken = moto.workdir().join(".cwfix/runs/20260101T000000Z-dead");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("journal.jsonl"), "").unwrap();
    let listed = run(&moto, &["runs"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains(&good), "{listed:?}");
    assert!(listed.stdout.contains("20260101T000000Z-dead   unreadable: journal"), "{listed:?}");
    let json = run(&moto, &["runs", "-o", "json"]).json();
    assert_eq!(json.as_array().unwrap().len(), 2, "{json:#}");
}

#[test]
fn r10_usage_errors_exit_1_never_2() {
    let moto = Moto::start();
    for args in [vec!["plan", "--bogus"], vec!["plan", "--no-color"], vec!["frobnicate"], vec![]] {
        let out = run(&moto, &args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
    }
    assert_eq!(run(&moto, &["--help"]).code, 0);
    assert_eq!(run(&moto, &["--version"]).code, 0);
}
