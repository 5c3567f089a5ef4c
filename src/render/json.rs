//! The plan as the versioned JSON document described in `docs/json-format.md`.

use crate::plan::Plan;
use std::io::Write;

pub fn plan(p: &Plan, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, p)?;
    writeln!(out)
}
