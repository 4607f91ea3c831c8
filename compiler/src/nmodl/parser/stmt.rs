//! Statements of the NMODL blocks: assignments, calls, `if`, SOLVE, TABLE, and those of KINETIC
//! blocks (`~` reactions and fluxes, CONSERVE, COMPARTMENT); what Sylva cannot translate is read
//! to the end of its line and kept as `Unsupported`.

use super::*;

impl Parser<'_> {
    pub(super) fn block(&mut self) -> Result<Vec<Stmt>, Fail> {
        self.expect("{")?;
        self.depth += 1;
        let mut out = Vec::new();
        let result = loop {
            if self.is_punct("}") {
                self.bump();
                break Ok(out);
            }
            if self.at_eof() {
                let span = self.span();
                break Err(self.error(span, "a block is not closed", "expected `}`"));
            }
            if self.depth > 64 {
                let span = self.span();
                break Err(self.error(span, "blocks nested too deeply", "more than 64 levels"));
            }
            match self.stmt() {
                Ok(Some(s)) => out.push(s),
                Ok(None) => {}
                Err(Fail) => {
                    // Recover at the next token on a new line of this block.
                    let line = self.token().line;
                    while !self.at_eof() && !self.is_punct("}") && self.token().line == line {
                        if self.is_punct("{") {
                            self.skip_braces();
                        } else {
                            self.bump();
                        }
                    }
                }
            }
        };
        self.depth -= 1;
        result
    }

    fn stmt(&mut self) -> Result<Option<Stmt>, Fail> {
        let token = self.token().clone();
        let word = match &token.tok {
            Tok::Name(w) => w.clone(),
            Tok::Verbatim => {
                self.bump();
                if self.is_dropped_verbatim(token.span) {
                    return Ok(None);
                }
                return Ok(Some(Stmt::Unsupported("VERBATIM".into(), token.span)));
            }
            Tok::Punct("{") => {
                // A nested block: its statements run in place.
                let inner = self.block()?;
                return Ok(Some(Stmt::If {
                    cond: Expr::Number("1".into(), token.span),
                    then: inner,
                    otherwise: Vec::new(),
                }));
            }
            Tok::Punct("~") => {
                self.bump();
                return self.reaction(token.span).map(Some);
            }
            _ => {
                let found = self.describe();
                self.bump();
                return Err(self.error(token.span, format!("expected a statement, found {found}"), "not a statement"));
            }
        };
        self.bump();
        match word.as_str() {
            "UNITSON" | "UNITSOFF" => Ok(None),
            "LOCAL" => Ok(Some(Stmt::Local(self.local_names()?))),
            "FROM" => self.loop_stmt(&token),
            "SOLVE" => self.solve(),
            "TABLE" => self.table(token.span),
            "if" => self.if_stmt(),
            "CONSERVE" => self.conserve(token.span),
            "COMPARTMENT" => self.compartment(token.span),
            "while"
            | "FOR_NETCONS"
            | "WATCH"
            | "LONGITUDINAL_DIFFUSION"
            | "MATCH"
            | "SWEEP"
            | "net_send"
            | "net_event"
            | "net_move"
            | "printf"
            | "VERBATIM"
            | "LAG"
            | "PROTECT"
            | "MUTEXLOCK"
            | "MUTEXUNLOCK" => Ok(Some(self.skipped_statement(word, &token))),
            _ => self.assignment_or_call(word, token.span),
        }
    }

    fn solve(&mut self) -> Result<Option<Stmt>, Fail> {
        let (name, span) = self.name()?;
        let mut method = None;
        let mut steady_state = false;
        if self.is_word("METHOD") {
            self.bump();
            method = Some(self.name()?);
        }
        if self.is_word("STEADYSTATE") {
            self.bump();
            method = Some(self.name()?);
            steady_state = true;
        }
        Ok(Some(Stmt::Solve { name, span, method, steady_state }))
    }

    /// `TABLE names DEPEND names FROM lo TO hi WITH n`.
    fn table(&mut self, start: Span) -> Result<Option<Stmt>, Fail> {
        let mut end = start;
        while !self.at_eof() && !self.is_word("WITH") && !self.is_punct("}") {
            end = self.bump().span;
        }
        if self.is_word("WITH") {
            self.bump();
            end = self.number()?.1;
        }
        Ok(Some(Stmt::Table(start.to(end))))
    }

    fn if_stmt(&mut self) -> Result<Option<Stmt>, Fail> {
        self.expect("(")?;
        let cond = self.expr()?;
        self.expect(")")?;
        let then = self.block()?;
        let mut otherwise = Vec::new();
        if self.is_word("else") {
            self.bump();
            if self.is_word("if") {
                otherwise = self.stmt()?.into_iter().collect();
            } else {
                otherwise = self.block()?;
            }
        }
        Ok(Some(Stmt::If { cond, then, otherwise }))
    }

    /// A statement read to the end of its line (and over a block it opens), kept as
    /// `Unsupported` for the translator to report.
    fn skipped_statement(&mut self, word: String, token: &Token) -> Stmt {
        let mut end = token.span;
        let line = token.line;
        while !self.at_eof() && !self.is_punct("}") && (self.token().line == line || self.is_punct("{")) {
            if self.is_punct("{") {
                let s = self.span();
                self.skip_braces();
                end = s;
            } else {
                end = self.bump().span;
            }
        }
        Stmt::Unsupported(word, token.span.to(end))
    }

    /// `LOCAL a, b[2]`: an array's elements are locals of their own.
    pub(super) fn local_names(&mut self) -> Result<Vec<(String, Span)>, Fail> {
        let mut names = Vec::new();
        while let Tok::Name(n) = self.peek() {
            let n = n.clone();
            let span = self.bump().span;
            match self.array_size()? {
                Some(size) => names.extend(elements(&n, size).map(|e| (e, span))),
                None => names.push((n, span)),
            }
            if !self.is_punct(",") {
                break;
            }
            self.bump();
        }
        Ok(names)
    }

    /// `[index]` after an array's name.
    pub(super) fn index(&mut self) -> Result<Expr, Fail> {
        self.expect("[")?;
        let index = self.expr()?;
        self.expect("]")?;
        Ok(index)
    }

    /// `FROM i = lo TO hi { … }`; with `BY`, read on as not translated.
    fn loop_stmt(&mut self, token: &Token) -> Result<Option<Stmt>, Fail> {
        let start = self.pos;
        let (var, _) = self.name()?;
        self.expect("=")?;
        let from = self.expr()?;
        if !self.is_word("TO") {
            let found = self.describe();
            let at = self.span();
            return Err(self.error(at, format!("expected `TO`, found {found}"), "expected `TO`"));
        }
        self.bump();
        let to = self.expr()?;
        if !self.is_punct("{") {
            self.pos = start;
            return Ok(Some(self.skipped_statement("FROM".into(), token)));
        }
        let span = token.span.to(self.tokens[self.pos - 1].span);
        let body = self.block()?;
        Ok(Some(Stmt::From { var, from, to, body, span }))
    }

    fn assignment_or_call(&mut self, word: String, span: Span) -> Result<Option<Stmt>, Fail> {
        if self.is_punct("[") {
            let index = self.index()?;
            self.expect("=")?;
            let value = self.expr()?;
            return Ok(Some(Stmt::Assign { name: word, span, index: Some(index), value }));
        }
        if self.is_punct("'") {
            self.bump();
            self.expect("=")?;
            let value = self.expr()?;
            return Ok(Some(Stmt::Derivative { name: word, span, value }));
        }
        if self.is_punct("=") {
            self.bump();
            let value = self.expr()?;
            return Ok(Some(Stmt::Assign { name: word, span, index: None, value }));
        }
        if self.is_punct("(") {
            let args = self.args()?;
            return Ok(Some(Stmt::Call { name: word, span, args }));
        }
        let found = self.describe();
        let at = self.span();
        Err(self.error(at, format!("expected `=` or `(` after `{word}`, found {found}"), "expected `=`"))
    }

    /// After `~`: `A + 2 B <-> C (kf, kb)`, or a flux `A << (expr)`.
    fn reaction(&mut self, start: Span) -> Result<Stmt, Fail> {
        let lhs = self.reactants()?;
        if self.is_punct("<<") {
            self.bump();
            self.expect("(")?;
            self.expr()?;
            let end = self.expect(")")?;
            return Ok(Stmt::Flux(start.to(end)));
        }
        self.expect("<->")?;
        let rhs = self.reactants()?;
        self.expect("(")?;
        let forward = self.expr()?;
        self.expect(",")?;
        let backward = self.expr()?;
        let end = self.expect(")")?;
        Ok(Stmt::Reaction(Reaction { lhs, rhs, forward, backward, span: start.to(end) }))
    }

    /// `A + 2 B`: names, each with an optional integer count before it.
    fn reactants(&mut self) -> Result<Vec<Reactant>, Fail> {
        let mut out = Vec::new();
        loop {
            let start = self.span();
            let count = match self.peek() {
                Tok::Number(n) => {
                    let parsed = n.parse::<u32>().ok().filter(|c| (1..=16).contains(c));
                    let n = n.clone();
                    self.bump();
                    match parsed {
                        Some(c) => c,
                        None => {
                            return Err(self.error(
                                start,
                                format!("`{n}` is not a reactant count"),
                                "expected 1 to 16",
                            ));
                        }
                    }
                }
                _ => 1,
            };
            let (name, span) = self.name()?;
            out.push(Reactant { count, name, span: start.to(span) });
            if !self.is_punct("+") {
                return Ok(out);
            }
            self.bump();
        }
    }

    /// `CONSERVE A + B = total` (a term other than a bare name makes it not `plain`).
    fn conserve(&mut self, start: Span) -> Result<Option<Stmt>, Fail> {
        let mut states = Vec::new();
        let mut plain = true;
        loop {
            let term = self.binary(4)?;
            match term {
                Expr::Name(n, s) => states.push((n, s)),
                _ => plain = false,
            }
            if !self.is_punct("+") {
                break;
            }
            self.bump();
        }
        self.expect("=")?;
        let total = self.expr()?;
        let span = start.to(total.span());
        Ok(Some(Stmt::Conserve { states, total, plain, span }))
    }

    /// `COMPARTMENT volume { names }` or `COMPARTMENT i, volume { names }`.
    fn compartment(&mut self, start: Span) -> Result<Option<Stmt>, Fail> {
        let mut volume = self.expr()?;
        let mut indexed = false;
        if self.is_punct(",") {
            self.bump();
            volume = self.expr()?;
            indexed = true;
        }
        self.expect("{")?;
        let mut states = Vec::new();
        while let Tok::Name(n) = self.peek() {
            let n = n.clone();
            states.push((n, self.bump().span));
        }
        let end = self.expect("}")?;
        Ok(Some(Stmt::Compartment { volume, states, indexed, span: start.to(end) }))
    }

    /// Whether a VERBATIM block is dropped: empty, or `return 0;`, the end of the old state
    /// procedures (NEURON's C procedures return an error code, and this one says "none").
    fn is_dropped_verbatim(&self, span: Span) -> bool {
        // The token's span is the keyword; its text runs to ENDVERBATIM.
        let rest = &self.text[span.end as usize..];
        let inner = rest.find("ENDVERBATIM").map_or(rest, |n| &rest[..n]);
        matches!(inner.split_whitespace().collect::<String>().as_str(), "return0;" | "")
    }
}
