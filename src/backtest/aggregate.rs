//! Accumulating matches: per batch, per worker, and merged.
//!
//! Owns the counters (matches per alarm period and per day, bounded top-k counters) and their
//! merging. Memory is bounded whatever the corpus: at most [`TOP_CAP`] distinct keys per
//! counter, the rest counted as `(other)`. No I/O and no evaluation here.

use std::collections::HashMap;

/// Distinct keys kept per top-k counter; further distinct keys are counted as "other".
pub const TOP_CAP: usize = 10_000;

/// The seconds of one sparkline bucket (a day).
pub(crate) const DAY: i64 = 86_400;

/// A counted value (principal, event name or source IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub value: String,
    pub count: u64,
}

/// A bounded counter: exact counts for up to `TOP_CAP` distinct keys, the rest in `other`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counter {
    map: HashMap<String, u64>,
    other: u64,
}

impl Counter {
    pub(crate) fn add(&mut self, key: &str, n: u64) {
        if let Some(c) = self.map.get_mut(key) {
            *c += n;
        } else if self.map.len() < TOP_CAP {
            self.map.insert(key.to_string(), n);
        } else {
            self.other += n;
        }
    }

    fn merge(&mut self, o: Counter) {
        for (k, n) in o.map {
            self.add(&k, n);
        }
        self.other += o.other;
    }

    /// The `k` largest counts (ties by value), then `(other)` if there is room.
    pub(crate) fn top(&self, k: usize) -> Vec<Count> {
        let mut v: Vec<(&String, &u64)> = self.map.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut out: Vec<Count> = v.into_iter().take(k).map(|(s, n)| Count { value: s.clone(), count: *n }).collect();
        if self.other > 0 && out.len() < k {
            out.push(Count { value: "(other)".into(), count: self.other });
        }
        out
    }
}

/// Everything counted for one control.
#[derive(Debug, Default, Clone)]
pub(crate) struct ControlAgg {
    pub matched: u64,
    pub untimed: u64,
    /// Matches per alarm period (key: start / period).
    pub periods: HashMap<i64, u64>,
    /// Matches per UTC day (key: start / DAY).
    pub days: HashMap<i64, u64>,
    pub principals: Counter,
    pub event_names: Counter,
    pub ips: Counter,
}

impl ControlAgg {
    fn merge(&mut self, o: ControlAgg) {
        self.matched += o.matched;
        self.untimed += o.untimed;
        for (k, n) in o.periods {
            *self.periods.entry(k).or_default() += n;
        }
        for (k, n) in o.days {
            *self.days.entry(k).or_default() += n;
        }
        self.principals.merge(o.principals);
        self.event_names.merge(o.event_names);
        self.ips.merge(o.ips);
    }
}

/// One match, kept with its batch until the file is known to be good.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub control: usize,
    pub time: Option<i64>,
    pub principal: String,
    pub event_name: String,
    pub ip: String,
}

/// What one batch of records produced.
#[derive(Debug, Default)]
pub(crate) struct BatchAcc {
    pub min_t: Option<i64>,
    pub max_t: Option<i64>,
    pub hits: Vec<Hit>,
}

impl BatchAcc {
    pub(crate) fn saw_time(&mut self, t: i64) {
        self.min_t = Some(self.min_t.map_or(t, |m| m.min(t)));
        self.max_t = Some(self.max_t.map_or(t, |m| m.max(t)));
    }
}

/// One worker's (or the merged) aggregates.
#[derive(Debug, Default, Clone)]
pub(crate) struct Totals {
    pub min_t: Option<i64>,
    pub max_t: Option<i64>,
    pub controls: Vec<ControlAgg>,
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

impl Totals {
    pub(crate) fn new(controls: usize) -> Totals {
        Totals { min_t: None, max_t: None, controls: vec![ControlAgg::default(); controls] }
    }

    /// Fold in one batch of a file read without error.
    pub(crate) fn commit(&mut self, b: BatchAcc, period: i64, controls: usize) {
        if self.controls.len() < controls {
            self.controls.resize(controls, ControlAgg::default());
        }
        self.min_t = min_opt(self.min_t, b.min_t);
        self.max_t = max_opt(self.max_t, b.max_t);
        for h in b.hits {
            let c = &mut self.controls[h.control];
            c.matched += 1;
            match h.time {
                Some(t) => {
                    *c.periods.entry(t.div_euclid(period)).or_default() += 1;
                    *c.days.entry(t.div_euclid(DAY)).or_default() += 1;
                }
                None => c.untimed += 1,
            }
            c.principals.add(&h.principal, 1);
            c.event_names.add(&h.event_name, 1);
            c.ips.add(&h.ip, 1);
        }
    }

    pub(crate) fn merge(&mut self, o: Totals) {
        self.min_t = min_opt(self.min_t, o.min_t);
        self.max_t = max_opt(self.max_t, o.max_t);
        if self.controls.len() < o.controls.len() {
            self.controls.resize(o.controls.len(), ControlAgg::default());
        }
        for (a, b) in self.controls.iter_mut().zip(o.controls) {
            a.merge(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_bounded() {
        let mut c = Counter::default();
        for i in 0..TOP_CAP + 5 {
            c.add(&i.to_string(), 1);
        }
        c.add("0", 1);
        assert_eq!(c.map.len(), TOP_CAP);
        assert_eq!(c.other, 5);
        assert_eq!(c.top(1), vec![Count { value: "0".into(), count: 2 }]);
    }

    fn hit(control: usize, time: Option<i64>, who: &str) -> Hit {
        Hit { control, time, principal: who.into(), event_name: "E".into(), ip: "1.2.3.4".into() }
    }

    #[test]
    fn commit_and_merge_add_up() {
        let mut a = Totals::new(2);
        let mut b1 = BatchAcc::default();
        b1.saw_time(600);
        b1.saw_time(100);
        b1.hits = vec![hit(0, Some(100), "x"), hit(0, Some(299), "y"), hit(1, None, "x")];
        a.commit(b1, 300, 2);
        let mut b = Totals::new(2);
        let mut b2 = BatchAcc::default();
        b2.saw_time(90_000);
        b2.hits = vec![hit(0, Some(90_000), "x")];
        b.commit(b2, 300, 2);
        a.merge(b);
        assert_eq!((a.min_t, a.max_t), (Some(100), Some(90_000)));
        let c = &a.controls[0];
        assert_eq!(c.matched, 3);
        assert_eq!(c.periods[&0], 2);
        assert_eq!(c.days[&0], 2);
        assert_eq!(c.days[&1], 1);
        assert_eq!(c.principals.top(1), vec![Count { value: "x".into(), count: 2 }]);
        assert_eq!((a.controls[1].matched, a.controls[1].untimed), (1, 1));
    }
}
