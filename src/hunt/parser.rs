//! The syntax tree of a query and its parser.
//!
//! Owns the subset of the CloudWatch Logs Insights language that threat-hunting queries use:
//! `fields` (with `as`, `coalesce`, `concat`), `filter` (`like`/`not like` with strings or
//! `/regex/`, `=~`, `=`, `!=`, `<`, `>`, `<=`, `>=`, `in [...]`/`not in`, `and`, `or`, `not`,
//! parentheses, `ispresent`), `stats count|sum|avg|min|max(...) [as x] ... by f1, f2`,
//! `sort f [asc|desc], ...`, `limit N` and `display`. Anything else is a [`ParseError`] that
//! names the unsupported command or function and points at it with a caret. No evaluation here.

use std::fmt;

use regex::Regex;

use super::lexer::{lex, Spanned, Tok};

/// Why a query was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Empty,
    UnexpectedChar {
        ch: char,
    },
    UnterminatedString,
    UnterminatedRegex,
    UnterminatedBacktick,
    BadNumber {
        text: String,
    },
    BadRegex {
        message: String,
    },
    UnsupportedCommand {
        name: String,
    },
    UnsupportedFunction {
        name: String,
    },
    UnsupportedAggregate {
        name: String,
    },
    Unexpected {
        found: String,
        expected: &'static str,
    },
    NotACondition,
    BadLimit,
    /// A command in a place cwfix cannot stream (e.g. `filter` after `sort`).
    Unsupported {
        what: String,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Empty => f.write_str("empty query"),
            UnexpectedChar { ch } => write!(f, "unexpected character `{}`", ch.escape_debug()),
            UnterminatedString => f.write_str("unterminated string (missing closing quote)"),
            UnterminatedRegex => f.write_str("unterminated regular expression (missing closing `/`)"),
            UnterminatedBacktick => f.write_str("unterminated field name (missing closing backtick)"),
            BadNumber { text } => write!(f, "`{text}` is not a number"),
            BadRegex { message } => write!(f, "invalid regular expression: {message}"),
            UnsupportedCommand { name } => write!(
                f,
                "unsupported command `{name}`: cwfix evaluates `fields`, `filter`, `stats`, `sort`, `limit` and `display`"
            ),
            UnsupportedFunction { name } => write!(
                f,
                "unsupported function `{name}`: cwfix supports `coalesce`, `concat` and `ispresent` \
                 (and `count`, `sum`, `avg`, `min`, `max` in `stats`)"
            ),
            UnsupportedAggregate { name } => write!(
                f,
                "unsupported `stats` function `{name}`: cwfix supports `count`, `sum`, `avg`, `min` and `max`"
            ),
            Unexpected { found, expected } => write!(f, "unexpected {found}; expected {expected}"),
            NotACondition => {
                f.write_str("expected a condition (a comparison, `like`, `in`, `ispresent(...)`, `not`, `and`, `or`)")
            }
            BadLimit => f.write_str("`limit` needs a positive whole number"),
            Unsupported { what } => f.write_str(what),
        }
    }
}

/// A rejected query: what is wrong and at which byte offset. `Display` renders the message,
/// the query line and a caret under the offending place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub kind: ErrorKind,
    pub query: String,
}

impl std::error::Error for ParseError {}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid query: {}", self.kind)?;
        // Show the line of the query that holds the offset, and at most ~100 characters of it.
        let off = floor_char_boundary(&self.query, self.offset.min(self.query.len()));
        let line_start = self.query[..off].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = self.query[off..].find('\n').map(|i| off + i).unwrap_or(self.query.len());
        let line: Vec<char> = self.query[line_start..line_end].chars().collect();
        let col = self.query[line_start..off].chars().count();
        const BEFORE: usize = 60;
        const AFTER: usize = 40;
        let start = col.saturating_sub(BEFORE);
        let end = (col + AFTER).min(line.len());
        let mut shown = String::from("  ");
        if start > 0 {
            shown.push_str("...");
        }
        let caret = shown.chars().count() + (col - start);
        for &c in &line[start..end] {
            shown.push(if c.is_control() { ' ' } else { c });
        }
        if end < line.len() {
            shown.push_str("...");
        }
        writeln!(f, "{}", shown.trim_end())?;
        write!(f, "{}^", " ".repeat(caret))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

