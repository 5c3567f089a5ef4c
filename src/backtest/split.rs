//! Splitting decompressed input into records: a checking JSON scanner and the file layouts.
//!
//! Owns the byte-level grammar only: where each record starts and ends, and whether the file is
//! JSON at all. A file is **JSON** when its first character (after a BOM and whitespace) is `{`,
//! or `[` followed by `{` or `]`: a stream of values, each a record, an array of records or a
//! `{"Records":[…]}` envelope (exactly one key, an array), in any layout (one line, JSON Lines,
//! pretty-printed, concatenated). Any other file is **lines**: one record per non-blank line; a
//! line that is exactly one JSON object is a JSON record, any other line a text record.
//!
//! The scanner checks structure (brackets, strings and their escapes, commas, colons, literals
//! and numbers) without building anything; strings are skipped with `memchr`. It does not check
//! UTF-8 or control characters inside strings it skips: the properties a consumer reads are
//! decoded (and so checked) by serde_json. Nesting deeper than 128 is an error, as in serde_json.
//!
//! The splitter is resumable so that inputs too large to hold whole can be fed in blocks: it
//! returns how far it got, and the caller presents the rest again with more data. No I/O here.

use std::ops::Range;

use memchr::{memchr, memchr2};

/// Nesting limit (serde_json's).
const MAX_DEPTH: usize = 128;

/// A UTF-8 byte order mark, ignored at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a record is: a JSON object, or a line of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// One JSON object (a CloudTrail record); its bytes are the object exactly as in the input.
    Json,
    /// One line of a text file, without its line ending.
    Text,
}

/// Where one record lies in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub range: Range<usize>,
    pub kind: RecordKind,
    /// The record's top-level properties: indexes into [`Cuts::fields`] (empty for text).
    pub fields: Range<u32>,
}

/// One top-level property of a JSON record, found while splitting (so that a consumer need not
/// scan the record again): where its key (between the quotes, escapes undecoded) and its value
/// lie, relative to the start of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    key: (u32, u32),
    value: (u32, u32),
    /// The key holds a `\` escape (so it must be decoded to be compared).
    escaped: bool,
}

impl Field {
    /// Does the raw key hold an escape?
    pub fn escaped(&self) -> bool {
        self.escaped
    }

    /// The key's range in the record.
    pub fn key(&self) -> Range<usize> {
        self.key.0 as usize..self.key.1 as usize
    }

    /// The value's range in the record.
    pub fn value(&self) -> Range<usize> {
        self.value.0 as usize..self.value.1 as usize
    }
}

/// The records of a block and the top-level properties of its JSON records.
#[derive(Debug, Default, Clone)]
pub struct Cuts {
    pub spans: Vec<Span>,
    pub fields: Vec<Field>,
}

impl Cuts {
    /// Scan the object at `start` as one record (its properties into `fields`); returns its end.
    fn json(&mut self, b: &[u8], start: usize, depth: usize) -> Scan<usize> {
        let first = self.fields.len();
        let rel = |r: Range<usize>| ((r.start - start) as u32, (r.end - start) as u32);
        let mut m = Members::new(b, start, depth)?;
        while let Some(mb) = m.next_member()? {
            self.fields.push(Field { key: rel(mb.key), value: rel(mb.value), escaped: mb.escaped });
        }
        let fields = first as u32..self.fields.len() as u32;
        self.spans.push(Span { range: start..m.end(), kind: RecordKind::Json, fields });
        Ok(m.end())
    }

    fn text(&mut self, range: Range<usize>) {
        let n = self.fields.len() as u32;
        self.spans.push(Span { range, kind: RecordKind::Text, fields: n..n });
    }

    /// Keep the first `spans` records (and their properties).
    fn truncate(&mut self, spans: usize) {
        self.spans.truncate(spans);
        self.fields.truncate(self.spans.last().map_or(0, |s| s.fields.end as usize));
    }
}

/// Why the scanner stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// The data ended inside a value.
    Eof,
    /// Invalid JSON at a byte offset.
    Syntax { at: usize, msg: &'static str },
}

type Scan<T> = Result<T, ScanError>;

fn syntax<T>(at: usize, msg: &'static str) -> Scan<T> {
    Err(ScanError::Syntax { at, msg })
}

