//! Rendering an [`Outcome`]: an aligned table, one JSON document, or CSV (RFC 4180).
//! Writes to the `impl Write` it is given; absent values print as empty cells (`null` in JSON).

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::Outcome;

/// Columns wider than this are not padded (a long `@message` stays on its line).
const MAX_PAD: usize = 60;

/// An aligned text table with a header line.
pub fn table(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let widths: Vec<usize> = o
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = o.rows.iter().map(|r| r[i].as_deref().map_or(0, |s| s.chars().count())).max().unwrap_or(0);
            w.max(c.chars().count()).min(MAX_PAD)
        })
        .collect();
    let line = |cells: Vec<&str>, out: &mut dyn Write| -> io::Result<()> {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            let c = c.replace(['\n', '\r', '\t'], " ");
            s.push_str(&c);
            if i + 1 < n {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(o.columns.iter().map(String::as_str).collect(), out)?;
    for r in &o.rows {
        line(r.iter().map(|c| c.as_deref().unwrap_or("")).collect(), out)?;
    }
    Ok(())
}

/// One JSON document: `format_version`, `engine`, `query`, `columns`, `rows` (objects keyed
/// by column, values are strings or null), `stats`, `truncated`.
pub fn json(o: &Outcome, engine: &str, query: &str, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<Value> = o
        .rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            for (c, v) in o.columns.iter().zip(r) {
                m.insert(c.clone(), v.as_ref().map_or(Value::Null, |s| Value::String(s.clone())));
            }
            Value::Object(m)
        })
        .collect();
    let s = &o.stats;
    let doc = json!({
        "format_version": "1.0",
        "engine": engine,
        "query": query,
        "columns": o.columns,
        "rows": rows,
        "truncated": o.truncated,
        "stats": {
            "files": s.files,
            "bad_files": s.bad_files.iter().map(|(p, e)| json!({"path": p, "error": e})).collect::<Vec<_>>(),
            "records_scanned": s.records_scanned,
            "records_matched": s.records_matched,
            "bytes_scanned": s.bytes_scanned,
        },
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV with a header line; every row has every column.
pub fn csv(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let head: Vec<String> = o.columns.iter().map(|c| csv_cell(c)).collect();
    write!(out, "{}\r\n", head.join(","))?;
    for r in &o.rows {
        let cells: Vec<String> = r.iter().map(|c| csv_cell(c.as_deref().unwrap_or(""))).collect();
        write!(out, "{}\r\n", cells.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Outcome {
        Outcome {
            columns: vec!["a".into(), "bb".into()],
            rows: vec![vec![Some("x,y".into()), None], vec![Some("say \"hi\"".into()), Some("z".into())]],
            ..Default::default()
        }
    }

    #[test]
    fn renders() {
        let mut t = Vec::new();
        table(&o(), &mut t).unwrap();
        assert_eq!(String::from_utf8(t).unwrap(), "a         bb\nx,y\nsay \"hi\"  z\n");
        let mut c = Vec::new();
        csv(&o(), &mut c).unwrap();
        assert_eq!(String::from_utf8(c).unwrap(), "a,bb\r\n\"x,y\",\r\n\"say \"\"hi\"\"\",z\r\n");
        let mut j = Vec::new();
        json(&o(), "local", "q", &mut j).unwrap();
        let v: Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v["rows"][0], json!({"a": "x,y", "bb": null}));
    }
}
