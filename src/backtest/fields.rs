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

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::split::{Members, ScanError};

/// Which properties to keep, as a tree of names.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PathTree {
    /// A path ends here: keep the node whole.
    whole: bool,
    children: BTreeMap<String, PathTree>,
}

impl PathTree {
    /// Add one path (property names from the top).
    pub(crate) fn add(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.whole = true,
            Some((name, rest)) => self.children.entry(name.clone()).or_default().add(rest),
        }
    }

    pub(crate) fn add_str(&mut self, path: &[&str]) {
        let owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.add(&owned);
    }

    /// The child for a raw (still escaped) key.
    fn child(&self, raw_key: &[u8]) -> Option<&PathTree> {
        if !raw_key.contains(&b'\\') {
            return std::str::from_utf8(raw_key).ok().and_then(|k| self.children.get(k));
        }
        let mut quoted = Vec::with_capacity(raw_key.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(raw_key);
        quoted.push(b'"');
        let key: String = serde_json::from_slice(&quoted).ok()?;
        self.children.get(&key)
    }
}

/// Why a record's reduced document could not be built.
pub(crate) fn scan_error(e: ScanError) -> String {
    match e {
        ScanError::Eof => "invalid JSON: unexpected end of record".into(),
        ScanError::Syntax { msg, .. } => format!("invalid JSON: {msg}"),
    }
}

/// The reduced document of the JSON object `rec` (its bytes, starting at `{`).
pub(crate) fn extract(rec: &[u8], tree: &PathTree) -> Result<Map<String, Value>, String> {
    object(rec, 0, tree, 0)
}

fn object(b: &[u8], at: usize, tree: &PathTree, depth: usize) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut members = Members::new(b, at, depth).map_err(scan_error)?;
    while let Some(m) = members.next_member().map_err(scan_error)? {
        let Some(sub) = tree.child(&b[m.key.clone()]) else { continue };
        let key = decode_key(&b[m.key])?;
        let v = node(b, m.value, sub, depth + 1)?;
        out.insert(key, v);
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
    use serde_json::json;

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
    fn escaped_keys_duplicates_and_errors() {
        let t = tree(&[&["eventName"]]);
        let got = extract(br#"{"event\u004eame":"A","eventName":"B"}"#, &t).unwrap();
        assert_eq!(Value::Object(got), json!({"eventName":"B"}));
        assert!(extract(br#"{"eventName":"\ud800x"}"#, &t).is_err());
        assert!(extract(br#"{"eventName": }"#, &t).is_err());
        // A scalar where the tree goes deeper is kept as it is (a name selects nothing in it).
        let t = tree(&[&["a", "b"]]);
        assert_eq!(Value::Object(extract(br#"{"a":"s"}"#, &t).unwrap()), json!({"a":"s"}));
    }
}
