#!/usr/bin/env python3
"""Independent reference counts for the 15 cis-v7.0 controls over CloudTrail files.

usage: reference.py FILES0    (a file of NUL-separated paths of .json.gz files, as run.sh makes)

Prints {"5.1": N, ...} like the jq filter in run.sh. Written from the patterns' CloudWatch
semantics, not from cwfix's code: `=` and `!=` are false unless the property is a string
(missing, null, objects and arrays compare false both ways), `x*` / `*x` are prefix / suffix
matches, and `NOT EXISTS` is true only on a missing property.
"""

import gzip
import json
import sys


def s(v):
    return v if isinstance(v, str) else None


def is_(v, x):
    return s(v) is not None and v == x


def isnt(v, x):
    return s(v) is not None and v != x


def any_of(v, xs):
    return s(v) is not None and v in xs


SETS = {
    "5.4": {"DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
            "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
            "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy",
            "DetachGroupPolicy"},
    "5.5": {"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"},
    "5.7": {"DisableKey", "ScheduleKeyDeletion"},
    "5.8": {"PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle", "PutBucketReplication",
            "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketReplication"},
    "5.9": {"StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder"},
    "5.10": {"AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
             "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup", "ModifySecurityGroupRules"},
    "5.11": {"CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
             "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"},
    "5.12": {"CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway",
             "DeleteInternetGateway", "DetachInternetGateway"},
    "5.13": {"CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
             "DeleteRoute", "DisassociateRouteTable"},
    "5.14": {"CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
             "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
             "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink"},
    "5.15": {"AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit", "CreatePolicy",
             "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy",
             "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization", "LeaveOrganization",
             "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit"},
}


def controls(r):
    """The ids of the controls record `r` matches."""
    g = r.get
    err, name, src = g("errorCode"), g("eventName"), g("eventSource")
    ui = g("userIdentity") if isinstance(g("userIdentity"), dict) else None
    aed = g("additionalEventData") if isinstance(g("additionalEventData"), dict) else None
    out = []
    if (s(err) and err.endswith("UnauthorizedOperation")) or (
            s(err) and err.startswith("AccessDenied") and isnt(g("sourceIPAddress"), "delivery.logs.amazonaws.com")
            and isnt(name, "HeadBucket")):
        out.append("5.1")
    if is_(name, "ConsoleLogin") and aed is not None and isnt(aed.get("MFAUsed"), "Yes"):
        out.append("5.2")
    if ui is not None and is_(ui.get("type"), "Root") and "invokedBy" not in ui and isnt(g("eventType"), "AwsServiceEvent"):
        out.append("5.3")
    for k in ("5.4", "5.5", "5.10", "5.11", "5.12", "5.13", "5.14"):
        if any_of(name, SETS[k]):
            out.append(k)
    if is_(name, "ConsoleLogin") and is_(g("errorMessage"), "Failed authentication"):
        out.append("5.6")
    for k, source in (("5.7", "kms"), ("5.8", "s3"), ("5.9", "config"), ("5.15", "organizations")):
        if is_(src, source + ".amazonaws.com") and any_of(name, SETS[k]):
            out.append(k)
    return out


def main():
    paths = [p for p in open(sys.argv[1], "rb").read().split(b"\0") if p]
    counts = {}
    for p in paths:
        with gzip.open(p) as f:
            for r in json.load(f)["Records"]:
                for k in controls(r):
                    counts[k] = counts.get(k, 0) + 1
    json.dump(counts, sys.stdout)
    print()


if __name__ == "__main__":
    main()
