//! The bucket behind a state in S3 (`journal::s3`): the narrow [`Objects`] trait the journal
//! needs (create-if-absent, get, list, delete), implemented over aws-sdk-s3 by [`Bucket`] and in
//! memory by [`Memory`] for unit tests. SDK types and errors stop here, as in `live`.
//!
//! Nothing is ever overwritten: the only write is [`Objects::create`], a PutObject with
//! `If-None-Match: *`, which S3 refuses (412) when the key exists. Every object is written with
//! server-side encryption (SSE-S3 `AES256`, or SSE-KMS with a given key) and without an ACL
//! header: objects stay private to the bucket owner's account, buckets that enforce object
//! ownership (the default since 2023) accept the puts, and no `s3:PutObjectAcl` is needed.

use super::live::classify;
use super::{Error, Result};
use aws_config::{Region, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

/// IAM actions of the calls below (`iam::STATE_S3_ACTIONS` lists them; a test keeps them in step).
const LIST_BUCKET: &str = "s3:ListBucket";
const GET_OBJECT: &str = "s3:GetObject";
const PUT_OBJECT: &str = "s3:PutObject";
const DELETE_OBJECT: &str = "s3:DeleteObject";

/// Server-side encryption of every object cwfix writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Encryption {
    /// SSE-S3 (`AES256`).
    #[default]
    S3Managed,
    /// SSE-KMS with this key (id, ARN or `alias/...`).
    Kms(String),
}

/// Objects in one bucket, as the journal uses them. The futures are boxed so that a store can
/// hold `Arc<dyn Objects>` (the real bucket, or memory in tests).
pub trait Objects: Send + Sync {
    /// `s3://bucket/key`, for messages.
    fn url(&self, key: &str) -> String;
    /// Writes `key` only if it does not exist: `Ok(true)` written, `Ok(false)` it existed.
    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<bool>>;
    /// The object's bytes; `None` when there is no such key.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;
    /// Every key that starts with `prefix`, sorted.
    fn keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;
    /// The names of the "directories" right under `prefix` (which ends with `/`), sorted.
    fn dirs<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;
    /// Deletes `key` (no error when it is already gone).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;
}

