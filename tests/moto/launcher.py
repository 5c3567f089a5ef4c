#!/usr/bin/env python3
"""moto server for the cwfix test bed, with fixes where moto diverges from AWS.

    python tests/moto/launcher.py --host 127.0.0.1 --port 0 --port-file /tmp/port

Binds first, then writes the bound port to --port-file (atomically), then serves.
Only loopback addresses are accepted.

Two kinds of fixes live here:
  * in-process patches of moto's backend/response classes (metric filter upsert and
    delete, filter/alarm paging, DescribeAlarmsForMetric filters, SNS pending
    confirmation, CloudTrail default selectors / ARNs) - because the state lives in
    moto's own objects, moto's `/moto-api/reset` wipes it like everything else;
  * a WSGI middleware in front of moto: the CloudWatch Smithy RPC v2 CBOR bridge,
    CloudWatch Logs query definitions, fault injection, call counting and the
    test-only `/_cwfix/...` endpoints.

Test-only endpoints (never exist on AWS):
  POST /_cwfix/confirm-subscriptions   body (optional) {"endpoint": "...", "topic_arn": "..."}
                                       -> {"confirmed": [subscription arns]}
  GET  /_cwfix/faults                  -> current fault config
  POST /_cwfix/faults                  body {"throttle_rate":0.3,"error_5xx_rate":0,"delay_ms":0,
                                             "seed":1,"services":["logs"],"operations":["PutMetricFilter"],
                                             "deny":["sts:GetCallerIdentity"]}
                                       ({} clears; missing keys take defaults)
  GET  /_cwfix/calls                   -> {"calls": {svc: {op: n}}, "faults": {svc: {op: n}}, "total": n}
  POST /_cwfix/calls/reset
  GET  /_cwfix/health                  -> {"status": "ok"}
  POST /_cwfix/alarm-history           body {"region", "account", "items": [AlarmHistoryItem, ...]}
                                       -> {"stored": n}  (what CloudWatch writes when an alarm
                                       acts; moto never acts: see the DescribeAlarmHistory block)
  POST /moto-api/reset                 moto's reset; also clears everything of ours (calls, paging
                                       tokens, query definitions), restores the startup faults and
                                       turns IAM enforcement back to its startup setting (off).
  POST /moto-api/reset-auth            body `0`: enforce IAM from now on; `inf`: stop enforcing
                                       (any content type, e.g. `curl --data 0`). Denied calls get
                                       the real service's error (AccessDeniedException for logs /
                                       cloudtrail / kms, AccessDenied for cloudwatch and sts,
                                       AuthorizationError for sns).

Fault `deny`: ["sts:GetCallerIdentity", ...] answers those actions with the service's
AccessDenied error without IAM (e.g. for GetCallerIdentity, which no IAM policy can deny on AWS).

Requests carrying the header `X-Cwfix-Internal: 1` (seed.py sets it) bypass fault
injection and IAM enforcement and are not counted, so seeding and dumping never disturb a test.

Environment: CWFIX_MOTO_FAULTS='{"throttle_rate":...}' sets the startup fault config.
"""
import argparse
import base64
import datetime
import hashlib
import io
import json
import logging
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from typing import Any

import cbor2
import botocore.session
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

log = logging.getLogger("cwfix-moto")

# Everything of ours that `/moto-api/reset` must invalidate bumps this number;
# paging tokens embed it, so a token from before a reset is rejected.
_GENERATION = [0]


# ---------------------------------------------------------------------------
# Opaque, stateless paging tokens (a cursor: the sort key of the last item
# returned, plus the generation and a digest of the query so a token cannot be
# replayed against another query).
# ---------------------------------------------------------------------------
def _query_digest(query: Any) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_token(kind: str, query: Any, last_key: Any) -> str:
    raw = json.dumps({"k": kind, "g": _GENERATION[0], "q": _query_digest(query), "c": last_key})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_token(kind: str, query: Any, token: str) -> Any:
    """Returns the cursor, or raises ValueError for a token we did not issue."""
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
    except Exception:
        raise ValueError("malformed token")
    if not isinstance(data, dict) or data.get("k") != kind or data.get("g") != _GENERATION[0] \
            or data.get("q") != _query_digest(query):
        raise ValueError("stale or foreign token")
    return data["c"]


def page_after(items: list, key, cursor: Any, limit: int):
    """items sorted by key; returns (page, next_cursor or None)."""
    if cursor is not None:
        c = tuple(cursor) if isinstance(cursor, list) else cursor
        items = [i for i in items if key(i) > c]
    page = items[:limit]
    more = len(items) > limit
    nxt = key(page[-1]) if more and page else None
    return page, nxt


# ---------------------------------------------------------------------------
# CloudWatch Logs patches
# ---------------------------------------------------------------------------
def patch_logs() -> None:
    from moto.logs import models as lm
    from moto.logs import responses as lr
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException

    Backend = lm.LogsBackend

    # moto: PutMetricFilter appends a new entry every time (4 puts -> 4 filters with the
    #       same name) and accepts a log group that does not exist.
    # AWS:  PutMetricFilter creates or *replaces* the filter identified by
    #       (logGroupName, filterName); a missing log group -> ResourceNotFoundException.
    #       AWS also reports creationTime (ms since epoch), which moto omits.
    def put_metric_filter(self, filter_name, filter_pattern, log_group_name, metric_transformations):
        if log_group_name not in self.groups:
            raise ResourceNotFoundException("The specified log group does not exist.")
        flist = self.filters.metric_filters
        flist[:] = [f for f in flist
                    if not (f["filterName"] == filter_name and f["logGroupName"] == log_group_name)]
        flist.append({
            "filterName": filter_name,
            "filterPattern": filter_pattern,
            "logGroupName": log_group_name,
            "metricTransformations": metric_transformations,
            "creationTime": int(time.time() * 1000),
        })

    # moto: DeleteMetricFilter removes from the list while iterating over it (with duplicates
    #       only every other copy goes) and succeeds for a missing filter or log group.
    # AWS:  removes the filter; a missing log group or filter -> ResourceNotFoundException.
    def delete_metric_filter(self, filter_name=None, log_group_name=None):
        if log_group_name not in self.groups:
            raise ResourceNotFoundException("The specified log group does not exist.")
        flist = self.filters.metric_filters
        keep = [f for f in flist
                if not (f["filterName"] == filter_name and f["logGroupName"] == log_group_name)]
        if len(keep) == len(flist):
            raise ResourceNotFoundException("The specified metric filter does not exist.")
        flist[:] = keep

    # moto: DeleteLogGroup leaves the group's metric filters behind (they keep showing up in
    #       DescribeMetricFilters without a log group filter).
    # AWS:  metric filters belong to the log group and go away with it.
    orig_delete_log_group = Backend.delete_log_group

    def delete_log_group(self, log_group_name):
        orig_delete_log_group(self, log_group_name)
        flist = self.filters.metric_filters
        flist[:] = [f for f in flist if f["logGroupName"] != log_group_name]

    Backend.put_metric_filter = put_metric_filter
    Backend.delete_metric_filter = delete_metric_filter
    Backend.delete_log_group = delete_log_group

    # moto: DescribeMetricFilters returns filters in insertion order, ignores `limit`, never
    #       pages, and echoes the request's nextToken back (a paginator loops forever).
    # AWS:  sorted by filter name, `limit` 1..50 (default 50), opaque nextToken only when
    #       more results exist.
    orig_describe = lr.LogsResponse.describe_metric_filters

    def describe_metric_filters(self):
        p = lambda k: self._get_param(k)  # noqa: E731
        limit = p("limit")
        token = p("nextToken")
        if limit is None:
            limit = 50
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise InvalidParameterException(f"Invalid limit: {limit}")
        if not 1 <= limit <= 50:
            raise InvalidParameterException(
                constraint="Member must have value less than or equal to 50" if limit > 50
                else "Member must have value greater than or equal to 1",
                parameter="limit", value=limit)
        # Let moto's own implementation do validation + filtering (without the token).
        out = json.loads(orig_describe(self))
        filters = out.get("metricFilters") or []
        key = lambda f: (f["filterName"], f["logGroupName"])  # noqa: E731
        filters.sort(key=key)
        query = {k: p(k) for k in ("filterNamePrefix", "logGroupName", "metricName", "metricNamespace")}
        cursor = None
        if token:
            try:
                cursor = parse_token("mf", query, token)
            except ValueError:
                raise InvalidParameterException("The specified nextToken is invalid.")
        page, nxt = page_after(filters, key, cursor, limit)
        res = {"metricFilters": page}
        if nxt is not None:
            res["nextToken"] = make_token("mf", query, list(nxt))
        return json.dumps(res)

    lr.LogsResponse.describe_metric_filters = describe_metric_filters


# ---------------------------------------------------------------------------
# CloudWatch (alarms) patches
# ---------------------------------------------------------------------------
def patch_cloudwatch() -> None:
    from moto.cloudwatch import responses as cr
    from moto.cloudwatch.exceptions import CloudWatchException, ValidationError
    from moto.core.responses import ActionResult

    class InvalidNextToken(CloudWatchException):
        code = "InvalidNextToken"

    # moto: DescribeAlarms ignores MaxRecords/NextToken (everything in one response), treats
    #       the filters as mutually exclusive (ActionPrefix > AlarmNamePrefix > AlarmNames >
    #       StateValue, first one wins), ignores AlarmTypes and returns insertion order.
    # AWS:  results sorted by alarm name, MaxRecords 1..100 (default 50) with NextToken paging,
    #       filters combine, and without AlarmTypes only metric alarms are returned.
    def describe_alarms(self):
        names = self._get_param("AlarmNames") or []
        prefix = self._get_param("AlarmNamePrefix")
        action_prefix = self._get_param("ActionPrefix")
        state_value = self._get_param("StateValue")
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        max_records = self._get_param("MaxRecords")
        token = self._get_param("NextToken")
        max_records = 50 if max_records in (None, "") else int(max_records)
        if not 1 <= max_records <= 100:
            raise ValidationError(
                f"1 validation error detected: Value '{max_records}' at 'maxRecords' failed to "
                "satisfy constraint: Member must have value between 1 and 100")
        alarms = list(self.cloudwatch_backend.alarms.values())
        if names:
            alarms = [a for a in alarms if a.name in names]
        if prefix:
            alarms = [a for a in alarms if a.name.startswith(prefix)]
        if action_prefix:
            alarms = [a for a in alarms if any(x.startswith(action_prefix) for x in (a.alarm_actions or []))]
        if state_value:
            alarms = [a for a in alarms if a.state_value == state_value]
        alarms.sort(key=lambda a: a.name)
        query = {"n": sorted(names), "p": prefix, "a": action_prefix, "s": state_value, "t": sorted(types)}
        cursor = None
        if token:
            try:
                cursor = parse_token("alarms", query, token)
            except ValueError:
                raise InvalidNextToken("The service returned an invalid next token.")
        page, nxt = page_after(alarms, lambda a: a.name, cursor, max_records)
        result = {
            "MetricAlarms": [a for a in page if a.rule is None] if "MetricAlarm" in types else [],
            "CompositeAlarms": [a for a in page if a.rule is not None] if "CompositeAlarm" in types else [],
        }
        if nxt is not None:
            result["NextToken"] = make_token("alarms", query, nxt)
        return ActionResult(result)

    cr.CloudWatchResponse.describe_alarms = describe_alarms

    # moto: DescribeAlarmsForMetric filters only by MetricName + Namespace and ignores
    #       Statistic, ExtendedStatistic, Period, Unit and Dimensions; insertion order.
    # AWS:  all given parameters must match; the dimension set must equal the requested one
    #       (no Dimensions = alarms on the dimensionless metric only).
    orig_for_metric = cr.CloudWatchResponse.describe_alarms_for_metric

    def describe_alarms_for_metric(self):
        alarms = list(orig_for_metric(self).result["MetricAlarms"])
        stat = self._get_param("Statistic")
        ext = self._get_param("ExtendedStatistic")
        period = self._get_param("Period")
        unit = self._get_param("Unit")
        dims = self._get_param("Dimensions") or []
        want = sorted((d.get("Name"), d.get("Value")) for d in dims)
        if stat:
            alarms = [a for a in alarms if a.statistic == stat]
        if ext:
            alarms = [a for a in alarms if a.extended_statistic == ext]
        if period not in (None, ""):
            alarms = [a for a in alarms if a.period is not None and int(a.period) == int(period)]
        if unit:
            alarms = [a for a in alarms if a.unit == unit]
        alarms = [a for a in alarms if sorted((d.name, d.value) for d in (a.dimensions or [])) == want]
        alarms.sort(key=lambda a: a.name)
        return ActionResult({"MetricAlarms": alarms})

    cr.CloudWatchResponse.describe_alarms_for_metric = describe_alarms_for_metric


