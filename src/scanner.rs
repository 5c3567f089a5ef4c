//! Scanner profiles: how Security Hub, Prowler, Steampipe and CloudSploit decide that a metric
//! filter pattern is "compliant" for one of the 15 CIS monitoring topics, as data plus a few
//! small matchers, and which pattern(s) to write so that a chosen set of scanners all pass.
//!
//! Pure: no I/O, no AWS, no async. Imports `baseline` (for [`classify`]) and `pattern` only.
//! The rules reproduce each tool's own acceptance logic on the *pattern text* (that is what the
//! tools do); they say nothing about whether the pattern is semantically right — that is
//! `pattern::covers`' job. Sources and the verified/inferred status of every rule are listed in
//! `docs/baselines.md` ("Scanner rules"):
//!
//! - **Security Hub** (CloudWatch.1–14): string comparison with its documented literal. Quotes,
//!   parentheses and extra terms are significant; whitespace is ignored (inferred from a passing
//!   Terraform module whose pattern differs from the literal only by spaces inside the braces —
//!   not documented). Security Hub has no control for AWS Organizations changes.
//! - **Prowler**: per-check regexes over the pattern text (`re.DOTALL`): most checks require every
//!   clause to be present in any order (`build_metric_filter_pattern`), value quotes optional;
//!   unauthorized API calls and root usage still use order-dependent sequential regexes. Route
//!   table changes also require `$.eventSource = ec2.amazonaws.com`; Organizations changes require
//!   21 event names (CIS lists 18).
//! - **Steampipe** (`conformance_pack/cloudwatch.pp`, one query shared by every CIS benchmark):
//!   one POSIX regex per topic, clauses in CIS order, mostly quote-strict (values quoted where CIS
//!   quotes them, unquoted where CIS does not); x.1 requires the CIS v2.0+ clauses; security
//!   group changes require `ModifySecurityGroupRules` (since CIS v5.0 support).
//! - **CloudSploit** (`monitoringMetrics.js`): equality with its own literal after removing all
//!   whitespace and lower-casing.
//!
//! [`Verdict`] serialises as `"pass"`, `{"fail": "<reason>"}` or `{"not_checked": "<reason>"}`
//! (the scanner has no check for that topic, e.g. Security Hub and AWS Organizations changes).

use crate::baseline::Control;
use crate::pattern::{self, Pattern};
use regex::Regex;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

// ---- scanners -------------------------------------------------------------------------------

/// A compliance scanner whose acceptance rule cwfix models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scanner {
    SecurityHub,
    Prowler,
    Steampipe,
    CloudSploit,
}

impl Scanner {
    pub const ALL: [Scanner; 4] = [Scanner::SecurityHub, Scanner::Prowler, Scanner::Steampipe, Scanner::CloudSploit];

    /// `securityhub`, `prowler`, `steampipe`, `cloudsploit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scanner::SecurityHub => "securityhub",
            Scanner::Prowler => "prowler",
            Scanner::Steampipe => "steampipe",
            Scanner::CloudSploit => "cloudsploit",
        }
    }

    /// The product name, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Scanner::SecurityHub => "Security Hub",
            Scanner::Prowler => "Prowler",
            Scanner::Steampipe => "Steampipe",
            Scanner::CloudSploit => "CloudSploit",
        }
    }
}

impl fmt::Display for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scanner {
    type Err = String;
    /// Accepts the lowercase names (any case; `security-hub`/`security_hub` too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "securityhub" => Ok(Scanner::SecurityHub),
            "prowler" => Ok(Scanner::Prowler),
            "steampipe" | "powerpipe" => Ok(Scanner::Steampipe),
            "cloudsploit" => Ok(Scanner::CloudSploit),
            _ => Err(format!("unknown scanner `{s}` (expected one of: securityhub, prowler, steampipe, cloudsploit)")),
        }
    }
}

impl Serialize for Scanner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// ---- topics ---------------------------------------------------------------------------------

/// The 15 CIS monitoring topics (CIS x.1–x.15; Security Hub CloudWatch.1–14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MonitoringTopic {
    UnauthorizedApiCalls,
    ConsoleSigninWithoutMfa,
    RootUsage,
    IamPolicyChanges,
    CloudTrailChanges,
    ConsoleAuthFailures,
    CmkDisableOrDelete,
    S3PolicyChanges,
    ConfigChanges,
    SecurityGroupChanges,
    NaclChanges,
    NetworkGatewayChanges,
    RouteTableChanges,
    VpcChanges,
    OrganizationsChanges,
}

use MonitoringTopic as T;

impl MonitoringTopic {
    /// In CIS order (x.1 … x.15).
    pub const ALL: [MonitoringTopic; 15] = [
        T::UnauthorizedApiCalls,
        T::ConsoleSigninWithoutMfa,
        T::RootUsage,
        T::IamPolicyChanges,
        T::CloudTrailChanges,
        T::ConsoleAuthFailures,
        T::CmkDisableOrDelete,
        T::S3PolicyChanges,
        T::ConfigChanges,
        T::SecurityGroupChanges,
        T::NaclChanges,
        T::NetworkGatewayChanges,
        T::RouteTableChanges,
        T::VpcChanges,
        T::OrganizationsChanges,
    ];

    /// snake_case name, e.g. `route_table_changes`.
    pub fn as_str(self) -> &'static str {
        match self {
            T::UnauthorizedApiCalls => "unauthorized_api_calls",
            T::ConsoleSigninWithoutMfa => "console_signin_without_mfa",
            T::RootUsage => "root_usage",
            T::IamPolicyChanges => "iam_policy_changes",
            T::CloudTrailChanges => "cloudtrail_changes",
            T::ConsoleAuthFailures => "console_auth_failures",
            T::CmkDisableOrDelete => "cmk_disable_or_delete",
            T::S3PolicyChanges => "s3_policy_changes",
            T::ConfigChanges => "config_changes",
            T::SecurityGroupChanges => "security_group_changes",
            T::NaclChanges => "nacl_changes",
            T::NetworkGatewayChanges => "network_gateway_changes",
            T::RouteTableChanges => "route_table_changes",
            T::VpcChanges => "vpc_changes",
            T::OrganizationsChanges => "organizations_changes",
        }
    }

    /// The CIS control number within the monitoring section (1–15).
    pub fn cis_number(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0) + 1
    }

    /// A short human title.
    pub fn title(self) -> &'static str {
        match self {
            T::UnauthorizedApiCalls => "Unauthorized API calls",
            T::ConsoleSigninWithoutMfa => "Management console sign-in without MFA",
            T::RootUsage => "Usage of the root account",
            T::IamPolicyChanges => "IAM policy changes",
            T::CloudTrailChanges => "CloudTrail configuration changes",
            T::ConsoleAuthFailures => "Management console authentication failures",
            T::CmkDisableOrDelete => "Disabling or scheduled deletion of customer managed keys",
            T::S3PolicyChanges => "S3 bucket policy changes",
            T::ConfigChanges => "AWS Config configuration changes",
            T::SecurityGroupChanges => "Security group changes",
            T::NaclChanges => "Network ACL changes",
            T::NetworkGatewayChanges => "Network gateway changes",
            T::RouteTableChanges => "Route table changes",
            T::VpcChanges => "VPC changes",
            T::OrganizationsChanges => "AWS Organizations changes",
        }
    }

    /// The Security Hub control id (`CloudWatch.N`), if Security Hub checks this topic.
    pub fn securityhub_control(self) -> Option<&'static str> {
        Some(match self {
            T::RootUsage => "CloudWatch.1",
            T::UnauthorizedApiCalls => "CloudWatch.2",
            T::ConsoleSigninWithoutMfa => "CloudWatch.3",
            T::IamPolicyChanges => "CloudWatch.4",
            T::CloudTrailChanges => "CloudWatch.5",
            T::ConsoleAuthFailures => "CloudWatch.6",
            T::CmkDisableOrDelete => "CloudWatch.7",
            T::S3PolicyChanges => "CloudWatch.8",
            T::ConfigChanges => "CloudWatch.9",
            T::SecurityGroupChanges => "CloudWatch.10",
            T::NaclChanges => "CloudWatch.11",
            T::NetworkGatewayChanges => "CloudWatch.12",
            T::RouteTableChanges => "CloudWatch.13",
            T::VpcChanges => "CloudWatch.14",
            T::OrganizationsChanges => return None,
        })
    }

    /// The Prowler check id.
    pub fn prowler_check(self) -> &'static str {
        match self {
            T::UnauthorizedApiCalls => "cloudwatch_log_metric_filter_unauthorized_api_calls",
            T::ConsoleSigninWithoutMfa => "cloudwatch_log_metric_filter_sign_in_without_mfa",
            T::RootUsage => "cloudwatch_log_metric_filter_root_usage",
            T::IamPolicyChanges => "cloudwatch_log_metric_filter_policy_changes",
            T::CloudTrailChanges => {
                "cloudwatch_log_metric_filter_and_alarm_for_cloudtrail_configuration_changes_enabled"
            }
            T::ConsoleAuthFailures => "cloudwatch_log_metric_filter_authentication_failures",
            T::CmkDisableOrDelete => "cloudwatch_log_metric_filter_disable_or_scheduled_deletion_of_kms_cmk",
            T::S3PolicyChanges => "cloudwatch_log_metric_filter_for_s3_bucket_policy_changes",
            T::ConfigChanges => "cloudwatch_log_metric_filter_and_alarm_for_aws_config_configuration_changes_enabled",
            T::SecurityGroupChanges => "cloudwatch_log_metric_filter_security_group_changes",
            T::NaclChanges => "cloudwatch_changes_to_network_acls_alarm_configured",
            T::NetworkGatewayChanges => "cloudwatch_changes_to_network_gateways_alarm_configured",
            T::RouteTableChanges => "cloudwatch_changes_to_network_route_tables_alarm_configured",
            T::VpcChanges => "cloudwatch_changes_to_vpcs_alarm_configured",
            T::OrganizationsChanges => "cloudwatch_log_metric_filter_aws_organizations_changes",
        }
    }

    /// The CIS v5.0–v7.0 pattern text (quotes intact), which Steampipe accepts.
    pub fn cis_pattern(self) -> &'static str {
        CIS_V7[self as usize]
    }
}

