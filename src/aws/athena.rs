//! Athena, behind a narrow trait: start a query, read its state, page its results, stop it.
//! [`run_query`] drives a query to the end (polling with backoff) on any [`AthenaApi`];
//! [`LiveAthena`] is the aws-sdk-athena implementation. SDK types and errors stop here; the
//! SQL comes from `crate::athena`.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_athena::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};

use super::{Error, Result};

/// Where a query runs and where Athena writes its result file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AthenaTarget {
    /// The default database (`None`: the SQL names it, or the workgroup's default).
    pub database: Option<String>,
    pub workgroup: Option<String>,
    /// `s3://bucket/prefix/`; required unless the workgroup sets one.
    pub output_location: Option<String>,
}

/// The state of a query execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    Succeeded,
    /// Failed or cancelled, with Athena's reason.
    Failed(String),
}

/// What [`AthenaApi::status`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub bytes_scanned: Option<u64>,
}

/// A finished query: column names and rows (texts, NULL as `None`), header row removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryRun {
    pub execution_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub bytes_scanned: Option<u64>,
}

/// The Athena calls cwfix makes.
#[allow(async_fn_in_trait)]
pub trait AthenaApi {
    /// StartQueryExecution; returns the execution id.
    async fn start(&self, sql: &str, target: &AthenaTarget) -> Result<String>;
    /// GetQueryExecution.
    async fn status(&self, id: &str) -> Result<Status>;
    /// GetQueryResults, every page: (column names, rows including Athena's header row).
    async fn results(&self, id: &str) -> Result<(Vec<String>, Vec<Vec<Option<String>>>)>;
    /// StopQueryExecution.
    async fn stop(&self, id: &str) -> Result<()>;
}

/// How long to wait between polls and in all.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    pub first: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll { first: Duration::from_millis(200), max: Duration::from_secs(5), timeout: Duration::from_secs(3600) }
    }
}

impl Poll {
    /// The next wait: ×1.5 up to `max`.
    pub fn next(&self, d: Duration) -> Duration {
        (d * 3 / 2).min(self.max)
    }
}

/// Start `sql`, poll until it ends (backoff per `poll`; stopped on timeout), page the results.
pub async fn run_query(api: &impl AthenaApi, sql: &str, target: &AthenaTarget, poll: Poll) -> Result<QueryRun> {
    let id = api.start(sql, target).await?;
    let started = Instant::now();
    let mut wait = poll.first;
    let status = loop {
        let s = api.status(&id).await?;
        match &s.state {
            State::Running => {}
            State::Succeeded => break s,
            State::Failed(reason) => {
                return Err(Error::Service {
                    action: "athena:GetQueryExecution".into(),
                    code: "QueryFailed".into(),
                    message: format!("query {id} failed: {reason}"),
                })
            }
        }
        if started.elapsed() > poll.timeout {
            let _ = api.stop(&id).await;
            return Err(Error::Service {
                action: "athena:GetQueryExecution".into(),
                code: "Timeout".into(),
                message: format!("query {id} still running after {:?}; stopped it", poll.timeout),
            });
        }
        tokio::time::sleep(wait).await;
        wait = poll.next(wait);
    };
    let (columns, mut rows) = api.results(&id).await?;
    // A SELECT's first row holds the column names.
    if rows.first().is_some_and(|r| r.iter().map(|c| c.as_deref().unwrap_or("")).eq(columns.iter().map(String::as_str)))
    {
        rows.remove(0);
    }
    Ok(QueryRun { execution_id: id, columns, rows, bytes_scanned: status.bytes_scanned })
}

/// Classify an SDK error of the Athena or CloudWatch Logs clients into [`Error`].
pub(crate) fn classify<E, R>(action: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let action = action.to_string();
    match &err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("Unknown").to_string();
            let message = ctx.err().message().unwrap_or("").to_string();
            let lc = code.to_ascii_lowercase();
            if lc.contains("accessdenied") || lc == "403" {
                Error::AccessDenied { action, message: if message.is_empty() { code } else { message } }
            } else if lc.contains("notfound") {
                Error::NotFound { action, message }
            } else if lc.contains("throttl") || lc == "toomanyrequestsexception" {
                Error::Throttled { action, message }
            } else if lc.contains("unrecognizedclient")
                || lc.contains("expiredtoken")
                || lc.contains("invalidclienttokenid")
            {
                Error::Credentials { action, message: format!("{code}: {message}") }
            } else {
                Error::Service { action, code, message }
            }
        }
        SdkError::TimeoutError(_) => Error::Transport { action, message: "the request timed out".into() },
        _ => {
            let mut parts = Vec::new();
            let mut cur: Option<&dyn std::error::Error> = Some(&err);
            while let Some(e) = cur {
                let s = e.to_string();
                if !parts.contains(&s) {
                    parts.push(s);
                }
                cur = e.source();
            }
            let chain = parts.join(": ");
            if chain.to_ascii_lowercase().contains("credential") {
                Error::Credentials { action, message: chain }
            } else {
                Error::Transport { action, message: chain }
            }
        }
    }
}

/// [`AthenaApi`] over aws-sdk-athena (the client is built from the shared `SdkConfig`, so it
/// uses `live::http_client()`, the retry and timeout settings and `AWS_ENDPOINT_URL`).
pub struct LiveAthena {
    client: aws_sdk_athena::Client,
}

