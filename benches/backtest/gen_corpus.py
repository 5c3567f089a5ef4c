#!/usr/bin/env python3
"""Deterministic synthetic CloudTrail corpus for `cwfix backtest` benchmarks and fixtures.

Writes gzipped hourly files in the S3 layout CloudTrail delivers:

    OUT/AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<rand16>.json.gz

each `{"Records":[...]}`. Records look like real ones (field order, identity shapes, user agents,
request parameters, TLS details) and mix read-only noise, throttling/not-found errors, AccessDenied
and Client.UnauthorizedOperation, console sign-ins, service events, and a few true positives for
every control of the cis-v7.0 baseline (5.1-5.15). Same arguments, same bytes.

usage: gen_corpus.py OUT_DIR N_EVENTS SEED [--days D] [--regions R] [--jobs J]
"""

import argparse
import gzip
import json
import os
import random
import string
import sys
import uuid
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool

ACCT = "111122223333"
ALL_REGIONS = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1", "sa-east-1"]
REGION_WEIGHT = [10, 4, 3, 1, 1, 1]
START = datetime(2024, 3, 4, tzinfo=timezone.utc)

USER_AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/ec2.describe-instances",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0",
    "Boto3/1.34.54 md/Botocore#1.34.54 ua/2.0 os/linux#5.10.210 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.54",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.0 (go1.22.0; linux; amd64)",
    "console.amazonaws.com",
    "AWS Internal",
]

# (eventSource, eventName, readOnly, weight)
NOISE = [
    ("ec2.amazonaws.com", "DescribeInstances", True, 30),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", True, 8),
    ("ec2.amazonaws.com", "DescribeVolumes", True, 6),
    ("ec2.amazonaws.com", "DescribeNetworkInterfaces", True, 6),
    ("sts.amazonaws.com", "AssumeRole", True, 25),
    ("sts.amazonaws.com", "GetCallerIdentity", True, 6),
    ("kms.amazonaws.com", "Decrypt", True, 20),
    ("kms.amazonaws.com", "GenerateDataKey", True, 10),
    ("s3.amazonaws.com", "GetBucketAcl", True, 6),
    ("s3.amazonaws.com", "ListBuckets", True, 4),
    ("s3.amazonaws.com", "HeadBucket", True, 3),
    ("iam.amazonaws.com", "GetRole", True, 5),
    ("iam.amazonaws.com", "ListRoles", True, 3),
    ("logs.amazonaws.com", "DescribeLogGroups", True, 5),
    ("logs.amazonaws.com", "CreateLogStream", False, 4),
    ("cloudtrail.amazonaws.com", "DescribeTrails", True, 2),
    ("cloudtrail.amazonaws.com", "LookupEvents", True, 1),
    ("monitoring.amazonaws.com", "GetMetricData", True, 6),
    ("lambda.amazonaws.com", "ListFunctions20150331", True, 3),
    ("ssm.amazonaws.com", "GetParameter", True, 6),
    ("secretsmanager.amazonaws.com", "GetSecretValue", True, 3),
    ("config.amazonaws.com", "DescribeConfigRules", True, 2),
    ("ecr.amazonaws.com", "GetAuthorizationToken", True, 3),
    ("ec2.amazonaws.com", "RunInstances", False, 1),
    ("ec2.amazonaws.com", "CreateTags", False, 2),
    ("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", True, 3),
    ("elasticloadbalancing.amazonaws.com", "DescribeTargetHealth", True, 4),
    ("dynamodb.amazonaws.com", "DescribeTable", True, 3),
]
NOISE_W = [n[3] for n in NOISE]

