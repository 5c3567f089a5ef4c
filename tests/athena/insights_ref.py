"""A small, independent reference evaluator of the Logs Insights subset cwfix evaluates.

Written for the tests from the Insights documentation, not from cwfix's Rust code: the harness
compares `cwfix hunt` with it row for row, and the moto launcher uses it to answer StartQuery /
GetQueryResults the way Insights would (moto's own Insights engine ignores `filter`).

Semantics (the ones cwfix documents in docs/hunting.md):
  * fields: `expr [as name]`, left to right; later expressions see earlier names.
  * a field path walks objects by key and lists by numeric segment; objects, lists, null and
    missing fields are null; booleans read `true`/`false`; numbers keep their JSON text.
  * @timestamp = eventTime as `YYYY-MM-DD HH:MM:SS.000`; @message = the record as compact JSON.
  * comparisons and like/in are false on null; !=, not like, not in, not(...) are negations.
  * a number literal compares numerically with a value that reads as a number, else as text.
  * coalesce = first non-null; concat = texts joined, null as empty, null if all are null.
  * stats count(*)|count(f) [as n] by f...; sort f [asc|desc] (nulls last); limit n; display.
  * without `limit`, at most 10,000 rows.

    python insights_ref.py 'QUERY' FILE.jsonl   # prints {"columns": [...], "rows": [[...]]}
"""
import functools
import json
import re
import sys

CAP = 10000
TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
  | (?P<re>/(?:\\/|[^/])*/)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<op>!=|<=|>=|=~|==|=|<|>)
  | (?P<punct>[|,()\[\]*])
  | (?P<name>`[^`]*`|[A-Za-z_@$][A-Za-z0-9_@$.]*)
    )""",
    re.X,
)
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def tokenize(q):
    out, i = [], 0
    q = re.sub(r"#[^\n]*", "", q)
    while i < len(q):
        if q[i:].strip() == "":
            break
        m = TOKEN.match(q, i)
        if not m:
            raise ValueError(f"cannot tokenize at {i}: {q[i:i + 20]!r}")
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "re":
            text = text[1:-1].replace("\\/", "/")
        elif kind == "name" and text.startswith("`"):
            text = text[1:-1]
        out.append((kind, text))
        i = m.end()
    return out


