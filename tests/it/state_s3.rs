//! State in S3 (issue #15, item 7): a run applied in one place is listed and rolled back from
//! another working directory (another machine, for cwfix), with `--state-dir s3://...`,
//! `CWFIX_STATE_DIR` or the config file; the lock is a conditional put, so of two concurrent
//! runs one gets it and the other names it; a crashed run's journal and lock can be finished
//! and removed; every object is encrypted and private; failures are one paragraph with a hint.

use crate::common::*;
use crate::util::{apply_aws_env, aws_json, cwfix_in, sdk_config, Moto};
use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SUB: &str = "email:sec@example.com";
const BUCKET: &str = "cwfix-state";
const STATE: &str = "s3://cwfix-state/team/cwfix";

fn make_bucket(moto: &Moto) {
    aws_json(moto, &["s3api", "create-bucket", "--bucket", BUCKET]);
}

/// A working directory of its own: "another machine" as far as cwfix can tell.
fn elsewhere(moto: &Moto, name: &str) -> PathBuf {
    let d = moto.tmp().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_in(moto: &Moto, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = cwfix_in(moto, dir);
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

fn keys(moto: &Moto) -> Vec<String> {
    let out = aws_json(moto, &["s3api", "list-objects-v2", "--bucket", BUCKET]);
    out["Contents"]
        .as_array()
        .map(|a| a.iter().map(|o| o["Key"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// `aws s3api head-object` (one process per call: used on a few keys).
fn head(moto: &Moto, key: &str) -> Value {
    aws_json(moto, &["s3api", "head-object", "--bucket", BUCKET, "--key", key])
}

/// Every object in the bucket, read through the SDK: (key, encryption, KMS key id, bytes).
fn objects(moto: &Moto) -> Vec<(String, String, Option<String>, Vec<u8>)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let s3 = aws_sdk_s3::Client::new(&sdk_config(moto).await);
        let mut out = Vec::new();
        for key in keys(moto) {
            let o = s3.get_object().bucket(BUCKET).key(&key).send().await.unwrap();
            let sse = o.server_side_encryption().map(|e| e.as_str().to_string()).unwrap_or_default();
            let kms = o.ssekms_key_id().map(str::to_string);
            let body = o.body.collect().await.unwrap().into_bytes().to_vec();
            out.push((key, sse, kms, body));
        }
        out
    })
}

fn small_baseline(dir: &Path) {
    std::fs::write(dir.join("small.toml"), "name = \"small\"\nextends = \"cis-v7.0\"\nonly = [\"5.1\", \"5.3\"]\n")
        .unwrap();
}

#[test]
fn a_run_applied_here_is_listed_and_rolled_back_from_elsewhere() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    make_bucket(&moto);
    let before = moto.dump();

    let out = run(&moto, &["apply", "--yes", "--subscribe", SUB, "--state-dir", STATE]);
    assert_eq!(out.code, 0, "{out:?}");
    let id = run_id_of(&out);
    assert!(out.stdout.contains(&format!("journal in {STATE}/runs/{id}/")), "{out:?}");
    assert!(out.stderr.contains(&format!("cwfix rollback {id} --state-dir {STATE}")), "{out:?}");
    assert!(!moto.workdir().join(".cwfix").exists(), "nothing is kept locally");
    assert_ne!(moto.dump(), before);

    // Another machine, with the state given by the environment.
    let other = elsewhere(&moto, "other-machine");
    let env = [("CWFIX_STATE_DIR", STATE)];
    let runs = run_in(&moto, &other, &["runs", "-o", "json"], &env).json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs:#}");
    assert_eq!(runs[0]["run_id"], id.as_str());
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["changes"], 32);
    let show = run_in(&moto, &other, &["runs", "show", &id], &env);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains("#32 done"), "{show:?}");

    let rb = run_in(&moto, &other, &["rollback", &id, "--yes"], &env);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(moto.dump(), before, "rollback from elsewhere must restore the exact previous state");
    assert!(!other.join(".cwfix").exists());

    // A third place, with the state from a config file.
    let third = elsewhere(&moto, "third-machine");
    let config = third.join("cwfix.toml");
    std::fs::write(&config, format!("state_dir = \"{STATE}\"\n")).unwrap();
    let listed = run_in(&moto, &third, &["runs", "-o", "json"], &[("CWFIX_CONFIG", config.to_str().unwrap())]).json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed:#}");
    assert_eq!(listed[1]["kind"], "rollback");
    assert_eq!(listed[1]["rolls_back"], id.as_str());
    // The same rollback again, with the flag: nothing left to do.
    let again = run_in(&moto, &third, &["rollback", &id, "--yes", "--state-dir", STATE], &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("Nothing to roll back."), "{again:?}");

    // Every object is encrypted (SSE-S3) and private; the lock is gone.
    let objects = objects(&moto);
    let keys: Vec<&str> = objects.iter().map(|o| o.0.as_str()).collect();
    let plan = format!("team/cwfix/runs/{id}/plan.json");
    let first = format!("team/cwfix/runs/{id}/journal/000001.json");
    assert!(keys.contains(&plan.as_str()) && keys.contains(&first.as_str()), "{keys:?}");
    assert!(!keys.iter().any(|k| k.ends_with("/lock")), "{keys:?}");
    for (k, sse, _, _) in &objects {
        assert_eq!(sse, "AES256", "{k}");
    }
    for k in [&plan, &first] {
        assert_eq!(head(&moto, k)["ServerSideEncryption"], "AES256", "{k}");
    }
    let acl = aws_json(&moto, &["s3api", "get-object-acl", "--bucket", BUCKET, "--key", &first]);
    let grants = acl["Grants"].as_array().unwrap();
    assert!(
        grants.iter().all(|g| g["Grantee"]["Type"] == "CanonicalUser" && g["Permission"] == "FULL_CONTROL"),
        "only the owner may use a journal: {acl:#}"
    );
    // Each record is one journal line; in order, they are a local journal.jsonl.
    let journal: Vec<Value> = objects
        .iter()
        .filter(|o| o.0.starts_with(&format!("team/cwfix/runs/{id}/journal/")))
        .map(|(k, _, _, body)| {
            let text = String::from_utf8(body.clone()).unwrap();
            assert!(text.ends_with('\n') && text.trim_end().lines().count() == 1, "{k}: {text}");
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    assert_eq!(journal[0]["type"], "header");
    assert_eq!(journal.len(), 1 + 2 * 32 + 1, "header, intent and done per change, end");
    assert_eq!(journal.last().unwrap()["type"], "end");
}

#[test]
fn of_two_concurrent_applies_one_takes_the_lock_and_the_other_names_it() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    make_bucket(&moto);
    // Slow CloudWatch Logs down so the winner holds the lock for seconds.
    moto.set_faults(json!({"delay_ms": 200, "services": ["logs"]}));
    let spawn = |dir: &str| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cwfix"));
        apply_aws_env(&mut cmd, &moto);
        cmd.current_dir(elsewhere(&moto, dir))
            .args(["apply", "--yes", "--subscribe", SUB, "--state-dir", STATE])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cwfix")
    };
    let (a, b) = (spawn("ci-job-a"), spawn("ci-job-b"));
    let pids = [a.id(), b.id()];
    let outs: Vec<Out> = [a, b]
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            Out {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            }
        })
        .collect();
    moto.set_faults(json!({}));
    let mut codes: Vec<i32> = outs.iter().map(|o| o.code).collect();
    codes.sort();
    assert_eq!(codes, [0, 1], "exactly one run may take the lock: {:?} / {:?}", outs[0], outs[1]);
    let w = outs.iter().position(|o| o.code == 0).unwrap();
    let (winner, loser) = (&outs[w], &outs[1 - w]);
    let id = run_id_of(winner);
    let e = &loser.stderr;
    assert!(e.contains("another cwfix run holds the lock `s3://cwfix-state/team/cwfix/lock`"), "{loser:?}");
    assert!(e.contains(&format!("pid {} on ", pids[w])) && e.contains(&format!("run {id}, since 20")), "{loser:?}");
    assert!(e.contains("hint: if that run is still going, wait for it; if it died"), "{loser:?}");
    assert!(!e.contains("panicked"), "{loser:?}");
    assert!(loser.stdout.is_empty(), "the loser stopped before planning: {loser:?}");
    let runs = run(&moto, &["runs", "--state-dir", STATE, "-o", "json"]).json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs:#}");
    assert!(!keys(&moto).iter().any(|k| k.ends_with("/lock")), "the winner released the lock");
}

