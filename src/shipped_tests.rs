//! Corpus tests for every shipped baseline (`baselines/*.toml`): each pattern parses, its
//! canonical form is stable, and it matches its positive CloudTrail events and none of its
//! near misses. Events live in `tests/data/baselines/<baseline>.json`, keyed by control id:
//! `{ "<id>": { "positive": [record, …], "near_miss": [record, …] } }`; every control of every
//! shipped baseline must have at least one of each.

use crate::baseline;
use crate::pattern::{self, Event};
use serde_json::Value as Json;
use std::path::Path;

fn corpus(name: &str) -> serde_json::Map<String, Json> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/baselines").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str::<Json>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        Json::Object(m) => m,
        _ => panic!("{}: expected an object keyed by control id", path.display()),
    }
}

fn events<'a>(entry: &'a Json, key: &str, at: &str) -> &'a Vec<Json> {
    match entry.get(key) {
        Some(Json::Array(v)) if !v.is_empty() => v,
        _ => panic!("{at}: needs a non-empty `{key}` list"),
    }
}

#[test]
fn every_shipped_pattern_parses_with_a_stable_canonical_form() {
    for name in baseline::shipped_names() {
        let b = baseline::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        for c in &b.controls {
            let again = pattern::parse(c.pattern.source()).unwrap();
            assert_eq!(again.canonical(), c.pattern.canonical(), "{name} {}", c.id);
            let canon = pattern::parse(c.pattern.canonical_str())
                .unwrap_or_else(|e| panic!("{name} {}: canonical form does not parse: {e}", c.id));
            assert_eq!(
                canon.canonical(),
                c.pattern.canonical(),
                "{name} {}: canonical form is not a fixed point",
                c.id
            );
            assert!(pattern::equivalent(&canon, &c.pattern).is_equivalent(), "{name} {}", c.id);
            assert!(
                c.pattern.source().len() <= pattern::MAX_LEN,
                "{name} {}: longer than the filterPattern quota",
                c.id
            );
        }
    }
}

#[test]
fn every_shipped_control_matches_its_positives_and_none_of_its_near_misses() {
    let mut checked = 0;
    for name in baseline::shipped_names() {
        let b = baseline::load(name).unwrap();
        let data = corpus(name);
        for c in &b.controls {
            let at = format!("{name} {}", c.id);
            let entry =
                data.get(&c.id).unwrap_or_else(|| panic!("{at}: no events in tests/data/baselines/{name}.json"));
            for (i, e) in events(entry, "positive", &at).iter().enumerate() {
                let ev = Event::from_value(e.clone());
                assert!(c.pattern.matches(&ev), "{at}: positive #{i} ({}) does not match", e["eventName"]);
                checked += 1;
            }
            for (i, e) in events(entry, "near_miss", &at).iter().enumerate() {
                let ev = Event::from_value(e.clone());
                assert!(!c.pattern.matches(&ev), "{at}: near miss #{i} ({}) matches", e["eventName"]);
                checked += 1;
            }
        }
        // No stale entries for controls that do not exist.
        for id in data.keys() {
            assert!(b.controls.iter().any(|c| &c.id == id), "{name}: events for unknown control `{id}`");
        }
    }
    assert!(checked > 300, "only {checked} events checked");
}

#[test]
fn shipped_names_never_collide_across_baselines() {
    let mut filters = std::collections::BTreeMap::new();
    let mut alarms = std::collections::BTreeMap::new();
    for name in baseline::shipped_names() {
        let b = baseline::load(name).unwrap();
        for c in &b.controls {
            if let Some(other) = filters.insert(c.filter_name.clone(), name) {
                panic!("filter name {} is used by {other} and {name}", c.filter_name);
            }
            if let Some(other) = alarms.insert(c.alarm_name.clone(), name) {
                panic!("alarm name {} is used by {other} and {name}", c.alarm_name);
            }
        }
    }
}

#[test]
fn aliases_resolve_to_their_baseline() {
    for (alias, name) in [
        ("cis-v1.3", "cis-v1.4"),
        ("cis-v1.5", "cis-v1.4"),
        ("cis-v3.0", "cis-v2.0"),
        ("cis-v4.0", "cis-v2.0"),
        ("cis-v6.0", "cis-v7.0"),
    ] {
        assert_eq!(baseline::load(alias).unwrap().name, name, "{alias}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in baseline::shipped_names() {
        let b = baseline::load(name).unwrap();
        for a in &b.aliases {
            assert!(!baseline::shipped_names().contains(&a.as_str()), "alias {a} shadows a baseline");
            assert!(seen.insert(a.clone()), "alias {a} declared twice");
        }
        assert!(
            !b.title.is_empty() && !b.source.is_empty(),
            "{name}: title and source are required for shipped baselines"
        );
    }
}

/// The errata the shipped files correct are really corrected (and the corrected 4.1 of
/// v1.3–v1.5 does not match ordinary successful calls, as the published text does).
#[test]
fn errata_are_corrected() {
    let published_v14_41 = pattern::parse(r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") || ($.sourceIPAddress!="delivery.logs.amazonaws.com") || ($.eventName!="HeadBucket") }"#).unwrap();
    let ordinary = Event::from_value(serde_json::json!({
        "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "sourceIPAddress": "203.0.113.24",
        "userIdentity": {"type": "IAMUser"}, "eventType": "AwsApiCall"
    }));
    assert!(published_v14_41.matches(&ordinary), "the published v1.4 4.1 is the all-|| erratum");
    for name in ["cis-v1.4", "cis-v2.0", "cis-v5.0", "cis-v7.0"] {
        let b = baseline::load(name).unwrap();
        assert!(!b.controls[0].pattern.matches(&ordinary), "{name} x.1 matches an ordinary call");
        assert!(b.notes.iter().any(|n| n.contains(".1:")), "{name}: x.1 note missing");
    }
    for name in baseline::shipped_names() {
        for c in &baseline::load(name).unwrap().controls {
            let text = c.pattern.source();
            for bad in ["eventNa me", "{$eventName", "($eventName", "event Name", "Polic y", "= AcceptHandshake\")"] {
                assert!(!text.contains(bad), "{name} {}: published typo `{bad}` copied", c.id);
            }
            assert_eq!(text.matches('"').count() % 2, 0, "{name} {}: unbalanced quotes", c.id);
        }
    }
    // v5.0 adds ModifySecurityGroupRules; v2.0 (v3.0/v4.0) does not.
    let v5 = baseline::load("cis-v5.0").unwrap();
    let v2 = baseline::load("cis-v2.0").unwrap();
    assert!(v5.controls[9].pattern.source().contains("ModifySecurityGroupRules"));
    assert!(!v2.controls[9].pattern.source().contains("ModifySecurityGroupRules"));
}
