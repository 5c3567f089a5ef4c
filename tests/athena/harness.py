#!/usr/bin/env python3
"""Proof that the Trino SQL cwfix emits means what the local engines mean.

    python tests/athena/harness.py --cwfix target/debug/cwfix [--json]

1. Builds one corpus (JSON lines): the JSON events of tests/data/filter_vectors.jsonl, near-miss
   records for every control of every shipped baseline (corpus.py), a generated CloudTrail corpus
   (benches/backtest/gen_corpus.py, 5,000 events) and the records of tests/data/backtest.
2. Loads it into DuckDB with the CloudTrail table schema AWS documents for Athena (table.py).
3. Backtests: for every shipped baseline, `cwfix backtest --engine athena --sql` is transpiled
   (transpile.py) and run; per control, the matched count, the per-day counts and the top
   principals / event names / source IPs must equal `cwfix backtest -o json` on the same corpus.
4. Patterns: every JSON pattern of the filter vectors that compiles (a one-control baseline per
   pattern) must count the same in SQL as locally; the ones that do not compile must be the
   documented cases (term / space-delimited patterns, properties outside the table).
5. Hunts: the three seed queries of the `hunting` baseline and a few more must give the same
   rows from `cwfix hunt` as from insights_ref.py (an independent evaluator), and the Athena SQL
   the same rows as the local engine (all columns but `@message`, whose Athena rendering is
   documented as approximate).

Exit 0 when everything agrees; prints one line per check and a JSON summary with --json.
"""
import argparse
import collections
import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import insights_ref  # noqa: E402
import table  # noqa: E402
import transpile  # noqa: E402

ACCOUNT = "111122223333"
EXTRA_HUNTS = [
    "stats count(*) as n by eventSource, eventName | sort n desc, eventSource, eventName | limit 20",
    "filter errorCode like /AccessDenied|Unauthorized/ | stats count(*) as n, count(errorMessage) as m by userIdentity.type",
    "fields eventName, userIdentity.sessionContext.sessionIssuer.userName as issuer, resources.0.ARN as res "
    "| filter ispresent(res) or issuer != 'ReadOnlyAudit' | sort eventName desc | limit 50",
    "filter awsRegion in ['us-east-1', 'eu-west-1'] and not (eventName like 'Describe') "
    "| fields @timestamp, eventName, requestParameters.durationSeconds as d | filter d >= 3600 or d = 900",
]


def sh(args, check=True):
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(args)}\n{p.stderr}")
    return p


def read_records(path):
    data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    doc = json.loads(data)
    return doc["Records"] if isinstance(doc, dict) and "Records" in doc else doc


def build_corpus(cwfix, work):
    recs = []
    for line in open(os.path.join(REPO, "tests/data/filter_vectors.jsonl")):
        ev = json.loads(line)["event"]
        if isinstance(ev, dict):
            recs.append(ev)
    n_vectors = len(recs)
    names = [b["name"] for b in json.loads(sh([cwfix, "baselines", "-o", "json"]).stdout)]
    canon = []
    for n in names:
        b = json.loads(sh([cwfix, "baselines", "show", n, "-o", "json"]).stdout)
        canon.extend(c["canonical"] for c in b["controls"])
    near = corpus.generate(canon)
    recs.extend(near)
    gen = os.path.join(work, "gen")
    sh([sys.executable, os.path.join(REPO, "benches/backtest/gen_corpus.py"), gen, "5000", "7", "--days", "2", "--jobs", "1"])
    gen_files = sorted(glob.glob(os.path.join(gen, "**", "*.json.gz"), recursive=True))
    n_gen = 0
    for f in gen_files:
        r = read_records(f)
        n_gen += len(r)
        recs.extend(r)
    fixture = sorted(glob.glob(os.path.join(REPO, "tests/data/backtest/AWSLogs/*/CloudTrail/**/*.json.gz"), recursive=True))
    n_fix = 0
    for f in fixture:
        try:
            r = read_records(f)
        except Exception:  # the fixture holds deliberately broken files
            continue
        n_fix += len(r)
        recs.extend(r)
    # One `{"Records": [...]}` file, as CloudTrail writes to S3 (cwfix backtest reads JSON lines
    # in quadratic time today: serde_json computes an error position from the start of the input
    # for every line; reported on issue #13).
    path = os.path.join(work, "corpus.json")
    with open(path, "w") as out:
        json.dump({"Records": recs}, out, separators=(",", ":"), ensure_ascii=False)
    return recs, path, names, {"vectors": n_vectors, "near_miss": len(near), "generated": n_gen, "fixture": n_fix}


