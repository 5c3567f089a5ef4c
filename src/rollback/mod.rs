//! Rollback: one run's journal, inverted into a plan of its own. `observe` reads (once each)
//! the live state of everything the run touched; `invert` is pure and decides, newest write
//! first, what undoing each write takes: restore the definition from before the run, delete
//! what the run created, or leave alone what someone changed since (unless forced) and what
//! the journal cannot prove the run made. The result is a list of [`Change`]s, rendered like a
//! plan and run through `apply::execute` (with the same per-write precondition), so a rollback
//! is journaled as a run of its own and can itself be undone.

mod invert;
mod observe;

use crate::apply::Op;
use crate::aws::{self, CloudApi};
use crate::journal::{Record, RunLog};
use crate::plan::{Change, Resource};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("run `{run}` was made in account {journal}, but the credentials are for account {live}")]
    WrongAccount { run: String, journal: String, live: String },
    #[error("journal of run `{run}` has an unreadable operation at seq {seq}: {message}")]
    BadRecord { run: String, seq: usize, message: String },
    #[error(transparent)]
    Aws(#[from] aws::Error),
}

/// What rollback will do, and what it leaves alone and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollbackPlan {
    pub changes: Vec<Change>,
    /// (address, why) left alone: changed since the run, or not provably the run's; `--force`
    /// undoes them anyway.
    pub skipped: Vec<(String, String)>,
    /// (address, why) already as before the run.
    pub unchanged: Vec<(String, String)>,
}

/// What a journal says about one write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// AWS answered: the write took effect (with what it returned: an ARN, an id).
    Done(Option<Value>),
    /// AWS refused it.
    Failed,
    /// No record: the run died between the intent and the answer.
    Unknown,
}

/// One write of the run, as the journal has it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intent {
    pub seq: usize,
    pub address: String,
    pub region: String,
    pub op: Op,
    pub before: Option<Resource>,
    pub outcome: Outcome,
}

/// The run's writes, newest first.
pub(crate) fn intents(log: &RunLog) -> Result<Vec<Intent>, Error> {
    let bad = |seq: usize, message: String| Error::BadRecord { run: log.header.run_id.clone(), seq, message };
    let mut out = Vec::new();
    for r in &log.records {
        let Record::Intent { seq, address, region, op, before, .. } = r else { continue };
        let op: Op = serde_json::from_value(op.clone()).map_err(|e| bad(*seq, e.to_string()))?;
        let kind = op.target().kind();
        let before = match before {
            None | Some(Value::Null) => None,
            Some(v) => Some(Resource::from_value(kind, v.clone()).map_err(|e| bad(*seq, e.to_string()))?),
        };
        let outcome = match log.done(*seq) {
            Some(Record::Done { result, .. }) => Outcome::Done(result.clone()),
            Some(_) => Outcome::Failed,
            None => Outcome::Unknown,
        };
        out.push(Intent { seq: *seq, address: address.clone(), region: region.clone(), op, before, outcome });
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.seq));
    Ok(out)
}

/// Builds the rollback of `log` against the live state.
pub async fn plan_rollback(api: &impl CloudApi, log: &RunLog, force: bool) -> Result<RollbackPlan, Error> {
    let id = api.caller_identity().await?;
    if id.account != log.header.account {
        return Err(Error::WrongAccount {
            run: log.header.run_id.clone(),
            journal: log.header.account.clone(),
            live: id.account,
        });
    }
    let intents = intents(log)?;
    let observed = observe::observe(api, &intents).await?;
    Ok(invert::invert(&log.header.run_id, &intents, &observed, force))
}

#[cfg(test)]
mod tests;
