//! Expressions: name resolution, dimension checking and lowering to the IR's expression DAG,
//! all in one walk. A value whose dimension is unknown (after an error, or a bare `0`) is
//! compatible with everything, so one mistake gives one diagnostic.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::expr::{BinaryOp, Expr, ExprArena, ExprId, UnaryOp};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{self, Dimension};

use super::globals::Globals;

/// A lowered expression and its dimension (`None`: unknown, compatible with any).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Value {
    pub id: ExprId,
    pub dim: Option<Dimension>,
}

/// What a name in scope stands for.
#[derive(Clone, Debug)]
pub(crate) enum Symbol {
    Leaf(Expr, Dimension),
    /// A `let` of the mechanism, lowered on first use (index into `Scope::lets`).
    Let(usize),
}

pub(crate) struct LetSlot<'a> {
    pub name: &'a ast::Ident,
    pub value: &'a ast::Expr,
    pub lowered: Option<Value>,
    pub in_progress: bool,
}

/// Names of the enclosing construct (a mechanism's members, or nothing at top level).
#[derive(Default)]
pub(crate) struct Scope<'a> {
    pub symbols: HashMap<String, Symbol>,
    pub lets: Vec<LetSlot<'a>>,
    /// Functions declared inside the mechanism.
    pub functions: HashMap<String, &'a ast::Function>,
}

/// The expression lowerer: one per arena.
pub(crate) struct Lower<'a, 's> {
    pub arena: &'a mut ExprArena,
    pub diags: &'a mut Diagnostics,
    pub globals: &'a Globals<'s>,
    pub scope: &'a mut Scope<'s>,
    locals: Vec<(String, Value)>,
    /// Functions being inlined, innermost last (recursion is an error).
    calls: Vec<String>,
    /// Above zero while inlining a function body whose errors were reported already.
    quiet: u32,
}

impl<'a, 's> Lower<'a, 's> {
    pub fn new(
        arena: &'a mut ExprArena,
        diags: &'a mut Diagnostics,
        globals: &'a Globals<'s>,
        scope: &'a mut Scope<'s>,
    ) -> Self {
        Lower { arena, diags, globals, scope, locals: Vec::new(), calls: Vec::new(), quiet: 0 }
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        if self.quiet == 0 {
            self.diags.push(diagnostic);
        }
    }

    fn unknown(&mut self) -> Value {
        Value { id: self.arena.constant_expr(0.0), dim: None }
    }

    pub fn constant(&mut self, value: f64, dim: Dimension) -> Value {
        Value { id: self.arena.constant_expr(value), dim: Some(dim) }
    }

    /// Binds a local name (function parameters, block `let`s) until `pop_locals`.
    pub fn push_local(&mut self, name: &str, value: Value) {
        self.locals.push((name.to_string(), value));
    }

    /// Lowers an expression and checks that it has dimension `expected` (`what` names the
    /// place in the message, e.g. "the default of `gnabar`").
    pub fn expect(&mut self, expr: &ast::Expr, expected: Dimension, what: &str) -> Value {
        let value = self.lower(expr);
        if let Some(found) = value.dim
            && found != expected
            && let Some(slot) = self.let_named(expr)
        {
            // `alpha = a`: the unit is wrong where `a` is written, not where it is used.
            let d = mismatch(slot.value.span, expected, found, what)
                .secondary(expr.span, format!("`{}` is used here", slot.name.name));
            self.report(d);
            return value;
        }
        self.require(value, expected, expr.span, what);
        value
    }