impl LiveAthena {
    pub fn new(conf: &SdkConfig) -> LiveAthena {
        LiveAthena { client: aws_sdk_athena::Client::new(conf) }
    }
}

impl AthenaApi for LiveAthena {
    async fn start(&self, sql: &str, t: &AthenaTarget) -> Result<String> {
        const A: &str = "athena:StartQueryExecution";
        let mut req = self.client.start_query_execution().query_string(sql).set_work_group(t.workgroup.clone());
        if let Some(db) = &t.database {
            req = req.query_execution_context(QueryExecutionContext::builder().database(db).build());
        }
        if let Some(loc) = &t.output_location {
            req = req.result_configuration(ResultConfiguration::builder().output_location(loc).build());
        }
        let out = req.send().await.map_err(|e| classify(A, e))?;
        out.query_execution_id().map(str::to_string).ok_or_else(|| Error::Service {
            action: A.into(),
            code: "NoId".into(),
            message: "Athena returned no query execution id".into(),
        })
    }

    async fn status(&self, id: &str) -> Result<Status> {
        const A: &str = "athena:GetQueryExecution";
        let out = self.client.get_query_execution().query_execution_id(id).send().await.map_err(|e| classify(A, e))?;
        let q = out.query_execution();
        let st = q.and_then(|q| q.status());
        let reason = st.and_then(|s| s.state_change_reason()).unwrap_or("no reason given").to_string();
        let state = match st.and_then(|s| s.state()) {
            Some(QueryExecutionState::Succeeded) => State::Succeeded,
            Some(QueryExecutionState::Failed) => State::Failed(reason),
            Some(QueryExecutionState::Cancelled) => State::Failed(format!("cancelled: {reason}")),
            _ => State::Running,
        };
        let bytes_scanned =
            q.and_then(|q| q.statistics()).and_then(|s| s.data_scanned_in_bytes()).map(|b| b.max(0) as u64);
        Ok(Status { state, bytes_scanned })
    }

    async fn results(&self, id: &str) -> Result<(Vec<String>, Vec<Vec<Option<String>>>)> {
        const A: &str = "athena:GetQueryResults";
        let mut pages =
            self.client.get_query_results().query_execution_id(id).max_results(1000).into_paginator().send();
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(A, e))?;
            let Some(rs) = page.result_set() else { continue };
            if columns.is_empty() {
                if let Some(m) = rs.result_set_metadata() {
                    columns = m.column_info().iter().map(|c| c.name().to_string()).collect();
                }
            }
            for r in rs.rows() {
                rows.push(r.data().iter().map(|d| d.var_char_value().map(str::to_string)).collect());
            }
        }
        Ok((columns, rows))
    }

    async fn stop(&self, id: &str) -> Result<()> {
        const A: &str = "athena:StopQueryExecution";
        self.client.stop_query_execution().query_execution_id(id).send().await.map_err(|e| classify(A, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Queued twice, then done; results with a header row on the first page.
    struct Fake {
        polls: Mutex<u32>,
        fail: bool,
    }

    impl AthenaApi for Fake {
        async fn start(&self, sql: &str, _: &AthenaTarget) -> Result<String> {
            assert!(sql.starts_with("SELECT"));
            Ok("q-1".into())
        }
        async fn status(&self, _: &str) -> Result<Status> {
            let mut p = self.polls.lock().unwrap();
            *p += 1;
            let state = match (*p, self.fail) {
                (1..=2, _) => State::Running,
                (_, true) => State::Failed("SYNTAX_ERROR: line 1:8".into()),
                _ => State::Succeeded,
            };
            Ok(Status { state, bytes_scanned: Some(123) })
        }
        async fn results(&self, _: &str) -> Result<(Vec<String>, Vec<Vec<Option<String>>>)> {
            let s = |x: &str| Some(x.to_string());
            Ok((vec!["a".into(), "b".into()], vec![vec![s("a"), s("b")], vec![s("1"), None]]))
        }
        async fn stop(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    fn quick() -> Poll {
        Poll { first: Duration::from_millis(1), max: Duration::from_millis(2), timeout: Duration::from_secs(5) }
    }

    #[tokio::test]
    async fn polls_then_drops_the_header_row() {
        let f = Fake { polls: Mutex::new(0), fail: false };
        let r = run_query(&f, "SELECT 1", &AthenaTarget::default(), quick()).await.unwrap();
        assert_eq!(*f.polls.lock().unwrap(), 3);
        assert_eq!(r.columns, ["a", "b"]);
        assert_eq!(r.rows, vec![vec![Some("1".to_string()), None]]);
        assert_eq!(r.bytes_scanned, Some(123));
    }

    #[tokio::test]
    async fn a_failed_query_is_an_error_with_athenas_reason() {
        let f = Fake { polls: Mutex::new(0), fail: true };
        let e = run_query(&f, "SELECT 1", &AthenaTarget::default(), quick()).await.unwrap_err();
        assert!(e.to_string().contains("SYNTAX_ERROR"), "{e}");
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let p = Poll::default();
        assert_eq!(p.next(Duration::from_millis(200)), Duration::from_millis(300));
        assert_eq!(p.next(Duration::from_secs(4)), Duration::from_secs(5));
    }
}
