//! Infrastructure as code from a plan: `cwfix plan --emit terraform DIR` and `--emit
//! cloudformation FILE` write the plan's changes (exactly its after-state) as Terraform or
//! CloudFormation for teams that review and apply through code instead of `cwfix apply`.
//! Resources the plan updates in place are adopted (Terraform `import` blocks, CloudFormation
//! resource import), never re-created.
//!
//! The generators ([`terraform::files`], [`cloudformation::templates`]) are pure functions of
//! the plan; this module only parses the `--emit` arguments and writes the files. No AWS, no
//! rendering of the plan itself. The layout of the output is described in `docs/emit.md`.

pub mod cloudformation;
pub mod terraform;

use crate::plan::{Change, Kind, Plan};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown --emit format `{0}` (expected `terraform DIR` or `cloudformation FILE`)")]
    UnknownFormat(String),
    #[error("--emit {0} needs a path")]
    MissingPath(String),
    #[error("cannot write `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where to write what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A directory of `.tf` files (one subdirectory per account when several are planned).
    Terraform(PathBuf),
    /// A template file (`.json` for JSON, YAML otherwise); one per account and region.
    CloudFormation(PathBuf),
}

/// Parses the `--emit` values, given as (format, path) pairs.
pub fn parse(args: &[String]) -> Result<Vec<Target>, Error> {
    args.chunks(2)
        .map(|pair| {
            let kind = pair[0].as_str();
            let path = pair.get(1).ok_or_else(|| Error::MissingPath(kind.to_string()))?;
            match kind.to_ascii_lowercase().as_str() {
                "terraform" | "tf" => Ok(Target::Terraform(PathBuf::from(path))),
                "cloudformation" | "cfn" => Ok(Target::CloudFormation(PathBuf::from(path))),
                _ => Err(Error::UnknownFormat(kind.to_string())),
            }
        })
        .collect()
}

/// Writes every `--emit` target for `plans`; returns notes for stderr (files written, the
/// import identifiers of resources that exist already).
pub fn run(args: &[String], plans: &[Plan]) -> Result<Vec<String>, Error> {
    let targets = parse(args)?;
    let mut notes = Vec::new();
    for t in &targets {
        notes.extend(write(t, plans)?);
    }
    Ok(notes)
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// Writes one target; returns the notes.
pub fn write(target: &Target, plans: &[Plan]) -> Result<Vec<String>, Error> {
    let mut notes = Vec::new();
    match target {
        Target::Terraform(dir) => {
            for p in plans {
                let d = if plans.len() > 1 { dir.join(&p.account) } else { dir.clone() };
                let files = terraform::files(p);
                for (name, text) in &files {
                    write_file(&d.join(name), text)?;
                }
                notes.push(format!(
                    "Wrote Terraform for account {} to {} ({}); review it, then `terraform init && terraform plan`",
                    p.account,
                    d.display(),
                    files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                ));
                for line in terraform::imports(p) {
                    notes.push(format!("  import: {line}"));
                }
            }
        }
        Target::CloudFormation(file) => {
            let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let mut all = Vec::new();
            for p in plans {
                for t in cloudformation::templates(p, json) {
                    all.push((p.account.clone(), t));
                }
            }
            let several_accounts = plans.len() > 1;
            let several = all.len() > 1;
            for (account, t) in &all {
                let tag = match (several_accounts, several) {
                    (true, _) => Some(format!("{account}.{}", t.region)),
                    (false, true) => Some(t.region.clone()),
                    (false, false) => None,
                };
                let main = with_tag(file, tag.as_deref(), None);
                write_file(&main, &t.template)?;
                notes.push(format!("Wrote CloudFormation for account {account}, {} to {}", t.region, main.display()));
                if let (Some(import_template), Some(resources)) = (&t.import_template, &t.resources_to_import) {
                    let it = with_tag(file, tag.as_deref(), Some("import"));
                    let ir = with_tag(&file.with_extension("json"), tag.as_deref(), Some("resources-to-import"));
                    write_file(&it, import_template)?;
                    write_file(&ir, resources)?;
                    notes.push(format!(
                        "  {} resource(s) exist already: import them first (template {}, identifiers {}), then deploy {}",
                        t.imports.len(),
                        it.display(),
                        ir.display(),
                        main.display()
                    ));
                    for line in &t.imports {
                        notes.push(format!("  import: {line}"));
                    }
                }
            }
        }
    }
    Ok(notes)
}

/// `dir/stem[.tag][.suffix].ext`.
fn with_tag(file: &Path, tag: Option<&str>, suffix: Option<&str>) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "cwfix".into());
    let ext = file.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "yaml".into());
    let mut name = stem;
    for part in [tag, suffix].into_iter().flatten() {
        name.push('.');
        name.push_str(part);
    }
    name.push('.');
    name.push_str(&ext);
    file.with_file_name(name)
}

