//! Small SQL text helpers shared by the compilers: literals, LIKE patterns, JSON paths, and
//! resolving a record path to an expression over the CloudTrail table.

use super::schema::{self, Field, Ty};
use super::CompileError;

/// `'text'` with `'` doubled.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A LIKE pattern for `prefix` + literal + `suffix` wildcards, escaped with `\`.
pub fn like(core: &str, lead: bool, trail: bool) -> String {
    let mut p = String::new();
    if lead {
        p.push('%');
    }
    for c in core.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    if trail {
        p.push('%');
    }
    lit(&p)
}

/// `x LIKE '...' ESCAPE '\'`
pub fn like_expr(x: &str, core: &str, lead: bool, trail: bool) -> String {
    format!("{x} LIKE {} ESCAPE '\\'", like(core, lead, trail))
}

/// One JSON-path step: `.name` or `["name"]`.
pub fn json_step(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!(".{name}")
    } else {
        format!("[\"{}\"]", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// `"quoted"` SQL identifier.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A decimal number as the pattern language and Insights read one, as a regex for
/// `regexp_like` (so `TRY_CAST` never sees `inf`, hex or spaces).
pub const NUMBER_RE: &str = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$";

/// What a record path selects in the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A string (or boolean-as-text) column or struct field: `expr` is its SQL.
    Scalar { expr: String, field: &'static Field },
    /// Inside a JSON-text column: `col` is the column, `path` the JSON path (`$` = whole).
    Json { col: String, path: String, field: &'static Field },
    /// A struct (an object in the record).
    Struct { expr: String, fields: &'static [Field], field: Option<&'static Field> },
    /// An array of structs (an array in the record).
    Array { expr: String, fields: &'static [Field], field: &'static Field },
    /// Selects nothing in any record (a name under a string, an index into an object).
    Missing,
}

/// One step of a record path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'a> {
    Name(&'a str),
    Index(usize),
}

/// The whole record.
pub fn root() -> Node {
    Node::Struct { expr: String::new(), fields: schema::COLUMNS, field: None }
}

/// Resolve `steps` from `start` (e.g. [`root`]) to a [`Node`]. `shown` names the path in errors.
pub fn resolve_from(start: Node, steps: &[Step], shown: &str) -> Result<Node, CompileError> {
    let not_col = || CompileError::NotInTable { path: shown.to_string() };
    let mut node = start;
    for s in steps {
        node = match (node, s) {
            (Node::Struct { expr, fields, .. }, Step::Name(n)) => {
                let f = schema::field(fields, n).ok_or_else(not_col)?;
                let e = if expr.is_empty() { f.sql.to_string() } else { format!("{expr}.{}", f.sql) };
                match f.ty {
                    Ty::Str | Ty::Bool => Node::Scalar { expr: e, field: f },
                    Ty::Json => Node::Json { col: e, path: "$".into(), field: f },
                    Ty::Struct(fs) => Node::Struct { expr: e, fields: fs, field: Some(f) },
                    Ty::ArrayOf(fs) => Node::Array { expr: e, fields: fs, field: f },
                    Ty::Map => return Err(not_col()),
                }
            }
            (Node::Array { expr, fields, .. }, Step::Index(i)) => {
                Node::Struct { expr: format!("element_at({expr}, {})", i + 1), fields, field: None }
            }
            (Node::Json { col, path, field }, Step::Name(n)) => Node::Json { col, path: path + &json_step(n), field },
            (Node::Json { col, path, field }, Step::Index(i)) => {
                Node::Json { col, path: format!("{path}[{i}]"), field }
            }
            // A name on an array, an index on an object or a scalar: selects nothing.
            _ => Node::Missing,
        };
    }
    Ok(node)
}
