"""Trino SQL (what cwfix sends to Athena) -> DuckDB SQL, with sqlglot.

sqlglot translates most of it. Where DuckDB's function of the same name means something else,
the call is routed to a DuckDB macro that has Trino's meaning (each listed here, with why):

- json_extract_scalar(json, path): Trino returns NULL when the value at `path` is an object or
  an array; sqlglot's `->>` returns its JSON text. Macro `trino_json_extract_scalar`.
- any_match(array, x -> p): not in DuckDB; `list_bool_or(list_transform(...))` is the same for a
  non-empty array (cwfix wraps it in COALESCE(..., FALSE), which covers NULL and empty).
"""
import sqlglot
from sqlglot import exp

MACROS = [
    """CREATE OR REPLACE MACRO trino_json_extract_scalar(j, p) AS
       CASE WHEN json_type(json_extract(j, p)) IN ('OBJECT', 'ARRAY') THEN NULL
            ELSE json_extract_string(j, p) END""",
]


def install(con):
    for m in MACROS:
        con.execute(m)


def _path_sql(node) -> exp.Expression:
    # sqlglot parses the path literal into a JSONPath node; hand DuckDB the original text.
    if isinstance(node, exp.JSONPath):
        return exp.Literal.string(node.sql(dialect="trino").strip("'"))
    return node


def _rewrite(node):
    if isinstance(node, exp.JSONExtractScalar):
        return exp.Anonymous(this="trino_json_extract_scalar", expressions=[node.this, _path_sql(node.expression)])
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "any_match":
        lst, fn = node.expressions
        return exp.Anonymous(
            this="list_bool_or",
            expressions=[exp.Anonymous(this="list_transform", expressions=[lst, fn])],
        )
    return node


def to_duckdb(trino_sql: str) -> str:
    tree = sqlglot.parse_one(trino_sql, read="trino")
    tree = tree.transform(_rewrite)
    return tree.sql(dialect="duckdb")
