//! `cwfix backtest`: replay CloudTrail archives against a baseline's controls and tell what
//! each metric filter would have counted and when its alarm would have fired.
//!
//! Owns: walking input paths (files, directories recursively, `-` for stdin), decoding files
//! (gzip detected by magic bytes, the same formats as [`crate::events`]), evaluating every
//! record once against all patterns on worker threads, merging per-worker partial aggregates,
//! and the alarm simulation. No output formatting and no AWS calls here.
//!
//! Performance shape: `jobs` worker threads pull paths from a bounded queue fed by the walker.
//! Each worker holds at most one decompressed file (its buffer is reused) and deserialises the
//! records one at a time, keeping only the top-level properties the patterns read (from
//! [`Pattern::needed_fields`]) plus the few the report needs; everything else is skipped
//! without being materialised. Each kept record becomes one [`Event`] evaluated against every
//! control. A file that fails (truncated gzip, invalid JSON, a record that is not an object)
//! contributes nothing and is listed in [`Report::bad_files`]; it never stops the run.
//!
//! Parity: for any readable file, the number of matches per control equals what
//! `cwfix pattern test PATTERN FILE` counts (same formats, same `Event`, same evaluation).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::baseline::{AlarmSettings, Baseline};
use crate::pattern::{Event, Pattern};

/// Distinct keys kept per top-k counter; further distinct keys are counted as "other".
/// Keeps memory bounded whatever the corpus.
pub const TOP_CAP: usize = 10_000;

/// The seconds of one sparkline bucket (a day).
const DAY: i64 = 86_400;

/// Properties the report reads from every matching record.
const REPORT_FIELDS: [&str; 4] = ["eventTime", "eventName", "sourceIPAddress", "userIdentity"];

/// Why the run as a whole could not happen (bad *files* are not errors: see [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`")]
    Walk {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("no event files found under {0}")]
    NoFiles(String),
    #[error("the baseline's alarm period must be positive (got {0})")]
    BadPeriod(i32),
}

/// One control to evaluate.
#[derive(Debug, Clone)]
pub struct ControlSpec {
    pub id: String,
    pub title: String,
    pub pattern: Pattern,
}

/// What to evaluate: controls and the alarm every control's alarm has.
#[derive(Debug, Clone)]
pub struct Spec {
    pub baseline: String,
    pub controls: Vec<ControlSpec>,
    pub alarm: AlarmSettings,
}

impl Spec {
    pub fn from_baseline(b: &Baseline) -> Spec {
        Spec {
            baseline: b.name.clone(),
            controls: b
                .controls
                .iter()
                .map(|c| ControlSpec { id: c.id.clone(), title: c.title.clone(), pattern: c.pattern.clone() })
                .collect(),
            alarm: b.alarm.clone(),
        }
    }
}

/// Run options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Entries kept in each top-k list of the report.
    pub top: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { jobs: default_jobs(), top: 5 }
    }
}

/// `available_parallelism`, or 1.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

// ---------------------------------------------------------------------------------------- report

/// A file that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFile {
    pub path: String,
    pub error: String,
}

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

/// A counted value (principal, event name or source IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub value: String,
    pub count: u64,
}

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
    /// Files read successfully.
    pub files: u64,
    /// Files that could not be read (sorted by path).
    pub bad_files: Vec<BadFile>,
    /// Records evaluated (from good files).
    pub events: u64,
    /// Bytes of (decompressed) JSON parsed from good files.
    pub bytes: u64,
    /// Earliest and latest `eventTime` seen (seconds since the epoch).
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub controls: Vec<ControlReport>,
}

// ---------------------------------------------------------------------------------------- aggregates

/// A bounded counter: exact counts for up to `TOP_CAP` distinct keys, the rest in `other`.
#[derive(Debug, Default, Clone)]
struct Counter {
    map: HashMap<String, u64>,
    other: u64,
}

