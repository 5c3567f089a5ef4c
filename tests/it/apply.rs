//! `cwfix apply` / `cwfix rollback` / `cwfix runs` against the moto test bed (issue #7).

use crate::common::*;
use crate::util::Moto;
use serde_json::{json, Value};

const SUB: &str = "email:sec@example.com";

#[test]
fn apply_then_plan_is_clean_and_rollback_restores_everything() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let before = moto.dump();
    let out = run(&moto, &["apply", "--yes", "--subscribe", SUB]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("Apply complete! 32 change(s) made."), "{out:?}");
    let id = run_id_of(&out);
    // AWS leaves an email subscription pending until the recipient confirms.
    let pending = run(&moto, &["plan", "--subscribe", SUB, "-o", "json"]);
    assert_eq!(pending.code, 3, "{pending:?}");
    assert_eq!(pending.json()["changes"], json!([]));
    assert!(pending.json()["controls"][0]["reason"].as_str().unwrap().contains("pending confirmation"));
    moto.confirm_subscriptions();
    let clean = run(&moto, &["plan", "--subscribe", SUB]);
    assert_eq!(clean.code, 0, "{clean:?}");
    assert!(clean.stdout.contains("No changes."));

    let runs = run(&moto, &["runs", "-o", "json"]).json();
    assert_eq!(runs[0]["run_id"], id.as_str());
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["changes"], 32);

    let rb = run(&moto, &["rollback", &id, "--yes"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(moto.dump(), before, "rollback must restore the exact previous state");
    // A second rollback of the same run does nothing.
    let again = run(&moto, &["rollback", &id, "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to roll back."), "{again:?}");
    assert_eq!(moto.dump(), before);
}

#[test]
fn updating_a_users_alarm_and_rolling_back_restores_it_exactly() {
    let moto = Moto::start();
    let mut sc = compliant_scenario(&moto, |_, p| p.to_string());
    for a in sc["alarms"].as_array_mut().unwrap() {
        if a["name"] == "user-alarm-5.1" {
            a["period"] = json!(60);
            a["description"] = json!("owned by the platform team");
            a["ok_actions"] = json!(["arn:aws:sns:us-east-1:123456789012:ok-sink"]);
        }
    }
    moto.seed(&sc);
    let before = moto.dump();
    let out = run(&moto, &["apply", "--yes", "-o", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["applied"], 1);
    assert_eq!(summary["failed"], 0);
    let id = summary["run_id"].as_str().unwrap().to_string();
    let after = moto.dump();
    assert_ne!(after, before);
    let rb = run(&moto, &["rollback", &id, "--yes"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(moto.dump(), before, "the user's alarm must be back byte for byte");
}

#[test]
fn non_tty_apply_without_yes_is_refused_before_any_write() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let before = moto.dump();
    moto.reset_calls();
    let out = run(&moto, &["apply", "--subscribe", SUB]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("not a terminal"), "{out:?}");
    assert_eq!(moto.dump(), before);
    let calls = moto.calls();
    for (svc, op) in
        [("logs", "PutMetricFilter"), ("cloudwatch", "PutMetricAlarm"), ("sns", "CreateTopic"), ("sns", "Subscribe")]
    {
        assert_eq!(calls["calls"][svc][op].as_u64().unwrap_or(0), 0, "{calls:#}");
    }
}

#[test]
fn stale_saved_plan_is_refused() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let out = run(&moto, &["plan", "--subscribe", SUB, "--out", "plan.json"]);
    assert_eq!(out.code, 2, "{out:?}");
    // A saved plan that is still current applies (with the subscription it was made with).
    let fresh_dir = moto.workdir().join("plan.json");
    assert!(fresh_dir.exists());
    // Someone changes the account in between.
    moto.seed(&json!({"metric_filters": [{"log_group": GROUP, "name": "new-one", "pattern": "{ $.eventName = StopLogging }", "metric_name": "X", "namespace": "Y"}]}));
    let stale = run(&moto, &["apply", "plan.json", "--yes"]);
    assert_eq!(stale.code, 1, "{stale:?}");
    assert!(stale.stderr.contains("stale"), "{stale:?}");
    // Planned again, it applies.
    run(&moto, &["plan", "--subscribe", SUB, "--out", "plan.json"]);
    let ok = run(&moto, &["apply", "plan.json", "--yes"]);
    assert_eq!(ok.code, 0, "{ok:?}");
}

/// Kills apply after each possible number of AWS calls (before and after the call), then
/// rolls back: the account must be exactly as before, nothing leaked, nothing lost. When the
/// process died after a create call but before journaling AWS's answer, the journal cannot
/// prove the resource is the run's: rollback leaves it, says so (exit 1), and `--force`
/// finishes the job.
#[test]
fn crash_at_every_step_then_rollback_restores_the_original_state() {
    let moto = Moto::start();
    std::fs::write(
        moto.workdir().join("small.toml"),
        "name = \"small\"\nextends = \"cis-v7.0\"\nonly = [\"5.1\", \"5.3\"]\n",
    )
    .unwrap();
    let mut sc = trail_scenario();
    // One user alarm that apply updates, so updates are crash-tested too.
    sc["metric_filters"] = json!([{"log_group": GROUP, "name": "root", "pattern": "{ $.userIdentity.type = \"Root\" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != \"AwsServiceEvent\" }", "metric_name": "Root", "namespace": "Custom"}]);
    sc["alarms"] = json!([{"name": "root-alarm", "metric_name": "Root", "namespace": "Custom", "period": 60}]);
    // topic, subscription, filter 5.1, alarm 5.1, alarm update for 5.3
    let creates = ["sns_topic.", "sns_subscription.", "metric_filter.", "metric_alarm.cwfix", "-"];
    for stage in ["after-intent", "after-call"] {
        for (i, create) in creates.iter().enumerate() {
            let n = i + 1;
            moto.reset();
            moto.seed(&sc);
            let before = moto.dump();
            let state = format!("state-{stage}-{n}");
            let crashed = run_env(
                &moto,
                &["apply", "--yes", "--baseline", "small.toml", "--subscribe", SUB, "--state-dir", &state],
                &[("CWFIX_TEST_CRASH", &format!("{stage}:{n}"))],
            );
            assert_ne!(crashed.code, 0, "{stage}:{n} should have died: {crashed:?}");
            let runs = run(&moto, &["runs", "--state-dir", &state, "-o", "json"]).json();
            assert_eq!(runs[0]["status"], "incomplete", "{stage}:{n}: {runs:#}");
            let id = runs[0]["run_id"].as_str().unwrap().to_string();
            let rb = run(&moto, &["rollback", &id, "--yes", "--state-dir", &state]);
            // The pending subscription of a topic the run created goes with the topic.
            let unproven = stage == "after-call" && *create != "-" && *create != "sns_subscription.";
            if unproven {
                assert_eq!(rb.code, 1, "{stage}:{n}: {rb:?}");
                assert!(rb.stdout.contains("cannot prove"), "{stage}:{n}: {rb:?}");
                let forced = run(&moto, &["rollback", &id, "--yes", "--force", "--state-dir", &state]);
                assert_eq!(forced.code, 0, "{stage}:{n}: {forced:?}");
            } else {
                assert_eq!(rb.code, 0, "{stage}:{n}: {rb:?}");
            }
            assert_eq!(moto.dump(), before, "{stage}:{n}: state differs after rollback");
        }
    }
}

#[test]
fn bad_run_ids_and_journals_are_clear_errors() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let unknown = run(&moto, &["rollback", "20990101T000000Z-0000", "--yes"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("no run `20990101T000000Z-0000`"), "{unknown:?}");

    let out = run(&moto, &["apply", "--yes", "--subscribe", SUB]);
    assert_eq!(out.code, 0, "{out:?}");
    let id = run_id_of(&out);
    let journal = moto.workdir().join(".cwfix/runs").join(&id).join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();

    // A journal from another account.
    std::fs::write(&journal, text.replacen("\"account\":\"123456789012\"", "\"account\":\"111122223333\"", 1)).unwrap();
    let other = run(&moto, &["rollback", &id, "--yes"]);
    assert_eq!(other.code, 1, "{other:?}");
    assert!(other.stderr.contains("account 111122223333"), "{other:?}");

    // A corrupted journal (garbage in the middle).
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "{not json");
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let corrupt = run(&moto, &["rollback", &id, "--yes"]);
    assert_eq!(corrupt.code, 1, "{corrupt:?}");
    assert!(corrupt.stderr.contains("corrupt at line 3"), "{corrupt:?}");
    assert!(!corrupt.stderr.contains("panicked"));
}
