//! Pattern engine benchmarks: parse the CIS v3 patterns, evaluate them over a synthetic
//! CloudTrail corpus (events/s), compare a baseline against many existing filters, and
//! compare large OR-heavy patterns (the work budget).
//!
//! The corpus is generated deterministically (fixed-seed LCG) so runs are comparable.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use cwfix::pattern::{self, Event, Pattern};
use serde_json::{json, Value};

const EVENTS: usize = 4000;

/// The 15 CIS v3.0.0 section 4 patterns. 4.4 is published with a PDF line-break typo
/// (`$.eventNa me`), so the v4.0 text of 4.4 stands in for it.
fn cis_v3() -> Vec<String> {
    let tsv = include_str!("../tests/data/pattern/cis_patterns.tsv");
    let rows: Vec<(&str, &str, &str)> = tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut it = l.splitn(3, '\t');
            (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    (1..=15)
        .map(|n| {
            let id = format!("v3.0.0-4.{n}");
            let row = rows.iter().find(|r| r.0 == id).unwrap();
            if row.1 == "invalid" {
                rows.iter().find(|r| r.0 == format!("v4.0.x-4.{n}")).unwrap().2.to_string()
            } else {
                row.2.to_string()
            }
        })
        .collect()
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

/// Realistic CloudTrail management events: mostly read-only noise, some CIS-relevant writes,
/// some errors, a few root and console sign-ins.
fn corpus() -> Vec<Value> {
    let mut r = Lcg(0x5eed);
    let calls: &[(&str, &str)] = &[
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("ec2.amazonaws.com", "DescribeSecurityGroups"),
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
        ("ec2.amazonaws.com", "CreateVpc"),
        ("ec2.amazonaws.com", "CreateRoute"),
        ("ec2.amazonaws.com", "RunInstances"),
        ("s3.amazonaws.com", "GetBucketPolicy"),
        ("s3.amazonaws.com", "PutBucketPolicy"),
        ("s3.amazonaws.com", "HeadBucket"),
        ("iam.amazonaws.com", "ListRoles"),
        ("iam.amazonaws.com", "PutRolePolicy"),
        ("iam.amazonaws.com", "CreatePolicy"),
        ("kms.amazonaws.com", "Decrypt"),
        ("kms.amazonaws.com", "ScheduleKeyDeletion"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("cloudtrail.amazonaws.com", "LookupEvents"),
        ("cloudtrail.amazonaws.com", "StopLogging"),
        ("config.amazonaws.com", "DescribeConfigRules"),
        ("organizations.amazonaws.com", "DescribeOrganization"),
        ("signin.amazonaws.com", "ConsoleLogin"),
        ("logs.amazonaws.com", "PutLogEvents"),
    ];
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    (0..EVENTS)
        .map(|i| {
            let (source, name) = calls[(r.next() as usize) % calls.len()];
            let id_type = r.pick(&["IAMUser", "AssumedRole", "AssumedRole", "AWSService", "Root"]);
            let mut ev = json!({
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": id_type,
                    "principalId": format!("AIDA{:016X}", r.next()),
                    "arn": format!("arn:aws:iam::111122223333:user/user{}", r.next() % 50),
                    "accountId": "111122223333",
                    "accessKeyId": format!("ASIA{:016X}", r.next()),
                    "sessionContext": {"attributes": {"creationDate": "2026-11-20T14:00:00Z", "mfaAuthenticated": "false"}}
                },
                "eventTime": format!("2026-11-20T14:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "eventSource": source,
                "eventName": name,
                "awsRegion": r.pick(&regions),
                "sourceIPAddress": r.pick(&["198.51.100.23", "203.0.113.9", "delivery.logs.amazonaws.com", "10.0.4.17"]),
                "userAgent": r.pick(&["aws-cli/2.15.0 Python/3.11.6", "console.amazonaws.com", "Boto3/1.34.0"]),
                "requestParameters": {"maxResults": 100, "filterSet": {}},
                "responseElements": null,
                "requestID": format!("{:08x}-{:04x}", r.next(), r.next() % 65536),
                "eventID": format!("{:08x}-{:04x}", r.next(), r.next() % 65536),
                "readOnly": name.starts_with("Describe") || name.starts_with("Get") || name.starts_with("List"),
                "eventType": if id_type == "AWSService" { "AwsServiceEvent" } else { "AwsApiCall" },
                "managementEvent": true,
                "recipientAccountId": "111122223333",
                "eventCategory": "Management"
            });
            let m = ev.as_object_mut().unwrap();
            match r.next() % 10 {
                0 => {
                    m.insert("errorCode".into(), json!("AccessDenied"));
                    m.insert("errorMessage".into(), json!("User is not authorized to perform this action"));
                }
                1 => {
                    m.insert("errorCode".into(), json!("Client.UnauthorizedOperation"));
                }
                _ => {}
            }
            if name == "ConsoleLogin" {
                m.insert("eventType".into(), json!("AwsConsoleSignIn"));
                m.insert(
                    "additionalEventData".into(),
                    json!({"MFAUsed": r.pick(&["Yes", "No"]), "LoginTo": "https://console.aws.amazon.com"}),
                );
                m.insert("responseElements".into(), json!({"ConsoleLogin": r.pick(&["Success", "Failure"])}));
            }
            ev
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let sources = cis_v3();
    assert_eq!(sources.len(), 15);

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(sources.len() as u64));
    g.bench_function("cis_v3_15_patterns", |b| {
        b.iter(|| sources.iter().map(|s| pattern::parse(black_box(s)).unwrap()).collect::<Vec<_>>())
    });
    g.finish();

    let patterns: Vec<Pattern> = sources.iter().map(|s| pattern::parse(s).unwrap()).collect();
    let values = corpus();
    let texts: Vec<String> = values.iter().map(|v| serde_json::to_string(v).unwrap()).collect();
    let events: Vec<Event> = values.iter().cloned().map(Event::from_value).collect();
    // A term pattern joins in to exercise the cached compact text.
    let mut with_terms = patterns.clone();
    with_terms.push(pattern::parse("?StopLogging ?DeleteTrail").unwrap());

    let mut g = c.benchmark_group("eval");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("15_cis_patterns_prebuilt_events", |b| {
        b.iter(|| events.iter().map(|e| patterns.iter().filter(|p| p.matches(e)).count()).sum::<usize>())
    });
    g.bench_function("15_cis_patterns_plus_term_from_json_text", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| {
                    let e = Event::from_json_str(t).unwrap();
                    with_terms.iter().filter(|p| p.matches(&e)).count()
                })
                .sum::<usize>()
        })
    });
    g.finish();

    // Coverage: the 15-pattern baseline against 200 existing filters (copies and variants).
    let existing: Vec<Pattern> = (0..200)
        .map(|i| {
            let s = &sources[i % sources.len()];
            // Every third one gets an extra disjunct so not all comparisons are identical.
            if i % 3 == 0 && s.trim_end().ends_with('}') {
                let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
                pattern::parse(&format!("{{ ({inner}) || ($.eventName = Extra{i}) }}")).unwrap()
            } else {
                pattern::parse(s).unwrap()
            }
        })
        .collect();
    let mut g = c.benchmark_group("covers");
    g.throughput(Throughput::Elements((patterns.len() * existing.len()) as u64));
    g.bench_function("baseline_15_x_existing_200", |b| {
        b.iter(|| {
            let mut n = 0;
            for req in &patterns {
                for ex in &existing {
                    if pattern::covers(ex, req).is_covered() {
                        n += 1;
                    }
                }
            }
            n
        })
    });
    g.finish();

    // Work budget (issue #11): the two ~550-character OR-heavy patterns of
    // tests/data/pattern/pathological.txt (4096 disjuncts each, no witness can separate them)
    // took minutes before the budget; now `equivalent` gives up with `Unknown` after a bounded
    // number of steps. Parsed afresh each time, so DNF expansion is included.
    let lines: Vec<&str> =
        include_str!("../tests/data/pattern/pathological.txt").lines().filter(|l| !l.starts_with('#')).collect();
    let product = |v: &str, w: &str| {
        let groups: Vec<String> = (0..12).map(|i| format!("($.g{i:02} = {v} || $.g{i:02} = {w})")).collect();
        format!("{{ {} }}", groups.join(" && "))
    };
    let (exact, prefix) = (product("v1", "p2"), product("v*", "p*"));
    let mut g = c.benchmark_group("covers_large");
    g.sample_size(10);
    g.bench_function("pathological_pair_equivalent_budgeted", |b| {
        b.iter(|| {
            let (a, b) = (pattern::parse(lines[0]).unwrap(), pattern::parse(lines[1]).unwrap());
            pattern::equivalent(&a, &b).relation()
        })
    });
    g.bench_function("product_4096_disjuncts_equivalent", |b| {
        b.iter(|| {
            let (a, b) = (pattern::parse(&prefix).unwrap(), pattern::parse(&exact).unwrap());
            pattern::equivalent(&a, &b).relation()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