    /// The mechanism's `let` that `expr` is just the name of.
    fn let_named(&self, expr: &ast::Expr) -> Option<&LetSlot<'s>> {
        let ast::ExprKind::Name(ident) = &expr.kind else { return None };
        if !self.calls.is_empty() || self.locals.iter().any(|(n, _)| *n == ident.name) {
            return None;
        }
        match self.scope.symbols.get(&ident.name)? {
            Symbol::Let(index) => Some(&self.scope.lets[*index]),
            Symbol::Leaf(..) => None,
        }
    }

    pub fn require(&mut self, value: Value, expected: Dimension, span: Span, what: &str) {
        if let Some(found) = value.dim
            && found != expected
        {
            self.report(mismatch(span, expected, found, what));
        }
    }

    pub fn lower(&mut self, expr: &ast::Expr) -> Value {
        let value = self.lower_kind(expr);
        if self.quiet == 0 && self.calls.is_empty() {
            self.globals.expr_dims.borrow_mut().push((expr.span, value.dim));
        }
        value
    }

    fn lower_kind(&mut self, expr: &ast::Expr) -> Value {
        match &expr.kind {
            ast::ExprKind::Number { value, unit } => self.number(*value, unit.as_ref(), expr.span),
            ast::ExprKind::Name(ident) => self.name(ident),
            ast::ExprKind::Unary(op, operand) => {
                let x = self.lower(operand);
                match op {
                    ast::UnaryOp::Neg => Value { id: self.arena.neg(x.id), dim: x.dim },
                    ast::UnaryOp::Not => Value { id: self.arena.unary(UnaryOp::Not, x.id), dim: Some(Dimension::NONE) },
                }
            }
            ast::ExprKind::Binary(op, lhs, rhs) => self.binary(*op, lhs, rhs, expr.span),
            ast::ExprKind::Call { callee, args } => self.call(callee, args, expr.span),
            ast::ExprKind::If { cond, then, otherwise } => {
                let c = self.lower(cond);
                let a = self.lower(then);
                let b = self.lower(otherwise);
                let dim = self.unify(a, b, otherwise.span, "both branches of `if`");
                Value { id: self.arena.select(c.id, a.id, b.id), dim }
            }
            ast::ExprKind::Block { lets, result } => {
                let mark = self.locals.len();
                for local in lets {
                    let value = self.lower(&local.value);
                    self.locals.push((local.name.name.clone(), value));
                }
                let value = self.lower(result);
                self.locals.truncate(mark);
                value
            }
        }
    }

    fn number(&mut self, value: f64, unit: Option<&ast::UnitExpr>, span: Span) -> Value {
        let Some(unit) = unit else {
            // A bare zero fits any dimension (`A = 0`), as in NMODL.
            let dim = if value == 0.0 { None } else { Some(Dimension::NONE) };
            return Value { id: self.arena.constant_expr(value), dim };
        };
        match parse_unit(unit) {
            Ok(u) => self.constant(value * u.scale, u.dim),
            Err(mut d) => {
                // `13 ms*x`: a name glued to a unit by `*` or `/` is read as part of the unit.
                if d.primary.span.start > unit.span.start {
                    d = d.note(format!(
                        "`{}` is read as one unit: put spaces around `*` or `/` to multiply or divide by a name",
                        unit.text
                    ));
                }
                self.report(d);
                let _ = span;
                self.unknown()
            }
        }
    }

    fn name(&mut self, ident: &ast::Ident) -> Value {
        let name = ident.name.as_str();
        if let Some((_, value)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return *value;
        }
        if self.calls.is_empty()
            && let Some(symbol) = self.scope.symbols.get(name).cloned()
        {
            return match symbol {
                Symbol::Leaf(leaf, dim) => Value { id: self.arena.leaf(leaf), dim: Some(dim) },
                Symbol::Let(index) => self.lower_let(index, ident.span),
            };
        }
        if let Some(param) = self.globals.param(name, ident.span.file) {
            return self.constant(param.value, param.dim);
        }
        if let Some((value, dim)) = constant(name) {
            return self.constant(value, dim);
        }
        if let Some(unit) = units::lookup_atom(name) {
            return self.constant(unit.scale, unit.dim);
        }
        // A parameter that did not parse was reported where it broke.
        if self.globals.is_broken(name) {
            return self.unknown();
        }
        if name == "v_pre" && self.calls.is_empty() && self.scope.symbols.contains_key("v") {
            // Inside a density mechanism: it has no presynaptic cell.
            self.report(
                Diagnostic::error(
                    Code::PreVoltageUnavailable,
                    ident.span,
                    "`v_pre` (the presynaptic voltage) is read by point mechanisms only",
                )
                .label("in a density mechanism")
                .help("declare the mechanism with `point` and connect it: `connect pre -> post.syn`"),
            );
            return self.unknown();
        }
        let mut candidates: Vec<&str> = self.locals.iter().map(|(n, _)| n.as_str()).collect();
        if self.calls.is_empty() {
            candidates.extend(self.scope.symbols.keys().map(String::as_str));
        }
        candidates.extend(self.globals.param_names());
        candidates.extend(CONSTANTS.iter().map(|(n, _, _)| *n));
        let mut d = Diagnostic::error(Code::UndefinedName, ident.span, format!("cannot find `{name}` in this scope"))
            .label("not defined");
        if let Some(s) = did_you_mean(name, candidates) {
            d = d.help(format!("a name with a similar spelling exists: `{s}`"));
        } else if matches!(name, "v" | "t" | "dt" | "celsius" | "area" | "diam") {
            d = d.note(format!("`{name}` is available inside mechanisms only"));
        }
        self.report(d);
        self.unknown()
    }

    fn lower_let(&mut self, index: usize, use_span: Span) -> Value {
        if let Some(value) = self.scope.lets[index].lowered {
            return value;
        }
        let name = self.scope.lets[index].name;
        if self.scope.lets[index].in_progress {
            self.report(
                Diagnostic::error(
                    Code::CyclicDefinition,
                    name.span,
                    format!("`{}` is defined in terms of itself", name.name),
                )
                .secondary(use_span, "used here while being defined"),
            );
            let v = self.unknown();
            self.scope.lets[index].lowered = Some(v);
            return v;
        }
        self.scope.lets[index].in_progress = true;
        let expr = self.scope.lets[index].value;
        // A let's body sees no block locals of the place that first used it.
        let saved = std::mem::take(&mut self.locals);
        let value = self.lower(expr);
        self.locals = saved;
        self.scope.lets[index].in_progress = false;
        self.scope.lets[index].lowered = Some(value);
        value
    }

    fn unify(&mut self, a: Value, b: Value, span: Span, what: &str) -> Option<Dimension> {
        match (a.dim, b.dim) {
            (Some(x), Some(y)) if x != y => {
                self.report(mismatch(span, x, y, what));
                None
            }
            (Some(x), _) | (None, Some(x)) => Some(x),
            (None, None) => None,
        }
    }

    fn binary(&mut self, op: ast::BinaryOp, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> Value {
        let a = self.lower(lhs);
        if op == ast::BinaryOp::Pow {
            return self.power(a, rhs, span);
        }
        let b = self.lower(rhs);
        let what = format!("the operands of `{}`", op.symbol());
        let (ir_op, dim) = match op {
            ast::BinaryOp::Add => (BinaryOp::Add, self.unify(a, b, rhs.span, &what)),
            ast::BinaryOp::Sub => (BinaryOp::Sub, self.unify(a, b, rhs.span, &what)),
            ast::BinaryOp::Mul => (BinaryOp::Mul, a.dim.zip(b.dim).map(|(x, y)| x.mul(y))),
            ast::BinaryOp::Div => (BinaryOp::Div, a.dim.zip(b.dim).map(|(x, y)| x.div(y))),
            ast::BinaryOp::Lt
            | ast::BinaryOp::Le
            | ast::BinaryOp::Gt
            | ast::BinaryOp::Ge
            | ast::BinaryOp::Eq
            | ast::BinaryOp::Ne => {
                self.unify(a, b, rhs.span, &what);
                let ir = match op {
                    ast::BinaryOp::Lt => BinaryOp::Lt,
                    ast::BinaryOp::Le => BinaryOp::Le,
                    ast::BinaryOp::Gt => BinaryOp::Gt,
                    ast::BinaryOp::Ge => BinaryOp::Ge,
                    ast::BinaryOp::Eq => BinaryOp::Eq,
                    _ => BinaryOp::Ne,
                };
                (ir, Some(Dimension::NONE))
            }
            ast::BinaryOp::And => (BinaryOp::And, Some(Dimension::NONE)),
            ast::BinaryOp::Or => (BinaryOp::Or, Some(Dimension::NONE)),
            ast::BinaryOp::Pow => unreachable!("handled above"),
        };
        Value { id: self.arena.binary(ir_op, a.id, b.id), dim }
    }

    fn power(&mut self, base: Value, exponent: &ast::Expr, span: Span) -> Value {
        let e = self.lower(exponent);
        self.require(e, Dimension::NONE, exponent.span, "an exponent");
        let integer = self.arena.constant(e.id).filter(|x| x.fract() == 0.0 && x.abs() <= 64.0);
        match (base.dim, integer) {
            (_, Some(n)) => {
                let n = n as i32;
                let dim = match base.dim.map(|d| d.powi(n)) {
                    Some(Some(d)) => Some(d),
                    Some(None) => {
                        self.report(Diagnostic::error(
                            Code::DimensionMismatch,
                            span,
                            "the dimension of this power is too large",
                        ));
                        None
                    }
                    None => None,
                };
                Value { id: self.arena.powi(base.id, n), dim }
            }
            (Some(d), None) if !d.is_none() => {
                self.report(
                    Diagnostic::error(
                        Code::NonIntegerPower,
                        exponent.span,
                        "a quantity with units can only be raised to a constant integer power",
                    )
                    .label("not a constant integer")
                    .note(format!("the base is {}", d.describe())),
                );
                self.unknown()
            }
            _ => Value { id: self.arena.binary(BinaryOp::Pow, base.id, e.id), dim: base.dim },
        }
    }

    fn call(&mut self, callee: &ast::Ident, args: &[ast::Expr], span: Span) -> Value {
        let name = callee.name.as_str();
        let local = self.scope.functions.get(name).copied();
        if let Some(function) = local.or_else(|| self.globals.function(name, callee.span.file)) {
            return self.inline(function, callee, args, span);
        }
        let Some(arity) = builtin_arity(name) else {
            // A function that did not parse was reported where it broke.
            if self.globals.is_broken(name) {
                for arg in args {
                    self.lower(arg);
                }
                return self.unknown();
            }
            let mut candidates: Vec<&str> = self.globals.function_names().collect();
            candidates.extend(BUILTIN_FUNCTIONS.iter().map(|(n, _)| *n));
            let mut d = Diagnostic::error(Code::UndefinedName, callee.span, format!("cannot find function `{name}`"))
                .label("not a function");
            if let Some(s) = did_you_mean(name, candidates) {
                d = d.help(format!("a function with a similar name exists: `{s}`"));
            }
            self.report(d);
            for arg in args {
                self.lower(arg);
            }
            return self.unknown();
        };
        let values: Vec<Value> = args.iter().map(|a| self.lower(a)).collect();
        if values.len() != arity {
            self.report(wrong_count(callee, arity, values.len(), span));
            return self.unknown();
        }
        self.builtin(name, &values, args)
    }

    fn builtin(&mut self, name: &str, v: &[Value], args: &[ast::Expr]) -> Value {
        let none = Dimension::NONE;
        let dimensionless = |this: &mut Self, i: usize| {
            if let Some(d) = v[i].dim
                && !d.is_none()
            {
                this.report(
                    Diagnostic::error(
                        Code::DimensionedTranscendental,
                        args[i].span,
                        format!("`{name}` needs a dimensionless argument"),
                    )
                    .label(format!("this is {}", d.describe()))
                    .help("divide by a quantity of the same unit, for example `v / 1 mV`"),
                );
            }
        };
        let unary = |this: &mut Self, op: UnaryOp| Value { id: this.arena.unary(op, v[0].id), dim: Some(none) };
        match name {
            "exp" | "log" | "log10" | "sin" | "cos" | "tanh" | "exprelr" | "sigmoid" => {
                dimensionless(self, 0);
                match name {
                    "exp" => unary(self, UnaryOp::Exp),
                    "log" => unary(self, UnaryOp::Log),
                    "log10" => unary(self, UnaryOp::Log10),
                    "sin" => unary(self, UnaryOp::Sin),
                    "cos" => unary(self, UnaryOp::Cos),
                    "tanh" => unary(self, UnaryOp::Tanh),
                    "exprelr" => {
                        let x = v[0].id;
                        let id = self.exprelr(x);
                        Value { id, dim: Some(none) }
                    }
                    _ => {
                        // 1 / (1 + exp(-x))
                        let nx = self.arena.neg(v[0].id);
                        let e = self.arena.unary(UnaryOp::Exp, nx);
                        let one = self.arena.constant_expr(1.0);
                        let den = self.arena.add(one, e);
                        Value { id: self.arena.div(one, den), dim: Some(none) }
                    }
                }
            }
            "sqrt" => {
                let dim = match v[0].dim {
                    Some(d) => match dimension_sqrt(d) {
                        Some(r) => Some(r),
                        None => {
                            self.report(Diagnostic::error(
                                Code::NonIntegerPower,
                                args[0].span,
                                format!("the square root of {} has no unit", d.describe()),
                            ));
                            None
                        }
                    },
                    None => None,
                };
                Value { id: self.arena.unary(UnaryOp::Sqrt, v[0].id), dim }
            }
            "abs" => Value { id: self.arena.unary(UnaryOp::Abs, v[0].id), dim: v[0].dim },
            "min" | "max" => {
                let dim = self.unify(v[0], v[1], args[1].span, &format!("the arguments of `{name}`"));
                let op = if name == "min" { BinaryOp::Min } else { BinaryOp::Max };
                Value { id: self.arena.binary(op, v[0].id, v[1].id), dim }
            }
            "pow" => {
                dimensionless(self, 0);
                dimensionless(self, 1);
                Value { id: self.arena.binary(BinaryOp::Pow, v[0].id, v[1].id), dim: Some(none) }
            }
            _ => {
                // vtrap(x, y) = x / (exp(x/y) - 1), guarded near 0 as NEURON's hh.mod.
                let dim = self.unify(v[0], v[1], args[1].span, "the arguments of `vtrap`");
                let (x, y) = (v[0].id, v[1].id);
                let ratio = self.arena.div(x, y);
                let ex = self.exprelr(ratio);
                Value { id: self.arena.mul(y, ex), dim }
            }
        }
    }

    /// x / (exp(x) - 1), with the limit 1 - x/2 for |x| < 1e-6 (NEURON's guard).
    fn exprelr(&mut self, x: ExprId) -> ExprId {
        let a = &mut *self.arena;
        let abs = a.unary(UnaryOp::Abs, x);
        let eps = a.constant_expr(1e-6);
        let small = a.binary(BinaryOp::Lt, abs, eps);
        let one = a.constant_expr(1.0);
        let half = a.constant_expr(0.5);
        let hx = a.mul(half, x);
        let series = a.sub(one, hx);
        let e = a.unary(UnaryOp::Exp, x);
        let em1 = a.sub(e, one);
        let exact = a.div(x, em1);
        a.select(small, series, exact)
    }

    fn inline(&mut self, function: &ast::Function, callee: &ast::Ident, args: &[ast::Expr], span: Span) -> Value {
        let values: Vec<Value> = args.iter().map(|a| self.lower(a)).collect();
        if values.len() != function.params.len() {
            self.report(
                wrong_count(callee, function.params.len(), values.len(), span)
                    .secondary(function.name.span, "defined here"),
            );
            return self.unknown();
        }
        if self.calls.contains(&function.name.name) {
            self.report(
                Diagnostic::error(
                    Code::CyclicDefinition,
                    callee.span,
                    format!("function `{}` calls itself", function.name.name),
                )
                .secondary(function.name.span, "defined here")
                .note("functions are inlined and may not be recursive"),
            );
            return self.unknown();
        }
        for ((param, value), arg) in function.params.iter().zip(&values).zip(args) {
            if let Ok(unit) = units::parse_unit(&param.unit.text) {
                self.require(
                    *value,
                    unit.dim,
                    arg.span,
                    &format!("argument `{}` of `{}`", param.name.name, function.name.name),
                );
            }
        }
        let mark = self.locals.len();
        // The body sees only its parameters (functions are pure).
        let saved = std::mem::take(&mut self.locals);
        for (param, value) in function.params.iter().zip(&values) {
            let dim = units::parse_unit(&param.unit.text).ok().map(|u| u.dim);
            self.locals.push((param.name.name.clone(), Value { id: value.id, dim }));
        }
        self.calls.push(function.name.name.clone());
        self.quiet += 1;
        let mut result = self.lower(&function.body);
        self.quiet -= 1;
        self.calls.pop();
        self.locals = saved;
        self.locals.truncate(mark);
        if let Some(unit) = function.result.as_ref().and_then(|u| units::parse_unit(&u.text).ok()) {
            result.dim = Some(unit.dim);
        }
        result
    }
}

