//! The journal's rules, on the local directory and on S3 (an in-memory bucket): the same
//! contract runs against both stores, then each store's own failure modes.

use super::*;
use crate::aws::s3::Memory;
use crate::journal::s3::S3Store;
use std::fs::OpenOptions;

fn header(id: &str) -> Header {
    Header {
        run_id: id.into(),
        kind: RunKind::Apply,
        rolls_back: None,
        account: "123456789012".into(),
        regions: vec!["us-east-1".into()],
        baseline: "cis-v7.0".into(),
        baseline_hash: "h".into(),
        cwfix_version: "0".into(),
        started_at: now(),
    }
}

fn intent(seq: usize) -> Record {
    Record::Intent {
        seq,
        address: "a".into(),
        region: "us-east-1".into(),
        op: serde_json::json!({"op":"x"}),
        before: None,
        at: now(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn s3_store() -> (Arc<Memory>, S3Store) {
    let mem = Arc::new(Memory::default());
    let store = S3Store::new(mem.clone(), "team/cwfix/");
    (mem, store)
}

/// What every store must do.
async fn contract(store: &impl Store) {
    // Lock: exclusive, names its holder, free again once released.
    let lock = store.lock("one").await.unwrap();
    match store.lock("two").await {
        Err(Error::Locked { holder, .. }) => {
            assert!(holder.contains("run one"), "{holder}");
            assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("two runs hold the lock"),
    }
    assert!(store.lock_holder().await.unwrap().unwrap().contains("run one"));

    // Runs: written record by record, read back in order, listed oldest first.
    let mut w = store.create_run(&header("r1"), &serde_json::json!({"x": 1})).await.unwrap();
    let seq = w.next_seq();
    w.append(&intent(seq)).await.unwrap();
    w.append(&Record::Done { seq, result: None, at: now() }).await.unwrap();
    drop(w);
    let log = store.load("r1").await.unwrap();
    assert_eq!(log.header.run_id, "r1");
    assert_eq!(log.intents(), 1);
    assert!(log.done(1).is_some());
    assert_eq!(log.status(), RunStatus::Incomplete);
    assert!(!log.torn_tail);
    let mut w = store.create_run(&header("r2"), &serde_json::json!({})).await.unwrap();
    w.append(&Record::End { status: "completed".into(), applied: 0, failed: 0, at: now() }).await.unwrap();
    let listing = store.list().await.unwrap();
    let ids: Vec<&str> = listing.runs.iter().map(|r| r.header.run_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2"]);
    assert_eq!(listing.runs[1].status(), RunStatus::Completed);
    assert!(listing.unreadable.is_empty());

    // Unknown and unsafe run ids.
    assert!(matches!(store.load("nope").await, Err(Error::UnknownRun { .. })));
    assert!(matches!(store.load("../x").await, Err(Error::UnknownRun { .. })));
    assert!(matches!(store.load("").await, Err(Error::UnknownRun { .. })));

    lock.release().await.unwrap();
    assert_eq!(store.lock_holder().await.unwrap(), None);
    store.lock("three").await.unwrap().release().await.unwrap();
}

#[test]
fn local_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    block_on(contract(&StateDir::new(dir.path().join(".cwfix"))));
}

#[test]
fn s3_store_keeps_the_contract() {
    let (mem, store) = s3_store();
    block_on(contract(&store));
    // The layout docs/json-format.md describes.
    let keys: Vec<String> = mem.objects.lock().unwrap().keys().cloned().collect();
    assert!(keys.contains(&"team/cwfix/runs/r1/plan.json".to_string()), "{keys:?}");
    assert!(keys.contains(&"team/cwfix/runs/r1/journal/000003.json".to_string()), "{keys:?}");
    assert!(!keys.iter().any(|k| k.ends_with("/lock")), "released locks are deleted: {keys:?}");
    assert_eq!(store.location(), "s3://memory/team/cwfix");
}

#[test]
fn any_store_delegates() {
    let (_mem, store) = s3_store();
    block_on(contract(&AnyStore::S3(store)));
    let dir = tempfile::tempdir().unwrap();
    block_on(contract(&AnyStore::Local(StateDir::new(dir.path()))));
}

#[test]
fn write_read_roundtrip_and_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(dir.path().join(".cwfix"));
    let _lock = sd.lock("r1").unwrap();
    let mut w = sd.create_run(&header("r1"), &serde_json::json!({"x": 1})).unwrap();
    let seq = w.next_seq();
    block_on(w.append(&intent(seq))).unwrap();
    drop(w);
    // Simulate a death mid-write.
    let p = dir.path().join(".cwfix/runs/r1/journal.jsonl");
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"{\"type\":\"done\",\"se").unwrap();
    let log = sd.load("r1").unwrap();
    assert!(log.torn_tail);
    assert_eq!(log.intents(), 1);
    assert_eq!(log.status(), RunStatus::Incomplete);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let d = dir.path().join(".cwfix/runs/r1");
        assert_eq!(std::fs::metadata(d).unwrap().permissions().mode() & 0o777, 0o700);
    }
}

#[test]
fn corrupt_middle_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(dir.path());
    let w = sd.create_run(&header("r2"), &serde_json::json!({})).unwrap();
    drop(w);
    let p = dir.path().join("runs/r2/journal.jsonl");
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"garbage\n{\"type\":\"end\",\"status\":\"completed\",\"applied\":0,\"failed\":0,\"at\":\"x\"}\n")
        .unwrap();
    let err = sd.load("r2").unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    // One damaged journal does not hide the others.
    sd.create_run(&header("r3"), &serde_json::json!({})).unwrap();
    let listing = sd.list().unwrap();
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(listing.unreadable[0].0, "r2");
}

