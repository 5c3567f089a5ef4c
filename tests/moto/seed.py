#!/usr/bin/env python3
"""Seed and dump the cwfix moto test bed through the public AWS API (boto3).

    python seed.py URL seed  < scenario.json     # creates the scenario, prints a JSON summary
    python seed.py URL dump [--regions us-east-1,eu-west-1]
                                                 # prints ONE canonical JSON document of the state
    python seed.py URL confirm [ENDPOINT]        # confirm pending SNS subscriptions (test bed only)

botocore talks JSON 1.0 to CloudWatch, so this client never goes through the launcher's
CBOR bridge: it is an independent view of the state cwfix (Rust SDK, CBOR) changed.
Every request carries `X-Cwfix-Internal: 1`, so fault injection and the call counter of
the launcher ignore it.

Scenario schema (all lists optional; "region" defaults to us-east-1 everywhere):
{
  "buckets": ["name", {"name": "n", "region": "eu-west-1"}],
  "log_groups": [{"name", "region", "retention_days": 90, "kms_key_id", "tags": {}}],
  "trails": [{"name", "region" (home), "multi_region": true, "include_global_service_events": true,
              "log_group": "name" | null, "log_group_region": <region>, "create_log_group": true,
              "role_arn": "arn:aws:iam::<acct>:role/CloudTrail_CloudWatchLogs_Role",
              "logging": true, "s3_bucket": "<auto: cwfix-trail-<name>>", "kms_key_id",
              "event_selectors": "all" | "readonly" | "writeonly" | "no-management" |
                                 "advanced-all" | null | [raw EventSelectors] |
                                 {"advanced": [raw AdvancedEventSelectors]}}],
  "metric_filters": [{"log_group", "name", "pattern", "metric_name", "namespace",
                      "value": "1", "default_value": null, "unit": null, "region",
                      "create_log_group": true}],
  "topics": [{"name", "region", "attributes": {"KmsMasterKeyId": ...}, "tags": {},
              "subscriptions": [{"protocol", "endpoint", "confirmed": true}]}],
  "alarms": [{"name", "region", "metric_name", "namespace", "statistic": "Sum", "period": 300,
              "threshold": 1, "comparison_operator": "GreaterThanOrEqualToThreshold",
              "evaluation_periods": 1, "datapoints_to_alarm", "treat_missing_data",
              "alarm_actions": [...], "ok_actions": [...], "insufficient_data_actions": [...],
              "topic": "topic name, resolved to its ARN in the alarm's region, appended to alarm_actions",
              "description", "actions_enabled", "unit", "dimensions": [{"Name", "Value"}]}]
}
"confirmed" defaults to true (a seeded account is one somebody set up long ago); set it to
false to leave an email/http(s) subscription pending.
"""
import argparse
import datetime
import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
DEFAULT_DUMP_REGIONS = "us-east-1,eu-west-1,us-west-2"
ROLE_NAME = "CloudTrail_CloudWatchLogs_Role"


class Bed:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._clients = {}
        self._account = None

    def client(self, service: str, region: str | None = None):
        region = region or DEFAULT_REGION
        key = (service, region)
        if key not in self._clients:
            c = boto3.client(
                service, region_name=region, endpoint_url=self.url,
                # Dummy keys unless the caller passes others (e.g. an assumed role's, to
                # seed a second account: moto keeps one state per account).
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
                aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
                config=Config(retries={"max_attempts": 3, "mode": "standard"},
                              s3={"addressing_style": "path"}),
            )
            c.meta.events.register("before-send.*.*", _mark_internal)
            self._clients[key] = c
        return self._clients[key]

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")


def _mark_internal(request, **_):
    request.headers["X-Cwfix-Internal"] = "1"


# ---------------------------------------------------------------------------
# seed
# ---------------------------------------------------------------------------
def _region(item: dict, key: str = "region") -> str:
    return item.get(key) or DEFAULT_REGION


def ensure_bucket(bed: Bed, name: str, region: str, made: set):
    if name in made:
        return
    s3 = bed.client("s3", region)
    kw = {"Bucket": name}
    if region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kw)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    made.add(name)


def ensure_log_group(bed: Bed, name: str, region: str, made: dict, spec: dict | None = None):
    key = (region, name)
    logs = bed.client("logs", region)
    if key not in made:
        kw = {"logGroupName": name}
        if spec and spec.get("kms_key_id"):
            kw["kmsKeyId"] = spec["kms_key_id"]
        if spec and spec.get("tags"):
            kw["tags"] = spec["tags"]
        try:
            logs.create_log_group(**kw)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        made[key] = True
    if spec and spec.get("retention_days"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(spec["retention_days"]))