# True positives: control id -> list of (eventSource, eventName, extra fields)
TRUE_POSITIVES = {
    "5.1": [("ec2.amazonaws.com", "RunInstances", {"errorCode": "Client.UnauthorizedOperation", "errorMessage": "You are not authorized to perform this operation."}),
            ("s3.amazonaws.com", "PutObject", {"errorCode": "AccessDenied", "errorMessage": "Access Denied"})],
    "5.2": [("signin.amazonaws.com", "ConsoleLogin", {"additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"},
                                                     "responseElements": {"ConsoleLogin": "Success"}, "eventType": "AwsConsoleSignIn"})],
    "5.3": [("iam.amazonaws.com", "ListUsers", {"root": True})],
    "5.4": [("iam.amazonaws.com", "PutRolePolicy", {}), ("iam.amazonaws.com", "AttachUserPolicy", {})],
    "5.5": [("cloudtrail.amazonaws.com", "StopLogging", {}), ("cloudtrail.amazonaws.com", "UpdateTrail", {})],
    "5.6": [("signin.amazonaws.com", "ConsoleLogin", {"errorMessage": "Failed authentication", "responseElements": {"ConsoleLogin": "Failure"},
                                                     "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"},
                                                     "eventType": "AwsConsoleSignIn"})],
    "5.7": [("kms.amazonaws.com", "ScheduleKeyDeletion", {}), ("kms.amazonaws.com", "DisableKey", {})],
    "5.8": [("s3.amazonaws.com", "PutBucketPolicy", {}), ("s3.amazonaws.com", "PutBucketAcl", {})],
    "5.9": [("config.amazonaws.com", "StopConfigurationRecorder", {})],
    "5.10": [("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", {})],
    "5.11": [("ec2.amazonaws.com", "CreateNetworkAclEntry", {})],
    "5.12": [("ec2.amazonaws.com", "AttachInternetGateway", {})],
    "5.13": [("ec2.amazonaws.com", "CreateRoute", {})],
    "5.14": [("ec2.amazonaws.com", "ModifyVpcAttribute", {})],
    "5.15": [("organizations.amazonaws.com", "CreateAccount", {})],
}

ROLES = ["deploy-pipeline", "eks-node-group", "lambda-exec-orders", "ReadOnlyAudit", "AWSReservedSSO_Admin_1a2b3c", "datadog-integration", "backup-operator"]
USERS = ["anaya", "ci-bot", "jdoe", "terraform", "s.kowalski"]
SERVICES = ["ec2.amazonaws.com", "autoscaling.amazonaws.com", "lambda.amazonaws.com", "config.amazonaws.com", "cloudformation.amazonaws.com"]


def ip(rng):
    return rng.choice([
        "203.0.113.%d" % rng.randrange(1, 255),
        "198.51.100.%d" % rng.randrange(1, 255),
        "192.0.2.%d" % rng.randrange(1, 255),
        "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)),
    ])


def hexid(rng, n):
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(n))


def identity(rng, kind=None):
    kind = kind or rng.choices(["AssumedRole", "IAMUser", "AWSService", "Root"], [70, 18, 11, 1])[0]
    if kind == "AssumedRole":
        role = rng.choice(ROLES)
        sess = rng.choice(["i-0%s" % hexid(rng, 16).lower(), "botocore-session-%d" % rng.randrange(10**9, 10**10), "aws-go-sdk-%d" % rng.randrange(10**12)])
        return {"type": "AssumedRole", "principalId": "AROA%s:%s" % (hexid(rng, 17), sess),
                "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCT, role, sess), "accountId": ACCT,
                "accessKeyId": "ASIA%s" % hexid(rng, 16),
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA%s" % hexid(rng, 17),
                                                     "arn": "arn:aws:iam::%s:role/%s" % (ACCT, role), "accountId": ACCT, "userName": role},
                                   "webIdFederationData": {},
                                   "attributes": {"creationDate": "2024-03-04T00:00:00Z", "mfaAuthenticated": "false"}}}
    if kind == "IAMUser":
        u = rng.choice(USERS)
        return {"type": "IAMUser", "principalId": "AIDA%s" % hexid(rng, 17), "arn": "arn:aws:iam::%s:user/%s" % (ACCT, u),
                "accountId": ACCT, "accessKeyId": "AKIA%s" % hexid(rng, 16), "userName": u}
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": rng.choice(SERVICES)}
    # Root, normally through a service (support, trusted advisor): not a 5.3 match.
    return {"type": "Root", "principalId": ACCT, "arn": "arn:aws:iam::%s:root" % ACCT, "accountId": ACCT,
            "invokedBy": rng.choice(["support.amazonaws.com", "trustedadvisor.amazonaws.com"])}