/// The plan's changes grouped by region (regions in first-appearance order), for reading:
/// topics and subscriptions first, then each control's filter and alarm together in the
/// baseline's control order, then retention and saved queries.
pub fn by_region(p: &Plan) -> Vec<(String, Vec<&Change>)> {
    let mut out: Vec<(String, Vec<&Change>)> = Vec::new();
    for c in &p.changes {
        match out.iter_mut().find(|(r, _)| *r == c.region) {
            Some((_, v)) => v.push(c),
            None => out.push((c.region.clone(), vec![c])),
        }
    }
    let control = |c: &Change| p.controls.iter().position(|x| Some(&x.id) == c.control.as_ref()).unwrap_or(usize::MAX);
    for (_, v) in &mut out {
        v.sort_by_key(|c| match c.kind {
            Kind::SnsTopic => (0, 0, 0),
            Kind::SnsTopicPolicy => (0, 0, 1),
            Kind::SnsSubscription => (1, 0, 0),
            Kind::MetricFilter => (2, control(c), 0),
            Kind::MetricAlarm => (2, control(c), 1),
            Kind::LogRetention => (3, 0, 0),
            Kind::QueryDefinition => (4, 0, 0),
        });
    }
    out
}

/// Words of a name: `IAMPolicyChanges` -> [iam, policy, changes]; `cis-5.1-x` -> [cis, 5, 1, x].
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if boundary && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Controls and reason of a change, for a one-line comment: `5.1, 5.2: reason`.
pub fn why(c: &Change) -> String {
    let controls = if c.controls.len() > 4 {
        format!("{} ... {} ({} controls)", c.controls[0], c.controls[c.controls.len() - 1], c.controls.len())
    } else {
        c.controls.join(", ")
    };
    format!("{controls}: {}", c.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_camel_case_and_separators() {
        assert_eq!(words("IAMPolicyChanges"), vec!["iam", "policy", "changes"]);
        assert_eq!(words("cis-5.1-unauthorized-api-calls"), vec!["cis", "5", "1", "unauthorized", "api", "calls"]);
        assert_eq!(words("RootAccountUsageAlarm"), vec!["root", "account", "usage", "alarm"]);
        assert_eq!(words("cwfix/hunting/x"), vec!["cwfix", "hunting", "x"]);
    }

    #[test]
    fn emit_arguments() {
        let a: Vec<String> = ["terraform", "out", "cfn", "t.yaml"].iter().map(|s| s.to_string()).collect();
        assert_eq!(parse(&a).unwrap(), vec![Target::Terraform("out".into()), Target::CloudFormation("t.yaml".into())]);
        assert!(matches!(parse(&["pulumi".to_string(), "x".to_string()]), Err(Error::UnknownFormat(_))));
    }

    #[test]
    fn file_names_per_region_and_import() {
        assert_eq!(with_tag(Path::new("a/cwfix.yaml"), None, None), PathBuf::from("a/cwfix.yaml"));
        assert_eq!(
            with_tag(Path::new("a/cwfix.yaml"), Some("eu-west-1"), Some("import")),
            PathBuf::from("a/cwfix.eu-west-1.import.yaml")
        );
        assert_eq!(with_tag(Path::new("t"), None, None), PathBuf::from("t.yaml"));
    }
}
