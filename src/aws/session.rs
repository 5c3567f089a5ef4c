//! Sessions: the caller's own configuration, or the caller entered into another account through
//! an IAM role (STS AssumeRole). A [`Session`] hands out the adapters (`cloud`,
//! `organizations`, `findings_hub`); the SDK's configuration type stays inside it.
//!
//! The role is assumed once, eagerly, with the caller's credentials, so a role that does not
//! exist or does not trust the caller fails here as `sts:AssumeRole` AccessDenied (not later,
//! as an opaque credentials error of the first call). Those first credentials are handed to
//! the member's clients; when they expire, the SDK's own AssumeRole provider refreshes them.
//! Everything else (HTTP client and its connection pool, retries, timeouts, region) is the
//! caller's, shared: nothing is loaded again per account.

use super::live::{classify, ConnectOptions, Live};
use super::{organizations, securityhub, Error, Result};
use aws_config::SdkConfig;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_sts::config::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{HttpConnectorSettings, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::Mutex;

/// The session name member accounts see in CloudTrail (`assumed-role/<role>/cwfix`).
pub const SESSION_NAME: &str = "cwfix";

/// `arn:<partition>:iam::<account>:role/<name>` (a name may carry a path: `path/name`).
pub fn role_arn(partition: &str, account: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{}", role_name.trim_start_matches('/'))
}

/// The account id in a role ARN, if it is one.
pub fn account_of_role(role_arn: &str) -> Option<&str> {
    let mut parts = role_arn.split(':');
    let (arn, _, iam, _, account) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (arn == "arn" && iam == "iam" && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then_some(account)
}

/// One identity in one account: what the adapters are built from.
#[derive(Debug, Clone)]
pub struct Session {
    conf: SdkConfig,
}

impl Session {
    /// The caller's own session (`--profile`, region, retries as `live::sdk_config` sets them).
    pub async fn connect(opts: &ConnectOptions) -> Session {
        let conf = super::live::sdk_config(opts).await;
        let conf = match conf.http_client() {
            Some(http) => conf.to_builder().http_client(SharedHttpClient::new(Shared(http))).build(),
            None => conf,
        };
        Session { conf }
    }

    /// The region the configuration resolved, if any.
    pub fn region(&self) -> Option<String> {
        super::live::default_region(&self.conf)
    }

    /// [`crate::aws::CloudApi`] in this session's account.
    pub fn cloud(&self) -> Live {
        Live::new(&self.conf)
    }

    pub fn organizations(&self) -> organizations::Live {
        organizations::Live::new(&self.conf)
    }

    pub fn findings_hub(&self) -> securityhub::Live {
        securityhub::Live::new(&self.conf)
    }

    /// This session's identity, acting in another account through `role_arn`.
    pub async fn enter(&self, role_arn: &str) -> Result<Session> {
        const A: &str = "sts:AssumeRole";
        let sts = aws_sdk_sts::Client::new(&self.conf);
        let out = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(SESSION_NAME)
            .send()
            .await
            .map_err(|e| classify(A, e))?;
        let c = out.credentials().ok_or_else(|| Error::Service {
            action: A.into(),
            code: "NoCredentials".into(),
            message: format!("AssumeRole of `{role_arn}` returned no credentials"),
        })?;
        let first = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "cwfix-assume-role",
        );
        let refresh = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(SESSION_NAME)
            .configure(&self.conf)
            .build()
            .await;
        let primed = Primed { first: Mutex::new(Some(first)), refresh };
        let provider = aws_sdk_sts::config::SharedCredentialsProvider::new(primed);
        Ok(Session { conf: self.conf.to_builder().credentials_provider(provider).build() })
    }
}

/// The credentials of the AssumeRole just made while they last, then the SDK's provider.
#[derive(Debug)]
struct Primed {
    first: Mutex<Option<Credentials>>,
    refresh: aws_config::sts::AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        // Handed out until five minutes before they expire, not just once: the first calls of
        // an account run at once (one per region), and each one the SDK's identity cache lets
        // through must not cost another AssumeRole.
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fresh = |c: &Credentials| {
            c.expiry().is_none_or(|e| e > std::time::SystemTime::now() + std::time::Duration::from_secs(300))
        };
        match first {
            Some(c) if fresh(&c) => future::ProvideCredentials::ready(provider::Result::Ok(c)),
            _ => self.refresh.provide_credentials(),
        }
    }
}

/// The caller's HTTP client as every client of every session sees it. The SDK's client builds
/// a whole TLS connector (rustls config, native roots read from disk) each time a service
/// client is made, only to load the roots early, and throws it away; with a client per
/// service, region and account that was a tenth of `plan --org`'s CPU. The connector itself is
/// made once, on first use, and shared: it is cached inside the wrapped client.
#[derive(Debug)]
struct Shared(SharedHttpClient);

impl HttpClient for Shared {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> std::result::Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> std::result::Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account() {
        let arn = role_arn("aws", "210987654321", "/OrganizationAccountAccessRole");
        assert_eq!(arn, "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole");
        assert_eq!(account_of_role(&arn), Some("210987654321"));
        assert_eq!(account_of_role("arn:aws:iam::2109:role/x"), None);
        assert_eq!(account_of_role("not an arn"), None);
    }
}
