//! Apply on the in-memory fake: it makes exactly the planned writes, re-checks each resource
//! right before writing it, and a crash at any point leaves a journal rollback can finish.

use super::*;
use crate::aws::fake::Fake;
use crate::journal::{RunKind, RunStatus, StateDir};
use crate::plan::Status;
use crate::testkit::*;

fn state_dir() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(dir.path().join("state"));
    (dir, sd)
}

#[test]
fn apply_makes_the_plan_and_the_next_plan_is_clean() {
    block_on(async {
        let fake = Fake::new(account());
        let b = small_baseline();
        let p = plan_on(&fake, &b).await;
        // topic, subscription, filter 5.1, alarm 5.1, root-alarm update (5.3)
        assert_eq!(p.changes.len(), 5, "{:#?}", p.changes);
        let (_d, sd) = state_dir();
        let (report, log) = run(&fake, &sd, "r1", RunKind::Apply, &p.changes).await;
        let report = report.unwrap();
        assert_eq!((report.applied, report.failed, report.conflict.clone()), (5, 0, None));
        assert_eq!(log.status(), RunStatus::Completed);
        // Every write was preceded by a read of the same resource.
        let calls = fake.calls();
        assert_eq!(fake.writes().len(), 5);
        assert!(calls.len() >= 10, "{calls:?}");
        fake.edit(|s| s.confirm_all());
        let again = plan_on(&fake, &b).await;
        assert!(again.all_compliant(), "{:#?}", again.controls);
    });
}

#[test]
fn an_edit_made_after_the_plan_is_kept_and_the_run_stops_before_it() {
    block_on(async {
        let fake = Fake::new(account());
        let b = small_baseline();
        let p = plan_on(&fake, &b).await;
        let original = fake.state();
        // While apply waits at its prompt, someone rewrites the alarm cwfix is about to update.
        fake.edit(|s| {
            let a = s.alarms.get_mut(&(REGION.to_string(), "root-alarm".to_string())).unwrap();
            a.alarm_description = Some("edited during the prompt".into());
        });
        let edited = fake.state();
        let (_d, sd) = state_dir();
        let (report, log) = run(&fake, &sd, "r1", RunKind::Apply, &p.changes).await;
        let report = report.unwrap();
        let why = report.conflict.clone().expect("stopped");
        assert!(why.contains("metric_alarm.root-alarm"), "{why}");
        assert_eq!(log.status(), RunStatus::Stopped);
        let alarm = |s: &crate::aws::fake::State| s.alarms[&(REGION.to_string(), "root-alarm".to_string())].clone();
        assert_eq!(alarm(&fake.state()), alarm(&edited), "the edit is kept");
        // Rollback undoes what was made before the stop and leaves the edit alone.
        let rp = rollback_plan(&fake, &log, false).await;
        assert!(rp.skipped.is_empty(), "{:?}", rp.skipped);
        let (rb, _) = run(&fake, &sd, "r2", RunKind::Rollback, &rp.changes).await;
        assert!(rb.unwrap().ok());
        let mut expected = original;
        expected.alarms = edited.alarms.clone();
        assert_eq!(fake.state().alarms, expected.alarms);
        assert_eq!(fake.state().filters, expected.filters);
        assert!(fake.state().topics.is_empty());
    });
}

#[test]
fn an_edit_right_before_the_write_is_caught_by_the_precondition() {
    block_on(async {
        let fake = Fake::new(account());
        let b = small_baseline();
        let p = plan_on(&fake, &b).await;
        let filter_change = p.changes.iter().position(|c| c.kind == Kind::MetricFilter).unwrap();
        let (_d, sd) = state_dir();
        // Someone creates the very filter cwfix is about to create, between plan and write.
        let wanted = match &p.changes[filter_change].after {
            Some(Resource::MetricFilter(f)) => f.clone(),
            _ => unreachable!(),
        };
        let mut reads_of_filters = 0;
        fake.on_call(move |_, action, state| {
            if action == "logs:DescribeMetricFilters" {
                reads_of_filters += 1;
                if reads_of_filters == 1 {
                    let mut theirs = wanted.clone();
                    theirs.filter_pattern = "{ $.errorCode = \"AccessDenied\" }".into();
                    state
                        .filters
                        .get_mut(&(REGION.to_string(), "ct".to_string()))
                        .unwrap()
                        .insert(theirs.filter_name.clone(), theirs);
                }
            }
        });
        let (report, _) = run(&fake, &sd, "r1", RunKind::Apply, &p.changes).await;
        let report = report.unwrap();
        assert!(report.conflict.is_some());
        assert_eq!(report.applied, filter_change, "everything before the filter was made, nothing after");
        assert!(!fake.writes().iter().any(|w| w == "logs:PutMetricFilter"), "their filter was not overwritten");
    });
}

