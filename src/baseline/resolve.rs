//! `extends`: a file starts from its parent (a shipped baseline or another file) and overrides
//! key by key; controls merge by id. Each value remembers the file it came from, so a later
//! error names the right file and line. Linear in the number of controls: controls are kept in
//! order with an index by id, and lines come from one table per file.

use super::raw::{self, RawAlarm, RawControl, RawNotification, Source};
use super::{find_shipped, shipped_names, Error, SavedQuery};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// How deep `extends` may nest: deeper is almost certainly a mistake.
const MAX_EXTENDS_DEPTH: usize = 8;

/// A value and the file it was written in.
#[derive(Debug, Clone)]
pub(super) struct From<T> {
    pub value: T,
    pub src: Arc<Source>,
}

/// A control during resolution.
#[derive(Debug, Clone)]
pub(super) struct Draft {
    pub raw: RawControl,
    /// The file that last set the control's pattern (or created it).
    pub src: Arc<Source>,
}

/// Everything the chain of files says, merged, before validation.
#[derive(Debug, Default)]
pub(super) struct Resolved {
    pub name: Option<String>,
    pub title: Option<String>,
    pub source: Option<String>,
    pub aliases: Vec<String>,
    pub notes: Vec<String>,
    pub alarm_parts: Vec<From<RawAlarm>>,
    pub namespace: Option<String>,
    pub notification: Vec<From<RawNotification>>,
    pub controls: Vec<Draft>,
    pub queries: Vec<From<Spanned<SavedQuery>>>,
    pub min_retention_days: Option<From<Spanned<i32>>>,
}

/// Where a baseline's text comes from, for `extends` lookups.
pub(super) struct Input<'a> {
    pub text: &'a str,
    pub origin: &'a str,
    pub dir: Option<&'a Path>,
}

/// Resolves `input` and everything it extends.
pub(super) fn resolve(input: Input, seen: &mut BTreeSet<String>) -> Result<Resolved, Error> {
    if !seen.insert(input.origin.to_string()) || seen.len() > MAX_EXTENDS_DEPTH {
        return Err(Error::Cycle { path: input.origin.to_string() });
    }
    let raw = raw::parse(input.text, input.origin)?;
    let src = Arc::new(Source::new(input.origin, input.text));
    let mut base = match &raw.extends {
        None => Resolved::default(),
        Some(parent) => {
            let mut r = resolve_parent(parent, &src, input.dir, seen)?;
            // A child is a new baseline: it does not inherit the parent's name or aliases. When it
            // gives none, it is named after its file (`mine.toml` -> `mine`): the overlay a user
            // writes (`extends` + `[notification]`) needs nothing more.
            r.name = Some(file_stem(input.origin));
            r.aliases.clear();
            r
        }
    };
    if let Some(n) = raw.name {
        base.name = Some(n.into_inner());
    }
    base.title = raw.title.or(base.title);
    base.source = raw.source.or(base.source);
    base.aliases.extend(raw.aliases);
    base.notes.extend(raw.notes);
    base.alarm_parts.push(From { value: raw.alarm, src: src.clone() });
    base.namespace = raw.metrics.namespace.or(base.namespace);
    if let Some(n) = raw.notification {
        base.notification.push(From { value: n, src: src.clone() });
    }
    for q in raw.queries {
        // A child's query replaces the parent's of the same name.
        base.queries.retain(|x| x.value.get_ref().name != q.get_ref().name);
        base.queries.push(From { value: q, src: src.clone() });
    }
    if let Some(d) = raw.log_group.min_retention_days {
        base.min_retention_days = Some(From { value: d, src: src.clone() });
    }
    merge_controls(&mut base.controls, raw.controls, &src)?;
    if let Some(only) = &raw.only {
        check_ids(&base.controls, only, "only", &src)?;
        base.controls.retain(|d| only.get_ref().contains(d.raw.id.get_ref()));
    }
    if let Some(exclude) = &raw.exclude {
        check_ids(&base.controls, exclude, "exclude", &src)?;
        base.controls.retain(|d| !exclude.get_ref().contains(d.raw.id.get_ref()));
    }
    Ok(base)
}

fn file_stem(origin: &str) -> String {
    Path::new(origin).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| origin.to_string())
}

fn resolve_parent(
    parent: &Spanned<String>,
    src: &Source,
    dir: Option<&Path>,
    seen: &mut BTreeSet<String>,
) -> Result<Resolved, Error> {
    let name = parent.get_ref();
    if let Some((n, t)) = find_shipped(name) {
        return resolve(Input { text: t, origin: &format!("shipped:{n}"), dir: None }, seen);
    }
    let p = dir.map(|d| d.join(name)).unwrap_or_else(|| PathBuf::from(name));
    if !p.exists() {
        return Err(src.at(
            parent,
            format!(
                "extends `{name}`: no shipped baseline or file of that name (shipped: {})",
                shipped_names().join(", ")
            ),
        ));
    }
    let text = std::fs::read_to_string(&p).map_err(|source| Error::Io { path: p.display().to_string(), source })?;
    let origin = p.display().to_string();
    resolve(Input { text: &text, origin: &origin, dir: p.parent() }, seen)
}

/// Adds a file's controls: a new id is appended; an id the parent has overrides the fields the
/// child gives. The same id twice in one file is an error (silently dropping one would hide a
/// control the author believes is checked).
fn merge_controls(into: &mut Vec<Draft>, controls: Vec<RawControl>, src: &Arc<Source>) -> Result<(), Error> {
    let mut index: HashMap<String, usize> =
        into.iter().enumerate().map(|(i, d)| (d.raw.id.get_ref().clone(), i)).collect();
    let mut in_this_file: HashMap<String, usize> = HashMap::new();
    for c in controls {
        let id = c.id.get_ref().clone();
        let line = src.line_of(&c.id);
        if let Some(first) = in_this_file.insert(id.clone(), line) {
            return Err(src.at(&c.id, format!("duplicate control id `{id}` (also at line {first})")));
        }
        match index.get(&id) {
            Some(&i) => {
                let existing = &mut into[i];
                let pattern_here = c.pattern.is_some();
                existing.raw = override_control(existing.raw.clone(), c);
                if pattern_here {
                    existing.src = src.clone();
                }
            }
            None => {
                index.insert(id, into.len());
                into.push(Draft { raw: c, src: src.clone() });
            }
        }
    }
    Ok(())
}

/// The parent's control with the child's fields laid over it.
fn override_control(parent: RawControl, child: RawControl) -> RawControl {
    RawControl {
        id: child.id,
        title: child.title.or(parent.title),
        pattern: child.pattern.or(parent.pattern),
        metric_name: child.metric_name.or(parent.metric_name),
        namespace: child.namespace.or(parent.namespace),
        filter_name: child.filter_name.or(parent.filter_name),
        alarm_name: child.alarm_name.or(parent.alarm_name),
        scanner_ids: if child.scanner_ids.is_empty() { parent.scanner_ids } else { child.scanner_ids },
        rationale: child.rationale.or(parent.rationale),
        severity: child.severity.or(parent.severity),
        remediation: child.remediation.or(parent.remediation),
    }
}

fn check_ids(controls: &[Draft], ids: &Spanned<Vec<String>>, key: &str, src: &Source) -> Result<(), Error> {
    let known: BTreeSet<&String> = controls.iter().map(|d| d.raw.id.get_ref()).collect();
    match ids.get_ref().iter().find(|id| !known.contains(id)) {
        Some(id) => Err(src.at(ids, format!("{key}: no control with id `{id}`"))),
        None => Ok(()),
    }
}