/// Skip JSON whitespace.
#[inline]
pub(crate) fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// Eight bytes at `j` as a little-endian word (`j + 8 <= b.len()`).
#[inline]
fn load8(b: &[u8], j: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[j..j + 8]);
    u64::from_le_bytes(w)
}

/// The next `"` or `\` from `j`. Most JSON strings are short, so the first 64 bytes are searched
/// eight at a time in a word (the lowest flagged byte of the classic has-zero-byte test is exact),
/// and only longer strings pay for a `memchr2` call.
#[inline(always)]
fn find_quote_or_escape(b: &[u8], mut j: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let limit = (j + 64).min(b.len());
    while j + 8 <= limit {
        let w = load8(b, j);
        let q = w ^ (LO * u64::from(b'"'));
        let e = w ^ (LO * u64::from(b'\\'));
        let hit = (q.wrapping_sub(LO) & !q | e.wrapping_sub(LO) & !e) & HI;
        if hit != 0 {
            return Some(j + (hit.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    memchr2(b'"', b'\\', &b[j.min(b.len())..]).map(|k| j + k)
}

/// `i` is at an opening quote; returns the index just past the closing one.
#[inline(always)]
pub(crate) fn skip_string(b: &[u8], i: usize) -> Scan<usize> {
    skip_string_esc(b, i).map(|(end, _)| end)
}

/// [`skip_string`], also telling whether the string holds an escape.
#[inline(always)]
fn skip_string_esc(b: &[u8], i: usize) -> Scan<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        let Some(k) = find_quote_or_escape(b, j) else { return Err(ScanError::Eof) };
        j = k;
        if b[j] == b'"' {
            return Ok((j + 1, escaped));
        }
        escaped = true;
        match b.get(j + 1) {
            None => return Err(ScanError::Eof),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
            Some(b'u') => {
                let hex = b.get(j + 2..j + 6).ok_or(ScanError::Eof)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return syntax(j, "invalid unicode escape");
                }
                j += 6;
            }
            Some(_) => return syntax(j, "invalid escape"),
        }
    }
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// A number (JSON grammar). At the end of the data the number may continue: `Eof`.
fn skip_number(b: &[u8], start: usize) -> Scan<usize> {
    let mut i = start + usize::from(b[start] == b'-');
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = skip_digits(b, i),
        Some(_) => return syntax(i, "invalid number"),
        None => return Err(ScanError::Eof),
    }
    if b.get(i) == Some(&b'.') {
        let j = skip_digits(b, i + 1);
        if j == i + 1 {
            return if j == b.len() { Err(ScanError::Eof) } else { syntax(j, "invalid number") };
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = skip_digits(b, i);
        if j == i {
            return if j == b.len() { Err(ScanError::Eof) } else { syntax(j, "invalid number") };
        }
        i = j;
    }
    if i == b.len() {
        return Err(ScanError::Eof);
    }
    Ok(i)
}

fn skip_literal(b: &[u8], i: usize, word: &'static [u8]) -> Scan<usize> {
    let end = i + word.len();
    match b.get(i..end) {
        Some(s) if s == word => Ok(end),
        Some(_) => syntax(i, "expected value"),
        None if word.starts_with(&b[i..]) => Err(ScanError::Eof),
        None => syntax(i, "expected value"),
    }
}

/// Skip one value starting at `i` (no leading whitespace); returns the index just past it.
pub(crate) fn skip_value(b: &[u8], i: usize, depth: usize) -> Scan<usize> {
    match b.get(i) {
        None => Err(ScanError::Eof),
        Some(b'"') => skip_string(b, i),
        Some(b'{') => skip_object(b, i, depth),
        Some(b'[') => skip_array(b, i, depth),
        Some(b't') => skip_literal(b, i, b"true"),
        Some(b'f') => skip_literal(b, i, b"false"),
        Some(b'n') => skip_literal(b, i, b"null"),
        Some(b'-' | b'0'..=b'9') => skip_number(b, i),
        Some(_) => syntax(i, "expected value"),
    }
}

/// `i` at `{`; returns the index just past the matching `}`.
pub(crate) fn skip_object(b: &[u8], i: usize, depth: usize) -> Scan<usize> {
    let mut m = Members::new(b, i, depth)?;
    while m.next_member()?.is_some() {}
    Ok(m.end())
}

fn skip_array(b: &[u8], i: usize, depth: usize) -> Scan<usize> {
    if depth >= MAX_DEPTH {
        return syntax(i, "recursion limit exceeded");
    }
    let mut j = ws(b, i + 1);
    match b.get(j) {
        None => return Err(ScanError::Eof),
        Some(b']') => return Ok(j + 1),
        Some(_) => {}
    }
    loop {
        j = ws(b, skip_value(b, j, depth + 1)?);
        match b.get(j) {
            None => return Err(ScanError::Eof),
            Some(b',') => j = ws(b, j + 1),
            Some(b']') => return Ok(j + 1),
            Some(_) => return syntax(j, "expected `,` or `]`"),
        }
    }
}

/// One property of an object: the raw key (between its quotes, escapes undecoded) and where
/// the value lies.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub key: Range<usize>,
    pub value: Range<usize>,
    /// The key holds a `\` escape.
    pub escaped: bool,
}

/// The properties of one object, in order, checking the grammar as it goes.
pub(crate) struct Members<'b> {
    b: &'b [u8],
    i: usize,
    depth: usize,
    done: bool,
}

