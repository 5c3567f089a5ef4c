//! Sessions in other accounts: the caller's configuration, entered into a member account
//! through an IAM role (STS AssumeRole). SDK types stop here: callers get an `SdkConfig` to
//! hand to [`super::live::Live`] and the other adapters, or an [`Error`].
//!
//! The role is assumed once, eagerly, with the caller's credentials, so a role that does not
//! exist or does not trust the caller fails here as `sts:AssumeRole` AccessDenied (not later,
//! as an opaque credentials error of the first call). Those first credentials are handed to
//! the member's clients; when they expire, the SDK's own AssumeRole provider refreshes them.
//! The configuration (HTTP client and its connection pool, retries, timeouts, region) is the
//! caller's, cloned: nothing is loaded again per account.

use super::live::classify;
use super::{Error, Result};
use aws_config::SdkConfig;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;
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

/// The caller's configuration, acting in another account through `role_arn`.
pub async fn enter(base: &SdkConfig, role_arn: &str) -> Result<SdkConfig> {
    const A: &str = "sts:AssumeRole";
    let sts = aws_sdk_sts::Client::new(base);
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
    let refresh =
        aws_config::sts::AssumeRoleProvider::builder(role_arn).session_name(SESSION_NAME).configure(base).build().await;
    let primed = Primed { first: Mutex::new(Some(first)), refresh };
    Ok(base.to_builder().credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(primed)).build())
}

/// The credentials of the AssumeRole just made, then the SDK's provider for every refresh.
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
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        match first {
            Some(c) => future::ProvideCredentials::ready(provider::Result::Ok(c)),
            None => self.refresh.provide_credentials(),
        }
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