// ---------------------------------------------------------------------------------------- AST

/// A number literal: its text and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub text: String,
    pub value: f64,
}

/// A `/regex/` literal, compiled once.
#[derive(Debug, Clone)]
pub struct RegexLit {
    pub src: String,
    pub re: Regex,
}

impl PartialEq for RegexLit {
    fn eq(&self, o: &Self) -> bool {
        self.src == o.src
    }
}

/// Comparison operators: the same six, spelled the same, as the filter-pattern language's.
pub use crate::pattern::ast::CmpOp;

/// Scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// The first argument that is not null.
    Coalesce,
    /// The arguments' texts joined (null as empty; null when every argument is null).
    Concat,
    /// True when the field has a value.
    IsPresent,
}

impl Func {
    pub fn as_str(self) -> &'static str {
        match self {
            Func::Coalesce => "coalesce",
            Func::Concat => "concat",
            Func::IsPresent => "ispresent",
        }
    }
}

/// What `like` / `=~` matches against.
#[derive(Debug, Clone, PartialEq)]
pub enum LikePat {
    /// Substring, case-sensitive.
    Str(String),
    /// Regular expression search.
    Regex(RegexLit),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field: `eventName`, `userIdentity.type`, `resources.0.ARN`, `@timestamp`, `@message`,
    /// or a name given earlier with `as`.
    Field(String),
    Str(String),
    Num(Number),
    Call(Func, Vec<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Like {
        negated: bool,
        expr: Box<Expr>,
        pat: LikePat,
    },
    In {
        negated: bool,
        expr: Box<Expr>,
        list: Vec<Expr>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    /// Does this expression produce a truth value (usable as a `filter`)?
    pub fn is_condition(&self) -> bool {
        matches!(
            self,
            Expr::Cmp(..)
                | Expr::Like { .. }
                | Expr::In { .. }
                | Expr::Not(_)
                | Expr::And(_)
                | Expr::Or(_)
                | Expr::Call(Func::IsPresent, _)
        )
    }

    /// Every field name the expression reads, in order.
    pub fn fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Field(f) => out.push(f),
            Expr::Str(_) | Expr::Num(_) => {}
            Expr::Call(_, a) | Expr::And(a) | Expr::Or(a) => a.iter().for_each(|e| e.fields(out)),
            Expr::Cmp(_, l, r) => {
                l.fields(out);
                r.fields(out);
            }
            Expr::Like { expr, .. } => expr.fields(out),
            Expr::In { expr, list, .. } => {
                expr.fields(out);
                list.iter().for_each(|e| e.fields(out));
            }
            Expr::Not(e) => e.fields(out),
        }
    }
}

/// `expr [as name]` in `fields` or `stats ... by`.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub expr: Expr,
    /// The alias, or the expression's text (a field's own name).
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggFunc {
    pub fn as_str(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
        }
    }
}

/// One `stats` function: `count(*)`, `count(f)`, `sum(f)`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub func: AggFunc,
    /// `None` for `count(*)` / `count()`.
    pub arg: Option<Expr>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub field: String,
    pub desc: bool,
}

/// One command of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Fields(Vec<Projection>),
    Display(Vec<String>),
    Filter(Expr),
    Stats { aggs: Vec<Aggregate>, by: Vec<Projection> },
    Sort(Vec<SortKey>),
    Limit(u64),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Fields(_) => "fields",
            Command::Display(_) => "display",
            Command::Filter(_) => "filter",
            Command::Stats { .. } => "stats",
            Command::Sort(_) => "sort",
            Command::Limit(_) => "limit",
        }
    }
}