impl<'b> Members<'b> {
    /// `i` at `{`.
    pub(crate) fn new(b: &'b [u8], i: usize, depth: usize) -> Scan<Members<'b>> {
        if depth >= MAX_DEPTH {
            return syntax(i, "recursion limit exceeded");
        }
        let j = ws(b, i + 1);
        match b.get(j) {
            None => Err(ScanError::Eof),
            Some(b'}') => Ok(Members { b, i: j + 1, depth, done: true }),
            Some(_) => Ok(Members { b, i: j, depth, done: false }),
        }
    }

    /// The next property, or `None` after the closing `}`.
    pub(crate) fn next_member(&mut self) -> Scan<Option<Member>> {
        if self.done {
            return Ok(None);
        }
        let b = self.b;
        let k = self.i;
        match b.get(k) {
            None => return Err(ScanError::Eof),
            Some(b'"') => {}
            Some(_) => return syntax(k, "expected property name"),
        }
        let (k_end, escaped) = skip_string_esc(b, k)?;
        let mut j = ws(b, k_end);
        match b.get(j) {
            None => return Err(ScanError::Eof),
            Some(b':') => j = ws(b, j + 1),
            Some(_) => return syntax(j, "expected `:`"),
        }
        let v = j;
        let v_end = skip_value(b, v, self.depth + 1)?;
        j = ws(b, v_end);
        match b.get(j) {
            None => return Err(ScanError::Eof),
            Some(b',') => self.i = ws(b, j + 1),
            Some(b'}') => {
                self.i = j + 1;
                self.done = true;
            }
            Some(_) => return syntax(j, "expected `,` or `}`"),
        }
        Ok(Some(Member { key: k + 1..k_end - 1, value: v..v_end, escaped }))
    }

    /// Just past the closing `}` (valid once `next_member` returned `None`).
    pub(crate) fn end(&self) -> usize {
        self.i
    }
}

// ---------------------------------------------------------------------------------------- layouts

/// How a file is laid out, decided on its first non-blank bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Json,
    Lines,
}

/// Where the JSON splitter is between records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Between top-level values.
    Top,
    /// Inside an array of records, before an element (`first`: a `]` may close it here).
    Elem { envelope: bool, first: bool },
    /// Inside an array of records, after an element.
    Next { envelope: bool },
    /// After the array of a `{"Records":[…]` object: `}` confirms the envelope.
    EnvelopeEnd,
}

/// Why splitting failed; `at` is a byte offset from the start of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    pub at: u64,
    pub msg: String,
}

/// Splits a file's bytes into record spans, block by block.
#[derive(Debug)]
pub(crate) struct Splitter {
    layout: Option<Layout>,
    ctx: Ctx,
    /// Offset of the current block in the whole input.
    base: u64,
    /// Start of the current `{"Records":[…` object in this block, and the records before it.
    envelope: Option<(usize, usize)>,
    /// Where to resume when a non-envelope `{"Records":[…],…}` object is cut by the block end.
    resume: Option<usize>,
}