def run_sql(con, trino_sql):
    sql = transpile.to_duckdb(trino_sql.strip().rstrip(";"))
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return cols, cur.fetchall()


def check_backtest(cwfix, con, corpus_path, baseline, top=5):
    local = json.loads(sh([cwfix, "backtest", "-b", baseline, "-o", "json", "-j", "2", "--top", str(top), corpus_path]).stdout)
    sql = sh([cwfix, "backtest", "-b", baseline, "--engine", "athena", "--sql", "--top", str(top)]).stdout
    _, rows = run_sql(con, sql)
    got = collections.defaultdict(lambda: {"matched": 0, "day": {}, "principal": [], "event_name": [], "ip": []})
    events = None
    for control, kind, k, n, _tmin, _tmax in rows:
        if control == "*":
            events = n
            continue
        g = got[control]
        if kind == "matched":
            g["matched"] = n
        elif kind == "day" and k is not None:
            g["day"][int(k)] = n
        elif kind in ("principal", "event_name", "ip"):
            g[kind].append((k, n))
    problems = []
    if events != local["events"]:
        problems.append(f"events: sql {events} local {local['events']}")
    for c in local["controls"]:
        g = got[c["id"]]
        if g["matched"] != c["matched"]:
            problems.append(f"{c['id']}: matched sql {g['matched']} local {c['matched']}")
            continue
        local_days = {}
        for d in c["daily"]:
            if d["matched"]:
                y, m, dd = map(int, d["date"].split("-"))
                import datetime

                local_days[(datetime.date(y, m, dd) - datetime.date(1970, 1, 1)).days] = d["matched"]
        if g["day"] != local_days:
            problems.append(f"{c['id']}: daily sql {g['day']} local {local_days}")
        for kind, key in (("principal", "top_principals"), ("event_name", "top_event_names"), ("ip", "top_source_ips")):
            mine = sorted(g[kind], key=lambda x: (-x[1], x[0]))[:top]
            theirs = [(x["value"], x["count"]) for x in c[key]]
            if mine != theirs:
                problems.append(f"{c['id']}: {kind} sql {mine} local {theirs}")
    matched = sum(c["matched"] for c in local["controls"])
    return {"baseline": baseline, "controls": len(local["controls"]), "events": local["events"],
            "matched": matched, "problems": problems}


BASELINE_HEAD = """name = "vectors"
title = "filter vectors as controls"
source = "tests/data/filter_vectors.jsonl"
[alarm]
statistic = "Sum"
period = 300
threshold = 1.0
comparison_operator = "GreaterThanOrEqualToThreshold"
evaluation_periods = 1
treat_missing_data = "notBreaching"
[metrics]
namespace = "Vectors"
[notification]
topic = "vectors"
"""


def control_toml(i, pattern):
    return (f'[[controls]]\nid = "v{i}"\ntitle = "vector {i}"\nmetric_name = "V{i}"\nfilter_name = "v{i}"\n'
            f"pattern = '''{pattern}'''\n")


def check_vector_patterns(cwfix, con, corpus_path, work):
    pats = []
    for line in open(os.path.join(REPO, "tests/data/filter_vectors.jsonl")):
        p = json.loads(line)["pattern"]
        if p not in pats:
            pats.append(p)
    ok, refused = [], []
    for i, p in enumerate(pats):
        f = os.path.join(work, f"v{i}.toml")
        with open(f, "w") as out:
            out.write(BASELINE_HEAD + control_toml(i, p))
        r = sh([cwfix, "backtest", "-b", f, "--engine", "athena", "--sql"], check=False)
        if r.returncode == 0:
            ok.append((i, p))
        else:
            refused.append((p, r.stderr.strip().splitlines()[0] if r.stderr.strip() else "?"))
    f = os.path.join(work, "vectors.toml")
    with open(f, "w") as out:
        out.write(BASELINE_HEAD + "".join(control_toml(i, p) for i, p in ok))
    res = check_backtest(cwfix, con, corpus_path, f)
    res["baseline"] = "filter-vector patterns"
    res["refused"] = refused
    # Refusals must be the documented ones.
    for p, why in refused:
        if not ("needs the raw log message" in why or "is not a column of the CloudTrail table" in why):
            res["problems"].append(f"unexpected refusal of {p!r}: {why}")
    return res


