//! Saved Insights queries and log retention (issue #4): planned, applied and rolled back like
//! the rest of the chain. moto has no query-definition API; the test launcher adds it.

use crate::common::*;
use crate::util::{aws_json, Moto};
use serde_json::json;

#[test]
fn hunting_queries_and_retention_apply_and_roll_back() {
    let moto = Moto::start();
    let mut sc = trail_scenario();
    sc["log_groups"] = json!([{"name": GROUP, "retention_days": 30}]);
    moto.seed(&sc);
    let before = moto.dump();

    let p = run(&moto, &["plan", "-o", "json", "--baseline", "hunting"]);
    assert_eq!(p.code, 2, "{p:?}");
    let p = p.json();
    let ch = changes(&p);
    assert_eq!(ch.iter().filter(|c| c.0 == "query_definition" && c.1 == "create").count(), 3, "{ch:?}");
    assert!(ch.contains(&("log_retention".into(), "update".into(), format!("log_retention.{GROUP}"))), "{ch:?}");
    let q = p["changes"].as_array().unwrap().iter().find(|c| c["kind"] == "query_definition").unwrap();
    assert_eq!(q["after"]["log_group_names"], json!([GROUP]));
    assert!(!q["after"]["query_string"].as_str().unwrap().contains("${account}"));

    let out = run(&moto, &["apply", "--yes", "--baseline", "hunting"]);
    assert_eq!(out.code, 0, "{out:?}");
    let id = run_id_of(&out);
    let defs = aws_json(&moto, &["logs", "describe-query-definitions"]);
    assert_eq!(defs["queryDefinitions"].as_array().unwrap().len(), 3, "{defs:#}");
    let groups = aws_json(&moto, &["logs", "describe-log-groups", "--log-group-name-prefix", GROUP]);
    assert_eq!(groups["logGroups"][0]["retentionInDays"], 365);
    let clean = run(&moto, &["plan", "--baseline", "hunting"]);
    assert_eq!(clean.code, 0, "{clean:?}");

    // Re-planning with a changed query updates in place (same id), never duplicates.
    std::fs::write(
        moto.workdir().join("mine.toml"),
        "name = \"mine\"\nextends = \"hunting\"\n[[queries]]\nname = \"cwfix/hunting/activity-outside-approved-regions\"\nquery = \"fields @timestamp | filter awsRegion not like 'eu-west-1'\"\n",
    )
    .unwrap();
    let upd = run(&moto, &["apply", "--yes", "--baseline", "mine.toml"]);
    assert_eq!(upd.code, 0, "{upd:?}");
    let upd_id = run_id_of(&upd);
    assert_eq!(
        aws_json(&moto, &["logs", "describe-query-definitions"])["queryDefinitions"].as_array().unwrap().len(),
        3
    );

    for run_id in [upd_id, id] {
        let rb = run(&moto, &["rollback", &run_id, "--yes"]);
        assert_eq!(rb.code, 0, "{rb:?}");
    }
    assert_eq!(aws_json(&moto, &["logs", "describe-query-definitions"])["queryDefinitions"], json!([]));
    assert_eq!(moto.dump(), before);
}
