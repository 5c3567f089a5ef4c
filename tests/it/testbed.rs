//! Tests of the moto test bed itself (tests/moto/launcher.py + seed.py), through the
//! same Rust SDK crates cwfix uses. If these fail, every cwfix integration test is suspect.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, StandardUnit, StateValue, Statistic};
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::MetricTransformation;
use serde_json::{json, Value};

use crate::util::{aws_json, sdk_config, sdk_config_with, Moto};

const ACCOUNT: &str = "123456789012";

async fn clients(moto: &Moto) -> (aws_sdk_cloudwatch::Client, aws_sdk_cloudwatchlogs::Client, aws_sdk_sns::Client) {
    let conf = sdk_config(moto).await;
    (
        aws_sdk_cloudwatch::Client::new(&conf),
        aws_sdk_cloudwatchlogs::Client::new(&conf),
        aws_sdk_sns::Client::new(&conf),
    )
}

fn transformation(metric: &str) -> MetricTransformation {
    MetricTransformation::builder()
        .metric_name(metric)
        .metric_namespace("CISBenchmark")
        .metric_value("1")
        .build()
        .unwrap()
}

fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:{ACCOUNT}:{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_cbor_alarm_round_trip_and_paging() {
    let moto = Moto::start();
    let (cw, _, _) = clients(&moto).await;

    // 120 alarms, inserted in reverse order so sorting is really exercised.
    for i in (0..120).rev() {
        let mut req = cw
            .put_metric_alarm()
            .alarm_name(format!("alarm-{i:03}"))
            .metric_name(format!("Metric{}", i % 7))
            .namespace("CISBenchmark")
            .statistic(Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .alarm_actions(topic_arn("alerts"));
        if i == 7 {
            // Every optional field the CIS chain uses, with non-default values.
            req = req
                .alarm_description("root usage \u{2013} ünïcode")
                .actions_enabled(false)
                .ok_actions(topic_arn("ok"))
                .insufficient_data_actions(topic_arn("insufficient"))
                .alarm_actions(topic_arn("second")) // appends: two actions
                .dimensions(Dimension::builder().name("Env").value("prod").build())
                .unit(StandardUnit::Count)
                .evaluation_periods(3)
                .datapoints_to_alarm(2)
                .period(60)
                .threshold(1.5)
                .statistic(Statistic::Maximum)
                .comparison_operator(ComparisonOperator::GreaterThanThreshold)
                .treat_missing_data("notBreaching");
        }
        req.send().await.expect("PutMetricAlarm through the CBOR bridge");
    }

    // Paged: MaxRecords 50 -> 50 + 50 + 20, sorted by name.
    let mut pages = cw.describe_alarms().max_records(50).into_paginator().send();
    let mut sizes = vec![];
    let mut names = vec![];
    while let Some(page) = pages.next().await {
        let page = page.expect("DescribeAlarms page");
        sizes.push(page.metric_alarms().len());
        names.extend(page.metric_alarms().iter().map(|a| a.alarm_name().unwrap().to_string()));
    }
    assert_eq!(sizes, vec![50, 50, 20]);
    let expected: Vec<String> = (0..120).map(|i| format!("alarm-{i:03}")).collect();
    assert_eq!(names, expected);
    assert_eq!(moto.calls_of("cloudwatch", "DescribeAlarms"), 3);

    // Default MaxRecords is 50.
    let first = cw.describe_alarms().send().await.unwrap();
    assert_eq!(first.metric_alarms().len(), 50);
    assert!(first.next_token().is_some());

    // Every field round-trips through CBOR.
    let out = cw.describe_alarms().alarm_names("alarm-007").send().await.unwrap();
    assert_eq!(out.metric_alarms().len(), 1);
    assert!(out.next_token().is_none());
    let a = &out.metric_alarms()[0];
    assert_eq!(a.alarm_name(), Some("alarm-007"));
    assert_eq!(a.alarm_arn(), Some(format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:alarm-007").as_str()));
    assert_eq!(a.alarm_description(), Some("root usage \u{2013} ünïcode"));
    assert_eq!(a.actions_enabled(), Some(false));
    assert_eq!(a.ok_actions(), [topic_arn("ok")]);
    assert_eq!(a.alarm_actions(), [topic_arn("alerts"), topic_arn("second")]);
    assert_eq!(a.insufficient_data_actions(), [topic_arn("insufficient")]);
    assert_eq!(a.metric_name(), Some("Metric0"));
    assert_eq!(a.namespace(), Some("CISBenchmark"));
    assert_eq!(a.statistic(), Some(&Statistic::Maximum));
    assert_eq!(a.dimensions().len(), 1);
    assert_eq!(a.dimensions()[0].name(), Some("Env"));
    assert_eq!(a.dimensions()[0].value(), Some("prod"));
    assert_eq!(a.period(), Some(60));
    assert_eq!(a.unit(), Some(&StandardUnit::Count));
    assert_eq!(a.evaluation_periods(), Some(3));
    assert_eq!(a.datapoints_to_alarm(), Some(2));
    assert_eq!(a.threshold(), Some(1.5));
    assert_eq!(a.comparison_operator(), Some(&ComparisonOperator::GreaterThanThreshold));
    assert_eq!(a.treat_missing_data(), Some("notBreaching"));
    assert!(a.state_value().is_some());
    let ts = a.alarm_configuration_updated_timestamp().expect("timestamp (CBOR tag 1)");
    assert!(ts.secs() > 1_600_000_000, "timestamp decoded: {ts:?}");

    // Prefix filter + paging together.
    let mut n = 0;
    let mut pages = cw.describe_alarms().alarm_name_prefix("alarm-1").max_records(7).into_paginator().send();
    while let Some(p) = pages.next().await {
        n += p.unwrap().metric_alarms().len();
    }
    assert_eq!(n, 20); // alarm-100 .. alarm-119

    // DescribeAlarmsForMetric: Metric0 is used by i % 7 == 0 -> 18 alarms; alarm-007 has a
    // dimension, so (as on AWS) it only matches when that dimension is asked for.
    let for_metric = cw
        .describe_alarms_for_metric()
        .metric_name("Metric0")
        .namespace("CISBenchmark")
        .send()
        .await
        .expect("DescribeAlarmsForMetric");
    assert_eq!(for_metric.metric_alarms().len(), 17);
    assert!(for_metric.metric_alarms().iter().all(|a| a.alarm_name() != Some("alarm-007")));
    let with_dim = cw
        .describe_alarms_for_metric()
        .metric_name("Metric0")
        .namespace("CISBenchmark")
        .dimensions(Dimension::builder().name("Env").value("prod").build())
        .send()
        .await
        .expect("DescribeAlarmsForMetric with dimensions");
    assert_eq!(with_dim.metric_alarms().len(), 1);
    assert_eq!(&with_dim.metric_alarms()[0], a, "DescribeAlarmsForMetric and DescribeAlarms agree on every field");
    let by_stat = cw
        .describe_alarms_for_metric()
        .metric_name("Metric0")
        .namespace("CISBenchmark")
        .statistic(Statistic::Sum)
        .period(300)
        .send()
        .await
        .unwrap();
    assert_eq!(by_stat.metric_alarms().len(), 17);
    let none = cw
        .describe_alarms_for_metric()
        .metric_name("Metric0")
        .namespace("CISBenchmark")
        .period(60)
        .send()
        .await
        .unwrap();
    assert!(none.metric_alarms().is_empty());

    // Alarms are visible to an independent (JSON protocol) client too.
    let dump = moto.dump_regions(&["us-east-1"]);
    assert_eq!(dump["regions"]["us-east-1"]["alarms"].as_array().unwrap().len(), 120);

    // Delete goes through as well.
    cw.delete_alarms().alarm_names("alarm-000").send().await.unwrap();
    let left = cw.describe_alarms().alarm_names("alarm-000").send().await.unwrap();
    assert!(left.metric_alarms().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_errors_are_modeled() {
    let moto = Moto::start();
    let (cw, _, _) = clients(&moto).await;

    let err = cw
        .set_alarm_state()
        .alarm_name("no-such-alarm")
        .state_value(StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .expect_err("SetAlarmState on a missing alarm fails");
    assert_eq!(err.code(), Some("ResourceNotFound"));
    assert!(err.into_service_error().is_resource_not_found());

    let err = cw.describe_alarms().next_token("not-a-token").send().await.expect_err("a foreign NextToken is rejected");
    assert!(err.into_service_error().is_invalid_next_token());

    let err = cw.describe_alarms().max_records(101).send().await.expect_err("MaxRecords > 100");
    assert_eq!(err.code(), Some("ValidationError"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_metric_filter_upserts_by_name() {
    let moto = Moto::start();
    let (_, logs, _) = clients(&moto).await;
    logs.create_log_group().log_group_name("trail-logs").send().await.unwrap();

    for pattern in ["{ $.eventName = \"First\" }", "{ $.eventName = \"Second\" }"] {
        logs.put_metric_filter()
            .log_group_name("trail-logs")
            .filter_name("cis-filter")
            .filter_pattern(pattern)
            .metric_transformations(transformation("CisMetric"))
            .send()
            .await
            .unwrap();
    }
    let out = logs.describe_metric_filters().log_group_name("trail-logs").send().await.unwrap();
    assert_eq!(out.metric_filters().len(), 1, "{:?}", out.metric_filters());
    assert_eq!(out.metric_filters()[0].filter_pattern(), Some("{ $.eventName = \"Second\" }"));
    assert!(out.next_token().is_none());

    // Independent views agree: the aws CLI (awsJson 1.1 from botocore) and seed.py dump.
    let cli = aws_json(&moto, &["logs", "describe-metric-filters", "--log-group-name", "trail-logs"]);
    let cli_filters = cli["metricFilters"].as_array().unwrap();
    assert_eq!(cli_filters.len(), 1);
    assert_eq!(cli_filters[0]["filterPattern"], "{ $.eventName = \"Second\" }");
    let dump = moto.dump_regions(&["us-east-1"]);
    let dumped = dump["regions"]["us-east-1"]["metric_filters"].as_array().unwrap();
    assert_eq!(dumped.len(), 1);
    assert_eq!(dumped[0]["filterPattern"], "{ $.eventName = \"Second\" }");
    assert_eq!(dumped[0]["metricTransformations"][0]["metricName"], "CisMetric");

    // A missing log group is an error on AWS, and now here too.
    let err = logs
        .put_metric_filter()
        .log_group_name("no-such-group")
        .filter_name("f")
        .filter_pattern("x")
        .metric_transformations(transformation("M"))
        .send()
        .await
        .expect_err("PutMetricFilter on a missing log group");
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert!(err.into_service_error().is_resource_not_found_exception());

    // Delete removes it; deleting again is ResourceNotFound.
    logs.delete_metric_filter().log_group_name("trail-logs").filter_name("cis-filter").send().await.unwrap();
    let out = logs.describe_metric_filters().log_group_name("trail-logs").send().await.unwrap();
    assert!(out.metric_filters().is_empty());
    let err = logs
        .delete_metric_filter()
        .log_group_name("trail-logs")
        .filter_name("cis-filter")
        .send()
        .await
        .expect_err("deleting a missing filter");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_metric_filters_pages_sorted() {
    let moto = Moto::start();
    let (_, logs, _) = clients(&moto).await;
    logs.create_log_group().log_group_name("trail-logs").send().await.unwrap();
    // Insert in a scrambled order (i * 37 mod 120 is a permutation).
    for k in 0..120 {
        let i = (k * 37) % 120;
        logs.put_metric_filter()
            .log_group_name("trail-logs")
            .filter_name(format!("filter-{i:03}"))
            .filter_pattern(format!("{{ $.eventName = \"E{i}\" }}"))
            .metric_transformations(transformation(&format!("M{i}")))
            .send()
            .await
            .unwrap();
    }
    moto.reset_calls();
    let all: Vec<_> = logs
        .describe_metric_filters()
        .log_group_name("trail-logs")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginate metric filters");
    let names: Vec<_> = all.iter().map(|f| f.filter_name().unwrap().to_string()).collect();
    let expected: Vec<String> = (0..120).map(|i| format!("filter-{i:03}")).collect();
    assert_eq!(names, expected);
    assert_eq!(moto.calls_of("logs", "DescribeMetricFilters"), 3, "default limit 50 -> 3 pages");

    // Explicit limit; the token is never an echo of the request's.
    let p1 = logs.describe_metric_filters().log_group_name("trail-logs").limit(10).send().await.unwrap();
    assert_eq!(p1.metric_filters().len(), 10);
    let t1 = p1.next_token().expect("more pages").to_string();
    let p2 =
        logs.describe_metric_filters().log_group_name("trail-logs").limit(10).next_token(&t1).send().await.unwrap();
    assert_eq!(p2.metric_filters()[0].filter_name(), Some("filter-010"));
    assert_ne!(p2.next_token(), Some(t1.as_str()));

    let err = logs.describe_metric_filters().limit(51).send().await.expect_err("limit > 50");
    assert_eq!(err.code(), Some("InvalidParameterException"));

    // The metricName + metricNamespace filter still works with paging in place.
    let one = logs.describe_metric_filters().metric_name("M42").metric_namespace("CISBenchmark").send().await.unwrap();
    assert_eq!(one.metric_filters().len(), 1);
    assert_eq!(one.metric_filters()[0].filter_name(), Some("filter-042"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_subscription_pending_until_confirmed() {
    let moto = Moto::start();
    let (_, _, sns) = clients(&moto).await;
    let arn = sns.create_topic().name("security-alerts").send().await.unwrap().topic_arn().unwrap().to_string();

    let plain = sns.subscribe().topic_arn(&arn).protocol("email").endpoint("sec@example.com").send().await.unwrap();
    assert_eq!(plain.subscription_arn(), Some("pending confirmation"));
    let real = sns
        .subscribe()
        .topic_arn(&arn)
        .protocol("email")
        .endpoint("sec@example.com")
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn()
        .unwrap()
        .to_string();
    assert!(real.starts_with(&format!("{arn}:")), "{real}");
    let sqs = sns
        .subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:us-east-1:{ACCOUNT}:queue"))
        .send()
        .await
        .unwrap();
    assert!(sqs.subscription_arn().unwrap().starts_with(&arn), "sqs is confirmed at once");

    let list = |sns: aws_sdk_sns::Client, arn: String| async move {
        let subs: Vec<_> = sns
            .list_subscriptions_by_topic()
            .topic_arn(arn)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
        subs.into_iter()
            .map(|s| (s.protocol().unwrap().to_string(), s.subscription_arn().unwrap().to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = list(sns.clone(), arn.clone()).await;
    assert_eq!(before["email"], "PendingConfirmation");
    assert!(before["sqs"].starts_with(&arn));
    let all = sns.list_subscriptions().send().await.unwrap();
    assert!(all.subscriptions().iter().any(|s| s.subscription_arn() == Some("PendingConfirmation")));

    let attrs = sns.get_subscription_attributes().subscription_arn(&real).send().await.unwrap();
    assert_eq!(attrs.attributes().unwrap()["PendingConfirmation"], "true");
    let tattrs = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    let t = tattrs.attributes().unwrap();
    assert_eq!((t["SubscriptionsConfirmed"].as_str(), t["SubscriptionsPending"].as_str()), ("1", "1"));

    // The recipient clicks the link.
    let confirmed = moto.confirm_subscriptions();
    assert_eq!(confirmed["confirmed"], json!([real]));
    let after = list(sns.clone(), arn.clone()).await;
    assert_eq!(after["email"], real);
    let attrs = sns.get_subscription_attributes().subscription_arn(&real).send().await.unwrap();
    assert_eq!(attrs.attributes().unwrap()["PendingConfirmation"], "false");
    let t = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert_eq!(t.attributes().unwrap()["SubscriptionsConfirmed"], "2");
    assert_eq!(t.attributes().unwrap()["SubscriptionsPending"], "0");

    // Unsubscribing a still-pending subscription by its real ARN works.
    let other = sns
        .subscribe()
        .topic_arn(&arn)
        .protocol("https")
        .endpoint("https://hooks.example.com/x")
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn()
        .unwrap()
        .to_string();
    let t = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert_eq!(t.attributes().unwrap()["SubscriptionsPending"], "1");
    sns.unsubscribe().subscription_arn(&other).send().await.unwrap();
    let t = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert_eq!(t.attributes().unwrap()["SubscriptionsPending"], "0");

    // seed.py sees the same thing (pending flag per subscription).
    sns.subscribe().topic_arn(&arn).protocol("email").endpoint("late@example.com").send().await.unwrap();
    let dump = moto.dump_regions(&["us-east-1"]);
    let subs = &dump["regions"]["us-east-1"]["topics"][0]["Subscriptions"];
    let pending: Vec<&Value> = subs.as_array().unwrap().iter().filter(|s| s["Pending"] == true).collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["Endpoint"], "late@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_injection_is_classified_and_retried() {
    let moto = Moto::start();
    let (cw, logs, sns) = clients(&moto).await; // 3 attempts, 10 ms initial backoff
    logs.create_log_group().log_group_name("g").send().await.unwrap();

    moto.set_faults(json!({"throttle_rate": 1.0, "seed": 1}));
    moto.reset_calls();
    let err = logs.describe_log_groups().send().await.expect_err("always throttled");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(moto.calls_of("logs", "DescribeLogGroups"), 3, "the SDK retried: it classified the error as throttling");
    let err = cw.describe_alarms().send().await.expect_err("always throttled");
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(moto.calls_of("cloudwatch", "DescribeAlarms"), 3);
    let err = sns.list_topics().send().await.expect_err("always throttled");
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(moto.calls_of("sns", "ListTopics"), 3);
    let sts = aws_sdk_sts::Client::new(&sdk_config(&moto).await);
    let err = sts.get_caller_identity().send().await.expect_err("always throttled");
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    let ct = aws_sdk_cloudtrail::Client::new(&sdk_config(&moto).await);
    let err = ct.describe_trails().send().await.expect_err("always throttled");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");

    // Only the listed services are affected.
    moto.set_faults(json!({"throttle_rate": 1.0, "services": ["sns"]}));
    logs.describe_log_groups().send().await.expect("logs is not throttled");

    // 5xx is retried too.
    moto.set_faults(json!({"error_5xx_rate": 1.0, "services": ["logs"]}));
    let err = logs.describe_log_groups().send().await.expect_err("always 5xx");
    assert_eq!(err.code(), Some("ServiceUnavailableException"), "{err:?}");

    // At 30 % throttling the SDK's retries get every call through.
    moto.set_faults(json!({"throttle_rate": 0.3, "seed": 7}));
    moto.reset_calls();
    let conf = sdk_config_with(&moto, "us-east-1", 8).await;
    let (cw, logs) = (aws_sdk_cloudwatch::Client::new(&conf), aws_sdk_cloudwatchlogs::Client::new(&conf));
    for i in 0..20 {
        logs.put_metric_filter()
            .log_group_name("g")
            .filter_name(format!("f{i}"))
            .filter_pattern("x")
            .metric_transformations(transformation("M"))
            .send()
            .await
            .expect("retried through throttling");
        cw.put_metric_alarm()
            .alarm_name(format!("a{i}"))
            .metric_name("M")
            .namespace("CISBenchmark")
            .statistic(Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .expect("retried through throttling");
    }
    let calls = moto.calls();
    let injected = calls["faults"]["logs"]["PutMetricFilter"].as_u64().unwrap_or(0)
        + calls["faults"]["cloudwatch"]["PutMetricAlarm"].as_u64().unwrap_or(0);
    assert!(injected > 0, "some calls were throttled: {calls}");
    assert_eq!(
        calls["calls"]["logs"]["PutMetricFilter"].as_u64().unwrap()
            + calls["calls"]["cloudwatch"]["PutMetricAlarm"].as_u64().unwrap(),
        40 + injected
    );
    moto.set_faults(json!({}));
    let out = logs.describe_metric_filters().log_group_name("g").send().await.unwrap();
    assert_eq!(out.metric_filters().len(), 20);

    // Delay injection.
    moto.set_faults(json!({"delay_ms": 300, "services": ["logs"]}));
    let t0 = std::time::Instant::now();
    logs.describe_log_groups().send().await.unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_clears_moto_and_launcher_state() {
    let moto = Moto::start();
    let (_, logs, sns) = clients(&moto).await;
    let seeded = moto.seed(&json!({
        "trails": [{"name": "main", "log_group": "trail-logs"}],
        "metric_filters": [{"log_group": "trail-logs", "name": "f1", "pattern": "x",
                            "metric_name": "M", "namespace": "CIS"}],
        "topics": [{"name": "t", "subscriptions": [{"protocol": "email", "endpoint": "p@example.com",
                                                    "confirmed": false}]}],
    }));
    assert_eq!(seeded["topics"]["t"], topic_arn("t"));
    let before = moto.dump_regions(&["us-east-1"]);
    assert_eq!(before["regions"]["us-east-1"]["trails"][0]["IsLogging"], true);
    assert_eq!(before["regions"]["us-east-1"]["topics"][0]["Subscriptions"][0]["Pending"], true);

    for i in 0..3 {
        logs.put_metric_filter()
            .log_group_name("trail-logs")
            .filter_name(format!("g{i}"))
            .filter_pattern("x")
            .metric_transformations(transformation("M"))
            .send()
            .await
            .unwrap();
    }
    let page = logs.describe_metric_filters().limit(1).send().await.unwrap();
    let stale_token = page.next_token().unwrap().to_string();
    moto.set_faults(json!({"throttle_rate": 1.0, "services": ["cloudtrail"]}));
    assert!(moto.calls()["total"].as_u64().unwrap() > 0);

    moto.reset();

    assert_eq!(moto.calls()["total"], 0);
    assert_eq!(moto.set_faults(json!({})), moto.control("GET", "/_cwfix/faults", None));
    let empty = moto.dump_regions(&["us-east-1"]);
    for k in ["trails", "log_groups", "metric_filters", "alarms", "topics"] {
        assert_eq!(empty["regions"]["us-east-1"][k], json!([]), "{k} after reset");
    }
    logs.create_log_group().log_group_name("trail-logs").send().await.unwrap();
    let err =
        logs.describe_metric_filters().next_token(stale_token).send().await.expect_err("a token from before the reset");
    assert_eq!(err.code(), Some("InvalidParameterException"));
    // Re-seeding gives the same canonical state as before.
    moto.seed(&json!({
        "trails": [{"name": "main", "log_group": "trail-logs", "create_log_group": false}],
        "metric_filters": [{"log_group": "trail-logs", "name": "f1", "pattern": "x",
                            "metric_name": "M", "namespace": "CIS"}],
        "topics": [{"name": "t", "subscriptions": [{"protocol": "email", "endpoint": "p@example.com",
                                                    "confirmed": false}]}],
    }));
    assert_eq!(moto.dump_regions(&["us-east-1"]), before);
    let _ = sns;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_and_dump_demo_scenario() {
    let moto = Moto::start();
    let scenario: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::repo_root().join("tests/moto/scenarios/demo.json")).unwrap(),
    )
    .unwrap();
    moto.seed(&scenario);
    let d1 = moto.dump();
    let d2 = moto.dump();
    assert_eq!(d1, d2, "dump is deterministic");
    let us = &d1["regions"]["us-east-1"];
    assert_eq!(us["trails"][0]["IsMultiRegionTrail"], true);
    assert_eq!(us["trails"][0]["IsLogging"], true);
    assert!(us["trails"][0]["CloudWatchLogsLogGroupArn"]
        .as_str()
        .unwrap()
        .contains(":log-group:aws-cloudtrail-logs-demo:"));
    assert!(us["metric_filters"].as_array().unwrap().len() >= 3);
    let topic = us["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["TopicArn"] == topic_arn("security-alerts"))
        .expect("security-alerts topic");
    assert_eq!(topic["Subscriptions"].as_array().unwrap().len(), 1);
    // The keys and lists are in canonical order: serialising twice gives identical text.
    assert_eq!(d1.to_string(), d2.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_query_definitions() {
    let moto = Moto::start();
    let (_, logs, _) = clients(&moto).await;
    let id = logs
        .put_query_definition()
        .name("cis/root-usage")
        .query_string("fields @timestamp | filter userIdentity.type = 'Root'")
        .log_group_names("trail-logs")
        .send()
        .await
        .expect("PutQueryDefinition")
        .query_definition_id()
        .unwrap()
        .to_string();
    let out = logs.describe_query_definitions().query_definition_name_prefix("cis/").send().await.unwrap();
    assert_eq!(out.query_definitions().len(), 1);
    let q = &out.query_definitions()[0];
    assert_eq!(q.query_definition_id(), Some(id.as_str()));
    assert_eq!(q.log_group_names(), ["trail-logs".to_string()]);
    // Update in place by id.
    logs.put_query_definition()
        .query_definition_id(&id)
        .name("cis/root-usage")
        .query_string("fields @timestamp")
        .send()
        .await
        .unwrap();
    let out = logs.describe_query_definitions().send().await.unwrap();
    assert_eq!(out.query_definitions().len(), 1);
    assert_eq!(out.query_definitions()[0].query_string(), Some("fields @timestamp"));
    let del = logs.delete_query_definition().query_definition_id(&id).send().await.unwrap();
    assert!(del.success());
    let err = logs.delete_query_definition().query_definition_id(&id).send().await.expect_err("already deleted");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_selectors_logging_and_cross_region_arns() {
    let moto = Moto::start();
    let seeded = moto.seed(&json!({
        "trails": [
            {"name": "default-trail", "log_group": "g1", "event_selectors": null, "logging": false},
            {"name": "advanced-trail", "log_group": "g2", "event_selectors": "advanced-all"},
            {"name": "local-trail", "multi_region": false, "event_selectors": "readonly"}
        ]
    }));
    let arn = seeded["trails"]["default-trail"].as_str().unwrap().to_string();
    let adv_arn = seeded["trails"]["advanced-trail"].as_str().unwrap().to_string();
    let local_arn = seeded["trails"]["local-trail"].as_str().unwrap().to_string();
    let ct = aws_sdk_cloudtrail::Client::new(&sdk_config(&moto).await);

    // A trail nobody customised logs all management events (AWS default selector).
    let sel = ct.get_event_selectors().trail_name("default-trail").send().await.unwrap();
    assert_eq!(sel.event_selectors().len(), 1);
    assert_eq!(sel.event_selectors()[0].include_management_events(), Some(true));
    assert_eq!(sel.event_selectors()[0].read_write_type(), Some(&aws_sdk_cloudtrail::types::ReadWriteType::All));
    assert!(sel.advanced_event_selectors().is_empty());
    let adv = ct.get_event_selectors().trail_name(&adv_arn).send().await.unwrap();
    assert!(adv.event_selectors().is_empty());
    assert_eq!(adv.advanced_event_selectors().len(), 1);

    let trails = ct.describe_trails().send().await.unwrap();
    let custom: std::collections::BTreeMap<_, _> =
        trails.trail_list().iter().map(|t| (t.name().unwrap().to_string(), t.has_custom_event_selectors())).collect();
    assert_eq!(custom["default-trail"], Some(false));
    assert_eq!(custom["advanced-trail"], Some(true));
    assert_eq!(custom["local-trail"], Some(true));

    // StartLogging / StopLogging by ARN.
    assert_eq!(ct.get_trail_status().name(&arn).send().await.unwrap().is_logging(), Some(false));
    ct.start_logging().name(&arn).send().await.expect("StartLogging by ARN");
    assert_eq!(ct.get_trail_status().name(&arn).send().await.unwrap().is_logging(), Some(true));
    ct.stop_logging().name(&arn).send().await.expect("StopLogging by ARN");
    assert_eq!(ct.get_trail_status().name(&arn).send().await.unwrap().is_logging(), Some(false));

    // From another region, a multi-region trail is reachable by ARN; a single-region one is not.
    let eu = aws_sdk_cloudtrail::Client::new(&sdk_config_with(&moto, "eu-west-1", 3).await);
    let sel = eu.get_event_selectors().trail_name(&arn).send().await.expect("cross-region by ARN");
    assert_eq!(sel.trail_arn(), Some(arn.as_str()));
    let t = eu.get_trail().name(&adv_arn).send().await.expect("GetTrail cross-region");
    assert_eq!(t.trail().unwrap().home_region(), Some("us-east-1"));
    let err = eu.get_event_selectors().trail_name(&local_arn).send().await.expect_err("single-region");
    assert!(err.into_service_error().is_trail_not_found_exception());

    // DeleteTrail of a missing trail is an error; by ARN it works.
    let err = ct.delete_trail().name("no-such-trail").send().await.expect_err("missing trail");
    assert!(err.into_service_error().is_trail_not_found_exception());
    ct.delete_trail().name(&local_arn).send().await.expect("DeleteTrail by ARN");
    let names: Vec<_> =
        ct.describe_trails().send().await.unwrap().trail_list().iter().map(|t| t.name().unwrap().to_string()).collect();
    assert!(!names.contains(&"local-trail".to_string()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_from_env_are_restored_by_reset() {
    let moto = Moto::start_with_env(&[("CWFIX_MOTO_FAULTS", r#"{"throttle_rate": 1.0, "services": ["sts"]}"#)]);
    let sts = aws_sdk_sts::Client::new(&sdk_config_with(&moto, "us-east-1", 1).await);
    let err = sts.get_caller_identity().send().await.expect_err("throttled from startup");
    assert_eq!(err.code(), Some("Throttling"));
    moto.set_faults(json!({}));
    let id = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(id.account(), Some(ACCOUNT));
    moto.reset();
    let err = sts.get_caller_identity().send().await.expect_err("startup faults restored");
    assert_eq!(err.code(), Some("Throttling"));
    assert_eq!(moto.calls()["faults"]["sts"]["GetCallerIdentity"], 1);
}

#[test]
fn harness_runs_cwfix_and_aws_cli_against_moto() {
    let moto = Moto::start();
    crate::util::cwfix(&moto).arg("--help").assert().success();
    let id = aws_json(&moto, &["sts", "get-caller-identity"]);
    assert_eq!(id["Account"], ACCOUNT);
    // The aws CLI really went to this moto (the call counter saw it).
    assert_eq!(moto.calls_of("sts", "GetCallerIdentity"), 1);
}