def seed_queries():
    import tomllib

    with open(os.path.join(REPO, "baselines/hunting.toml"), "rb") as f:
        doc = tomllib.load(f)
    return [(q["name"], q["query"].replace("${account}", ACCOUNT)) for q in doc["queries"]]


def row_key(r):
    """Sortable form of a row with nulls."""
    return tuple((v is None, v or "") for v in r)


def norm_rows(cols, rows, drop=("@message",)):
    keep = [i for i, c in enumerate(cols) if c not in drop]
    return sorted((tuple(r[i] for i in keep) for r in rows), key=row_key)


def check_hunt(cwfix, con, corpus_path, records, name, query, ordered):
    local = json.loads(sh([cwfix, "hunt", query, corpus_path, "--format", "json", "-j", "2"]).stdout)
    lcols = local["columns"]
    lrows = [[r[c] for c in lcols] for r in local["rows"]]
    ref = insights_ref.run(query, records)
    problems = []
    if ref["columns"] != lcols:
        problems.append(f"columns: reference {ref['columns']} local {lcols}")
    elif [tuple(r) for r in (ref["rows"] if ordered else sorted(ref["rows"], key=row_key))] != [
        tuple(r) for r in (lrows if ordered else sorted(lrows, key=row_key))
    ]:
        problems.append(f"rows differ from the reference: reference {len(ref['rows'])} local {len(lrows)}")
    sql = sh([cwfix, "hunt", query, "--engine", "athena", "--sql"]).stdout
    scols, srows = run_sql(con, sql)
    srows = [[None if v is None else str(v) for v in r] for r in srows]
    if scols != lcols:
        problems.append(f"columns: sql {scols} local {lcols}")
    elif norm_rows(scols, srows) != norm_rows(lcols, lrows):
        a, b = set(norm_rows(scols, srows)), set(norm_rows(lcols, lrows))
        problems.append(f"sql rows differ: sql {len(srows)} local {len(lrows)}; only sql {list(a - b)[:2]} only local {list(b - a)[:2]}")
    return {"query": name, "rows": len(lrows), "problems": problems}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cwfix", required=True)
    ap.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cwfix-athena-") as work:
        records, path, baselines, sizes = build_corpus(args.cwfix, work)
        con = duckdb.connect()
        table.load(con, records)
        transpile.install(con)
        print(f"corpus: {len(records)} records ({sizes})")
        results = []
        for b in baselines:
            results.append(check_backtest(args.cwfix, con, path, b))
        results.append(check_vector_patterns(args.cwfix, con, path, work))
        hunts = [(n, q, False) for n, q in seed_queries()] + [(f"extra-{i + 1}", q, "sort" in q) for i, q in enumerate(EXTRA_HUNTS)]
        hres = [check_hunt(args.cwfix, con, path, records, n, q, o) for n, q, o in hunts]
    bad = 0
    for r in results:
        status = "ok" if not r["problems"] else "MISMATCH"
        bad += bool(r["problems"])
        extra = f", {len(r['refused'])} refused" if "refused" in r else ""
        print(f"{status:8} backtest {r['baseline']:<24} {r['controls']:3} controls, {r['events']} events, "
              f"{r['matched']} matches, SQL = local{extra}")
        for p in r["problems"][:10]:
            print(f"         {p}")
    for r in hres:
        status = "ok" if not r["problems"] else "MISMATCH"
        bad += bool(r["problems"])
        print(f"{status:8} hunt     {r['query']:<50} {r['rows']} rows: local = reference = SQL")
        for p in r["problems"]:
            print(f"         {p}")
    if args.json:
        print(json.dumps({"ok": bad == 0, "records": len(records), "corpus": sizes, "backtests": results, "hunts": hres}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