impl Splitter {
    pub(crate) fn new() -> Splitter {
        Splitter { layout: None, ctx: Ctx::Top, base: 0, envelope: None, resume: None }
    }

    /// Bytes consumed so far (the offset of the next block in the whole input).
    pub(crate) fn consumed(&self) -> u64 {
        self.base
    }

    /// Append the spans of the complete records at the start of `buf` to `out`, and return how
    /// many bytes were consumed. Unless `last`, a record cut by the end of `buf` is left for the
    /// next call, which must present `buf[consumed..]` followed by more data.
    pub(crate) fn split(&mut self, buf: &[u8], last: bool, out: &mut Cuts) -> Result<usize, SplitError> {
        let (keep, fields) = (out.spans.len(), out.fields.len());
        let start = if self.base == 0 && buf.starts_with(BOM) { BOM.len() } else { 0 };
        let layout = match self.layout {
            Some(l) => l,
            None => match detect(buf, last) {
                Some(l) => {
                    self.layout = Some(l);
                    l
                }
                None => return Ok(0),
            },
        };
        let res = match layout {
            Layout::Json => self.split_json(buf, start, last, out),
            Layout::Lines => Ok(split_lines(buf, start, last, out)),
        };
        self.envelope = None;
        // Drop the properties of a record cut by the end of the block.
        let end =
            if out.spans.len() > keep { out.spans.last().map_or(fields, |s| s.fields.end as usize) } else { fields };
        out.fields.truncate(end);
        match res {
            Ok(n) => {
                self.base += n as u64;
                Ok(n)
            }
            Err(e) => {
                let (at, msg) = match e {
                    ScanError::Eof => (buf.len(), "unexpected end of data (truncated file?)".to_string()),
                    ScanError::Syntax { at, msg } => (at, msg.to_string()),
                };
                Err(SplitError { at: self.base + at as u64, msg })
            }
        }
    }

    fn split_json(&mut self, b: &[u8], start: usize, last: bool, out: &mut Cuts) -> Scan<usize> {
        let mut i = start;
        loop {
            let at = ws(b, i);
            if self.ctx == Ctx::Top && at < b.len() && memchr(b'\n', &b[i..at]).is_some() && starts_text(b, at)? {
                // A text line after JSON lines: the rest of the file is read as lines.
                self.layout = Some(Layout::Lines);
                let line = i + memchr::memrchr(b'\n', &b[i..at]).map_or(0, |p| p + 1);
                return Ok(split_lines(b, line, last, out));
            }
            match self.step(b, at, out) {
                Ok(Some(next)) => i = next,
                Ok(None) => return Ok(b.len()),
                Err(ScanError::Eof) if !last => return Ok(self.resume.take().unwrap_or(i)),
                Err(e) => return Err(e),
            }
        }
    }

    /// One structural step from `i` (after whitespace). `Ok(None)`: the input is used up.
    fn step(&mut self, b: &[u8], i: usize, out: &mut Cuts) -> Scan<Option<usize>> {
        let Some(&c) = b.get(i) else {
            return if self.ctx == Ctx::Top { Ok(None) } else { Err(ScanError::Eof) };
        };
        match self.ctx {
            Ctx::Top => match c {
                b'[' => {
                    self.ctx = Ctx::Elem { envelope: false, first: true };
                    Ok(Some(i + 1))
                }
                b'{' => match envelope_open(b, i)? {
                    Some(next) => {
                        self.envelope = Some((i, out.spans.len()));
                        self.ctx = Ctx::Elem { envelope: true, first: true };
                        Ok(Some(next))
                    }
                    None => Ok(Some(out.json(b, i, 0)?)),
                },
                _ => not_an_object(b, i),
            },
            Ctx::Elem { envelope, first } => match c {
                b']' if first => {
                    self.ctx = if envelope { Ctx::EnvelopeEnd } else { Ctx::Top };
                    Ok(Some(i + 1))
                }
                b'{' => {
                    let e = out.json(b, i, 1)?;
                    self.ctx = Ctx::Next { envelope };
                    Ok(Some(e))
                }
                _ => not_an_object(b, i),
            },
            Ctx::Next { envelope } => match c {
                b',' => {
                    self.ctx = Ctx::Elem { envelope, first: false };
                    Ok(Some(i + 1))
                }
                b']' => {
                    self.ctx = if envelope { Ctx::EnvelopeEnd } else { Ctx::Top };
                    Ok(Some(i + 1))
                }
                _ => syntax(i, "expected `,` or `]`"),
            },
            Ctx::EnvelopeEnd => match c {
                b'}' => {
                    self.ctx = Ctx::Top;
                    self.envelope = None;
                    Ok(Some(i + 1))
                }
                // More properties: the object was a record whose first property is `Records`.
                b',' => match self.envelope.take() {
                    Some((start, n)) => {
                        out.truncate(n);
                        self.ctx = Ctx::Top;
                        let e = out.json(b, start, 0).inspect_err(|_| self.resume = Some(start))?;
                        Ok(Some(e))
                    }
                    None => syntax(i, "a record whose first property is a `Records` array too large to hold whole"),
                },
                _ => syntax(i, "expected `,` or `}`"),
            },
        }
    }
}