/// Parses a unit written in the model, as a diagnostic on failure.
#[allow(clippy::result_large_err)] // A diagnostic is the error; it is built on a cold path.
pub(crate) fn parse_unit(unit: &ast::UnitExpr) -> Result<units::Unit, Diagnostic> {
    units::parse_unit(&unit.text).map_err(|e| {
        let start = unit.span.start + e.range.start as u32;
        let end = (unit.span.start + e.range.end as u32).clamp(start, unit.span.end.max(start));
        let span = Span { file: unit.span.file, start, end };
        let mut d = Diagnostic::error(Code::UnknownUnit, span, e.message.clone()).label("not a unit");
        if let Some(s) = e.suggestion {
            d = d.help(format!("did you mean `{s}`?"));
        }
        d
    })
}

pub(crate) fn mismatch(span: Span, expected: Dimension, found: Dimension, what: &str) -> Diagnostic {
    Diagnostic::error(Code::DimensionMismatch, span, format!("mismatched dimensions in {what}")).label(format!(
        "expected {}, found {}",
        expected.describe(),
        found.describe()
    ))
}

fn wrong_count(callee: &ast::Ident, expected: usize, found: usize, span: Span) -> Diagnostic {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    Diagnostic::error(
        Code::WrongArgumentCount,
        span,
        format!(
            "`{}` takes {expected} argument{} but {found} {} given",
            callee.name,
            plural(expected),
            if found == 1 { "was" } else { "were" }
        ),
    )
    .label(format!("expected {expected} argument{}", plural(expected)))
}

