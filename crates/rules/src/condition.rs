//! The `condition:` expression of a rule: selection names joined with `and`, `or`, `not`,
//! parentheses, and Sigma's `1 of NAME*` / `all of them` quantifiers.

/// A parsed condition. `Sel` indexes the rule's selections in definition order.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Sel(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates with `sel` answering whether selection `i` matched (called lazily, left to
    /// right, with short-circuiting).
    pub fn eval(&self, sel: &mut dyn FnMut(usize) -> bool) -> bool {
        match self {
            Expr::Sel(i) => sel(*i),
            Expr::Not(e) => !e.eval(sel),
            Expr::And(es) => es.iter().all(|e| e.eval(sel)),
            Expr::Or(es) => es.iter().any(|e| e.eval(sel)),
        }
    }
}

/// Parses `text` against the rule's selection `names`.
pub fn parse(text: &str, names: &[String]) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0, names };
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(format!("unexpected {:?} in condition {text:?}", parser.tokens[parser.pos]));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        match c {
            '(' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Open);
            }
            ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Close);
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') => word.push(c),
            '|' => return Err("pipe aggregations (| count() ...) are not supported".into()),
            c => return Err(format!("unexpected character {c:?} in condition")),
        }
    }
    flush(&mut word, &mut tokens);
    if tokens.is_empty() {
        return Err("empty condition".into());
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    names: &'a [String],
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("or")) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap() } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("and")) {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap() } else { Expr::And(parts) })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("not")) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return Err("missing ')' in condition".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Word(w)) => {
                self.pos += 1;
                let quantifier = w.to_ascii_lowercase();
                if matches!(quantifier.as_str(), "1" | "any" | "all")
                    && self.peek_word().is_some_and(|n| n.eq_ignore_ascii_case("of"))
                {
                    self.pos += 1;
                    let pattern = self.peek_word().ok_or("expected a name pattern after 'of'")?.to_string();
                    self.pos += 1;
                    let matched = self.expand(&pattern)?;
                    let parts = matched.into_iter().map(Expr::Sel).collect();
                    return Ok(if quantifier == "all" { Expr::And(parts) } else { Expr::Or(parts) });
                }
                let idx = self
                    .names
                    .iter()
                    .position(|n| n == &w)
                    .ok_or_else(|| format!("condition names unknown selection {w:?}"))?;
                Ok(Expr::Sel(idx))
            }
            Some(Token::Close) => Err("unexpected ')' in condition".into()),
            None => Err("condition ends too early".into()),
        }
    }

    fn expand(&self, pattern: &str) -> Result<Vec<usize>, String> {
        let matched: Vec<usize> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                if pattern.eq_ignore_ascii_case("them") {
                    !name.starts_with('_')
                } else if let Some(prefix) = pattern.strip_suffix('*') {
                    name.starts_with(prefix)
                } else {
                    *name == pattern
                }
            })
            .map(|(i, _)| i)
            .collect();
        if matched.is_empty() {
            return Err(format!("no selection matches {pattern:?}"));
        }
        Ok(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["sel", "filter_a", "filter_b", "other"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_and_quantifiers() {
        let n = names();
        let e = parse("sel and not 1 of filter_* or other", &n).unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::And(vec![Expr::Sel(0), Expr::Not(Box::new(Expr::Or(vec![Expr::Sel(1), Expr::Sel(2)])))]),
                Expr::Sel(3)
            ])
        );
        let all = parse("all of them", &n).unwrap();
        assert_eq!(all, Expr::And(vec![Expr::Sel(0), Expr::Sel(1), Expr::Sel(2), Expr::Sel(3)]));
        let p = parse("sel and (filter_a or not other)", &n).unwrap();
        let mut truth = |i| i == 0;
        assert!(p.eval(&mut truth));
    }

    #[test]
    fn errors() {
        let n = names();
        assert!(parse("sel and missing", &n).is_err());
        assert!(parse("sel and", &n).is_err());
        assert!(parse("(sel", &n).is_err());
        assert!(parse("sel | count() > 5", &n).is_err());
        assert!(parse("", &n).is_err());
        assert!(parse("1 of nothing*", &n).is_err());
    }
}