impl Counter {
    fn add(&mut self, key: &str, n: u64) {
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

    fn top(&self, k: usize) -> Vec<Count> {
        let mut v: Vec<(&String, &u64)> = self.map.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut out: Vec<Count> = v.into_iter().take(k).map(|(s, n)| Count { value: s.clone(), count: *n }).collect();
        if self.other > 0 && out.len() < k {
            out.push(Count { value: "(other)".into(), count: self.other });
        }
        out
    }
}

#[derive(Debug, Default, Clone)]
struct ControlAgg {
    matched: u64,
    untimed: u64,
    /// Matches per alarm period (key: start / period).
    periods: HashMap<i64, u64>,
    /// Matches per UTC day (key: start / DAY).
    days: HashMap<i64, u64>,
    principals: Counter,
    event_names: Counter,
    ips: Counter,
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

/// One worker's (or the merged) partial result.
#[derive(Debug, Default, Clone)]
struct Partial {
    files: u64,
    bad: Vec<BadFile>,
    events: u64,
    bytes: u64,
    min_t: Option<i64>,
    max_t: Option<i64>,
    controls: Vec<ControlAgg>,
}

impl Partial {
    fn new(n: usize) -> Partial {
        Partial { controls: vec![ControlAgg::default(); n], ..Default::default() }
    }

    fn merge(&mut self, o: Partial) {
        self.files += o.files;
        self.bad.extend(o.bad);
        self.events += o.events;
        self.bytes += o.bytes;
        self.min_t = min_opt(self.min_t, o.min_t);
        self.max_t = max_opt(self.max_t, o.max_t);
        for (a, b) in self.controls.iter_mut().zip(o.controls) {
            a.merge(b);
        }
    }

