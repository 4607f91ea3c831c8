//! Expressions: pest gives a flat list of operands and operators, pest's Pratt parser orders
//! them. Depth is bounded so that neither the builder nor later phases recurse without limit.

use std::sync::LazyLock;

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::build::Ctx;
use super::grammar::Rule;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BinaryOp, Expr, ExprKind, UnaryOp};

/// The deepest expression tree the parser builds (operators, calls, conditionals and
/// parentheses all count).
pub(super) const MAX_EXPR_DEPTH: usize = 500;

/// Lowest to highest: `||`, `&&`, comparisons, `+ -`, `* /`, unary `- !`, `^` (right).
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::neg) | Op::prefix(Rule::not))
        .op(Op::infix(Rule::pow, Assoc::Right))
});

fn is_operator(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::or
            | Rule::and
            | Rule::eq
            | Rule::ne
            | Rule::lt
            | Rule::le
            | Rule::gt
            | Rule::ge
            | Rule::add
            | Rule::sub
            | Rule::mul
            | Rule::div
            | Rule::pow
            | Rule::neg
            | Rule::not
    )
}

fn binary_op(rule: Rule) -> BinaryOp {
    match rule {
        Rule::or => BinaryOp::Or,
        Rule::and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::lt => BinaryOp::Lt,
        Rule::le => BinaryOp::Le,
        Rule::gt => BinaryOp::Gt,
        Rule::ge => BinaryOp::Ge,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        _ => BinaryOp::Pow,
    }
}

/// Where spans go: enough to make them without borrowing the context.
#[derive(Copy, Clone)]
struct Loc {
    file: FileId,
    offset: usize,
}

impl Loc {
    fn span(self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, self.offset + s.start()..self.offset + s.end())
    }
}

/// A stand-in for an expression that could not be built.
fn placeholder(span: Span) -> Expr {
    Expr { kind: ExprKind::Number { value: 0.0, unit: None }, span }
}

