//! The single integration-test binary: the real `cwfix` against moto in server mode.
//! Setup: `bash scripts/setup-moto.sh` (the tests fail, not skip, without it).

mod util;

mod accounts;
mod apply;
mod auditor;
mod backtest_cli;
mod common;
mod emit;
mod faults;
mod findings;
mod hunt_cli;
mod hunting;
mod kms;
mod operator;
mod org;
mod pattern_cli;
mod permissions;
mod plan;
mod safety;
mod state_s3;
mod testbed;