    /// Fold one successfully read file in.
    fn commit(&mut self, f: &mut FileAcc, period: i64) {
        self.files += 1;
        self.events += f.events;
        self.min_t = min_opt(self.min_t, f.min_t);
        self.max_t = max_opt(self.max_t, f.max_t);
        for h in f.hits.drain(..) {
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
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One match, kept per file until the file is known to be good.
#[derive(Debug)]
struct Hit {
    control: usize,
    time: Option<i64>,
    principal: String,
    event_name: String,
    ip: String,
}

/// The per-file accumulator.
#[derive(Debug, Default)]
struct FileAcc {
    events: u64,
    min_t: Option<i64>,
    max_t: Option<i64>,
    hits: Vec<Hit>,
}

impl FileAcc {
    fn reset(&mut self) {
        self.events = 0;
        self.min_t = None;
        self.max_t = None;
        self.hits.clear();
    }
}

// ---------------------------------------------------------------------------------------- evaluation

/// The patterns plus which top-level properties to keep when deserialising a record.
struct Evaluator<'a> {
    patterns: Vec<&'a Pattern>,
    /// `None`: keep every property (some pattern needs the whole message).
    keep: Option<Vec<String>>,
}

impl<'a> Evaluator<'a> {
    fn new(spec: &'a Spec) -> Evaluator<'a> {
        let patterns: Vec<&Pattern> = spec.controls.iter().map(|c| &c.pattern).collect();
        let mut keep: Option<Vec<String>> = Some(REPORT_FIELDS.iter().map(|s| s.to_string()).collect());
        for p in &patterns {
            match (p.needed_fields(), keep.as_mut()) {
                (Some(f), Some(k)) => k.extend(f),
                _ => keep = None,
            }
        }
        if let Some(k) = keep.as_mut() {
            k.sort();
            k.dedup();
        }
        Evaluator { patterns, keep }
    }

    fn wants(&self, key: &str) -> bool {
        match &self.keep {
            None => true,
            Some(k) => k.iter().any(|x| x == key),
        }
    }

    /// Evaluate one record (already reduced to the kept properties).
    fn record(&self, m: Map<String, Value>, acc: &mut FileAcc) {
        acc.events += 1;
        let time = m.get("eventTime").and_then(Value::as_str).and_then(parse_time);
        if let Some(t) = time {
            acc.min_t = min_opt(acc.min_t, Some(t));
            acc.max_t = max_opt(acc.max_t, Some(t));
        }
        let ev = Event::from_value(Value::Object(m));
        let mut first = true;
        let (mut principal, mut event_name, mut ip) = (String::new(), String::new(), String::new());
        for (i, p) in self.patterns.iter().enumerate() {
            if p.matches(&ev) {
                if first {
                    first = false;
                    let doc = ev.value().unwrap_or(&Value::Null);
                    principal = principal_of(doc);
                    event_name = str_or(doc.get("eventName"), "(none)");
                    ip = str_or(doc.get("sourceIPAddress"), "(none)");
                }
                acc.hits.push(Hit {
                    control: i,
                    time,
                    principal: principal.clone(),
                    event_name: event_name.clone(),
                    ip: ip.clone(),
                });
            }
        }
    }
}

fn str_or(v: Option<&Value>, dflt: &str) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => dflt.to_string(),
        Some(other) => other.to_string(),
    }
}

/// `userIdentity.arn`, or the type for Root (and when there is no ARN, e.g. AWSService, with
/// `invokedBy` when present).
fn principal_of(doc: &Value) -> String {
    let Some(u) = doc.get("userIdentity") else { return "(none)".into() };
    let ty = u.get("type").and_then(Value::as_str);
    if ty == Some("Root") {
        return "Root".into();
    }
    if let Some(arn) = u.get("arn").and_then(Value::as_str) {
        return arn.to_string();
    }
    match (ty, u.get("invokedBy").and_then(Value::as_str)) {
        (Some(t), Some(by)) => format!("{t}:{by}"),
        (Some(t), None) => t.to_string(),
        (None, Some(by)) => by.to_string(),
        (None, None) => "(none)".into(),
    }
}

// ---- streaming deserialisation -----------------------------------------------------------------

/// Shared state of one file's parse.
struct Ctx<'e, 'a> {
    ev: &'e Evaluator<'a>,
    acc: &'e mut FileAcc,
    /// Set when the file needs the exact (non-streaming) reader: an object whose first key is
    /// `Records` but which is not a pure `{"Records":[…]}` envelope.
    slow: bool,
}

/// A key: is it `Records`, and the owned key when the property is kept.
struct KeySeed<'e, 'a>(&'e Evaluator<'a>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = (bool, Option<String>);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = (bool, Option<String>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Self::Value, E> {
        Ok((k == "Records", self.0.wants(k).then(|| k.to_string())))
    }
}

/// Read the rest of an object (after its first key) into the kept properties.
fn fill_record<'de, A: MapAccess<'de>>(
    ev: &Evaluator,
    mut map: A,
    first: Option<(bool, Option<String>)>,
) -> Result<Map<String, Value>, A::Error> {
    let mut m = Map::new();
    let mut key = first;
    while let Some((_, k)) = key {
        match k {
            Some(k) => {
                let v: Value = map.next_value()?;
                m.insert(k, v);
            }
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        key = map.next_key_seed(KeySeed(ev))?;
    }
    Ok(m)
}

/// One record: must be an object.
struct RecordSeed<'c, 'e, 'a>(&'c mut Ctx<'e, 'a>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (a CloudTrail record)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let first = map.next_key_seed(KeySeed(self.0.ev))?;
        let m = fill_record(self.0.ev, map, first)?;
        self.0.ev.record(m, self.0.acc);
        Ok(())
    }
}

/// An array of records.
struct RecordsSeq<'c, 'e, 'a>(&'c mut Ctx<'e, 'a>);

impl<'de> RecordsSeq<'_, '_, '_> {
    fn each<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(RecordSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// The value of a leading `Records` key: streamed when it is an array; anything else marks the
/// file for the exact reader.
struct RecordsValue<'c, 'e, 'a>(&'c mut Ctx<'e, 'a>);

impl<'de> DeserializeSeed<'de> for RecordsValue<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! slow_scalar {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $t) -> Result<(), E> {
            self.0.slow = true;
            Ok(())
        }
    )*};
}

impl<'de> Visitor<'de> for RecordsValue<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        RecordsSeq(self.0).each(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.slow = true;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.slow = true;
        Ok(())
    }
    slow_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
}

