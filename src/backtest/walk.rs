//! Finding the input files: named files as given, directories recursively.
//!
//! Owns which files are read and in what order; no reading of file contents. In directories,
//! `*.json`, `*.jsonl`, `*.ndjson`, `*.log` and `*.gz` files are read (compressed or not:
//! the decoder looks at magic bytes, not names); hidden entries, symlinked directories and
//! `CloudTrail-Digest` folders are skipped; entries are visited in name order.

use std::io;
use std::path::{Path, PathBuf};

/// Why the inputs cannot be walked.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A named input does not exist.
    #[error("`{0}` does not exist")]
    NotFound(String),
    /// A directory (or a named input) could not be listed or examined.
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The name an input is shown by (`-` is `<stdin>`).
pub fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Is this directory entry an input file? (Named files are always read.)
pub fn is_event_file(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.starts_with('.') && [".json", ".jsonl", ".ndjson", ".log", ".gz"].iter().any(|s| n.ends_with(s))
}

/// Check that every named input exists, before any work starts.
pub fn check_inputs(paths: &[PathBuf]) -> Result<(), WalkError> {
    for p in paths.iter().filter(|p| p.as_path() != Path::new("-")) {
        match std::fs::metadata(p) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(WalkError::NotFound(display(p))),
            Err(source) => return Err(WalkError::Io { path: display(p), source }),
        }
    }
    Ok(())
}

/// Walk `paths`, sending each input file to `send` (`-` is passed through). Returns the number
/// of files sent; stops early (Ok) when `send` returns false.
pub fn walk(paths: &[PathBuf], send: &mut dyn FnMut(PathBuf) -> bool) -> Result<u64, WalkError> {
    let mut n = 0;
    for p in paths {
        if p != Path::new("-") && p.is_dir() {
            if !dir(p, &mut n, send)? {
                break;
            }
        } else {
            n += 1;
            if !send(p.clone()) {
                break;
            }
        }
    }
    Ok(n)
}

fn dir(p: &Path, n: &mut u64, send: &mut dyn FnMut(PathBuf) -> bool) -> Result<bool, WalkError> {
    let io_err = |path: &Path| {
        let path = display(path);
        move |source| WalkError::Io { path, source }
    };
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = Vec::new();
    for e in std::fs::read_dir(p).map_err(io_err(p))? {
        let e = e.map_err(io_err(p))?;
        let ft = e.file_type().map_err(io_err(&e.path()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_files() {
        for yes in ["a.json", "a.json.gz", "A.JSONL", "x.ndjson.gz", "app.log", "app.log.gz", "x.gz"] {
            assert!(is_event_file(yes), "{yes}");
        }
        for no in [".hidden.json", "digest.sig", "README.md", "notes.txt", "a.json.bak"] {
            assert!(!is_event_file(no), "{no}");
        }
    }

    #[test]
    fn missing_input_and_sorted_recursion() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(check_inputs(&[d.path().join("nope")]), Err(WalkError::NotFound(_))));
        std::fs::create_dir_all(d.path().join("b/CloudTrail-Digest")).unwrap();
        std::fs::create_dir_all(d.path().join(".git")).unwrap();
        for f in ["b/2.json", "a.json.gz", "b/CloudTrail-Digest/d.json.gz", ".git/x.json", "b/1.log", "b/n.txt"] {
            std::fs::write(d.path().join(f), b"{}").unwrap();
        }
        let mut got = Vec::new();
        walk(&[d.path().to_path_buf()], &mut |p| {
            got.push(p.strip_prefix(d.path()).unwrap().display().to_string());
            true
        })
        .unwrap();
        assert_eq!(got, ["a.json.gz", "b/1.log", "b/2.json"]);
    }
}
