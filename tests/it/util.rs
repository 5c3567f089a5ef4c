//! Harness for the integration tests: a private moto server per test (see
//! `tests/moto/launcher.py`), the real `cwfix` binary pointed at it, and the venv's
//! `aws` CLI / `seed.py` as independent clients.
//!
//! The venv comes from `scripts/setup-moto.sh` (`$CWFIX_MOTO_VENV` or `<repo>/.venv-moto`).
//! A missing venv is a test failure, never a silent skip.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long `Moto::start` waits for the launcher to bind its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The moto venv: `$CWFIX_MOTO_VENV` or `<repo>/.venv-moto`. Panics (with the fix) if absent.
pub fn venv_dir() -> PathBuf {
    let dir = match std::env::var_os("CWFIX_MOTO_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_root().join(".venv-moto"),
    };
    let py = dir.join("bin").join("python");
    if !py.exists() {
        panic!(
            "moto test bed not installed: {} does not exist.\n\
             Run `bash scripts/setup-moto.sh` (or set CWFIX_MOTO_VENV to a venv made by it).",
            py.display()
        );
    }
    dir
}

pub fn venv_python() -> PathBuf {
    venv_dir().join("bin").join("python")
}

fn moto_script(name: &str) -> PathBuf {
    repo_root().join("tests").join("moto").join(name)
}

/// A moto server (with the cwfix launcher's fixes) on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
    /// Holds the launcher log, the port file and the default cwfix working directory.
    tmp: TempDir,
    log_path: PathBuf,
    workdir: PathBuf,
}

impl Moto {
    /// Starts a private launcher and waits (up to ~20 s) until it listens.
    pub fn start() -> Moto {
        Self::start_with_env(&[])
    }

