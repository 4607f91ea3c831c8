//! Compile-time constants: parameter defaults, placement values, network sizes. They may use
//! top-level parameters, named constants and units, but nothing that varies in time.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::expr::ExprArena;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::expr::{Lower, Scope, mismatch};
use super::globals::Globals;

/// Evaluates a constant expression of dimension `unit.dim`. When `bare_in_unit` is set, a
/// dimensionless result is read as a number in `unit` (`param g: S/cm2 = 0.12`). Returns `None`
/// after reporting an error, which includes a value that is not finite.
pub(crate) fn eval_in_unit(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    unit: Unit,
    bare_in_unit: bool,
    what: &str,
) -> Option<f64> {
    eval_in_unit_with(globals, diags, expr, unit, bare_in_unit, what, &[])
}

/// As [`eval_in_unit`], with extra names bound to values.
pub(crate) fn eval_in_unit_with(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    unit: Unit,
    bare_in_unit: bool,
    what: &str,
    bindings: &[(&str, f64, Dimension)],
) -> Option<f64> {
    let (value, dim) = eval_with(globals, diags, expr, bindings, what)?;
    let value = in_unit(diags, expr, value, dim, unit, bare_in_unit, what)?;
    finite(diags, expr, value, what)
}

/// As [`eval_in_unit`] for a limit that may be unbounded: a range's bound, a stop time.
pub(crate) fn eval_limit_in_unit(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    unit: Unit,
    bare_in_unit: bool,
    what: &str,
) -> Option<f64> {
    let (value, dim) = eval_with(globals, diags, expr, &[], what)?;
    in_unit(diags, expr, value, dim, unit, bare_in_unit, what)
}

/// Evaluates a constant expression to a finite value; its dimension is `None` for a bare zero.
pub(crate) fn eval(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    what: &str,
) -> Option<(f64, Option<Dimension>)> {
    let (value, dim) = eval_with(globals, diags, expr, &[], what)?;
    Some((finite(diags, expr, value, what)?, dim))
}

/// A value of dimension `dim` in `unit`, or an error.
fn in_unit(
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    value: f64,
    dim: Option<Dimension>,
    unit: Unit,
    bare_in_unit: bool,
    what: &str,
) -> Option<f64> {
    match dim {
        None => Some(value * if bare_in_unit { unit.scale } else { 1.0 }),
        Some(d) if d == unit.dim => Some(value),
        Some(d) if d.is_none() && bare_in_unit => Some(value * unit.scale),
        Some(d) => {
            diags.push(mismatch(expr.span, unit.dim, d, what));
            None
        }
    }
}

/// The value unless it is infinite (`inf`, or an overflow such as `1e200 * 1e200`), which only
/// limits may be: every engine computes with it.
fn finite(diags: &mut Diagnostics, expr: &ast::Expr, value: f64, what: &str) -> Option<f64> {
    if value.is_finite() {
        return Some(value);
    }
    diags.push(
        Diagnostic::error(Code::InvalidNumber, expr.span, format!("{what} is infinite"))
            .label(format!("this evaluates to {value}"))
            .note("`inf` is only for limits: the bounds of a range and the `stop` of a spike source"),
    );
    None
}

/// Folds a constant expression; a result that is not a number (`0 / 0`, `inf - inf`) is an
/// error wherever the value is used.
fn eval_with(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    expr: &ast::Expr,
    bindings: &[(&str, f64, Dimension)],
    what: &str,
) -> Option<(f64, Option<Dimension>)> {
    let mut arena = ExprArena::new();
    let mut scope = Scope::default();
    let errors_before = diags.error_count();
    let mut lower = Lower::new(&mut arena, diags, globals, &mut scope);
    for (name, value, dim) in bindings {
        let bound = lower.constant(*value, *dim);
        lower.push_local(name, bound);
    }
    let value = lower.lower(expr);
    if diags.error_count() > errors_before {
        return None;
    }
    match arena.constant(value.id) {
        Some(c) if c.is_nan() => {
            diags.push(
                Diagnostic::error(Code::InvalidNumber, expr.span, format!("{what} is not a number"))
                    .label("this evaluates to NaN"),
            );
            None
        }
        Some(c) => Some((c, value.dim)),
        None => {
            // Constant scopes hold only constants, so folding always succeeds.
            diags.push(Diagnostic::error(
                Code::InternalError,
                expr.span,
                "internal compiler error: a constant expression did not fold",
            ));
            None
        }
    }
}

/// Evaluates a non-negative integer (counts, indices, seeds).
pub(crate) fn eval_count(globals: &Globals<'_>, diags: &mut Diagnostics, expr: &ast::Expr, what: &str) -> Option<u64> {
    let value = eval_in_unit(globals, diags, expr, Unit::ONE, false, what)?;
    if value < 0.0 || value.fract() != 0.0 || value > u32::MAX as f64 {
        diags.push(
            Diagnostic::error(
                Code::OutOfRange,
                expr.span,
                format!("{what} must be a whole number from 0 to {}", u32::MAX),
            )
            .label(format!("this is {value}")),
        );
        return None;
    }
    Some(value as u64)
}