/// Built-in functions and their argument counts.
pub(crate) const BUILTIN_FUNCTIONS: &[(&str, usize)] = &[
    ("exp", 1),
    ("log", 1),
    ("log10", 1),
    ("sqrt", 1),
    ("abs", 1),
    ("sin", 1),
    ("cos", 1),
    ("tanh", 1),
    ("exprelr", 1),
    ("sigmoid", 1),
    ("min", 2),
    ("max", 2),
    ("pow", 2),
    ("vtrap", 2),
];

fn builtin_arity(name: &str) -> Option<usize> {
    BUILTIN_FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// Named physical constants, values in SI units converted through their unit text.
pub(crate) const CONSTANTS: &[(&str, f64, &str)] = &[
    // NEURON 9's value (e × N_A as a double), so that models reproduce its numbers.
    ("FARADAY", 96485.33212331001, "C/mol"),
    ("R", 8.314462618, "J/mol/K"),
    ("PI", std::f64::consts::PI, "1"),
    ("E", std::f64::consts::E, "1"),
];

fn constant(name: &str) -> Option<(f64, Dimension)> {
    let (_, value, unit) = CONSTANTS.iter().find(|(n, _, _)| *n == name)?;
    let unit = units::parse_unit(unit).ok()?;
    Some((value * unit.scale, unit.dim))
}

/// The square root of a dimension, when every exponent is even.
fn dimension_sqrt(d: Dimension) -> Option<Dimension> {
    d.0.iter().all(|e| e % 2 == 0).then(|| Dimension(d.0.map(|e| e / 2)))
}
