//! JUnit XML (`cwfix plan -o junit`): one `<testsuite>` per account, one `<testcase>` per
//! control (`classname` = `<account>/<baseline>`, `name` = `<control id> <title>`).
//! `changes` and `blocked` are a `<failure>` (type = the status) whose message is the reason
//! and whose body lists the fix, the witness event and the scanner verdicts. `unknown` is an
//! `<error>`: the check could not run (a denied read), which CI must not count as a pass or as
//! an intentional skip.

use super::findings::{findings, Context, Finding};
use crate::plan::{Plan, Status};
use std::io::{self, Write};

/// Escapes text for XML attribute values and character data; drops characters XML 1.0 forbids.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// Character data: like [`xml_escape`] but keeps newlines readable.
fn text(s: &str) -> String {
    xml_escape(s).replace("&#10;", "\n")
}

fn details(f: &Finding) -> String {
    let mut lines = vec![format!("{} ({}, {}): {}", f.status_str(), f.plan.account, f.region, f.control.reason)];
    for l in f.fix_lines() {
        lines.push(format!("fix: {l}"));
    }
    if let Some(w) = &f.witness {
        lines.push(format!("witness event: {w}"));
    }
    if !f.control.scanners.is_empty() {
        lines.push(format!("scanners: {}", f.scanner_summary()));
    }
    lines.join("\n")
}

pub fn write(plans: &[Plan], ctx: &Context, out: &mut dyn Write) -> io::Result<()> {
    let all = findings(plans, ctx);
    let count = |fs: &[&Finding], s: Status| fs.iter().filter(|f| f.status() == s).count();
    let every: Vec<&Finding> = all.iter().collect();
    let failures = count(&every, Status::Changes) + count(&every, Status::Blocked);
    let errors = count(&every, Status::Unknown);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="cwfix plan" tests="{}" failures="{failures}" errors="{errors}" skipped="0" time="0" timestamp="{}">"#,
        all.len(),
        ctx.timestamp()
    )?;
    for (i, p) in plans.iter().enumerate() {
        let fs: Vec<&Finding> = all.iter().filter(|f| std::ptr::eq(f.plan, p)).collect();
        let suite = format!("{}/{}", p.account, p.baseline.name);
        writeln!(
            out,
            r#"  <testsuite name="{}" id="{i}" tests="{}" failures="{}" errors="{}" skipped="0" time="0" timestamp="{}">"#,
            xml_escape(&suite),
            fs.len(),
            count(&fs, Status::Changes) + count(&fs, Status::Blocked),
            count(&fs, Status::Unknown),
            ctx.timestamp()
        )?;
        writeln!(out, "    <properties>")?;
        for (k, v) in [
            ("account", p.account.as_str()),
            ("baseline", p.baseline.name.as_str()),
            ("baseline_origin", p.baseline.origin.as_str()),
            ("regions", &p.regions.join(",")),
        ] {
            writeln!(out, r#"      <property name="{k}" value="{}"/>"#, xml_escape(v))?;
        }
        writeln!(out, "    </properties>")?;
        for f in fs {
            let name = format!("{} {}", f.control.id, f.control.title);
            let open =
                format!(r#"    <testcase classname="{}" name="{}" time="0""#, xml_escape(&suite), xml_escape(&name));
            match f.status() {
                Status::Compliant => writeln!(out, "{open}/>")?,
                Status::Changes | Status::Blocked => {
                    writeln!(out, "{open}>")?;
                    writeln!(
                        out,
                        r#"      <failure type="{}" message="{}">{}</failure>"#,
                        f.status_str(),
                        xml_escape(&f.control.reason),
                        text(&details(f))
                    )?;
                    writeln!(out, "    </testcase>")?;
                }
                Status::Unknown => {
                    writeln!(out, "{open}>")?;
                    writeln!(
                        out,
                        r#"      <error type="unknown" message="{}">{}</error>"#,
                        xml_escape(&f.control.reason),
                        text(&details(f))
                    )?;
                    writeln!(out, "    </testcase>")?;
                }
            }
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings::tests::{ctx, sample};

    #[test]
    fn counts_and_elements() {
        let mut out = Vec::new();
        write(&[sample()], &ctx(), &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains(r#"<testsuites name="cwfix plan" tests="5" failures="3" errors="1" skipped="0""#), "{s}");
        assert_eq!(s.matches("<testcase ").count(), 5);
        assert_eq!(s.matches("<failure ").count(), 3);
        assert_eq!(s.matches("<error ").count(), 1);
        assert!(s.contains(r#"classname="123456789012/cis-v7.0" name="5.4 IAM policy changes""#));
        assert!(s.contains("witness event: {&quot;eventName&quot;:&quot;DetachGroupPolicy&quot;}"), "{s}");
    }

    #[test]
    fn escaping() {
        assert_eq!(xml_escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
