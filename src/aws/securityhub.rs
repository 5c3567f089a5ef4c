//! Security Hub, write-only: `BatchImportFindings` of the ASFF findings `render::asff` makes
//! (`cwfix plan --findings securityhub`). [`FindingsHub`] is one call; [`send`] does the rest
//! over it: batches of [`BATCH`] (the API's limit), findings the service failed with a
//! transient error sent again, a call that failed transiently made again, each up to
//! [`ATTEMPTS`] times with doubling backoff.
//!
//! The findings arrive as the ASFF JSON `-o asff` prints and are converted to the SDK's
//! types here ([`to_sdk`]); a field cwfix does not know is refused rather than dropped, and a
//! unit test feeds every field the renderer writes through the conversion.

use super::live::classify;
use super::{Error, Result};
use aws_config::{Region, SdkConfig};
use aws_sdk_securityhub::types as sh;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// Findings per BatchImportFindings call (the API's maximum).
pub const BATCH: usize = 100;
/// Tries per batch, and per finding the service failed transiently.
pub const ATTEMPTS: u32 = 3;

/// A finding the service did not take.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: String,
    pub code: String,
    pub message: String,
}

/// One `BatchImportFindings` call.
#[allow(async_fn_in_trait)]
pub trait FindingsHub {
    /// Imports up to [`BATCH`] findings into the hub of `region`; returns those it rejected.
    async fn import(&self, region: &str, findings: &[Value]) -> Result<Vec<Rejected>>;
}

/// What [`send`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sent {
    /// Findings Security Hub took (created or updated).
    pub imported: usize,
    /// BatchImportFindings calls made.
    pub calls: usize,
    /// Findings it did not take in the end.
    pub rejected: Vec<Rejected>,
    /// The error that stopped the sending (e.g. Security Hub not enabled, access denied);
    /// the findings not sent are not in `rejected`.
    pub error: Option<Error>,
}

fn transient_code(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    c.contains("throttl") || c.contains("internal") || c.contains("unavailable") || c.contains("limitexceeded")
}

fn transient(e: &Error) -> bool {
    match e {
        Error::Throttled { .. } | Error::Transport { .. } => true,
        Error::Service { code, .. } => transient_code(code),
        _ => false,
    }
}

/// Sends `findings` (all of `region`) in batches, retrying what failed transiently.
pub async fn send(hub: &impl FindingsHub, region: &str, findings: &[Value], backoff: Duration) -> Sent {
    let mut sent = Sent::default();
    for chunk in findings.chunks(BATCH) {
        let mut todo: Vec<Value> = chunk.to_vec();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff * 2u32.pow(attempt - 1)).await;
            }
            sent.calls += 1;
            let last = attempt + 1 == ATTEMPTS;
            match hub.import(region, &todo).await {
                Ok(rejected) => {
                    sent.imported += todo.len() - rejected.len();
                    let (again, final_): (Vec<Rejected>, Vec<Rejected>) =
                        rejected.into_iter().partition(|r| transient_code(&r.code) && !last);
                    sent.rejected.extend(final_);
                    todo.retain(|f| again.iter().any(|r| f["Id"].as_str() == Some(r.id.as_str())));
                }
                Err(e) if transient(&e) && !last => continue,
                Err(e) => {
                    sent.error = Some(e);
                    return sent;
                }
            }
            if todo.is_empty() {
                break;
            }
        }
    }
    sent
}

/// Security Hub through the SDK, one client per region (built on first use).
pub struct Live {
    conf: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_securityhub::Client>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Live {
    pub fn new(conf: &SdkConfig) -> Live {
        Live { conf: conf.clone(), clients: Mutex::new(HashMap::new()), calls: Mutex::new(BTreeMap::new()) }
    }

    fn client(&self, region: &str) -> aws_sdk_securityhub::Client {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(region.to_string())
            .or_insert_with(|| {
                let c = aws_sdk_securityhub::config::Builder::from(&self.conf).region(Region::new(region.to_string()));
                aws_sdk_securityhub::Client::from_conf(c.build())
            })
            .clone()
    }

    /// API calls made so far, per IAM action.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl FindingsHub for Live {
    async fn import(&self, region: &str, findings: &[Value]) -> Result<Vec<Rejected>> {
        const A: &str = "securityhub:BatchImportFindings";
        let list = findings
            .iter()
            .map(to_sdk)
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|m| Error::Service { action: A.into(), code: "InvalidFinding".into(), message: m })?;
        *self.calls.lock().unwrap_or_else(|e| e.into_inner()).entry(A.to_string()).or_default() += 1;
        let out = self
            .client(region)
            .batch_import_findings()
            .set_findings(Some(list))
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        Ok(out
            .failed_findings()
            .iter()
            .map(|f| Rejected {
                id: f.id().unwrap_or_default().to_string(),
                code: f.error_code().unwrap_or_default().to_string(),
                message: f.error_message().unwrap_or_default().to_string(),
            })
            .collect())
    }
}

