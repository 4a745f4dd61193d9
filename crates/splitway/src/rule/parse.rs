//! Expression rules (Traefik v2 and v3): a recursive-descent parser over the tokens of
//! [`lex`](super::lex), handing each call to the v3 or v2 builder.
//!
//! Grammar (`!` binds tightest, then `&&`, then `||`):
//!
//! ```text
//! or    = and { "||" and }
//! and   = unary { "&&" unary }
//! unary = "!" unary | "(" or ")" | call
//! call  = NAME "(" [ STRING { "," STRING } [ "," ] ] ")"
//! ```
//!
//! Strings are Go string literals: backtick raw strings, or double-quoted with Go's escapes.
//! Nesting (`(` and `!`) is counted while parsing and refused past [`MAX_RULE_DEPTH`], before
//! recursing, so no input can overflow the stack.

use std::sync::Arc;

use super::build::Arg;
use super::call::Call;
use super::err;
use super::expr::flatten;
use super::lex::{Token, TokenKind, describe, tokenize};
use super::{Expr, MAX_RULE_DEPTH, MAX_RULE_LEN, Rule, RuleError, Syntax, names, v2, v3};

/// Parses one expression rule written in `syntax` (v2 or v3).
pub(super) fn parse(text: &str, syntax: Syntax) -> Result<Rule, RuleError> {
    if text.len() > MAX_RULE_LEN {
        return Err(err(
            format!(
                "rule is {} bytes long, more than the limit of {MAX_RULE_LEN}",
                text.len()
            ),
            0..text.len(),
        ));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        tokens,
        pos: 0,
        syntax,
    };
    if parser.peek().kind == TokenKind::Eof {
        return Err(err(
            "empty rule: write at least one matcher, e.g. `Host(`example.com`)`",
            0..text.len(),
        ));
    }
    let expr = parser.parse_or(0)?;
    let next = parser.peek();
    if next.kind != TokenKind::Eof {
        return Err(err(
            format!(
                "unexpected {} after a complete expression; join matchers with `&&` or `||`",
                describe(text, next)
            ),
            next.span.clone(),
        ));
    }
    Ok(Rule {
        syntax,
        texts: Arc::from([text.to_owned()]),
        expr: Arc::new(expr),
        rewrites: Arc::from([]),
    })
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
    syntax: Syntax,
}

const EOF: Token = Token {
    kind: TokenKind::Eof,
    span: 0..0,
};

impl<'t> Parser<'t> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&EOF)
    }

    fn bump(&mut self) -> Token {
        let tok = self.peek().clone();
        self.pos += 1;
        tok
    }

    fn unexpected(&self, tok: &Token, expected: &str) -> RuleError {
        err(
            format!(
                "unexpected {}, expected {expected}",
                describe(self.text, tok)
            ),
            tok.span.clone(),
        )
    }

    fn parse_or(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.parse_and(depth)?];
        while self.peek().kind == TokenKind::Or {
            self.bump();
            items.push(self.parse_and(depth)?);
        }
        Ok(flatten(items, false))
    }

    fn parse_and(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.parse_unary(depth)?];
        while self.peek().kind == TokenKind::And {
            self.bump();
            items.push(self.parse_unary(depth)?);
        }
        Ok(flatten(items, true))
    }

    fn deeper(&self, depth: usize, tok: &Token) -> Result<usize, RuleError> {
        if depth >= MAX_RULE_DEPTH {
            Err(err(
                format!("rule nests `(` and `!` more than {MAX_RULE_DEPTH} deep; simplify it"),
                tok.span.clone(),
            ))
        } else {
            Ok(depth + 1)
        }
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let tok = self.bump();
        match tok.kind {
            TokenKind::Not => {
                let depth = self.deeper(depth, &tok)?;
                Ok(Expr::Not(Box::new(self.parse_unary(depth)?)))
            }
            TokenKind::LParen => {
                let depth = self.deeper(depth, &tok)?;
                let inner = self.parse_or(depth)?;
                let close = self.bump();
                if close.kind != TokenKind::RParen {
                    return Err(self.unexpected(&close, "`)` or an operator"));
                }
                Ok(inner)
            }
            TokenKind::Ident => self.call(tok),
            TokenKind::Str(_) => Err(err(
                format!(
                    "unexpected string {}: a string can only be a matcher's argument, as in \
                     `Host(`a.com`)`",
                    self.text.get(tok.span.clone()).unwrap_or("")
                ),
                tok.span,
            )),
            _ => Err(self.unexpected(&tok, "a matcher, `!` or `(`")),
        }
    }

    fn call(&mut self, name_tok: Token) -> Result<Expr, RuleError> {
        let written = self.text.get(name_tok.span.clone()).unwrap_or("");
        let name = names::resolve_expr(written, self.syntax, name_tok.span.clone())?;
        let open = self.bump();
        if open.kind != TokenKind::LParen {
            return Err(self.unexpected(&open, &format!("`(` after `{written}`")));
        }
        let mut args = Vec::new();
        let close = loop {
            let tok = self.bump();
            match tok.kind {
                TokenKind::RParen => break tok,
                TokenKind::Str(value) => {
                    if value.is_empty() {
                        return Err(err(
                            format!(
                                "empty argument to `{written}`: every argument must be non-empty"
                            ),
                            tok.span,
                        ));
                    }
                    args.push(Arg {
                        value,
                        span: tok.span,
                    });
                    let sep = self.bump();
                    match sep.kind {
                        TokenKind::Comma => {}
                        TokenKind::RParen => break sep,
                        _ => return Err(self.unexpected(&sep, "`,` or `)`")),
                    }
                }
                TokenKind::Ident => {
                    return Err(err(
                        format!(
                            "arguments must be strings in backticks or double quotes: write \
                             `{}` in backticks",
                            self.text.get(tok.span.clone()).unwrap_or("")
                        ),
                        tok.span,
                    ));
                }
                _ => return Err(self.unexpected(&tok, "a string argument or `)`")),
            }
        };
        let span = name_tok.span.start..close.span.end;
        let call = Call {
            name,
            text: self.text.get(span.clone()).unwrap_or(""),
            span,
            args,
        };
        match self.syntax {
            Syntax::V2 => v2::build(call),
            Syntax::V1 | Syntax::V3 => v3::build(call),
        }
    }
}
