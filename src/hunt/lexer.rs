//! Tokens of the Logs Insights subset, each with its byte offset for caret errors.
//!
//! Owns tokenising only: identifiers (dotted field paths such as `resources.0.ARN`, `@message`,
//! or `` `any name` `` in backticks), strings in `'…'` or `"…"` (backslash escapes `\'`, `\"`,
//! `\\`), numbers, `/regex/` literals (`\/` for a slash), operators and punctuation, and `#`
//! comments to the end of the line. Keywords are identifiers; the parser decides.

use super::parser::{ErrorKind, ParseError};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A field name or keyword; `quoted` for `` `name` ``.
    Ident {
        text: String,
        quoted: bool,
    },
    Str(String),
    /// The number's text as written.
    Num(String),
    Regex(String),
    Pipe,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Star,
    /// `=`, `!=`, `<`, `>`, `<=`, `>=`, `=~`
    Op(&'static str),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident { text, .. } => format!("`{text}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Regex(r) => format!("regex /{r}/"),
            Tok::Pipe => "`|`".into(),
            Tok::Comma => "`,`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Star => "`*`".into(),
            Tok::Op(o) => format!("`{o}`"),
            Tok::Eof => "the end of the query".into(),
        }
    }
}

/// A token and where it starts and ends (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '$' || c == '.'
}

