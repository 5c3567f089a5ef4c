//! cwfix: hold the CIS AWS Foundations monitoring chain (multi-region trail -> CloudWatch Logs
//! log group -> metric filter -> metric -> alarm -> SNS topic -> confirmed subscription)
//! against a declarative baseline.
//!
//! Dependencies point one way: `cli -> {apply, rollback, discover} -> {plan, journal, aws} ->
//! {baseline, pattern, model}`. `plan`, `render`, `pattern` and `baseline` never touch the SDK.

pub mod apply;
pub mod athena;
pub mod aws;
pub mod backtest;
pub mod baseline;
pub mod cli;
pub mod discover;
pub mod emit;
pub mod events;
pub mod hunt;
pub mod iam;
pub mod journal;
pub mod model;
pub mod observe;
pub mod org;
pub mod pattern;
pub mod plan;
pub mod render;
pub mod rollback;
pub mod satisfy;
pub mod scanner;
#[cfg(test)]
mod shipped_tests;
#[cfg(test)]
mod testkit;