def request_parameters(rng, name):
    if name.startswith("Describe") or name.startswith("List"):
        return {"maxResults": rng.choice([50, 100, 1000]), "filterSet": {"items": [{"name": "tag:Environment", "valueSet": {"items": [{"value": rng.choice(["prod", "staging", "dev"])}]}}]}}
    if name in ("Decrypt", "GenerateDataKey"):
        return {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": "arn:aws:kms:us-east-1:%s:key/%s" % (ACCT, uuid.UUID(int=rng.getrandbits(128))),
                "encryptionContext": {"aws:lambda:FunctionArn": "arn:aws:lambda:us-east-1:%s:function:orders" % ACCT}}
    if name == "AssumeRole":
        return {"roleArn": "arn:aws:iam::%s:role/%s" % (ACCT, rng.choice(ROLES)), "roleSessionName": "session-%d" % rng.randrange(10**6), "durationSeconds": 3600}
    return {"resourceId": "r-%s" % hexid(rng, 12).lower(), "name": "x-%d" % rng.randrange(10**5)}


def record(rng, t, region, source, name, read_only, ident=None, extra=None):
    extra = dict(extra or {})
    r = {"eventVersion": "1.09", "userIdentity": ident or identity(rng)}
    if extra.pop("root", False):
        r["userIdentity"] = {"type": "Root", "principalId": ACCT, "arn": "arn:aws:iam::%s:root" % ACCT, "accountId": ACCT, "accessKeyId": "ASIA%s" % hexid(rng, 16)}
    if r["userIdentity"]["type"] == "AWSService":
        src_ip = r["userIdentity"]["invokedBy"]
        ua = r["userIdentity"]["invokedBy"]
    else:
        src_ip = ip(rng)
        ua = rng.choice(USER_AGENTS)
    r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    r["eventSource"] = source
    r["eventName"] = name
    r["awsRegion"] = region
    r["sourceIPAddress"] = extra.pop("sourceIPAddress", src_ip)
    r["userAgent"] = ua
    for k in ("errorCode", "errorMessage"):
        if k in extra:
            r[k] = extra.pop(k)
    r["requestParameters"] = request_parameters(rng, name)
    r["responseElements"] = extra.pop("responseElements", None)
    if "additionalEventData" in extra:
        r["additionalEventData"] = extra.pop("additionalEventData")
    r["requestID"] = str(uuid.UUID(int=rng.getrandbits(128)))
    r["eventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
    r["readOnly"] = read_only
    r["eventType"] = extra.pop("eventType", "AwsApiCall")
    r["managementEvent"] = True
    r["recipientAccountId"] = ACCT
    r["eventCategory"] = "Management"
    if r["userIdentity"]["type"] != "AWSService":
        r["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "%s.%s.amazonaws.com" % (source.split(".")[0], region)}
    r.update(extra)
    return r


def noise(rng, t, region):
    src, name, ro, _ = rng.choices(NOISE, NOISE_W)[0]
    extra = {}
    x = rng.random()
    if x < 0.02:
        extra = {"errorCode": "ThrottlingException", "errorMessage": "Rate exceeded"}
    elif x < 0.025:
        extra = {"errorCode": "ResourceNotFoundException", "errorMessage": "Requested resource not found"}
    elif x < 0.0262:  # AccessDenied noise; some of it excluded by 5.1 (HeadBucket, delivery.logs)
        which = rng.random()
        if which < 0.3:
            src, name, ro = "s3.amazonaws.com", "HeadBucket", True
            extra = {"errorCode": "AccessDenied", "errorMessage": "Access Denied"}
        elif which < 0.5:
            extra = {"errorCode": "AccessDenied", "errorMessage": "Access Denied", "sourceIPAddress": "delivery.logs.amazonaws.com"}
        elif which < 0.8:
            extra = {"errorCode": "AccessDeniedException", "errorMessage": "User is not authorized to perform this action"}
        else:
            src, name, ro = "ec2.amazonaws.com", "DescribeInstances", True
            extra = {"errorCode": "Client.UnauthorizedOperation", "errorMessage": "You are not authorized to perform this operation."}
    elif x < 0.0275:
        src, name, ro = "signin.amazonaws.com", "ConsoleLogin", False
        extra = {"responseElements": {"ConsoleLogin": "Success"}, "eventType": "AwsConsoleSignIn",
                 "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"}}
        return record(rng, t, region, src, name, ro, identity(rng, "IAMUser"), extra)
    return record(rng, t, region, src, name, ro, None, extra)


def rand16(rng):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))


