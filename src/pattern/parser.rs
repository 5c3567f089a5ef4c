//! Parser for the three filter-pattern classes (spec §1, §2, §3, §4, §5, grammar §7).
//!
//! Owns `ParseError` (with the caret rendering the CLI prints verbatim) and the quota checks
//! (1024 characters, 2 regexes, one wildcard per selector, three wildcard selectors). It turns
//! text into an `ast::Body` that is *normalised* (no quote style, no whitespace) but not yet
//! sorted; `canon` does that. Hand-written recursive descent over byte offsets, so every error
//! can point at the offending character of the original input.

use std::fmt;

use super::ast::*;

/// Maximum pattern length in characters (`filterPattern` 0–1024, [API S6]).
pub const MAX_LEN: usize = 1024;
/// Maximum regexes per pattern (§3, [D S1]).
pub const MAX_REGEX: usize = 2;
/// Maximum wildcard selectors per JSON pattern (§4.1, [D S3]).
pub const MAX_WILDCARD_SELECTORS: usize = 3;

/// Why a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    TooLong { chars: usize },
    MissingCloseBrace,
    MissingCloseBracket,
    UnterminatedString,
    UnterminatedRegex,
    EmptyRegex,
    RegexChar { ch: char },
    RegexInvalid { message: String },
    TooManyRegexes,
    SelectorWithoutDot { name: String },
    ExpectedSelector,
    ExpectedPropertyName,
    BadBracket,
    TooManyWildcardsInSelector,
    TooManyWildcardSelectors,
    ExpectedOperator { selector: String, found: String },
    DoubleEquals,
    UnsupportedKeyword { found: String },
    ExpectedValue,
    ExpectedNumber { op: &'static str },
    UnclosedParen,
    ExpectedCondition,
    Unexpected { found: String, expected: &'static str },
    ExpectedTerm,
    MissingSpace,
    SdFieldName,
    SdFieldMismatch { entry: String, found: String },
    SdMultipleEllipsis,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            TooLong { chars } => {
                write!(f, "pattern is {chars} characters long; the limit is {MAX_LEN}")
            }
            MissingCloseBrace => f.write_str("a pattern that starts with `{` must end with `}`"),
            MissingCloseBracket => f.write_str("a pattern that starts with `[` must end with `]`"),
            UnterminatedString => f.write_str("unterminated quoted string (missing closing `\"`)"),
            UnterminatedRegex => f.write_str("unterminated regular expression (missing closing `%`)"),
            EmptyRegex => f.write_str("empty regular expression `%%`"),
            RegexChar { ch } => write!(
                f,
                "character `{}` is not allowed in a filter-pattern regular expression \
                 (no groups, no multi-byte characters; use `\\xhh` escapes)",
                ch.escape_debug()
            ),
            RegexInvalid { message } => write!(f, "invalid regular expression: {message}"),
            TooManyRegexes => write!(f, "a pattern may contain at most {MAX_REGEX} regular expressions"),
            SelectorWithoutDot { name } => {
                write!(f, "selector `${name}` lacks the `.` after `$` (did you mean `$.{name}`?)")
            }
            ExpectedSelector => f.write_str("expected a selector starting with `$.`"),
            ExpectedPropertyName => f.write_str("expected a property name, `*` or `['name']` after `.`"),
            BadBracket => f.write_str("expected `[N]`, `[*]` or `['name']`"),
            TooManyWildcardsInSelector => f.write_str("a selector may contain at most one `*` wildcard"),
            TooManyWildcardSelectors => {
                write!(f, "a pattern may contain at most {MAX_WILDCARD_SELECTORS} selectors with a `*` wildcard")
            }
            ExpectedOperator { selector, found } if found.is_empty() => write!(
                f,
                "expected an operator (`=`, `!=`, `<`, `>`, `<=`, `>=`, `IS`, `NOT EXISTS`) after `{selector}`"
            ),
            ExpectedOperator { selector, found } => write!(
                f,
                "unexpected `{found}` after selector `{selector}`; expected an operator \
                 (is there a space inside the property name?)"
            ),
            DoubleEquals => f.write_str("`==` is not an operator; use `=`"),
            UnsupportedKeyword { found } => write!(
                f,
                "unsupported condition `{found}`; only `IS NULL`, `IS TRUE`, `IS FALSE` and `NOT EXISTS` exist"
            ),
            ExpectedValue => f.write_str("expected a value (quoted string, number, bare word or %regex%)"),
            ExpectedNumber { op } => write!(f, "operator `{op}` needs a number"),
            UnclosedParen => f.write_str("unclosed `(`"),
            ExpectedCondition => f.write_str("expected a condition or `(`"),
            Unexpected { found, expected } => write!(f, "unexpected `{found}`; expected {expected}"),
            ExpectedTerm => f.write_str("expected a term after `-` or `?`"),
            MissingSpace => f.write_str("terms must be separated by whitespace"),
            SdFieldName => f.write_str("expected a field name, `...` or `,`"),
            SdFieldMismatch { entry, found } => write!(
                f,
                "a condition in field `{entry}` refers to field `{found}`; all conditions of one field must name it"
            ),
            SdMultipleEllipsis => f.write_str("a space-delimited pattern may contain `...` only once"),
        }
    }
}

