//! Several accounts in one run (`--org`, `--accounts`, repeated `--assume-role`): which
//! accounts of an organization to plan, a bounded runner for per-account work, and the
//! organization plan — every account's plan in order, the accounts that could not be read, and
//! the totals the closing table and the JSON summary show.
//!
//! Pure apart from [`bounded`] (which only polls the futures it is given): no SDK types, no
//! rendering, no terminal. The CLI enters the accounts and renders; `docs/json-format.md`
//! describes the document [`OrgPlan::document`] makes.

use crate::aws::organizations::{OrgAccount, Organizations};
use crate::baseline::Baseline;
use crate::plan::{self, ControlVerdict, Plan, Status};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::BTreeSet;
use std::future::Future;

/// The organization document's own version. 2.0: the list of plans is `accounts` (it was
/// `plans` in 1.1), with `summary` and `errors` added.
pub const FORMAT_VERSION: &str = "2.0";

/// The role `--org` enters member accounts through, unless `--role-name` names another.
pub const DEFAULT_ROLE_NAME: &str = "OrganizationAccountAccessRole";

/// Every account under `ou` (a root or OU id, walked recursively through its child OUs), or of
/// the whole organization; one level of the tree at a time, the parents of a level at once.
pub async fn accounts<O: Organizations>(api: &O, ou: Option<&str>) -> crate::aws::Result<Vec<OrgAccount>> {
    let Some(ou) = ou else { return api.accounts().await };
    let mut out = Vec::new();
    let mut level = vec![ou.to_string()];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while !level.is_empty() {
        let reads = futures_util::future::join_all(
            level.iter().map(|p| async move { (api.accounts_for_parent(p).await, api.units_for_parent(p).await) }),
        )
        .await;
        seen.extend(level.drain(..));
        for (accounts, units) in reads {
            out.extend(accounts?);
            level.extend(units?.into_iter().filter(|u| !seen.contains(u)));
        }
    }
    Ok(out)
}

/// The accounts to plan: ACTIVE ones not excluded, by id, each once.
pub fn select(mut accounts: Vec<OrgAccount>, exclude: &[String]) -> Vec<OrgAccount> {
    accounts.retain(|a| a.is_active() && !exclude.iter().any(|x| x.trim() == a.id));
    accounts.sort();
    accounts.dedup_by(|a, b| a.id == b.id);
    accounts
}

/// Runs `job` over `items`, at most `limit` units of work in flight, an item weighing `weight`
/// units (an account weighs its regions, which it reads at once). Results come in item order.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, weight: usize, limit: usize, job: F) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    let at_once = (limit.max(1) / weight.max(1)).max(1);
    futures_util::stream::iter(items).map(job).buffered(at_once).collect().await
}

/// An account that could not be read (no plan): the role could not be assumed, the caller's
/// identity could not be read, throttling outlasted the retries, ...
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unread {
    pub account: String,
    /// One line: what failed and why.
    pub error: String,
}

/// One account's outcome, in the order the accounts were given.
#[derive(Debug, Clone)]
pub enum Outcome {
    Planned(Box<Plan>),
    Unread(Unread),
}

/// The plans of several accounts.
#[derive(Debug, Clone, Default)]
pub struct OrgPlan {
    pub outcomes: Vec<Outcome>,
}

/// Totals over the organization (the JSON `summary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub accounts: usize,
    pub planned: usize,
    pub unread: usize,
    pub compliant: usize,
    pub changes: usize,
    pub blocked: usize,
    pub unknown: usize,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

/// Control counts of one plan, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub compliant: usize,
    pub changes: usize,
    pub blocked: usize,
    pub unknown: usize,
}

impl Counts {
    pub fn of(p: &Plan) -> Counts {
        let n = |s: Status| p.controls.iter().filter(|c| c.status == s).count();
        Counts {
            compliant: n(Status::Compliant),
            changes: n(Status::Changes),
            blocked: n(Status::Blocked),
            unknown: n(Status::Unknown),
        }
    }
}

/// One line of the closing table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub account: String,
    pub alias: Option<String>,
    /// The plan's counts and `(add, change)`, or the reason it could not be read.
    pub result: Result<(Counts, usize, usize), String>,
    /// The account whose log group carries this one's chain (an organization trail).
    pub monitored_in: Option<String>,
}

