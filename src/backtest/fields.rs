//! A reduced JSON document: only the paths the patterns (and the report) read, decoded from a
//! record's bytes without building the rest.
//!
//! Owns the path tree and the extraction. Why it is exact: a pattern reads a record only through
//! its selectors, and every selector path is in the tree, cut at its first index or wildcard
//! below which everything is kept. Along a path, an object keeps only the properties the tree
//! names (existence and object-ness are what `=`, `!=`, `IS NULL` and `NOT EXISTS` see there), an
//! array on the way is kept empty (a property name never selects inside an array), and a node
//! where a path ends is decoded whole by serde_json. Duplicate properties resolve as serde_json
//! does: the last one wins, in the first one's place.

use serde_json::{Map, Value};

use super::source::Record;
use super::split::{Members, ScanError};

/// Which properties to keep, as a tree of names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathTree {
    /// A path ends here: keep the node whole.
    whole: bool,
    /// Position in pre-order, once [`PathTree::number`]ed (for [`project`]).
    id: usize,
    /// Which pattern groups read this node (bit per group; see `super::groups`).
    groups: u64,
    /// Raw keys are compared as bytes, without decoding (unless they hold an escape).
    children: Vec<(Name, PathTree)>,
    /// Child by hash of a key's length and first eight bytes: 0 none, `MANY` several (look
    /// through the list), else index + 1. Most of a record's properties are not in the tree,
    /// and one probe tells.
    table: [u8; 64],
}

/// A hash bucket of [`PathTree::table`] shared by several children.
const MANY: u8 = u8::MAX;

