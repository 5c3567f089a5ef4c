//! Shared helpers for the plan/apply/rollback integration tests.

use crate::util::{cwfix, Moto};
use serde_json::{json, Value};

/// Output of one cwfix run.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs cwfix with `args` against `moto` (stdin closed: never a terminal).
pub fn run(moto: &Moto, args: &[&str]) -> Out {
    run_env(moto, args, &[])
}

pub fn run_env(moto: &Moto, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = cwfix(moto);
    cmd.args(args).write_stdin("");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run cwfix");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub const GROUP: &str = "aws-cloudtrail-logs-test";

/// A multi-region logging trail in us-east-1 delivering to an empty log group.
pub fn trail_scenario() -> Value {
    json!({
        "trails": [{"name": "main", "region": "us-east-1", "multi_region": true, "log_group": GROUP,
                    "logging": true, "event_selectors": "all"}]
    })
}

/// The default baseline's controls as (id, pattern, metric, filter name, alarm name).
pub fn baseline_controls(moto: &Moto) -> Vec<Value> {
    let out = run(moto, &["baselines", "show", "cis-v7.0", "-o", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    out.json()["controls"].as_array().cloned().unwrap_or_default()
}

/// A seed scenario in which every control of the default baseline holds, with the patterns
/// passed through `respell` (to prove spelling does not matter).
pub fn compliant_scenario(moto: &Moto, respell: impl Fn(&str, &str) -> String) -> Value {
    let mut sc = trail_scenario();
    let mut filters = vec![];
    let mut alarms = vec![];
    for c in baseline_controls(moto) {
        let id = c["id"].as_str().unwrap();
        let pattern = respell(id, c["pattern"].as_str().unwrap());
        let metric = format!("{}Count", c["metric_name"].as_str().unwrap());
        filters.push(json!({"log_group": GROUP, "name": format!("user-{id}"), "pattern": pattern,
                            "metric_name": metric, "namespace": "CloudTrailMetrics"}));
        alarms
            .push(json!({"name": format!("user-alarm-{id}"), "metric_name": metric, "namespace": "CloudTrailMetrics",
                           "topic": "security-alerts", "treat_missing_data": "notBreaching"}));
    }
    sc["metric_filters"] = json!(filters);
    sc["alarms"] = json!(alarms);
    sc["topics"] = json!([{"name": "security-alerts", "subscriptions": [{"protocol": "email", "endpoint": "secops@example.com"}]}]);
    sc
}

/// Changes of a JSON plan as (kind, action, address).
pub fn changes(plan: &Value) -> Vec<(String, String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
                c["address"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn status_of<'a>(plan: &'a Value, id: &str) -> &'a str {
    plan["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("missing")
}

/// A compliant account with two faults: the 5.4 filter lacks DetachGroupPolicy (matches less
/// than the baseline) and the 5.1 alarm evaluates every 60 s instead of 300 s.
pub fn near_miss_scenario(moto: &Moto) -> Value {
    let mut sc = compliant_scenario(moto, |id, p| {
        if id == "5.4" {
            p.replace("||($.eventName=DetachGroupPolicy)", "")
        } else {
            p.to_string()
        }
    });
    for a in sc["alarms"].as_array_mut().unwrap() {
        if a["name"] == "user-alarm-5.1" {
            a["period"] = json!(60);
        }
    }
    sc
}

/// The run id from apply's or rollback's human output (`Run <id>: journal in ...`).
pub fn run_id_of(out: &Out) -> String {
    let line = out.stdout.lines().find(|l| l.starts_with("Run ")).unwrap_or_else(|| panic!("no run id: {out:?}"));
    line.trim_start_matches("Run ").split(':').next().unwrap().to_string()
}
