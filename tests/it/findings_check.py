#!/usr/bin/env python3
"""Validates `cwfix plan -o sarif|junit|asff` output, for tests/it/findings.rs (moto venv python).

    findings_check.py sarif FILE SCHEMA      JSON Schema (draft 4) validation against SARIF 2.1.0
    findings_check.py junit FILE             parsed by xml.etree and junitparser; counts
    findings_check.py asff FILE              BatchImportFindings request validated by botocore's
                                             Security Hub model, plus the ASFF required attributes

Prints a JSON summary on stdout; exits 1 with the problems on stderr.
"""
import json
import sys

# The top-level attributes the ASFF documentation lists as required for every finding
# (docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html). botocore's model
# marks all but Severity and Types required; the union is checked.
ASFF_REQUIRED = ["AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn", "Resources",
                 "SchemaVersion", "Severity", "Title", "Types", "UpdatedAt"]


def sarif(path, schema_path):
    import jsonschema
    with open(schema_path) as fh:
        schema = json.load(fh)
    with open(path) as fh:
        doc = json.load(fh)
    v = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in v.iter_errors(doc)]
    run = doc["runs"][0]
    levels = {}
    for r in run["results"]:
        levels[r["level"]] = levels.get(r["level"], 0) + 1
    return errors, {"valid": not errors, "schema": schema.get("title"), "results": len(run["results"]),
                    "rules": len(run["tool"]["driver"]["rules"]), "levels": levels}


def junit(path):
    import xml.etree.ElementTree as ET
    from junitparser import JUnitXml
    root = ET.parse(path).getroot()
    problems = []
    if root.tag != "testsuites":
        problems.append(f"root element is {root.tag}")
    cases = root.findall("./testsuite/testcase")
    counted = {"tests": len(cases),
               "failures": sum(1 for c in cases if c.find("failure") is not None),
               "errors": sum(1 for c in cases if c.find("error") is not None),
               "skipped": sum(1 for c in cases if c.find("skipped") is not None)}
    for k, n in counted.items():
        if int(root.get(k, -1)) != n:
            problems.append(f"testsuites {k}={root.get(k)} but {n} counted")
    for s in root.findall("testsuite"):
        n = len(s.findall("testcase"))
        if int(s.get("tests", -1)) != n:
            problems.append(f"testsuite {s.get('name')} tests={s.get('tests')} but {n} test cases")
    # junitparser reads it the way CI plugins do.
    xml = JUnitXml.fromfile(path)
    jp = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "suites": 0}
    for suite in xml:
        jp["suites"] += 1
        for case in suite:
            jp["tests"] += 1
            for r in case.result:
                kind = type(r).__name__.lower()
                key = {"failure": "failures", "error": "errors", "skipped": "skipped"}.get(kind)
                if key:
                    jp[key] += 1
    for k in ("tests", "failures", "errors", "skipped"):
        if jp[k] != counted[k]:
            problems.append(f"junitparser counts {k}={jp[k]}, xml.etree {counted[k]}")
    names = sorted({c.get("classname") for c in cases})
    return problems, dict(counted, suites=jp["suites"], classnames=names)


def asff(path):
    import botocore.session
    from botocore.validate import ParamValidator
    with open(path) as fh:
        findings = json.load(fh)
    problems = []
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    for i in range(0, len(findings), 100):  # the API takes 100 per call
        report = ParamValidator().validate({"Findings": findings[i:i + 100]}, shape)
        if report.has_errors():
            problems.append(report.generate_report())
    ids = [f["Id"] for f in findings]
    if len(set(ids)) != len(ids):
        problems.append("finding ids are not unique")
    statuses = {}
    for f in findings:
        missing = [k for k in ASFF_REQUIRED if k not in f]
        if missing:
            problems.append(f"{f.get('Id')}: missing {missing}")
        s = f.get("Compliance", {}).get("Status")
        statuses[s] = statuses.get(s, 0) + 1
    return problems, {"findings": len(findings), "statuses": statuses}


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "sarif":
        problems, out = sarif(path, sys.argv[3])
    elif mode == "junit":
        problems, out = junit(path)
    elif mode == "asff":
        problems, out = asff(path)
    else:
        raise SystemExit(f"unknown mode {mode}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