impl fmt::Display for MonitoringTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MonitoringTopic {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let k = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.iter().copied().find(|t| t.as_str() == k).ok_or_else(|| {
            format!("unknown monitoring topic `{s}` (expected one of: {})", Self::ALL.map(|t| t.as_str()).join(", "))
        })
    }
}

impl Serialize for MonitoringTopic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// ---- verdicts -------------------------------------------------------------------------------

/// What a scanner would say about one filter pattern for one topic (the pattern only: trail,
/// alarm and subscription requirements are outside this module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail {
        reason: String,
    },
    /// The scanner has no check for this topic (Security Hub and AWS Organizations changes).
    NotChecked {
        reason: String,
    },
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail { .. })
    }

    /// `pass`, `fail` or `not_checked`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail { .. } => "fail",
            Verdict::NotChecked { .. } => "not_checked",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail { reason } | Verdict::NotChecked { reason } => Some(reason),
        }
    }
}

impl Serialize for Verdict {
    /// `"pass"`, `{"fail": reason}`, `{"not_checked": reason}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Verdict::Pass => s.serialize_str("pass"),
            Verdict::Fail { reason } | Verdict::NotChecked { reason } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(self.label(), reason)?;
                m.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Verdict {
    /// The shape `Serialize` writes, so a saved plan reads back to the same value.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "pass" => Ok(Verdict::Pass),
            serde_json::Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one entry");
                let reason = v.as_str().ok_or_else(|| D::Error::custom("a verdict's reason is a string"))?.to_string();
                match k.as_str() {
                    "fail" => Ok(Verdict::Fail { reason }),
                    "not_checked" => Ok(Verdict::NotChecked { reason }),
                    _ => Err(D::Error::custom(format!("unknown verdict `{k}`"))),
                }
            }
            other => Err(D::Error::custom(format!("not a scanner verdict: {other}"))),
        }
    }
}

// ---- data: literals -------------------------------------------------------------------------

/// CIS v5.0.0–v7.0.0 texts (Steampipe `cis_v500`/`cis_v600` docs, quotes intact; v6.0's 5.15
/// missing quote corrected), indexed by `MonitoringTopic as usize`.
const CIS_V7: [&str; 15] = [
    r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") && ($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }"#,
    r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }"#,
    r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
    r#"{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=DetachRolePolicy)||($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||($.eventName=DetachGroupPolicy)}"#,
    r#"{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging) }"#,
    r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#,
    r#"{($.eventSource = kms.amazonaws.com) && (($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion)) }"#,
    r#"{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || ($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }"#,
    r#"{ ($.eventSource = config.amazonaws.com) && (($.eventName=StopConfigurationRecorder)||($.eventName=DeleteDeliveryChannel)||($.eventName=PutDeliveryChannel)||($.eventName=PutConfigurationRecorder)) }"#,
    r#"{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) || ($.eventName = ModifySecurityGroupRules) }"#,
    r#"{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }"#,
    r#"{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || ($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }"#,
    r#"{ ($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable) }"#,
    r#"{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || ($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || ($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }"#,
    r#"{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || ($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || ($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || ($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || ($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || ($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || ($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || ($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }"#,
];

