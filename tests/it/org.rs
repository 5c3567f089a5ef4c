//! The whole organization (issue #12): an AWS Organization built in moto (the management
//! account 123456789012 with a trail, members from `organizations create-account`), planned with
//! `--org`, limited by `--ou` and `--exclude-accounts`, an account whose role cannot be assumed
//! reported without stopping the others, findings sent to each account's Security Hub twice,
//! and `apply --org` with one run per account, one of which is rolled back alone.

use crate::common::*;
use crate::util::{aws_cli, aws_json, repo_root, venv_python, Moto};
use serde_json::{json, Value};

const MGMT: &str = "123456789012";
const ROLE: &str = "OrganizationAccountAccessRole";
const SUB: &str = "email:sec@example.com";

type Creds = (String, String, String);

/// An organization of `names.len()` members (created with `role`, or moto's default role when
/// `None`); returns their account ids in order.
fn organization(moto: &Moto, names: &[(&str, Option<&str>)]) -> Vec<String> {
    aws_json(moto, &["organizations", "create-organization", "--feature-set", "ALL"]);
    names.iter().map(|(name, role)| create_account(moto, name, *role)).collect()
}

fn create_account(moto: &Moto, name: &str, role: Option<&str>) -> String {
    let email = format!("{name}@example.com");
    let mut args = vec!["organizations", "create-account", "--account-name", name, "--email", &email];
    if let Some(r) = role {
        args.extend(["--role-name", r]);
    }
    let v = aws_json(moto, &args);
    v["CreateAccountStatus"]["AccountId"].as_str().unwrap().to_string()
}

fn root(moto: &Moto) -> String {
    aws_json(moto, &["organizations", "list-roots"])["Roots"][0]["Id"].as_str().unwrap().to_string()
}

fn ou(moto: &Moto, parent: &str, name: &str) -> String {
    let v = aws_json(moto, &["organizations", "create-organizational-unit", "--parent-id", parent, "--name", name]);
    v["OrganizationalUnit"]["Id"].as_str().unwrap().to_string()
}

fn move_account(moto: &Moto, account: &str, from: &str, to: &str) {
    aws_json(
        moto,
        &[
            "organizations",
            "move-account",
            "--account-id",
            account,
            "--source-parent-id",
            from,
            "--destination-parent-id",
            to,
        ],
    );
}

/// The member's credentials, through the role `create-account` made there.
fn enter(moto: &Moto, account: &str) -> Creds {
    let arn = format!("arn:aws:iam::{account}:role/{ROLE}");
    let v = aws_json(moto, &["sts", "assume-role", "--role-arn", &arn, "--role-session-name", "test"]);
    let c = &v["Credentials"];
    let s = |k: &str| c[k].as_str().unwrap().to_string();
    (s("AccessKeyId"), s("SecretAccessKey"), s("SessionToken"))
}

