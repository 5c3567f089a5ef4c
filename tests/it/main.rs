//! The single integration-test binary: the real `cwfix` against moto in server mode.
//! Setup: `bash scripts/setup-moto.sh` (the tests fail, not skip, without it).

mod util;

mod accounts;
mod apply;
mod common;
mod faults;
mod hunt_cli;
mod hunting;
mod kms;
mod permissions;
mod plan;
mod testbed;