EVENT_SELECTOR_PRESETS = {
    "all": {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]},
    "readonly": {"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]},
    "writeonly": {"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]},
    "no-management": {"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]},
    "advanced-all": {"AdvancedEventSelectors": [{
        "Name": "Management events selector",
        "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]},
}


def seed(bed: Bed, sc: dict) -> dict:
    summary = {"account": bed.account, "topics": {}, "subscriptions": {}, "trails": {},
               "log_groups": {}, "alarms": {}}
    buckets: set = set()
    groups: dict = {}

    for b in sc.get("buckets", []):
        b = {"name": b} if isinstance(b, str) else b
        ensure_bucket(bed, b["name"], _region(b), buckets)

    for lg in sc.get("log_groups", []):
        ensure_log_group(bed, lg["name"], _region(lg), groups, lg)

    for t in sc.get("trails", []):
        region = _region(t)
        if t.get("log_group") and t.get("create_log_group", True):
            ensure_log_group(bed, t["log_group"], t.get("log_group_region") or region, groups)
    for f in sc.get("metric_filters", []):
        if f.get("create_log_group", True):
            ensure_log_group(bed, f["log_group"], _region(f), groups)
    for lg_key in groups:
        r, n = lg_key
        summary["log_groups"][n if r == DEFAULT_REGION else f"{r}:{n}"] = \
            f"arn:aws:logs:{r}:{bed.account}:log-group:{n}"

    for t in sc.get("trails", []):
        region = _region(t)
        ct = bed.client("cloudtrail", region)
        bucket = t.get("s3_bucket") or f"cwfix-trail-{t['name']}".lower()
        ensure_bucket(bed, bucket, region, buckets)
        kw = {"Name": t["name"], "S3BucketName": bucket,
              "IsMultiRegionTrail": bool(t.get("multi_region", True)),
              "IncludeGlobalServiceEvents": bool(t.get("include_global_service_events", True))}
        if t.get("log_group"):
            lg_region = t.get("log_group_region") or region
            kw["CloudWatchLogsLogGroupArn"] = \
                f"arn:aws:logs:{lg_region}:{bed.account}:log-group:{t['log_group']}:*"
            kw["CloudWatchLogsRoleArn"] = t.get("role_arn") or f"arn:aws:iam::{bed.account}:role/{ROLE_NAME}"
        if t.get("kms_key_id"):
            kw["KmsKeyId"] = t["kms_key_id"]
        arn = ct.create_trail(**kw)["TrailARN"]
        summary["trails"][t["name"]] = arn
        sel = t.get("event_selectors", "all")
        if sel is not None:
            if isinstance(sel, str):
                if sel not in EVENT_SELECTOR_PRESETS:
                    raise SystemExit(f"seed: unknown event_selectors preset {sel!r}")
                sel_kw = EVENT_SELECTOR_PRESETS[sel]
            elif isinstance(sel, list):
                sel_kw = {"EventSelectors": sel}
            else:
                sel_kw = {"AdvancedEventSelectors": sel["advanced"]}
            ct.put_event_selectors(TrailName=t["name"], **sel_kw)
        if t.get("logging", True):
            ct.start_logging(Name=t["name"])

    for f in sc.get("metric_filters", []):
        mt = {"metricName": f["metric_name"], "metricNamespace": f["namespace"],
              "metricValue": str(f.get("value", "1"))}
        if f.get("default_value") is not None:
            mt["defaultValue"] = float(f["default_value"])
        if f.get("unit"):
            mt["unit"] = f["unit"]
        bed.client("logs", _region(f)).put_metric_filter(
            logGroupName=f["log_group"], filterName=f["name"], filterPattern=f["pattern"],
            metricTransformations=[mt])

    topic_arns = {}
    for tp in sc.get("topics", []):
        region = _region(tp)
        sns = bed.client("sns", region)
        kw = {"Name": tp["name"]}
        if tp.get("attributes"):
            kw["Attributes"] = {k: str(v) for k, v in tp["attributes"].items()}
        if tp.get("tags"):
            kw["Tags"] = [{"Key": k, "Value": v} for k, v in tp["tags"].items()]
        arn = sns.create_topic(**kw)["TopicArn"]
        topic_arns[(region, tp["name"])] = arn
        summary["topics"][tp["name"] if region == DEFAULT_REGION else f"{region}:{tp['name']}"] = arn
        for s in tp.get("subscriptions", []):
            sub_arn = sns.subscribe(TopicArn=arn, Protocol=s["protocol"], Endpoint=s["endpoint"],
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
            if s.get("confirmed", True):
                bed.post("/_cwfix/confirm-subscriptions", {"endpoint": s["endpoint"], "topic_arn": arn})
            summary["subscriptions"][f"{tp['name']}:{s['protocol']}:{s['endpoint']}"] = sub_arn

    for a in sc.get("alarms", []):
        region = _region(a)
        actions = list(a.get("alarm_actions", []))
        if a.get("topic"):
            key = (region, a["topic"])
            tarn = topic_arns.get(key) or f"arn:aws:sns:{region}:{bed.account}:{a['topic']}"
            actions.append(tarn)
        kw = {
            "AlarmName": a["name"],
            "MetricName": a["metric_name"],
            "Namespace": a["namespace"],
            "Statistic": a.get("statistic", "Sum"),
            "Period": int(a.get("period", 300)),
            "Threshold": float(a.get("threshold", 1)),
            "ComparisonOperator": a.get("comparison_operator", "GreaterThanOrEqualToThreshold"),
            "EvaluationPeriods": int(a.get("evaluation_periods", 1)),
            "AlarmActions": actions,
        }
        opt = {"datapoints_to_alarm": ("DatapointsToAlarm", int),
               "treat_missing_data": ("TreatMissingData", str),
               "description": ("AlarmDescription", str),
               "actions_enabled": ("ActionsEnabled", bool),
               "unit": ("Unit", str),
               "ok_actions": ("OKActions", list),
               "insufficient_data_actions": ("InsufficientDataActions", list),
               "dimensions": ("Dimensions", list)}
        for k, (wire, conv) in opt.items():
            if a.get(k) is not None:
                kw[wire] = conv(a[k])
        bed.client("cloudwatch", region).put_metric_alarm(**kw)
        summary["alarms"][a["name"]] = f"arn:aws:cloudwatch:{region}:{bed.account}:alarm:{a['name']}"

    return summary


# ---------------------------------------------------------------------------
# dump
# ---------------------------------------------------------------------------
VOLATILE_ALARM = {"StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                  "AlarmConfigurationUpdatedTimestamp", "StateTransitionedTimestamp"}
VOLATILE_LOG_GROUP = {"creationTime", "storedBytes", "metricFilterCount"}
VOLATILE_FILTER = {"creationTime"}
VOLATILE_TRAIL_STATUS = {"IsLogging"}  # the only status field we keep


def canonical(v):
    """Sort keys (json.dumps does that) and every list, recursively."""
    if isinstance(v, dict):
        return {k: canonical(x) for k, x in v.items()}
    if isinstance(v, list):
        items = [canonical(x) for x in v]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=str))
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    return v


def _strip(d: dict, drop=()):
    return {k: v for k, v in d.items() if k not in drop and k != "ResponseMetadata"}


def dump_region(bed: Bed, region: str) -> dict:
    out = {}
    ct = bed.client("cloudtrail", region)
    trails = []
    for t in ct.describe_trails(includeShadowTrails=False).get("trailList", []):
        st = ct.get_trail_status(Name=t["TrailARN"])
        entry = dict(t)
        entry["IsLogging"] = bool(st.get("IsLogging"))
        sel = ct.get_event_selectors(TrailName=t["TrailARN"])
        entry["EventSelectors"] = sel.get("EventSelectors") or []
        entry["AdvancedEventSelectors"] = sel.get("AdvancedEventSelectors") or []
        trails.append(entry)
    out["trails"] = trails

    logs = bed.client("logs", region)
    groups = []
    for page in logs.get_paginator("describe_log_groups").paginate():
        for g in page.get("logGroups", []):
            groups.append(_strip(g, VOLATILE_LOG_GROUP))
    out["log_groups"] = groups

    filters = []
    for page in logs.get_paginator("describe_metric_filters").paginate():
        for f in page.get("metricFilters", []):
            filters.append(_strip(f, VOLATILE_FILTER))
    out["metric_filters"] = filters

    cw = bed.client("cloudwatch", region)
    alarms = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
        for a in page.get("MetricAlarms", []):
            alarms.append(_strip(a, VOLATILE_ALARM))
        for a in page.get("CompositeAlarms", []):
            alarms.append(_strip(a, VOLATILE_ALARM))
    out["alarms"] = alarms

    sns = bed.client("sns", region)
    topics = []
    for page in sns.get_paginator("list_topics").paginate():
        for t in page.get("Topics", []):
            arn = t["TopicArn"]
            attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
            tags = sns.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
            subs = []
            for sp in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
                for s in sp.get("Subscriptions", []):
                    pending = s["SubscriptionArn"] == "PendingConfirmation"
                    entry = {"Protocol": s["Protocol"], "Endpoint": s["Endpoint"], "Pending": pending}
                    if not pending:
                        sa = sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
                        for k in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope",
                                  "RedrivePolicy", "SubscriptionRoleArn"):
                            if k in sa:
                                entry[k] = sa[k]
                    subs.append(entry)
            topics.append({"TopicArn": arn, "Attributes": attrs, "Tags": tags, "Subscriptions": subs})
    out["topics"] = topics
    return out


def dump(bed: Bed, regions: list) -> dict:
    return canonical({"account": bed.account,
                      "regions": {r: dump_region(bed, r) for r in regions}})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("command", choices=["seed", "dump", "confirm"])
    ap.add_argument("endpoint", nargs="?", help="confirm: only this endpoint")
    ap.add_argument("--regions", default=DEFAULT_DUMP_REGIONS,
                    help=f"dump: comma-separated regions (default {DEFAULT_DUMP_REGIONS})")
    args = ap.parse_args()
    bed = Bed(args.url)
    if args.command == "seed":
        raw = sys.stdin.read()
        scenario = json.loads(raw) if raw.strip() else {}
        result = seed(bed, scenario)
    elif args.command == "dump":
        result = dump(bed, [r.strip() for r in args.regions.split(",") if r.strip()])
    else:
        result = bed.post("/_cwfix/confirm-subscriptions",
                          {"endpoint": args.endpoint} if args.endpoint else {})
    json.dump(result, sys.stdout, sort_keys=True, indent=1, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