/// Does the top-level value at `i` start a text line rather than JSON (the rule of [`detect`])?
fn starts_text(b: &[u8], i: usize) -> Scan<bool> {
    match b[i] {
        b'{' => Ok(false),
        b'[' => match b.get(ws(b, i + 1)) {
            None => Err(ScanError::Eof),
            Some(b'{' | b']') => Ok(false),
            Some(_) => Ok(true),
        },
        _ => Ok(true),
    }
}

/// Is the object at `i` opened as `{"Records":[`? Returns the index after the `[`.
fn envelope_open(b: &[u8], i: usize) -> Scan<Option<usize>> {
    let k = ws(b, i + 1);
    if k >= b.len() {
        return Err(ScanError::Eof);
    }
    if b[k] != b'"' {
        return Ok(None);
    }
    let k_end = skip_string(b, k)?;
    if &b[k..k_end] != b"\"Records\"" {
        return Ok(None);
    }
    let c = ws(b, k_end);
    if c >= b.len() {
        return Err(ScanError::Eof);
    }
    if b[c] != b':' {
        return Ok(None);
    }
    let v = ws(b, c + 1);
    match b.get(v) {
        None => Err(ScanError::Eof),
        Some(b'[') => Ok(Some(v + 1)),
        Some(_) => Ok(None),
    }
}

fn not_an_object<T>(b: &[u8], i: usize) -> Scan<T> {
    let msg = match b[i] {
        b'"' => "record is a string, expected a JSON object (a CloudTrail record)",
        b'[' => "record is an array, expected a JSON object (a CloudTrail record)",
        b't' | b'f' => "record is a boolean, expected a JSON object (a CloudTrail record)",
        b'n' => "record is null, expected a JSON object (a CloudTrail record)",
        b'-' | b'0'..=b'9' => "record is a number, expected a JSON object (a CloudTrail record)",
        _ => "expected value",
    };
    syntax(i, msg)
}

/// Decide the layout from the first bytes; `None` when more data is needed to tell.
fn detect(buf: &[u8], last: bool) -> Option<Layout> {
    let b = buf.strip_prefix(BOM).unwrap_or(buf);
    let i = ws(b, 0);
    match b.get(i) {
        None if last => Some(Layout::Lines),
        None => None,
        Some(b'{') => Some(Layout::Json),
        Some(b'[') => match b.get(ws(b, i + 1)) {
            None if last => Some(Layout::Lines),
            None => None,
            Some(b'{' | b']') => Some(Layout::Json),
            Some(_) => Some(Layout::Lines),
        },
        Some(_) => Some(Layout::Lines),
    }
}

/// One record per non-blank line; `last`: the final line needs no line ending.
fn split_lines(buf: &[u8], start: usize, last: bool, out: &mut Cuts) -> usize {
    let mut i = start;
    while i < buf.len() {
        let end = match memchr(b'\n', &buf[i..]) {
            Some(k) => i + k,
            None if last => buf.len(),
            None => return i,
        };
        let line_end = if end > i && buf[end - 1] == b'\r' { end - 1 } else { end };
        let first = ws(buf, i).min(line_end);
        if first < line_end {
            line_record(&buf[..line_end], i, first, out);
        }
        i = end + 1;
    }
    buf.len()
}

