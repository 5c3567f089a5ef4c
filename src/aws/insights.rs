//! CloudWatch Logs Insights, behind a narrow trait: StartQuery, GetQueryResults, StopQuery.
//! [`run_query`] polls with backoff until the query completes; [`LiveInsights`] uses the
//! existing aws-sdk-cloudwatchlogs. Rows come back as Insights returns them: each row lists
//! only its non-empty fields, `@ptr` included.

use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_cloudwatchlogs::types::QueryStatus;

use super::athena::{classify, Poll};
use super::{Error, Result};

/// One page of GetQueryResults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// `Scheduled`, `Running`, `Complete`, `Failed`, `Cancelled`, `Timeout` or `Unknown`.
    pub status: String,
    /// Rows of (field, value).
    pub rows: Vec<Vec<(String, String)>>,
    pub records_matched: f64,
    pub records_scanned: f64,
    pub bytes_scanned: f64,
}

/// The Logs Insights calls cwfix makes.
#[allow(async_fn_in_trait)]
pub trait InsightsApi {
    /// StartQuery over `log_groups` between `start` and `end` (seconds since the epoch).
    async fn start(&self, log_groups: &[String], start: i64, end: i64, query: &str) -> Result<String>;
    async fn results(&self, id: &str) -> Result<Page>;
    async fn stop(&self, id: &str) -> Result<()>;
}

/// Start `query` and poll until it completes.
pub async fn run_query(
    api: &impl InsightsApi,
    log_groups: &[String],
    start: i64,
    end: i64,
    query: &str,
    poll: Poll,
) -> Result<Page> {
    let id = api.start(log_groups, start, end, query).await?;
    let started = Instant::now();
    let mut wait = poll.first;
    loop {
        let p = api.results(&id).await?;
        match p.status.as_str() {
            "Complete" => return Ok(p),
            "Scheduled" | "Running" | "Unknown" | "" => {}
            other => {
                return Err(Error::Service {
                    action: "logs:GetQueryResults".into(),
                    code: other.into(),
                    message: format!("Logs Insights query {id} ended with status {other}"),
                })
            }
        }
        if started.elapsed() > poll.timeout {
            let _ = api.stop(&id).await;
            return Err(Error::Service {
                action: "logs:GetQueryResults".into(),
                code: "Timeout".into(),
                message: format!("query {id} still running after {:?}; stopped it", poll.timeout),
            });
        }
        tokio::time::sleep(wait).await;
        wait = poll.next(wait);
    }
}

/// [`InsightsApi`] over aws-sdk-cloudwatchlogs, built from the shared `SdkConfig`.
pub struct LiveInsights {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl LiveInsights {
    pub fn new(conf: &SdkConfig) -> LiveInsights {
        LiveInsights { client: aws_sdk_cloudwatchlogs::Client::new(conf) }
    }
}

impl InsightsApi for LiveInsights {
    async fn start(&self, log_groups: &[String], start: i64, end: i64, query: &str) -> Result<String> {
        const A: &str = "logs:StartQuery";
        let out = self
            .client
            .start_query()
            .set_log_group_names(Some(log_groups.to_vec()))
            .start_time(start)
            .end_time(end)
            .query_string(query)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        out.query_id().map(str::to_string).ok_or_else(|| Error::Service {
            action: A.into(),
            code: "NoId".into(),
            message: "StartQuery returned no query id".into(),
        })
    }

    async fn results(&self, id: &str) -> Result<Page> {
        const A: &str = "logs:GetQueryResults";
        let out = self.client.get_query_results().query_id(id).send().await.map_err(|e| classify(A, e))?;
        let status = match out.status() {
            Some(QueryStatus::Complete) => "Complete".to_string(),
            Some(s) => s.as_str().to_string(),
            None => String::new(),
        };
        let rows = out
            .results()
            .iter()
            .map(|r| {
                r.iter()
                    .filter_map(|f| Some((f.field()?.to_string(), f.value().unwrap_or_default().to_string())))
                    .collect()
            })
            .collect();
        let st = out.statistics();
        Ok(Page {
            status,
            rows,
            records_matched: st.map(|s| s.records_matched()).unwrap_or(0.0),
            records_scanned: st.map(|s| s.records_scanned()).unwrap_or(0.0),
            bytes_scanned: st.map(|s| s.bytes_scanned()).unwrap_or(0.0),
        })
    }

    async fn stop(&self, id: &str) -> Result<()> {
        const A: &str = "logs:StopQuery";
        self.client.stop_query().query_id(id).send().await.map_err(|e| classify(A, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    struct Fake(Mutex<Vec<&'static str>>);

    impl InsightsApi for Fake {
        async fn start(&self, g: &[String], s: i64, e: i64, _: &str) -> Result<String> {
            assert_eq!(g, ["trail"]);
            assert!(s < e);
            Ok("id".into())
        }
        async fn results(&self, _: &str) -> Result<Page> {
            let status = self.0.lock().unwrap().remove(0);
            Ok(Page { status: status.into(), rows: vec![vec![("a".into(), "1".into())]], ..Default::default() })
        }
        async fn stop(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    fn quick() -> Poll {
        Poll { first: Duration::from_millis(1), max: Duration::from_millis(2), timeout: Duration::from_secs(5) }
    }

    #[tokio::test]
    async fn polls_until_complete() {
        let f = Fake(Mutex::new(vec!["Scheduled", "Running", "Complete"]));
        let p = run_query(&f, &["trail".into()], 1, 2, "fields a", quick()).await.unwrap();
        assert_eq!(p.rows.len(), 1);
        assert!(f.0.lock().unwrap().is_empty());
        let f = Fake(Mutex::new(vec!["Running", "Failed"]));
        assert!(run_query(&f, &["trail".into()], 1, 2, "fields a", quick()).await.is_err());
    }
}