impl OrgPlan {
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.outcomes.iter().filter_map(|o| match o {
            Outcome::Planned(p) => Some(p.as_ref()),
            Outcome::Unread(_) => None,
        })
    }

    pub fn unread(&self) -> impl Iterator<Item = &Unread> {
        self.outcomes.iter().filter_map(|o| match o {
            Outcome::Unread(u) => Some(u),
            Outcome::Planned(_) => None,
        })
    }

    /// Whether `p`'s chain lives in another account this run planned (an organization trail):
    /// then that account's plan speaks for it, and `p`'s own `unknown`s do not count.
    pub fn delegated(&self, p: &Plan) -> bool {
        p.monitored_in.as_deref().is_some_and(|owner| self.plans().any(|q| q.account == owner))
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary { accounts: self.outcomes.len(), ..Summary::default() };
        for p in self.plans() {
            let c = Counts::of(p);
            s.planned += 1;
            s.compliant += c.compliant;
            s.changes += c.changes;
            s.blocked += c.blocked;
            s.unknown += c.unknown;
            s.add += p.summary.add;
            s.change += p.summary.change;
            s.destroy += p.summary.destroy;
        }
        s.unread = s.accounts - s.planned;
        s
    }

    pub fn rows(&self) -> Vec<Row> {
        self.outcomes
            .iter()
            .map(|o| match o {
                Outcome::Planned(p) => Row {
                    account: p.account.clone(),
                    alias: p.account_alias.clone(),
                    result: Ok((Counts::of(p), p.summary.add, p.summary.change)),
                    monitored_in: p.monitored_in.clone(),
                },
                Outcome::Unread(u) => {
                    Row { account: u.account.clone(), alias: None, result: Err(u.error.clone()), monitored_in: None }
                }
            })
            .collect()
    }

    /// The organization document: `{"format_version", "accounts": [plan, ...], "summary",
    /// "errors": [{"account", "error"}]}`.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "format_version": FORMAT_VERSION,
            "accounts": self.plans().collect::<Vec<_>>(),
            "summary": self.summary(),
            "errors": self.unread().collect::<Vec<_>>(),
        })
    }

    /// Every plan, and for each account that could not be read a plan whose controls are all
    /// `unknown` with the reason (so findings formats carry it: a SARIF warning, a JUnit error,
    /// an ASFF `WARNING`, a CSV row).
    pub fn plans_for_findings(&self, b: &Baseline, regions: &[String], partition: &str) -> Vec<Plan> {
        self.outcomes
            .iter()
            .map(|o| match o {
                Outcome::Planned(p) => p.as_ref().clone(),
                Outcome::Unread(u) => unread_plan(u, b, regions, partition),
            })
            .collect()
    }
}