#[inline]
fn bucket(head: u64, len: usize) -> usize {
    ((head ^ (len as u64).rotate_left(56)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

impl Default for PathTree {
    fn default() -> Self {
        PathTree { whole: false, id: 0, groups: 0, children: Vec::new(), table: [0; 64] }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Name {
    text: String,
    /// The first eight bytes, zero-padded (a cheap first comparison).
    head: u64,
}

impl Name {
    fn new(text: &str) -> Name {
        Name { text: text.to_string(), head: head(text.as_bytes()) }
    }

    #[inline]
    fn is(&self, raw: &[u8], raw_head: u64) -> bool {
        self.head == raw_head && self.text.len() == raw.len() && self.text.as_bytes() == raw
    }
}

#[inline]
fn head(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

impl PathTree {
    /// Add one path (property names from the top).
    pub(crate) fn add(&mut self, path: &[String]) {
        let Some((name, rest)) = path.split_first() else {
            self.whole = true;
            return;
        };
        let i = self.child_index(name);
        self.children[i].1.add(rest);
    }

    /// Add one path, read by the pattern group `group` (0 to 63).
    pub(crate) fn add_for(&mut self, path: &[String], group: usize) {
        self.groups |= 1 << group;
        let Some((name, rest)) = path.split_first() else {
            self.whole = true;
            return;
        };
        let i = self.child_index(name);
        self.children[i].1.add_for(rest, group);
    }

    fn child_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.children.iter().position(|(k, _)| k.text == name) {
            return i;
        }
        let n = Name::new(name);
        let i = self.children.len();
        let slot = &mut self.table[bucket(n.head, name.len())];
        *slot = if *slot == 0 && i + 1 < usize::from(MANY) { (i + 1) as u8 } else { MANY };
        self.children.push((n, PathTree::default()));
        i
    }

    /// Number the nodes in pre-order (the root is 0); returns how many there are.
    pub(crate) fn number(&mut self) -> usize {
        fn walk(t: &mut PathTree, next: &mut usize) {
            t.id = *next;
            *next += 1;
            for (_, c) in &mut t.children {
                walk(c, next);
            }
        }
        let mut n = 0;
        walk(self, &mut n);
        n
    }

    pub(crate) fn add_str(&mut self, path: &[&str]) {
        let owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.add(&owned);
    }

    /// The child (and its name) for a raw key; `escaped`: the key holds an escape.
    #[inline]
    fn child(&self, raw_key: &[u8], escaped: bool) -> Option<(&str, &PathTree)> {
        if escaped {
            let key = decode_key(raw_key).ok()?;
            return self.children.iter().find(|(k, _)| k.text == key).map(|(k, t)| (k.text.as_str(), t));
        }
        let h = head(raw_key);
        let found = match self.table[bucket(h, raw_key.len())] {
            0 => None,
            MANY => self.children.iter().find(|(k, _)| k.is(raw_key, h)),
            i => Some(&self.children[usize::from(i) - 1]).filter(|(k, _)| k.is(raw_key, h)),
        };
        found.map(|(k, t)| (k.text.as_str(), t))
    }
}

/// Why a record's reduced document could not be built.
pub(crate) fn scan_error(e: ScanError) -> String {
    match e {
        ScanError::Eof => "invalid JSON: unexpected end of record".into(),
        ScanError::Syntax { msg, .. } => format!("invalid JSON: {msg}"),
    }
}

/// The reduced document of a JSON record, from the properties found while splitting.
pub(crate) fn extract(rec: &Record<'_>, tree: &PathTree) -> Result<Map<String, Value>, String> {
    let mut out = Map::with_capacity(tree.children.len());
    for f in rec.fields() {
        let (key, value) = (&rec.bytes[f.key()], &rec.bytes[f.value()]);
        let Some((name, sub)) = tree.child(key, f.escaped()) else { continue };
        let v = if !sub.whole && value.first() == Some(&b'{') {
            Value::Object(object(value, 0, sub, 1)?)
        } else {
            node(value, 0..value.len(), sub, 1)?
        };
        out.insert(name.to_string(), v);
    }
    Ok(out)
}

/// Where a node's raw value lies in a record (`ABSENT` when the record has no such node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot(u32, u32);

impl Slot {
    pub(crate) const ABSENT: Slot = Slot(0, 0);

    fn of(r: std::ops::Range<usize>) -> Slot {
        Slot(r.start as u32, r.end as u32)
    }

    pub(crate) fn get(self, bytes: &[u8]) -> Option<&[u8]> {
        (self.1 > self.0).then(|| &bytes[self.0 as usize..self.1 as usize])
    }
}

/// Where every node of a [`PathTree::number`]ed tree lies in a record (by node id), without
/// decoding anything; returns the raw `eventTime` value's slot. The last of duplicate
/// properties wins, as in [`extract`].
pub(crate) fn project(rec: &Record<'_>, tree: &PathTree, slots: &mut [Slot]) -> Result<Slot, String> {
    let mut time = Slot::ABSENT;
    for f in rec.fields() {
        let key = &rec.bytes[f.key()];
        if key == b"eventTime" || f.escaped() && decode_key(key).is_ok_and(|k| k == "eventTime") {
            time = Slot::of(f.value());
        }
        if let Some((_, sub)) = tree.child(key, f.escaped()) {
            slots[sub.id] = Slot::of(f.value());
        }
    }
    for (_, c) in &tree.children {
        project_inside(rec.bytes, c, slots)?;
    }
    Ok(time)
}

/// Fill the slots below `node` when its value is an object the tree goes into.
fn project_inside(b: &[u8], node: &PathTree, slots: &mut [Slot]) -> Result<(), String> {
    let at = slots[node.id];
    if node.whole || node.children.is_empty() || at.get(b).and_then(|v| v.first()) != Some(&b'{') {
        return Ok(());
    }
    let mut members = Members::new(b, at.0 as usize, 1).map_err(scan_error)?;
    while let Some(m) = members.next_member().map_err(scan_error)? {
        if let Some((_, sub)) = node.child(&b[m.key], m.escaped) {
            slots[sub.id] = Slot::of(m.value);
        }
    }
    for (_, c) in &node.children {
        project_inside(b, c, slots)?;
    }
    Ok(())
}

/// Append to `out` a key that determines the reduced document of the nodes group `bit` reads:
/// for each such node, absent; the raw value (where a path ends: the decoded value follows from
/// it); or, on the way, "an object" (then its nodes) or "not an object" (a name selects nothing
/// in it, whatever it holds). Equal keys, equal reduced documents, equal pattern results.
pub(crate) fn group_key(b: &[u8], node: &PathTree, slots: &[Slot], bit: u64, out: &mut Vec<u8>) {
    for (_, c) in node.children.iter().filter(|(_, c)| c.groups & bit != 0) {
        match slots[c.id].get(b) {
            None => out.push(0),
            Some(v) if c.whole => {
                out.push(1);
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
            Some(v) if v.first() == Some(&b'{') => {
                out.push(2);
                group_key(b, c, slots, bit, out);
            }
            Some(_) => out.push(3),
        }
    }
}

/// The text of a raw JSON string value (`None` for other values or invalid text).
pub(crate) fn string_value(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !inner.iter().any(|&c| c == b'\\' || c < 0x20) {
        return std::str::from_utf8(inner).ok().map(std::borrow::Cow::Borrowed);
    }
    serde_json::from_slice::<String>(raw).ok().map(std::borrow::Cow::Owned)
}

fn object(b: &[u8], at: usize, tree: &PathTree, depth: usize) -> Result<Map<String, Value>, String> {
    let mut out = Map::with_capacity(tree.children.len());
    let mut members = Members::new(b, at, depth).map_err(scan_error)?;
    while let Some(m) = members.next_member().map_err(scan_error)? {
        let Some((name, sub)) = tree.child(&b[m.key], m.escaped) else { continue };
        let v = node(b, m.value, sub, depth + 1)?;
        out.insert(name.to_string(), v);
    }
    Ok(out)
}

fn node(b: &[u8], at: std::ops::Range<usize>, tree: &PathTree, depth: usize) -> Result<Value, String> {
    let bytes = &b[at.clone()];
    if !tree.whole {
        match bytes.first() {
            Some(b'{') => return object(b, at.start, tree, depth).map(Value::Object),
            Some(b'[') => return Ok(Value::Array(Vec::new())),
            _ => {}
        }
    }
    whole(bytes)
}

/// Decode a value whole; plain strings (the common case) without serde.
fn whole(bytes: &[u8]) -> Result<Value, String> {
    if let Some(inner) = bytes.strip_prefix(b"\"").and_then(|s| s.strip_suffix(b"\"")) {
        if !inner.iter().any(|&c| c == b'\\' || c < 0x20) {
            return std::str::from_utf8(inner).map(|s| Value::String(s.to_string())).map_err(|e| e.to_string());
        }
    }
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

fn decode_key(raw: &[u8]) -> Result<String, String> {
    if !raw.iter().any(|&c| c == b'\\' || c < 0x20) {
        return std::str::from_utf8(raw).map(str::to_string).map_err(|e| e.to_string());
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).map_err(|e| format!("invalid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backtest::split::{Cuts, Splitter};
    use serde_json::json;

    /// Split `rec` (one JSON object) and extract from it as the backtest does.
    fn extract(rec: &[u8], tree: &PathTree) -> Result<Map<String, Value>, String> {
        let mut cuts = Cuts::default();
        Splitter::new().split(rec, true, &mut cuts).map_err(|e| e.msg)?;
        let s = &cuts.spans[0];
        let r = Record::for_test(&rec[s.range.clone()], &cuts.fields[s.fields.start as usize..s.fields.end as usize]);
        super::extract(&r, tree)
    }

    fn tree(paths: &[&[&str]]) -> PathTree {
        let mut t = PathTree::default();
        for p in paths {
            t.add_str(p);
        }
        t
    }

    #[test]
    fn keeps_only_the_paths() {
        let rec = br#"{"eventName":"A","userIdentity":{"type":"Root","arn":"x","sessionContext":{"a":1}},
            "requestParameters":{"big":[1,2,3]},"tags":[{"k":"v"}],"n":1.5e3,"s":"caf\u00e9","b":null}"#;
        let t = tree(&[&["eventName"], &["userIdentity", "type"], &["tags", "k"], &["n"], &["s"], &["b"], &["zz"]]);
        let got = Value::Object(extract(rec, &t).unwrap());
        assert_eq!(
            got,
            json!({"eventName":"A","userIdentity":{"type":"Root"},"tags":[],"n":1500.0,"s":"café","b":null})
        );
    }

    #[test]
    fn child_lookup_with_many_names() {
        let names: Vec<String> =
            (0..300).map(|i| format!("k{i}")).chain(["eventName".into(), "eventNam".into()]).collect();
        let mut t = PathTree::default();
        for n in &names {
            t.add(std::slice::from_ref(n));
        }
        for n in &names {
            assert_eq!(t.child(n.as_bytes(), false).map(|c| c.0), Some(n.as_str()));
        }
        for absent in ["k300", "eventNames", "", "k", "eventNamf"] {
            assert!(t.child(absent.as_bytes(), false).is_none(), "{absent}");
        }
        assert_eq!(t.child(br"event\u004eame", true).map(|c| c.0), Some("eventName"));
    }

    #[test]
    fn escaped_keys_duplicates_and_errors() {
        let t = tree(&[&["eventName"]]);
        let got = extract(br#"{"event\u004eame":"A","eventName":"B"}"#, &t).unwrap();
        assert_eq!(Value::Object(got), json!({"eventName":"B"}));
        assert!(extract(br#"{"eventName":"\ud800x"}"#, &t).is_err());
        // A scalar where the tree goes deeper is kept as it is (a name selects nothing in it).
        let t = tree(&[&["a", "b"]]);
        assert_eq!(Value::Object(extract(br#"{"a":"s"}"#, &t).unwrap()), json!({"a":"s"}));
    }
}