# ---------------------------------------------------------------------------
# CloudTrail patches
# ---------------------------------------------------------------------------
AWS_DEFAULT_EVENT_SELECTORS = [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                "DataResources": [], "ExcludeManagementEventSources": []}]


def patch_cloudtrail() -> None:
    import copy
    from moto.cloudtrail import models as ctm
    from moto.cloudtrail import responses as ctr

    Trail, Backend = ctm.Trail, ctm.CloudTrailBackend

    # moto: a new trail has no event selectors at all (GetEventSelectors -> []).
    # AWS:  a new trail logs all management events: GetEventSelectors returns the default
    #       basic selector (ReadWriteType All, IncludeManagementEvents true).
    orig_init = Trail.__init__

    def trail_init(self, *a, **kw):
        orig_init(self, *a, **kw)
        self.event_selectors = copy.deepcopy(AWS_DEFAULT_EVENT_SELECTORS)
        self.advanced_event_selectors = []
        self._cwfix_custom_selectors = False

    Trail.__init__ = trail_init

    # moto: PutEventSelectors with basic selectors keeps earlier advanced ones, and
    #       HasCustomEventSelectors stays false forever.
    # AWS:  basic and advanced selectors replace each other; HasCustomEventSelectors turns
    #       true once selectors were put.
    def put_event_selectors(self, event_selectors, advanced_event_selectors):
        if event_selectors:
            self.event_selectors = event_selectors
            self.advanced_event_selectors = []
        elif advanced_event_selectors:
            self.event_selectors = []
            self.advanced_event_selectors = advanced_event_selectors
        self._cwfix_custom_selectors = True

    Trail.put_event_selectors = put_event_selectors
    orig_description = Trail.description

    def description(self, include_region=False):
        d = orig_description(self, include_region=include_region)
        d["HasCustomEventSelectors"] = bool(getattr(self, "_cwfix_custom_selectors", False))
        return d

    Trail.description = description

    # moto: GetEventSelectors always returns both keys (one of them empty).
    # AWS:  returns only the kind of selectors the trail uses.
    def get_event_selectors(self):
        params = json.loads(self.body)
        arn, basic, advanced = self.cloudtrail_backend.get_event_selectors(trail_name=params.get("TrailName"))
        out = {"TrailARN": arn}
        if advanced:
            out["AdvancedEventSelectors"] = advanced
        else:
            out["EventSelectors"] = basic
        return json.dumps(out)

    ctr.CloudTrailResponse.get_event_selectors = get_event_selectors

    # moto: GetTrail omits HomeRegion.
    # AWS:  GetTrail returns HomeRegion like DescribeTrails does.
    def resp_get_trail(self):
        trail = self.cloudtrail_backend.get_trail(self._get_param("Name"))
        return json.dumps({"Trail": trail.description(include_region=True)})

    ctr.CloudTrailResponse.get_trail = resp_get_trail

    # moto: GetTrail / GetEventSelectors / PutEventSelectors by ARN only work in the trail's
    #       home region (TrailNotFoundException elsewhere).
    # AWS:  a multi-region trail is reachable by its ARN from every region.
    orig_get_trail = Backend.get_trail

    def get_trail(self, name_or_arn):
        try:
            return orig_get_trail(self, name_or_arn)
        except ctm.TrailNotFoundException:
            if name_or_arn.startswith("arn:") and ":trail/" in name_or_arn:
                home = name_or_arn.split(":")[3]
                other = ctm.cloudtrail_backends[self.account_id].get(home)
                if other is not None and other is not self:
                    for t in other.trails.values():
                        if t.arn == name_or_arn and t.is_multi_region:
                            return t
            raise

    Backend.get_trail = get_trail

    # moto: StartLogging / StopLogging look the name up in a dict (an ARN -> KeyError -> HTTP
    #       500); DeleteTrail ignores ARNs and missing trails.
    # AWS:  all three accept a name or an ARN; a missing trail -> TrailNotFoundException.
    def _owner(trail):
        return ctm.cloudtrail_backends[trail.account_id][trail.region_name]

    def start_logging(self, name):
        orig_get_trail(self, name).start_logging()

    def stop_logging(self, name):
        orig_get_trail(self, name).stop_logging()

    def delete_trail(self, name):
        t = orig_get_trail(self, name)
        _owner(t).trails.pop(t.trail_name, None)

    Backend.start_logging = start_logging
    Backend.stop_logging = stop_logging
    Backend.delete_trail = delete_trail


# ---------------------------------------------------------------------------
# SNS patches: subscriptions that need confirmation stay pending
# ---------------------------------------------------------------------------
PENDING_PROTOCOLS = {"email", "email-json", "http", "https"}


def patch_sns() -> None:
    from moto.core.responses import ActionResult
    from moto.sns import models as sm
    from moto.sns import responses as sr

    Backend, Topic = sm.SNSBackend, sm.Topic

    # moto: every subscription is confirmed at once (real ARN, PendingConfirmation=false).
    # AWS:  email/email-json/http/https subscriptions stay PendingConfirmation until the
    #       recipient follows the link; sqs/lambda/application/firehose/sms in the same
    #       account are confirmed at once.
    orig_subscribe = Backend.subscribe

    def subscribe(self, topic_arn, endpoint, protocol):
        existed = self._find_subscription(topic_arn, endpoint, protocol)
        sub = orig_subscribe(self, topic_arn, endpoint, protocol)
        if existed is None:
            pending = protocol in PENDING_PROTOCOLS
            sub._cwfix_pending = pending
            sub.confirmed = not pending
            sub.attributes["PendingConfirmation"] = pending
            sub.attributes["ConfirmationWasAuthenticated"] = not pending
        return sub

    Backend.subscribe = subscribe

    # moto: Topic.subscriptions_pending / subscriptions_confimed are counters that stay 0.
    # AWS:  GetTopicAttributes reports the live number of confirmed and pending subscriptions.
    def _count(topic, pending: bool) -> int:
        return sum(1 for s in topic.sns_backend.subscriptions.values()
                   if s.topic is topic and bool(getattr(s, "_cwfix_pending", False)) == pending)

    Topic.subscriptions_pending = property(lambda self: _count(self, True), lambda self, v: None)
    Topic.subscriptions_confimed = property(lambda self: _count(self, False), lambda self, v: None)

    # moto: Subscribe always returns the real subscription ARN.
    # AWS:  for a subscription that still needs confirmation it returns the literal
    #       "pending confirmation", unless ReturnSubscriptionArn=true (then the real ARN).
    orig_resp_subscribe = sr.SNSResponse.subscribe

    def resp_subscribe(self):
        res = orig_resp_subscribe(self)
        arn = res.result.get("SubscriptionArn") if hasattr(res, "result") else None
        sub = self.backend.subscriptions.get(arn) if arn else None
        want_arn = str(self._get_param("ReturnSubscriptionArn") or "").lower() == "true"
        if sub is not None and getattr(sub, "_cwfix_pending", False) and not want_arn:
            return ActionResult({"SubscriptionArn": "pending confirmation"})
        return res

    sr.SNSResponse.subscribe = resp_subscribe

    # moto: ListSubscriptions(ByTopic) show the real ARN for every subscription.
    # AWS:  a subscription awaiting confirmation is listed with SubscriptionArn
    #       "PendingConfirmation".
    def _view(sub):
        return {
            "SubscriptionArn": "PendingConfirmation" if getattr(sub, "_cwfix_pending", False) else sub.arn,
            "Owner": sub.owner,
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "TopicArn": sub.topic.arn,
        }

    def list_subscriptions(self):
        subs, nt = self.backend.list_subscriptions(next_token=self._get_param("NextToken"))
        return ActionResult({"Subscriptions": [_view(s) for s in subs], "NextToken": nt})

    def list_subscriptions_by_topic(self):
        subs, nt = self.backend.list_subscriptions_by_topic(
            self._get_param("TopicArn"), next_token=self._get_param("NextToken"))
        return ActionResult({"Subscriptions": [_view(s) for s in subs], "NextToken": nt})

    sr.SNSResponse.list_subscriptions = list_subscriptions
    sr.SNSResponse.list_subscriptions_by_topic = list_subscriptions_by_topic


def confirm_pending(endpoint: str | None = None, topic_arn: str | None = None) -> list:
    """Simulates the recipient clicking the confirmation link."""
    from moto.sns.models import sns_backends
    done = []
    for account_id, regions in list(sns_backends.items()):
        for region, backend in list(regions.items()):
            for sub in list(backend.subscriptions.values()):
                if not getattr(sub, "_cwfix_pending", False):
                    continue
                if endpoint is not None and sub.endpoint != endpoint:
                    continue
                if topic_arn is not None and sub.topic.arn != topic_arn:
                    continue
                sub._cwfix_pending = False
                sub.confirmed = True
                sub.attributes["PendingConfirmation"] = False
                sub.attributes["ConfirmationWasAuthenticated"] = True
                done.append(sub.arn)
    return sorted(done)


