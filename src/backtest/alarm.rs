//! The alarm model: from matches per period to the periods in which the alarm is in ALARM.
//!
//! Owns the simulation only. Simplifications (documented in docs/backtest.md): the metric filter
//! publishes 1 per match and nothing for a period without matches (no default value);
//! `treat_missing_data = missing | ignore` are treated as `notBreaching` (CloudWatch would keep
//! the previous state); `breaching` is honoured over the corpus' time range; datapoints to alarm
//! = evaluation periods.

use std::collections::HashMap;

use crate::baseline::AlarmSettings;

/// The largest number of periods walked one by one when missing data counts as breaching.
const DENSE_CAP: i64 = 20_000_000;

/// One period in which the alarm is in ALARM.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmWindow {
    /// Start of the period, seconds since the epoch (UTC).
    pub start: i64,
    /// The metric's statistic in that period (0 when there was no datapoint).
    pub value: f64,
}

/// The alarm simulation for one control.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmSim {
    /// Every period whose evaluation puts the alarm in ALARM, in time order.
    pub windows: Vec<AlarmWindow>,
    /// How many times the alarm enters ALARM (a run of consecutive ALARM periods counts once).
    pub transitions: u64,
}

/// The statistic of a period with `c` matches: `Sum` and `SampleCount` are the count;
/// `Average`, `Minimum` and `Maximum` are 1 when there was a match.
fn statistic(a: &AlarmSettings, c: u64) -> f64 {
    match a.statistic.as_str() {
        "Average" | "Minimum" | "Maximum" => f64::from(u8::from(c > 0)),
        _ => c as f64,
    }
}

/// Does a period with statistic `v` breach?
fn breaches(a: &AlarmSettings, v: f64) -> bool {
    match a.comparison_operator.as_str() {
        "GreaterThanThreshold" => v > a.threshold,
        "LessThanThreshold" => v < a.threshold,
        "LessThanOrEqualToThreshold" => v <= a.threshold,
        _ => v >= a.threshold, // GreaterThanOrEqualToThreshold
    }
}

/// Simulate the alarm over the metric the filter would have published.
///
/// `counts` holds matches per period (key: period start / period length). A period breaches when
/// `statistic <op> threshold`; a period without data breaches only with `treat_missing_data =
/// breaching`. The alarm is in ALARM for a period when that period and the `evaluation_periods -
/// 1` before it all breach. `range` (first and last period of the corpus) bounds the walk over
/// periods without data.
pub fn simulate(counts: &HashMap<i64, u64>, range: Option<(i64, i64)>, a: &AlarmSettings) -> AlarmSim {
    let need = i64::from(a.evaluation_periods.max(1));
    let period = i64::from(a.period.max(1));
    let mut sim = AlarmSim::default();
    let mut run = 0;
    let mut step = |p: i64, breach: bool, v: f64, contiguous: bool| {
        run = match (breach, contiguous) {
            (false, _) => 0,
            (true, true) => run + 1,
            (true, false) => 1,
        };
        if run >= need {
            sim.transitions += u64::from(run == need);
            sim.windows.push(AlarmWindow { start: p * period, value: v });
        }
    };
    match range {
        Some((lo, hi)) if a.treat_missing_data == "breaching" && hi - lo <= DENSE_CAP => {
            for p in lo..=hi {
                match counts.get(&p) {
                    Some(&c) => step(p, breaches(a, statistic(a, c)), statistic(a, c), true),
                    None => step(p, true, 0.0, true),
                }
            }
        }
        _ => {
            let mut keys: Vec<i64> = counts.keys().copied().collect();
            keys.sort_unstable();
            let mut prev: Option<i64> = None;
            for p in keys {
                let v = statistic(a, counts[&p]);
                step(p, breaches(a, v), v, prev == Some(p - 1));
                prev = Some(p);
            }
        }
    }
    sim
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(threshold: f64, evaluation_periods: i32) -> AlarmSettings {
        AlarmSettings { threshold, evaluation_periods, ..AlarmSettings::default() }
    }

    #[test]
    fn three_matches_in_one_window_is_one_alarm_window() {
        let counts: HashMap<i64, u64> = [(10, 3)].into_iter().collect();
        let sim = simulate(&counts, Some((10, 10)), &settings(1.0, 1));
        assert_eq!(sim.windows, vec![AlarmWindow { start: 3000, value: 3.0 }]);
        assert_eq!(sim.transitions, 1);
    }

    #[test]
    fn evaluation_periods_need_consecutive_breaches() {
        let counts: HashMap<i64, u64> = [(10, 1), (12, 1), (13, 2), (14, 1), (20, 5)].into_iter().collect();
        let sim = simulate(&counts, Some((10, 20)), &settings(1.0, 2));
        let starts: Vec<i64> = sim.windows.iter().map(|w| w.start / 300).collect();
        assert_eq!(starts, [13, 14]);
        assert_eq!(sim.transitions, 1);
        // Threshold: a period with fewer matches than the threshold does not breach.
        let sim = simulate(&counts, Some((10, 20)), &settings(2.0, 1));
        let starts: Vec<i64> = sim.windows.iter().map(|w| w.start / 300).collect();
        assert_eq!(starts, [13, 20]);
        assert_eq!(sim.transitions, 2);
        // GreaterThanThreshold is strict.
        let a = AlarmSettings { comparison_operator: "GreaterThanThreshold".into(), ..settings(2.0, 1) };
        assert_eq!(simulate(&counts, Some((10, 20)), &a).windows.len(), 1);
        // Average: 1 per period with a match, whatever the count.
        let a = AlarmSettings { statistic: "Average".into(), ..settings(2.0, 1) };
        assert!(simulate(&counts, Some((10, 20)), &a).windows.is_empty());
    }

    #[test]
    fn missing_data_breaching_walks_the_range() {
        let counts: HashMap<i64, u64> = HashMap::new();
        let a = AlarmSettings { treat_missing_data: "breaching".into(), ..settings(1.0, 3) };
        let sim = simulate(&counts, Some((0, 4)), &a);
        assert_eq!(sim.windows.len(), 3);
        assert_eq!(sim.transitions, 1);
        assert!(simulate(&counts, Some((0, 4)), &settings(1.0, 1)).windows.is_empty());
    }
}
