#!/usr/bin/env python3
"""Checks what `cwfix plan --emit` wrote, for tests/it/emit.rs (run with the moto venv's python).

    emit_check.py terraform DIR PLAN_JSON SCHEMA_JSON
    emit_check.py cloudformation TEMPLATE PLAN_JSON [IMPORT_TEMPLATE RESOURCES_TO_IMPORT]

terraform: parses every .tf file with python-hcl2, checks each resource, data source and nested
block against the AWS provider argument schema kept in SCHEMA_JSON (names, required arguments,
value types), evaluates the few expression forms cwfix writes (variables' defaults, topic ARNs,
for_each over the subscribers, jsonencode), converts every resource back into cwfix's
after-state and compares it with the plan's changes, and checks that every in-place update has an
import block with the provider's documented id.

cloudformation: the same conversion for a template (Ref to parameters' defaults and to topics
created in it), plus, when given, that the import template holds exactly the updated resources in
their before-state with DeletionPolicy Retain and that the resources-to-import document names them.

Prints a JSON summary on stdout; exits 1 with the list of problems on stderr.
"""
import glob
import json
import os
import re
import sys

PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


# ---- HCL values as python-hcl2 8 returns them ----------------------------------------------------
ESC = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def unquote(s):
    """An HCL string literal as python-hcl2 returns it ('"..."') -> its value."""
    assert s.startswith('"') and s.endswith('"'), s
    body, out, i = s[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            n = body[i + 1]
            if n in ESC:
                out.append(ESC[n])
                i += 2
            elif n == "u":
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
            elif n == "U":
                out.append(chr(int(body[i + 2:i + 10], 16)))
                i += 10
            else:
                raise ValueError(f"bad escape in {s}")
        elif body.startswith("$${", i) or body.startswith("%%{", i):
            out.append(c + "{")
            i += 3
        elif body.startswith("${", i) or body.startswith("%{", i):
            raise ValueError(f"template sequence in a literal cwfix writes: {s}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def key_of(k):
    return unquote(k) if k.startswith('"') else k


class Env:
    def __init__(self, account, variables, resources, data, providers):
        self.account, self.variables, self.resources, self.data, self.providers = \
            account, variables, resources, data, providers
        self.each = None

    def region_of(self, block):
        p = block.get("provider")
        alias = p[len("${aws."):-1] if isinstance(p, str) and p.startswith("${aws.") else None
        return self.providers[alias]

    def ev(self, v):
        if isinstance(v, dict):
            return {key_of(k): self.ev(x) for k, x in v.items() if not k.startswith("__")}
        if isinstance(v, list):
            return [self.ev(x) for x in v]
        if isinstance(v, str):
            if v.startswith('"'):
                return unquote(v)
            if v.startswith("${") and v.endswith("}"):
                return self.expr(v[2:-1].strip())
            raise ValueError(f"unexpected value {v!r}")
        return v  # numbers, bools, None

    def expr(self, e):
        import hcl2
        if e.startswith("var."):
            return self.ev(self.variables[e[4:]]["default"])
        if e.startswith("each.value."):
            return self.each[e[len("each.value."):]]
        m = re.fullmatch(r"(data\.)?aws_sns_topic\.([A-Za-z0-9_-]+)\.arn", e)
        if m:
            block = (self.data if m.group(1) else self.resources)["aws_sns_topic"][m.group(2)]
            return f"arn:aws:sns:{self.region_of(block)}:{self.account}:{self.ev(block['name'])}"
        if e.startswith("jsonencode(") and e.endswith(")"):
            inner = hcl2.loads("x = " + e[len("jsonencode("):-1] + "\n")["x"]
            return json.dumps(self.ev(inner))
        raise ValueError(f"cwfix writes no expression like `{e}`")


TYPES = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list(string)": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "set(string)": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "map(string)": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
}


def check_schema(kind, where, body, schema, env, meta):
    """Argument names, required arguments, nested blocks and evaluated value types."""
    for name, v in body.items():
        if name.startswith("__") or name in meta:
            continue
        if name in schema.get("blocks", {}):
            blocks = v if isinstance(v, list) else [v]
            spec = schema["blocks"][name]
            if not spec.get("min", 0) <= len(blocks) <= spec.get("max", 10 ** 6):
                problem(f"{where}: {len(blocks)} `{name}` blocks")
            for b in blocks:
                check_schema(kind, f"{where}.{name}", b, spec, env, meta=())
            continue
        arg = schema.get("arguments", {}).get(name)
        if arg is None:
            problem(f"{where}: `{name}` is not an argument of {kind}")
            continue
        try:
            value = env.ev(v)
        except Exception as e:  # noqa: BLE001 - report, do not crash
            problem(f"{where}.{name}: cannot evaluate: {e}")
            continue
        if not TYPES[arg["type"]](value):
            problem(f"{where}.{name} = {value!r} is not a {arg['type']}")
    for name, arg in schema.get("arguments", {}).items():
        if arg.get("required") and name not in body:
            problem(f"{where}: required argument `{name}` missing")
    for name, spec in schema.get("blocks", {}).items():
        if spec.get("min", 0) > 0 and name not in body:
            problem(f"{where}: required block `{name}` missing")


def load_terraform(d):
    import hcl2
    files = sorted(glob.glob(os.path.join(d, "*.tf")))
    docs = {}
    for f in files:
        with open(f) as fh:
            docs[os.path.basename(f)] = hcl2.load(fh)
    return docs


def labelled(items, depth):
    """python-hcl2's [{'"type"': {'"name"': body}}] -> {type: {name: body}} (depth 2) or {name: body}."""
    out = {}
    for item in items or []:
        for k1, v1 in item.items():
            if depth == 1:
                out[key_of(k1)] = v1
            else:
                for k2, v2 in v1.items():
                    out.setdefault(key_of(k1), {})[key_of(k2)] = v2
    return out


def normalize(kind, after):
    """Drops what is absent or empty, so both sides compare the same way."""
    a = json.loads(json.dumps(after))
    a = {k: v for k, v in a.items() if v not in (None, [], {})}
    if kind == "metric_alarm":
        a.pop("alarm_arn", None)
        if "threshold" in a:
            a["threshold"] = float(a["threshold"])
    if kind == "metric_filter":
        for t in a.get("metric_transformations", []):
            for k in [k for k, v in t.items() if v in (None, {}, [])]:
                del t[k]
            if "default_value" in t:
                t["default_value"] = float(t["default_value"])
    if kind == "sns_topic":
        attrs = dict(a.get("attributes", {}))
        if "Policy" in attrs:
            attrs["Policy"] = json.loads(attrs["Policy"]) if isinstance(attrs["Policy"], str) else attrs["Policy"]
        a["attributes"] = attrs
    if kind == "query_definition":
        a.pop("query_definition_id", None)
    return a


def compare(plan, converted, source):
    """converted: {address: (kind, after)}; every change's after-state must be there, equal."""
    changes = {c["address"]: c for c in plan["changes"]}
    for addr in sorted(set(changes) - set(converted)):
        problem(f"{source}: the plan changes {addr} but the code has no such resource")
    for addr in sorted(set(converted) - set(changes)):
        problem(f"{source}: {addr} is in the code but not a change of the plan")
    for addr in sorted(set(changes) & set(converted)):
        kind, after = converted[addr]
        want = normalize(kind, changes[addr]["after"])
        got = normalize(kind, after)
        if want != got:
            problem(f"{source}: {addr} differs from the plan's after-state:\n  plan: {json.dumps(want, sort_keys=True)}\n  code: {json.dumps(got, sort_keys=True)}")


def terraform(d, plan, schema):
    docs = load_terraform(d)
    blocks = {"resource": [], "data": [], "variable": [], "provider": [], "import": []}
    for doc in docs.values():
        for k in blocks:
            blocks[k].extend(doc.get(k, []))
    providers = {}
    for p in blocks["provider"]:
        for _, body in p.items():
            alias = unquote(body["alias"]) if "alias" in body else None
            providers[alias] = unquote(body["region"])
            if body.get("allowed_account_ids") != [f'"{plan["account"]}"']:
                problem(f"provider {alias}: allowed_account_ids is not the plan's account")
    if None not in providers:  # aliases only: resources must all name one
        providers[None] = None
    variables = labelled(blocks["variable"], 1)
    resources = labelled(blocks["resource"], 2)
    data = labelled(blocks["data"], 2)
    env = Env(plan["account"], variables, resources, data, providers)
    meta = set(schema["meta_arguments"])
    for ty, items in resources.items():
        if ty not in schema["resources"]:
            problem(f"resource type {ty} is not one cwfix may use")
            continue
        for name, body in items.items():
            if "for_each" in body:
                continue  # checked per instance below
            check_schema(ty, f"{ty}.{name}", body, schema["resources"][ty], env, meta)
            if len(providers) > 1 and "provider" not in body:
                problem(f"{ty}.{name}: several regions but no provider alias")
    for ty, items in data.items():
        for name, body in items.items():
            check_schema(ty, f"data.{ty}.{name}", body, schema["data_sources"][ty], env, meta)

    converted = {}
    region_names = {}
    for ty, items in resources.items():
        for name, body in items.items():
            region = env.region_of(body)
            region_names[(ty, name)] = region
            if ty == "aws_cloudwatch_log_metric_filter":
                ts = []
                for t in body["metric_transformation"]:
                    t = env.ev(t)
                    x = {"metric_name": t["name"], "metric_namespace": t["namespace"], "metric_value": t["value"]}
                    for src, dst in (("default_value", "default_value"), ("unit", "unit"), ("dimensions", "dimensions")):
                        if src in t:
                            x[dst] = t[src]
                    ts.append(x)
                after = {"log_group_name": env.ev(body["log_group_name"]), "filter_name": env.ev(body["name"]),
                         "filter_pattern": env.ev(body["pattern"]), "metric_transformations": ts}
                if "apply_on_transformed_logs" in body:
                    after["apply_on_transformed_logs"] = env.ev(body["apply_on_transformed_logs"])
                converted[f"metric_filter.{after['log_group_name']}/{after['filter_name']}"] = ("metric_filter", after)
            elif ty == "aws_cloudwatch_metric_alarm":
                b = {k: env.ev(v) for k, v in body.items() if not k.startswith("__") and k != "provider"}
                rename = {"evaluate_low_sample_count_percentiles": "evaluate_low_sample_count_percentile"}
                after = {rename.get(k, k): v for k, v in b.items()}
                after.setdefault("actions_enabled", True)
                converted[f"metric_alarm.{after['alarm_name']}"] = ("metric_alarm", after)
            elif ty == "aws_sns_topic":
                tname = env.ev(body["name"])
                attrs = {}
                for src, dst in (("kms_master_key_id", "KmsMasterKeyId"), ("display_name", "DisplayName"),
                                 ("delivery_policy", "DeliveryPolicy")):
                    if src in body:
                        attrs[dst] = env.ev(body[src])
                arn = f"arn:aws:sns:{region}:{plan['account']}:{tname}"
                for pname, pbody in resources.get("aws_sns_topic_policy", {}).items():
                    if env.ev(pbody["arn"]) == arn:
                        attrs["Policy"] = env.ev(pbody["policy"])
                converted[f"sns_topic.{tname}"] = ("sns_topic", {"name": tname, "topic_arn": arn, "attributes": attrs,
                                                                 "tags": env.ev(body.get("tags", {}))})
            elif ty == "aws_sns_topic_subscription":
                m = re.fullmatch(r"\$\{\{for (\w+) in var\.(\w+) : \"\$\{\1\.protocol\}:\$\{\1\.endpoint\}\" => \1\}\}",
                                 body["for_each"].replace("  ", " "))
                if not m:
                    problem(f"{ty}.{name}: unexpected for_each {body['for_each']}")
                    continue
                for s in env.ev(variables[m.group(2)]["default"]):
                    env.each = s
                    check_schema(ty, f"{ty}.{name}[{s['protocol']}:{s['endpoint']}]", body, schema["resources"][ty],
                                 env, meta)
                    topic_arn = env.ev(body["topic_arn"])
                    topic = topic_arn.rsplit(":", 1)[1]
                    converted[f"sns_subscription.{topic}/{s['protocol']}:{s['endpoint']}"] = (
                        "sns_subscription", {"topic_arn": topic_arn, "protocol": env.ev(body["protocol"]),
                                             "endpoint": env.ev(body["endpoint"])})
                    env.each = None
            elif ty == "aws_cloudwatch_log_group":
                lg = env.ev(body["name"])
                converted[f"log_retention.{lg}"] = ("log_retention", {"log_group_name": lg,
                                                                      "retention_in_days": env.ev(body["retention_in_days"])})
                if env.ev(body.get("skip_destroy", False)) is not True:
                    problem(f"{ty}.{name}: the trail's log group must never be destroyed by Terraform")
            elif ty == "aws_cloudwatch_query_definition":
                after = {"name": env.ev(body["name"]), "query_string": env.ev(body["query_string"]),
                         "log_group_names": env.ev(body.get("log_group_names", []))}
                converted[f"query_definition.{after['name']}"] = ("query_definition", after)
    compare(plan, converted, "terraform")

    # Every in-place update is imported with the provider's id format.
    imports = {}
    for imp in blocks["import"]:
        to = imp["to"][2:-1]
        imports[to] = env.ev(imp["id"])
        if len(providers) > 1 and "provider" not in imp:
            problem(f"import {to}: several regions but no provider")
    want_imports = {}
    for c in plan["changes"]:
        if c["action"] != "update":
            continue
        a = c["after"]
        if c["kind"] == "metric_filter":
            want_imports[("aws_cloudwatch_log_metric_filter", f"{a['log_group_name']}:{a['filter_name']}")] = c["address"]
        elif c["kind"] == "metric_alarm":
            want_imports[("aws_cloudwatch_metric_alarm", a["alarm_name"])] = c["address"]
        elif c["kind"] == "log_retention":
            want_imports[("aws_cloudwatch_log_group", a["log_group_name"])] = c["address"]
        elif c["kind"] == "query_definition":
            qid = (c.get("before") or {}).get("query_definition_id")
            want_imports[("aws_cloudwatch_query_definition",
                          f"arn:aws:logs:{c['region']}:{plan['account']}:query-definition:{qid}")] = c["address"]
    got_imports = {(to.split(".")[0], i) for to, i in imports.items()}
    for k in sorted(set(want_imports) - got_imports):
        problem(f"no import block for {want_imports[k]} (want {k[0]} id {k[1]})")
    for k in sorted(got_imports - set(want_imports)):
        problem(f"import of {k} that the plan does not update")
    return {"files": sorted(docs), "resources": sum(len(v) for v in resources.values()),
            "converted": len(converted), "imports": len(imports), "providers": len(providers)}


# ---- CloudFormation ------------------------------------------------------------------------------
def load_template(path):
    import yaml
    with open(path) as fh:
        return json.load(fh) if path.endswith(".json") else yaml.safe_load(fh)


def cfn_convert(t, plan, region, from_before=False):
    params = {k: v.get("Default") for k, v in (t.get("Parameters") or {}).items()}
    res = t["Resources"]

    def topic_arn(lid):
        return f"arn:aws:sns:{region}:{plan['account']}:{ev(res[lid]['Properties']['TopicName'])}"

    def ev(v):
        if isinstance(v, dict) and set(v) == {"Ref"}:
            r = v["Ref"]
            if r in params:
                return params[r]
            if res[r]["Type"] == "AWS::SNS::Topic":
                return topic_arn(r)
            raise ValueError(f"Ref to {r}")
        if isinstance(v, dict):
            return {k: ev(x) for k, x in v.items()}
        if isinstance(v, list):
            return [ev(x) for x in v]
        return v

    out = {}
    for lid, r in res.items():
        ty, p = r["Type"], ev(r.get("Properties") or {})
        if ty == "AWS::Logs::MetricFilter":
            ts = []
            for x in p["MetricTransformations"]:
                y = {"metric_name": x["MetricName"], "metric_namespace": x["MetricNamespace"], "metric_value": x["MetricValue"]}
                if "DefaultValue" in x:
                    y["default_value"] = x["DefaultValue"]
                if "Unit" in x:
                    y["unit"] = x["Unit"]
                if "Dimensions" in x:
                    y["dimensions"] = {d["Key"]: d["Value"] for d in x["Dimensions"]}
                ts.append(y)
            a = {"log_group_name": p["LogGroupName"], "filter_name": p["FilterName"], "filter_pattern": p["FilterPattern"],
                 "metric_transformations": ts}
            out[f"metric_filter.{a['log_group_name']}/{a['filter_name']}"] = ("metric_filter", a, lid)
        elif ty == "AWS::CloudWatch::Alarm":
            names = {"AlarmName": "alarm_name", "AlarmDescription": "alarm_description", "Namespace": "namespace",
                     "MetricName": "metric_name", "Statistic": "statistic", "ExtendedStatistic": "extended_statistic",
                     "Period": "period", "Unit": "unit", "EvaluationPeriods": "evaluation_periods",
                     "DatapointsToAlarm": "datapoints_to_alarm", "Threshold": "threshold",
                     "ThresholdMetricId": "threshold_metric_id", "ComparisonOperator": "comparison_operator",
                     "TreatMissingData": "treat_missing_data",
                     "EvaluateLowSampleCountPercentile": "evaluate_low_sample_count_percentile",
                     "ActionsEnabled": "actions_enabled", "AlarmActions": "alarm_actions", "OKActions": "ok_actions",
                     "InsufficientDataActions": "insufficient_data_actions"}
            a = {names[k]: v for k, v in p.items() if k in names}
            if "Dimensions" in p:
                a["dimensions"] = {d["Name"]: d["Value"] for d in p["Dimensions"]}
            out[f"metric_alarm.{a['alarm_name']}"] = ("metric_alarm", a, lid)
        elif ty == "AWS::SNS::Topic":
            attrs = {k: p[k] for k in ("KmsMasterKeyId", "DisplayName") if k in p}
            arn = topic_arn(lid)
            for r2 in res.values():
                if r2["Type"] == "AWS::SNS::TopicPolicy" and arn in ev(r2["Properties"]["Topics"]):
                    attrs["Policy"] = ev(r2["Properties"]["PolicyDocument"])
            out[f"sns_topic.{p['TopicName']}"] = ("sns_topic", {"name": p["TopicName"], "topic_arn": arn, "attributes": attrs,
                                                                "tags": {x["Key"]: x["Value"] for x in p.get("Tags", [])}}, lid)
        elif ty == "AWS::SNS::Subscription":
            topic = p["TopicArn"].rsplit(":", 1)[1]
            out[f"sns_subscription.{topic}/{p['Protocol']}:{p['Endpoint']}"] = (
                "sns_subscription", {"topic_arn": p["TopicArn"], "protocol": p["Protocol"], "endpoint": p["Endpoint"]}, lid)
        elif ty == "AWS::Logs::LogGroup":
            out[f"log_retention.{p['LogGroupName']}"] = (
                "log_retention", {"log_group_name": p["LogGroupName"], "retention_in_days": p.get("RetentionInDays")}, lid)
        elif ty == "AWS::Logs::QueryDefinition":
            out[f"query_definition.{p['Name']}"] = (
                "query_definition", {"name": p["Name"], "query_string": p["QueryString"],
                                     "log_group_names": p.get("LogGroupNames", [])}, lid)
        elif ty in ("AWS::SNS::TopicPolicy", "AWS::CloudFormation::WaitConditionHandle"):
            pass
        else:
            problem(f"{lid}: resource type {ty} is not one cwfix may use")
    return out


def cloudformation(path, plan, import_template=None, resources_to_import=None):
    t = load_template(path)
    region = t["Metadata"]["cwfix"]["region"]
    sub = {"changes": [c for c in plan["changes"] if c["region"] == region], "account": plan["account"]}
    conv = cfn_convert(t, plan, region)
    compare(sub, {a: (k, v) for a, (k, v, _) in conv.items()}, f"cloudformation {os.path.basename(path)}")
    updates = {c["address"]: c for c in sub["changes"] if c["action"] == "update"}
    for addr, (_, _, lid) in conv.items():
        r = t["Resources"][lid]
        retained = r.get("DeletionPolicy") == "Retain" and r.get("UpdateReplacePolicy") == "Retain"
        if (addr in updates) != retained:
            problem(f"{lid}: DeletionPolicy/UpdateReplacePolicy Retain must be set exactly on adopted resources")
    summary = {"template": os.path.basename(path), "resources": len(t["Resources"]), "converted": len(conv),
               "parameters": sorted((t.get("Parameters") or {}).keys())}
    if import_template:
        it = load_template(import_template)
        before = {"changes": [dict(c, after=c["before"]) for c in updates.values()], "account": plan["account"]}
        iconv = cfn_convert(it, plan, region)
        compare(before, {a: (k, v) for a, (k, v, _) in iconv.items()}, "import template (before-state)")
        for lid, r in it["Resources"].items():
            if r.get("DeletionPolicy") != "Retain":
                problem(f"import template: {lid} lacks DeletionPolicy Retain")
        with open(resources_to_import) as fh:
            ids = json.load(fh)
        if sorted(x["LogicalResourceId"] for x in ids) != sorted(it["Resources"]):
            problem("resources-to-import does not name exactly the import template's resources")
        for x in ids:
            if t["Resources"].get(x["LogicalResourceId"], {}).get("Type") != x["ResourceType"]:
                problem(f"{x['LogicalResourceId']}: not the same resource in the main template")
        summary["imported"] = len(ids)
    return summary


def main():
    mode = sys.argv[1]
    with open(sys.argv[3]) as fh:
        plan = json.load(fh)
    if mode == "terraform":
        with open(sys.argv[4]) as fh:
            schema = json.load(fh)
        out = terraform(sys.argv[2], plan, schema)
    elif mode == "cloudformation":
        extra = sys.argv[4:6] if len(sys.argv) >= 6 else [None, None]
        out = cloudformation(sys.argv[2], plan, *extra)
    else:
        raise SystemExit(f"unknown mode {mode}")
    if PROBLEMS:
        print("\n".join(PROBLEMS), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