/// Split `src` into tokens (the last one is `Eof`).
pub fn lex(src: &str) -> Result<Vec<Spanned>, ParseError> {
    let err = |offset: usize, kind: ErrorKind| ParseError { offset, kind, query: src.to_string() };
    let b: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (off, c) = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < b.len() && b[i].1 != '\n' {
                i += 1;
            }
            continue;
        }
        let single = |tok: Tok| Spanned { tok, start: off, end: off + c.len_utf8() };
        match c {
            '|' => out.push(single(Tok::Pipe)),
            ',' => out.push(single(Tok::Comma)),
            '(' => out.push(single(Tok::LParen)),
            ')' => out.push(single(Tok::RParen)),
            '[' => out.push(single(Tok::LBracket)),
            ']' => out.push(single(Tok::RBracket)),
            '*' => out.push(single(Tok::Star)),
            '=' | '!' | '<' | '>' => {
                let next = b.get(i + 1).map(|x| x.1);
                let (op, len): (&'static str, usize) = match (c, next) {
                    ('=', Some('~')) => ("=~", 2),
                    ('=', Some('=')) => ("=", 2), // `==` reads as `=`, as Insights accepts both
                    ('=', _) => ("=", 1),
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err(err(off, ErrorKind::UnexpectedChar { ch: c })),
                };
                out.push(Spanned { tok: Tok::Op(op), start: off, end: off + len });
                i += len;
                continue;
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    let Some(&(_, d)) = b.get(j) else {
                        return Err(err(off, ErrorKind::UnterminatedString));
                    };
                    if d == '\\' {
                        match b.get(j + 1) {
                            Some(&(_, e)) if e == quote || e == '\\' => {
                                s.push(e);
                                j += 2;
                                continue;
                            }
                            _ => s.push('\\'),
                        }
                    } else if d == quote {
                        break;
                    } else {
                        s.push(d);
                    }
                    j += 1;
                }
                let end = b[j].0 + 1;
                out.push(Spanned { tok: Tok::Str(s), start: off, end });
                i = j + 1;
                continue;
            }
            '/' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    let Some(&(_, d)) = b.get(j) else {
                        return Err(err(off, ErrorKind::UnterminatedRegex));
                    };
                    if d == '\\' && b.get(j + 1).map(|x| x.1) == Some('/') {
                        s.push('/');
                        j += 2;
                        continue;
                    }
                    if d == '/' {
                        break;
                    }
                    s.push(d);
                    j += 1;
                }
                out.push(Spanned { tok: Tok::Regex(s), start: off, end: b[j].0 + 1 });
                i = j + 1;
                continue;
            }
            '`' => {
                let mut j = i + 1;
                while j < b.len() && b[j].1 != '`' {
                    j += 1;
                }
                if j >= b.len() {
                    return Err(err(off, ErrorKind::UnterminatedBacktick));
                }
                let text: String = b[i + 1..j].iter().map(|x| x.1).collect();
                out.push(Spanned { tok: Tok::Ident { text, quoted: true }, start: off, end: b[j].0 + 1 });
                i = j + 1;
                continue;
            }
            c if c.is_ascii_digit() || (c == '-' && b.get(i + 1).is_some_and(|x| x.1.is_ascii_digit())) => {
                let mut j = i + 1;
                while j < b.len() {
                    let d = b[j].1;
                    let exp_sign = (d == '+' || d == '-') && matches!(b[j - 1].1, 'e' | 'E');
                    if d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E' || exp_sign {
                        j += 1;
                    } else {
                        break;
                    }
                }
                let end = b.get(j).map(|x| x.0).unwrap_or(src.len());
                let text = &src[off..end];
                if text.parse::<f64>().is_err() {
                    return Err(err(off, ErrorKind::BadNumber { text: text.to_string() }));
                }
                out.push(Spanned { tok: Tok::Num(text.to_string()), start: off, end });
                i = j;
                continue;
            }
            c if is_ident_start(c) => {
                let mut j = i + 1;
                while j < b.len() && is_ident_char(b[j].1) {
                    j += 1;
                }
                let end = b.get(j).map(|x| x.0).unwrap_or(src.len());
                let text = src[off..end].trim_end_matches('.').to_string();
                let end = off + text.len();
                out.push(Spanned { tok: Tok::Ident { text, quoted: false }, start: off, end });
                // A trailing dot is not part of the name: re-lex it (it becomes an error).
                i = b.iter().position(|x| x.0 >= end).unwrap_or(b.len());
                continue;
            }
            _ => return Err(err(off, ErrorKind::UnexpectedChar { ch: c })),
        }
        i += 1;
    }
    out.push(Spanned { tok: Tok::Eof, start: src.len(), end: src.len() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn fields_and_paths() {
        assert_eq!(
            toks("fields resources.0.ARN, @message as m"),
            vec![
                Tok::Ident { text: "fields".into(), quoted: false },
                Tok::Ident { text: "resources.0.ARN".into(), quoted: false },
                Tok::Comma,
                Tok::Ident { text: "@message".into(), quoted: false },
                Tok::Ident { text: "as".into(), quoted: false },
                Tok::Ident { text: "m".into(), quoted: false },
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_regex_ops_comments() {
        assert_eq!(
            toks(
                r#"filter a like 'it\'s' or b =~ /x\/y/ # note
            | limit -3"#
            ),
            vec![
                Tok::Ident { text: "filter".into(), quoted: false },
                Tok::Ident { text: "a".into(), quoted: false },
                Tok::Ident { text: "like".into(), quoted: false },
                Tok::Str("it's".into()),
                Tok::Ident { text: "or".into(), quoted: false },
                Tok::Ident { text: "b".into(), quoted: false },
                Tok::Op("=~"),
                Tok::Regex("x/y".into()),
                Tok::Pipe,
                Tok::Ident { text: "limit".into(), quoted: false },
                Tok::Num("-3".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("a!=1.5e3")[1..3], [Tok::Op("!="), Tok::Num("1.5e3".into())]);
        assert_eq!(toks("`my field`")[0], Tok::Ident { text: "my field".into(), quoted: true });
    }

    #[test]
    fn errors_point_at_the_start() {
        let e = lex("filter a like 'x").unwrap_err();
        assert_eq!(e.offset, 14);
        assert_eq!(e.kind, ErrorKind::UnterminatedString);
        assert_eq!(lex("filter a ; b").unwrap_err().offset, 9);
    }
}
