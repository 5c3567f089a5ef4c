//! A reusable streaming source of log records: walk the inputs, decompress, split into records,
//! and hand batches of raw records to a consumer on a bounded pool of worker threads.
//!
//! `backtest` is one consumer; `hunt` (Logs Insights over the same archives) can be another.
//! A consumer implements [`Sink`]: [`Sink::batch`] turns a [`Batch`] of records of one file
//! into a `Part`; when the whole file has been read without error, each of its parts is
//! [`Sink::commit`]ted into the worker's `Total`, so a file that turns out unreadable halfway
//! (truncated gzip, invalid JSON) contributes nothing. [`scan`] returns every worker's `Total`
//! for the consumer to merge, plus the counts of files read and unreadable.
//!
//! ```no_run
//! use cwfix::backtest::source::{scan, Batch, Progress, RecordKind, Sink};
//! struct CountJson;
//! impl Sink for CountJson {
//!     type Part = u64;
//!     type Total = u64;
//!     fn batch(&self, b: &Batch<'_>, part: &mut u64) -> Result<(), String> {
//!         *part += b.records().filter(|r| r.kind == RecordKind::Json).count() as u64;
//!         Ok(())
//!     }
//!     fn commit(&self, part: u64, total: &mut u64) {
//!         *total += part;
//!     }
//! }
//! let out = scan(&["AWSLogs/".into()], 2, &CountJson, &Progress::default())?;
//! let json_records: u64 = out.totals.iter().sum();
//! # Ok::<(), cwfix::backtest::source::WalkError>(())
//! ```
//!
//! Scheduling: a walker thread feeds file paths into a bounded queue; `jobs` workers take, in
//! this order, record batches already decoded, a streamed input's next block, a new file. A
//! file is decoded by one worker (inflating one gzip stream cannot be shared), then its records
//! are cut into batches of about [`PIECE`] bytes that any worker may take, so one large file
//! does not leave the other cores idle. Memory is bounded: at most `jobs + 1` decoded blocks are
//! alive, each a whole small file ([`WHOLE_LIMIT`](super::decode::WHOLE_LIMIT) at most) or one
//! block of a streamed input (about [`BLOCK`] bytes), and their buffers are recycled.
//!
//! Must not: interpret records (that is the consumer's job), print, or fail the run for one bad
//! file (it is listed in [`Outcome::unreadable`]).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::decode::{self, Decoder, Opened};
pub use super::split::RecordKind;
use super::split::{line_col, Splitter};
use super::split::{Cuts, Field, Span};
pub use super::walk::WalkError;
use super::walk::{self, display};

/// Records handed to a consumer in one batch: about this many bytes.
pub const PIECE: usize = 2 << 20;

/// A streamed input (too large to hold whole, or stdin) is read in blocks of about this size.
pub const BLOCK: usize = 8 << 20;

/// Sizes the scheduler works with (smaller in tests, to exercise every path on small inputs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest input held whole ([`decode::WHOLE_LIMIT`]).
    pub whole: usize,
    /// Streaming block size ([`BLOCK`]).
    pub block: usize,
    /// Batch size ([`PIECE`]).
    pub piece: usize,
}

impl Limits {
    pub(crate) const DEFAULT: Limits = Limits { whole: decode::WHOLE_LIMIT, block: BLOCK, piece: PIECE };
}

/// The largest single record a streamed input may hold.
const MAX_RECORD: usize = 256 << 20;

/// Paths queued ahead of the workers.
const PATH_QUEUE: usize = 256;

/// One record: its bytes exactly as in the (decompressed) input.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// A JSON object, or one line of text without its line ending.
    pub bytes: &'a [u8],
    pub kind: RecordKind,
    /// Where the record starts in the file's decompressed bytes.
    pub offset: u64,
    fields: &'a [Field],
}

impl<'a> Record<'a> {
    /// The record as text (invalid UTF-8 replaced by U+FFFD).
    pub fn text(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.bytes)
    }

    #[cfg(test)]
    pub(crate) fn for_test(bytes: &'a [u8], fields: &'a [Field]) -> Record<'a> {
        Record { bytes, kind: RecordKind::Json, offset: 0, fields }
    }

    #[cfg(test)]
    pub(crate) fn text_for_test(bytes: &'a [u8]) -> Record<'a> {
        Record { bytes, kind: RecordKind::Text, offset: 0, fields: &[] }
    }

    /// A JSON record's top-level properties, in order, as found while splitting (the record is
    /// not scanned again): the raw key (between its quotes, escapes not decoded) and the value's
    /// JSON text. Nothing for a text record.
    pub fn properties(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let bytes = self.bytes;
        self.fields.iter().map(move |f| (&bytes[f.key()], &bytes[f.value()]))
    }

    /// The properties as found by the splitter (key and value ranges in [`Record::bytes`]).
    pub(crate) fn fields(&self) -> &'a [Field] {
        self.fields
    }
}