def gen_file(task):
    out, seed, region, hour, n, tps = task
    rng = random.Random("%s/%s/%d" % (seed, region, hour))
    t0 = START + timedelta(hours=hour)
    recs = []
    for _ in range(n):
        t = t0 + timedelta(seconds=rng.randrange(3600))
        recs.append(noise(rng, t, region))
    for (cid, k, sec) in tps:
        src, name, extra = TRUE_POSITIVES[cid][k % len(TRUE_POSITIVES[cid])]
        ident = identity(rng, "IAMUser") if name == "ConsoleLogin" else None
        recs.append(record(rng, t0 + timedelta(seconds=sec), region, src, name, False, ident, extra))
    recs.sort(key=lambda r: r["eventTime"])
    tdeliver = t0 + timedelta(hours=1)
    d = os.path.join(out, "AWSLogs", ACCT, "CloudTrail", region, tdeliver.strftime("%Y/%m/%d"))
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s_CloudTrail_%s_%s_%s.json.gz" % (ACCT, region, tdeliver.strftime("%Y%m%dT%H%MZ"), rand16(rng)))
    data = json.dumps({"Records": recs}, separators=(",", ":")).encode()
    # mtime=0: byte-identical output for the same arguments.
    with open(path, "wb") as f:
        f.write(gzip.compress(data, compresslevel=6, mtime=0))
    return len(recs), len(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("events", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--regions", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    regions = ALL_REGIONS[: max(1, min(a.regions, len(ALL_REGIONS)))]
    weights = REGION_WEIGHT[: len(regions)]
    hours = a.days * 24
    rng = random.Random(a.seed)
    # Diurnal shape: busier during (UTC) working hours.
    hour_w = [(3.0 if 8 <= h % 24 < 18 else 1.0) * (0.5 if (h // 24) % 7 >= 5 else 1.0) for h in range(hours)]
    slots = [(r, h, weights[i] * hour_w[h]) for i, r in enumerate(regions) for h in range(hours)]
    total_w = sum(s[2] for s in slots)
    # True positives: a handful per control, some in bursts (several in one 5-minute window,
    # one burst spanning two consecutive windows).
    tp_at = {}
    n_tp = 0
    for cid in TRUE_POSITIVES:
        for k in range(3):
            region = regions[rng.randrange(len(regions))]
            h = rng.randrange(hours)
            sec = rng.randrange(0, 3600 - 900)
            burst = [0] if k else [0, 20, 40]
            if cid == "5.5" and k == 0:
                burst = [0, 30, 310, 320]
            sec -= sec % 300
            for off in burst:
                tp_at.setdefault((region, h), []).append((cid, k, sec + 10 + off))
                n_tp += 1
    noise_total = max(0, a.events - n_tp)
    tasks = []
    assigned = 0
    for i, (r, h, w) in enumerate(slots):
        n = int(noise_total * w / total_w) if i < len(slots) - 1 else noise_total - assigned
        assigned += n
        tps = tp_at.get((r, h), [])
        if n + len(tps) == 0:
            continue
        tasks.append((a.out, a.seed, r, h, n, tps))
    os.makedirs(a.out, exist_ok=True)
    with Pool(max(1, a.jobs)) as pool:
        res = pool.map(gen_file, tasks, chunksize=4)
    ev = sum(r[0] for r in res)
    by = sum(r[1] for r in res)
    print("wrote %d events (%d true-positive records), %d files, %.1f MB of JSON to %s" % (ev, n_tp, len(res), by / 1e6, a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