/// A real S3 bucket.
pub struct Bucket {
    client: aws_sdk_s3::Client,
    name: String,
    encryption: Encryption,
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// The HTTP status of a failed call, if it got an answer.
fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

impl Bucket {
    /// Connects to bucket `name` with the command's SDK configuration. A HeadBucket first finds
    /// the bucket's own region (which need not be the one cwfix scans: S3 answers a request
    /// signed for another region with a redirect the SDK does not follow) and tells a missing
    /// bucket or a denied caller apart before anything is written.
    pub async fn connect(conf: &SdkConfig, name: &str, encryption: Encryption) -> Result<Bucket> {
        let region = conf.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let client = |region: &str| {
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(conf).region(Region::new(region.to_string())).build(),
            )
        };
        let bucket = Bucket { client: client(&region), name: name.to_string(), encryption };
        match bucket.client.head_bucket().bucket(name).send().await {
            Ok(out) => match out.bucket_region() {
                Some(r) if r != region => Ok(Bucket { client: client(r), ..bucket }),
                _ => Ok(bucket),
            },
            Err(e) => {
                let moved = e.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_string);
                match (status(&e), moved) {
                    (_, Some(r)) if r != region => {
                        let bucket = Bucket { client: client(&r), ..bucket };
                        bucket.client.head_bucket().bucket(name).send().await.map_err(|e| bucket.head_error(e))?;
                        Ok(bucket)
                    }
                    _ => Err(bucket.head_error(e)),
                }
            }
        }
    }

    /// HeadBucket answers without a body, so its errors are told apart by status.
    fn head_error<E>(&self, e: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let action = LIST_BUCKET.to_string();
        match status(&e) {
            Some(404) => Error::NotFound { action, message: format!("bucket `{}` does not exist", self.name) },
            Some(403) => Error::AccessDenied {
                action,
                message: format!("the caller may not list bucket `{}` (or it belongs to another account)", self.name),
            },
            _ => classify(LIST_BUCKET, e),
        }
    }

    /// S3's codes the journal cares about; the rest as everywhere (`live::classify`).
    fn error<E>(&self, action: &str, e: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if code(&e) == Some("NoSuchBucket") {
            return Error::NotFound {
                action: action.into(),
                message: format!("bucket `{}` does not exist", self.name),
            };
        }
        classify(action, e)
    }

    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool> {
        // 409 ConditionalRequestConflict: another conditional write to the key was in flight.
        // Trying again gives 412 if it won, or success if it failed.
        for attempt in 0.. {
            let req = self
                .client
                .put_object()
                .bucket(&self.name)
                .key(key)
                .content_type("application/json")
                .if_none_match("*")
                .body(ByteStream::from(body.clone()));
            let req = match &self.encryption {
                Encryption::S3Managed => req.server_side_encryption(ServerSideEncryption::Aes256),
                Encryption::Kms(k) => req.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k),
            };
            match req.send().await {
                Ok(_) => return Ok(true),
                Err(e) if status(&e) == Some(412) || code(&e) == Some("PreconditionFailed") => return Ok(false),
                Err(e)
                    if (status(&e) == Some(409) || code(&e) == Some("ConditionalRequestConflict")) && attempt < 3 =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
                Err(e) => return Err(self.error(PUT_OBJECT, e)),
            }
        }
        unreachable!("the loop returns")
    }

    async fn fetch(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.client.get_object().bucket(&self.name).key(key).send().await {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| Error::Transport {
                    action: GET_OBJECT.into(),
                    message: format!("reading `{}`: {e}", self.url(key)),
                })?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) || code(&e) == Some("NoSuchKey") => {
                Ok(None)
            }
            Err(e) => Err(self.error(GET_OBJECT, e)),
        }
    }

    async fn list(&self, prefix: &str, delimiter: bool) -> Result<Vec<String>> {
        let mut req = self.client.list_objects_v2().bucket(&self.name).prefix(prefix);
        if delimiter {
            req = req.delimiter("/");
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(LIST_BUCKET, e))?;
            if delimiter {
                out.extend(
                    page.common_prefixes()
                        .iter()
                        .filter_map(|p| p.prefix())
                        .filter_map(|p| p.strip_prefix(prefix))
                        .map(|p| p.trim_end_matches('/').to_string()),
                );
            } else {
                out.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_string));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error(DELETE_OBJECT, e))?;
        Ok(())
    }
}

impl Objects for Bucket {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }
    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<bool>> {
        self.put_if_absent(key, body).boxed()
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.fetch(key).boxed()
    }
    fn keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        self.list(prefix, false).boxed()
    }
    fn dirs<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        self.list(prefix, true).boxed()
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        self.remove(key).boxed()
    }
}

/// An in-memory bucket for unit tests, with S3's create-if-absent rule and a fault switch.
#[cfg(test)]
#[derive(Default)]
pub struct Memory {
    pub objects: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    /// Creates left before every later create fails (as if access were revoked mid-run).
    pub creates_left: std::sync::Mutex<Option<usize>>,
}

#[cfg(test)]
impl Memory {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Vec<u8>>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
impl Objects for Memory {
    fn url(&self, key: &str) -> String {
        format!("s3://memory/{key}")
    }
    fn create<'a>(&'a self, key: &'a str, body: Vec<u8>) -> BoxFuture<'a, Result<bool>> {
        let mut left = self.creates_left.lock().unwrap_or_else(|e| e.into_inner());
        let r = match left.as_mut() {
            Some(0) => Err(Error::AccessDenied { action: PUT_OBJECT.into(), message: "denied (test)".into() }),
            _ => {
                if let Some(n) = left.as_mut() {
                    *n -= 1;
                }
                let mut map = self.map();
                Ok(if map.contains_key(key) {
                    false
                } else {
                    map.insert(key.to_string(), body);
                    true
                })
            }
        };
        futures_util::future::ready(r).boxed()
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        futures_util::future::ready(Ok(self.map().get(key).cloned())).boxed()
    }
    fn keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        let keys = self.map().keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        futures_util::future::ready(Ok(keys)).boxed()
    }
    fn dirs<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        let mut dirs: Vec<String> = self
            .map()
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .filter_map(|rest| rest.split_once('/').map(|(d, _)| d.to_string()))
            .collect();
        dirs.dedup();
        futures_util::future::ready(Ok(dirs)).boxed()
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        self.map().remove(key);
        futures_util::future::ready(Ok(())).boxed()
    }
}