/// The line `b[start..]` (`first`: its first non-blank byte) is a JSON record when it holds
/// exactly one object (whitespace around it allowed), otherwise a text record.
fn line_record(b: &[u8], start: usize, first: usize, out: &mut Cuts) {
    let n = out.spans.len();
    if b[first] == b'{' {
        match out.json(b, first, 0) {
            Ok(e) if ws(b, e) == b.len() => return,
            _ => out.truncate(n),
        }
    }
    out.text(start..b.len());
}

/// Line and column (1-based) of a byte offset, for error messages.
pub(crate) fn line_col(buf: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(buf.len());
    let before = &buf[..at];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let col = at - memchr::memrchr(b'\n', before).map_or(0, |p| p + 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(text: &[u8]) -> Result<Vec<(String, RecordKind)>, SplitError> {
        let mut out = Cuts::default();
        let n = Splitter::new().split(text, true, &mut out)?;
        assert_eq!(n, text.len());
        check_fields(text, &out);
        Ok(out.spans.into_iter().map(|s| (String::from_utf8_lossy(&text[s.range]).into_owned(), s.kind)).collect())
    }

    /// The recorded properties of every JSON record are exactly those `Members` finds.
    fn check_fields(buf: &[u8], cuts: &Cuts) {
        let mut next = 0;
        for s in &cuts.spans {
            assert_eq!(s.fields.start, next);
            next = s.fields.end;
            let rec = &buf[s.range.clone()];
            let got: Vec<(Range<usize>, Range<usize>)> = cuts.fields[s.fields.start as usize..s.fields.end as usize]
                .iter()
                .map(|f| (f.key(), f.value()))
                .collect();
            let mut want = Vec::new();
            if s.kind == RecordKind::Json {
                let mut m = Members::new(rec, 0, 0).unwrap();
                while let Some(mb) = m.next_member().unwrap() {
                    want.push((mb.key, mb.value));
                }
            }
            assert_eq!(got, want, "{}", String::from_utf8_lossy(rec));
        }
        assert_eq!(cuts.fields.len(), next as usize);
    }

    fn texts(text: &[u8]) -> Vec<String> {
        split_all(text).unwrap().into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn envelope_array_lines_and_concatenation() {
        assert_eq!(texts(br#"{"Records":[{"a":1},{"b":[2,{"c":"}"}]}]}"#), [r#"{"a":1}"#, r#"{"b":[2,{"c":"}"}]}"#]);
        assert_eq!(texts(b"[ {\"a\":1} ,\n {\"a\":2} ]"), [r#"{"a":1}"#, r#"{"a":2}"#]);
        assert_eq!(texts(b"{\"a\":1}\n{\"a\":2}\n\n{\"a\":3}"), [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]);
        assert_eq!(texts(br#"{"Records":[]} [] {"a":"x\"}"}"#), [r#"{"a":"x\"}"}"#]);
        assert!(texts(b"").is_empty());
        assert!(texts(b"  \n").is_empty());
        assert_eq!(texts(b"\xEF\xBB\xBF{\"a\":1}"), [r#"{"a":1}"#]);
    }

    #[test]
    fn leading_records_property_that_is_not_an_envelope() {
        let t = br#"{"Records":[{"eventName":"A"}],"eventName":"B"} {"Records":[{"eventName":"C"}]}"#;
        assert_eq!(texts(t), [r#"{"Records":[{"eventName":"A"}],"eventName":"B"}"#, r#"{"eventName":"C"}"#]);
        assert_eq!(texts(br#"{"Records":3}"#), [r#"{"Records":3}"#]);
        assert_eq!(texts(br#"{"Records" : {"a":1}}"#), [r#"{"Records" : {"a":1}}"#]);
    }

    #[test]
    fn invalid_json_is_an_error_with_position() {
        let cases: [(&[u8], &str); 8] = [
            (br#"{"eventName": }"#, "expected value"),
            (br#"{"a":1,}"#, "expected property name"),
            (br#"[{"a":1} {"a":2}]"#, "expected `,` or `]`"),
            (br#"{"a":01}"#, "expected `,` or `}`"),
            (br#"{"a":"\x"}"#, "invalid escape"),
            (br#"{"a":tru}"#, "expected value"),
            (br#"{"Records":[{"a":1}"#, "unexpected end of data (truncated file?)"),
            (br#"[{"a":1}, 3]"#, "record is a number, expected a JSON object (a CloudTrail record)"),
        ];
        for (text, msg) in cases {
            let e = split_all(text).unwrap_err();
            assert_eq!(e.msg, msg, "{}", String::from_utf8_lossy(text));
        }
        let e = split_all(b"{\"a\":1}\n{\"b\": }").unwrap_err();
        assert_eq!(line_col(b"{\"a\":1}\n{\"b\": }", e.at as usize), (2, 7));
    }

    #[test]
    fn nesting_limit() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(split_all(deep.as_bytes()).unwrap_err().msg, "recursion limit exceeded");
    }

    #[test]
    fn text_lines_and_json_lines_mixed() {
        let t =
            b"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] \"GET / HTTP/1.0\" 404 1534\r\n\n{\"a\":1}\n{not json}\n";
        let got = split_all(t).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, RecordKind::Text);
        assert!(got[0].0.ends_with("1534"));
        assert_eq!(got[1], ("{\"a\":1}".to_string(), RecordKind::Json));
        assert_eq!(got[2], ("{not json}".to_string(), RecordKind::Text));
        // JSON lines, then text: the rest is read as lines. Text inside a line is not.
        let got = split_all(b"{\"a\":1}\n  plain\n{\"b\":2}").unwrap();
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [RecordKind::Json, RecordKind::Text, RecordKind::Json]);
        assert_eq!(got[1].0, "  plain");
        assert!(split_all(b"{\"a\":1} plain").is_err());
        // A log line that starts with `[` is text, not a JSON array.
        let got = split_all(b"[2024-03-04 12:00:00] started\n[2024-03-04 12:00:01] ok").unwrap();
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [RecordKind::Text, RecordKind::Text]);
    }

    /// Fed in blocks of every size, the splitter finds the same records as fed whole.
    #[test]
    fn resumable_in_blocks() {
        let inputs: [&[u8]; 4] = [
            br#"{"Records":[{"a":1},{"b":[2,{"c":"}\"]"}]},{"d":-1.5e3}]} {"e":true}"#,
            b"{\"a\":1}\n{\"a\":2}\r\n{\"a\":3}",
            b"line one\nline two\n{\"a\":1}\nlast",
            b"[{\"a\":null},{\"b\":false}]",
        ];
        for input in inputs {
            let whole = texts(input);
            for step in 1..input.len() {
                let mut sp = Splitter::new();
                let mut got = Vec::new();
                let mut pending: Vec<u8> = Vec::new();
                let mut fed = 0;
                while fed < input.len() || !pending.is_empty() {
                    let take = step.min(input.len() - fed);
                    pending.extend_from_slice(&input[fed..fed + take]);
                    fed += take;
                    let last = fed == input.len();
                    let mut cuts = Cuts::default();
                    let n = sp.split(&pending, last, &mut cuts).unwrap();
                    check_fields(&pending, &cuts);
                    got.extend(
                        cuts.spans.iter().map(|s| String::from_utf8_lossy(&pending[s.range.clone()]).into_owned()),
                    );
                    pending.drain(..n);
                    if last {
                        assert!(pending.is_empty(), "step {step}");
                        break;
                    }
                }
                assert_eq!(got, whole, "step {step}: {}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn members_iterate_keys_and_values() {
        let t = br#"{ "a" : 1 , "b\"" : {"x":[1,2]}, "c":"s" }"#;
        let mut m = Members::new(t, 0, 0).unwrap();
        let mut got = Vec::new();
        while let Some(mb) = m.next_member().unwrap() {
            got.push((
                String::from_utf8_lossy(&t[mb.key]).into_owned(),
                String::from_utf8_lossy(&t[mb.value]).into_owned(),
            ));
        }
        assert_eq!(m.end(), t.len());
        let want = [("a", "1"), ("b\\\"", "{\"x\":[1,2]}"), ("c", "\"s\"")];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }
}
