#!/usr/bin/env python3
"""Seeder and probes for the cwfix scale benchmark (benches/scale/run.sh).

    python seed_scale.py URL seed --regions r1,r2 --baseline baseline.json \
        [--filters 200] [--cis 5] [--alarms 500]
    python seed_scale.py URL seed-org --members 99 --regions r1,r2 --baseline baseline.json \
        [--filters 20] [--cis 5] [--alarms 30]
    python seed_scale.py URL check-delay [--delay-ms 50]

`seed`: per region i, a multi-region trail `bench-trail-<region>` homed in region i, delivering
to log group `bench-ct-<region>` in region i; the log group holds --filters unrelated metric
filters plus --cis filters of the baseline (with their alarms on topic `security-alerts`, one
confirmed email subscriber); the region holds --alarms alarms in all (unrelated + CIS ones).
Uses tests/moto/seed.py's client, so every request carries `X-Cwfix-Internal: 1`: never
delayed, faulted or counted by the launcher.

`seed-org`: an organization (benches/scale/org.sh): the management account and --members accounts
from CreateAccount, each seeded like `seed` (bucket names carry the account id) through
OrganizationAccountAccessRole, accounts on --threads threads.

`check-delay`: proves the launcher's `delay_ms` applies to cwfix's calls only (internal calls
stay fast) and that delayed calls overlap (werkzeug is threaded; the sleep is outside the lock
that serializes calls into moto). Prints one JSON object.
"""
import argparse
import concurrent.futures as cf
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "moto"))
import seed as seedlib  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402


def seed_region(bed, region: str, controls: list, n_filters: int, n_cis: int, n_alarms: int, tag: str = "") -> dict:
    acct = bed.account
    group = f"bench-ct-{region}"
    logs = bed.client("logs", region)
    logs.create_log_group(logGroupName=group)
    s3 = bed.client("s3", region)
    bucket = f"bench-trail-{tag}{region}"  # S3 bucket names are global: `tag` keeps accounts apart
    kw = {"Bucket": bucket}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kw)
    ct = bed.client("cloudtrail", region)
    ct.create_trail(Name=f"bench-trail-{region}", S3BucketName=bucket, IsMultiRegionTrail=True,
                    IncludeGlobalServiceEvents=True,
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:{region}:{acct}:log-group:{group}:*",
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{acct}:role/{seedlib.ROLE_NAME}")
    ct.put_event_selectors(TrailName=f"bench-trail-{region}",
                           EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}])
    ct.start_logging(Name=f"bench-trail-{region}")

    sns = bed.client("sns", region)
    topic = sns.create_topic(Name="security-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="secops@example.com", ReturnSubscriptionArn=True)
    bed.post("/_cwfix/confirm-subscriptions", {"endpoint": "secops@example.com", "topic_arn": topic})

    for j in range(n_filters):
        logs.put_metric_filter(
            logGroupName=group, filterName=f"app-filter-{j:04d}",
            filterPattern=f'{{ $.eventName = "AppEvent{j}" }}',
            metricTransformations=[{"metricName": f"AppMetric{j}", "metricNamespace": "Bench/App",
                                    "metricValue": "1"}])
    cw = bed.client("cloudwatch", region)
    cis = controls[:n_cis]
    for c in cis:
        metric = f"{c['metric_name']}Count"
        logs.put_metric_filter(
            logGroupName=group, filterName=f"user-{c['id']}", filterPattern=c["pattern"],
            metricTransformations=[{"metricName": metric, "metricNamespace": "CloudTrailMetrics",
                                    "metricValue": "1"}])
        cw.put_metric_alarm(AlarmName=f"user-alarm-{c['id']}", MetricName=metric,
                            Namespace="CloudTrailMetrics", Statistic="Sum", Period=300, Threshold=1.0,
                            ComparisonOperator="GreaterThanOrEqualToThreshold", EvaluationPeriods=1,
                            TreatMissingData="notBreaching", AlarmActions=[topic])
    for j in range(max(0, n_alarms - len(cis))):
        cw.put_metric_alarm(AlarmName=f"app-alarm-{j:04d}", MetricName=f"OtherMetric{j}",
                            Namespace="Bench/Other", Statistic="Average", Period=60, Threshold=90.0,
                            ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=3)
    return {"region": region, "log_group": group, "filters": n_filters + len(cis), "alarms": n_alarms}


def cmd_seed(args) -> dict:
    with open(args.baseline) as f:
        controls = json.load(f)["controls"]
    bed = seedlib.Bed(args.url)
    _ = bed.account
    # One role per account (the trail's CloudWatch Logs role); IAM is global.
    try:
        bed.client("iam").create_role(RoleName=seedlib.ROLE_NAME, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "cloudtrail.amazonaws.com"}}]}))
    except Exception:
        pass
    regions = [r for r in args.regions.split(",") if r]
    for r in regions:  # create clients up front (botocore client creation is not thread-safe)
        for s in ("logs", "s3", "cloudtrail", "sns", "cloudwatch"):
            bed.client(s, r)
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=args.threads) as ex:
        out = list(ex.map(lambda r: seed_region(bed, r, controls, args.filters, args.cis, args.alarms), regions))
    return {"regions": out, "seconds": round(time.monotonic() - t0, 1)}