# ---------------------------------------------------------------------------
# Request classification (service, operation, protocol, region)
# ---------------------------------------------------------------------------
CBOR_PATH_RE = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")
SCOPE_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
SIGNING_TO_SERVICE = {"monitoring": "cloudwatch"}
TARGET_PREFIX_TO_SERVICE = {
    "Logs_20140328": "logs",
    "GraniteServiceVersion20100801": "cloudwatch",
    "CloudTrail_20131101": "cloudtrail",
}


class Req:
    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "")
        self.body = self._read_body(environ)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = SCOPE_RE.search(auth)
        self.access_key, self.region, signing = (m.group(1), m.group(2), m.group(3)) if m else ("", "us-east-1", "")
        self.service = SIGNING_TO_SERVICE.get(signing, signing) or "unknown"
        self.operation = "Unknown"
        self.protocol = "rest"  # rest | json | cbor | query
        self.json_version = "1.1"
        ctype = environ.get("CONTENT_TYPE", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        cm = CBOR_PATH_RE.match(self.path)
        if cm:
            self.protocol, self.target, self.operation = "cbor", cm.group(1), cm.group(2)
            self.service = TARGET_PREFIX_TO_SERVICE.get(self.target, self.service)
        elif target:
            self.protocol = "json"
            prefix, _, self.operation = target.rpartition(".")
            self.service = TARGET_PREFIX_TO_SERVICE.get(prefix.rsplit(".", 1)[-1], self.service)
            if "1.0" in ctype:
                self.json_version = "1.0"
        elif "x-www-form-urlencoded" in ctype:
            self.protocol = "query"
            form = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"))
            self.operation = (form.get("Action") or ["Unknown"])[0]
        else:
            self.operation = self.method

    @staticmethod
    def _read_body(environ: dict) -> bytes:
        inp = environ.get("wsgi.input")
        try:
            n = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            n = 0
        if n > 0:
            body = inp.read(n)
        elif inp is not None and environ.get("wsgi.input_terminated"):
            body = inp.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    @property
    def internal(self) -> bool:
        return self.environ.get("HTTP_X_CWFIX_INTERNAL") == "1"


def request_id() -> str:
    return str(uuid.uuid4())


def error_response(req: Req, status: int, code: str, message: str, sender: bool = True):
    """An AWS-shaped error for the request's protocol: (status line, headers, body)."""
    rid = request_id()
    reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error",
               501: "Not Implemented", 503: "Service Unavailable"}
    status_line = f"{status} {reasons.get(status, 'Error')}"
    fault = "Sender" if sender else "Receiver"
    if req.protocol == "cbor":
        body = cbor2.dumps({"__type": code, "message": message})
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                   ("x-amzn-query-error", f"{code};{fault}"), ("x-amzn-RequestId", rid)]
    elif req.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", f"application/x-amz-json-{req.json_version}"),
                   ("x-amzn-ErrorType", code), ("x-amzn-RequestId", rid)]
        if req.service == "cloudwatch":
            headers.append(("x-amzn-query-error", f"{code};{fault}"))
    elif req.protocol == "query":
        body = (f'<ErrorResponse xmlns="http://{req.service}.amazonaws.com/doc/2010-03-31/">'
                f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    else:  # REST-XML (s3)
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>{rid}</RequestId></Error>").encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
    headers.append(("Content-Length", str(len(body))))
    return status_line, headers, body


# ---------------------------------------------------------------------------
# IAM enforcement (`POST /moto-api/reset-auth`) with AWS-shaped errors
# ---------------------------------------------------------------------------
_STARTUP_AUTH = [float("inf")]  # set in main() from moto.settings


def patch_iam() -> None:
    from moto.iam import access_control as ac

    # moto: builds the IAM action from the SigV4 signing name, so CloudWatch calls are checked
    #       as `monitoring:DescribeAlarms` and a policy denying `cloudwatch:DescribeAlarms`
    #       has no effect.
    # AWS:  CloudWatch's IAM prefix is `cloudwatch` (the signing name stays `monitoring`).
    orig_init = ac.IAMRequestBase.__init__

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        if self._action.startswith("monitoring:"):
            self._action = "cloudwatch:" + self._action.split(":", 1)[1]

    ac.IAMRequestBase.__init__ = init


def auth_enforced() -> bool:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def without_auth(fn):
    """Runs fn with moto's IAM enforcement off (call with moto_lock held)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    saved, count = settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    try:
        return fn()
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
        ActionAuthenticatorMixin.request_count = count


def caller_arn(access_key: str) -> str:
    try:
        from moto.iam.models import get_account_id_from, iam_backends
        acct = get_account_id_from(access_key)
        key = iam_backends[acct]["aws"].access_keys.get(access_key)
        if key is not None:
            return key.arn
        return f"arn:aws:iam::{acct}:root"
    except Exception:
        return "arn:aws:iam::123456789012:root"


def access_denied_code(req: "Req") -> tuple:
    """(HTTP status, error code) AWS uses for a denied action in this request's protocol."""
    if req.protocol == "json" and req.service != "cloudwatch":
        return 400, "AccessDeniedException"  # awsJson1_1: logs, cloudtrail, kms
    if req.service == "sns":
        return 403, "AuthorizationError"     # SNS's own code (query protocol)
    return 403, "AccessDenied"               # sts (query), cloudwatch (CBOR / query-compatible)


def auth_code(req: "Req", moto_code: str, moto_status: int) -> tuple:
    """Maps moto's IAM enforcement error code to (status, code) as the real service answers."""
    json_proto = req.protocol == "json" and req.service != "cloudwatch"
    if moto_code == "AccessDenied":
        return access_denied_code(req)
    if moto_code == "InvalidClientTokenId":
        # awsJson services answer UnrecognizedClientException; query/CBOR ones InvalidClientTokenId.
        return (400, "UnrecognizedClientException") if json_proto else (403, "InvalidClientTokenId")
    if moto_code == "SignatureDoesNotMatch":
        return (400, "InvalidSignatureException") if json_proto else (403, "SignatureDoesNotMatch")
    return moto_status, moto_code


_AUTH_CODES = {"AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch"}


def auth_error_as_aws(req: "Req", status: str, headers: list, body: bytes) -> tuple:
    """Rewrites moto's IAM enforcement errors into the request's protocol.

    moto: IAM enforcement raises AccessDenied / InvalidClientTokenId / SignatureDoesNotMatch as
          an XML body (`<ErrorResponse><Errors><Error><Code>AccessDenied</Code>...`) with HTTP
          403 for every service, JSON-protocol ones included, so an awsJson client finds no
          `__type` and sees an unmodeled "403" (boto3 reports code "403"; the Rust SDK cannot
          classify it as AccessDenied).
    AWS:  awsJson1_1 (logs, cloudtrail, kms): HTTP 400 `{"__type": "AccessDeniedException",
          "message": "User: arn:... is not authorized to perform: logs:DescribeMetricFilters ..."}`;
          query protocol: XML `<Error><Code>` with AuthorizationError (SNS's code) or AccessDenied
          (STS), HTTP 403; invalid keys: UnrecognizedClientException (awsJson) /
          InvalidClientTokenId (query).
    """
    code = int(status.split()[0])
    if code not in (401, 403) or req.protocol not in ("json", "query"):
        return status, headers, body
    if body[:200].lstrip()[:1] != b"<":
        return status, headers, body
    m = re.search(rb"<Code>([^<]+)</Code>", body)
    if not m or m.group(1).decode() not in _AUTH_CODES:
        return status, headers, body
    mm = re.search(rb"<Message>([^<]*)</Message>", body)
    msg = mm.group(1).decode("utf-8", "replace") if mm else ""
    st, aws_code = auth_code(req, m.group(1).decode(), code)
    return error_response(req, st, aws_code, msg, sender=True)


# Throttling / server error codes per service, as the real services return them and as the
# Rust SDK classifies them (aws-runtime THROTTLING_ERRORS contains "Throttling",
# "ThrottlingException", "SlowDown"; 500/503 are retried as transient by status).
def throttle_code(req: Req) -> tuple:
    if req.service == "s3":
        return 503, "SlowDown", "Please reduce your request rate."
    if req.protocol in ("query", "cbor") or req.service == "cloudwatch":
        # query protocol (sns, sts) and CloudWatch (awsQueryCompatible: the SDK takes the code
        # from the x-amzn-query-error header) use the query-era code.
        return 400, "Throttling", "Rate exceeded"
    return 400, "ThrottlingException", "Rate exceeded"


def server_error_code(req: Req) -> tuple:
    if req.service == "logs":
        return 500, "ServiceUnavailableException", "The service cannot complete the request."
    if req.service == "s3":
        return 500, "InternalError", "We encountered an internal error. Please try again."
    return 500, "InternalFailure", "The request processing has failed because of an unknown error."


# ---------------------------------------------------------------------------
# Fault injection + call counting
# ---------------------------------------------------------------------------
DEFAULT_FAULTS = {"throttle_rate": 0.0, "error_5xx_rate": 0.0, "delay_ms": 0, "seed": None,
                  "services": [], "operations": [], "deny": []}


class Faults:
    def __init__(self, startup: dict):
        self.lock = threading.Lock()
        self.startup = dict(startup)
        self.set(startup)
        self.reset_calls()

    def set(self, cfg: dict) -> dict:
        unknown = set(cfg) - set(DEFAULT_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        c = dict(DEFAULT_FAULTS)
        c.update(cfg)
        for k in ("throttle_rate", "error_5xx_rate"):
            c[k] = float(c[k] or 0)
            if not 0.0 <= c[k] <= 1.0:
                raise ValueError(f"{k} must be within [0, 1]")
        c["delay_ms"] = int(c["delay_ms"] or 0)
        c["services"] = list(c["services"] or [])
        c["operations"] = list(c["operations"] or [])
        c["deny"] = list(c["deny"] or [])
        for a in c["deny"]:
            if not isinstance(a, str) or ":" not in a:
                raise ValueError(f"deny entries are IAM actions like sts:GetCallerIdentity, not {a!r}")
        with self.lock:
            self.cfg = c
            self.rng = random.Random(c["seed"])
        return c

    def reset_calls(self) -> None:
        with self.lock:
            self.calls: dict = {}
            self.injected: dict = {}

    def restore(self) -> None:
        self.set(self.startup)
        self.reset_calls()

    def snapshot(self) -> dict:
        with self.lock:
            calls = {s: dict(sorted(o.items())) for s, o in sorted(self.calls.items())}
            inj = {s: dict(sorted(o.items())) for s, o in sorted(self.injected.items())}
            total = sum(n for o in self.calls.values() for n in o.values())
        return {"calls": calls, "faults": inj, "total": total}

    def on_request(self, req: Req):
        """Counts the call; returns (delay_seconds, fault or None) with fault in {throttle, 5xx}."""
        with self.lock:
            svc = self.calls.setdefault(req.service, {})
            svc[req.operation] = svc.get(req.operation, 0) + 1
            c = self.cfg
            applies = (not c["services"] or req.service in c["services"]) and \
                      (not c["operations"] or req.operation in c["operations"])
            if f"{req.service}:{req.operation}" in c["deny"]:
                # `deny` is independent of services/operations (which scope the random faults).
                return (c["delay_ms"] / 1000.0 if applies else 0.0), "deny"
            if not applies:
                return 0.0, None
            fault = None
            r = self.rng.random()
            if r < c["throttle_rate"]:
                fault = "throttle"
            elif r < c["throttle_rate"] + c["error_5xx_rate"]:
                fault = "5xx"
            if fault:
                inj = self.injected.setdefault(req.service, {})
                inj[req.operation] = inj.get(req.operation, 0) + 1
            return c["delay_ms"] / 1000.0, fault


# ---------------------------------------------------------------------------
# CloudWatch Logs query definitions (moto 5.2.1 has none of the three operations)
# ---------------------------------------------------------------------------
class QueryDefinitions:
    OPS = {"PutQueryDefinition", "DescribeQueryDefinitions", "DeleteQueryDefinition"}

    def __init__(self):
        self.lock = threading.Lock()
        self.store: dict = {}  # (access key, region) -> {id: definition}

    def reset(self):
        with self.lock:
            self.store.clear()

    def handle(self, req: Req) -> tuple:
        """Returns (status, dict)."""
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return 400, {"__type": "SerializationException", "message": "invalid JSON"}
        with self.lock:
            defs = self.store.setdefault((req.access_key, req.region), {})
            op = req.operation
            if op == "PutQueryDefinition":
                if not body.get("name") or not body.get("queryString"):
                    return 400, {"__type": "InvalidParameterException",
                                 "message": "name and queryString are required"}
                qid = body.get("queryDefinitionId")
                if qid and qid not in defs:
                    return 400, {"__type": "ResourceNotFoundException",
                                 "message": "The specified query definition does not exist."}
                qid = qid or str(uuid.uuid4())
                d = {"queryDefinitionId": qid, "name": body["name"], "queryString": body["queryString"],
                     "lastModified": int(time.time() * 1000),
                     "queryLanguage": body.get("queryLanguage") or "CWLI"}
                if body.get("logGroupNames"):
                    d["logGroupNames"] = list(body["logGroupNames"])
                defs[qid] = d
                return 200, {"queryDefinitionId": qid}
            if op == "DeleteQueryDefinition":
                qid = body.get("queryDefinitionId")
                if qid not in defs:
                    return 400, {"__type": "ResourceNotFoundException",
                                 "message": "The specified query definition does not exist."}
                del defs[qid]
                return 200, {"success": True}
            # DescribeQueryDefinitions
            prefix = body.get("queryDefinitionNamePrefix") or ""
            lang = body.get("queryLanguage")
            limit = int(body.get("maxResults") or 1000)
            if not 1 <= limit <= 1000:
                return 400, {"__type": "InvalidParameterException", "message": "maxResults must be 1..1000"}
            items = sorted((d for d in defs.values()
                            if d["name"].startswith(prefix) and (lang is None or d["queryLanguage"] == lang)),
                           key=lambda d: (d["name"], d["queryDefinitionId"]))
            query = {"p": prefix, "l": lang}
            cursor = None
            if body.get("nextToken"):
                try:
                    cursor = parse_token("qd", query, body["nextToken"])
                except ValueError:
                    return 400, {"__type": "InvalidParameterException", "message": "Invalid nextToken"}
            key = lambda d: (d["name"], d["queryDefinitionId"])  # noqa: E731
            page, nxt = page_after(items, key, cursor, limit)
            out = {"queryDefinitions": [dict(d) for d in page]}
            if nxt is not None:
                out["nextToken"] = make_token("qd", query, list(nxt))
            return 200, out


# ---------------------------------------------------------------------------
# CloudWatch Smithy RPC v2 CBOR <-> JSON 1.0 bridge
# ---------------------------------------------------------------------------
_cw_model = []


def cloudwatch_model():
    if not _cw_model:
        _cw_model.append(botocore.session.get_session().get_service_model("cloudwatch"))
    return _cw_model[0]


def cbor_to_json(v):
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return v.timestamp()
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {k: cbor_to_json(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [cbor_to_json(x) for x in v]
    if isinstance(v, cbor2.CBORTag):
        return cbor_to_json(v.value)
    if v is cbor2.undefined:
        return None
    return v


def _epoch(v) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return v.timestamp()
    s = str(v).strip()
    try:
        return float(s)
    except ValueError:
        pass
    s = s.replace("Z", "+00:00")
    dt = datetime.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def json_to_cbor(v, shape):
    """Walks botocore's output shape so every value gets the CBOR type the Rust decoder wants."""
    if v is None:
        return None
    if shape is None:
        return v
    t = shape.type_name
    if t == "structure":
        out = {}
        for k, x in v.items():
            m = shape.members.get(k)
            if m is None or x is None:
                continue  # the Rust decoder ignores unknown members, but keep the wire clean
            out[k] = json_to_cbor(x, m)
        return out
    if t == "list":
        return [json_to_cbor(x, shape.member) for x in v]
    if t == "map":
        return {k: json_to_cbor(x, shape.value) for k, x in v.items()}
    if t == "timestamp":
        return cbor2.CBORTag(1, _epoch(v))  # the Rust decoder requires tag 1 (epoch seconds)
    if t in ("double", "float"):
        return float(v)  # the Rust decoder rejects integers where a double is modeled
    if t in ("integer", "long", "short", "byte"):
        return int(v)
    if t == "boolean":
        return v if isinstance(v, bool) else str(v).lower() == "true"
    if t == "blob":
        return base64.b64decode(v) if isinstance(v, str) else bytes(v)
    return v


def run_app(app, environ) -> tuple:
    captured = {}

    def sr(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, list(headers)
        return lambda data: None

    it = app(environ, sr)
    try:
        body = b"".join(it)
    finally:
        if hasattr(it, "close"):
            it.close()
    return captured["status"], captured["headers"], body


# ---------------------------------------------------------------------------
# The middleware
# ---------------------------------------------------------------------------
class CwfixMiddleware:
    def __init__(self, app, faults: Faults):
        self.app = app
        self.faults = faults
        self.qdefs = QueryDefinitions()
        # moto's backends are not written for concurrent mutation; serialize calls into moto.
        self.moto_lock = threading.RLock()

    def __call__(self, environ, start_response):
        try:
            status, headers, body = self.dispatch(environ)
        except Exception as e:  # never let the server die on a bad request
            log.exception("middleware failure")
            body = json.dumps({"__type": "InternalFailure", "message": f"cwfix launcher: {e}"}).encode()
            status, headers = "500 Internal Server Error", [("Content-Type", "application/json"),
                                                            ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    def _json(self, status: int, obj) -> tuple:
        body = json.dumps(obj, sort_keys=True).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        return f"{status} {reason}", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))], body

    def dispatch(self, environ) -> tuple:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_cwfix/"):
            return self.control(method, path, environ)
        if path.rstrip("/") == "/moto-api/reset" and method == "POST":
            with self.moto_lock:
                out = run_app(self.app, environ)
                self.reset_own_state()
            return out
        if path.rstrip("/") == "/moto-api/reset-auth" and method == "POST":
            return self.reset_auth(environ)
        if path.startswith("/moto-api"):
            with self.moto_lock:
                return run_app(self.app, environ)

        req = Req(environ)
        if not req.internal:
            delay, fault = self.faults.on_request(req)
            if delay:
                time.sleep(delay)
            if fault == "deny":
                return self.injected_access_denied(req)
            if fault == "throttle":
                st, code, msg = throttle_code(req)
                return error_response(req, st, code, msg, sender=True)
            if fault == "5xx":
                st, code, msg = server_error_code(req)
                return error_response(req, st, code, msg, sender=False)

        if req.protocol == "json" and req.service == "logs" and req.operation in QueryDefinitions.OPS:
            st, obj = self.qdefs.handle(req)
            if st != 200:
                return error_response(req, st, obj["__type"], obj["message"])
            body = json.dumps(obj).encode()
            return "200 OK", [("Content-Type", "application/x-amz-json-1.1"),
                              ("x-amzn-RequestId", request_id()),
                              ("Content-Length", str(len(body)))], body

        if req.protocol == "cbor":
            return self.cbor_bridge(req, environ)
        return auth_error_as_aws(req, *self.call_moto(req, environ))

    def call_moto(self, req: "Req", environ, skip_auth: bool = False) -> tuple:
        # moto raises NotImplementedError for operations it lacks, which escapes Flask as an
        # HTML 500 (the SDK would retry it). Answer in the request's protocol with 501, which
        # no SDK retries, naming the operation.
        try:
            with self.moto_lock:
                # Seeding/dumping (X-Cwfix-Internal) is never subject to IAM enforcement, and
                # the CBOR bridge has already authorized the original request itself.
                if (skip_auth or req.internal) and auth_enforced():
                    return without_auth(lambda: run_app(self.app, environ))
                return run_app(self.app, environ)
        except NotImplementedError:
            log.warning("moto does not implement %s %s", req.service, req.operation)
            return error_response(req, 501, "NotImplemented",
                                  f"moto does not implement {req.service} {req.operation} (cwfix test bed)",
                                  sender=False)
        except Exception as e:
            log.exception("moto failed on %s %s", req.service, req.operation)
            return error_response(req, 500, "InternalFailure", f"moto raised {type(e).__name__}: {e}",
                                  sender=False)

    def reset_own_state(self) -> None:
        _GENERATION[0] += 1
        self.faults.restore()
        self.qdefs.reset()
        # moto's reset wipes the IAM users but keeps enforcement on, which would leave a server
        # that refuses every request; a reset returns to the startup setting (auth off unless
        # INITIAL_NO_AUTH_ACTION_COUNT was set in the environment).
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        settings.INITIAL_NO_AUTH_ACTION_COUNT = _STARTUP_AUTH[0]
        ActionAuthenticatorMixin.request_count = 0

    def reset_auth(self, environ) -> tuple:
        # moto: reset-auth does `float(request.data)`. Flask leaves `request.data` empty for a
        #       form content type, which is what `curl --data 0` sends, so the documented call
        #       failed with "could not convert string to float: ''" (and an empty body likewise).
        # Here: the body is read whatever its content type, validated, and handed to moto as
        #       text/plain. `0` enforces IAM on every later request, `inf` turns it off.
        raw = Req._read_body(environ).decode("utf-8", "replace").strip()
        try:
            float(raw)
        except ValueError:
            return self._json(400, {"error": "reset-auth: the body must be a number: 0 enforces IAM "
                                              "from the next request on, inf turns enforcement off",
                                    "got": raw[:100]})
        env = dict(environ)
        body = raw.encode()
        env["CONTENT_TYPE"] = "text/plain"
        env["CONTENT_LENGTH"] = str(len(body))
        env["wsgi.input"] = io.BytesIO(body)
        with self.moto_lock:
            return run_app(self.app, env)

    def injected_access_denied(self, req: "Req") -> tuple:
        """The fault `deny`: AccessDenied for an action no IAM policy can deny on AWS
        (sts:GetCallerIdentity), or without setting up IAM enforcement."""
        action = f"{req.service}:{req.operation}"
        user = caller_arn(req.access_key)
        st, code = access_denied_code(req)
        return error_response(req, st, code, f"User: {user} is not authorized to perform: {action} "
                                             "(cwfix test bed: injected fault)")

    def cbor_authorize(self, req: "Req", environ):
        """IAM enforcement for a CBOR request, on the request as the client signed it.
        Returns None (allowed) or an error response."""
        # moto: would check the signature of the JSON 1.0 request the bridge re-issues (other
        #       path, body and headers than the client signed) -> SignatureDoesNotMatch for every
        #       call, and it would check the action `monitoring:<Op>` (the signing name).
        # AWS:  the action is `cloudwatch:<Op>`; a denied call is 403 with code AccessDenied
        #       (CBOR body `__type` and `x-amzn-query-error: AccessDenied;Sender`).
        from moto.core.exceptions import _RESTError as RESTError
        from moto.iam.access_control import IAMRequest
        from moto.iam.models import get_account_id_from
        from werkzeug.datastructures import EnvironHeaders
        headers = EnvironHeaders(environ)
        if "Authorization" not in headers:
            return None
        with self.moto_lock:
            try:
                r = IAMRequest(account_id=get_account_id_from(req.access_key), method=req.method,
                               path=req.path, data={}, body=req.body, headers=headers,
                               action=req.operation)
                r._action = f"cloudwatch:{req.operation}"
                r.check_signature()
                r.check_action_permitted("*")
            except RESTError as e:
                st, code = auth_code(req, e.error_type, e.code)
                return error_response(req, st, code, e.message)
        return None

    def control(self, method: str, path: str, environ) -> tuple:
        req_body = Req._read_body(environ)
        try:
            body = json.loads(req_body) if req_body.strip() else {}
        except ValueError:
            return self._json(400, {"error": "body must be JSON"})
        if not isinstance(body, dict):
            return self._json(400, {"error": "body must be a JSON object"})
        if path == "/_cwfix/health":
            return self._json(200, {"status": "ok"})
        if path == "/_cwfix/confirm-subscriptions" and method == "POST":
            with self.moto_lock:
                done = confirm_pending(body.get("endpoint"), body.get("topic_arn"))
            return self._json(200, {"confirmed": done})
        if path == "/_cwfix/faults":
            if method == "GET":
                return self._json(200, self.faults.cfg)
            if method in ("POST", "PUT"):
                try:
                    return self._json(200, self.faults.set(body))
                except (ValueError, TypeError) as e:
                    return self._json(400, {"error": str(e)})
            if method == "DELETE":
                return self._json(200, self.faults.set({}))
        if path == "/_cwfix/calls" and method == "GET":
            return self._json(200, self.faults.snapshot())
        if path == "/_cwfix/calls/reset" and method == "POST":
            self.faults.reset_calls()
            return self._json(200, {"status": "ok"})
        return self._json(404, {"error": f"no such control endpoint: {method} {path}"})

    def cbor_bridge(self, req: Req, environ) -> tuple:
        # moto: no Smithy RPC v2 CBOR at all; `POST /service/<svc>/operation/<Op>` -> HTML 404.
        # AWS:  CloudWatch accepts rpc-v2-cbor (what aws-sdk-cloudwatch >= 1.100 sends), JSON 1.0
        #       and query. We re-issue the call to moto as JSON 1.0 and encode the reply as CBOR.
        op = req.operation
        if op not in cloudwatch_model().operation_names:
            return error_response(req, 400, "UnknownOperationException", f"Unknown operation {op}")
        try:
            decoded = cbor2.loads(req.body) if req.body else {}
            payload = cbor_to_json(decoded) or {}
        except Exception as e:
            return error_response(req, 400, "SerializationException", f"cannot decode CBOR body: {e}")
        if not req.internal and auth_enforced():
            denied = self.cbor_authorize(req, environ)
            if denied is not None:
                return denied
        jbody = json.dumps(payload).encode()
        env = dict(environ)
        env["PATH_INFO"] = "/"
        env["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        env["HTTP_X_AMZ_TARGET"] = f"{req.target}.{op}"
        env["CONTENT_LENGTH"] = str(len(jbody))
        env["wsgi.input"] = io.BytesIO(jbody)
        env.pop("HTTP_SMITHY_PROTOCOL", None)
        env["HTTP_ACCEPT"] = "application/json"
        status, headers, out = self.call_moto(req, env, skip_auth=True)
        if headers and any(k.lower() == "smithy-protocol" for k, _ in headers):
            return status, headers, out  # already a CBOR error from call_moto
        code = int(status.split()[0])
        if 200 <= code < 300:
            try:
                data = json.loads(out) if out.strip() else {}
            except ValueError:
                return error_response(req, 500, "InternalFailure",
                                      "moto returned non-JSON: " + out[:300].decode("utf-8", "replace"), False)
            try:
                shape = cloudwatch_model().operation_model(op).output_shape
            except Exception:
                shape = None
            cb = cbor2.dumps(json_to_cbor(data, shape) if shape is not None else {})
            hdrs = [(k, v) for k, v in headers
                    if k.lower() not in ("content-type", "content-length", "x-amzn-query-error")]
            hdrs += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                     ("Content-Length", str(len(cb)))]
            return status, hdrs, cb
        # Error: moto gives JSON {"__type": "...", "message": "..."} (sometimes XML/HTML).
        etype, msg = None, ""
        try:
            data = json.loads(out)
            etype = data.get("__type") or data.get("code")
            msg = data.get("message") or data.get("Message") or ""
        except ValueError:
            m = re.search(rb"<Code>([^<]+)</Code>", out)
            etype = m.group(1).decode() if m else None
            m = re.search(rb"<Message>([^<]*)</Message>", out)
            msg = m.group(1).decode() if m else out[:300].decode("utf-8", "replace")
        qerr = next((v for k, v in headers if k.lower() == "x-amzn-query-error"), None)
        if qerr and ";" in qerr:
            etype = qerr.split(";", 1)[0]
        if not etype:
            etype = "ResourceNotFound" if code == 404 else ("InternalFailure" if code >= 500 else "UnknownError")
        etype = etype.split("#")[-1].split(":")[0]
        if code == 404 and "<html" in out[:200].lower().decode("latin-1"):
            etype, msg = "UnknownOperationException", f"moto does not implement CloudWatch {op}"
            code, status = 400, "400 Bad Request"
        return error_response(req, code, etype, msg, sender=code < 500)



# ===========================================================================
# Logs Insights StartQuery / GetQueryResults (issue #13, `cwfix hunt --engine insights`).
# Kept in this one block; nothing else in the launcher depends on it.
#
# moto 5.2.1: StartQuery evaluates the query at once with moto's own small engine, which
#   handles `fields`, `sort @timestamp` and `limit` but ignores `filter`, `stats`, `display`
#   and aliases; GetQueryResults answers "Complete" on the very first call and has no
#   `statistics`.
# AWS: StartQuery only schedules the query; GetQueryResults reports "Scheduled"/"Running"
#   until the query completes, then the rows (each lists only its non-empty fields, plus
#   `@ptr`) and `statistics` (recordsMatched, recordsScanned, bytesScanned).
# Here: the query is evaluated with tests/athena/insights_ref.py, the reference evaluator of
# the Insights subset cwfix documents, over the JSON log events between startTime and endTime;
# the first GetQueryResults of a query says "Running" (so clients must poll), later ones
# "Complete" with rows and statistics.
# ===========================================================================
_INSIGHTS_STATS: dict = {}


def patch_insights() -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "athena"))
    import insights_ref
    from moto.logs import models as lm

    def execute_query(log_groups, query, start_time, end_time):
        records, scanned, nbytes = [], 0, 0
        for group in log_groups:
            for stream in group.streams.values():
                for ev in stream.events:
                    if start_time and ev.timestamp < start_time * 1000:
                        continue
                    if end_time and ev.timestamp > end_time * 1000:
                        continue
                    scanned += 1
                    nbytes += len(ev.message.encode())
                    try:
                        rec = json.loads(ev.message)
                    except ValueError:
                        continue
                    if isinstance(rec, dict):
                        records.append(rec)
        out = insights_ref.run(query, records)
        rows = []
        for i, r in enumerate(out["rows"]):
            row = {c: v for c, v in zip(out["columns"], r) if v is not None}
            row["@ptr"] = f"cwfix-ptr-{i}"
            rows.append(row)
        _INSIGHTS_STATS["last"] = {"recordsMatched": float(len(rows)), "recordsScanned": float(scanned),
                                   "bytesScanned": float(nbytes)}
        return rows

    lm.execute_query = execute_query
    orig_init = lm.LogQuery.__init__
    orig_json = lm.LogQuery.to_result_json

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        self.cwfix_stats = _INSIGHTS_STATS.pop("last", {})
        self.cwfix_polls = 0

    def to_result_json(self):
        self.cwfix_polls = getattr(self, "cwfix_polls", 0) + 1
        if self.cwfix_polls == 1:
            return {"results": [], "status": "Running",
                    "statistics": {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}}
        out = orig_json(self)
        out["statistics"] = getattr(self, "cwfix_stats", {})
        return out

    lm.LogQuery.__init__ = init
    lm.LogQuery.to_result_json = to_result_json
# ===========================================================================

# ---------------------------------------------------------------------------
def build_app(faults: Faults):
    patch_logs()
    patch_cloudwatch()
    patch_sns()
    patch_cloudtrail()
    patch_iam()
    patch_insights()  # issue #13; see its block above
    moto_app = DomainDispatcherApplication(create_backend_app)
    return CwfixMiddleware(moto_app, faults)



# ===========================================================================================
# CloudFormation: the resource types cwfix emits, and IMPORT change sets  (cwfix issue #14)
# -------------------------------------------------------------------------------------------
# Kept in this one block (another developer edits the rest of the file). Installed by wrapping
# build_app(), so nothing above changes.
#
# moto 5.2.1: CloudFormation has no model for AWS::Logs::MetricFilter, AWS::CloudWatch::Alarm,
#       AWS::SNS::Subscription, AWS::SNS::TopicPolicy or AWS::Logs::QueryDefinition: a stack with
#       them reaches CREATE_COMPLETE while none of them exists (moto only logs "No Moto
#       CloudFormation support"). Its AWS::SNS::Topic passes every property (TopicName, Tags, ...)
#       to CreateTopic as an attribute and drops the tags. A change set of type IMPORT is run as
#       a CREATE (resources "created" again, ResourcesToImport ignored). A failing resource
#       escapes as an HTTP 500 and leaves the stack IN_PROGRESS.
# AWS:  each type is created, updated and deleted through its service's API, the way the
#       registry handlers do: a create whose name is taken fails with AlreadyExists (metric
#       filter, alarm, topic policy excepted); FilterName/LogGroupName, AlarmName, and a
#       subscription's TopicArn/Protocol/Endpoint are create-only, so changing them replaces the
#       resource. IMPORT (CreateChangeSet ChangeSetType=IMPORT + ResourcesToImport) adopts
#       existing resources without changing them: each needs a DeletionPolicy, its identifier
#       must match the template, it must exist, and the template may not add or change anything
#       else; the stack ends IMPORT_COMPLETE. A failed create/update ends ROLLBACK_COMPLETE /
#       UPDATE_ROLLBACK_COMPLETE with the handler's message (here without undoing the resources
#       already made: moto has no rollback).
# Query definitions live in the launcher's own store (moto has none), keyed like the API
# calls by the caller's access key: the CloudFormation request's key is remembered per thread.
# ===========================================================================================
_CFN_LOCAL = threading.local()
_CFN_QDEF_STORES: list = []


def patch_cloudformation() -> None:
    from moto.cloudformation import models as cfm
    from moto.cloudformation import parsing as cfp
    from moto.cloudformation import responses as cfr
    from moto.cloudformation.exceptions import ValidationError as CfnValidationError
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel
    from moto.logs.models import logs_backends
    from moto.sns import models as sm

    class AlreadyExists(Exception):
        pass

    def _props(cloudformation_json):
        return cloudformation_json.get("Properties") or {}

    # ---- AWS::Logs::MetricFilter ------------------------------------------------------------
    class CfnMetricFilter(CloudFormationModel):
        __module__ = "moto.logs.cwfix_cloudformation"  # moto's model registry keys on the module

        def __init__(self, account_id, region, log_group, name):
            self.account_id, self.region, self.log_group, self.name = account_id, region, log_group, name

        @staticmethod
        def cloudformation_type():
            return "AWS::Logs::MetricFilter"

        @staticmethod
        def cloudformation_name_type():
            return "FilterName"

        @property
        def physical_resource_id(self):
            return self.name

        @staticmethod
        def _transformations(props):
            out = []
            for t in props.get("MetricTransformations") or []:
                d = {"metricName": t["MetricName"], "metricNamespace": t["MetricNamespace"],
                     "metricValue": str(t["MetricValue"])}
                if t.get("DefaultValue") is not None:
                    d["defaultValue"] = float(t["DefaultValue"])
                if t.get("Unit"):
                    d["unit"] = t["Unit"]
                if t.get("Dimensions"):
                    d["dimensions"] = {x["Key"]: x["Value"] for x in t["Dimensions"]}
                out.append(d)
            return out

        @classmethod
        def _exists(cls, backend, log_group, name):
            return any(f["filterName"] == name and f["logGroupName"] == log_group
                       for f in backend.filters.metric_filters)

        @classmethod
        def _put(cls, name, props, account_id, region_name):
            backend = logs_backends[account_id][region_name]
            backend.put_metric_filter(name, props.get("FilterPattern", ""), props["LogGroupName"],
                                      cls._transformations(props))
            return cls(account_id, region_name, props["LogGroupName"], name)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = _props(cloudformation_json)
            if cls._exists(logs_backends[account_id][region_name], props["LogGroupName"], resource_name):
                raise AlreadyExists(f"Resource of type 'AWS::Logs::MetricFilter' with identifier "
                                    f"'{props['LogGroupName']}|{resource_name}' already exists.")
            return cls._put(resource_name, props, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            props = _props(cloudformation_json)
            if (original_resource.name, original_resource.log_group) != (new_resource_name, props["LogGroupName"]):
                new = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                          region_name)
                original_resource.delete(account_id, region_name)
                return new
            return cls._put(new_resource_name, props, account_id, region_name)

        def delete(self, account_id, region_name):
            backend = logs_backends[account_id][region_name]
            if self._exists(backend, self.log_group, self.name):
                backend.delete_metric_filter(self.name, self.log_group)

        @classmethod
        def cwfix_import(cls, ident, props, account_id, region_name):
            lg, name = ident["LogGroupName"], ident["FilterName"]
            if not cls._exists(logs_backends[account_id][region_name], lg, name):
                return None
            return cls(account_id, region_name, lg, name)

    # ---- AWS::CloudWatch::Alarm -------------------------------------------------------------
    class CfnAlarm(CloudFormationModel):
        __module__ = "moto.cloudwatch.cwfix_cloudformation"  # moto's model registry keys on the module

        def __init__(self, account_id, region, name):
            self.account_id, self.region, self.name = account_id, region, name

        @staticmethod
        def cloudformation_type():
            return "AWS::CloudWatch::Alarm"

        @staticmethod
        def cloudformation_name_type():
            return "AlarmName"

        @property
        def physical_resource_id(self):
            return self.name

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr == "Arn"

        def get_cfn_attribute(self, attr):
            return cloudwatch_backends[self.account_id][self.region].alarms[self.name].alarm_arn

        @classmethod
        def _put(cls, name, p, account_id, region_name):
            cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),
                comparison_operator=p.get("ComparisonOperator"),
                evaluation_periods=int(p["EvaluationPeriods"]) if p.get("EvaluationPeriods") is not None else None,
                period=int(p["Period"]) if p.get("Period") is not None else None,
                threshold=float(p["Threshold"]) if p.get("Threshold") is not None else None,
                statistic=p.get("Statistic"), description=p.get("AlarmDescription"),
                dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions") or []],
                alarm_actions=list(p.get("AlarmActions") or []),
                datapoints_to_alarm=int(p["DatapointsToAlarm"]) if p.get("DatapointsToAlarm") is not None else None,
                extended_statistic=p.get("ExtendedStatistic"), ok_actions=list(p.get("OKActions") or []),
                insufficient_data_actions=list(p.get("InsufficientDataActions") or []), unit=p.get("Unit"),
                actions_enabled=str(p.get("ActionsEnabled", True)).lower() != "false",
                treat_missing_data=p.get("TreatMissingData"),
                evaluate_low_sample_count_percentile=p.get("EvaluateLowSampleCountPercentile"),
                threshold_metric_id=p.get("ThresholdMetricId"),
            )
            return cls(account_id, region_name, name)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            if resource_name in cloudwatch_backends[account_id][region_name].alarms:
                raise AlreadyExists(f"Resource of type 'AWS::CloudWatch::Alarm' with identifier "
                                    f"'{resource_name}' already exists.")
            return cls._put(resource_name, _props(cloudformation_json), account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            if original_resource.name != new_resource_name:
                new = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                          region_name)
                original_resource.delete(account_id, region_name)
                return new
            return cls._put(new_resource_name, _props(cloudformation_json), account_id, region_name)

        def delete(self, account_id, region_name):
            cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

        @classmethod
        def cwfix_import(cls, ident, props, account_id, region_name):
            if ident["AlarmName"] not in cloudwatch_backends[account_id][region_name].alarms:
                return None
            return cls(account_id, region_name, ident["AlarmName"])

    # ---- AWS::SNS::Subscription -------------------------------------------------------------
    class CfnSubscription(CloudFormationModel):
        __module__ = "moto.sns.cwfix_cloudformation"  # moto's model registry keys on the module

        def __init__(self, account_id, region, arn, topic_arn, protocol, endpoint):
            self.account_id, self.region, self.arn = account_id, region, arn
            self.topic_arn, self.protocol, self.endpoint = topic_arn, protocol, endpoint

        @staticmethod
        def cloudformation_type():
            return "AWS::SNS::Subscription"

        @staticmethod
        def cloudformation_name_type():
            return ""

        @property
        def physical_resource_id(self):
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            p = _props(cloudformation_json)
            backend = sm.sns_backends[account_id][region_name]
            sub = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
            return cls(account_id, region_name, sub.arn, p["TopicArn"], p["Protocol"], p["Endpoint"])

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            p = _props(cloudformation_json)
            same = (original_resource.topic_arn, original_resource.protocol, original_resource.endpoint) == \
                (p["TopicArn"], p["Protocol"], p["Endpoint"])
            if same:
                return original_resource
            new = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
            original_resource.delete(account_id, region_name)
            return new

        def delete(self, account_id, region_name):
            sm.sns_backends[account_id][region_name].unsubscribe(self.arn)

    # ---- AWS::SNS::TopicPolicy --------------------------------------------------------------
    class CfnTopicPolicy(CloudFormationModel):
        __module__ = "moto.sns.cwfix_cloudformation"  # moto's model registry keys on the module

        def __init__(self, account_id, region, topics, pid):
            self.account_id, self.region, self.topics, self.id = account_id, region, topics, pid

        @staticmethod
        def cloudformation_type():
            return "AWS::SNS::TopicPolicy"

        @staticmethod
        def cloudformation_name_type():
            return ""

        @property
        def physical_resource_id(self):
            return self.id

        @classmethod
        def _apply(cls, p, account_id, region_name, pid):
            doc = p["PolicyDocument"]
            text = doc if isinstance(doc, str) else json.dumps(doc)
            backend = sm.sns_backends[account_id][region_name]
            for arn in p.get("Topics") or []:
                backend.set_topic_attribute(arn, "policy", text)
            return cls(account_id, region_name, list(p.get("Topics") or []), pid)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            return cls._apply(_props(cloudformation_json), account_id, region_name, resource_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            return cls._apply(_props(cloudformation_json), account_id, region_name, original_resource.id)

        def delete(self, account_id, region_name):
            # AWS: deleting the resource puts back the topic's default policy.
            backend = sm.sns_backends[account_id][region_name]
            for arn in self.topics:
                topic = backend.topics.get(arn)
                if topic is not None:
                    topic._policy_json = topic._create_default_topic_policy(region_name, account_id, topic.name)

    # ---- AWS::Logs::QueryDefinition (stored in the launcher's QueryDefinitions) -------------
    def _qdefs(region_name):
        store = _CFN_QDEF_STORES[-1]
        key = (getattr(_CFN_LOCAL, "access_key", "") or "", region_name)
        return store, store.store.setdefault(key, {})

    class CfnQueryDefinition(CloudFormationModel):
        __module__ = "moto.logs.cwfix_cloudformation"  # moto's model registry keys on the module

        def __init__(self, region, qid):
            self.region, self.id = region, qid

        @staticmethod
        def cloudformation_type():
            return "AWS::Logs::QueryDefinition"

        @staticmethod
        def cloudformation_name_type():
            return ""

        @property
        def physical_resource_id(self):
            return self.id

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr == "QueryDefinitionId"

        def get_cfn_attribute(self, attr):
            return self.id

        @classmethod
        def _put(cls, p, region_name, qid=None):
            store, defs = _qdefs(region_name)
            with store.lock:
                qid = qid or str(uuid.uuid4())
                d = {"queryDefinitionId": qid, "name": p["Name"], "queryString": p["QueryString"],
                     "lastModified": int(time.time() * 1000), "queryLanguage": p.get("QueryLanguage") or "CWLI"}
                if p.get("LogGroupNames"):
                    d["logGroupNames"] = list(p["LogGroupNames"])
                defs[qid] = d
            return cls(region_name, qid)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            return cls._put(_props(cloudformation_json), region_name)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            return cls._put(_props(cloudformation_json), region_name, original_resource.id)

        def delete(self, account_id, region_name):
            store, defs = _qdefs(region_name)
            with store.lock:
                defs.pop(self.id, None)

        @classmethod
        def cwfix_import(cls, ident, props, account_id, region_name):
            _, defs = _qdefs(region_name)
            return cls(region_name, ident["QueryDefinitionId"]) if ident["QueryDefinitionId"] in defs else None

    # ---- AWS::Logs::LogGroup: adoption for retention changes --------------------------------
    from moto.logs.models import LogGroup as MotoLogGroup

    def _log_group_import(cls, ident, props, account_id, region_name):
        return logs_backends[account_id][region_name].groups.get(ident["LogGroupName"])

    MotoLogGroup.cwfix_import = classmethod(_log_group_import)
    orig_lg_update = MotoLogGroup.update_from_cloudformation_json

    def lg_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        # moto: any update deletes and re-creates the log group (metric filters go with it).
        # AWS:  only a new LogGroupName replaces it; RetentionInDays is PutRetentionPolicy.
        props = _props(cloudformation_json)
        if new_resource_name == original_resource.name:
            days = props.get("RetentionInDays")
            backend = logs_backends[account_id][region_name]
            if days is None:
                backend.delete_retention_policy(original_resource.name)
            else:
                backend.put_retention_policy(original_resource.name, int(days))
            return original_resource
        return orig_lg_update.__func__(cls, original_resource, new_resource_name, cloudformation_json,
                                       account_id, region_name)

    MotoLogGroup.update_from_cloudformation_json = classmethod(lg_update)

    # ---- AWS::SNS::Topic: properties are not attributes -------------------------------------
    def topic_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = _props(cloudformation_json)
        backend = sm.sns_backends[account_id][region_name]
        if sm.make_arn_for_topic(account_id, resource_name, region_name) in backend.topics:
            raise AlreadyExists(f"Resource of type 'AWS::SNS::Topic' with identifier '{resource_name}' already exists.")
        attributes = {k: str(p[k]) for k in ("KmsMasterKeyId", "DisplayName") if p.get(k) is not None}
        if p.get("FifoTopic"):
            attributes["FifoTopic"] = "true"
        tags = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
        topic = backend.create_topic(resource_name, attributes, tags or None)
        for sub in p.get("Subscription") or []:
            backend.subscribe(topic.arn, sub["Endpoint"], sub["Protocol"])
        return topic

    sm.Topic.create_from_cloudformation_json = classmethod(topic_create)

    for m in (cfp.get_model_list, cfp.get_model_map, cfp.get_name_type_map):
        m.cache_clear()

    # ---- IMPORT change sets -----------------------------------------------------------------
    orig_resp_create = cfr.CloudFormationResponse.create_change_set

    def resp_create_change_set(self):
        _CFN_LOCAL.to_import = None
        if self._get_param("ChangeSetType") == "IMPORT":
            _CFN_LOCAL.to_import = self._get_param("ResourcesToImport", [])
        try:
            return orig_resp_create(self)
        finally:
            _CFN_LOCAL.to_import = None

    cfr.CloudFormationResponse.create_change_set = resp_create_change_set
    Backend = cfm.CloudFormationBackend
    orig_backend_create = Backend.create_change_set

    def backend_create_change_set(self, stack_name, change_set_name, template, parameters, description,
                                  change_set_type, notification_arns=None, tags=None, role_arn=None):
        if change_set_type != "IMPORT":
            return orig_backend_create(self, stack_name, change_set_name, template, parameters, description,
                                       change_set_type, notification_arns, tags, role_arn)
        to_import = getattr(_CFN_LOCAL, "to_import", None) or []
        if not to_import:
            raise CfnValidationError(message="ResourcesToImport is required for an IMPORT change set")
        new = cfm.Stack.parse_template(template)
        resources = (new or {}).get("Resources") or {}
        existing = next((st for st in self.stacks.values() if st.name == stack_name), None)
        old = existing.template_dict.get("Resources", {}) if existing is not None and existing.template_dict else {}
        wanted = {r["LogicalResourceId"]: r for r in to_import}
        for lid, r in wanted.items():
            res = resources.get(lid)
            if res is None or res.get("Type") != r["ResourceType"]:
                raise CfnValidationError(message=f"Resource {lid} of type {r['ResourceType']} is not in the template")
            if "DeletionPolicy" not in res:
                raise CfnValidationError(message=f"The following resources to import [{lid}] must have "
                                                 "DeletionPolicy attribute specified in the template.")
            props = res.get("Properties") or {}
            for k, v in r["ResourceIdentifier"].items():
                if k in props and props[k] != v:
                    raise CfnValidationError(message=f"The identifier {k}={v} of {lid} does not match the template")
            model = cfp.resource_class_from_type(r["ResourceType"])
            if model is None or not hasattr(model, "cwfix_import"):
                raise CfnValidationError(message=f"Resource type {r['ResourceType']} does not support import")
            if model.cwfix_import(r["ResourceIdentifier"], props, self.account_id, self.region_name) is None:
                raise CfnValidationError(message=f"Resource {json.dumps(r['ResourceIdentifier'])} of type "
                                                 f"{r['ResourceType']} does not exist")
        others = [lid for lid in resources if lid not in wanted and (lid not in old or old[lid] != resources[lid])]
        if others:
            raise CfnValidationError(message=f"As part of the import operation, you cannot modify or add {others}")
        if existing is None:
            cs_id, stack_id = orig_backend_create(self, stack_name, change_set_name, template, parameters,
                                                  description, "CREATE", notification_arns, tags, role_arn)
        else:
            cs_id, stack_id = orig_backend_create(self, stack_name, change_set_name, template, parameters,
                                                  description, "UPDATE", notification_arns, tags, role_arn)
        cs = self.change_sets[cs_id]
        cs.change_set_type = "IMPORT"
        cs.cwfix_to_import = to_import
        cs.changes = [cfm.Change(action="Import", logical_resource_id=r["LogicalResourceId"],
                                 resource_type=r["ResourceType"]) for r in to_import]
        cs.status, cs.execution_status, cs.status_reason = "CREATE_COMPLETE", "AVAILABLE", None
        return cs_id, stack_id

    Backend.create_change_set = backend_create_change_set
    orig_execute = Backend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        cs = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
        if cs is None:
            raise CfnValidationError(stack_name)
        stack = self.stacks[cs.stack_id]
        if cs.change_set_type == "IMPORT":
            stack._add_stack_event("IMPORT_IN_PROGRESS", resource_status_reason="User Initiated")
            stack.template = cs.template
            stack._parse_template()
            rm = stack.resource_map
            rm._template = stack.template_dict
            rm._resource_json_map = stack.template_dict["Resources"]
            if cs.parameters:
                rm.input_parameters = cs.parameters
            rm.load()
            for r in cs.cwfix_to_import:
                model = cfp.resource_class_from_type(r["ResourceType"])
                lid = r["LogicalResourceId"]
                obj = model.cwfix_import(r["ResourceIdentifier"], rm._resource_json_map[lid].get("Properties") or {},
                                         self.account_id, self.region_name)
                obj.cf_resource_type = r["ResourceType"]
                obj.logical_resource_id = lid
                rm._parsed_resources[lid] = obj
            stack._add_stack_event("IMPORT_COMPLETE")
            stack.status = "IMPORT_COMPLETE"
            cs.execution_status = "EXECUTE_COMPLETE"
            return
        try:
            return orig_execute(self, change_set_name, stack_name)
        except Exception as e:  # AWS: the stack rolls back and says why
            failed = "ROLLBACK_COMPLETE" if cs.change_set_type == "CREATE" else "UPDATE_ROLLBACK_COMPLETE"
            log.warning("cloudformation: %s failed: %s", stack.name, e)
            stack._add_stack_event(failed, resource_status_reason=f"Resource handler returned message: {e}")
            stack.status = failed
            stack.status_reason = str(e)
            cs.execution_status = "EXECUTE_FAILED"

    Backend.execute_change_set = execute_change_set


_orig_qdefs_init = QueryDefinitions.__init__


def _qdefs_init(self):
    _orig_qdefs_init(self)
    _CFN_QDEF_STORES.append(self)


QueryDefinitions.__init__ = _qdefs_init
_orig_call_moto = CwfixMiddleware.call_moto


def _call_moto_remembering_the_key(self, req, environ, skip_auth=False):
    _CFN_LOCAL.access_key = req.access_key
    return _orig_call_moto(self, req, environ, skip_auth)


CwfixMiddleware.call_moto = _call_moto_remembering_the_key
_build_app_without_cloudformation = build_app


def build_app(faults: Faults):  # noqa: F811 - wraps the definition above
    patch_cloudformation()
    return _build_app_without_cloudformation(faults)
# ====================== end of the CloudFormation block (issue #14) ========================


# ===========================================================================================
# Organizations: entering member accounts, and Security Hub imports  (cwfix issue #12)
# -------------------------------------------------------------------------------------------
# Kept in this one block (another developer edits the rest of the file). Installed by wrapping
# build_app(), so nothing above changes.
#
# moto 5.2.1: STS AssumeRole hands out credentials for any role ARN ("the role does not need to
#       exist"), so an organization member whose OrganizationAccountAccessRole is missing (an
#       invited account, or one created with another --role-name) is entered all the same.
# AWS:  AssumeRole fails with AccessDenied (`User: ... is not authorized to perform:
#       sts:AssumeRole on resource: <role arn>`) unless the role exists in the target account and
#       its trust policy allows the caller. Enforced here only for accounts moto's Organizations
#       made with CreateAccount (which creates the role it was asked for, trusting the
#       management account): the other tests assume roles in accounts nobody set up, as moto lets
#       them.
# moto 5.2.1: Security Hub's BatchImportFindings stores findings whether or not Security Hub is
#       enabled in the account and region.
# AWS:  "Security Hub can only accept finding updates for accounts that have Security Hub
#       enabled": the call fails with InvalidAccessException (`Account ... is not subscribed to
#       AWS Security Hub`).
# ===========================================================================================
def _trusts(policy_document: str, caller_account: str) -> bool:
    try:
        doc = json.loads(urllib.parse.unquote(policy_document or "{}"))
    except ValueError:
        return False
    statements = doc.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if st.get("Effect") != "Allow" or not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal") or {}
        aws = principal.get("AWS", []) if isinstance(principal, dict) else principal
        aws = [aws] if isinstance(aws, str) else aws
        for p in aws:
            if p in ("*", caller_account) or p.startswith(f"arn:aws:iam::{caller_account}:"):
                return True
    return False


def patch_organization_members() -> None:
    from moto.iam.models import iam_backends
    from moto.organizations.models import organizations_backends
    from moto.securityhub.exceptions import SecurityHubClientError
    from moto.securityhub.models import SecurityHubBackend
    from moto.sts import models as stsm
    from moto.sts.exceptions import STSClientError

    orig_assume_role = stsm.STSBackend.assume_role

    def assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
        parts = (role_arn or "").split(":")
        target = parts[4] if len(parts) > 5 else ""
        if target in organizations_backends.master_accounts:
            name = parts[5].split("/")[-1]
            roles = iam_backends[target]["global"].roles.values()
            role = next((r for r in roles if r.name == name), None)
            if role is None or not _trusts(role.assume_role_policy_document, self.account_id):
                raise STSClientError("AccessDenied", f"User: arn:aws:iam::{self.account_id}:root is not authorized "
                                                     f"to perform: sts:AssumeRole on resource: {role_arn}")
        return orig_assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id)

    stsm.STSBackend.assume_role = assume_role
    orig_import = SecurityHubBackend.batch_import_findings

    def batch_import_findings(self, findings):
        if not self.enabled:
            raise SecurityHubClientError("InvalidAccessException",
                                         f"Account {self.account_id} is not subscribed to AWS Security Hub")
        return orig_import(self, findings)

    SecurityHubBackend.batch_import_findings = batch_import_findings