/// Security Hub CloudWatch.1–14 literals, byte for byte (awsdocs/aws-security-hub-user-guide
/// `doc_source/cloudwatch-controls.md` @ bda5bf7), indexed by topic; `None` = no control.
const SECURITY_HUB: [Option<&str>; 15] = [
    Some(r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#),
    Some(
        r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
    ),
    Some(r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#),
    Some(
        r#"{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}"#,
    ),
    Some(
        r#"{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}"#,
    ),
    Some(r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#),
    Some(r#"{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"#),
    Some(
        r#"{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}"#,
    ),
    Some(
        r#"{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}"#,
    ),
    Some(
        r#"{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}"#,
    ),
    Some(
        r#"{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}"#,
    ),
    Some(
        r#"{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}"#,
    ),
    Some(
        r#"{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}"#,
    ),
    Some(
        r#"{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}"#,
    ),
    None,
];

/// CloudSploit `monitoringMetrics.js` literals (the revision the reference's acceptance matrix
/// was run against: the 14 "important metrics" plus an unquoted 18-event Organizations filter).
const CLOUDSPLOIT: [&str; 15] = [
    r#"{ ($.errorCode = *UnauthorizedOperation) || ($.errorCode = AccessDenied*) }"#,
    r#"{ ($.eventName = ConsoleLogin) && ($.additionalEventData.MFAUsed != Yes) }"#,
    r#"{ $.userIdentity.type = Root && $.userIdentity.invokedBy NOT EXISTS && $.eventType != AwsServiceEvent }"#,
    r#"{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)||($.eventName=DeleteUserPolicy)||($.eventName=PutGroupPolicy)||($.eventName=PutRolePolicy)||($.eventName=PutUserPolicy)||($.eventName=CreatePolicy)||($.eventName=DeletePolicy)||($.eventName=CreatePolicyVersion)||($.eventName=DeletePolicyVersion)||($.eventName=AttachRolePolicy)||($.eventName=DetachRolePolicy)||($.eventName=AttachUserPolicy)||($.eventName=DetachUserPolicy)||($.eventName=AttachGroupPolicy)||($.eventName=DetachGroupPolicy)}"#,
    r#"{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) || ($.eventName = StopLogging) }"#,
    r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#,
    r#"{($.eventSource = kms.amazonaws.com) && (($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion)) }"#,
    r#"{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || ($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || ($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || ($.eventName = DeleteBucketReplication)) }"#,
    r#"{($.eventSource = config.amazonaws.com) && (($.eventName=StopConfigurationRecorder)||($.eventName=DeleteDeliveryChannel)||($.eventName=PutDeliveryChannel)||($.eventName=PutConfigurationRecorder))}"#,
    r#"{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup)}"#,
    r#"{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || ($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || ($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }"#,
    r#"{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || ($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || ($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }"#,
    r#"{ ($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable) }"#,
    r#"{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || ($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || ($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || ($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || ($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }"#,
    r#"{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = AcceptHandshake) || ($.eventName = AttachPolicy) || ($.eventName = CreateAccount) || ($.eventName = CreateOrganizationalUnit) || ($.eventName = CreatePolicy) || ($.eventName = DeclineHandshake) || ($.eventName = DeleteOrganization) || ($.eventName = DeleteOrganizationalUnit) || ($.eventName = DeletePolicy) || ($.eventName = DetachPolicy) || ($.eventName = DisablePolicyType) || ($.eventName = EnablePolicyType) || ($.eventName = InviteAccountToOrganization) || ($.eventName = LeaveOrganization) || ($.eventName = MoveAccount) || ($.eventName = RemoveAccountFromOrganization) || ($.eventName = UpdatePolicy) || ($.eventName = UpdateOrganizationalUnit)) }"#,
];

/// A pattern Prowler accepts for each topic where the CIS text does not suffice.
const PROWLER_ROUTE_TABLE: &str = r#"{ ($.eventSource = ec2.amazonaws.com) && (($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable)) }"#;
/// CIS's 18 Organizations events in CIS order, then Prowler's three extra ones: passes Prowler
/// and Steampipe and covers the CIS filter.
const PROWLER_ORGANIZATIONS: &str = r#"{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || ($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || ($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || ($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || ($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || ($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || ($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || ($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit") || ($.eventName = "CancelHandshake") || ($.eventName = "CreateOrganization") || ($.eventName = "EnableAllFeatures")) }"#;

const IAM_EVENTS: &[&str] = &[
    "DeleteGroupPolicy",
    "DeleteRolePolicy",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "CreatePolicy",
    "DeletePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
];
const TRAIL_EVENTS: &[&str] = &["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"];
const CMK_EVENTS: &[&str] = &["DisableKey", "ScheduleKeyDeletion"];
const S3_EVENTS: &[&str] = &[
    "PutBucketAcl",
    "PutBucketPolicy",
    "PutBucketCors",
    "PutBucketLifecycle",
    "PutBucketReplication",
    "DeleteBucketPolicy",
    "DeleteBucketCors",
    "DeleteBucketLifecycle",
    "DeleteBucketReplication",
];
const CONFIG_EVENTS: &[&str] =
    &["StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder"];
const SG_EVENTS: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
];
const SG_EVENTS_V5: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "ModifySecurityGroupRules",
];
const NACL_EVENTS: &[&str] = &[
    "CreateNetworkAcl",
    "CreateNetworkAclEntry",
    "DeleteNetworkAcl",
    "DeleteNetworkAclEntry",
    "ReplaceNetworkAclEntry",
    "ReplaceNetworkAclAssociation",
];
const GW_EVENTS: &[&str] = &[
    "CreateCustomerGateway",
    "DeleteCustomerGateway",
    "AttachInternetGateway",
    "CreateInternetGateway",
    "DeleteInternetGateway",
    "DetachInternetGateway",
];
const RT_EVENTS: &[&str] = &[
    "CreateRoute",
    "CreateRouteTable",
    "ReplaceRoute",
    "ReplaceRouteTableAssociation",
    "DeleteRouteTable",
    "DeleteRoute",
    "DisassociateRouteTable",
];
const VPC_EVENTS: &[&str] = &[
    "CreateVpc",
    "DeleteVpc",
    "ModifyVpcAttribute",
    "AcceptVpcPeeringConnection",
    "CreateVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "AttachClassicLinkVpc",
    "DetachClassicLinkVpc",
    "DisableVpcClassicLink",
    "EnableVpcClassicLink",
];
/// CIS 4.15/5.15, in CIS order.
const ORG_EVENTS_CIS: &[&str] = &[
    "AcceptHandshake",
    "AttachPolicy",
    "CreateAccount",
    "CreateOrganizationalUnit",
    "CreatePolicy",
    "DeclineHandshake",
    "DeleteOrganization",
    "DeleteOrganizationalUnit",
    "DeletePolicy",
    "DetachPolicy",
    "DisablePolicyType",
    "EnablePolicyType",
    "InviteAccountToOrganization",
    "LeaveOrganization",
    "MoveAccount",
    "RemoveAccountFromOrganization",
    "UpdatePolicy",
    "UpdateOrganizationalUnit",
];
/// Prowler's `cloudwatch_log_metric_filter_aws_organizations_changes`: CIS's 18 plus
/// CancelHandshake, CreateOrganization, EnableAllFeatures.
const ORG_EVENTS_PROWLER: &[&str] = &[
    "AcceptHandshake",
    "AttachPolicy",
    "CancelHandshake",
    "CreateAccount",
    "CreateOrganization",
    "CreateOrganizationalUnit",
    "CreatePolicy",
    "DeclineHandshake",
    "DeleteOrganization",
    "DeleteOrganizationalUnit",
    "DeletePolicy",
    "EnableAllFeatures",
    "EnablePolicyType",
    "InviteAccountToOrganization",
    "LeaveOrganization",
    "DetachPolicy",
    "DisablePolicyType",
    "MoveAccount",
    "RemoveAccountFromOrganization",
    "UpdateOrganizationalUnit",
    "UpdatePolicy",
];

// ---- rules ----------------------------------------------------------------------------------

/// One required piece of text: a regex and how to say it to a human.
struct Clause {
    re: Regex,
    human: String,
}

/// `re` compiled, once per process: rules and their partial sequences are asked for again and
/// again (every account, region, before/after state), and compiling dominated `plan --org`.
fn compiled(re: &str) -> Option<Regex> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Option<Regex>>>> =
        std::sync::OnceLock::new();
    let mut m = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    m.entry(re.to_string()).or_insert_with(|| Regex::new(re).ok()).clone()
}

fn clause(re: &str, human: impl Into<String>) -> Clause {
    // (?s): Python's re.DOTALL (Prowler) and PostgreSQL's default (`.` matches a newline).
    Clause { re: compiled(&format!("(?s){re}")).expect("scanner rule regex"), human: human.into() }
}

enum Rule {
    /// Every clause somewhere, any order (Prowler `build_metric_filter_pattern`).
    AllOf(Vec<Clause>),
    /// The clauses in this order, separated by anything (`A.+B.+C`: Steampipe; Prowler x.1/x.3).
    Sequence(Vec<Clause>),
    /// Equality after removing whitespace (and lower-casing when `fold_case`).
    Literal {
        text: &'static str,
        fold_case: bool,
    },
    None {
        reason: &'static str,
    },
}

fn prowler_name(n: &str) -> Clause {
    clause(&format!(r"\$\.eventName\s*=\s*.?{}\b", regex::escape(n)), format!("$.eventName = {n}"))
}

fn prowler_source(s: &str) -> Clause {
    clause(&format!(r"\$\.eventSource\s*=\s*.?{}", regex::escape(s)), format!("$.eventSource = {s}"))
}

fn prowler_extra(field: &str, op: &str, value: &str) -> Clause {
    let op_re = if op == "!=" { r"\s*!=\s*" } else { r"\s*=\s*" };
    clause(
        &format!(r"\$\.{}{op_re}.?{}", regex::escape(field), regex::escape(value)),
        format!("$.{field} {op} {value}"),
    )
}

fn prowler_rule(t: MonitoringTopic) -> Rule {
    let names = |src: Option<&str>, names: &[&str]| {
        let mut v: Vec<Clause> = src.map(prowler_source).into_iter().collect();
        v.extend(names.iter().map(|n| prowler_name(n)));
        Rule::AllOf(v)
    };
    match t {
        // Sequential, order-dependent regexes (not migrated to the clause builder).
        T::UnauthorizedApiCalls => Rule::Sequence(vec![
            clause(r"\$\.errorCode\s*=\s*.?\*UnauthorizedOperation", "$.errorCode = \"*UnauthorizedOperation\""),
            clause(r"\$\.errorCode\s*=\s*.?AccessDenied\*.?", "$.errorCode = \"AccessDenied*\""),
        ]),
        T::RootUsage => Rule::Sequence(vec![
            clause(r"\$\.userIdentity\.type\s*=\s*.?Root", "$.userIdentity.type = \"Root\""),
            clause(r"\$\.userIdentity\.invokedBy NOT EXISTS", "$.userIdentity.invokedBy NOT EXISTS"),
            clause(r"\$\.eventType\s*!=\s*.?AwsServiceEvent.?", "$.eventType != \"AwsServiceEvent\""),
        ]),
        T::ConsoleSigninWithoutMfa => {
            Rule::AllOf(vec![prowler_name("ConsoleLogin"), prowler_extra("additionalEventData.MFAUsed", "!=", "Yes")])
        }
        T::ConsoleAuthFailures => {
            Rule::AllOf(vec![prowler_name("ConsoleLogin"), prowler_extra("errorMessage", "=", "Failed authentication")])
        }
        T::IamPolicyChanges => names(None, IAM_EVENTS),
        T::CloudTrailChanges => names(None, TRAIL_EVENTS),
        T::CmkDisableOrDelete => names(Some("kms.amazonaws.com"), CMK_EVENTS),
        T::S3PolicyChanges => names(Some("s3.amazonaws.com"), S3_EVENTS),
        T::ConfigChanges => names(Some("config.amazonaws.com"), CONFIG_EVENTS),
        T::SecurityGroupChanges => names(None, SG_EVENTS),
        T::NaclChanges => names(None, NACL_EVENTS),
        T::NetworkGatewayChanges => names(None, GW_EVENTS),
        T::RouteTableChanges => names(Some("ec2.amazonaws.com"), RT_EVENTS),
        T::VpcChanges => names(None, VPC_EVENTS),
        T::OrganizationsChanges => names(Some("organizations.amazonaws.com"), ORG_EVENTS_PROWLER),
    }
}

fn sp_name(n: &str) -> Clause {
    clause(&format!(r"\$\.eventName\s*=\s*{n}"), format!("$.eventName = {n} (unquoted)"))
}

fn sp_source(s: &str) -> Clause {
    // Steampipe leaves the dots unescaped; kept as written.
    clause(&format!(r"\$\.eventSource\s*=\s*{s}"), format!("$.eventSource = {s} (unquoted)"))
}

fn steampipe_rule(t: MonitoringTopic) -> Rule {
    let names = |src: Option<&str>, names: &[&str]| {
        let mut v: Vec<Clause> = src.map(sp_source).into_iter().collect();
        v.extend(names.iter().map(|n| sp_name(n)));
        Rule::Sequence(v)
    };
    match t {
        T::UnauthorizedApiCalls => Rule::Sequence(vec![
            clause(
                r#"\$\.errorCode\s*=\s*"\*UnauthorizedOperation""#,
                r#"$.errorCode = "*UnauthorizedOperation" (quoted)"#,
            ),
            clause(r#"\$\.errorCode\s*=\s*"AccessDenied\*""#, r#"$.errorCode = "AccessDenied*" (quoted)"#),
            clause(
                r#"\$\.sourceIPAddress\s*!=\s*"delivery.logs.amazonaws.com""#,
                r#"$.sourceIPAddress != "delivery.logs.amazonaws.com" (quoted; CIS v2.0+)"#,
            ),
            clause(r#"\$\.eventName\s*!=\s*"HeadBucket""#, r#"$.eventName != "HeadBucket" (quoted; CIS v2.0+)"#),
        ]),
        T::ConsoleSigninWithoutMfa => Rule::Sequence(vec![clause(
            r#"\(\s*\$\.eventName\s*=\s*"ConsoleLogin"\)\s+&&\s+\(\s*\$.additionalEventData\.MFAUsed\s*!=\s*"Yes""#,
            r#"($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") (quoted, spaces around &&)"#,
        )]),
        T::RootUsage => Rule::Sequence(vec![
            clause(r#"\$\.userIdentity\.type\s*=\s*"Root""#, r#"$.userIdentity.type = "Root" (quoted)"#),
            clause(r"\$\.userIdentity\.invokedBy NOT EXISTS", "$.userIdentity.invokedBy NOT EXISTS"),
            clause(r#"\$\.eventType\s*!=\s*"AwsServiceEvent""#, r#"$.eventType != "AwsServiceEvent" (quoted)"#),
        ]),
        T::IamPolicyChanges => names(None, IAM_EVENTS),
        T::CloudTrailChanges => names(None, TRAIL_EVENTS),
        T::ConsoleAuthFailures => Rule::Sequence(vec![
            sp_name("ConsoleLogin"),
            clause(r#"\$\.errorMessage\s*=\s*"Failed authentication""#, r#"$.errorMessage = "Failed authentication""#),
        ]),
        T::CmkDisableOrDelete => names(Some("kms.amazonaws.com"), CMK_EVENTS),
        T::S3PolicyChanges => names(Some("s3.amazonaws.com"), S3_EVENTS),
        T::ConfigChanges => names(Some("config.amazonaws.com"), CONFIG_EVENTS),
        T::SecurityGroupChanges => names(None, SG_EVENTS_V5),
        T::NaclChanges => names(None, NACL_EVENTS),
        T::NetworkGatewayChanges => names(None, GW_EVENTS),
        T::RouteTableChanges => names(None, RT_EVENTS),
        T::VpcChanges => names(None, VPC_EVENTS),
        T::OrganizationsChanges => {
            let mut v = vec![sp_source("organizations.amazonaws.com")];
            v.extend(
                ORG_EVENTS_CIS
                    .iter()
                    .map(|n| clause(&format!(r#"\$\.eventName\s*=\s*"?{n}"?"#), format!("$.eventName = {n}"))),
            );
            Rule::Sequence(v)
        }
    }
}

fn rule(s: Scanner, t: MonitoringTopic) -> Rule {
    match s {
        Scanner::SecurityHub => match SECURITY_HUB[t as usize] {
            Some(text) => Rule::Literal { text, fold_case: false },
            None => Rule::None { reason: "Security Hub has no control for AWS Organizations changes (CIS 4.15/5.15)" },
        },
        Scanner::CloudSploit => Rule::Literal { text: CLOUDSPLOIT[t as usize], fold_case: true },
        Scanner::Prowler => prowler_rule(t),
        Scanner::Steampipe => steampipe_rule(t),
    }
}

/// Compiled rules, built once.
fn rules() -> &'static BTreeMap<(Scanner, MonitoringTopic), Rule> {
    static RULES: OnceLock<BTreeMap<(Scanner, MonitoringTopic), Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut m = BTreeMap::new();
        for s in Scanner::ALL {
            for t in MonitoringTopic::ALL {
                m.insert((s, t), rule(s, t));
            }
        }
        m
    })
}

fn squash(s: &str, fold_case: bool) -> String {
    let v: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if fold_case {
        v.to_lowercase()
    } else {
        v
    }
}

/// Does this scanner check this topic at all?
pub fn evaluates(scanner: Scanner, topic: MonitoringTopic) -> bool {
    !matches!(rules()[&(scanner, topic)], Rule::None { .. })
}

/// The literal a string-comparing scanner (Security Hub, CloudSploit) wants for a topic.
pub fn literal(scanner: Scanner, topic: MonitoringTopic) -> Option<&'static str> {
    match rules()[&(scanner, topic)] {
        Rule::Literal { text, .. } => Some(text),
        _ => None,
    }
}

/// A pattern this scanner accepts for the topic (its literal, or a CIS text its rule accepts).
pub fn accepted_pattern(scanner: Scanner, topic: MonitoringTopic) -> Option<&'static str> {
    match scanner {
        Scanner::SecurityHub | Scanner::CloudSploit => literal(scanner, topic),
        Scanner::Steampipe => Some(topic.cis_pattern()),
        Scanner::Prowler => Some(match topic {
            T::RouteTableChanges => PROWLER_ROUTE_TABLE,
            T::OrganizationsChanges => PROWLER_ORGANIZATIONS,
            _ => topic.cis_pattern(),
        }),
    }
}

/// What `scanner` would decide for a metric filter with this pattern, for this topic.
pub fn verdict(scanner: Scanner, topic: MonitoringTopic, filter_pattern: &str) -> Verdict {
    // A pure function of its three inputs, asked again for every account, region and
    // before/after state with the same patterns (an organization's filters come from the same
    // code): each answer is worked out once per process.
    // Keyed by (scanner, topic) first so that a lookup borrows the pattern instead of
    // allocating a key for every question.
    type Memo = std::collections::HashMap<(Scanner, MonitoringTopic), std::collections::HashMap<String, Verdict>>;
    static MEMO: std::sync::OnceLock<std::sync::Mutex<Memo>> = std::sync::OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(v) =
        memo.lock().unwrap_or_else(|e| e.into_inner()).get(&(scanner, topic)).and_then(|m| m.get(filter_pattern))
    {
        return v.clone();
    }
    let v = judge(scanner, topic, filter_pattern);
    memo.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((scanner, topic))
        .or_default()
        .insert(filter_pattern.to_string(), v.clone());
    v
}

fn judge(scanner: Scanner, topic: MonitoringTopic, filter_pattern: &str) -> Verdict {
    match &rules()[&(scanner, topic)] {
        Rule::None { reason } => Verdict::NotChecked { reason: (*reason).to_string() },
        Rule::Literal { text, fold_case } => literal_verdict(scanner, topic, text, *fold_case, filter_pattern),
        Rule::AllOf(clauses) => all_of_verdict(scanner, topic, clauses, filter_pattern),
        Rule::Sequence(clauses) => sequence_verdict(scanner, topic, clauses, filter_pattern),
    }
}

/// Equality with the scanner's literal (whitespace aside, and case for CloudSploit). A failing
/// pattern that means the same says so, since that is the surprise users hit.
fn literal_verdict(
    scanner: Scanner,
    topic: MonitoringTopic,
    text: &str,
    fold_case: bool,
    filter_pattern: &str,
) -> Verdict {
    if squash(filter_pattern, fold_case) == squash(text, fold_case) {
        return Verdict::Pass;
    }
    let how = match scanner {
        Scanner::SecurityHub => format!(
            "Security Hub ({}) compares the pattern with its literal as a string (quotes, parentheses and terms must be identical; only whitespace may differ)",
            topic.securityhub_control().unwrap_or("?")
        ),
        _ => format!(
            "{} compares the pattern with its own literal after removing whitespace and lower-casing",
            scanner.display_name()
        ),
    };
    let semantic = match (pattern::parse(filter_pattern), pattern::parse(text)) {
        (Ok(a), Ok(b)) if pattern::equivalent(&a, &b).is_equivalent() => {
            " (this pattern is semantically equivalent, but not the same string)"
        }
        _ => "",
    };
    Verdict::Fail { reason: format!("{how}; it expects `{text}`{semantic}") }
}

/// Every clause somewhere in the pattern; a failure lists the missing ones.
fn all_of_verdict(scanner: Scanner, topic: MonitoringTopic, clauses: &[Clause], filter_pattern: &str) -> Verdict {
    let missing: Vec<&str> =
        clauses.iter().filter(|c| !c.re.is_match(filter_pattern)).map(|c| c.human.as_str()).collect();
    if missing.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail {
            reason: format!(
                "{} ({}) requires these clauses, which the pattern lacks: {}",
                scanner.display_name(),
                topic.prowler_check(),
                missing.join("; ")
            ),
        }
    }
}

/// The clauses in order, anything between them (`A.+B.+C`); a failure names the first clause
/// that cannot follow the ones before it.
fn sequence_verdict(scanner: Scanner, topic: MonitoringTopic, clauses: &[Clause], filter_pattern: &str) -> Verdict {
    let joined = clauses.iter().map(bare_regex).collect::<Vec<_>>().join(".+");
    if matches_dotall(&joined, filter_pattern) {
        return Verdict::Pass;
    }
    let culprit = first_out_of_sequence(clauses, filter_pattern);
    let whose = match scanner {
        Scanner::Steampipe => "Steampipe's regex (conformance_pack/cloudwatch.pp)".to_string(),
        _ => format!("{}'s regex ({})", scanner.display_name(), topic.prowler_check()),
    };
    let all = clauses.iter().map(|c| c.human.as_str()).collect::<Vec<_>>().join(", then ");
    Verdict::Fail {
        reason: format!("{whose} requires, in this order: {all}; the pattern has no `{culprit}` where expected"),
    }
}

/// The first clause that cannot be matched after the previous ones (the last clause if each
/// prefix matches, which the whole sequence did not).
fn first_out_of_sequence(clauses: &[Clause], filter_pattern: &str) -> String {
    let mut prefix = String::new();
    for c in clauses {
        let candidate =
            if prefix.is_empty() { bare_regex(c).to_string() } else { format!("{prefix}.+{}", bare_regex(c)) };
        if !matches_dotall(&candidate, filter_pattern) {
            return c.human.clone();
        }
        prefix = candidate;
    }
    clauses.last().map(|c| c.human.clone()).unwrap_or_default()
}

/// A clause's regex without the `(?s)` flag [`clause`] adds, for joining clauses into one.
fn bare_regex(c: &Clause) -> &str {
    c.re.as_str().trim_start_matches("(?s)")
}

/// Whether `re`, compiled with `(?s)`, matches `text` (an invalid regex matches nothing).
fn matches_dotall(re: &str, text: &str) -> bool {
    compiled(&format!("(?s){re}")).map(|r| r.is_match(text)).unwrap_or(false)
}

/// The verdict of every scanner.
pub fn verdicts(topic: MonitoringTopic, filter_pattern: &str) -> BTreeMap<Scanner, Verdict> {
    Scanner::ALL.iter().map(|s| (*s, verdict(*s, topic, filter_pattern))).collect()
}

// ---- classification -------------------------------------------------------------------------

/// Which monitoring topic a baseline control is about: from `scanner_ids.securityhub`
/// (`CloudWatch.N`), then `scanner_ids.prowler`, then the metric name, then title keywords.
/// `None` for controls outside the 15 topics (e.g. CloudGuard's SSM actions).
pub fn classify(control: &Control) -> Option<MonitoringTopic> {
    if let Some(sh) = control.scanner_ids.get("securityhub") {
        if let Some(t) = MonitoringTopic::ALL.iter().find(|t| t.securityhub_control() == Some(sh.trim())) {
            return Some(*t);
        }
    }
    if let Some(p) = control.scanner_ids.get("prowler") {
        if let Some(t) = MonitoringTopic::ALL.iter().find(|t| t.prowler_check() == p.trim()) {
            return Some(*t);
        }
    }
    classify_metric_name(&control.metric_name).or_else(|| classify_title(&control.title))
}

fn classify_metric_name(name: &str) -> Option<MonitoringTopic> {
    // cwfix/CIS names, plus those of ASR, nozaq/terraform-aws-secure-baseline and
    // terraform-aws-modules/cloudwatch cis-alarms.
    let n = name.to_ascii_lowercase();
    let table: &[(&[&str], MonitoringTopic)] = &[
        (&["unauthorizedapicalls"], T::UnauthorizedApiCalls),
        (&["consolesigninwithoutmfa", "nomfaconsolesignin"], T::ConsoleSigninWithoutMfa),
        (&["rootaccountusage", "rootusage"], T::RootUsage),
        (&["iampolicychanges", "iamchanges"], T::IamPolicyChanges),
        (&["cloudtrailconfigchanges", "cloudtrailcfgchanges", "cloudtrailchanges"], T::CloudTrailChanges),
        (&["consolesigninfailures", "consoleauthenticationfailure"], T::ConsoleAuthFailures),
        (&["disableordeletecmk"], T::CmkDisableOrDelete),
        (&["s3bucketpolicychanges"], T::S3PolicyChanges),
        (&["awsconfigchanges"], T::ConfigChanges),
        (&["securitygroupchanges"], T::SecurityGroupChanges),
        (&["naclchanges", "networkaclchanges"], T::NaclChanges),
        (&["networkgatewaychanges", "networkgwchanges"], T::NetworkGatewayChanges),
        (&["routetablechanges"], T::RouteTableChanges),
        (&["vpcchanges"], T::VpcChanges),
        (&["organizationschanges", "awsorganizationschanges"], T::OrganizationsChanges),
    ];
    table.iter().find(|(names, _)| names.iter().any(|x| n.ends_with(x))).map(|(_, t)| *t)
}

fn classify_title(title: &str) -> Option<MonitoringTopic> {
    let t = title.to_ascii_lowercase();
    let has = |k: &str| t.contains(k);
    Some(if has("unauthorized api") || has("unauthorised api") {
        T::UnauthorizedApiCalls
    } else if has("without mfa") {
        T::ConsoleSigninWithoutMfa
    } else if has("authentication fail")
        || has("sign-in fail")
        || has("sign in fail")
        || has("signin fail")
        || has("login fail")
    {
        T::ConsoleAuthFailures
    } else if has("root") {
        T::RootUsage
    } else if has("iam") && has("polic") {
        T::IamPolicyChanges
    } else if has("cloudtrail") {
        T::CloudTrailChanges
    } else if has("cmk") || has("customer managed key") || has("customer created") || has("kms") {
        T::CmkDisableOrDelete
    } else if has("s3") || has("bucket polic") {
        T::S3PolicyChanges
    } else if has("config") {
        T::ConfigChanges
    } else if has("security group") {
        T::SecurityGroupChanges
    } else if has("nacl") || has("network acl") || has("access control list") {
        T::NaclChanges
    } else if has("gateway") {
        T::NetworkGatewayChanges
    } else if has("route table") {
        T::RouteTableChanges
    } else if has("vpc") {
        T::VpcChanges
    } else if has("organizations") {
        T::OrganizationsChanges
    } else {
        return None;
    })
}

// ---- --satisfy ------------------------------------------------------------------------------

fn why_scanner_needs(s: Scanner, t: MonitoringTopic) -> String {
    match (s, t) {
        (Scanner::SecurityHub, _) => format!(
            "Security Hub {} compares the exact documented string, so its literal is written byte for byte",
            t.securityhub_control().unwrap_or("")
        ),
        (Scanner::Prowler, T::RouteTableChanges) => {
            "Prowler also requires `$.eventSource = ec2.amazonaws.com`, which no CIS version has".to_string()
        }
        (Scanner::Prowler, T::OrganizationsChanges) => {
            "Prowler requires 21 Organizations event names (CIS's 18 plus CancelHandshake, CreateOrganization, EnableAllFeatures)".to_string()
        }
        (Scanner::Prowler, _) => format!("Prowler's {} regex requires these clauses", t.prowler_check()),
        (Scanner::Steampipe, T::UnauthorizedApiCalls) => {
            "Steampipe requires the CIS v2.0+ clauses (quoted, with the delivery.logs and HeadBucket exclusions)".to_string()
        }
        (Scanner::Steampipe, T::SecurityGroupChanges) => "Steampipe requires ModifySecurityGroupRules (CIS v5.0+)".to_string(),
        (Scanner::Steampipe, _) => "Steampipe's regex requires the CIS clauses in CIS order and quoting".to_string(),
        (Scanner::CloudSploit, _) => "CloudSploit compares its own literal (whitespace and case aside)".to_string(),
    }
}

/// The pattern(s) to write for `topic` so that every scanner in `scanners` passes on at least one
/// of them and at least one of them covers `baseline_pattern` (checked with [`pattern::covers`]),
/// with the reason each exists. Scanners with no check for the topic are skipped (and said so).
/// Prefers the fewest filters, then the baseline's own text, then a scanner-accepted text that
/// covers the baseline (e.g. Prowler's 21-event Organizations filter replaces CIS's 18).
pub fn satisfying_patterns(
    topic: MonitoringTopic,
    scanners: &[Scanner],
    baseline_pattern: &Pattern,
) -> Result<Vec<(String, String)>, String> {
    let mut named: Vec<Scanner> = scanners.to_vec();
    named.sort();
    named.dedup();
    let skipped: Vec<Scanner> = named.iter().copied().filter(|s| !evaluates(*s, topic)).collect();
    named.retain(|s| evaluates(*s, topic));

    let cands = candidates(topic, &named, baseline_pattern);
    match smallest_satisfying_set(&cands, &named) {
        Some(chosen) => Ok(explain(topic, &cands, &chosen, &skipped)),
        None => Err(unsatisfiable(topic, &named, baseline_pattern)),
    }
}

/// A pattern that may be written: whether it covers the baseline, and which scanners pass it.
struct Candidate {
    text: String,
    covers: bool,
    passes: Vec<Scanner>,
}

/// The baseline text first (index 0), then each named scanner's accepted pattern, each once;
/// texts that do not parse are left out.
fn candidates(topic: MonitoringTopic, named: &[Scanner], baseline_pattern: &Pattern) -> Vec<Candidate> {
    let mut texts: Vec<String> = vec![baseline_pattern.source().to_string()];
    for s in named {
        if let Some(p) = accepted_pattern(*s, topic) {
            if !texts.iter().any(|t| t == p) {
                texts.push(p.to_string());
            }
        }
    }
    texts
        .into_iter()
        .filter_map(|text| {
            let p = pattern::parse(&text).ok()?;
            let covers = pattern::covers(&p, baseline_pattern).is_covered();
            let passes = named.iter().copied().filter(|s| verdict(*s, topic, &text).is_pass()).collect();
            Some(Candidate { text, covers, passes })
        })
        .collect()
}

/// Indices of the smallest set of candidates of which one covers the baseline and every named
/// scanner passes one; among sets of a size, the first in lexicographic order of index (so the
/// baseline's own text wins when it can).
fn smallest_satisfying_set(cands: &[Candidate], named: &[Scanner]) -> Option<Vec<usize>> {
    let n = cands.len();
    // One filter per scanner plus one that covers is always enough, if anything is.
    for k in 1..=n.min(named.len() + 1) {
        let mut idx: Vec<usize> = (0..k).collect();
        loop {
            let covers = idx.iter().any(|i| cands[*i].covers);
            let all = named.iter().all(|s| idx.iter().any(|i| cands[*i].passes.contains(s)));
            if covers && all {
                return Some(idx);
            }
            if !next_combination(&mut idx, n) {
                break;
            }
        }
    }
    None
}

/// Advances `idx` (k increasing indices below `n`) to the next k-subset in lexicographic
/// order; `false` after the last.
fn next_combination(idx: &mut [usize], n: usize) -> bool {
    let k = idx.len();
    let mut i = k;
    while i > 0 && idx[i - 1] == n - k + i - 1 {
        i -= 1;
    }
    if i == 0 {
        return false;
    }
    idx[i - 1] += 1;
    for j in i..k {
        idx[j] = idx[j - 1] + 1;
    }
    true
}

/// Each chosen text with why it is there: what it is to the baseline, which scanners pass it,
/// what each scanner it is the first to satisfy requires, and (on the first) who does not check.
fn explain(
    topic: MonitoringTopic,
    cands: &[Candidate],
    chosen: &[usize],
    skipped: &[Scanner],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut satisfied: Vec<Scanner> = Vec::new();
    for (pos, i) in chosen.iter().enumerate() {
        let c = &cands[*i];
        let mut why = vec![role(*i, c).to_string()];
        let newly: Vec<Scanner> = c.passes.iter().copied().filter(|s| !satisfied.contains(s)).collect();
        if !c.passes.is_empty() {
            why.push(format!("passes {}", scanner_list(&c.passes)));
        }
        if *i != 0 {
            for s in &newly {
                why.push(why_scanner_needs(*s, topic));
            }
        }
        satisfied.extend(newly);
        if pos == 0 && !skipped.is_empty() {
            why.push(format!("not checked by {}", scanner_list(skipped)));
        }
        out.push((c.text.clone(), why.join("; ")));
    }
    out
}

/// What candidate `i` is to the baseline.
fn role(i: usize, c: &Candidate) -> &'static str {
    if i == 0 {
        "the baseline's own pattern"
    } else if c.covers {
        "covers the baseline pattern (it matches every event the baseline matches)"
    } else {
        "extra filter: it does not provably cover the baseline, which another filter of this set does"
    }
}

/// Why no set of filters works, with each named scanner's verdict on the baseline.
fn unsatisfiable(topic: MonitoringTopic, named: &[Scanner], baseline_pattern: &Pattern) -> String {
    let detail = named
        .iter()
        .map(|s| {
            let v = verdict(*s, topic, baseline_pattern.source());
            format!("{}: {}", s.as_str(), v.reason().unwrap_or("pass"))
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "no set of filters for {} both covers the baseline pattern and passes {} ({detail})",
        topic.as_str(),
        scanner_list(named)
    )
}

/// `securityhub, prowler`.
fn scanner_list(scanners: &[Scanner]) -> String {
    scanners.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline;

    const CIS_RT: &str = r#"{ ($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || ($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || ($.eventName = DisassociateRouteTable) }"#;
    const CIS_V12_UNAUTH: &str = r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#;
    const CIS_V2_UNAUTH: &str = r#"{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#;
    const CIS_V2_UNAUTH_BASH: &str = "{ ($.errorCode =*UnauthorizedOperation) || ($.errorCode =AccessDenied*) && ($.sourceIPAddress!=delivery.logs.amazonaws.com) && ($.eventName!=HeadBucket) }";
    const CIS_SG_V4: &str = r#"{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || ($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || ($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }"#;
    const ROOT_UNQUOTED: &str =
        "{ $.userIdentity.type = Root && $.userIdentity.invokedBy NOT EXISTS && $.eventType != AwsServiceEvent }";
    const ROOT_REORDERED: &str = r#"{ $.eventType != "AwsServiceEvent" && $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }"#;

    fn v(s: Scanner, t: MonitoringTopic, p: &str) -> &'static str {
        verdict(s, t, p).label()
    }

    use Scanner::{CloudSploit as CS, Prowler as PR, SecurityHub as SH, Steampipe as SP};

    #[test]
    fn names_round_trip() {
        for s in Scanner::ALL {
            assert_eq!(s.as_str().parse::<Scanner>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert_eq!("Security-Hub".parse::<Scanner>().unwrap(), SH);
        assert!("scout".parse::<Scanner>().is_err());
        for t in MonitoringTopic::ALL {
            assert_eq!(t.as_str().parse::<MonitoringTopic>().unwrap(), t);
        }
        assert_eq!(T::OrganizationsChanges.cis_number(), 15);
    }

    #[test]
    fn verdict_serialisation() {
        assert_eq!(serde_json::to_string(&Verdict::Pass).unwrap(), "\"pass\"");
        assert_eq!(serde_json::to_string(&Verdict::Fail { reason: "r".into() }).unwrap(), "{\"fail\":\"r\"}");
        assert_eq!(
            serde_json::to_string(&Verdict::NotChecked { reason: "n".into() }).unwrap(),
            "{\"not_checked\":\"n\"}"
        );
    }

    #[test]
    fn every_literal_and_accepted_pattern_parses_and_passes_its_scanner() {
        for t in MonitoringTopic::ALL {
            pattern::parse(t.cis_pattern()).unwrap_or_else(|e| panic!("{t}: {e}"));
            for s in Scanner::ALL {
                if let Some(p) = accepted_pattern(s, t) {
                    pattern::parse(p).unwrap_or_else(|e| panic!("{s}/{t}: {e}"));
                    assert!(verdict(s, t, p).is_pass(), "{s}/{t}: {:?}", verdict(s, t, p));
                }
            }
        }
    }

    /// Security Hub: the literal passes; whitespace-only changes pass (inferred from the
    /// reference); requoting, extra parentheses or extra terms fail.
    #[test]
    fn security_hub_table() {
        let sh2 = literal(SH, T::UnauthorizedApiCalls).unwrap();
        let rows: &[(MonitoringTopic, &str, &str)] = &[
            (T::UnauthorizedApiCalls, sh2, "pass"),
            (
                T::UnauthorizedApiCalls,
                r#"{ ($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*") }"#,
                "pass",
            ),
            (T::UnauthorizedApiCalls, CIS_V12_UNAUTH, "pass"),
            (T::UnauthorizedApiCalls, CIS_V2_UNAUTH, "fail"),
            (
                T::UnauthorizedApiCalls,
                r#"{(($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*"))}"#,
                "fail",
            ),
            (T::UnauthorizedApiCalls, "{($.errorCode=*UnauthorizedOperation) || ($.errorCode=AccessDenied*)}", "fail"),
            (T::RouteTableChanges, CIS_RT, "pass"),
            (T::SecurityGroupChanges, CIS_SG_V4, "pass"),
            (T::SecurityGroupChanges, T::SecurityGroupChanges.cis_pattern(), "fail"),
            (T::ConsoleSigninWithoutMfa, T::ConsoleSigninWithoutMfa.cis_pattern(), "fail"),
            (T::RootUsage, ROOT_UNQUOTED, "fail"),
            (T::OrganizationsChanges, T::OrganizationsChanges.cis_pattern(), "not_checked"),
        ];
        for (t, p, want) in rows {
            assert_eq!(v(SH, *t, p), *want, "{t}: {p}\n{:?}", verdict(SH, *t, p));
        }
        let r = verdict(
            SH,
            T::UnauthorizedApiCalls,
            "{($.errorCode=*UnauthorizedOperation) || ($.errorCode=AccessDenied*)}",
        );
        assert!(r.reason().unwrap().contains("semantically equivalent"), "{r:?}");
    }

    /// Prowler, from the reference's acceptance matrix (landscape §A.6) and its check sources.
    #[test]
    fn prowler_table() {
        let org21 = PROWLER_ORGANIZATIONS;
        let rows: &[(MonitoringTopic, &str, &str)] = &[
            (T::UnauthorizedApiCalls, literal(SH, T::UnauthorizedApiCalls).unwrap(), "pass"),
            (T::UnauthorizedApiCalls, CIS_V2_UNAUTH, "pass"),
            (T::UnauthorizedApiCalls, CIS_V2_UNAUTH_BASH, "pass"),
            (T::ConsoleSigninWithoutMfa, T::ConsoleSigninWithoutMfa.cis_pattern(), "pass"),
            (T::ConsoleSigninWithoutMfa, literal(SH, T::ConsoleSigninWithoutMfa).unwrap(), "pass"),
            (T::RootUsage, T::RootUsage.cis_pattern(), "pass"),
            (T::RootUsage, ROOT_UNQUOTED, "pass"),
            (T::RootUsage, ROOT_REORDERED, "fail"),
            (T::SecurityGroupChanges, CIS_SG_V4, "pass"),
            (T::SecurityGroupChanges, T::SecurityGroupChanges.cis_pattern(), "pass"),
            (T::RouteTableChanges, CIS_RT, "fail"),
            (T::RouteTableChanges, PROWLER_ROUTE_TABLE, "pass"),
            (T::OrganizationsChanges, T::OrganizationsChanges.cis_pattern(), "fail"),
            (T::OrganizationsChanges, CLOUDSPLOIT[T::OrganizationsChanges as usize], "fail"),
            (T::OrganizationsChanges, org21, "pass"),
            (T::IamPolicyChanges, literal(SH, T::IamPolicyChanges).unwrap(), "pass"),
            (T::ConsoleAuthFailures, T::ConsoleAuthFailures.cis_pattern(), "pass"),
            // Prowler accepts semantically broken filters (clauses present, wrong operator).
            (T::CmkDisableOrDelete, "{ ($.eventSource = kms.amazonaws.com) || ($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion) }", "pass"),
            (T::CloudTrailChanges, "{ ($.eventName = CreateTrail) && ($.eventName = UpdateTrail) && ($.eventName = DeleteTrail) && ($.eventName = StartLogging) && ($.eventName = StopLogging) }", "pass"),
            // Event names are matched exactly: CreateRouteTable does not stand in for CreateRoute.
            (T::CloudTrailChanges, "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) }", "fail"),
        ];
        for (t, p, want) in rows {
            assert_eq!(v(PR, *t, p), *want, "{t}: {p}\n{:?}", verdict(PR, *t, p));
        }
        let r = verdict(PR, T::RouteTableChanges, CIS_RT);
        assert!(r.reason().unwrap().contains("ec2.amazonaws.com"), "{r:?}");
        let r = verdict(PR, T::OrganizationsChanges, T::OrganizationsChanges.cis_pattern());
        for n in ["CancelHandshake", "CreateOrganization", "EnableAllFeatures"] {
            assert!(r.reason().unwrap().contains(n), "{r:?}");
        }
    }

    /// Steampipe, from the reference's acceptance matrix and conformance_pack/cloudwatch.pp.
    #[test]
    fn steampipe_table() {
        let rows: &[(MonitoringTopic, &str, &str)] = &[
            (T::UnauthorizedApiCalls, literal(SH, T::UnauthorizedApiCalls).unwrap(), "fail"),
            (T::UnauthorizedApiCalls, CIS_V12_UNAUTH, "fail"),
            (T::UnauthorizedApiCalls, CIS_V2_UNAUTH, "pass"),
            (T::UnauthorizedApiCalls, CIS_V2_UNAUTH_BASH, "fail"),
            (T::ConsoleSigninWithoutMfa, T::ConsoleSigninWithoutMfa.cis_pattern(), "pass"),
            (T::ConsoleSigninWithoutMfa, literal(SH, T::ConsoleSigninWithoutMfa).unwrap(), "pass"),
            (
                T::ConsoleSigninWithoutMfa,
                r#"{($.eventName="ConsoleLogin") && ($.additionalEventData.MFAUsed !="Yes")}"#,
                "pass",
            ),
            (T::RootUsage, T::RootUsage.cis_pattern(), "pass"),
            (T::RootUsage, literal(SH, T::RootUsage).unwrap(), "pass"),
            (T::RootUsage, ROOT_UNQUOTED, "fail"),
            (T::RootUsage, ROOT_REORDERED, "fail"),
            (T::SecurityGroupChanges, CIS_SG_V4, "fail"),
            (T::SecurityGroupChanges, literal(SH, T::SecurityGroupChanges).unwrap(), "fail"),
            (T::SecurityGroupChanges, T::SecurityGroupChanges.cis_pattern(), "pass"),
            (T::RouteTableChanges, CIS_RT, "pass"),
            (T::RouteTableChanges, PROWLER_ROUTE_TABLE, "pass"),
            (T::OrganizationsChanges, T::OrganizationsChanges.cis_pattern(), "pass"),
            (T::OrganizationsChanges, CLOUDSPLOIT[T::OrganizationsChanges as usize], "pass"),
            (T::OrganizationsChanges, PROWLER_ORGANIZATIONS, "pass"),
            (T::IamPolicyChanges, literal(SH, T::IamPolicyChanges).unwrap(), "pass"),
            (T::ConsoleAuthFailures, literal(SH, T::ConsoleAuthFailures).unwrap(), "pass"),
        ];
        for (t, p, want) in rows {
            assert_eq!(v(SP, *t, p), *want, "{t}: {p}\n{:?}", verdict(SP, *t, p));
        }
        let r = verdict(SP, T::SecurityGroupChanges, CIS_SG_V4);
        assert!(r.reason().unwrap().contains("ModifySecurityGroupRules"), "{r:?}");
    }

    /// CloudSploit: equality after whitespace removal and lower-casing; quotes significant.
    #[test]
    fn cloudsploit_table() {
        let respaced = "{($.eventName=CreateRoute)||($.eventName=CreateRouteTable)||($.eventName=ReplaceRoute)||($.eventName=ReplaceRouteTableAssociation)||($.eventName=DeleteRouteTable)||($.eventName=DeleteRoute)||($.eventName=DisassociateRouteTable)}";
        let rows: &[(MonitoringTopic, &str, &str)] = &[
            (T::UnauthorizedApiCalls, literal(SH, T::UnauthorizedApiCalls).unwrap(), "fail"),
            (T::UnauthorizedApiCalls, CIS_V2_UNAUTH, "fail"),
            (T::ConsoleSigninWithoutMfa, T::ConsoleSigninWithoutMfa.cis_pattern(), "fail"),
            (T::RootUsage, T::RootUsage.cis_pattern(), "fail"),
            (T::RootUsage, ROOT_UNQUOTED, "pass"),
            (T::SecurityGroupChanges, CIS_SG_V4, "pass"),
            (T::SecurityGroupChanges, T::SecurityGroupChanges.cis_pattern(), "fail"),
            (T::RouteTableChanges, CIS_RT, "pass"),
            (T::RouteTableChanges, literal(SH, T::RouteTableChanges).unwrap(), "pass"),
            (T::RouteTableChanges, respaced, "pass"),
            (T::RouteTableChanges, &CIS_RT.to_uppercase(), "pass"),
            (T::OrganizationsChanges, T::OrganizationsChanges.cis_pattern(), "fail"),
            (T::IamPolicyChanges, literal(SH, T::IamPolicyChanges).unwrap(), "pass"),
        ];
        for (t, p, want) in rows {
            assert_eq!(v(CS, *t, p), *want, "{t}: {p}\n{:?}", verdict(CS, *t, p));
        }
    }

    #[test]
    fn no_single_unauthorized_filter_passes_security_hub_and_steampipe() {
        for p in [literal(SH, T::UnauthorizedApiCalls).unwrap(), CIS_V2_UNAUTH, CIS_V12_UNAUTH, CIS_V2_UNAUTH_BASH] {
            let vs = verdicts(T::UnauthorizedApiCalls, p);
            assert!(!(vs[&SH].is_pass() && vs[&SP].is_pass()), "{p}");
        }
    }

    fn sat(t: MonitoringTopic, scanners: &[Scanner], baseline: &str) -> Vec<(String, String)> {
        let b = pattern::parse(baseline).unwrap();
        let out = satisfying_patterns(t, scanners, &b).unwrap_or_else(|e| panic!("{e}"));
        // Invariants: one covers the baseline, each named (checked) scanner passes on one.
        assert!(out.iter().any(|(p, _)| pattern::covers(&pattern::parse(p).unwrap(), &b).is_covered()));
        for s in scanners.iter().filter(|s| evaluates(**s, t)) {
            assert!(out.iter().any(|(p, _)| verdict(*s, t, p).is_pass()), "{s} passes none of {out:?}");
        }
        out
    }

    #[test]
    fn satisfy_unauthorized_with_security_hub_and_steampipe_needs_two_filters() {
        let out = sat(T::UnauthorizedApiCalls, &[SH, SP], T::UnauthorizedApiCalls.cis_pattern());
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].0, T::UnauthorizedApiCalls.cis_pattern());
        assert_eq!(out[1].0, literal(SH, T::UnauthorizedApiCalls).unwrap());
        assert!(out[1].1.contains("Security Hub"), "{}", out[1].1);
        // Security Hub alone: its (broader) literal covers the CIS v2.0+ pattern on its own.
        let out = sat(T::UnauthorizedApiCalls, &[SH], T::UnauthorizedApiCalls.cis_pattern());
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, literal(SH, T::UnauthorizedApiCalls).unwrap());
    }

    #[test]
    fn satisfy_organizations_with_prowler_uses_the_21_event_filter() {
        let out = sat(T::OrganizationsChanges, &[PR, SP, SH], T::OrganizationsChanges.cis_pattern());
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, PROWLER_ORGANIZATIONS);
        assert!(out[0].1.contains("21"), "{}", out[0].1);
        assert!(out[0].1.contains("not checked by securityhub"), "{}", out[0].1);
    }

    #[test]
    fn satisfy_route_tables_with_prowler_keeps_the_baseline_and_adds_the_guarded_filter() {
        let out = sat(T::RouteTableChanges, &[PR], CIS_RT);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].0, CIS_RT);
        assert_eq!(out[1].0, PROWLER_ROUTE_TABLE);
        assert!(out[1].1.contains("ec2.amazonaws.com"), "{}", out[1].1);
    }

    #[test]
    fn satisfy_when_the_baseline_already_passes_returns_it_alone() {
        let out = sat(T::RouteTableChanges, &[SP, CS, SH], CIS_RT);
        assert_eq!(out, vec![(CIS_RT.to_string(), out[0].1.clone())]);
        let out = sat(T::IamPolicyChanges, &[], T::IamPolicyChanges.cis_pattern());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn satisfy_all_four_for_every_topic_of_every_cis_baseline() {
        for name in ["cis-v1.2", "cis-v1.4", "cis-v2.0", "cis-v5.0", "cis-v7.0"] {
            let b = baseline::load(name).unwrap();
            for c in &b.controls {
                let t = classify(c).unwrap_or_else(|| panic!("{name} {}", c.id));
                let out = sat(t, &Scanner::ALL, c.pattern.source());
                assert!(out.len() <= 4, "{name} {}: {out:?}", c.id);
            }
        }
    }

    #[test]
    fn classify_every_shipped_control() {
        for name in baseline::shipped_names() {
            let b = baseline::load(name).unwrap();
            for (i, c) in b.controls.iter().enumerate() {
                let got = classify(c);
                if name == "cloudguard-ssm" {
                    assert_eq!(got, None);
                    continue;
                }
                let t = got.unwrap_or_else(|| panic!("{name} {} unclassified", c.id));
                if name.starts_with("cis-") {
                    assert_eq!(t.cis_number(), i + 1, "{name} {}", c.id);
                }
                // Classification from metric name / title alone agrees with the scanner ids.
                let mut bare = c.clone();
                bare.scanner_ids.clear();
                assert_eq!(classify(&bare), Some(t), "{name} {}", c.id);
                let mut titled = bare.clone();
                titled.metric_name = "X".into();
                assert_eq!(classify(&titled), Some(t), "{name} {} by title {:?}", c.id, c.title);
            }
        }
    }

    #[test]
    fn shipped_securityhub_baseline_passes_security_hub_everywhere() {
        let b = baseline::load("securityhub").unwrap();
        for c in &b.controls {
            let t = classify(c).unwrap();
            assert_eq!(c.pattern.source(), literal(SH, t).unwrap(), "{}", c.id);
            assert!(verdict(SH, t, c.pattern.source()).is_pass());
        }
        let b = baseline::load("important-metrics").unwrap();
        for c in &b.controls {
            let t = classify(c).unwrap();
            assert!(verdict(CS, t, c.pattern.source()).is_pass(), "{}", c.id);
        }
    }

    #[test]
    fn multiline_patterns_are_read_like_the_tools_do() {
        let ml = CIS_RT.replace(" || ", "\n  || ");
        assert!(verdict(SP, T::RouteTableChanges, &ml).is_pass());
        assert!(verdict(CS, T::RouteTableChanges, &ml).is_pass());
        assert!(verdict(SH, T::RouteTableChanges, &ml).is_pass());
        let ml = PROWLER_ROUTE_TABLE.replace(" || ", "\n  || ");
        assert!(verdict(PR, T::RouteTableChanges, &ml).is_pass());
    }
}
