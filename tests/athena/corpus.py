"""Near-miss CloudTrail records for every control of every shipped baseline.

For each control, the atoms of its canonical pattern (`$.path = "value"`, `!=`, `NOT EXISTS`,
`IS NULL`, wildcards) are set, mutated (one character off, case flipped, wildcard core only,
another value), or left out, at random but seeded, on top of a realistic record. So each
control gets true positives and records that miss by one atom, including the missing-field
cases where `!=` and `NOT EXISTS` differ.

Records follow CloudTrail's contract where the Athena table depends on it: JSON null appears
only in `requestParameters` / `responseElements` (the only properties CloudTrail writes as null).
"""
import random
import re

ATOM = re.compile(
    r'\$\.(?P<path>[A-Za-z0-9_.]+) (?:(?P<op>=|!=) (?P<val>"(?:\\.|[^"\\])*"|[^ )]+)|(?P<kw>NOT EXISTS|IS NULL|IS TRUE|IS FALSE))'
)

NAMES = ["alice", "bob", "ci-bot", "terraform"]
REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-south-1"]


def base(rng, i):
    t = f"2024-03-{4 + i % 3:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
    user = rng.choice(NAMES)
    rec = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": rng.choice(["IAMUser", "AssumedRole", "Root", "AWSService"]),
            "principalId": "AIDAEXAMPLE",
            "arn": f"arn:aws:iam::111122223333:user/{user}",
            "accountId": "111122223333",
            "userName": user,
        },
        "eventTime": t,
        "eventSource": rng.choice(["ec2.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com", "sts.amazonaws.com"]),
        "eventName": rng.choice(["DescribeInstances", "GetObject", "AssumeRole", "ListUsers"]),
        "awsRegion": rng.choice(REGIONS),
        "sourceIPAddress": f"198.51.100.{rng.randrange(1, 255)}",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": rng.choice([None, {"bucketName": "b"}, {"durationSeconds": 3600}]),
        "responseElements": rng.choice([None, {"ConsoleLogin": "Success"}]),
        "requestID": f"req-{i}",
        "eventID": f"ev-{i}",
        "readOnly": rng.choice([True, False]),
        "eventType": rng.choice(["AwsApiCall", "AwsConsoleSignIn"]),
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }
    if rng.random() < 0.3:
        rec["userIdentity"]["invokedBy"] = rng.choice(["AWS Internal", "cloudformation.amazonaws.com"])
    if rng.random() < 0.2:
        rec["resources"] = [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/k", "accountId": "111122223333", "type": "AWS::KMS::Key"}]
    return rec


def unquote(v):
    if v.startswith('"'):
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


def satisfy(rng, pat):
    """A text that matches the wildcard pattern `pat`."""
    lead, trail = pat.startswith("*"), pat.endswith("*") and len(pat) > 1
    core = pat.strip("*") if (lead or trail) else pat
    if pat == "*":
        return rng.choice(["x", "AccessDenied", ""])
    pre = rng.choice(["", "Client.", "x"]) if lead else ""
    post = rng.choice(["", "Exception", "X"]) if trail else ""
    return pre + core + post


def near(rng, pat):
    """A text that misses `pat` by a little."""
    core = pat.strip("*") or "x"
    choices = [core[:-1], core.lower() if core.lower() != core else core.upper(), core + "_", "x" + core[1:]]
    if pat.startswith("*") and not pat.endswith("*"):
        choices.append(core + "X")  # suffix pattern: extra character at the end misses
    if pat.endswith("*") and not pat.startswith("*"):
        choices.append("X" + core)  # prefix pattern
    return rng.choice(choices)


def put(rec, path, value):
    keys = path.split(".")
    cur = rec
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[k] = nxt
        cur = nxt
    if value is ...:
        cur.pop(keys[-1], None)
    else:
        cur[keys[-1]] = value


NULLABLE = {"requestParameters", "responseElements"}


def records_for(canonical, rng, n, start):
    atoms = [m.groupdict() for m in ATOM.finditer(canonical)]
    out = []
    for i in range(n):
        rec = base(rng, start + i)
        for a in atoms:
            path = a["path"]
            r = rng.random()
            if a["kw"]:
                if a["kw"] == "NOT EXISTS":
                    put(rec, path, ... if r < 0.6 else "AWS Internal")
                elif a["kw"] == "IS NULL" and path in NULLABLE:
                    put(rec, path, None if r < 0.6 else {"k": "v"})
                elif a["kw"] in ("IS TRUE", "IS FALSE"):
                    put(rec, path, r < 0.5)
                continue
            val = unquote(a["val"])
            if r < 0.55:
                put(rec, path, satisfy(rng, val))
            elif r < 0.8:
                put(rec, path, near(rng, val))
            elif r < 0.9:
                put(rec, path, ...)
            else:
                put(rec, path, rng.choice(["Other", "AccessDenied", "ConsoleLogin", "Yes", "No"]))
        out.append(rec)
    return out


def generate(canonicals, seed=13, per_control=40):
    rng = random.Random(seed)
    out = []
    for c in canonicals:
        out.extend(records_for(c, rng, per_control, len(out)))
    return out
