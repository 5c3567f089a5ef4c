"""The CloudTrail table AWS documents for Athena, rebuilt in DuckDB.

Transcribed from the AWS Athena guide ("Create a table for CloudTrail logs in Athena using manual
partitioning"), independently of cwfix's own copy in src/athena/schema.rs, so the harness checks
cwfix's mapping instead of repeating it. Records are loaded the way the Hive JSON SerDe reads
them: keys match columns and struct fields case-insensitively; a STRING column keeps a JSON
string as is and any other JSON value as its compact JSON text (`requestParameters` objects,
`readOnly` booleans as `true`/`false`); JSON null and a missing key are both NULL; a STRUCT
column is NULL unless the value is an object; keys outside the DDL are dropped.
"""
import json

# (column, type); a type is "STRING", ("STRUCT", [...]), ("ARRAY", [...struct fields...]) or "MAP".
S = "STRING"
DDL = [
    ("eventversion", S),
    ("useridentity", ("STRUCT", [
        ("type", S), ("principalid", S), ("arn", S), ("accountid", S), ("invokedby", S),
        ("accesskeyid", S), ("username", S),
        ("onbehalfof", ("STRUCT", [("userid", S), ("identitystorearn", S)])),
        ("sessioncontext", ("STRUCT", [
            ("attributes", ("STRUCT", [("mfaauthenticated", S), ("creationdate", S)])),
            ("sessionissuer", ("STRUCT", [("type", S), ("principalid", S), ("arn", S),
                                          ("accountid", S), ("username", S)])),
            ("ec2roledelivery", S),
            ("webidfederationdata", ("STRUCT", [("federatedprovider", S), ("attributes", "MAP")])),
        ])),
    ])),
    ("eventtime", S), ("eventsource", S), ("eventname", S), ("awsregion", S),
    ("sourceipaddress", S), ("useragent", S), ("errorcode", S), ("errormessage", S),
    ("requestparameters", S), ("responseelements", S), ("additionaleventdata", S),
    ("requestid", S), ("eventid", S),
    ("resources", ("ARRAY", [("arn", S), ("accountid", S), ("type", S)])),
    ("eventtype", S), ("apiversion", S), ("readonly", S), ("recipientaccountid", S),
    ("serviceeventdetails", S), ("sharedeventid", S), ("vpcendpointid", S),
    ("vpcendpointaccountid", S), ("eventcategory", S),
    ("addendum", ("STRUCT", [("reason", S), ("updatedfields", S), ("originalrequestid", S),
                             ("originaleventid", S)])),
    ("sessioncredentialfromconsole", S), ("edgedevicedetails", S),
    ("tlsdetails", ("STRUCT", [("tlsversion", S), ("ciphersuite", S), ("clientprovidedhostheader", S)])),
]


def duck_type(t) -> str:
    if t == S:
        return "VARCHAR"
    if t == "MAP":
        return "MAP(VARCHAR, VARCHAR)"
    kind, fields = t
    inner = ", ".join(f'"{n}" {duck_type(ft)}' for n, ft in fields)
    return f"STRUCT({inner})" if kind == "STRUCT" else f"STRUCT({inner})[]"


def _get(obj: dict, name: str):
    """Case-insensitive key lookup, as the SerDe does (first match wins)."""
    for k, v in obj.items():
        if k.lower() == name:
            return v
    return None


def _convert(v, t):
    if v is None:
        return None
    if t == S:
        if isinstance(v, str):
            return v
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if t == "MAP":
        return {str(k): (x if isinstance(x, str) else json.dumps(x)) for k, x in v.items()} if isinstance(v, dict) else None
    kind, fields = t
    if kind == "STRUCT":
        if not isinstance(v, dict):
            return None
        return {n: _convert(_get(v, n), ft) for n, ft in fields}
    if not isinstance(v, list):
        return None
    return [_convert(x, ("STRUCT", fields)) for x in v]


def row(record: dict) -> dict:
    return {n: _convert(_get(record, n), t) for n, t in DDL}


def load(con, records, name="cloudtrail_logs"):
    """Create `name` with the documented columns (plus `cwfix_row`, the record's index)."""
    import os
    import tempfile

    types = {"cwfix_row": "INTEGER"}
    types.update({n: duck_type(t) for n, t in DDL})
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(fd, "w") as out:
            for i, rec in enumerate(records):
                r = {"cwfix_row": i}
                r.update(row(rec))
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
        cols = "{" + ", ".join(f"'{n}': '{t}'" for n, t in types.items()) + "}"
        con.execute(
            f"CREATE OR REPLACE TABLE \"{name}\" AS SELECT * FROM "
            f"read_json('{path}', format = 'newline_delimited', columns = {cols}, maximum_object_size = 16777216)"
        )
    finally:
        os.unlink(path)