/// Kills apply at every point (after each intent, after each call) and rolls back: the account
/// ends exactly as before. A create whose answer the journal lacks is only removed with
/// `--force` (the journal cannot prove it was the run's).
#[test]
fn a_crash_at_every_step_is_finished_by_rollback() {
    let b = small_baseline();
    let total = block_on(async { plan_on(&Fake::new(account()), &b).await.changes.len() });
    for stage in ["after-intent", "after-call"] {
        for n in 1..=total {
            block_on(async {
                let fake = Fake::new(account());
                let original = fake.state();
                let p = plan_on(&fake, &b).await;
                let (_d, sd) = state_dir();
                CRASH_AT.with(|c| c.set(Some((stage, n))));
                let (report, log) = run(&fake, &sd, "r1", RunKind::Apply, &p.changes).await;
                CRASH_AT.with(|c| c.set(None));
                assert!(matches!(report, Err(Error::SimulatedCrash)), "{stage}:{n}");
                assert_eq!(log.status(), RunStatus::Incomplete, "{stage}:{n}");
                let rp = rollback_plan(&fake, &log, false).await;
                let crashed = &p.changes[n - 1];
                let unproven = stage == "after-call" && crashed.action == crate::plan::Action::Create;
                // A pending subscription goes with the topic the run created.
                let goes_with_topic = crashed.kind == Kind::SnsSubscription;
                if unproven && !goes_with_topic {
                    assert_eq!(rp.skipped.len(), 1, "{stage}:{n}: {:?}", rp.skipped);
                    assert_eq!(rp.skipped[0].0, crashed.address.to_string(), "{stage}:{n}");
                } else {
                    assert!(rp.skipped.is_empty(), "{stage}:{n}: {:?}", rp.skipped);
                }
                let (rb, rlog) = run(&fake, &sd, "r2", RunKind::Rollback, &rp.changes).await;
                assert!(rb.unwrap().ok(), "{stage}:{n}");
                if rp.skipped.is_empty() {
                    assert_eq!(fake.state(), original, "{stage}:{n}");
                } else {
                    let forced = rollback_plan(&fake, &log, true).await;
                    let (rb, _) = run(&fake, &sd, "r3", RunKind::Rollback, &forced.changes).await;
                    assert!(rb.unwrap().ok(), "{stage}:{n}");
                    assert_eq!(fake.state(), original, "{stage}:{n} after --force");
                }
                // The rollback's own journal can be rolled back too (nothing lost either way).
                assert_eq!(rlog.status(), RunStatus::Completed);
            });
        }
    }
}

#[test]
fn rollback_never_deletes_what_another_run_created_after_a_crash() {
    block_on(async {
        let fake = Fake::new(account());
        let b = small_baseline();
        let p = plan_on(&fake, &b).await;
        let alarm_create = p
            .changes
            .iter()
            .position(|c| c.kind == Kind::MetricAlarm && c.action == crate::plan::Action::Create)
            .unwrap();
        let (_d, sd) = state_dir();
        // Dies right after journaling the intent to create the alarm: the call was never made.
        CRASH_AT.with(|c| c.set(Some(("after-intent", alarm_create + 1))));
        let (_, log) = run(&fake, &sd, "r1", RunKind::Apply, &p.changes).await;
        CRASH_AT.with(|c| c.set(None));
        // Another run (or a person) then creates that very alarm.
        let theirs = match &p.changes[alarm_create].after {
            Some(Resource::MetricAlarm(a)) => a.clone(),
            _ => unreachable!(),
        };
        let fake2 = &fake;
        fake2.put_metric_alarm(REGION, &theirs).await.unwrap();
        let rp = rollback_plan(&fake, &log, false).await;
        let addr = p.changes[alarm_create].address.to_string();
        assert!(rp.changes.iter().all(|c| c.address != addr.as_str()), "{:#?}", rp.changes);
        assert!(rp.skipped.iter().any(|(a, why)| a == &addr && why.contains("cannot prove")), "{:?}", rp.skipped);
        let (rb, _) = run(&fake, &sd, "r2", RunKind::Rollback, &rp.changes).await;
        assert!(rb.unwrap().ok());
        assert!(fake.state().alarms.contains_key(&(REGION.to_string(), theirs.alarm_name.clone())));
    });
}

#[test]
fn a_failed_call_stops_the_run_and_is_journaled() {
    block_on(async {
        let fake = Fake::new(account());
        let b = small_baseline();
        let p = plan_on(&fake, &b).await;
        let (_d, sd) = state_dir();
        let n = fake.calls().len();
        // The 2nd call of the run is the first write (topic create) after its precondition read.
        fake.fail_at(n + 2, crate::aws::Error::AccessDenied { action: "sns:CreateTopic".into(), message: "no".into() });
        let (report, log) = run(&fake, &sd, "r1", RunKind::Apply, &p.changes).await;
        let report = report.unwrap();
        assert_eq!((report.applied, report.failed, report.not_attempted), (0, 1, p.changes.len() - 1));
        assert_eq!(log.status(), RunStatus::Failed);
        assert!(fake.writes().iter().all(|w| w == "sns:CreateTopic"));
    });
}

#[test]
fn every_plan_change_has_an_operation() {
    block_on(async {
        let fake = Fake::new(account());
        let p = plan_on(&fake, &small_baseline()).await;
        let steps = steps(&p.changes).unwrap();
        assert_eq!(steps.len(), p.changes.len());
        assert!(p.controls.iter().all(|c| c.status == Status::Changes), "{:#?}", p.controls);
    });
}

#[test]
fn a_full_disk_mid_run_says_how_many_changes_were_made() {
    block_on(async {
        let fake = Fake::new(account());
        let p = plan_on(&fake, &small_baseline()).await;
        let (_d, sd) = state_dir();
        let steps = steps(&p.changes).unwrap();
        let mut w = sd.create_run(&crate::testkit::header_for_tests("r1"), &serde_json::json!({})).unwrap();
        // Room for two full steps (intent + done each) and the next intent: the third write
        // is made, then its `done` cannot be written.
        w.room = Some(5);
        let err = execute(&fake, &steps, &mut w, &mut |_| {}).await.unwrap_err();
        assert!(matches!(err, Error::Journal { applied: 3, .. }), "{err:?}");
        assert_eq!(err.to_string(), "the journal could not be written after 3 change(s) were made");
        assert_eq!(fake.writes().len(), 3);
    });
}