/// Consecutive records of one file.
pub struct Batch<'a> {
    file: &'a str,
    data: &'a [u8],
    /// Offset of `data` in the file's decompressed bytes.
    base: u64,
    spans: &'a [Span],
    fields: &'a [Field],
}

impl<'a> Batch<'a> {
    /// The file's display name (`<stdin>` for `-`).
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The records, in file order.
    pub fn records(&self) -> impl Iterator<Item = Record<'a>> + 'a {
        let (data, base, fields) = (self.data, self.base, self.fields);
        self.spans.iter().map(move |s| Record {
            fields: &fields[s.fields.start as usize..s.fields.end as usize],
            bytes: &data[s.range.clone()],
            kind: s.kind,
            offset: base + s.range.start as u64,
        })
    }
}

/// A consumer of records. `Sync`: one value serves every worker.
pub trait Sink: Sync {
    /// What one batch produces (kept until its file is known to be readable).
    type Part: Default + Send;
    /// What one worker accumulates over its committed parts.
    type Total: Default + Send;
    /// Consume one batch. An `Err` marks the whole file unreadable (with this message).
    fn batch(&self, batch: &Batch<'_>, part: &mut Self::Part) -> Result<(), String>;
    /// Fold a part of a file read without error into a worker's total.
    fn commit(&self, part: Self::Part, total: &mut Self::Total);
}

/// A file that could not be read (or that the consumer rejected), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: String,
    pub error: String,
}

/// What [`scan`] returns.
#[derive(Debug)]
pub struct Outcome<T> {
    /// One total per worker, for the consumer to merge.
    pub totals: Vec<T>,
    /// Files read completely (and committed).
    pub files_read: u64,
    /// Files that could not be read, sorted by path.
    pub unreadable: Vec<Unreadable>,
    /// Records in the files read.
    pub records: u64,
    /// Decompressed bytes of the files read.
    pub bytes: u64,
}

/// Live counters for a progress display; read them from another thread while [`scan`] runs.
#[derive(Debug, Default)]
pub struct Progress {
    files: AtomicU64,
    unreadable: AtomicU64,
    bytes: AtomicU64,
    records: AtomicU64,
}

/// A reading of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Files finished (read or unreadable).
    pub files: u64,
    pub unreadable: u64,
    /// Decompressed bytes handed to the consumer.
    pub bytes: u64,
    /// Records handed to the consumer.
    pub records: u64,
}

impl Progress {
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            files: self.files.load(Ordering::Relaxed),
            unreadable: self.unreadable.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
        }
    }
}

/// Read `inputs` (files, directories, `-` for stdin) with `jobs` workers, feeding `sink`.
///
/// Fails before reading anything when a named input does not exist, and stops when a directory
/// cannot be listed; an unreadable *file* is only listed in the outcome.
pub fn scan<S: Sink>(
    inputs: &[PathBuf],
    jobs: usize,
    sink: &S,
    progress: &Progress,
) -> Result<Outcome<S::Total>, WalkError> {
    scan_with(inputs, jobs, sink, progress, Limits::DEFAULT)
}

pub(crate) fn scan_with<S: Sink>(
    inputs: &[PathBuf],
    jobs: usize,
    sink: &S,
    progress: &Progress,
    limits: Limits,
) -> Result<Outcome<S::Total>, WalkError> {
    walk::check_inputs(inputs)?;
    let jobs = jobs.max(1);
    let shared = Shared::new(jobs, progress, limits);
    let (walked, outs) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs).map(|_| s.spawn(|| Worker::new(&shared, sink).run())).collect();
        let walked = walk::walk(inputs, &mut |p| shared.push_path(p));
        shared.walk_done(walked.is_err());
        let outs: Vec<WorkerOut<S::Total>> =
            workers.into_iter().map(|w| w.join().expect("source worker panicked")).collect();
        (walked, outs)
    });
    walked?;
    let mut out = Outcome { totals: Vec::new(), files_read: 0, unreadable: Vec::new(), records: 0, bytes: 0 };
    for w in outs {
        out.totals.push(w.total);
        out.files_read += w.files_read;
        out.unreadable.extend(w.unreadable);
        out.records += w.records;
        out.bytes += w.bytes;
    }
    out.unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