_build_app_without_organizations = build_app


def build_app(faults: Faults):  # noqa: F811 - wraps the definitions above
    patch_organization_members()
    return _build_app_without_organizations(faults)
# ====================== end of the Organizations block (issue #12) =========================


# ===========================================================================================
# CloudWatch DescribeAlarmHistory  (cwfix issue #11: failed alarm notifications)
# -------------------------------------------------------------------------------------------
# Kept in this one block, installed by wrapping build_app() and CwfixMiddleware.control().
#
# moto 5.2.1: no DescribeAlarmHistory at all (moto.cloudwatch's responses have no such method;
#       a request gets NotImplemented). moto also never executes alarm actions, so no alarm of
#       it ever notifies a topic, successfully or not.
# AWS:  CloudWatch writes the history itself: a `ConfigurationUpdate` item when an alarm is
#       created or changed, a `StateUpdate` item when its state changes and an `Action` item each
#       time it runs an action ("Successfully executed action arn:aws:sns:...", or "Failed to
#       execute action arn:aws:sns:.... Received error: "..."" with HistoryData {"actionState":
#       "Failed", ..., "notificationResource": ARN, "error": "..."}). It keeps the history after the alarm is
#       deleted. DescribeAlarmHistory filters by AlarmName, AlarmTypes (metric alarms only when
#       omitted), HistoryItemType, StartDate and EndDate, returns newest first or oldest first
#       (ScanBy), MaxRecords 1..100 a page with an opaque NextToken (InvalidNextToken otherwise).
#       The default MaxRecords and ScanBy are not documented: 50 and TimestampDescending here.
# Here: DescribeAlarmHistory answers from items stored per account and region in moto's own
#       CloudWatch backend (so `/moto-api/reset` wipes them), for every protocol moto serves
#       (JSON 1.0 as botocore/aws CLI send it, query) and CBOR through the bridge. Because moto
#       never acts, the items a real alarm would get are seeded by the test-only endpoint
#
#   POST /_cwfix/alarm-history   body {"region": "us-east-1", "account": "123456789012",
#                                      "items": [{"AlarmName": "...", "Timestamp": 1764547200.5 | ISO,
#                                                 "HistoryItemType": "Action", "HistorySummary": "...",
#                                                 "HistoryData": "{...}" | {...}, "AlarmType": "MetricAlarm"}]}
#                                -> {"stored": n}   (region, account, HistoryItemType and AlarmType
#                                                    default as shown; HistoryData to "{}")
# ===========================================================================================
_HISTORY_TYPES = {"ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate",
                  "AlarmContributorAction"}