    /// Like `start`, with extra environment for the launcher (e.g. `CWFIX_MOTO_FAULTS`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let python = venv_python();
        let tmp = tempfile::Builder::new().prefix("cwfix-moto-").tempdir().expect("create temp dir for moto");
        let log_path = tmp.path().join("moto.log");
        let port_file = tmp.path().join("port");
        let workdir = tmp.path().join("work");
        fs::create_dir_all(&workdir).expect("create cwfix work dir");
        let log = fs::File::create(&log_path).expect("create moto log");
        let log2 = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new(&python);
        cmd.arg(moto_script("launcher.py"))
            .args(["--host", "127.0.0.1", "--port", "0", "--port-file"])
            .arg(&port_file)
            .current_dir(tmp.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("CWFIX_MOTO_FAULTS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child =
            cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {} tests/moto/launcher.py: {e}", python.display()));
        let mut moto = Moto { child, port: 0, tmp, log_path, workdir };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(s) = fs::read_to_string(&port_file) {
                if let Ok(p) = s.trim().parse::<u16>() {
                    moto.port = p;
                    break;
                }
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto launcher exited early ({status}); log {}:\n{}",
                    moto.log_path.display(),
                    moto.log_tail(60)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "moto launcher not ready after {:?}; log {}:\n{}",
                    START_TIMEOUT,
                    moto.log_path.display(),
                    moto.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The port file is written after bind(); make sure requests are served too.
        let (status, _) = moto.http("GET", "/_cwfix/health", None);
        assert_eq!(status, 200, "launcher health check failed; log {}", moto.log_path.display());
        moto
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The launcher's log (stdout+stderr, one line per request).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The working directory `cwfix()` runs in (one per Moto, so apply/rollback share it).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// A scratch directory that lives as long as this Moto.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let s = fs::read_to_string(&self.log_path).unwrap_or_default();
        let v: Vec<&str> = s.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    /// Creates a scenario through the AWS API (`seed.py seed`, schema in tests/moto/seed.py).
    /// Returns seed.py's summary: `{"account", "topics": {name: arn}, "subscriptions": {..},
    /// "trails": {name: arn}, "log_groups": {..}, "alarms": {..}}`.
    pub fn seed(&self, scenario: &Value) -> Value {
        let out = self.seed_py(&["seed"], Some(scenario.to_string()));
        serde_json::from_str(&out).expect("seed.py output is JSON")
    }

    /// Canonical state dump (default regions us-east-1, eu-west-1, us-west-2), comparable with `==`.
    pub fn dump(&self) -> Value {
        let out = self.seed_py(&["dump"], None);
        serde_json::from_str(&out).expect("seed.py dump is JSON")
    }

    /// Canonical state dump of the given regions.
    pub fn dump_regions(&self, regions: &[&str]) -> Value {
        let r = regions.join(",");
        let out = self.seed_py(&["dump", "--regions", &r], None);
        serde_json::from_str(&out).expect("seed.py dump is JSON")
    }

    /// Confirms every pending SNS subscription (the recipient "clicks the link").
    /// Returns `{"confirmed": [subscription arns]}`.
    pub fn confirm_subscriptions(&self) -> Value {
        self.control("POST", "/_cwfix/confirm-subscriptions", Some(&serde_json::json!({})))
    }

    /// Confirms pending subscriptions of one endpoint (e.g. an email address).
    pub fn confirm_subscription(&self, endpoint: &str) -> Value {
        self.control("POST", "/_cwfix/confirm-subscriptions", Some(&serde_json::json!({ "endpoint": endpoint })))
    }

    /// Stores alarm history items (`AlarmHistoryItem`s as DescribeAlarmHistory returns them) in
    /// `region` of the default account: what CloudWatch writes when an alarm acts, which moto
    /// never does. Returns `{"stored": n}`.
    pub fn add_alarm_history(&self, region: &str, items: &Value) -> Value {
        self.control("POST", "/_cwfix/alarm-history", Some(&serde_json::json!({"region": region, "items": items})))
    }

    /// `{"throttle_rate":0.3,"error_5xx_rate":0,"delay_ms":0,"seed":1,"services":["logs"],
    /// "operations":["PutMetricFilter"]}`; `json!({})` turns faults off. Returns the new config.
    pub fn set_faults(&self, faults: Value) -> Value {
        self.control("POST", "/_cwfix/faults", Some(&faults))
    }

    /// `{"calls": {service: {Operation: n}}, "faults": {service: {Operation: n}}, "total": n}`.
    /// Services: logs, cloudwatch, sns, sts, cloudtrail, s3. Calls made by seed.py are not counted.
    pub fn calls(&self) -> Value {
        self.control("GET", "/_cwfix/calls", None)
    }

    /// Number of calls of one operation, e.g. `calls_of("logs", "PutMetricFilter")`.
    pub fn calls_of(&self, service: &str, operation: &str) -> u64 {
        self.calls()["calls"][service][operation].as_u64().unwrap_or(0)
    }

    pub fn reset_calls(&self) {
        self.control("POST", "/_cwfix/calls/reset", None);
    }

    /// `POST /moto-api/reset`: wipes moto state and the launcher's own state (pending
    /// subscriptions, paging tokens, query definitions, call counters; faults back to startup).
    pub fn reset(&self) {
        let (status, body) = self.http("POST", "/moto-api/reset", None);
        assert_eq!(status, 200, "moto reset failed: {body}");
    }

    /// A JSON request to the launcher; panics unless HTTP 200.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let b = body.map(|v| v.to_string());
        let (status, text) = self.http(method, path, b.as_deref());
        assert_eq!(status, 200, "{method} {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: bad JSON ({e}): {text}"))
    }

    /// Minimal HTTP/1.1 client (no extra dependencies): returns (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let body = body.unwrap_or("");
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect to moto on port {}: {e}", self.port));
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(req.as_bytes()).expect("write request to moto");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read response from moto");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad HTTP response from moto: {text:?}"));
        (status, rest.to_string())
    }

    fn seed_py(&self, args: &[&str], stdin: Option<String>) -> String {
        let mut cmd = Command::new(venv_python());
        cmd.arg(moto_script("seed.py")).arg(self.url()).args(args);
        apply_aws_env(&mut cmd, self);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn seed.py");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).expect("write scenario to seed.py");
        }
        let out = child.wait_with_output().expect("wait for seed.py");
        if !out.status.success() {
            panic!(
                "seed.py {args:?} failed ({}):\n{}\nmoto log {}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.log_path.display(),
                self.log_tail(30)
            );
        }
        String::from_utf8(out.stdout).expect("seed.py output is UTF-8")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Keep the temp dir (log + workdir) for the post-mortem.
            let kept = std::mem::replace(
                &mut self.tmp,
                tempfile::Builder::new().prefix("cwfix-moto-x").tempdir().expect("tempdir"),
            );
            let path = kept.keep();
            eprintln!(
                "moto launcher log (kept): {}\n--- last lines ---\n{}",
                path.join("moto.log").display(),
                fs::read_to_string(path.join("moto.log"))
                    .map(|s| {
                        let v: Vec<&str> = s.lines().collect();
                        v[v.len().saturating_sub(15)..].join("\n")
                    })
                    .unwrap_or_default()
            );
        }
    }
}