/// A rejected pattern: what is wrong and at which byte offset of the input.
///
/// `Display` renders three lines: the description, the pattern, and a caret under the
/// offending character. The CLI prints it as-is after `error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the pattern as given (before trimming).
    pub offset: usize,
    pub kind: ParseErrorKind,
    /// The pattern as given.
    pub pattern: String,
}

impl std::error::Error for ParseError {}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid filter pattern: {}", self.kind)?;
        // Show at most ~100 characters around the offset so a 1024-character pattern still
        // reads on a terminal; control characters become spaces to keep the caret aligned.
        const BEFORE: usize = 60;
        const AFTER: usize = 40;
        let off = floor_char_boundary(&self.pattern, self.offset.min(self.pattern.len()));
        let chars: Vec<char> = self.pattern.chars().collect();
        let col = self.pattern[..off].chars().count();
        let start = col.saturating_sub(BEFORE);
        let end = (col + AFTER).min(chars.len());
        let mut line = String::from("  ");
        if start > 0 {
            line.push_str("...");
        }
        let caret_col = line.chars().count() + (col - start);
        for &c in &chars[start..end] {
            line.push(if c.is_control() { ' ' } else { c });
        }
        if end < chars.len() {
            line.push_str("...");
        }
        writeln!(f, "{}", line.trim_end())?;
        write!(f, "{}^", " ".repeat(caret_col))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parse `src` into a (not yet canonical) body.
pub(crate) fn parse_body(src: &str) -> Result<Body, ParseError> {
    let chars = src.chars().count();
    let err = |offset, kind| ParseError { offset, kind, pattern: src.to_string() };
    if chars > MAX_LEN {
        let offset = src.char_indices().nth(MAX_LEN).map(|(i, _)| i).unwrap_or(src.len());
        return Err(err(offset, ParseErrorKind::TooLong { chars }));
    }
    // Leading/trailing whitespace is not significant (Terraform trims before PutMetricFilter).
    let start = src.len() - src.trim_start().len();
    let end = src.trim_end().len();
    let mut p = Parser { src, pos: start, end, regexes: 0, wildcard_selectors: 0 };
    if start >= end {
        return Ok(Body::Terms(TermPattern::default()));
    }
    let body = match src.as_bytes()[start] {
        b'{' => {
            if src.as_bytes()[end - 1] != b'}' || end - start < 2 {
                return Err(err(end, ParseErrorKind::MissingCloseBrace));
            }
            p.pos = start + 1;
            p.end = end - 1;
            Body::Json(p.json_pattern()?)
        }
        b'[' => {
            if src.as_bytes()[end - 1] != b']' || end - start < 2 {
                return Err(err(end, ParseErrorKind::MissingCloseBracket));
            }
            p.pos = start + 1;
            p.end = end - 1;
            Body::Sd(p.sd_pattern()?)
        }
        _ => Body::Terms(p.term_pattern()?),
    };
    Ok(body)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// Exclusive end of the region being parsed (inside the outer braces/brackets).
    end: usize,
    regexes: usize,
    wildcard_selectors: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Number grammar of §7: `[+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]`.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - fs;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let es = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == es {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // Rust's float parser rejects a leading '+' and a trailing '.', so normalise first.
    let t = s.strip_prefix('+').unwrap_or(s);
    let t = t.replace(".e", ".0e").replace(".E", ".0E");
    let t = if t.ends_with('.') { format!("{t}0") } else { t };
    t.parse::<f64>().ok()
}

/// The characters §3 allows inside `%…%` (plus space, used in production [E S14]).
fn regex_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_#=@/;,-: ^$?[]{}|\\*+.".contains(c)
}

