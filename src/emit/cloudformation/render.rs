//! A template as text: JSON (`serde_json`, pretty) or block-style YAML with every string
//! double-quoted (a JSON scalar, which YAML reads the same) and one comment per resource.

use super::Res;
use serde_json::{json, Map, Value};

/// The template: header comments (YAML only), description, metadata, parameters, resources.
pub(super) fn render(
    header: &[String],
    description: &str,
    meta: &Value,
    params: &Map<String, Value>,
    res: &[Res],
    as_json: bool,
) -> String {
    if as_json {
        json_template(description, meta, params, res)
    } else {
        yaml_template(header, description, meta, params, res)
    }
}

fn json_template(description: &str, meta: &Value, params: &Map<String, Value>, res: &[Res]) -> String {
    let mut t = Map::new();
    t.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
    t.insert("Description".into(), json!(description));
    t.insert("Metadata".into(), meta.clone());
    if !params.is_empty() {
        t.insert("Parameters".into(), Value::Object(params.clone()));
    }
    let mut r = Map::new();
    for x in res {
        r.insert(x.id.clone(), x.body.clone());
    }
    if r.is_empty() {
        r.insert("NoChanges".into(), json!({"Type": "AWS::CloudFormation::WaitConditionHandle"}));
    }
    t.insert("Resources".into(), Value::Object(r));
    serde_json::to_string_pretty(&Value::Object(t)).unwrap_or_default() + "\n"
}

fn yaml_template(
    header: &[String],
    description: &str,
    meta: &Value,
    params: &Map<String, Value>,
    res: &[Res],
) -> String {
    let mut out = String::new();
    for h in header {
        out.push_str(format!("# {h}").trim_end());
        out.push('\n');
    }
    out.push_str("AWSTemplateFormatVersion: \"2010-09-09\"\n");
    out.push_str(&format!("Description: {}\n", scalar(&json!(description))));
    out.push_str("Metadata:\n");
    yaml(meta, 2, &mut out);
    if !params.is_empty() {
        out.push_str("Parameters:\n");
        yaml(&Value::Object(params.clone()), 2, &mut out);
    }
    out.push_str("Resources:");
    if res.is_empty() {
        // A template needs a resource; an empty plan gets a harmless wait condition handle.
        out.push_str("\n  NoChanges:\n    Type: \"AWS::CloudFormation::WaitConditionHandle\"\n");
        return out;
    }
    out.push('\n');
    for (i, r) in res.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for l in r.comment.lines() {
            out.push_str(&format!("  # {l}\n"));
        }
        out.push_str(&format!("  {}:\n", r.id));
        yaml(&r.body, 4, &mut out);
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn yaml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_default()
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(o) if !o.is_empty())
}

/// Block-style YAML of a mapping or sequence at `indent` spaces; scalars as JSON (double-quoted
/// strings, which YAML reads the same).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if is_block(x) {
                    out.push_str(&format!("{pad}{}:\n", yaml_key(k)));
                    yaml(x, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", yaml_key(k), scalar(x)));
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                if is_block(x) {
                    let mut inner = String::new();
                    yaml(x, indent + 2, &mut inner);
                    // The first line of the item goes after the dash.
                    let body = inner.strip_prefix(&" ".repeat(indent + 2)).unwrap_or(&inner);
                    out.push_str(&format!("{pad}- {body}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(x)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_blocks() {
        let mut s = String::new();
        yaml(&json!({"A": [{"K": "v", "L": 1}, "x"], "B": {}, "C": "q\""}), 0, &mut s);
        assert_eq!(s, "A:\n  - K: \"v\"\n    L: 1\n  - \"x\"\nB: {}\nC: \"q\\\"\"\n");
    }
}