/// One top-level JSON value of a file: an event, an array of events, or a `{"Records":[…]}`
/// envelope (exactly one key, an array), as in [`crate::events::parse_bytes`].
struct TopSeed<'c, 'e, 'a>(&'c mut Ctx<'e, 'a>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (a CloudTrail record), an array of them or a {\"Records\":[…]} file")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        RecordsSeq(self.0).each(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let first = map.next_key_seed(KeySeed(self.0.ev))?;
        if let Some((true, _)) = first {
            map.next_value_seed(RecordsValue(&mut *self.0))?;
            if map.next_key::<IgnoredAny>()?.is_some() {
                // Not an envelope after all (a record with a leading `Records` property):
                // the records already counted are dropped and the file is re-read exactly.
                self.0.slow = true;
                map.next_value::<IgnoredAny>()?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            }
            return Ok(());
        }
        let m = fill_record(self.0.ev, map, first)?;
        self.0.ev.record(m, self.0.acc);
        Ok(())
    }
}

/// Parse decompressed bytes, evaluating records as they are read.
fn parse_into(ev: &Evaluator, bytes: &[u8], acc: &mut FileAcc) -> Result<(), String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut ctx = Ctx { ev, acc, slow: false };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // `end` succeeds at end of input (whitespace only) and otherwise leaves the next value.
    while de.end().is_err() {
        TopSeed(&mut ctx).deserialize(&mut de).map_err(json_error)?;
        if ctx.slow {
            break;
        }
    }
    if ctx.slow {
        acc.reset();
        let values = crate::events::parse_bytes("", bytes)
            .map_err(|e| e.to_string().trim_start_matches("``").trim_start_matches(':').trim_start().to_string())?;
        for v in values {
            if let Value::Object(m) = v {
                ev.record(m, acc);
            }
        }
    }
    Ok(())
}

fn json_error(e: serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    format!("line {}, column {}: invalid JSON: {msg}", e.line(), e.column())
}

// ---------------------------------------------------------------------------------------- files

/// Reusable per-worker buffers.
#[derive(Default)]
struct Buffers {
    plain: Vec<u8>,
}

/// Above this capacity a worker's buffer is released after use.
const KEEP_BUFFER: usize = 64 << 20;

/// Read one file (decompressing gzip) into `buf.plain`.
fn load(path: &Path, buf: &mut Buffers) -> Result<(), String> {
    buf.plain.clear();
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|e| format!("cannot open: {e}"))?)
    };
    let mut r = BufReader::with_capacity(256 << 10, reader);
    let gz = r.fill_buf().map_err(|e| format!("cannot read: {e}"))?.starts_with(&[0x1f, 0x8b]);
    if gz {
        flate2::bufread::MultiGzDecoder::new(r)
            .read_to_end(&mut buf.plain)
            .map_err(|e| format!("cannot decompress (corrupt or truncated gzip data?): {e}"))?;
    } else {
        r.read_to_end(&mut buf.plain).map_err(|e| format!("cannot read: {e}"))?;
    }
    Ok(())
}

fn process(path: &Path, ev: &Evaluator, buf: &mut Buffers, acc: &mut FileAcc, part: &mut Partial, period: i64) {
    acc.reset();
    let res = load(path, buf).and_then(|()| parse_into(ev, &buf.plain, acc));
    match res {
        Ok(()) => {
            part.bytes += buf.plain.len() as u64;
            part.commit(acc, period);
        }
        Err(error) => {
            acc.reset();
            part.bad.push(BadFile { path: display(path), error });
        }
    }
    if buf.plain.capacity() > KEEP_BUFFER {
        buf.plain = Vec::new();
    }
}

fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Is this directory entry an event file? (Named files are always read.)
fn is_event_file(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.starts_with('.')
        && [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz"].iter().any(|s| n.ends_with(s))
}

/// Walk `paths`: files as given, directories recursively (sorted, hidden entries, symlinked
/// directories and `CloudTrail-Digest` folders skipped), sending each event file to `send`.
/// Returns the number of files sent; stops early (Ok) when `send` fails.
pub fn walk(paths: &[PathBuf], send: &mut dyn FnMut(PathBuf) -> bool) -> Result<u64, Error> {
    fn dir(p: &Path, n: &mut u64, send: &mut dyn FnMut(PathBuf) -> bool) -> Result<bool, Error> {
        let rd = std::fs::read_dir(p).map_err(|source| Error::Walk { path: p.display().to_string(), source })?;
        let mut entries: Vec<(PathBuf, std::fs::FileType)> = Vec::new();
        for e in rd {
            let e = e.map_err(|source| Error::Walk { path: p.display().to_string(), source })?;
            let ft = e.file_type().map_err(|source| Error::Walk { path: e.path().display().to_string(), source })?;
            entries.push((e.path(), ft));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, ft) in entries {
            let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if ft.is_dir() {
                if !name.starts_with('.') && name != "CloudTrail-Digest" && !dir(&path, n, send)? {
                    return Ok(false);
                }
            } else if (ft.is_file() || (ft.is_symlink() && path.is_file())) && is_event_file(&name) {
                *n += 1;
                if !send(path) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
    let mut n = 0;
    for p in paths {
        if p != Path::new("-") && p.is_dir() {
            if !dir(p, &mut n, send)? {
                break;
            }
        } else {
            // A missing file is reported as a bad file by the reader, like any unreadable file.
            n += 1;
            if !send(p.clone()) {
                break;
            }
        }
    }
    Ok(n)
}

/// Run the backtest over `paths` (no paths: stdin).
pub fn run(spec: &Spec, paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    if spec.alarm.period <= 0 {
        return Err(Error::BadPeriod(spec.alarm.period));
    }
    let period = i64::from(spec.alarm.period);
    let stdin = [PathBuf::from("-")];
    let paths: &[PathBuf] = if paths.is_empty() { &stdin } else { paths };
    let jobs = opts.jobs.max(1);
    let ev = Evaluator::new(spec);
    let n = spec.controls.len();

    let (tx, rx) = mpsc::sync_channel::<PathBuf>(jobs * 4);
    let rx = Arc::new(Mutex::new(rx));
    let stop = AtomicBool::new(false);
    let (walked, parts) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let ev = &ev;
                let stop = &stop;
                s.spawn(move || {
                    let mut part = Partial::new(n);
                    let mut buf = Buffers::default();
                    let mut acc = FileAcc::default();
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(path)) = next else { break };
                        if stop.load(Ordering::Relaxed) {
                            continue;
                        }
                        process(&path, ev, &mut buf, &mut acc, &mut part, period);
                    }
                    part
                })
            })
            .collect();
        let walked = walk(paths, &mut |p| tx.send(p).is_ok());
        if walked.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(tx);
        let parts: Vec<Partial> = workers.into_iter().map(|w| w.join().expect("backtest worker panicked")).collect();
        (walked, parts)
    });
    let walked = walked?;
    if walked == 0 {
        let shown: Vec<String> = paths.iter().map(|p| display(p)).collect();
        return Err(Error::NoFiles(shown.join(", ")));
    }
    let mut total = Partial::new(n);
    for p in parts {
        total.merge(p);
    }
    Ok(finish(spec, total, jobs, opts.top))
}

fn finish(spec: &Spec, mut total: Partial, jobs: usize, top: usize) -> Report {
    total.bad.sort_by(|a, b| a.path.cmp(&b.path));
    let period = i64::from(spec.alarm.period);
    let range = total.min_t.zip(total.max_t).map(|(a, b)| (a.div_euclid(period), b.div_euclid(period)));
    let days = total.min_t.zip(total.max_t).map(|(a, b)| (a.div_euclid(DAY), b.div_euclid(DAY)));
    let controls = spec
        .controls
        .iter()
        .zip(total.controls)
        .map(|(c, agg)| {
            let daily = match days {
                Some((a, b)) => (a..=b).map(|d| (d * DAY, agg.days.get(&d).copied().unwrap_or(0))).collect(),
                None => Vec::new(),
            };
            ControlReport {
                id: c.id.clone(),
                title: c.title.clone(),
                pattern: c.pattern.canonical(),
                matched: agg.matched,
                untimed: agg.untimed,
                alarm: simulate(&agg.periods, range, &spec.alarm),
                daily,
                top_principals: agg.principals.top(top),
                top_event_names: agg.event_names.top(top),
                top_source_ips: agg.ips.top(top),
            }
        })
        .collect();
    Report {
        baseline: spec.baseline.clone(),
        alarm: spec.alarm.clone(),
        jobs,
        files: total.files,
        bad_files: total.bad,
        events: total.events,
        bytes: total.bytes,
        first_event: total.min_t,
        last_event: total.max_t,
        controls,
    }
}