type Conv<T> = std::result::Result<T, String>;

/// The object `v`, with no keys but `known` (`what` names it in the error).
fn fields<'a>(v: &'a Value, what: &str, known: &[&str]) -> Conv<&'a Map<String, Value>> {
    let o = v.as_object().ok_or_else(|| format!("ASFF {what} is not an object"))?;
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("ASFF {what}.{k} is not a field cwfix sends")),
        None => Ok(o),
    }
}

fn text(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_string)
}

fn texts(o: &Map<String, Value>, k: &str) -> Vec<String> {
    o.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn string_map(o: &Map<String, Value>, k: &str) -> Vec<(String, String)> {
    let m = o.get(k).and_then(Value::as_object);
    m.map(|m| {
        m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect()
    })
    .unwrap_or_default()
}

const FINDING_FIELDS: &[&str] = &[
    "SchemaVersion",
    "Id",
    "ProductArn",
    "ProductName",
    "CompanyName",
    "GeneratorId",
    "AwsAccountId",
    "Region",
    "Types",
    "FirstObservedAt",
    "LastObservedAt",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Remediation",
    "ProductFields",
    "Resources",
    "Compliance",
    "RecordState",
    "Workflow",
];

/// One ASFF finding (as `render::asff` writes it) as the SDK's type.
pub fn to_sdk(v: &Value) -> Conv<sh::AwsSecurityFinding> {
    let o = fields(v, "finding", FINDING_FIELDS)?;
    let mut b = sh::AwsSecurityFinding::builder()
        .set_schema_version(text(o, "SchemaVersion"))
        .set_id(text(o, "Id"))
        .set_product_arn(text(o, "ProductArn"))
        .set_product_name(text(o, "ProductName"))
        .set_company_name(text(o, "CompanyName"))
        .set_generator_id(text(o, "GeneratorId"))
        .set_aws_account_id(text(o, "AwsAccountId"))
        .set_region(text(o, "Region"))
        .set_types(Some(texts(o, "Types")))
        .set_first_observed_at(text(o, "FirstObservedAt"))
        .set_last_observed_at(text(o, "LastObservedAt"))
        .set_created_at(text(o, "CreatedAt"))
        .set_updated_at(text(o, "UpdatedAt"))
        .set_title(text(o, "Title"))
        .set_description(text(o, "Description"))
        .set_record_state(text(o, "RecordState").map(|s| sh::RecordState::from(s.as_str())));
    for (k, v) in string_map(o, "ProductFields") {
        b = b.product_fields(k, v);
    }
    if let Some(s) = o.get("Severity") {
        let s = fields(s, "Severity", &["Label", "Original"])?;
        b = b.severity(
            sh::Severity::builder()
                .set_label(text(s, "Label").map(|l| sh::SeverityLabel::from(l.as_str())))
                .set_original(text(s, "Original"))
                .build(),
        );
    }
    if let Some(r) = o.get("Remediation") {
        b = b.remediation(remediation(r)?);
    }
    for r in o.get("Resources").and_then(Value::as_array).into_iter().flatten() {
        b = b.resources(resource(r)?);
    }
    if let Some(c) = o.get("Compliance") {
        b = b.compliance(compliance(c)?);
    }
    if let Some(w) = o.get("Workflow") {
        let w = fields(w, "Workflow", &["Status"])?;
        b = b.workflow(
            sh::Workflow::builder().set_status(text(w, "Status").map(|s| sh::WorkflowStatus::from(s.as_str()))).build(),
        );
    }
    Ok(b.build())
}

fn remediation(v: &Value) -> Conv<sh::Remediation> {
    let r = fields(v, "Remediation", &["Recommendation"])?;
    let rec = match r.get("Recommendation") {
        Some(x) => {
            let x = fields(x, "Remediation.Recommendation", &["Text", "Url"])?;
            Some(sh::Recommendation::builder().set_text(text(x, "Text")).set_url(text(x, "Url")).build())
        }
        None => None,
    };
    Ok(sh::Remediation::builder().set_recommendation(rec).build())
}

fn resource(v: &Value) -> Conv<sh::Resource> {
    let r = fields(v, "Resources[]", &["Type", "Id", "Partition", "Region", "Details"])?;
    let mut b = sh::Resource::builder()
        .set_type(text(r, "Type"))
        .set_id(text(r, "Id"))
        .set_partition(text(r, "Partition").map(|p| sh::Partition::from(p.as_str())))
        .set_region(text(r, "Region"));
    if let Some(d) = r.get("Details") {
        let d = fields(d, "Resources[].Details", &["Other"])?;
        let mut details = sh::ResourceDetails::builder();
        for (k, v) in string_map(d, "Other") {
            details = details.other(k, v);
        }
        b = b.details(details.build());
    }
    Ok(b.build())
}

fn compliance(v: &Value) -> Conv<sh::Compliance> {
    let c = fields(v, "Compliance", &["Status", "RelatedRequirements", "StatusReasons"])?;
    let mut b = sh::Compliance::builder()
        .set_status(text(c, "Status").map(|s| sh::ComplianceStatus::from(s.as_str())))
        .set_related_requirements(Some(texts(c, "RelatedRequirements")));
    for r in c.get("StatusReasons").and_then(Value::as_array).into_iter().flatten() {
        let r = fields(r, "Compliance.StatusReasons[]", &["ReasonCode", "Description"])?;
        b = b.status_reasons(
            sh::StatusReason::builder()
                .set_reason_code(text(r, "ReasonCode"))
                .set_description(text(r, "Description"))
                .build(),
        );
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_field_the_renderer_writes_converts() {
        let p = crate::render::findings::tests::sample();
        let doc = crate::render::asff::document(&[p], &crate::render::findings::tests::ctx());
        for f in doc.as_array().unwrap() {
            let s = to_sdk(f).unwrap_or_else(|e| panic!("{e}: {f:#}"));
            assert_eq!(s.id(), f["Id"].as_str());
            assert_eq!(s.resources().len(), f["Resources"].as_array().unwrap().len());
            assert_eq!(s.compliance().and_then(|c| c.status()).map(|x| x.as_str()), f["Compliance"]["Status"].as_str());
            assert_eq!(s.record_state().map(|x| x.as_str()), f["RecordState"].as_str());
            assert_eq!(s.product_fields().map(|m| m.len()), f["ProductFields"].as_object().map(|m| m.len()));
        }
        let err = to_sdk(&json!({"Id": "x", "Note": {"Text": "n"}})).unwrap_err();
        assert!(err.contains("Note"), "{err}");
    }

    /// Rejects the first `flaky` findings of each call once with a transient code, and fails
    /// `throttle` calls outright first.
    struct Hub {
        calls: AtomicUsize,
        sizes: Mutex<Vec<usize>>,
        flaky: usize,
        throttle: usize,
        reject_code: &'static str,
    }

    impl FindingsHub for Hub {
        async fn import(&self, _region: &str, findings: &[Value]) -> Result<Vec<Rejected>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            self.sizes.lock().unwrap().push(findings.len());
            if n < self.throttle {
                return Err(Error::Throttled {
                    action: "securityhub:BatchImportFindings".into(),
                    message: "slow".into(),
                });
            }
            let reject = if n == self.throttle { self.flaky } else { 0 };
            Ok(findings
                .iter()
                .take(reject)
                .map(|f| Rejected {
                    id: f["Id"].as_str().unwrap().into(),
                    code: self.reject_code.into(),
                    message: "m".into(),
                })
                .collect())
        }
    }

    fn hub(flaky: usize, throttle: usize, reject_code: &'static str) -> Hub {
        Hub { calls: AtomicUsize::new(0), sizes: Mutex::new(vec![]), flaky, throttle, reject_code }
    }

    fn findings(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"Id": format!("f{i}")})).collect()
    }

    #[tokio::test]
    async fn batches_of_one_hundred_and_transient_rejections_are_sent_again() {
        let h = hub(3, 0, "InternalException");
        let s = send(&h, "us-east-1", &findings(250), Duration::ZERO).await;
        assert_eq!(*h.sizes.lock().unwrap(), vec![100, 3, 100, 50]);
        assert_eq!((s.imported, s.calls, s.rejected.len(), s.error), (250, 4, 0, None));
    }

    #[tokio::test]
    async fn invalid_findings_are_not_sent_again() {
        let h = hub(2, 0, "InvalidInput");
        let s = send(&h, "us-east-1", &findings(10), Duration::ZERO).await;
        assert_eq!((s.imported, s.calls, s.rejected.len()), (8, 1, 2));
    }

    #[tokio::test]
    async fn throttled_calls_are_made_again_then_given_up() {
        let h = hub(0, 2, "x");
        let s = send(&h, "us-east-1", &findings(5), Duration::ZERO).await;
        assert_eq!((s.imported, s.calls, s.error.is_none()), (5, 3, true));
        let h = hub(0, 5, "x");
        let s = send(&h, "us-east-1", &findings(5), Duration::ZERO).await;
        assert_eq!((s.imported, s.calls), (0, ATTEMPTS as usize));
        assert!(matches!(s.error, Some(Error::Throttled { .. })));
    }
}