#[test]
fn second_lock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(dir.path());
    let _a = sd.lock("one").unwrap();
    let err = sd.lock("two").err().unwrap();
    assert!(err.to_string().contains("run one"), "{err}");
    assert!(
        matches!(err, Error::Locked { run_id: Some(ref r), stays_after_death: false, .. } if r == "one"),
        "{err:?}"
    );
    // A lock a live process holds is never removed by `runs unlock`.
    assert!(matches!(block_on(Store::unlock(&sd, "one")), Err(Error::Locked { .. })));
}

#[test]
fn a_dropped_local_lock_is_free_and_leaves_no_holder() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(dir.path());
    drop(sd.lock("one").unwrap());
    assert_eq!(sd.lock_holder().unwrap(), None);
    assert_eq!(block_on(Store::unlock(&sd, "one")).unwrap(), None);
    sd.lock("two").unwrap();
}

#[cfg(unix)]
#[test]
fn unsafe_state_directories_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(StateDir::new(&open).lock("r"), Err(Error::Unsafe { .. })));
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    assert!(matches!(StateDir::new(&link).lock("r"), Err(Error::Unsafe { .. })));
}

#[test]
fn unknown_run() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::new(dir.path());
    assert!(matches!(sd.load("nope"), Err(Error::UnknownRun { .. })));
    assert!(matches!(sd.load("../x"), Err(Error::UnknownRun { .. })));
}

#[test]
fn run_ids_and_times_sort_by_time() {
    let id = new_run_id();
    assert_eq!(id.len(), "20261123T141023Z-7f3a".len());
    assert!(id.starts_with("20"));
    // Fixed width, so a time on a whole second does not sort after the next millisecond.
    let t = now();
    assert_eq!(t.len(), "2026-11-23T14:10:23.040Z".len(), "{t}");
    assert!(time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok(), "{t}");
}

#[test]
fn locations() {
    let p = |s: &str| Location::parse(Path::new(s));
    assert_eq!(p(".cwfix").unwrap(), Location::Dir(".cwfix".into()));
    assert_eq!(p("/var/lib/cwfix").unwrap(), Location::Dir("/var/lib/cwfix".into()));
    assert_eq!(p("s3://my-bucket").unwrap(), Location::S3 { bucket: "my-bucket".into(), prefix: "".into() });
    let l = p("s3://my-bucket/team/cwfix/").unwrap();
    assert_eq!(l, Location::S3 { bucket: "my-bucket".into(), prefix: "team/cwfix".into() });
    assert_eq!(l.to_string(), "s3://my-bucket/team/cwfix");
    for bad in ["s3://", "s3://B", "s3://ab", "s3://bucket/a//b", "s3://bucket/../x", "gs://bucket/x", "https://x"] {
        assert!(matches!(p(bad), Err(Error::Location { .. })), "{bad}");
    }
}

#[test]
fn s3_records_are_one_object_each_and_read_back_as_journal_lines() {
    let (mem, store) = s3_store();
    block_on(async {
        let mut w = store.create_run(&header("r1"), &serde_json::json!({})).await.unwrap();
        let seq = w.next_seq();
        w.append(&intent(seq)).await.unwrap();
    });
    let objects = mem.objects.lock().unwrap();
    let first = &objects["team/cwfix/runs/r1/journal/000001.json"];
    let second = &objects["team/cwfix/runs/r1/journal/000002.json"];
    assert!(first.ends_with(b"\n") && second.ends_with(b"\n"));
    assert!(String::from_utf8_lossy(first).starts_with("{\"type\":\"header\""));
    assert!(String::from_utf8_lossy(second).starts_with("{\"type\":\"intent\""));
}