_HISTORY_SEQ = [0]


def _alarm_history(backend) -> list:
    if not hasattr(backend, "_cwfix_alarm_history"):
        backend._cwfix_alarm_history = []
    return backend._cwfix_alarm_history


def store_alarm_history(account: str, region: str, items: list) -> int:
    """Validates and stores history items as CloudWatch would have written them."""
    from moto.cloudwatch.models import cloudwatch_backends
    if not isinstance(items, list) or not items:
        raise ValueError("items must be a non-empty list")
    parsed = []
    for i in items:
        if not isinstance(i, dict) or not i.get("AlarmName") or i.get("Timestamp") in (None, "") \
                or not i.get("HistorySummary"):
            raise ValueError(f"each item needs AlarmName, Timestamp and HistorySummary: {i!r}")
        kind = i.get("HistoryItemType") or "Action"
        if kind not in _HISTORY_TYPES:
            raise ValueError(f"HistoryItemType must be one of {sorted(_HISTORY_TYPES)}, not {kind!r}")
        data = i.get("HistoryData")
        if data is not None and not isinstance(data, str):
            data = json.dumps(data)
        _HISTORY_SEQ[0] += 1
        parsed.append({"seq": _HISTORY_SEQ[0], "AlarmName": i["AlarmName"],
                       "AlarmType": i.get("AlarmType") or "MetricAlarm", "Timestamp": _epoch(i["Timestamp"]),
                       "HistoryItemType": kind, "HistorySummary": i["HistorySummary"],
                       "HistoryData": data or "{}"})
    _alarm_history(cloudwatch_backends[account][region]).extend(parsed)
    return len(parsed)


