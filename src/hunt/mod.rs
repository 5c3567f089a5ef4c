//! `cwfix hunt`: the subset of the CloudWatch Logs Insights query language that threat-hunting
//! queries use, evaluated locally over CloudTrail files (the same inputs as `backtest`).
//!
//! - [`parse`] turns query text into a [`Query`] or a [`ParseError`] with a caret display that
//!   names what is outside the subset (`parser`, `lexer`).
//! - [`run_local`] streams the records through the query on worker threads with bounded
//!   memory (`exec`, `eval`); records come from [`input`], the one function that reads files.
//! - [`output`] renders an [`Outcome`] as a table, JSON or CSV; the Athena and Insights engines
//!   produce the same `Outcome`, so every engine prints the same report.
//!
//! No AWS calls here and no terminal probing.

mod eval;
mod exec;
pub mod input;
mod lexer;
pub mod output;
mod parser;

use std::path::PathBuf;

pub use exec::{Options, MAX_GROUPS, ROW_CAP};
pub use parser::{
    parse, AggFunc, Aggregate, CmpOp, Command, ErrorKind, Expr, Func, LikePat, Number, ParseError, Projection, Query,
    RegexLit, SortKey,
};

/// Why a hunt could not run (unreadable *files* are not errors: see [`Stats::bad_files`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Query(#[from] ParseError),
    #[error(transparent)]
    Input(#[from] crate::backtest::Error),
    #[error("more than {0} distinct `stats ... by` groups; group by fewer or coarser fields")]
    TooManyGroups(usize),
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Files read successfully (local engine).
    pub files: u64,
    /// Files that could not be read: (name, why), sorted.
    pub bad_files: Vec<(String, String)>,
    pub records_scanned: u64,
    /// Records that passed every filter before `stats`/`sort`/`limit`.
    pub records_matched: u64,
    /// Bytes the engine scanned, when it says (Athena, Insights).
    pub bytes_scanned: Option<u64>,
}

/// The result of a query: named columns and rows of texts (null = absent), as Insights returns
/// them, plus counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub stats: Stats,
    /// More rows matched than were kept ([`ROW_CAP`] without an explicit `limit`).
    pub truncated: bool,
}

/// Run `q` locally over the CloudTrail files under `paths` (none: stdin).
pub fn run_local(q: &Query, paths: &[PathBuf], opts: &Options) -> Result<Outcome, Error> {
    exec::run(q, paths, opts)
}

#[cfg(test)]
mod tests;
