//! Unit-test helpers shared by discovery, apply and rollback tests: the whole cwfix flow on the
//! in-memory fake (`aws::fake`), with journals in a temporary directory.

use crate::apply::{self, Report};
use crate::aws::fake::{Fake, State};
use crate::baseline::{self, Baseline, WantedSubscription};
use crate::discover::{self, Scope};
use crate::journal::{Header, RunKind, RunLog, StateDir};
use crate::model::{Alarm, MetricFilter, MetricTransformation};
use crate::plan::{self, Plan};
use crate::rollback::{self, RollbackPlan};
use std::collections::BTreeMap;

pub const REGION: &str = "us-east-1";

/// cis-v7.0 cut to 5.1 and 5.3, notifying topic `sec` with an email subscriber.
pub fn small_baseline() -> Baseline {
    let text = "name = \"small\"\nextends = \"cis-v7.0\"\nonly = [\"5.1\", \"5.3\"]\n[notification]\ntopic = \"sec\"\n";
    let mut b = baseline::from_text(text, "small.toml", None).unwrap();
    b.notification.subscriptions =
        vec![WantedSubscription { protocol: "email".into(), endpoint: "sec@example.com".into() }];
    b
}

/// An account with the trail, and a user's root-usage filter and alarm (period 60, so apply
/// updates it): creates and updates both get exercised.
pub fn account() -> State {
    let mut s = State::with_trail();
    let root = MetricFilter {
        log_group_name: "ct".into(),
        filter_name: "root".into(),
        filter_pattern: "{ $.userIdentity.type = \"Root\" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != \"AwsServiceEvent\" }".into(),
        metric_transformations: vec![MetricTransformation {
            metric_name: "Root".into(),
            metric_namespace: "Custom".into(),
            metric_value: "1".into(),
            default_value: None,
            unit: None,
            dimensions: BTreeMap::new(),
        }],
        apply_on_transformed_logs: None,
    };
    s.filters.entry((REGION.into(), "ct".into())).or_default().insert("root".into(), root);
    let alarm = Alarm {
        alarm_name: "root-alarm".into(),
        alarm_arn: Some(format!("arn:aws:cloudwatch:{REGION}:{}:alarm:root-alarm", s.account)),
        alarm_description: Some("owned by the platform team".into()),
        actions_enabled: true,
        alarm_actions: vec![],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
        metric_name: Some("Root".into()),
        namespace: Some("Custom".into()),
        statistic: Some("Sum".into()),
        extended_statistic: None,
        dimensions: BTreeMap::new(),
        period: Some(60),
        unit: None,
        evaluation_periods: Some(1),
        datapoints_to_alarm: None,
        threshold: Some(1.0),
        comparison_operator: Some("GreaterThanOrEqualToThreshold".into()),
        treat_missing_data: None,
        evaluate_low_sample_count_percentile: None,
        threshold_metric_id: None,
        metrics_json: None,
    };
    s.alarms.insert((REGION.into(), "root-alarm".into()), alarm);
    s
}

pub fn scope(b: &Baseline) -> Scope {
    Scope {
        regions: vec![REGION.into()],
        queries: !b.queries.is_empty(),
        kms_key: b.notification.kms_key.clone(),
        topic: b.notification.topic.clone(),
    }
}

/// Discovery and planning on the fake.
pub async fn plan_on(fake: &Fake, b: &Baseline) -> Plan {
    let snap = discover::discover(fake, &scope(b)).await.expect("discovery on the fake");
    plan::plan(b, &snap)
}

pub fn header_for_tests(run_id: &str) -> Header {
    header(run_id, RunKind::Apply, None)
}

fn header(run_id: &str, kind: RunKind, rolls_back: Option<String>) -> Header {
    Header {
        run_id: run_id.into(),
        kind,
        rolls_back,
        account: "123456789012".into(),
        regions: vec![REGION.into()],
        baseline: "small".into(),
        baseline_hash: "h".into(),
        cwfix_version: "test".into(),
        started_at: crate::journal::now(),
    }
}

/// Runs `changes` as run `run_id` in `state`; returns the report (or the simulated crash) and
/// the journal as written.
pub async fn run(
    fake: &Fake,
    state: &StateDir,
    run_id: &str,
    kind: RunKind,
    changes: &[plan::Change],
) -> (Result<Report, apply::Error>, RunLog) {
    let steps = apply::steps(changes).expect("expressible changes");
    let rolls_back = (kind == RunKind::Rollback).then(|| "previous".to_string());
    let mut w = state.create_run(&header(run_id, kind, rolls_back), &serde_json::json!({})).unwrap();
    let report = apply::execute(fake, &steps, &mut w, &mut |_| {}).await;
    drop(w);
    (report, state.load(run_id).unwrap())
}

/// Plans the rollback of `log` on the fake.
pub async fn rollback_plan(fake: &Fake, log: &RunLog, force: bool) -> RollbackPlan {
    rollback::plan_rollback(fake, log, force).await.expect("rollback plan")
}

/// A tokio runtime for one test (the fake needs no I/O driver).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}
