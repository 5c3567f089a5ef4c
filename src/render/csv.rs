//! CSV (`cwfix plan -o csv`): a header, then one row per control and account:
//! `account,region,baseline,control,title,status,reason,changes,scanners`. `changes` joins the
//! planned addresses with `; `, `scanners` is `name=pass|fail|not_checked` joined with `; `.
//! RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled; CRLF line ends.

use super::findings::{findings, Context};
use crate::plan::Plan;
use std::io::{self, Write};

pub const HEADER: [&str; 9] =
    ["account", "region", "baseline", "control", "title", "status", "reason", "changes", "scanners"];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn row(out: &mut dyn Write, cells: &[&str]) -> io::Result<()> {
    let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
    write!(out, "{}\r\n", line.join(","))
}

pub fn write(plans: &[Plan], ctx: &Context, out: &mut dyn Write) -> io::Result<()> {
    row(out, &HEADER)?;
    for f in findings(plans, ctx) {
        let changes = f.control.changes.join("; ");
        row(
            out,
            &[
                &f.plan.account,
                &f.region,
                &f.plan.baseline.name,
                &f.control.id,
                &f.control.title,
                f.status_str(),
                &f.control.reason,
                &changes,
                &f.scanner_summary(),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings::tests::{ctx, sample};

    #[test]
    fn header_and_quoting() {
        let mut out = Vec::new();
        write(&[sample()], &ctx(), &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = s.split("\r\n").collect();
        assert_eq!(lines[0], "account,region,baseline,control,title,status,reason,changes,scanners");
        assert_eq!(lines.len(), 7, "header, 5 rows, trailing empty");
        assert!(lines.iter().any(|l| l.starts_with("123456789012,us-east-1,cis-v7.0,5.4,IAM policy changes,changes,\"metric filter `IAMPolicyChanges`: its pattern matches less than the baseline: it misses events such as {\"\"eventName\"\":\"\"DetachGroupPolicy\"\"}\",metric_filter.ct/IAMPolicyChanges,prowler=pass")), "{s}");
        assert_eq!(field("a,b"), "\"a,b\"");
    }
}
