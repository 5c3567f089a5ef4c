//! State in S3 (`--state-dir s3://BUCKET/PREFIX`), so that a run applied on one machine (a CI
//! job) can be listed and rolled back from any other with access to the bucket.
//!
//! Layout under `PREFIX/`:
//!
//! ```text
//! lock                              {"pid", "host", "run_id", "since", "cwfix_version"}
//! runs/<run-id>/plan.json           as in a local state directory
//! runs/<run-id>/journal/000001.json the header: one journal line (JSON and `\n`) per object,
//! runs/<run-id>/journal/000002.json numbered from 1 like the lines of `journal.jsonl`
//! ```
//!
//! **One object per record, each created with `If-None-Match: *`.** S3 has no append. The
//! other way, rewriting one journal object per record with `If-Match: <etag>`, uploads the whole
//! journal again before every AWS write (quadratic bytes, and more latency on the path of each
//! write) and puts every earlier record at stake in each put. Here a record, once written, is
//! never written again: each put is small, and returns only once S3 has stored the object
//! (durable, and strongly read-after-write consistent), so an intent exists before the AWS
//! write it announces, as the local fsync guarantees. A retry of a put whose answer was lost
//! finds the key taken (412) and is accepted if the stored record is the same bytes. Reading a
//! run lists its records and concatenates them: the same lines as the local `journal.jsonl`,
//! parsed by the same code, so a torn or missing tail is tolerated and a bad record in the
//! middle is corruption; so is a gap in the numbering (a record deleted).
//!
//! **The lock** is created with the same conditional put, so of two runs exactly one gets it;
//! the other reads it and names the holder. It is released by deleting it. A run that dies
//! leaves it (S3 has no process to watch, unlike `flock`): the refusal says so, and
//! `cwfix runs unlock RUN_ID --yes` removes it, only if it still names that run.

use super::{parse_lines, valid_run_id, Error, Header, Holder, Listing, Lock, LockKind, Record, Result, RunLog};
use super::{RunWriter, Sink, Store};
use crate::aws::s3::Objects;
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::Arc;

/// How many objects one command reads at a time.
const PARALLEL_GETS: usize = 16;

/// A state store in one S3 bucket, under one prefix.
#[derive(Clone)]
pub struct S3Store {
    objects: Arc<dyn Objects>,
    /// `""` or `some/prefix/`.
    prefix: String,
}

impl S3Store {
    /// The store under `prefix` (no leading or trailing `/`; empty for the bucket's root).
    pub fn new(objects: Arc<dyn Objects>, prefix: &str) -> S3Store {
        let prefix = prefix.trim_matches('/');
        S3Store { objects, prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") } }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn journal_dir(&self, id: &str) -> String {
        self.key(&format!("runs/{id}/journal/"))
    }

    fn remote(&self, key: &str) -> impl FnOnce(crate::aws::Error) -> Error + '_ {
        let location = self.objects.url(key);
        move |source| Error::Remote { location, source }
    }

    fn holder(&self, body: &[u8]) -> (String, Option<String>) {
        match serde_json::from_slice::<Holder>(body) {
            Ok(h) => (h.to_string(), Some(h.run_id)),
            Err(_) => ("holder unknown: the lock object is not cwfix's".into(), None),
        }
    }

    /// Record number `n` (1-based, like the lines of a local journal) of run `id`.
    fn record_key(&self, id: &str, n: usize) -> String {
        format!("{}{n:06}.json", self.journal_dir(id))
    }
}

impl Store for S3Store {
    fn location(&self) -> String {
        self.objects.url(self.prefix.trim_end_matches('/')).trim_end_matches('/').to_string()
    }

    fn run_location(&self, id: &str) -> String {
        self.objects.url(&self.key(&format!("runs/{id}/")))
    }

    async fn lock(&self, run_id: &str) -> Result<Lock> {
        let key = self.key("lock");
        let body = serde_json::to_vec(&Holder::me(run_id)).unwrap_or_default();
        // Twice at most: the holder may release it between our create and our read.
        for _ in 0..2 {
            if self.objects.create(&key, body.clone()).await.map_err(self.remote(&key))? {
                return Ok(self.held(key, run_id));
            }
            let Some(found) = self.objects.get(&key).await.map_err(self.remote(&key))? else { continue };
            let (holder, holder_run) = self.holder(&found);
            if found == body || holder_run.as_deref() == Some(run_id) {
                // Our own create, answered late and retried by the SDK.
                return Ok(self.held(key, run_id));
            }
            return Err(Error::Locked {
                path: self.objects.url(&key),
                holder,
                run_id: holder_run,
                stays_after_death: true,
            });
        }
        Err(Error::Locked {
            path: self.objects.url(&key),
            holder: "holder unknown: the lock changed hands while it was read".into(),
            run_id: None,
            stays_after_death: true,
        })
    }

    async fn create_run(&self, header: &Header, plan: &Value) -> Result<RunWriter> {
        let id = &header.run_id;
        let plan_key = self.key(&format!("runs/{id}/plan.json"));
        let body = serde_json::to_vec_pretty(plan)
            .map_err(|e| Error::Io { path: self.objects.url(&plan_key), source: e.into() })?;
        if !self.objects.create(&plan_key, body).await.map_err(self.remote(&plan_key))? {
            return Err(Error::Corrupt {
                path: self.objects.url(&plan_key),
                line: 0,
                message: format!("run `{id}` already exists; refusing to write into it"),
            });
        }
        let mut w = RunWriter::new(Sink::Objects(RecordSink { store: self.clone(), run_id: id.clone(), next: 1 }));
        w.append(&Record::Header(header.clone())).await?;
        Ok(w)
    }