// ---------------------------------------------------------------------------------------- shared state

/// One input file in flight: the parts of its batches, until the file is known to be good.
struct FileJob<P> {
    name: String,
    parts: Mutex<Vec<P>>,
    failed: Mutex<Option<String>>,
    /// Batches not yet consumed, plus one while the file is still being decoded.
    pending: AtomicUsize,
    records: AtomicU64,
    bytes: AtomicU64,
}

impl<P> FileJob<P> {
    fn new(name: String) -> Arc<FileJob<P>> {
        Arc::new(FileJob {
            name,
            parts: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
            pending: AtomicUsize::new(1),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    fn fail(&self, error: String) {
        lock(&self.failed).get_or_insert(error);
    }

    fn has_failed(&self) -> bool {
        lock(&self.failed).is_some()
    }
}

/// Decoded bytes of a file (or of one block of a streamed file) and its record spans. Whoever
/// drops the last reference returns the buffer to the pool ([`Shared::release`]).
struct Block<P> {
    file: Arc<FileJob<P>>,
    data: Vec<u8>,
    base: u64,
    cuts: Cuts,
}

/// A streamed input between blocks.
struct StreamJob<P> {
    file: Arc<FileJob<P>>,
    reader: Box<dyn Read + Send>,
    splitter: Splitter,
    /// Bytes read but not yet split (a record cut by the end of the last block).
    carry: Vec<u8>,
    /// Lines before `carry`, for error positions.
    lines: u64,
}

enum Task<P> {
    Batch(Arc<Block<P>>, Range<usize>),
    Stream(Box<StreamJob<P>>),
    File(PathBuf),
}

struct Queue<P> {
    batches: VecDeque<(Arc<Block<P>>, Range<usize>)>,
    streams: VecDeque<Box<StreamJob<P>>>,
    paths: VecDeque<PathBuf>,
    walk_done: bool,
    abort: bool,
    /// Workers inside a task (which may queue more work).
    active: usize,
    /// Decoded blocks alive.
    blocks: usize,
}

struct Shared<'s, P> {
    q: Mutex<Queue<P>>,
    cv: Condvar,
    pool: Mutex<Vec<Vec<u8>>>,
    cuts: Mutex<Vec<Cuts>>,
    jobs: usize,
    limits: Limits,
    progress: &'s Progress,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'s, P> Shared<'s, P> {
    fn new(jobs: usize, progress: &'s Progress, limits: Limits) -> Shared<'s, P> {
        Shared {
            q: Mutex::new(Queue {
                batches: VecDeque::new(),
                streams: VecDeque::new(),
                paths: VecDeque::new(),
                walk_done: false,
                abort: false,
                active: 0,
                blocks: 0,
            }),
            cv: Condvar::new(),
            pool: Mutex::new(Vec::new()),
            cuts: Mutex::new(Vec::new()),
            jobs,
            limits,
            progress,
        }
    }

    /// Called by the walker; waits while the path queue is full. False: stop walking.
    fn push_path(&self, p: PathBuf) -> bool {
        let mut q = lock(&self.q);
        while q.paths.len() >= PATH_QUEUE && !q.abort {
            q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        if q.abort {
            return false;
        }
        q.paths.push_back(p);
        drop(q);
        self.cv.notify_all();
        true
    }

    fn walk_done(&self, failed: bool) {
        let mut q = lock(&self.q);
        q.walk_done = true;
        q.abort |= failed;
        drop(q);
        self.cv.notify_all();
    }

    /// The next task for a worker, or `None` when all the work is done.
    fn next(&self) -> Option<Task<P>> {
        let mut q = lock(&self.q);
        loop {
            if q.abort {
                return None;
            }
            if let Some((b, r)) = q.batches.pop_front() {
                q.active += 1;
                return Some(Task::Batch(b, r));
            }
            // Decoding makes a block: one is reserved before, so at most `jobs + 1` exist.
            if q.blocks <= self.jobs {
                if let Some(s) = q.streams.pop_front() {
                    q.active += 1;
                    q.blocks += 1;
                    return Some(Task::Stream(s));
                }
                if let Some(p) = q.paths.pop_front() {
                    q.active += 1;
                    q.blocks += 1;
                    drop(q);
                    self.cv.notify_all(); // the walker may be waiting for room
                    return Some(Task::File(p));
                }
            }
            if q.walk_done && q.paths.is_empty() && q.streams.is_empty() && q.active == 0 {
                drop(q);
                self.cv.notify_all();
                return None;
            }
            q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A worker finished a task.
    fn task_done(&self) {
        lock(&self.q).active -= 1;
        self.cv.notify_all();
    }

    /// Queue batches of a new block, and a streamed input's next step.
    fn queue(&self, batches: Vec<(Arc<Block<P>>, Range<usize>)>, stream: Option<Box<StreamJob<P>>>) {
        let mut q = lock(&self.q);
        q.batches.extend(batches);
        q.streams.extend(stream);
        drop(q);
        self.cv.notify_all();
    }

    /// A reserved block was not made (the input failed, or became a stream).
    fn unreserve(&self) {
        lock(&self.q).blocks -= 1;
        self.cv.notify_all();
    }

    /// Drop one reference to a block; the last one recycles its buffer.
    fn release(&self, block: Arc<Block<P>>) {
        if let Some(b) = Arc::into_inner(block) {
            self.recycle(b.data);
            let mut pool = lock(&self.cuts);
            if pool.len() <= self.jobs {
                pool.push(b.cuts);
            }
            drop(pool);
            lock(&self.q).blocks -= 1;
            self.cv.notify_all();
        }
    }

    fn buffer(&self) -> Vec<u8> {
        lock(&self.pool).pop().unwrap_or_default()
    }

    /// An empty `Cuts`, with the capacity of a recycled one.
    fn cuts(&self) -> Cuts {
        let mut c = lock(&self.cuts).pop().unwrap_or_default();
        c.spans.clear();
        c.fields.clear();
        c
    }

    fn recycle(&self, buf: Vec<u8>) {
        let mut pool = lock(&self.pool);
        if pool.len() <= self.jobs && buf.capacity() <= self.limits.whole + self.limits.block {
            pool.push(buf);
        }
    }
}

// ---------------------------------------------------------------------------------------- workers

struct WorkerOut<T> {
    total: T,
    files_read: u64,
    unreadable: Vec<Unreadable>,
    records: u64,
    bytes: u64,
}

struct Worker<'s, S: Sink> {
    shared: &'s Shared<'s, S::Part>,
    sink: &'s S,
    decoder: Decoder,
    out: WorkerOut<S::Total>,
}

impl<'s, S: Sink> Worker<'s, S> {
    fn new(shared: &'s Shared<'s, S::Part>, sink: &'s S) -> Worker<'s, S> {
        let out = WorkerOut { total: S::Total::default(), files_read: 0, unreadable: Vec::new(), records: 0, bytes: 0 };
        Worker { shared, sink, decoder: Decoder::default(), out }
    }

    fn run(mut self) -> WorkerOut<S::Total> {
        while let Some(task) = self.shared.next() {
            match task {
                Task::Batch(block, range) => self.consume(block, range),
                Task::Stream(job) => {
                    if !self.stream(job) {
                        self.shared.unreserve();
                    }
                }
                Task::File(path) => {
                    if !self.file(path) {
                        self.shared.unreserve();
                    }
                }
            }
            self.shared.task_done();
        }
        self.out
    }

    /// Decode a file: whole (then split and queue its batches) or as a stream. True when a
    /// block was published.
    fn file(&mut self, path: PathBuf) -> bool {
        let file = FileJob::new(display(&path));
        let published = match self.decoder.open(&path, self.shared.buffer(), self.shared.limits.whole) {
            Err(e) => {
                file.fail(e);
                false
            }
            Ok(Opened::Whole(data, len)) => {
                let mut cuts = self.shared.cuts();
                match Splitter::new().split(&data[..len], true, &mut cuts) {
                    Ok(_) => {
                        self.publish(&file, data, len, 0, cuts);
                        true
                    }
                    Err(e) => {
                        let (line, col) = line_col(&data[..len], e.at as usize);
                        file.fail(format!("line {line}, column {col}: invalid JSON: {}", e.msg));
                        self.shared.recycle(data);
                        false
                    }
                }
            }
            Ok(Opened::Stream(reader)) => {
                let job = StreamJob { file, reader, splitter: Splitter::new(), carry: Vec::new(), lines: 0 };
                self.shared.queue(Vec::new(), Some(Box::new(job)));
                return false; // the stream job holds the file's "still decoding" count
            }
        };
        self.decoded(&file);
        published
    }

    /// Read, split and queue one block of a streamed input; requeue it unless it ended. True
    /// when a block was published.
    fn stream(&mut self, mut job: Box<StreamJob<S::Part>>) -> bool {
        if job.file.has_failed() {
            self.decoded(&job.file);
            return false;
        }
        let mut buf = self.shared.buffer();
        buf.clear();
        buf.extend_from_slice(&job.carry);
        let target = self.shared.limits.block.max(job.carry.len() * 2);
        let eof = match fill(&mut *job.reader, &mut buf, target) {
            Ok(eof) => eof,
            Err(e) => {
                job.file.fail(decode::describe_stream_error(e));
                self.decoded(&job.file);
                return false;
            }
        };
        let mut cuts = self.shared.cuts();
        let base = job.splitter.consumed();
        let used = match job.splitter.split(&buf, eof, &mut cuts) {
            Ok(n) => n,
            Err(e) => {
                let (line, col) = line_col(&buf, (e.at - base) as usize);
                let line = line as u64 + job.lines;
                job.file.fail(format!("line {line}, column {col}: invalid JSON: {}", e.msg));
                self.decoded(&job.file);
                return false;
            }
        };
        job.lines += memchr::memchr_iter(b'\n', &buf[..used]).count() as u64;
        job.carry.clear();
        job.carry.extend_from_slice(&buf[used..]);
        buf.truncate(used);
        if job.carry.len() > MAX_RECORD {
            job.file.fail(format!("a record larger than {} MB", MAX_RECORD >> 20));
            self.decoded(&job.file);
            return false;
        }
        let file = Arc::clone(&job.file);
        self.publish(&file, buf, used, base, cuts);
        if eof {
            self.decoded(&file);
        } else {
            self.shared.queue(Vec::new(), Some(job));
        }
        true
    }

    /// Cut a decoded block into batches of about [`PIECE`] bytes and queue them.
    /// `len` bytes of `data` were split, at offset `base` of the file.
    fn publish(&mut self, file: &Arc<FileJob<S::Part>>, data: Vec<u8>, len: usize, base: u64, cuts: Cuts) {
        file.bytes.fetch_add(len as u64, Ordering::Relaxed);
        self.shared.progress.bytes.fetch_add(len as u64, Ordering::Relaxed);
        let spans = &cuts.spans;
        let mut ranges = Vec::new();
        let mut start = 0;
        for (i, s) in spans.iter().enumerate() {
            if s.range.end - spans[start].range.start >= self.shared.limits.piece {
                ranges.push(start..i + 1);
                start = i + 1;
            }
        }
        if start < spans.len() {
            ranges.push(start..spans.len());
        }
        file.pending.fetch_add(ranges.len(), Ordering::AcqRel);
        let block = Arc::new(Block { file: Arc::clone(file), data, base, cuts });
        self.shared.queue(ranges.into_iter().map(|r| (Arc::clone(&block), r)).collect(), None);
        self.shared.release(block);
    }

    /// Feed one batch to the sink.
    fn consume(&mut self, block: Arc<Block<S::Part>>, range: Range<usize>) {
        let file = Arc::clone(&block.file);
        if !file.has_failed() {
            let spans = &block.cuts.spans[range];
            let batch =
                Batch { file: &file.name, data: &block.data, base: block.base, spans, fields: &block.cuts.fields };
            let mut part = S::Part::default();
            match self.sink.batch(&batch, &mut part) {
                Ok(()) => {
                    lock(&file.parts).push(part);
                    file.records.fetch_add(spans.len() as u64, Ordering::Relaxed);
                    self.shared.progress.records.fetch_add(spans.len() as u64, Ordering::Relaxed);
                }
                Err(e) => file.fail(e),
            }
        }
        self.shared.release(block);
        self.decoded(&file);
    }

    /// One of the file's pending counts is done; the last one commits or lists the file.
    fn decoded(&mut self, file: &Arc<FileJob<S::Part>>) {
        if file.pending.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let progress = self.shared.progress;
        progress.files.fetch_add(1, Ordering::Relaxed);
        if let Some(error) = lock(&file.failed).take() {
            progress.unreadable.fetch_add(1, Ordering::Relaxed);
            self.out.unreadable.push(Unreadable { path: file.name.clone(), error });
            return;
        }
        for part in lock(&file.parts).drain(..) {
            self.sink.commit(part, &mut self.out.total);
        }
        self.out.files_read += 1;
        self.out.records += file.records.load(Ordering::Relaxed);
        self.out.bytes += file.bytes.load(Ordering::Relaxed);
    }
}

/// Append to `buf` until it holds `target` bytes or the reader ends; true at the end.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, target: usize) -> std::io::Result<bool> {
    let have = buf.len();
    buf.resize(target.max(have + 1), 0);
    let n = decode::read_up_to(r, &mut buf[have..])?;
    let eof = have + n < buf.len();
    buf.truncate(have + n);
    Ok(eof)
}

#[cfg(test)]
mod tests;