#[test]
fn s3_a_missing_tail_is_tolerated_but_a_gap_or_a_bad_record_in_the_middle_is_corruption() {
    let (mem, store) = s3_store();
    block_on(async {
        let mut w = store.create_run(&header("r1"), &serde_json::json!({})).await.unwrap();
        for _ in 0..3 {
            let seq = w.next_seq();
            w.append(&intent(seq)).await.unwrap();
        }
    });
    let key = |n: usize| format!("team/cwfix/runs/r1/journal/{n:06}.json");
    // A torn last record (cannot happen on S3, whose puts are atomic, but read like a file).
    mem.objects.lock().unwrap().insert(key(5), b"{\"type\":\"done\",\"se".to_vec());
    let log = block_on(store.load("r1")).unwrap();
    assert!(log.torn_tail);
    assert_eq!(log.intents(), 3);
    // A bad record in the middle.
    mem.objects.lock().unwrap().insert(key(3), b"garbage\n".to_vec());
    let err = block_on(store.load("r1")).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("000003.json"), "{err}");
    // A gap: a record deleted.
    mem.objects.lock().unwrap().remove(&key(3));
    let err = block_on(store.load("r1")).unwrap_err().to_string();
    assert!(err.contains("000003.json` is missing"), "{err}");
    // The damaged run is listed as unreadable, not hiding the others.
    block_on(store.create_run(&header("r2"), &serde_json::json!({}))).unwrap();
    let listing = block_on(store.list()).unwrap();
    assert_eq!(listing.runs.len(), 1);
    assert_eq!(listing.unreadable[0].0, "r1");
}

#[test]
fn s3_a_record_is_never_overwritten() {
    let (mem, store) = s3_store();
    let mut w = block_on(store.create_run(&header("r1"), &serde_json::json!({}))).unwrap();
    // Someone else wrote the next record: the writer stops rather than overwrite or skip it.
    mem.objects.lock().unwrap().insert("team/cwfix/runs/r1/journal/000002.json".into(), b"{}\n".to_vec());
    let err = block_on(w.append(&intent(1))).unwrap_err().to_string();
    assert!(err.contains("another process wrote this record"), "{err}");
    // The same bytes already there (a put retried after its answer was lost) are accepted.
    let line = {
        let mut l = serde_json::to_vec(&intent(1)).unwrap();
        l.push(b'\n');
        l
    };
    mem.objects.lock().unwrap().insert("team/cwfix/runs/r1/journal/000002.json".into(), line.clone());
    let mut sink = match w.sink {
        Sink::Objects(s) => s,
        Sink::File { .. } => unreachable!(),
    };
    block_on(sink.append(line)).unwrap();
    assert_eq!(sink.next, 3);
    // A run id that exists already is refused, not appended to.
    assert!(block_on(store.create_run(&header("r1"), &serde_json::json!({}))).is_err());
}

#[test]
fn s3_a_failing_bucket_stops_the_writer_and_says_where() {
    let (mem, store) = s3_store();
    let mut w = block_on(store.create_run(&header("r1"), &serde_json::json!({}))).unwrap();
    *mem.creates_left.lock().unwrap() = Some(0);
    let err = block_on(w.append(&intent(1))).unwrap_err();
    assert!(matches!(&err, Error::Remote { location, .. } if location.ends_with("journal/000002.json")), "{err:?}");
}

#[test]
fn s3_a_lock_left_by_a_dead_run_names_it_and_only_unlock_of_that_run_removes_it() {
    let (_mem, store) = s3_store();
    // A run that died: its lock is never released.
    let lock = block_on(store.lock("dead-run")).unwrap();
    std::mem::forget(lock);
    match block_on(store.lock("next")) {
        Err(Error::Locked { run_id, stays_after_death, holder, path }) => {
            assert_eq!(run_id.as_deref(), Some("dead-run"));
            assert!(stays_after_death);
            assert!(holder.contains(&hostname()), "{holder}");
            assert_eq!(path, "s3://memory/team/cwfix/lock");
        }
        other => panic!("{:?}", other.err()),
    }
    assert!(matches!(block_on(store.unlock("other")), Err(Error::OtherHolder { .. })));
    let removed = block_on(store.unlock("dead-run")).unwrap().unwrap();
    assert!(removed.contains("run dead-run"), "{removed}");
    assert_eq!(block_on(store.unlock("dead-run")).unwrap(), None);
    block_on(block_on(store.lock("next")).unwrap().release()).unwrap();
}

#[test]
fn s3_release_leaves_a_lock_that_is_no_longer_ours() {
    let (mem, store) = s3_store();
    let lock = block_on(store.lock("mine")).unwrap();
    // Removed by `runs unlock`, and taken by another run since.
    block_on(store.unlock("mine")).unwrap();
    let _theirs = block_on(store.lock("theirs")).unwrap();
    block_on(lock.release()).unwrap();
    let held = mem.objects.lock().unwrap()["team/cwfix/lock"].clone();
    assert!(String::from_utf8_lossy(&held).contains("theirs"));
    std::mem::forget(_theirs);
}