    async fn load(&self, id: &str) -> Result<RunLog> {
        let dir = self.journal_dir(id);
        let unknown = || Error::UnknownRun { id: id.into(), dir: self.objects.url(&self.key("runs/")) };
        if !valid_run_id(id) {
            return Err(unknown());
        }
        let keys = self.objects.keys(&dir).await.map_err(self.remote(&dir))?;
        let mut numbers: Vec<usize> =
            keys.iter().filter_map(|k| k.strip_prefix(&dir)?.strip_suffix(".json")?.parse().ok()).collect();
        numbers.sort_unstable();
        if numbers.is_empty() {
            return Err(unknown());
        }
        let corrupt = |line: usize, message: String| Error::Corrupt { path: self.objects.url(&dir), line, message };
        for (i, n) in numbers.iter().enumerate() {
            if *n != i + 1 {
                let missing = self.record_key(id, i + 1);
                return Err(corrupt(i + 1, format!("record `{missing}` is missing (a later one exists)")));
            }
        }
        let bodies: Vec<Result<Option<Vec<u8>>>> = futures_util::stream::iter(numbers.iter().map(|n| {
            let key = self.record_key(id, *n);
            async move { self.objects.get(&key).await.map_err(self.remote(&key)) }
        }))
        .buffered(PARALLEL_GETS)
        .collect()
        .await;
        let mut lines = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.into_iter().enumerate() {
            match body? {
                Some(b) => lines.push(b),
                None => return Err(corrupt(i + 1, "the record was deleted while it was read".into())),
            }
        }
        parse_lines(&self.objects.url(&dir), &lines).map_err(|e| match e {
            // Name the object, not the directory: line N is object N.
            Error::Corrupt { line, message, .. } => {
                Error::Corrupt { path: self.objects.url(&self.record_key(id, line)), line, message }
            }
            other => other,
        })
    }

    async fn list(&self) -> Result<Listing> {
        let runs = self.key("runs/");
        let ids = self.objects.dirs(&runs).await.map_err(self.remote(&runs))?;
        let loaded: Vec<(String, Result<RunLog>)> = futures_util::stream::iter(ids.into_iter().map(|id| async move {
            let r = self.load(&id).await;
            (id, r)
        }))
        .buffered(4)
        .collect()
        .await;
        let mut listing = Listing::default();
        for (id, r) in loaded {
            match r {
                Ok(r) => listing.runs.push(r),
                // The bucket itself failing is not one damaged run.
                Err(e @ Error::Remote { .. }) => return Err(e),
                Err(e) => listing.unreadable.push((id, e.to_string())),
            }
        }
        listing.sort();
        Ok(listing)
    }

    async fn lock_holder(&self) -> Result<Option<String>> {
        let key = self.key("lock");
        Ok(self.objects.get(&key).await.map_err(self.remote(&key))?.map(|b| self.holder(&b).0))
    }

    async fn unlock(&self, run_id: &str) -> Result<Option<String>> {
        let key = self.key("lock");
        let Some(body) = self.objects.get(&key).await.map_err(self.remote(&key))? else { return Ok(None) };
        let (holder, holder_run) = self.holder(&body);
        match holder_run {
            Some(r) if r == run_id => {
                self.objects.delete(&key).await.map_err(self.remote(&key))?;
                Ok(Some(holder))
            }
            other => Err(Error::OtherHolder {
                path: self.objects.url(&key),
                holder,
                holder_run: other.unwrap_or_else(|| "unknown".into()),
                run_id: run_id.to_string(),
            }),
        }
    }
}

impl S3Store {
    fn held(&self, key: String, run_id: &str) -> Lock {
        Lock {
            kind: LockKind::Object { objects: self.objects.clone(), key, run_id: run_id.to_string(), released: false },
        }
    }
}

/// Where a [`RunWriter`] on S3 puts its records: the next numbered object of its run.
pub(super) struct RecordSink {
    store: S3Store,
    run_id: String,
    pub(super) next: usize,
}

impl RecordSink {
    pub(super) fn location(&self) -> String {
        self.store.run_location(&self.run_id)
    }

    /// Stores one line as the next record; returns once S3 has it.
    pub(super) async fn append(&mut self, line: Vec<u8>) -> Result<()> {
        let key = self.store.record_key(&self.run_id, self.next);
        let remote = self.store.remote(&key);
        let created = self.store.objects.create(&key, line.clone()).await.map_err(remote)?;
        if !created {
            // Taken: our own put, answered late and retried (same bytes), or another writer.
            let found = self.store.objects.get(&key).await.map_err(self.store.remote(&key))?;
            if found.as_deref() != Some(&line[..]) {
                return Err(Error::Corrupt {
                    path: self.store.objects.url(&key),
                    line: self.next,
                    message: "another process wrote this record; refusing to go on".into(),
                });
            }
        }
        self.next += 1;
        Ok(())
    }
}