// ---------------------------------------------------------------------------------------- alarm

/// The largest number of periods walked one by one when missing data counts as breaching.
const DENSE_CAP: i64 = 20_000_000;

/// Simulate the alarm over the metric the filter would have published.
///
/// `counts` holds matches per period (key: period start / period length); the metric filter
/// publishes value 1 per match and nothing for a period without matches. The statistic of a
/// period: `Sum` and `SampleCount` = the count; `Average`, `Minimum`, `Maximum` = 1 when there
/// was a match. A period breaches when `statistic <op> threshold`; a period without data
/// breaches only with `treat_missing_data = breaching` (`missing` and `ignore` are treated as
/// `notBreaching`: an approximation, since CloudWatch would keep the previous state). The alarm
/// is in ALARM for a period when that period and the `evaluation_periods - 1` before it all
/// breach (datapoints to alarm = evaluation periods). `range` (first and last period of the
/// corpus) bounds the walk over periods without data.
pub fn simulate(counts: &HashMap<i64, u64>, range: Option<(i64, i64)>, a: &AlarmSettings) -> AlarmSim {
    let need = i64::from(a.evaluation_periods.max(1));
    let period = i64::from(a.period.max(1));
    let value = |c: u64| -> f64 {
        match a.statistic.as_str() {
            "Average" | "Minimum" | "Maximum" => {
                if c > 0 {
                    1.0
                } else {
                    0.0
                }
            }
            _ => c as f64,
        }
    };
    let cmp = |v: f64| -> bool {
        match a.comparison_operator.as_str() {
            "GreaterThanThreshold" => v > a.threshold,
            "LessThanThreshold" => v < a.threshold,
            "LessThanOrEqualToThreshold" => v <= a.threshold,
            _ => v >= a.threshold, // GreaterThanOrEqualToThreshold
        }
    };
    let missing_breaches = a.treat_missing_data == "breaching";
    let mut sim = AlarmSim::default();
    let push = |p: i64, run: i64, v: f64, sim: &mut AlarmSim| {
        if run >= need {
            if run == need {
                sim.transitions += 1;
            }
            sim.windows.push(AlarmWindow { start: p * period, value: v });
        }
    };
    match range {
        Some((lo, hi)) if missing_breaches && hi - lo <= DENSE_CAP => {
            let mut run = 0;
            for p in lo..=hi {
                let (b, v) = match counts.get(&p) {
                    Some(&c) => (cmp(value(c)), value(c)),
                    None => (true, 0.0),
                };
                run = if b { run + 1 } else { 0 };
                push(p, run, v, &mut sim);
            }
        }
        _ => {
            let mut keys: Vec<i64> = counts.keys().copied().collect();
            keys.sort_unstable();
            let mut run = 0;
            let mut prev: Option<i64> = None;
            for p in keys {
                let v = value(counts[&p]);
                let b = cmp(v);
                let contiguous = prev == Some(p - 1);
                run = match (b, contiguous) {
                    (false, _) => 0,
                    (true, true) => run + 1,
                    (true, false) => 1,
                };
                prev = Some(p);
                push(p, run, v, &mut sim);
            }
        }
    }
    sim
}

// ---------------------------------------------------------------------------------------- time