/// Environment shared by cwfix, the aws CLI and seed.py: endpoint, dummy credentials,
/// region, no profiles, no IMDS, no colour.
fn aws_env(moto: &Moto) -> Vec<(String, String)> {
    let t = moto.tmp();
    vec![
        ("AWS_ENDPOINT_URL".into(), moto.url()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("NO_COLOR".into(), "1".into()),
        ("AWS_CONFIG_FILE".into(), t.join("no-aws-config").display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), t.join("no-aws-credentials").display().to_string()),
    ]
}

/// Variables removed so the developer's own AWS setup never leaks into a test.
fn aws_env_removed() -> Vec<String> {
    let mut v: Vec<String> = [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Per-service endpoint overrides would beat AWS_ENDPOINT_URL.
    v.extend(std::env::vars().map(|(k, _)| k).filter(|k| k.starts_with("AWS_ENDPOINT_URL_")));
    v
}

pub fn apply_aws_env(cmd: &mut Command, moto: &Moto) {
    for k in aws_env_removed() {
        cmd.env_remove(k);
    }
    for (k, v) in aws_env(moto) {
        cmd.env(k, v);
    }
}

/// The real `cwfix` binary, in `moto.workdir()`, talking to `moto`.
pub fn cwfix(moto: &Moto) -> assert_cmd::Command {
    cwfix_in(moto, moto.workdir())
}

/// The real `cwfix` binary in a given working directory.
pub fn cwfix_in(moto: &Moto, dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("cwfix").expect("cwfix binary");
    cmd.current_dir(dir);
    for k in aws_env_removed() {
        cmd.env_remove(k);
    }
    for (k, v) in aws_env(moto) {
        cmd.env(k, v);
    }
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// The venv's `aws` CLI (awscli v1) with the same environment as `cwfix`.
pub fn aws_cli(moto: &Moto) -> Command {
    let mut cmd = Command::new(venv_dir().join("bin").join("aws"));
    apply_aws_env(&mut cmd, moto);
    cmd.current_dir(moto.workdir());
    cmd
}

/// Runs `aws <args> --output json` and parses stdout; panics with stderr on failure.
pub fn aws_json(moto: &Moto, args: &[&str]) -> Value {
    let out = aws_cli(moto).args(args).args(["--output", "json"]).output().expect("run aws cli");
    assert!(out.status.success(), "aws {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).expect("aws cli output is JSON")
}

/// SDK config for direct Rust SDK clients against `moto`: endpoint, test credentials,
/// us-east-1, `BehaviorVersion::latest()`, fast retries (3 attempts, 10 ms initial backoff)
/// and timeouts so a wedged server fails the test instead of hanging it.
pub async fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    sdk_config_with(moto, "us-east-1", 3).await
}

pub async fn sdk_config_with(moto: &Moto, region: &str, max_attempts: u32) -> aws_config::SdkConfig {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let creds = aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "cwfix-it");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto.url())
        .http_client(cwfix::aws::live::http_client())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .retry_config(
            RetryConfig::standard().with_max_attempts(max_attempts).with_initial_backoff(Duration::from_millis(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}