def patch_alarm_history() -> None:
    from moto.cloudwatch import responses as cr
    from moto.cloudwatch.exceptions import CloudWatchException, ValidationError
    from moto.core.responses import ActionResult

    class InvalidNextToken(CloudWatchException):
        code = "InvalidNextToken"

    def describe_alarm_history(self):
        name = self._get_param("AlarmName")
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        kind = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        scan = self._get_param("ScanBy") or "TimestampDescending"
        max_records = self._get_param("MaxRecords")
        token = self._get_param("NextToken")
        max_records = 50 if max_records in (None, "") else int(max_records)
        if not 1 <= max_records <= 100:
            raise ValidationError(
                f"1 validation error detected: Value '{max_records}' at 'maxRecords' failed to "
                "satisfy constraint: Member must have value between 1 and 100")
        if kind and kind not in _HISTORY_TYPES:
            raise ValidationError(
                f"1 validation error detected: Value '{kind}' at 'historyItemType' failed to satisfy "
                f"constraint: Member must satisfy enum value set: {sorted(_HISTORY_TYPES)}")
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise ValidationError(
                f"1 validation error detected: Value '{scan}' at 'scanBy' failed to satisfy constraint: "
                "Member must satisfy enum value set: [TimestampDescending, TimestampAscending]")
        lo = _epoch(start) if start not in (None, "") else float("-inf")
        hi = _epoch(end) if end not in (None, "") else float("inf")
        items = [i for i in _alarm_history(self.cloudwatch_backend)
                 if (not name or i["AlarmName"] == name) and i["AlarmType"] in types
                 and (not kind or i["HistoryItemType"] == kind) and lo <= i["Timestamp"] <= hi]
        sign = -1 if scan == "TimestampDescending" else 1
        key = lambda i: (sign * i["Timestamp"], sign * i["seq"])  # noqa: E731
        items.sort(key=key)
        query = {"n": name, "t": sorted(types), "k": kind, "s": start and lo, "e": end and hi, "o": scan}
        cursor = None
        if token:
            try:
                cursor = parse_token("alarm-history", query, token)
            except ValueError:
                raise InvalidNextToken("The service returned an invalid next token.")
        page, nxt = page_after(items, key, cursor, max_records)
        out = [{k: (datetime.datetime.fromtimestamp(v, datetime.timezone.utc) if k == "Timestamp" else v)
                for k, v in i.items() if k != "seq"} for i in page]
        result = {"AlarmHistoryItems": out}
        if nxt is not None:
            result["NextToken"] = make_token("alarm-history", query, list(nxt))
        return ActionResult(result)

    cr.CloudWatchResponse.describe_alarm_history = describe_alarm_history