impl Ctx<'_> {
    /// Builds an `expr` pair at tree depth `depth`.
    pub(super) fn expr(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        stacker::maybe_grow(256 << 10, 4 << 20, || self.expr_here(pair, depth))
    }

    fn expr_here(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        let span = self.span(&pair);
        if pair.as_rule() != Rule::expr {
            return self.primary(pair, depth);
        }
        let operators = pair.clone().into_inner().filter(|p| is_operator(p.as_rule())).count();
        let depth = depth + operators + 1;
        if depth > MAX_EXPR_DEPTH {
            return self.too_deep(span);
        }
        let loc = Loc { file: self.file, offset: self.offset };
        PRATT
            .map_primary(|p| self.primary(p, depth))
            .map_prefix(|op, rhs| {
                let span = loc.span(&op).to(rhs.span);
                let op = if op.as_rule() == Rule::not { UnaryOp::Not } else { UnaryOp::Neg };
                Expr { kind: ExprKind::Unary(op, Box::new(rhs)), span }
            })
            .map_infix(|lhs, op, rhs| {
                let span = lhs.span.to(rhs.span);
                Expr { kind: ExprKind::Binary(binary_op(op.as_rule()), Box::new(lhs), Box::new(rhs)), span }
            })
            .parse(pair.into_inner())
    }

    fn too_deep(&mut self, span: Span) -> Expr {
        if std::mem::replace(&mut self.broken, true) {
            return placeholder(span);
        }
        self.diags.push(
            Diagnostic::error(Code::Syntax, span, "expression too deeply nested")
                .label(format!("this expression is more than {MAX_EXPR_DEPTH} operations deep"))
                .help("split it with `let`"),
        );
        placeholder(span)
    }

    fn primary(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::number_lit => return self.number_lit(pair),
            Rule::inf_lit => ExprKind::Number { value: f64::INFINITY, unit: None },
            Rule::name => ExprKind::Name(self.ident(&pair)),
            Rule::paren => {
                // The parentheses belong to the inner expression's span.
                let inner = pair.into_inner().find(|p| p.as_rule() == Rule::expr);
                let mut expr = match inner {
                    Some(inner) => self.expr(inner, depth + 1),
                    None => placeholder(span),
                };
                expr.span = span;
                return expr;
            }
            Rule::call => {
                let mut callee = None;
                let mut args = Vec::new();
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::callee => callee = Some(self.ident(&p)),
                        Rule::expr => args.push(self.expr(p, depth + 1)),
                        _ => {}
                    }
                }
                match callee {
                    Some(callee) => ExprKind::Call { callee, args },
                    None => return placeholder(span),
                }
            }
            Rule::if_expr => return self.if_expr(pair, depth),
            Rule::block => return self.block(pair, depth),
            _ => return placeholder(span),
        };
        Expr { kind, span }
    }

    /// `if c { a } else if d { b } else { e }`: the chain nests to the right.
    fn if_expr(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        let span = self.span(&pair);
        let end = span.end;
        let mut ifs = Vec::new();
        let mut conds = Vec::new();
        let mut blocks = Vec::new();
        let inner: Vec<Pair<Rule>> = pair.into_inner().collect();
        let chain = inner.iter().filter(|p| p.as_rule() == Rule::kw_if).count();
        let depth = depth + chain;
        if depth > MAX_EXPR_DEPTH {
            return self.too_deep(span);
        }
        for p in inner {
            match p.as_rule() {
                Rule::kw_if => ifs.push(self.span(&p).start),
                Rule::expr => conds.push(self.expr(p, depth)),
                Rule::block => blocks.push(self.block(p, depth)),
                _ => {}
            }
        }
        let Some(mut result) = blocks.pop() else { return placeholder(span) };
        while let (Some(cond), Some(then), Some(start)) = (conds.pop(), blocks.pop(), ifs.pop()) {
            let span = Span { file: self.file, start, end };
            result = Expr {
                kind: ExprKind::If { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(result) },
                span,
            };
        }
        result
    }

    /// `{ let a = …; result }`; without `let`s, the result itself (its span widened to the
    /// braces).
    pub(super) fn block(&mut self, pair: Pair<Rule>, depth: usize) -> Expr {
        let span = self.span(&pair);
        let mut lets = Vec::new();
        let mut result = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::let_decl => {
                    if let Some(l) = self.let_decl(p, depth + 1) {
                        lets.push(l);
                    }
                }
                Rule::expr => result = Some(self.expr(p, depth + 1)),
                _ => {}
            }
        }
        let Some(mut result) = result else { return placeholder(span) };
        if lets.is_empty() {
            result.span = span;
            return result;
        }
        Expr { kind: ExprKind::Block { lets, result: Box::new(result) }, span }
    }

    /// `let name = expr`, in a block or a mechanism.
    pub(super) fn let_decl(&mut self, pair: Pair<Rule>, depth: usize) -> Option<ast::Let> {
        let span = self.span(&pair);
        let mut name = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::name => name = Some(self.ident(&p)),
                Rule::expr => value = Some(self.expr(p, depth)),
                _ => {}
            }
        }
        Some(ast::Let { doc: self.doc(span), name: name?, value: value?, span })
    }

    /// A number and its unit. A number too large for an `f64` is reported and read as 0.
    fn number_lit(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let mut value = 0.0;
        let mut unit = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::number => value = self.number(&p),
                Rule::unit => unit = Some(self.unit(&p)),
                _ => {}
            }
        }
        Expr { kind: ExprKind::Number { value, unit }, span }
    }

    fn number(&mut self, pair: &Pair<Rule>) -> f64 {
        match pair.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.diags.push(
                    Diagnostic::error(Code::InvalidNumber, self.span(pair), "number too large")
                        .label("this does not fit in a 64-bit float")
                        .note("the largest number is about 1.8e308"),
                );
                0.0
            }
        }
    }
}
