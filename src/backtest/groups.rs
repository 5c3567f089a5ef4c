//! JSON patterns evaluated in groups, each group's results cached by the raw values it reads.
//!
//! Owns the grouping and the caches. Patterns that read the same paths form a group (cis-v7.0's
//! 15 controls make 6: seven read only `eventName`, four `eventSource` and `eventName`, …).
//! For each record, one pass finds where every path's value lies ([`fields::project`], nothing
//! decoded), and each group's *key* is built from those raw bytes ([`fields::group_key`]). The
//! key determines the group's reduced document, hence its patterns' results: a key seen before
//! gives the cached results; a new key builds the group's reduced document, evaluates its
//! patterns with [`Pattern::matches`], and caches the results. So the cache is exact, not a
//! heuristic: it only skips recomputing a pure function on the same input.
//!
//! Caches are per worker thread (no locking), bounded ([`CACHE_CAP`] keys per group), and a
//! group whose keys rarely repeat (one that reads `sourceIPAddress`, say) stops caching after
//! [`PROBATION`] lookups and is evaluated directly on its small reduced document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::fields::{self, PathTree, Slot};
use super::source::Record;
use crate::pattern::{Event, Pattern};

/// Keys cached per group and worker; the cache is emptied when full.
const CACHE_CAP: usize = 16_384;

/// Lookups after which a group that hit less than half the time stops caching.
const PROBATION: u64 = 4_096;

/// Groups beyond this many are not possible (one bit per group in the path tree).
const MAX_GROUPS: usize = 64;

/// Patterns that read the same paths.
struct Group {
    /// Indexes of the patterns (at most 64, one result bit each).
    patterns: Vec<usize>,
    /// The paths they read, for their reduced document.
    tree: PathTree,
}

/// The grouped patterns of one evaluation.
pub(crate) struct Groups {
    /// Every group's paths, numbered, each node marked with the groups that read it.
    tree: PathTree,
    nodes: usize,
    groups: Vec<Group>,
    /// Tells this value's thread-local state from another's.
    id: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Groups {
    /// Group `patterns`; `None` when one needs the whole message (no paths) or there are too
    /// many groups.
    pub(crate) fn new(patterns: &[&Pattern]) -> Option<Groups> {
        let mut by_paths: Vec<(Vec<Vec<String>>, Vec<usize>)> = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let paths = p.needed_paths()?;
            match by_paths.iter_mut().find(|(ps, members)| *ps == paths && members.len() < 64) {
                Some((_, members)) => members.push(i),
                None => by_paths.push((paths, vec![i])),
            }
        }
        if by_paths.len() > MAX_GROUPS {
            return None;
        }
        let mut tree = PathTree::default();
        let mut groups = Vec::new();
        for (g, (paths, members)) in by_paths.into_iter().enumerate() {
            let mut own = PathTree::default();
            for path in &paths {
                tree.add_for(path, g);
                own.add(path);
            }
            groups.push(Group { patterns: members, tree: own });
        }
        let nodes = tree.number();
        Some(Groups { tree, nodes, groups, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) })
    }

    /// Append to `matched` the indexes of the patterns the JSON record matches (ascending), and
    /// return the raw slot of its `eventTime`.
    pub(crate) fn eval(
        &self,
        patterns: &[&Pattern],
        rec: &Record<'_>,
        matched: &mut Vec<usize>,
    ) -> Result<Slot, String> {
        LOCAL.with_borrow_mut(|l| {
            if l.id != self.id {
                *l = Local { id: self.id, slots: Vec::new(), key: Vec::new(), caches: Vec::new() };
                l.caches.resize_with(self.groups.len(), Cache::default);
            }
            l.slots.clear();
            l.slots.resize(self.nodes, Slot::ABSENT);
            let time = fields::project(rec, &self.tree, &mut l.slots)?;
            for (g, group) in self.groups.iter().enumerate() {
                let cache = &mut l.caches[g];
                let mut hit = None;
                if !cache.off {
                    l.key.clear();
                    fields::group_key(rec.bytes, &self.tree, &l.slots, 1 << g, &mut l.key);
                    hit = cache.get(&l.key);
                }
                let bits = match hit {
                    Some(bits) => bits,
                    None => {
                        let bits = group.evaluate(patterns, rec)?;
                        if !cache.off {
                            cache.put(&l.key, bits);
                        }
                        bits
                    }
                };
                matched.extend(group.patterns.iter().enumerate().filter(|(j, _)| bits >> j & 1 == 1).map(|(_, &p)| p));
            }
            matched.sort_unstable();
            Ok(time)
        })
    }
}

impl Group {
    /// Evaluate the group's patterns on its reduced document: one bit per pattern.
    fn evaluate(&self, patterns: &[&Pattern], rec: &Record<'_>) -> Result<u64, String> {
        let doc = fields::extract(rec, &self.tree)?;
        let ev = Event::from_value(Value::Object(doc));
        Ok(self.patterns.iter().enumerate().fold(0, |bits, (j, &p)| bits | u64::from(patterns[p].matches(&ev)) << j))
    }
}

