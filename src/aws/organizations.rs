//! AWS Organizations, read-only: the organization's accounts, or those under one
//! organizational unit. [`Organizations`] is the narrow trait `crate::org` walks; `Live`
//! implements it with aws-sdk-organizations (paginated, errors classified like every other
//! call). Which accounts to plan (ACTIVE only, `--ou`, `--exclude-accounts`) is decided in
//! `crate::org`, not here.

use super::live::classify;
use super::Result;
use aws_config::{Region, SdkConfig};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One account of the organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, ... (the account's `State`, or its older
    /// `Status` when the API gives no state).
    pub state: String,
}

impl OrgAccount {
    pub fn is_active(&self) -> bool {
        self.state == "ACTIVE"
    }
}

/// The calls `crate::org` needs.
#[allow(async_fn_in_trait)]
pub trait Organizations {
    /// Every account of the organization (ListAccounts).
    async fn accounts(&self) -> Result<Vec<OrgAccount>>;
    /// The accounts directly under a root or OU (ListAccountsForParent).
    async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<OrgAccount>>;
    /// The OUs directly under a root or OU (ListOrganizationalUnitsForParent).
    async fn units_for_parent(&self, parent: &str) -> Result<Vec<String>>;
}

/// Organizations through the SDK. The service is global (one endpoint per partition); a
/// configuration without a region gets `us-east-1`, where the `aws` partition's endpoint is.
pub struct Live {
    client: aws_sdk_organizations::Client,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Live {
    pub fn new(conf: &SdkConfig) -> Live {
        let mut b = aws_sdk_organizations::config::Builder::from(conf);
        if conf.region().is_none() {
            b = b.region(Region::new("us-east-1"));
        }
        Live { client: aws_sdk_organizations::Client::from_conf(b.build()), calls: Mutex::new(BTreeMap::new()) }
    }

    fn count(&self, action: &str) {
        *self.calls.lock().unwrap_or_else(|e| e.into_inner()).entry(action.to_string()).or_default() += 1;
    }

    /// API calls made so far, per IAM action (each page counts).
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn account(a: &aws_sdk_organizations::types::Account) -> OrgAccount {
    let state = match (a.state(), a.status()) {
        (Some(s), _) => s.as_str().to_string(),
        (None, Some(s)) => s.as_str().to_string(),
        (None, None) => "UNKNOWN".to_string(),
    };
    OrgAccount { id: a.id().unwrap_or_default().to_string(), name: a.name().unwrap_or_default().to_string(), state }
}

impl Organizations for Live {
    async fn accounts(&self) -> Result<Vec<OrgAccount>> {
        const A: &str = "organizations:ListAccounts";
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            out.extend(page.map_err(|e| classify(A, e))?.accounts().iter().map(account));
        }
        Ok(out)
    }

    async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<OrgAccount>> {
        const A: &str = "organizations:ListAccountsForParent";
        let mut pages = self.client.list_accounts_for_parent().parent_id(parent).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            out.extend(page.map_err(|e| classify(A, e))?.accounts().iter().map(account));
        }
        Ok(out)
    }

    async fn units_for_parent(&self, parent: &str) -> Result<Vec<String>> {
        const A: &str = "organizations:ListOrganizationalUnitsForParent";
        let mut pages = self.client.list_organizational_units_for_parent().parent_id(parent).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            self.count(A);
            let page = page.map_err(|e| classify(A, e))?;
            out.extend(page.organizational_units().iter().filter_map(|u| u.id().map(str::to_string)));
        }
        Ok(out)
    }
}