#[test]
fn a_crashed_run_leaves_its_journal_and_lock_and_rollback_finishes_after_unlock() {
    let moto = Moto::start();
    small_baseline(moto.workdir());
    moto.seed(&trail_scenario());
    make_bucket(&moto);
    let before = moto.dump();
    let crashed = run_env(
        &moto,
        &["apply", "--yes", "--baseline", "small.toml", "--subscribe", SUB, "--state-dir", STATE],
        &[("CWFIX_TEST_CRASH", "after-intent:3")],
    );
    assert_ne!(crashed.code, 0, "{crashed:?}");

    let other = elsewhere(&moto, "on-call-laptop");
    let flag = ["--state-dir", STATE];
    let runs = run_in(&moto, &other, &[&["runs", "-o", "json"][..], &flag].concat(), &[]).json();
    assert_eq!(runs[0]["status"], "incomplete", "{runs:#}");
    assert_eq!(runs[0]["changes"], 3);
    let id = runs[0]["run_id"].as_str().unwrap().to_string();
    let show = run_in(&moto, &other, &[&["runs", "show", &id][..], &flag].concat(), &[]);
    assert!(show.stdout.contains("#3 intent") && !show.stdout.contains("#3 done"), "{show:?}");

    // The dead run's lock stays in S3: rollback names it and says how to remove it.
    let refused = run_in(&moto, &other, &[&["rollback", &id, "--yes"][..], &flag].concat(), &[]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains(&format!("run {id}, since")), "{refused:?}");
    assert!(refused.stderr.contains("that process no longer runs on this host"), "{refused:?}");
    assert!(refused.stderr.contains(&format!("cwfix runs unlock {id} --yes --state-dir {STATE}")), "{refused:?}");

    let unlock = |args: &[&str]| run_in(&moto, &other, &[&["runs", "unlock"][..], args, &flag].concat(), &[]);
    let no_yes = unlock(&[&id]);
    assert_eq!(no_yes.code, 1, "{no_yes:?}");
    assert!(no_yes.stderr.contains("refusing to remove the lock") && no_yes.stderr.contains("hint:"), "{no_yes:?}");
    let wrong = unlock(&["20990101T000000Z-0000", "--yes"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(wrong.stderr.contains("names another run (pid"), "{wrong:?}");
    assert!(wrong.stderr.contains(&format!("run {id}, since")), "{wrong:?}");
    assert!(wrong.stderr.contains("hint: name the run the lock names"), "{wrong:?}");
    let removed = unlock(&[&id, "--yes"]);
    assert_eq!(removed.code, 0, "{removed:?}");
    assert!(removed.stdout.contains("Removed the lock") && removed.stdout.contains(&id), "{removed:?}");
    let none = unlock(&[&id, "--yes"]);
    assert_eq!(none.code, 0, "{none:?}");
    assert!(none.stdout.contains("No lock in"), "{none:?}");

    let rb = run_in(&moto, &other, &[&["rollback", &id, "--yes"][..], &flag].concat(), &[]);
    assert_eq!(rb.code, 0, "{rb:?}");
    assert_eq!(moto.dump(), before, "the crashed run is undone");
}

#[test]
fn objects_are_encrypted_with_the_kms_key_given() {
    let moto = Moto::start();
    small_baseline(moto.workdir());
    moto.seed(&trail_scenario());
    make_bucket(&moto);
    let key = aws_json(&moto, &["kms", "create-key"])["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let out = run(
        &moto,
        &[
            "apply",
            "--yes",
            "--baseline",
            "small.toml",
            "--subscribe",
            SUB,
            "--state-dir",
            STATE,
            "--state-kms-key",
            &key,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let objects = objects(&moto);
    assert!(objects.len() > 3, "{:?}", objects.iter().map(|o| &o.0).collect::<Vec<_>>());
    for (k, sse, kms, _) in &objects {
        assert_eq!((sse.as_str(), kms.as_deref()), ("aws:kms", Some(key.as_str())), "{k}");
    }
    let h = head(&moto, &objects[0].0);
    assert_eq!((&h["ServerSideEncryption"], &h["SSEKMSKeyId"]), (&json!("aws:kms"), &json!(key)), "{h:#}");
    let runs = run(&moto, &["runs", "--state-dir", STATE, "-o", "json"]).json();
    assert_eq!(runs[0]["status"], "completed", "{runs:#}");
}

#[test]
fn state_errors_are_one_paragraph_with_a_hint() {
    let moto = Moto::start();
    moto.seed(&trail_scenario());
    let before = moto.dump();
    let one_paragraph = |o: &Out| {
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stderr.starts_with("error: "), "{o:?}");
        assert!(o.stderr.lines().count() <= 4, "{o:?}");
        assert!(o.stderr.lines().last().unwrap().starts_with("hint: "), "{o:?}");
        assert!(!o.stderr.contains("panicked") && !o.stderr.contains("DispatchFailure"), "{o:?}");
    };

    let missing = run(&moto, &["runs", "--state-dir", "s3://no-such-bucket/cwfix"]);
    one_paragraph(&missing);
    assert!(missing.stderr.contains("cannot use state `s3://no-such-bucket/cwfix`"), "{missing:?}");
    assert!(missing.stderr.contains("bucket `no-such-bucket` does not exist"), "{missing:?}");
    assert!(missing.stderr.contains("hint: create the bucket"), "{missing:?}");
    let apply_missing = run(&moto, &["apply", "--yes", "--subscribe", SUB, "--state-dir", "s3://no-such-bucket/x"]);
    one_paragraph(&apply_missing);

    make_bucket(&moto);
    moto.set_faults(json!({"deny": ["s3:PUT"]}));
    let denied = run(&moto, &["apply", "--yes", "--subscribe", SUB, "--state-dir", STATE]);
    one_paragraph(&denied);
    assert!(denied.stderr.contains("`s3:PutObject` was denied"), "{denied:?}");
    assert!(denied.stderr.contains(&format!("cwfix iam-policy --for apply --state-dir {STATE}")), "{denied:?}");
    assert_eq!(moto.dump(), before, "nothing is written to AWS without a lock");
    moto.set_faults(json!({}));

    let bad = run(&moto, &["runs", "--state-dir", "gs://bucket/cwfix"]);
    one_paragraph(&bad);
    assert!(bad.stderr.contains("invalid state location `gs://bucket/cwfix`"), "{bad:?}");

    let config = moto.tmp().join("bad.toml");
    std::fs::write(&config, "state_directory = \"s3://x/y\"\n").unwrap();
    let typo = run_env(&moto, &["runs"], &[("CWFIX_CONFIG", config.to_str().unwrap())]);
    one_paragraph(&typo);
    assert!(typo.stderr.contains("invalid config file") && typo.stderr.contains("state_directory"), "{typo:?}");

    // The policy a state in S3 needs, scoped to its bucket and prefix.
    let policy = run(&moto, &["iam-policy", "--for", "apply", "--state-dir", STATE]).json();
    let text = policy.to_string();
    for a in ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
        assert!(text.contains(a), "{a}: {policy:#}");
    }
    assert!(text.contains("arn:aws:s3:::cwfix-state/team/cwfix/lock"), "{policy:#}");
    let default = run(&moto, &["iam-policy", "--for", "apply"]).stdout;
    assert!(!default.contains("s3:"), "{default}");
}

/// moto 5.2.1 already honours `If-None-Match: *` on PutObject as S3 does (412
/// PreconditionFailed when the key exists), which the S3 lock relies on: no launcher patch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testbed_s3_put_object_if_none_match_is_conditional() {
    let moto = Moto::start();
    let s3 = aws_sdk_s3::Client::new(&sdk_config(&moto).await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let put = |body: &'static str| {
        s3.put_object().bucket(BUCKET).key("lock").if_none_match("*").body(body.as_bytes().to_vec().into()).send()
    };
    put("first").await.expect("the first conditional put creates the key");
    let err = put("second").await.expect_err("the key exists");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(412));
    assert_eq!(err.code(), Some("PreconditionFailed"));
    let got = s3.get_object().bucket(BUCKET).key("lock").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"first");
}