/// A parsed query: its text and commands, each with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub source: String,
    pub commands: Vec<(usize, Command)>,
}

impl Query {
    /// The columns the result shows: the names of every `fields` command (in order) unless a
    /// `display` names them, the `stats` outputs (`by` names, then the functions), or
    /// Insights' default `@timestamp, @message`.
    pub fn columns(&self) -> Vec<String> {
        let mut shown: Option<Vec<String>> = None;
        let push = |v: &mut Vec<String>, n: &str| {
            if !v.iter().any(|x| x == n) {
                v.push(n.to_string());
            }
        };
        for (_, c) in &self.commands {
            match c {
                Command::Fields(ps) => ps.iter().for_each(|p| push(shown.get_or_insert_with(Vec::new), &p.name)),
                Command::Display(d) => {
                    let mut v = Vec::new();
                    d.iter().for_each(|n| push(&mut v, n));
                    shown = Some(v);
                }
                Command::Stats { aggs, by } => {
                    shown = Some(by.iter().map(|p| p.name.clone()).chain(aggs.iter().map(|a| a.name.clone())).collect())
                }
                _ => {}
            }
        }
        shown.unwrap_or_else(|| vec!["@timestamp".into(), "@message".into()])
    }

    /// An error about this query at `offset`.
    pub fn error(&self, offset: usize, what: impl Into<String>) -> ParseError {
        ParseError { offset, kind: ErrorKind::Unsupported { what: what.into() }, query: self.source.clone() }
    }
}

// ---------------------------------------------------------------------------------------- parser

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Spanned>,
    pos: usize,
}

type R<T> = Result<T, ParseError>;