// ---------------------------------------------------------------------------------------- caches

/// One worker's state for the `Groups` it evaluates.
struct Local {
    id: u64,
    slots: Vec<Slot>,
    key: Vec<u8>,
    caches: Vec<Cache>,
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { id: 0, slots: Vec::new(), key: Vec::new(), caches: Vec::new() }) };
}

#[derive(Default)]
struct Cache {
    map: HashMap<Box<[u8]>, u64, BuildHasherDefault<Fx>>,
    lookups: u64,
    hits: u64,
    off: bool,
}

impl Cache {
    fn get(&mut self, key: &[u8]) -> Option<u64> {
        self.lookups += 1;
        let found = self.map.get(key).copied();
        self.hits += u64::from(found.is_some());
        if self.lookups == PROBATION && self.hits * 2 < self.lookups {
            self.off = true;
            self.map = HashMap::default();
        }
        found
    }

    fn put(&mut self, key: &[u8], bits: u64) {
        if self.map.len() >= CACHE_CAP {
            self.map.clear();
        }
        self.map.insert(key.into(), bits);
    }
}

/// A fast non-cryptographic hash (the Firefox/rustc "Fx" mix) for cache keys: they come from the
/// user's own files, so collision attacks are not a concern here.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::split::{Cuts, Splitter};

    fn eval_all(g: &Groups, pats: &[&Pattern], records: &[&[u8]]) -> Vec<Vec<usize>> {
        records
            .iter()
            .map(|r| {
                let mut cuts = Cuts::default();
                Splitter::new().split(r, true, &mut cuts).unwrap();
                let s = &cuts.spans[0];
                let rec =
                    Record::for_test(&r[s.range.clone()], &cuts.fields[s.fields.start as usize..s.fields.end as usize]);
                let mut m = Vec::new();
                g.eval(pats, &rec, &mut m).unwrap();
                m
            })
            .collect()
    }

    /// Cached or not, grouped results equal `Pattern::matches` on the full document, for records
    /// that differ only where a pattern cannot see (and where it can).
    #[test]
    fn cached_results_equal_full_evaluation() {
        let srcs = [
            r#"{ $.eventName = "A" || $.eventName = "B" }"#,
            r#"{ $.eventName = "B" }"#,
            r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }"#,
            r#"{ $.userIdentity.type IS NULL }"#,
            r#"{ $.userIdentity.sessionContext.x = 1 }"#,
            r#"{ $.n > 5 }"#,
            r#"{ $.userIdentity = * }"#,
        ];
        let parsed: Vec<Pattern> = srcs.iter().map(|s| crate::pattern::parse(s).unwrap()).collect();
        let pats: Vec<&Pattern> = parsed.iter().collect();
        let g = Groups::new(&pats).unwrap();
        assert_eq!(g.groups.len(), 6, "the two eventName patterns share a group");
        let records: Vec<&[u8]> = vec![
            br#"{"eventName":"A","userIdentity":{"type":"Root","arn":"x1"},"n":6}"#,
            br#"{"eventName":"A","userIdentity":{"type":"Root","arn":"x2"},"n":6.0}"#,
            br#"{"eventName":"B","userIdentity":{"type":"Root","invokedBy":"s"},"n":"7"}"#,
            br#"{"eventName":"B","userIdentity":{"type":null},"n":[7]}"#,
            br#"{"eventName":"B","userIdentity":"Root"}"#,
            br#"{"eventName":["A"],"userIdentity":[{"type":"Root"}]}"#,
            br#"{"event\u004eame":"A","userIdentity":{"type":"Root","sessionContext":{"x":1}}}"#,
            br#"{"eventName":"A","eventName":"C","userIdentity":{"sessionContext":{"x":"1"},"type":"Ro\u006ft"}}"#,
            br#"{}"#,
        ];
        // Twice: the second round comes from the caches.
        for round in 0..2 {
            let got = eval_all(&g, &pats, &records);
            for (r, m) in records.iter().zip(&got) {
                let full = Event::from_value(serde_json::from_slice(r).unwrap());
                let want: Vec<usize> = (0..pats.len()).filter(|&i| pats[i].matches(&full)).collect();
                assert_eq!(*m, want, "round {round}: {}", String::from_utf8_lossy(r));
            }
        }
    }

    #[test]
    fn rarely_repeating_keys_stop_caching() {
        let p = crate::pattern::parse(r#"{ $.ip != "x" }"#).unwrap();
        let g = Groups::new(&[&p]).unwrap();
        let texts: Vec<String> =
            (0..PROBATION + 10).map(|i| format!(r#"{{"ip":"10.0.{}.{}"}}"#, i / 256, i % 256)).collect();
        let records: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let got = eval_all(&g, &[&p], &records);
        assert!(got.iter().all(|m| m == &[0]));
        LOCAL.with_borrow(|l| assert!(l.caches[0].off && l.caches[0].map.is_empty()));
    }
}