/// A plan for an account that could not be read: every control `unknown`, nothing to change.
pub fn unread_plan(u: &Unread, b: &Baseline, regions: &[String], partition: &str) -> Plan {
    let reason = format!("account {} could not be read: {}", u.account, u.error);
    let controls = b
        .controls
        .iter()
        .map(|c| ControlVerdict {
            id: c.id.clone(),
            title: c.title.clone(),
            status: Status::Unknown,
            reason: reason.clone(),
            via: None,
            changes: vec![],
            scanners: Default::default(),
            scanners_now: Default::default(),
            severity: None,
            rationale: None,
            remediation: None,
        })
        .collect();
    Plan {
        format_version: plan::FORMAT_VERSION.into(),
        cwfix_version: env!("CARGO_PKG_VERSION").into(),
        account: u.account.clone(),
        account_alias: None,
        caller_arn: String::new(),
        partition: partition.to_string(),
        regions: regions.to_vec(),
        baseline: plan::BaselineInfo {
            name: b.name.clone(),
            origin: b.origin.clone(),
            hash: b.hash(),
            topic: None,
            subscribe: vec![],
            satisfy: vec![],
        },
        state_fingerprint: String::new(),
        chain: None,
        controls,
        changes: vec![],
        summary: plan::Summary::default(),
        monitored_in: None,
        warnings: vec![],
        relied_on: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Result;
    use std::collections::BTreeMap;

    /// root r-1: acct 1 (mgmt), OU ou-a: acct 2, 3 (suspended), OU ou-a/ou-b: acct 4; OU ou-c: acct 5.
    struct Tree(BTreeMap<&'static str, (Vec<&'static str>, Vec<&'static str>)>);

    fn acct(id: &str) -> OrgAccount {
        let state = if id == "3" { "SUSPENDED" } else { "ACTIVE" };
        OrgAccount { id: id.into(), name: format!("n{id}"), state: state.into() }
    }

    fn tree() -> Tree {
        Tree(BTreeMap::from([
            ("r-1", (vec!["1"], vec!["ou-a", "ou-c"])),
            ("ou-a", (vec!["2", "3"], vec!["ou-b"])),
            ("ou-b", (vec!["4"], vec![])),
            ("ou-c", (vec!["5"], vec![])),
        ]))
    }

    impl Organizations for Tree {
        async fn accounts(&self) -> Result<Vec<OrgAccount>> {
            Ok(self.0.values().flat_map(|(a, _)| a.iter().map(|i| acct(i))).collect())
        }
        async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<OrgAccount>> {
            Ok(self.0[parent].0.iter().map(|i| acct(i)).collect())
        }
        async fn units_for_parent(&self, parent: &str) -> Result<Vec<String>> {
            Ok(self.0[parent].1.iter().map(|s| s.to_string()).collect())
        }
    }

    fn ids(a: &[OrgAccount]) -> Vec<&str> {
        a.iter().map(|a| a.id.as_str()).collect()
    }

    #[tokio::test]
    async fn an_ou_is_walked_recursively_and_only_active_accounts_are_kept() {
        let t = tree();
        assert_eq!(ids(&select(accounts(&t, None).await.unwrap(), &[])), vec!["1", "2", "4", "5"]);
        assert_eq!(ids(&select(accounts(&t, Some("ou-a")).await.unwrap(), &[])), vec!["2", "4"]);
        assert_eq!(ids(&select(accounts(&t, Some("r-1")).await.unwrap(), &["5".into(), " 1".into()])), vec!["2", "4"]);
    }

    #[tokio::test]
    async fn bounded_keeps_order_and_the_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = bounded((0..20).collect(), 4, 8, |i: usize| {
            let (now, peak) = (&now, &peak);
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                i * 10
            }
        })
        .await;
        assert_eq!(out, (0..20).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 2, "8 units at once, 4 per item");
    }

    #[test]
    fn summary_rows_and_the_document() {
        let mut p = crate::render::findings::tests::sample();
        p.account_alias = Some("prod".into());
        let mut member = p.clone();
        member.account = "210987654321".into();
        member.monitored_in = Some(p.account.clone());
        let org = OrgPlan {
            outcomes: vec![
                Outcome::Planned(Box::new(p.clone())),
                Outcome::Planned(Box::new(member.clone())),
                Outcome::Unread(Unread { account: "111122223333".into(), error: "`sts:AssumeRole` was denied".into() }),
            ],
        };
        let s = org.summary();
        assert_eq!((s.accounts, s.planned, s.unread), (3, 2, 1));
        assert_eq!((s.compliant, s.changes, s.blocked, s.unknown, s.add, s.change), (2, 4, 2, 2, 2, 4));
        assert!(org.delegated(&member) && !org.delegated(&p));
        let rows = org.rows();
        assert_eq!(rows[0].alias.as_deref(), Some("prod"));
        assert_eq!(rows[2].result, Err("`sts:AssumeRole` was denied".into()));
        let doc = org.document();
        assert_eq!(doc["format_version"], FORMAT_VERSION);
        assert_eq!(doc["accounts"].as_array().unwrap().len(), 2);
        assert_eq!(doc["errors"][0]["account"], "111122223333");
        assert_eq!(doc["summary"]["unread"], 1);
        let b = crate::baseline::load("cis-v7.0").unwrap();
        let all = org.plans_for_findings(&b, &["us-east-1".into()], "aws");
        assert_eq!(all.len(), 3);
        assert!(all[2].controls.iter().all(|c| c.status == Status::Unknown && c.reason.contains("AssumeRole")));
        assert_eq!(all[2].controls.len(), b.controls.len());
    }
}