/// Parse a query.
pub fn parse(src: &str) -> R<Query> {
    let toks = lex(src)?;
    let mut p = Parser { src, toks, pos: 0 };
    let mut commands = Vec::new();
    if matches!(p.peek(), Tok::Eof) {
        return Err(p.err_here(ErrorKind::Empty));
    }
    loop {
        let start = p.start();
        commands.push((start, p.command()?));
        match p.peek() {
            Tok::Pipe => p.pos += 1,
            Tok::Eof => break,
            _ => return Err(p.unexpected("`|` or the end of the query")),
        }
    }
    Ok(Query { source: src.to_string(), commands })
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn start(&self) -> usize {
        self.toks[self.pos].start
    }

    fn next(&mut self) -> Spanned {
        let t = self.toks[self.pos].clone();
        if !matches!(t.tok, Tok::Eof) {
            self.pos += 1;
        }
        t
    }

    fn err_at(&self, offset: usize, kind: ErrorKind) -> ParseError {
        ParseError { offset, kind, query: self.src.to_string() }
    }

    fn err_here(&self, kind: ErrorKind) -> ParseError {
        self.err_at(self.start(), kind)
    }

    fn unexpected(&self, expected: &'static str) -> ParseError {
        self.err_here(ErrorKind::Unexpected { found: self.peek().describe(), expected })
    }

    /// Is the next token the (unquoted, case-insensitive) keyword `kw`?
    fn at_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident { text, quoted: false } if text.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.at_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: Tok, expected: &'static str) -> R<()> {
        if *self.peek() == tok {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn command(&mut self) -> R<Command> {
        let t = self.next();
        let name = match &t.tok {
            Tok::Ident { text, quoted: false } => text.to_ascii_lowercase(),
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("a command (`fields`, `filter`, `stats`, `sort`, `limit`, `display`)"));
            }
        };
        match name.as_str() {
            "fields" => Ok(Command::Fields(self.projections()?)),
            "display" => {
                let mut names = vec![self.field_name()?];
                while matches!(self.peek(), Tok::Comma) {
                    self.pos += 1;
                    names.push(self.field_name()?);
                }
                Ok(Command::Display(names))
            }
            "filter" => {
                let at = self.start();
                let e = self.expr()?;
                if !e.is_condition() {
                    return Err(self.err_at(at, ErrorKind::NotACondition));
                }
                Ok(Command::Filter(e))
            }
            "stats" => self.stats(),
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let field = self.field_name()?;
                    let desc = if self.eat_kw("desc") {
                        true
                    } else {
                        self.eat_kw("asc");
                        false
                    };
                    keys.push(SortKey { field, desc });
                    if !matches!(self.peek(), Tok::Comma) {
                        break;
                    }
                    self.pos += 1;
                }
                Ok(Command::Sort(keys))
            }
            "limit" => match self.next().tok {
                Tok::Num(n) => match n.parse::<u64>() {
                    Ok(v) if v > 0 => Ok(Command::Limit(v)),
                    _ => Err(self.err_at(self.toks[self.pos - 1].start, ErrorKind::BadLimit)),
                },
                _ => {
                    self.pos -= 1;
                    Err(self.err_here(ErrorKind::BadLimit))
                }
            },
            other => Err(self.err_at(t.start, ErrorKind::UnsupportedCommand { name: other.to_string() })),
        }
    }

    fn field_name(&mut self) -> R<String> {
        match self.peek().clone() {
            Tok::Ident { text, .. } => {
                self.pos += 1;
                Ok(text)
            }
            _ => Err(self.unexpected("a field name")),
        }
    }

    /// `expr [as name], ...`
    fn projections(&mut self) -> R<Vec<Projection>> {
        let mut out = Vec::new();
        loop {
            let start = self.start();
            let expr = self.expr()?;
            let end = self.toks[self.pos - 1].end;
            let name = if self.eat_kw("as") {
                self.field_name()?
            } else {
                match &expr {
                    Expr::Field(f) => f.clone(),
                    _ => self.src[start..end].trim().to_string(),
                }
            };
            out.push(Projection { expr, name });
            if !matches!(self.peek(), Tok::Comma) {
                return Ok(out);
            }
            self.pos += 1;
        }
    }

    fn stats(&mut self) -> R<Command> {
        let mut aggs = Vec::new();
        loop {
            let start = self.start();
            let fname = match self.next().tok {
                Tok::Ident { text, quoted: false } => text,
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("a stats function such as `count(*)`"));
                }
            };
            let func = match fname.to_ascii_lowercase().as_str() {
                "count" => AggFunc::Count,
                "sum" => AggFunc::Sum,
                "avg" => AggFunc::Avg,
                "min" => AggFunc::Min,
                "max" => AggFunc::Max,
                _ => return Err(self.err_at(start, ErrorKind::UnsupportedAggregate { name: fname })),
            };
            self.expect(Tok::LParen, "`(`")?;
            let arg = match self.peek() {
                Tok::Star if func == AggFunc::Count => {
                    self.pos += 1;
                    None
                }
                Tok::RParen if func == AggFunc::Count => None,
                _ => Some(self.expr()?),
            };
            self.expect(Tok::RParen, "`)`")?;
            let end = self.toks[self.pos - 1].end;
            let name = if self.eat_kw("as") { self.field_name()? } else { self.src[start..end].to_string() };
            aggs.push(Aggregate { func, arg, name });
            if !matches!(self.peek(), Tok::Comma) {
                break;
            }
            self.pos += 1;
        }
        let by = if self.eat_kw("by") { self.projections()? } else { Vec::new() };
        Ok(Command::Stats { aggs, by })
    }

    // ---- expressions: or > and > not > comparison > operand

    fn expr(&mut self) -> R<Expr> {
        let mut parts = vec![self.and()?];
        while self.eat_kw("or") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> R<Expr> {
        let mut parts = vec![self.unary()?];
        while self.eat_kw("and") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Expr::And(parts) })
    }

    fn unary(&mut self) -> R<Expr> {
        if self.at_kw("not") {
            let at = self.start();
            self.pos += 1;
            let e = self.unary()?;
            if !e.is_condition() {
                return Err(self.err_at(at, ErrorKind::NotACondition));
            }
            return Ok(Expr::Not(Box::new(e)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> R<Expr> {
        let left = self.operand()?;
        if let Tok::Op(op) = self.peek().clone() {
            self.pos += 1;
            if op == "=~" {
                let pat = self.like_pattern(true)?;
                return Ok(Expr::Like { negated: false, expr: Box::new(left), pat });
            }
            let op = match op {
                "=" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                ">" => CmpOp::Gt,
                "<=" => CmpOp::Le,
                _ => CmpOp::Ge,
            };
            let right = self.operand()?;
            return Ok(Expr::Cmp(op, Box::new(left), Box::new(right)));
        }
        let negated = if self.at_kw("not") {
            let save = self.pos;
            self.pos += 1;
            if self.at_kw("like") || self.at_kw("in") {
                true
            } else {
                self.pos = save;
                return Ok(left);
            }
        } else {
            false
        };
        if self.eat_kw("like") {
            let pat = self.like_pattern(false)?;
            return Ok(Expr::Like { negated, expr: Box::new(left), pat });
        }
        if self.eat_kw("in") {
            self.expect(Tok::LBracket, "`[`")?;
            let mut list = Vec::new();
            if !matches!(self.peek(), Tok::RBracket) {
                loop {
                    list.push(self.literal()?);
                    if !matches!(self.peek(), Tok::Comma) {
                        break;
                    }
                    self.pos += 1;
                }
            }
            self.expect(Tok::RBracket, "`,` or `]`")?;
            return Ok(Expr::In { negated, expr: Box::new(left), list });
        }
        Ok(left)
    }

    fn like_pattern(&mut self, regex_only: bool) -> R<LikePat> {
        let t = self.next();
        match t.tok {
            Tok::Str(s) if !regex_only => Ok(LikePat::Str(s)),
            Tok::Regex(src) => match Regex::new(&src) {
                Ok(re) => Ok(LikePat::Regex(RegexLit { src, re })),
                Err(e) => Err(self.err_at(
                    t.start,
                    ErrorKind::BadRegex { message: e.to_string().lines().last().unwrap_or("").trim().to_string() },
                )),
            },
            _ => {
                self.pos -= 1;
                Err(self.unexpected(if regex_only { "a /regex/" } else { "a string or a /regex/" }))
            }
        }
    }

    fn literal(&mut self) -> R<Expr> {
        match self.next().tok {
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Num(n) => Ok(Expr::Num(number(n))),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("a string or a number"))
            }
        }
    }

    fn operand(&mut self) -> R<Expr> {
        let t = self.next();
        match t.tok {
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Num(n) => Ok(Expr::Num(number(n))),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::Ident { text, quoted } => {
                if !quoted && matches!(self.peek(), Tok::LParen) {
                    let func = match text.to_ascii_lowercase().as_str() {
                        "coalesce" => Func::Coalesce,
                        "concat" => Func::Concat,
                        "ispresent" => Func::IsPresent,
                        _ => return Err(self.err_at(t.start, ErrorKind::UnsupportedFunction { name: text })),
                    };
                    self.pos += 1;
                    let mut args = Vec::new();
                    if !matches!(self.peek(), Tok::RParen) {
                        loop {
                            args.push(self.expr()?);
                            if !matches!(self.peek(), Tok::Comma) {
                                break;
                            }
                            self.pos += 1;
                        }
                    }
                    self.expect(Tok::RParen, "`,` or `)`")?;
                    let ok = match func {
                        Func::IsPresent => args.len() == 1 && matches!(args[0], Expr::Field(_)),
                        _ => !args.is_empty(),
                    };
                    if !ok {
                        let what = match func {
                            Func::IsPresent => "`ispresent` takes one field".to_string(),
                            f => format!("`{}` needs at least one argument", f.as_str()),
                        };
                        return Err(self.err_at(t.start, ErrorKind::Unsupported { what }));
                    }
                    return Ok(Expr::Call(func, args));
                }
                Ok(Expr::Field(text))
            }
            _ => {
                self.pos -= 1;
                Err(self.unexpected("a field, a string, a number or `(`"))
            }
        }
    }
}

fn number(text: String) -> Number {
    let value = text.parse().unwrap_or(f64::NAN);
    Number { text, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_query_parses() {
        let q = parse(
            "fields awsRegion, coalesce(userIdentity.userName, responseElements.assumedRoleUser.assumedRoleId) as username, \
             recipientAccountId as account, @timestamp, concat(arn, eventName) as exclude, @message\n\
             | filter account like '111122223333'\n\
             | filter @message like 'fail' or @message like 'denied' or @message like 'error'\n\
             | filter eventName like 'AssumeRole' and eventName not like 'AssumeRoleWithSAML'",
        )
        .unwrap();
        assert_eq!(q.commands.len(), 4);
        let Command::Fields(p) = &q.commands[0].1 else { panic!() };
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["awsRegion", "username", "account", "@timestamp", "exclude", "@message"]);
        let Command::Filter(Expr::And(parts)) = &q.commands[3].1 else { panic!("{:?}", q.commands[3]) };
        assert!(matches!(&parts[1], Expr::Like { negated: true, .. }));
    }

    #[test]
    fn precedence_and_in() {
        let q = parse("filter a = 1 or b != 'x' and not (c in ['p', 'q'])").unwrap();
        let Command::Filter(Expr::Or(o)) = &q.commands[0].1 else { panic!() };
        assert!(matches!(&o[1], Expr::And(a) if matches!(&a[1], Expr::Not(_))));
        let q = parse("filter c not in [1, 2]").unwrap();
        assert!(matches!(&q.commands[0].1, Command::Filter(Expr::In { negated: true, .. })));
    }

    #[test]
    fn stats_sort_limit_display() {
        let q = parse(
            "stats count(*) as n, count(errorCode) by eventSource, eventName | sort n desc | limit 5 | display n",
        )
        .unwrap();
        let Command::Stats { aggs, by } = &q.commands[0].1 else { panic!() };
        assert_eq!(aggs[0].name, "n");
        assert_eq!(aggs[1].name, "count(errorCode)");
        assert_eq!(by.len(), 2);
        assert_eq!(q.commands[1].1, Command::Sort(vec![SortKey { field: "n".into(), desc: true }]));
        assert_eq!(q.commands[2].1, Command::Limit(5));
    }

    #[test]
    fn unsupported_command_has_a_caret() {
        let e = parse("fields a | parse @message 'x'").unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(matches!(&e.kind, ErrorKind::UnsupportedCommand { name } if name == "parse"));
        let shown = e.to_string();
        assert!(shown.contains("unsupported command `parse`"), "{shown}");
        assert!(shown.ends_with("\n  fields a | parse @message 'x'\n             ^"), "{shown}");
    }

    #[test]
    fn unsupported_function_and_aggregate() {
        let e = parse("fields strlen(a)").unwrap_err();
        assert!(matches!(&e.kind, ErrorKind::UnsupportedFunction { name } if name == "strlen"), "{e}");
        assert_eq!(e.offset, 7);
        let e = parse("stats pct(a, 50)").unwrap_err();
        assert!(matches!(&e.kind, ErrorKind::UnsupportedAggregate { name } if name == "pct"), "{e}");
        let e = parse("filter a").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotACondition);
        assert!(parse("limit 0").is_err());
        assert!(parse("").is_err());
        assert!(parse("filter a like /(/").is_err());
    }
}