impl<'a> Parser<'a> {
    fn err(&self, offset: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { offset, kind, pattern: self.src.to_string() }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..self.end]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// A short excerpt of what is at the cursor, for "unexpected `…`" messages.
    fn found(&self) -> String {
        let r = self.rest();
        let tok: String = r.chars().take_while(|c| !c.is_whitespace()).take(12).collect();
        if tok.is_empty() {
            r.chars().next().map(String::from).unwrap_or_default()
        } else {
            tok
        }
    }

    fn count_regex(&mut self, at: usize) -> Result<(), ParseError> {
        self.regexes += 1;
        if self.regexes > MAX_REGEX {
            return Err(self.err(at, ParseErrorKind::TooManyRegexes));
        }
        Ok(())
    }

    /// `%…%` at the cursor.
    fn regex(&mut self) -> Result<Re, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let body_start = self.pos;
        let Some(close) = self.rest().find('%') else {
            return Err(self.err(open, ParseErrorKind::UnterminatedRegex));
        };
        let body = &self.src[body_start..body_start + close];
        if body.is_empty() {
            return Err(self.err(open, ParseErrorKind::EmptyRegex));
        }
        if let Some((i, ch)) = body.char_indices().find(|&(_, c)| !regex_char_allowed(c)) {
            return Err(self.err(body_start + i, ParseErrorKind::RegexChar { ch }));
        }
        // Filter-pattern regexes are unanchored searches (§3), which is what `is_match` does.
        let re = regex::Regex::new(body).map_err(|e| {
            let message = e.to_string().lines().last().unwrap_or("").trim().to_string();
            self.err(body_start, ParseErrorKind::RegexInvalid { message })
        })?;
        self.count_regex(open)?;
        self.pos = body_start + close + 1;
        Ok(Re { src: body.to_string(), re })
    }

    /// `"…"` at the cursor; `\"` and `\\` are unescaped (CDK emits them; AWS escapes are [U]
    /// §11.7), any other backslash is kept literally.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.clone().next() {
                    Some((_, n @ ('"' | '\\'))) => {
                        out.push(n);
                        chars.next();
                    }
                    _ => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        Err(self.err(open, ParseErrorKind::UnterminatedString))
    }

    // ----------------------------------------------------------------------------- terms

    fn term_pattern(&mut self) -> Result<TermPattern, ParseError> {
        let mut tp = TermPattern::default();
        loop {
            self.skip_ws();
            if self.at_end() {
                break;
            }
            let mut kind = 0u8; // 0 required, 1 excluded, 2 optional
            if let Some(c @ ('-' | '?')) = self.peek() {
                let next = self.rest()[1..].chars().next();
                if next.is_none_or(char::is_whitespace) {
                    return Err(self.err(self.pos, ParseErrorKind::ExpectedTerm));
                }
                kind = if c == '-' { 1 } else { 2 };
                self.pos += 1;
            }
            let term = match self.peek() {
                Some('"') => {
                    let text = self.quoted()?;
                    let quoted = !is_plain_term(&text);
                    Term::Text { text, quoted }
                }
                Some('%') => Term::Regex(self.regex()?),
                _ => {
                    let r = self.rest();
                    let len = r.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(r.len());
                    let text = r[..len].to_string();
                    self.pos += len;
                    Term::Text { text, quoted: false }
                }
            };
            if let Some(c) = self.peek() {
                if !c.is_whitespace() {
                    return Err(self.err(self.pos, ParseErrorKind::MissingSpace));
                }
            }
            match kind {
                0 => tp.required.push(term),
                1 => tp.excluded.push(term),
                _ => tp.optional.push(term),
            }
        }
        Ok(tp)
    }

    // ----------------------------------------------------------------------------- JSON

    fn json_pattern(&mut self) -> Result<Expr<Cond>, ParseError> {
        self.skip_ws();
        let e = self.or_expr()?;
        self.skip_ws();
        if !self.at_end() {
            let found = self.found();
            return Err(
                self.err(self.pos, ParseErrorKind::Unexpected { found, expected: "`&&`, `||` or the closing `}`" })
            );
        }
        Ok(e)
    }

    fn or_expr(&mut self) -> Result<Expr<Cond>, ParseError> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.skip_ws();
            if !self.eat("||") {
                break;
            }
            self.skip_ws();
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::Or(items) })
    }

    fn and_expr(&mut self) -> Result<Expr<Cond>, ParseError> {
        let mut items = vec![self.primary()?];
        loop {
            self.skip_ws();
            if !self.eat("&&") {
                break;
            }
            self.skip_ws();
            items.push(self.primary()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::And(items) })
    }

    fn primary(&mut self) -> Result<Expr<Cond>, ParseError> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                let open = self.pos;
                self.pos += 1;
                self.skip_ws();
                let e = self.or_expr()?;
                self.skip_ws();
                if self.eat(")") {
                    Ok(e)
                } else if self.at_end() {
                    Err(self.err(open, ParseErrorKind::UnclosedParen))
                } else {
                    let found = self.found();
                    Err(self.err(self.pos, ParseErrorKind::Unexpected { found, expected: "`&&`, `||` or `)`" }))
                }
            }
            Some('$') => Ok(Expr::Atom(self.condition()?)),
            None => Err(self.err(self.pos, ParseErrorKind::ExpectedCondition)),
            Some(_) => Err(self.err(self.pos, ParseErrorKind::ExpectedSelector)),
        }
    }

    fn selector(&mut self) -> Result<Selector, ParseError> {
        let start = self.pos;
        self.pos += 1; // '$'
        let mut segs = Vec::new();
        let mut wildcards = 0;
        loop {
            let seg_start = self.pos;
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('*') => {
                            self.pos += 1;
                            segs.push(Seg::AnyField);
                        }
                        Some('[') => segs.push(self.bracket(true)?),
                        Some(c) if is_name_char(c) => {
                            let r = self.rest();
                            let len = r.find(|c| !is_name_char(c)).unwrap_or(r.len());
                            segs.push(Seg::Name(r[..len].to_string()));
                            self.pos += len;
                        }
                        _ => return Err(self.err(self.pos, ParseErrorKind::ExpectedPropertyName)),
                    }
                }
                Some('[') => segs.push(self.bracket(false)?),
                Some(c) if segs.is_empty() && is_name_char(c) => {
                    let r = self.rest();
                    let len = r.find(|c| !is_name_char(c)).unwrap_or(r.len());
                    let name = r[..len].to_string();
                    return Err(self.err(start, ParseErrorKind::SelectorWithoutDot { name }));
                }
                _ => break,
            }
            if matches!(segs.last(), Some(Seg::AnyField | Seg::AnyIndex)) {
                wildcards += 1;
                if wildcards > 1 {
                    return Err(self.err(seg_start, ParseErrorKind::TooManyWildcardsInSelector));
                }
            }
        }
        if segs.is_empty() {
            return Err(self.err(start, ParseErrorKind::ExpectedSelector));
        }
        if wildcards > 0 {
            self.wildcard_selectors += 1;
            if self.wildcard_selectors > MAX_WILDCARD_SELECTORS {
                return Err(self.err(start, ParseErrorKind::TooManyWildcardSelectors));
            }
        }
        Ok(Selector { segs })
    }

    /// `[N]`, `[*]` or `['name']` at the cursor. After a `.` only the quoted-name form is legal.
    fn bracket(&mut self, after_dot: bool) -> Result<Seg, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let r = self.rest();
        if let Some(inner) = r.strip_prefix('\'') {
            if let Some(close) = inner.find("']") {
                let name = inner[..close].to_string();
                if name.is_empty() {
                    return Err(self.err(open, ParseErrorKind::BadBracket));
                }
                self.pos += 1 + close + 2;
                return Ok(Seg::Name(name));
            }
            return Err(self.err(open, ParseErrorKind::BadBracket));
        }
        if after_dot {
            return Err(self.err(open, ParseErrorKind::BadBracket));
        }
        if r.starts_with("*]") {
            self.pos += 2;
            return Ok(Seg::AnyIndex);
        }
        let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if digits > 0 && r[digits..].starts_with(']') {
            if let Ok(i) = r[..digits].parse::<usize>() {
                self.pos += digits + 1;
                return Ok(Seg::Index(i));
            }
        }
        Err(self.err(open, ParseErrorKind::BadBracket))
    }

    /// A case-insensitive keyword followed by a non-name character. Keyword case is [U]
    /// (§11.6); we accept any case, as floci does, and print upper case.
    fn keyword(&mut self, kw: &str) -> bool {
        let r = self.rest();
        if r.len() >= kw.len()
            && r.is_char_boundary(kw.len())
            && r[..kw.len()].eq_ignore_ascii_case(kw)
            && !r[kw.len()..].starts_with(is_name_char)
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn condition(&mut self) -> Result<Cond, ParseError> {
        let sel_start = self.pos;
        let sel = self.selector()?;
        let sel_text = &self.src[sel_start..self.pos];
        self.skip_ws();
        let op_pos = self.pos;
        let op = if self.eat("!=") {
            CmpOp::Ne
        } else if self.eat("<=") {
            CmpOp::Le
        } else if self.eat(">=") {
            CmpOp::Ge
        } else if self.rest().starts_with("==") {
            return Err(self.err(op_pos, ParseErrorKind::DoubleEquals));
        } else if self.eat("=") {
            CmpOp::Eq
        } else if self.eat("<") {
            CmpOp::Lt
        } else if self.eat(">") {
            CmpOp::Gt
        } else if self.keyword("IS") {
            self.skip_ws();
            let test = if self.keyword("NULL") {
                Test::IsNull
            } else if self.keyword("TRUE") {
                Test::IsTrue
            } else if self.keyword("FALSE") {
                Test::IsFalse
            } else {
                let found = format!("IS {}", self.found());
                return Err(self.err(op_pos, ParseErrorKind::UnsupportedKeyword { found }));
            };
            return Ok(Cond { sel, test });
        } else if self.keyword("NOT") {
            self.skip_ws();
            if self.keyword("EXISTS") {
                return Ok(Cond { sel, test: Test::NotExists });
            }
            let found = format!("NOT {}", self.found());
            return Err(self.err(op_pos, ParseErrorKind::UnsupportedKeyword { found }));
        } else if self.keyword("EXISTS") {
            return Err(self.err(op_pos, ParseErrorKind::UnsupportedKeyword { found: "EXISTS".into() }));
        } else {
            let found: String = self.rest().chars().take_while(|&c| is_name_char(c)).take(12).collect();
            let found = if found.is_empty() && !self.at_end() { self.found() } else { found };
            return Err(self.err(op_pos, ParseErrorKind::ExpectedOperator { selector: sel_text.to_string(), found }));
        };
        self.skip_ws();
        let value = self.value(op, &['(', ')', '&', '|', '}', '"', '%'])?;
        Ok(Cond { sel, test: Test::Cmp(op, value) })
    }

    /// The value after `op`. `stops` end a bare value besides whitespace.
    fn value(&mut self, op: CmpOp, stops: &[char]) -> Result<Value, ParseError> {
        let at = self.pos;
        let value = match self.peek() {
            Some('"') => Value::Str(StrPat::from_raw(&self.quoted()?)),
            Some('%') => Value::Re(self.regex()?),
            _ => {
                let r = self.rest();
                let len = r.find(|c: char| c.is_whitespace() || stops.contains(&c)).unwrap_or(r.len());
                if len == 0 {
                    return Err(self.err(at, ParseErrorKind::ExpectedValue));
                }
                let text = &r[..len];
                self.pos += len;
                // A bare value that reads as a number is a number (§7 note); everything else,
                // including `4*` and `10.*`, is a (wildcard) string.
                match parse_number(text) {
                    Some(value) => Value::Num(Number { text: text.to_string(), value }),
                    None => Value::Str(StrPat::from_raw(text)),
                }
            }
        };
        if op.is_relational() && !matches!(value, Value::Num(_)) {
            return Err(self.err(at, ParseErrorKind::ExpectedNumber { op: op.as_str() }));
        }
        Ok(value)
    }

    // ----------------------------------------------------------------------------- space-delimited

    fn sd_pattern(&mut self) -> Result<SdPattern, ParseError> {
        let mut entries = Vec::new();
        let mut ellipsis = false;
        loop {
            self.skip_ws();
            let entry_start = self.pos;
            let entry = if self.eat("...") {
                if ellipsis {
                    return Err(self.err(entry_start, ParseErrorKind::SdMultipleEllipsis));
                }
                ellipsis = true;
                SdEntry::Ellipsis
            } else if self.at_end() || self.peek() == Some(',') {
                SdEntry::Field { name: None, cond: None }
            } else {
                self.sd_field()?
            };
            entries.push(entry);
            self.skip_ws();
            if self.at_end() {
                break;
            }
            if !self.eat(",") {
                let found = self.found();
                return Err(self.err(
                    self.pos,
                    ParseErrorKind::Unexpected { found, expected: "`,`, `&&`, `||` or the closing `]`" },
                ));
            }
        }
        Ok(SdPattern { entries })
    }

    fn sd_name(&mut self) -> Option<String> {
        let r = self.rest();
        let first = r.chars().next()?;
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return None;
        }
        let len = r.find(|c| !is_name_char(c)).unwrap_or(r.len());
        self.pos += len;
        Some(r[..len].to_string())
    }

    fn sd_field(&mut self) -> Result<SdEntry, ParseError> {
        let start = self.pos;
        let Some(name) = self.sd_name() else {
            return Err(self.err(start, ParseErrorKind::SdFieldName));
        };
        self.skip_ws();
        if self.at_end() || self.peek() == Some(',') {
            return Ok(SdEntry::Field { name: Some(name), cond: None });
        }
        self.pos = start;
        let cond = self.sd_or(&name)?;
        Ok(SdEntry::Field { name: Some(name), cond: Some(cond) })
    }

    fn sd_or(&mut self, name: &str) -> Result<Expr<SdAtom>, ParseError> {
        let mut items = vec![self.sd_and(name)?];
        loop {
            self.skip_ws();
            if !self.eat("||") {
                break;
            }
            self.skip_ws();
            items.push(self.sd_and(name)?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::Or(items) })
    }

    fn sd_and(&mut self, name: &str) -> Result<Expr<SdAtom>, ParseError> {
        let mut items = vec![self.sd_atom(name)?];
        loop {
            self.skip_ws();
            if !self.eat("&&") {
                break;
            }
            self.skip_ws();
            items.push(self.sd_atom(name)?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::And(items) })
    }

    fn sd_atom(&mut self, name: &str) -> Result<Expr<SdAtom>, ParseError> {
        let start = self.pos;
        let Some(found) = self.sd_name() else {
            return Err(self.err(start, ParseErrorKind::SdFieldName));
        };
        // A condition naming another field is rejected by AWS [E S11]. Whether `W1` and `w1`
        // are the same field is [U] §11.14; we accept a case difference.
        if !found.eq_ignore_ascii_case(name) {
            return Err(self.err(start, ParseErrorKind::SdFieldMismatch { entry: name.to_string(), found }));
        }
        self.skip_ws();
        let op_pos = self.pos;
        let op = if self.eat("!=") {
            CmpOp::Ne
        } else if self.eat("<=") {
            CmpOp::Le
        } else if self.eat(">=") {
            CmpOp::Ge
        } else if self.rest().starts_with("==") {
            return Err(self.err(op_pos, ParseErrorKind::DoubleEquals));
        } else if self.eat("=") {
            CmpOp::Eq
        } else if self.eat("<") {
            CmpOp::Lt
        } else if self.eat(">") {
            CmpOp::Gt
        } else {
            let found = if self.at_end() { String::new() } else { self.found() };
            return Err(self.err(op_pos, ParseErrorKind::ExpectedOperator { selector: name.to_string(), found }));
        };
        self.skip_ws();
        let value = self.value(op, &[',', '&', '|', '"', '%', ']'])?;
        Ok(Expr::Atom(SdAtom { op, value }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (s, v) in [
            ("1", 1.0),
            ("+1000", 1000.0),
            ("-2.5", -2.5),
            ("1e+3", 1000.0),
            ("3.6e3", 3600.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("10e3", 10000.0),
        ] {
            assert_eq!(parse_number(s), Some(v), "{s}");
        }
        for s in ["", "+", ".", "1e", "4*", "10.*", "1.2.3", "abc", "1e+", "0x10"] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }

    #[test]
    fn caret_display() {
        let e = parse_body("{ $eventName = X }").unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::SelectorWithoutDot { .. }));
        let shown = e.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3, "{shown}");
        assert!(lines[0].contains("$.eventName"), "{shown}");
        assert_eq!(lines[1], "  { $eventName = X }");
        assert_eq!(lines[2], "    ^");
    }
}
