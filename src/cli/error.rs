//! Errors at the edge: rendered once, as `error: <what>`, one `caused by:` line per cause, then
//! a `hint:` when one helps. A hint is data attached to an error ([`Hinted`]), never an outer
//! message, so the reason always comes first.

use std::io::Write;

/// An error with a remedy. Displays as the error itself; the hint is printed last.
#[derive(Debug)]
pub struct Hinted {
    inner: anyhow::Error,
    hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.inner)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// `err.hint("run `cwfix plan` again")`.
pub trait WithHint {
    fn hint(self, hint: impl Into<String>) -> anyhow::Error;
}

impl<E: Into<anyhow::Error>> WithHint for E {
    fn hint(self, hint: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Hinted { inner: self.into(), hint: hint.into() })
    }
}

/// Renders `err` on stderr.
pub fn report(err: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        let _ = writeln!(stderr, "error: {top}");
    }
    let mut last = err.to_string();
    for cause in chain {
        // A wrapper that displays as its inner error would repeat the line.
        let text = cause.to_string();
        if text != last {
            let _ = writeln!(stderr, "  caused by: {text}");
        }
        last = text;
    }
    if let Some(h) = hint(err) {
        let _ = writeln!(stderr, "hint: {h}");
    }
}

fn hint(err: &anyhow::Error) -> Option<String> {
    use crate::aws::Error as E;
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return Some(h.hint.clone());
        }
    }
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<E>() {
            return Some(match e {
                E::Transport { .. } => match std::env::var("AWS_ENDPOINT_URL") {
                    Ok(url) => format!("AWS_ENDPOINT_URL is `{url}`: is that endpoint up? (unset it to talk to real AWS)"),
                    Err(_) => "check the network and the region; a proxy or firewall may block AWS endpoints".into(),
                },
                E::Credentials { .. } => "configure credentials: `aws configure`, `aws sso login --profile NAME` with --profile NAME, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
                E::AccessDenied { action, .. } => format!("grant `{action}` to the caller; `cwfix iam-policy --for plan|apply` prints the least-privilege policy"),
                E::Throttled { .. } => "AWS kept throttling; try again later or raise --max-attempts".into(),
                _ => return None,
            });
        }
        if cause.downcast_ref::<crate::baseline::Error>().is_some() {
            return Some(
                "`cwfix baselines` lists the shipped baselines; docs/baseline-format.md describes the file format"
                    .into(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_travels_through_context() {
        let e = anyhow::anyhow!("metric_filter.ct/f changed since the plan was made")
            .context("cannot apply saved plan `p.json`")
            .hint("run `cwfix plan --out p.json` again");
        let e = e.context("in the account of role `r`");
        assert_eq!(hint(&e).as_deref(), Some("run `cwfix plan --out p.json` again"));
        let lines: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        assert_eq!(lines[0], "in the account of role `r`");
        assert!(lines.iter().any(|l| l.contains("changed since the plan")), "{lines:?}");
    }
}