/// Parse CloudTrail's `eventTime` (`YYYY-MM-DDTHH:MM:SS` then `Z`, fractional seconds or an
/// offset are tolerated; offsets are applied) to seconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
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
    Some(days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let s = t.rem_euclid(DAY);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

/// `YYYY-MM-DD`.
pub fn format_day(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
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
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                let i = ((v as f64 / max as f64) * 7.0).round() as usize;
                BARS[i.clamp(0, 7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn settings(threshold: f64, evaluation_periods: i32) -> AlarmSettings {
        AlarmSettings { threshold, evaluation_periods, ..AlarmSettings::default() }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn spec(patterns: &[(&str, &str)], alarm: AlarmSettings) -> Spec {
        Spec {
            baseline: "test".into(),
            controls: patterns
                .iter()
                .map(|(id, p)| ControlSpec {
                    id: id.to_string(),
                    title: id.to_string(),
                    pattern: crate::pattern::parse(p).unwrap(),
                })
                .collect(),
            alarm,
        }
    }

    fn rec(name: &str, time: &str) -> Value {
        serde_json::json!({"eventTime": time, "eventName": name, "sourceIPAddress": "192.0.2.1",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a"}})
    }

    fn opts(jobs: usize) -> Options {
        Options { jobs, top: 5 }
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backtest")
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

    #[test]
    fn time_parsing_and_formatting() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(parse_time("2024-02-29T12:34:56.123Z"), Some(1_709_210_096));
        assert_eq!(parse_time("2024-02-29T13:34:56+01:00"), Some(1_709_210_096));
        assert_eq!(parse_time("2024-13-01T00:00:00Z"), None);
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

    #[test]
    fn one_window_from_files_gz_and_plain_and_bad_files_counted() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02");
        std::fs::create_dir_all(&sub).unwrap();
        let recs: Vec<Value> = (0..3)
            .map(|i| rec("StopLogging", &format!("2024-01-02T10:0{i}:00Z")))
            .chain([rec("DescribeTrails", "2024-01-02T10:01:00Z")])
            .collect();
        let env = serde_json::json!({"Records": recs});
        std::fs::write(sub.join("a.json.gz"), gz(env.to_string().as_bytes())).unwrap();
        std::fs::write(sub.join("b.json"), rec("DeleteTrail", "2024-01-02T11:00:00Z").to_string()).unwrap();
        let mut trunc = gz(env.to_string().as_bytes());
        trunc.truncate(trunc.len() / 2);
        std::fs::write(sub.join("c.json.gz"), trunc).unwrap();
        std::fs::write(sub.join("d.json"), b"{\"eventName\": }").unwrap();
        std::fs::write(sub.join("e.json"), b"[{\"eventName\":\"StopLogging\"}, 3]").unwrap();
        std::fs::write(sub.join("notes.txt"), b"ignored").unwrap();
        let s = spec(&[("trail", "{ ($.eventName = StopLogging) || ($.eventName = DeleteTrail) }")], settings(1.0, 1));
        let r = run(&s, &[dir.path().to_path_buf()], &opts(2)).unwrap();
        assert_eq!(r.files, 2);
        assert_eq!(r.events, 5);
        let bad: Vec<&str> = r.bad_files.iter().map(|b| b.path.rsplit('/').next().unwrap()).collect();
        assert_eq!(bad, ["c.json.gz", "d.json", "e.json"]);
        assert!(r.bad_files[1].error.contains("line 1"), "{:?}", r.bad_files);
        let c = &r.controls[0];
        assert_eq!(c.matched, 4);
        let starts: Vec<String> = c.alarm.windows.iter().map(|w| format_time(w.start)).collect();
        assert_eq!(starts, ["2024-01-02T10:00:00Z", "2024-01-02T11:00:00Z"]);
        assert_eq!(c.alarm.windows[0].value, 3.0);
        assert_eq!(c.alarm.transitions, 2);
        assert_eq!(c.top_event_names[0], Count { value: "StopLogging".into(), count: 3 });
        assert_eq!(c.top_principals[0].value, "arn:aws:iam::111122223333:user/a");
        assert_eq!(c.daily, vec![(1_704_153_600, 4)]);
    }

    #[test]
    fn leading_records_key_that_is_not_an_envelope() {
        let s = spec(&[("all", "{ $.eventName = * }"), ("rec", "{ $.Records NOT EXISTS }")], settings(1.0, 1));
        let ev = Evaluator::new(&s);
        let mut acc = FileAcc::default();
        let text =
            br#"{"Records":[{"eventName":"A"}],"eventName":"B"} {"Records":[{"eventName":"C"}]} [{"eventName":"D"}]"#;
        parse_into(&ev, text, &mut acc).unwrap();
        let expected = crate::events::parse_bytes("t", text).unwrap();
        assert_eq!(acc.events as usize, expected.len());
        assert_eq!(acc.events, 3);
        assert_eq!(acc.hits.iter().filter(|h| h.control == 0).count(), 3);
        assert_eq!(acc.hits.iter().filter(|h| h.control == 1).count(), 2);
    }

    /// The fixture directory: S3 layout, gz and plain, one truncated gz, one invalid JSON.
    #[test]
    fn fixture_directory_recursion() {
        let b = crate::baseline::load(crate::baseline::DEFAULT_BASELINE).unwrap();
        let s = Spec::from_baseline(&b);
        let r = run(&s, &[fixtures()], &opts(2)).unwrap();
        let bad: Vec<&str> = r.bad_files.iter().map(|b| b.path.rsplit('/').next().unwrap()).collect();
        assert_eq!(bad.len(), 2, "{:?}", r.bad_files);
        assert!(bad.iter().any(|b| b.ends_with(".json.gz")) && bad.iter().any(|b| b.ends_with(".json")), "{bad:?}");
        assert!(r.files >= 3, "{}", r.files);
        assert!(r.controls.iter().all(|c| c.matched > 0), "every control has a true positive in the fixtures");
        // Same result with one worker.
        let r1 = run(&s, &[fixtures()], &opts(1)).unwrap();
        let m: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
        let m1: Vec<u64> = r1.controls.iter().map(|c| c.matched).collect();
        assert_eq!(m, m1);
        assert_eq!(r.events, r1.events);
    }

    /// Parity: per control, the counts equal `Pattern::matches` over `events::read_path` of each
    /// good file — what `cwfix pattern test PATTERN FILE` counts.
    #[test]
    fn parity_with_pattern_matches() {
        let b = crate::baseline::load(crate::baseline::DEFAULT_BASELINE).unwrap();
        let s = Spec::from_baseline(&b);
        let r = run(&s, &[fixtures()], &opts(2)).unwrap();
        let mut files = Vec::new();
        walk(&[fixtures()], &mut |p| {
            files.push(p);
            true
        })
        .unwrap();
        let mut events = 0u64;
        let mut counts = vec![0u64; s.controls.len()];
        for f in &files {
            let Ok(values) = crate::events::read_path(f) else { continue };
            for v in values {
                events += 1;
                let ev = Event::from_value(v);
                for (i, c) in s.controls.iter().enumerate() {
                    counts[i] += u64::from(c.pattern.matches(&ev));
                }
            }
        }
        assert_eq!(r.events, events);
        let got: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
        assert_eq!(got, counts);
    }

    /// Parity with patterns that need the whole message (term patterns).
    #[test]
    fn parity_with_term_patterns() {
        let s = spec(&[("t", "AccessDenied"), ("j", "{ $.eventName = Stop* }")], settings(1.0, 1));
        let r = run(&s, &[fixtures()], &opts(1)).unwrap();
        let mut counts = [0u64; 2];
        let mut files = Vec::new();
        walk(&[fixtures()], &mut |p| {
            files.push(p);
            true
        })
        .unwrap();
        for f in &files {
            let Ok(values) = crate::events::read_path(f) else { continue };
            for v in values {
                let ev = Event::from_value(v);
                for (i, c) in s.controls.iter().enumerate() {
                    counts[i] += u64::from(c.pattern.matches(&ev));
                }
            }
        }
        let got: Vec<u64> = r.controls.iter().map(|c| c.matched).collect();
        assert_eq!(got, counts);
        assert!(counts[0] > 0);
    }

    #[test]
    fn missing_path_is_a_bad_file_and_empty_dir_is_an_error() {
        let s = spec(&[("x", "{ $.eventName = X }")], settings(1.0, 1));
        let r = run(&s, &[PathBuf::from("/nonexistent/cwfix/x.json")], &opts(1)).unwrap();
        assert_eq!(r.bad_files.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(run(&s, &[dir.path().to_path_buf()], &opts(1)), Err(Error::NoFiles(_))));
    }
}