_control_without_alarm_history = CwfixMiddleware.control


def _control_with_alarm_history(self, method, path, environ):
    if path != "/_cwfix/alarm-history":
        return _control_without_alarm_history(self, method, path, environ)
    if method != "POST":
        return self._json(404, {"error": f"no such control endpoint: {method} {path}"})
    try:
        body = json.loads(Req._read_body(environ) or b"{}")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        with self.moto_lock:
            n = store_alarm_history(str(body.get("account") or "123456789012"),
                                    str(body.get("region") or "us-east-1"), body.get("items"))
    except (ValueError, TypeError) as e:
        return self._json(400, {"error": f"alarm-history: {e}"})
    return self._json(200, {"stored": n})


CwfixMiddleware.control = _control_with_alarm_history
_build_app_without_alarm_history = build_app


def build_app(faults: Faults):  # noqa: F811 - wraps the definitions above
    patch_alarm_history()
    return _build_app_without_alarm_history(faults)
# ====================== end of the DescribeAlarmHistory block (issue #11) ==================


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--quiet", action="store_true", help="do not log every request")
    args = ap.parse_args()

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("only loopback hosts are allowed (127.0.0.1, localhost, ::1)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto import settings as moto_settings
    _STARTUP_AUTH[0] = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    startup = {}
    if os.environ.get("CWFIX_MOTO_FAULTS"):
        startup = json.loads(os.environ["CWFIX_MOTO_FAULTS"])
    faults = Faults(startup)
    app = build_app(faults)

    server = make_server(args.host, args.port, app, threaded=True)  # binds now
    port = server.server_port
    if args.port_file:
        tmp = f"{args.port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    log.info("cwfix moto test bed listening on http://%s:%d (pid %d)", args.host, port, os.getpid())
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