class P:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def kw(self, word):
        k, v = self.peek()
        if k == "name" and v.lower() == word:
            self.i += 1
            return True
        return False

    def take(self, kind=None, text=None):
        k, v = self.peek()
        if (kind and k != kind) or (text and v != text):
            raise ValueError(f"expected {kind or text}, got {v!r}")
        self.i += 1
        return v

    # expressions as tuples: ("field", name) ("lit", value) ("call", f, args) ("cmp", op, a, b)
    # ("like", neg, a, kind, pat) ("in", neg, a, [lits]) ("not", e) ("and", [..]) ("or", [..])
    def expr(self):
        parts = [self.conj()]
        while self.kw("or"):
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conj(self):
        parts = [self.unary()]
        while self.kw("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def unary(self):
        if self.kw("not"):
            return ("not", self.unary())
        return self.comparison()

    def comparison(self):
        a = self.operand()
        k, v = self.peek()
        if k == "op":
            self.i += 1
            if v == "=~":
                return ("like", False, a, "re", self.take("re"))
            b = self.operand()
            return ("cmp", {"==": "="}.get(v, v), a, b)
        neg = False
        if self.peek()[0] == "name" and self.peek()[1].lower() == "not":
            nxt = self.t[self.i + 1] if self.i + 1 < len(self.t) else (None, None)
            if nxt[0] == "name" and nxt[1].lower() in ("like", "in"):
                self.i += 1
                neg = True
        if self.kw("like"):
            k, v = self.peek()
            self.i += 1
            return ("like", neg, a, "re" if k == "re" else "str", v)
        if self.kw("in"):
            self.take("punct", "[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.operand())
                if self.peek()[1] == ",":
                    self.i += 1
            self.take("punct", "]")
            return ("in", neg, a, items)
        return a

    def operand(self):
        k, v = self.peek()
        self.i += 1
        if k == "str":
            return ("lit", v, False)
        if k == "num":
            return ("lit", v, True)
        if v == "(":
            e = self.expr()
            self.take("punct", ")")
            return e
        if k == "name":
            if self.peek()[1] == "(":
                self.i += 1
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] == ",":
                        self.i += 1
                self.take("punct", ")")
                return ("call", v.lower(), args)
            return ("field", v)
        raise ValueError(f"unexpected {v!r}")


def split_commands(q):
    toks = tokenize(q)
    cmds, cur = [], []
    for t in toks:
        if t == ("punct", "|"):
            cmds.append(cur)
            cur = []
        else:
            cur.append(t)
    cmds.append(cur)
    return cmds


def parse(q):
    out = []
    for toks in split_commands(q):
        p = P(toks)
        name = p.take("name").lower()
        if name == "fields":
            items = []
            while True:
                start = p.i
                e = p.expr()
                alias = p.take("name") if p.kw("as") else (e[1] if e[0] == "field" else " ".join(t[1] for t in toks[start:p.i]))
                items.append((alias, e))
                if p.peek()[1] != ",":
                    break
                p.i += 1
            out.append(("fields", items))
        elif name == "filter":
            out.append(("filter", p.expr()))
        elif name == "display":
            names = [p.take("name")]
            while p.peek()[1] == ",":
                p.i += 1
                names.append(p.take("name"))
            out.append(("display", names))
        elif name == "stats":
            aggs = []
            while True:
                fname = p.take("name").lower()
                p.take("punct", "(")
                arg = None
                if p.peek()[1] == "*":
                    p.i += 1
                elif p.peek()[1] != ")":
                    arg = p.expr()
                p.take("punct", ")")
                alias = p.take("name") if p.kw("as") else f"{fname}({'*' if arg is None else arg[1]})"
                aggs.append((alias, fname, arg))
                if p.peek()[1] != ",":
                    break
                p.i += 1
            by = []
            if p.kw("by"):
                while True:
                    e = p.expr()
                    by.append((p.take("name") if p.kw("as") else e[1], e))
                    if p.peek()[1] != ",":
                        break
                    p.i += 1
            out.append(("stats", aggs, by))
        elif name == "sort":
            keys = []
            while True:
                f = p.take("name")
                desc = p.kw("desc")
                if not desc:
                    p.kw("asc")
                keys.append((f, desc))
                if p.peek()[1] != ",":
                    break
                p.i += 1
            out.append(("sort", keys))
        elif name == "limit":
            out.append(("limit", int(p.take("num"))))
        else:
            raise ValueError(f"unsupported command {name}")
    return out


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return v
    return None


def lookup(rec, name):
    if name == "@message":
        return json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
    if name == "@timestamp":
        t = rec.get("eventTime")
        if isinstance(t, str) and len(t) == 20 and t.endswith("Z"):
            return f"{t[:10]} {t[11:19]}.000"
        return None
    cur = rec
    for seg in name.split("."):
        if isinstance(cur, dict):
            cur = cur.get(seg)
        elif isinstance(cur, list) and seg.isdigit() and int(seg) < len(cur):
            cur = cur[int(seg)]
        else:
            return None
    return scalar(cur)


def num(s):
    return float(s) if s is not None and NUMBER.match(s) else None


def compare(a, b, b_is_num=False, a_is_num=False):
    """-1/0/1, or None when either side is null."""
    if a is None or b is None:
        return None
    if a_is_num or b_is_num:
        x, y = num(a), num(b)
        if x is not None and y is not None:
            return (x > y) - (x < y)
    return (a > b) - (a < b)


class Env:
    def __init__(self, rec, names):
        self.rec, self.names = rec, names

    def get(self, name):
        if name in self.names:
            return self.names[name]
        return lookup(self.rec, name) if self.rec is not None else None


def value(e, env):
    tag = e[0]
    if tag == "field":
        return env.get(e[1])
    if tag == "lit":
        return e[1]
    if tag == "call" and e[1] == "coalesce":
        for a in e[2]:
            v = value(a, env)
            if v is not None:
                return v
        return None
    if tag == "call" and e[1] == "concat":
        vals = [value(a, env) for a in e[2]]
        if all(v is None for v in vals):
            return None
        return "".join(v for v in vals if v is not None)
    return "true" if truth(e, env) else "false"


def is_num_lit(e):
    return e[0] == "lit" and e[2]


def truth(e, env):
    tag = e[0]
    if tag == "and":
        return all(truth(x, env) for x in e[1])
    if tag == "or":
        return any(truth(x, env) for x in e[1])
    if tag == "not":
        return not truth(e[1], env)
    if tag == "cmp":
        op, a, b = e[1], e[2], e[3]
        c = compare(value(a, env), value(b, env), is_num_lit(b), is_num_lit(a))
        if c is None:
            return op == "!="
        return {"=": c == 0, "!=": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]
    if tag == "like":
        v = value(e[2], env)
        hit = v is not None and (re.search(e[4], v) is not None if e[3] == "re" else e[4] in v)
        return hit != e[1]
    if tag == "in":
        v = value(e[2], env)
        hit = any(compare(v, value(x, env), is_num_lit(x)) == 0 for x in e[3])
        return hit != e[1]
    if tag == "call" and e[1] == "ispresent":
        return value(e[2][0], env) is not None
    return value(e, env) == "true"


def cmp_vals(a, b, desc):
    """Order for sort: nulls last either way; numbers numerically when both read as numbers."""
    if a is None or b is None:
        return (a is None) - (b is None)
    x, y = num(a), num(b)
    c = (x > y) - (x < y) if x is not None and y is not None else (a > b) - (a < b)
    return -c if desc else c


def run(query, records):
    cmds = parse(query)
    shown, rows, limit, table_mode = None, [], None, False
    pre = []
    for c in cmds:
        if c[0] in ("stats", "sort", "limit"):
            break
        pre.append(c)
    rest = cmds[len(pre):]
    envs = []
    for rec in records:
        env = Env(rec, {})
        ok = True
        for c in pre:
            if c[0] == "fields":
                for alias, e in c[1]:
                    env.names[alias] = value(e, env)
            elif c[0] == "filter" and not truth(c[1], env):
                ok = False
                break
        if ok:
            envs.append(env)
    for c in pre:
        if c[0] == "fields":
            shown = (shown or []) + [a for a, _ in c[1] if a not in (shown or [])]
        elif c[0] == "display":
            shown = list(dict.fromkeys(c[1]))
    table = [{"__env": e} for e in envs]
    cols = None
    for c in rest:
        if c[0] == "stats":
            table_mode = True
            groups = {}
            for env in envs:
                key = tuple(value(e, env) for _, e in c[2])
                g = groups.setdefault(key, [0] * len(c[1]))
                for i, (_, fname, arg) in enumerate(c[1]):
                    if fname == "count":
                        g[i] += 1 if arg is None or value(arg, env) is not None else 0
                    else:
                        raise ValueError(f"reference evaluator: stats {fname} not implemented")
            cols = [a for a, _ in c[2]] + [a for a, _, _ in c[1]]
            table = [dict(zip(cols, list(k) + [str(n) for n in v])) for k, v in groups.items()]
            shown = cols
        elif c[0] == "sort":
            def get(r, f):
                return r.get(f) if table_mode else r["__env"].get(f)

            def cmp_rows(r1, r2, keys=c[1]):
                for f, desc in keys:
                    o = cmp_vals(get(r1, f), get(r2, f), desc)
                    if o:
                        return o
                return 0

            table.sort(key=functools.cmp_to_key(cmp_rows))  # stable: ties keep input order
        elif c[0] == "limit":
            limit = c[1] if limit is None else min(limit, c[1])
            table = table[: c[1]]
        elif c[0] == "display":
            shown = list(dict.fromkeys(c[1]))
        elif c[0] == "fields":
            for r in table:
                env = r["__env"] if not table_mode else Env(None, r)
                for alias, e in c[1]:
                    v = value(e, env)
                    (env.names if not table_mode else r)[alias] = v
            shown = (shown or []) + [a for a, _ in c[1] if a not in (shown or [])]
        elif c[0] == "filter":
            table = [r for r in table if truth(c[1], r["__env"] if not table_mode else Env(None, r))]
    if limit is None:
        table = table[:CAP]
    shown = shown or ["@timestamp", "@message"]
    out = []
    for r in table:
        if table_mode:
            out.append([r.get(c) for c in shown])
        else:
            out.append([r["__env"].get(c) for c in shown])
    return {"columns": shown, "rows": out}


if __name__ == "__main__":
    recs = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
    print(json.dumps(run(sys.argv[1], recs)))
