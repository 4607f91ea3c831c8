//! Top-level parameters: evaluated in dependency order, with `--set` overrides applied.

use std::collections::HashSet;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir;
use crate::source::Span;
use crate::units::{Dimension, Unit};

use super::constant::{eval, eval_in_unit};
use super::expr::parse_unit;
use super::globals::{Globals, ItemRef, ParamValue};

/// `--set name=value` or a run file's `set:` entry: the value already parsed, with spans in a
/// `<command line>` file or in the run file.
#[derive(Clone, Debug)]
pub struct Override {
    pub name: String,
    /// The setting as messages quote it: `--set weight` or `set: weight`.
    pub shown: String,
    pub name_span: Span,
    /// The value as a number and its unit, if one was written.
    pub value: f64,
    pub unit: Option<crate::units::Unit>,
    pub value_span: Span,
}

pub(crate) fn evaluate(
    globals: &mut Globals<'_>,
    diags: &mut Diagnostics,
    overrides: &[Override],
) -> Vec<ir::GlobalParam> {
    let params: Vec<_> = globals
        .order
        .iter()
        .filter_map(|i| match i {
            ItemRef::Param(p) => Some(*p),
            _ => None,
        })
        .collect();
    let names: HashSet<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
    // Parameters may use earlier ones; evaluate repeatedly until nothing more resolves.
    let mut pending: Vec<_> = params.clone();
    let mut out = Vec::new();
    loop {
        let before = pending.len();
        let mut next = Vec::new();
        for p in pending {
            if references_pending(p, &names, globals) {
                next.push(p);
                continue;
            }
            let unit = match &p.unit {
                Some(u) => match parse_unit(u) {
                    Ok(unit) => unit,
                    Err(d) => {
                        diags.push(d);
                        continue;
                    }
                },
                None => Unit::ONE,
            };
            // With a declared unit the value must have its dimension (bare numbers are in it);
            // without one, the parameter takes whatever dimension its value has.
            let (mut value, dim) = match &p.unit {
                Some(_) => {
                    let what = format!("the value of `{}`", p.name.name);
                    (eval_in_unit(globals, diags, &p.default, unit, true, &what), unit.dim)
                }
                None => match eval(globals, diags, &p.default, &format!("the value of `{}`", p.name.name)) {
                    Some((v, d)) => (Some(v), d.unwrap_or(Dimension::NONE)),
                    None => (None, Dimension::NONE),
                },
            };
            if let Some(o) = overrides.iter().find(|o| o.name == p.name.name) {
                value = apply_override(diags, o, dim, unit).or(value);
            }
            if let Some(v) = value {
                globals.params.insert(p.name.name.clone(), ParamValue { value: v, dim });
                out.push(ir::GlobalParam { name: p.name.name.clone(), value: v, dim, span: p.span });
            }
        }
        if next.is_empty() || next.len() == before {
            for p in &next {
                diags.push(
                    Diagnostic::error(
                        Code::CyclicDefinition,
                        p.name.span,
                        format!("parameter `{}` depends on itself", p.name.name),
                    )
                    .label("part of a cycle of parameters"),
                );
            }
            break;
        }
        pending = next;
    }
    for o in overrides {
        if !params.iter().any(|p| p.name.name == o.name) {
            let mut d = Diagnostic::error(
                Code::InvalidOverride,
                o.name_span,
                format!("`{}`: the model has no parameter `{}`", o.shown, o.name),
            )
            .label("unknown parameter");
            if let Some(s) = did_you_mean(&o.name, params.iter().map(|p| p.name.name.as_str())) {
                d = d.help(format!("did you mean `{s}`?"));
            } else if params.is_empty() {
                d = d.note("this model declares no top-level `param`");
            }
            diags.push(d);
        }
    }
    out
}

/// Whether `p`'s value names itself or a parameter (of `params`) that is not evaluated yet.
/// Linear in the size of the value: a lookup per name, never a scan of all parameters.
fn references_pending(p: &crate::syntax::ast::Param, params: &HashSet<&str>, globals: &Globals<'_>) -> bool {
    let mut used = Vec::new();
    collect_names(&p.default, &mut used);
    used.iter().any(|n| *n == p.name.name || (params.contains(n.as_str()) && !globals.params.contains_key(n)))
}

fn collect_names(expr: &crate::syntax::ast::Expr, out: &mut Vec<String>) {
    use crate::syntax::ast::ExprKind;
    match &expr.kind {
        ExprKind::Number { .. } => {}
        ExprKind::Name(n) => out.push(n.name.clone()),
        ExprKind::Unary(_, a) => collect_names(a, out),
        ExprKind::Binary(_, a, b) => {
            collect_names(a, out);
            collect_names(b, out);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_names(a, out)),
        ExprKind::If { cond, then, otherwise } => {
            collect_names(cond, out);
            collect_names(then, out);
            collect_names(otherwise, out);
        }
        ExprKind::Block { lets, result } => {
            lets.iter().for_each(|l| collect_names(&l.value, out));
            collect_names(result, out);
        }
    }
}

fn apply_override(diags: &mut Diagnostics, o: &Override, dim: crate::units::Dimension, declared: Unit) -> Option<f64> {
    // A bare number is in the parameter's declared unit.
    let unit = o.unit.unwrap_or(declared);
    if o.unit.is_some() && unit.dim != dim {
        diags.push(
            Diagnostic::error(Code::InvalidOverride, o.value_span, format!("`{}`: mismatched dimensions", o.shown))
                .label(format!("expected {}, found {}", dim.describe(), unit.dim.describe())),
        );
        return None;
    }
    let value = o.value * unit.scale;
    if !value.is_finite() {
        // The number was finite; its unit took it out of range (`1e308 S` in µS).
        diags.push(
            Diagnostic::error(Code::InvalidOverride, o.value_span, format!("`{}`: too large", o.shown))
                .label(format!("this is {value} in internal units")),
        );
        return None;
    }
    Some(value)
}