/// `aws <args>` in another account.
fn aws_as(moto: &Moto, creds: &Creds, args: &[&str]) -> Value {
    let out = aws_cli(moto)
        .env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .env("AWS_SESSION_TOKEN", &creds.2)
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `seed.py ARGS` in another account (stdin: the scenario, if any).
fn seed_py_as(moto: &Moto, creds: &Creds, args: &[&str], stdin: Option<&Value>) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new(venv_python())
        .arg(repo_root().join("tests/moto/seed.py"))
        .arg(moto.url())
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .env("AWS_SESSION_TOKEN", &creds.2)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.map(|v| v.to_string()).unwrap_or_default();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "seed.py {args:?} as another account failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A trail of the member's own (S3 bucket names are global, so each its own bucket).
fn seed_trail_as(moto: &Moto, creds: &Creds, account: &str) {
    let mut sc = trail_scenario();
    sc["trails"][0]["s3_bucket"] = json!(format!("trail-{account}"));
    seed_py_as(moto, creds, &["seed"], Some(&sc));
}

fn accounts_of(doc: &Value) -> Vec<String> {
    doc["accounts"].as_array().unwrap().iter().map(|p| p["account"].as_str().unwrap().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn org_plan_names_every_active_account_and_ou_and_exclusions_limit_them() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let members = organization(&moto, &[("a", None), ("b", None), ("c", None), ("gone", None)]);
    aws_json(&moto, &["organizations", "close-account", "--account-id", &members[3]]);
    let (a, b, c) = (&members[0], &members[1], &members[2]);
    let r = root(&moto);
    let workloads = ou(&moto, &r, "Workloads");
    let prod = ou(&moto, &workloads, "Prod");
    move_account(&moto, a, &r, &workloads);
    move_account(&moto, b, &r, &prod);

    let all = run(&moto, &["plan", "--org", "--role-name", ROLE, "-o", "json", "--subscribe", SUB]);
    assert_eq!(all.code, 2, "the management account has changes planned: {all:?}");
    let doc = all.json();
    assert_eq!(doc["format_version"], "2.0");
    assert_eq!(sorted(accounts_of(&doc)), sorted(vec![MGMT.into(), a.clone(), b.clone(), c.clone()]), "{doc:#}");
    assert_eq!(doc["errors"], json!([]));
    assert_eq!(doc["summary"]["accounts"], 4);
    assert_eq!(doc["summary"]["planned"], 4);
    assert_eq!(doc["summary"]["add"], 32, "only the management account has a trail: {:#}", doc["summary"]);
    let mgmt = doc["accounts"].as_array().unwrap().iter().find(|p| p["account"] == MGMT).unwrap();
    let mgmt_caller = mgmt["caller_arn"].as_str().unwrap();
    assert!(!mgmt_caller.contains("assumed-role"), "the management account is read as the caller: {mgmt_caller}");
    let member = doc["accounts"].as_array().unwrap().iter().find(|p| p["account"] == a.as_str()).unwrap();
    assert!(
        member["caller_arn"].as_str().unwrap().contains(&format!("assumed-role/{ROLE}/cwfix")),
        "{}",
        member["caller_arn"]
    );

    // --ou walks the tree below it; the default role name is OrganizationAccountAccessRole.
    let under = run(&moto, &["plan", "--org", "--ou", &workloads, "-o", "json"]);
    assert_eq!(under.code, 3, "{under:?}");
    assert_eq!(sorted(accounts_of(&under.json())), sorted(vec![a.clone(), b.clone()]));
    let excluded = run(&moto, &["plan", "--org", "--exclude-accounts", &format!("{a},{MGMT}"), "-o", "json"]);
    assert_eq!(sorted(accounts_of(&excluded.json())), sorted(vec![b.clone(), c.clone()]), "{excluded:?}");
    // One account left: the plain plan document, unchanged.
    let one = run(&moto, &["plan", "--org", "--ou", &prod, "-o", "json"]);
    assert_eq!(one.json()["account"], b.as_str(), "{one:?}");

    // Text: a section per account, then the closing table.
    let text = run(&moto, &["plan", "--org", "--subscribe", SUB]);
    assert_eq!(text.code, 2, "{text:?}");
    for acct in [MGMT, a, b, c] {
        assert!(text.stdout.contains(&format!("=== account {acct} ===")), "{text:?}");
    }
    assert!(text.stdout.contains("Organization: 4 account(s), 4 planned, 0 could not be read"), "{text:?}");
    assert!(text.stdout.contains("Plan (all accounts): 32 to add, 0 to change, 0 to destroy."), "{text:?}");
    let unknown = run(&moto, &["plan", "--org", "--ou", "ou-none-00000000", "-o", "json"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("cannot list the organization's accounts"), "{unknown:?}");
}

#[test]
fn an_account_whose_role_cannot_be_assumed_is_reported_and_the_others_are_planned() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let members = organization(&moto, &[("ok", None), ("invited", Some("SomeOtherRole"))]);
    let (ok, invited) = (&members[0], &members[1]);

    let out = run(&moto, &["plan", "--org", "-o", "json", "--subscribe", SUB]);
    assert_eq!(out.code, 1, "an account was not read: {out:?}");
    let doc = out.json();
    assert_eq!(sorted(accounts_of(&doc)), sorted(vec![MGMT.into(), ok.clone()]));
    assert_eq!(doc["errors"][0]["account"], invited.as_str());
    let why = doc["errors"][0]["error"].as_str().unwrap();
    assert!(why.contains("`sts:AssumeRole` was denied") && why.contains(&format!("{invited}:role/{ROLE}")), "{why}");
    assert_eq!(doc["summary"]["unread"], 1);
    assert!(out.stderr.contains(&format!("error: account {invited} could not be read")), "{out:?}");
    assert!(out.stderr.contains(&format!("--exclude-accounts {invited}")), "the hint names the way out: {out:?}");

    // --exit-zero does not hide it; text and findings carry it too.
    let text = run(&moto, &["plan", "--org", "--exit-zero"]);
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.stdout.contains("Organization: 3 account(s), 2 planned, 1 could not be read"), "{text:?}");
    let row = text.stdout.lines().find(|l| l.trim_start().starts_with(invited.as_str())).unwrap();
    assert!(row.contains("error:") && row.contains("AssumeRole"), "{row}");
    let junit = run(&moto, &["plan", "--org", "-o", "junit"]);
    assert_eq!(junit.stdout.matches(&format!("classname=\"{invited}/cis-v7.0\"")).count(), 15, "{junit:?}");
    assert!(junit.stdout.contains("could not be read"), "{junit:?}");
    let excluded = run(&moto, &["plan", "--org", "--exclude-accounts", invited, "-o", "json"]);
    assert_eq!(excluded.code, 3, "every account read: {excluded:?}");

    // What the caller needs for all this.
    let policy = run(&moto, &["iam-policy", "--for", "plan", "--org", "--findings", "securityhub"]).stdout;
    for action in [
        "organizations:ListAccounts",
        "organizations:ListOrganizationalUnitsForParent",
        "sts:AssumeRole",
        "securityhub:BatchImportFindings",
    ] {
        assert!(policy.contains(&format!("\"{action}\"")), "{action}: {policy}");
    }
}

/// `securityhub get-findings` of one account, as (Id, Compliance.Status, RecordState).
fn findings_in(moto: &Moto, creds: Option<&Creds>) -> Vec<(String, String, String)> {
    let args = ["securityhub", "get-findings", "--max-results", "100"];
    let v = match creds {
        Some(c) => aws_as(moto, c, &args),
        None => aws_json(moto, &args),
    };
    let mut out: Vec<(String, String, String)> = v["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |x: &Value| x.as_str().unwrap_or_default().to_string();
            (s(&f["Id"]), s(&f["Compliance"]["Status"]), s(&f["RecordState"]))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn findings_sent_twice_to_each_accounts_security_hub_leave_one_per_control() {
    let moto = Moto::start();
    moto.seed(&near_miss_scenario(&moto));
    let members = organization(&moto, &[("a", None), ("b", None)]);
    let creds: Vec<Creds> = members.iter().map(|m| enter(&moto, m)).collect();
    aws_json(&moto, &["securityhub", "enable-security-hub"]);
    for c in &creds {
        aws_as(&moto, c, &["securityhub", "enable-security-hub"]);
    }
    for _ in 0..2 {
        let out = run(&moto, &["plan", "--org", "--findings", "securityhub", "-o", "json"]);
        assert_eq!(out.code, 2, "changes in the management account: {out:?}");
        assert!(out.stderr.contains("Security Hub: 45 finding(s) imported into 3 account(s)"), "{out:?}");
    }
    let mine = findings_in(&moto, None);
    assert_eq!(mine.len(), 15, "one finding per control: {mine:?}");
    assert!(mine.iter().all(|(id, _, _)| id.starts_with(&format!("cwfix/{MGMT}/"))));
    let failed: Vec<&str> = mine.iter().filter(|f| f.1 == "FAILED").map(|f| f.0.rsplit('/').next().unwrap()).collect();
    assert_eq!(failed, vec!["5.1", "5.4"]);
    assert!(mine.iter().all(|f| (f.1 == "PASSED") == (f.2 == "ARCHIVED")), "compliant ones are archived: {mine:?}");
    for (m, c) in members.iter().zip(&creds) {
        let theirs = findings_in(&moto, Some(c));
        assert_eq!(theirs.len(), 15, "{m}: {theirs:?}");
        assert!(theirs.iter().all(|(id, status, _)| id.starts_with(&format!("cwfix/{m}/")) && status == "FAILED"));
    }

    // Fixed in the management account: the same findings turn PASSED and archived, no new ones.
    let fixed = run(&moto, &["apply", "--yes"]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    let again = run(&moto, &["plan", "--findings", "securityhub"]);
    assert_eq!(again.code, 0, "{again:?}");
    let mine = findings_in(&moto, None);
    assert_eq!(mine.len(), 15);
    assert!(mine.iter().all(|f| f.1 == "PASSED" && f.2 == "ARCHIVED"), "{mine:?}");

    // A hub that is not enabled is reported, exit 1.
    aws_as(&moto, &creds[0], &["securityhub", "disable-security-hub"]);
    let off = run(&moto, &["plan", "--org", "--findings", "securityhub", "-o", "json"]);
    assert_eq!(off.code, 1, "{off:?}");
    assert!(off.stderr.contains(&format!("cannot send findings to Security Hub of account {}", members[0])), "{off:?}");
    assert!(off.stderr.contains("enable-security-hub"), "{off:?}");
}

/// seed.py's canonical dump of one account.
fn dump_as(moto: &Moto, creds: &Creds) -> Value {
    seed_py_as(moto, creds, &["dump"], None)
}

#[test]
fn apply_org_makes_one_run_per_account_and_rolling_one_back_restores_that_account_only() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let members = organization(&moto, &[("a", None), ("b", None)]);
    let creds: Vec<Creds> = members.iter().map(|m| enter(&moto, m)).collect();
    for (m, c) in members.iter().zip(&creds) {
        seed_trail_as(&moto, c, m);
    }
    let before: Vec<Value> = creds.iter().map(|c| dump_as(&moto, c)).collect();

    let applied = run(&moto, &["apply", "--org", "--yes", "--subscribe", SUB]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert_eq!(applied.stdout.matches("Apply complete! 32 change(s) made.").count(), 3, "{applied:?}");
    let runs = run(&moto, &["runs", "-o", "json"]).json();
    let runs = runs.as_array().unwrap();
    let accounts: Vec<String> = runs.iter().map(|r| r["account"].as_str().unwrap().to_string()).collect();
    assert_eq!(sorted(accounts), sorted(vec![MGMT.into(), members[0].clone(), members[1].clone()]));
    let listing = run(&moto, &["runs"]);
    assert!(listing.stdout.contains(&members[1]), "the runs list shows the account: {listing:?}");
    let after_a = dump_as(&moto, &creds[0]);
    assert_ne!(after_a, before[0]);
    let mgmt_after = moto.dump();

    // Roll back member b's run only, entering b through the role.
    let run_b = runs.iter().find(|r| r["account"] == members[1].as_str()).unwrap()["run_id"].as_str().unwrap();
    let rb = run(&moto, &["rollback", run_b, "--role-name", ROLE, "--yes"]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(dump_as(&moto, &creds[1]), before[1], "b is as it was");
    assert_eq!(dump_as(&moto, &creds[0]), after_a, "a keeps its run");
    assert_eq!(moto.dump(), mgmt_after, "the management account keeps its run");
    // Without the role, the caller's credentials are the wrong account: refused.
    let run_a = runs.iter().find(|r| r["account"] == members[0].as_str()).unwrap()["run_id"].as_str().unwrap();
    let wrong = run(&moto, &["rollback", run_a, "--yes"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("credentials are for account"), "{wrong:?}");
}

#[test]
fn apply_org_reports_an_account_it_cannot_enter_and_applies_the_others() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let members = organization(&moto, &[("invited", Some("SomeOtherRole"))]);
    let out = run(&moto, &["apply", "--org", "--yes", "--subscribe", SUB, "-o", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed = lines.iter().find(|l| l["type"] == "account_failed").unwrap();
    assert_eq!(failed["account"], members[0].as_str());
    assert!(failed["error"].as_str().unwrap().contains("AssumeRole"), "{failed}");
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["applied"], 32, "the management account was applied: {out:?}");
}
