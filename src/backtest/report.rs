//! The result of a backtest, and the time and sparkline helpers its renderers use.
//!
//! Owns the report's shape and building it from merged aggregates (alarm simulation included).
//! No output formatting beyond the small helpers (times, days, sparklines) shared by the text and
//! JSON renderers in `cli`. Calendar arithmetic goes through `time`.

use time::macros::format_description;
use time::{Date, Month, OffsetDateTime};

use super::aggregate::{Count, Totals, DAY};
use super::alarm::{simulate, AlarmSim};
use super::source::Unreadable;
use super::Spec;
use crate::baseline::AlarmSettings;

/// The result for one control.
#[derive(Debug, Clone)]
pub struct ControlReport {
    pub id: String,
    pub title: String,
    pub pattern: String,
    /// Records matched.
    pub matched: u64,
    /// Matched records without a readable `eventTime` (counted in `matched`, in no window).
    pub untimed: u64,
    pub alarm: AlarmSim,
    /// Matches per UTC day (day start in seconds since the epoch), every day of the corpus'
    /// time range included, zeros too.
    pub daily: Vec<(i64, u64)>,
    pub top_principals: Vec<Count>,
    pub top_event_names: Vec<Count>,
    pub top_source_ips: Vec<Count>,
}

impl ControlReport {
    pub fn first_alarm(&self) -> Option<i64> {
        self.alarm.windows.first().map(|w| w.start)
    }
    pub fn last_alarm(&self) -> Option<i64> {
        self.alarm.windows.last().map(|w| w.start)
    }
}

/// The whole result.
#[derive(Debug, Clone)]
pub struct Report {
    pub baseline: String,
    pub alarm: AlarmSettings,
    pub jobs: usize,
    /// Files read completely.
    pub files_read: u64,
    /// Files that could not be read (sorted by path); they contribute nothing.
    pub unreadable: Vec<Unreadable>,
    /// Records evaluated (from the files read).
    pub events: u64,
    /// Bytes of (decompressed) input in the files read.
    pub bytes: u64,
    /// Earliest and latest `eventTime` seen (seconds since the epoch).
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub controls: Vec<ControlReport>,
}

/// Counts from the source, for [`build`].
pub(crate) struct Counts {
    pub files_read: u64,
    pub unreadable: Vec<Unreadable>,
    pub events: u64,
    pub bytes: u64,
}

/// Build the report from the merged aggregates.
pub(crate) fn build(spec: &Spec, total: Totals, counts: Counts, jobs: usize, top: usize) -> Report {
    let period = i64::from(spec.alarm.period);
    let span = total.min_t.zip(total.max_t);
    let range = span.map(|(a, b)| (a.div_euclid(period), b.div_euclid(period)));
    let days = span.map(|(a, b)| (a.div_euclid(DAY), b.div_euclid(DAY)));
    let mut aggs = total.controls;
    aggs.resize(spec.controls.len(), Default::default());
    let controls = spec
        .controls
        .iter()
        .zip(aggs)
        .map(|(c, agg)| ControlReport {
            id: c.id.clone(),
            title: c.title.clone(),
            pattern: c.pattern.canonical(),
            matched: agg.matched,
            untimed: agg.untimed,
            alarm: simulate(&agg.periods, range, &spec.alarm),
            daily: days.map_or_else(Vec::new, |(a, b)| {
                (a..=b).map(|d| (d * DAY, agg.days.get(&d).copied().unwrap_or(0))).collect()
            }),
            top_principals: agg.principals.top(top),
            top_event_names: agg.event_names.top(top),
            top_source_ips: agg.ips.top(top),
        })
        .collect();
    Report {
        baseline: spec.baseline.clone(),
        alarm: spec.alarm.clone(),
        jobs,
        files_read: counts.files_read,
        unreadable: counts.unreadable,
        events: counts.events,
        bytes: counts.bytes,
        first_event: total.min_t,
        last_event: total.max_t,
        controls,
    }
}

// ---------------------------------------------------------------------------------------- time

/// Seconds since the epoch of 00:00 UTC on a date.
fn day_start(y: i32, m: u8, d: u8) -> Option<i64> {
    let date = Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// Parse CloudTrail's `eventTime` (`YYYY-MM-DDTHH:MM:SS` then `Z`; fractional seconds or an
/// offset are tolerated and offsets applied) to seconds since the epoch. The digits are read by
/// hand (this runs once per record); the calendar is `time`'s.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |v, &c| c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0')))
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        rest = &rest[1 + n..];
    }
    let offset = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) => {
            let v = i64::from((h1 - b'0') * 10 + (h2 - b'0')) * 3600 + i64::from((m1 - b'0') * 10 + (m2 - b'0')) * 60;
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    Some(day_start(y as i32, mo as u8, d as u8)? + h * 3600 + mi * 60 + sec - offset)
}

fn utc(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(t: i64) -> String {
    utc(t).format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")).unwrap_or_default()
}

/// `YYYY-MM-DD`.
pub fn format_day(t: i64) -> String {
    utc(t).format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

/// A sparkline of `values` at most `width` characters wide (adjacent values summed into one
/// character when there are more), zeros as spaces, the rest scaled to ▁▂▃▄▅▆▇█ by the maximum.
pub fn sparkline(values: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let bins: Vec<u64> = values.chunks(per).map(|c| c.iter().sum()).collect();
    let max = bins.iter().copied().max().unwrap_or(0);
    bins.iter()
        .map(|&v| if v == 0 { ' ' } else { BARS[(((v as f64 / max as f64) * 7.0).round() as usize).min(7)] })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_parsing_and_formatting() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(parse_time("2024-02-29T12:34:56.123Z"), Some(1_709_210_096));
        assert_eq!(parse_time("2024-02-29T13:34:56+01:00"), Some(1_709_210_096));
        assert_eq!(parse_time("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(format_day(1_709_210_096), "2024-02-29");
        for t in [-86_400 * 400, 0, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_time(&format_time(t)), Some(t));
        }
    }

    #[test]
    fn sparkline_scales_and_bins() {
        assert_eq!(sparkline(&[0, 1, 7], 10), " ▂█");
        assert_eq!(sparkline(&[1, 1, 0, 0], 2).chars().count(), 2);
        assert_eq!(sparkline(&[], 10), "");
    }
}