class AccountBed(seedlib.Bed):
    """A Bed acting in another account (an assumed role's credentials), with a boto3 session
    of its own so that accounts can be seeded on threads of their own."""

    def __init__(self, url: str, creds: dict, account: str):
        super().__init__(url)
        self._account = account
        self.session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                             aws_secret_access_key=creds["SecretAccessKey"],
                                             aws_session_token=creds.get("SessionToken"))

    def client(self, service: str, region: str | None = None):
        region = region or seedlib.DEFAULT_REGION
        if (service, region) not in self._clients:
            c = self.session.client(service, region_name=region, endpoint_url=self.url,
                                    config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                  s3={"addressing_style": "path"}))
            c.meta.events.register("before-send.*.*", seedlib._mark_internal)
            self._clients[(service, region)] = c
        return self._clients[(service, region)]


def seed_account(bed, regions: list, controls: list, args) -> int:
    try:
        bed.client("iam").create_role(RoleName=seedlib.ROLE_NAME, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "cloudtrail.amazonaws.com"}}]}))
    except Exception:
        pass
    for r in regions:
        seed_region(bed, r, controls, args.filters, args.cis, args.alarms, tag=f"{bed.account}-")
    bed._clients.clear()  # a hundred accounts' clients would otherwise stay in memory
    return len(regions)


def cmd_seed_org(args) -> dict:
    """An organization: the management account (the default credentials) and --members
    accounts made with CreateAccount, each entered through OrganizationAccountAccessRole;
    every account gets the same chains as `seed` in every region."""
    with open(args.baseline) as f:
        controls = json.load(f)["controls"]
    mgmt = seedlib.Bed(args.url)
    orgs = mgmt.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    t0 = time.monotonic()
    ids = [orgs.create_account(AccountName=f"bench-{i:03d}", Email=f"bench-{i:03d}@example.com")
           ["CreateAccountStatus"]["AccountId"] for i in range(args.members)]
    sts = mgmt.client("sts")
    beds = [mgmt] + [AccountBed(args.url, sts.assume_role(
        RoleArn=f"arn:aws:iam::{i}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"], i)
        for i in ids]
    regions = [r for r in args.regions.split(",") if r]
    for r in regions:  # the management account's clients (default session) up front
        for s in ("logs", "s3", "cloudtrail", "sns", "cloudwatch", "iam"):
            mgmt.client(s, r)
    with cf.ThreadPoolExecutor(max_workers=args.threads) as ex:
        n = sum(ex.map(lambda b: seed_account(b, regions, controls, args), beds))
    return {"accounts": len(beds), "account_regions": n, "seconds": round(time.monotonic() - t0, 1)}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def cmd_check_delay(args) -> dict:
    url = args.url.rstrip("/")
    _post(url + "/_cwfix/faults", {"delay_ms": args.delay_ms})
    n = 16
    internal = seedlib.Bed(url).client("sts")
    plain = boto3.client("sts", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                         aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    internal.get_caller_identity()
    plain.get_caller_identity()

    def timed(fn, k):
        t = time.monotonic()
        for _ in range(k):
            fn()
        return (time.monotonic() - t) / k

    per_internal = timed(internal.get_caller_identity, n)
    per_plain = timed(plain.get_caller_identity, n)
    # n concurrent delayed calls: about one delay if they overlap, n delays if serialized.
    clients = [boto3.client("sts", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                            aws_secret_access_key="testing") for _ in range(n)]
    t = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=n) as ex:
        list(ex.map(lambda c: c.get_caller_identity(), clients))
    concurrent_wall = time.monotonic() - t
    _post(url + "/_cwfix/faults", {})
    _post(url + "/_cwfix/calls/reset", {})
    return {"delay_ms": args.delay_ms,
            "internal_call_ms": round(per_internal * 1000, 1),
            "cwfix_like_call_ms": round(per_plain * 1000, 1),
            "concurrent_calls": n,
            "concurrent_wall_ms": round(concurrent_wall * 1000, 1),
            "serialized_would_be_ms": round(n * per_plain * 1000, 1),
            "delay_only_for_non_internal": per_internal * 1000 < args.delay_ms / 2 <= per_plain * 1000,
            "delays_overlap": concurrent_wall < n * per_plain / 3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--regions", required=True)
    s.add_argument("--baseline", required=True, help="`cwfix baselines show NAME -o json` output")
    s.add_argument("--filters", type=int, default=200)
    s.add_argument("--cis", type=int, default=5)
    s.add_argument("--alarms", type=int, default=500)
    s.add_argument("--threads", type=int, default=4)
    o = sub.add_parser("seed-org")
    o.add_argument("--members", type=int, default=99)
    o.add_argument("--regions", required=True)
    o.add_argument("--baseline", required=True)
    o.add_argument("--filters", type=int, default=20)
    o.add_argument("--cis", type=int, default=5)
    o.add_argument("--alarms", type=int, default=30)
    o.add_argument("--threads", type=int, default=4)
    c = sub.add_parser("check-delay")
    c.add_argument("--delay-ms", type=int, default=50)
    args = ap.parse_args()
    res = {"seed": cmd_seed, "seed-org": cmd_seed_org, "check-delay": cmd_check_delay}[args.cmd](args)
    json.dump(res, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
