//! The `simulation` block, and standalone checking of top-level functions.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::expr::{Expr, ExprArena};
use crate::ir::{self, Backend, Precision};
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::constant::eval_in_unit;
use super::expr::{Lower, Scope, Value, parse_unit};
use super::globals::Globals;
use super::morphology::unknown_property;

/// Checks the simulation settings and picks the network to run.
pub(crate) fn check<'a>(
    globals: &Globals<'a>,
    diags: &mut Diagnostics,
    networks: &[&'a ast::Network],
) -> (ir::Simulation, Option<&'a ast::Network>) {
    let mut sim =
        ir::Simulation { dt: 0.025, duration: 0.0, celsius: 6.3, backend: Backend::Cpu, precision: Precision::F64 };
    let mut chosen: Option<&ast::Network> = None;
    let Some(block) = globals.simulations.first() else {
        report_missing_block(diags, networks);
        return (sim, None);
    };
    for extra in globals.simulations.iter().skip(1) {
        diags.push(
            Diagnostic::error(Code::DuplicateName, extra.span, "a model has only one `simulation` block")
                .secondary(block.span, "the first one"),
        );
    }
    let mut have_duration = false;
    for prop in &block.props {
        let key = prop.key.name.as_str();
        match key {
            "dt" | "duration" => {
                if let Some(v) = positive_time(globals, diags, prop, key) {
                    if key == "dt" {
                        sim.dt = v;
                    } else {
                        sim.duration = v;
                        have_duration = true;
                    }
                }
            }
            "temperature" => {
                if let Some(v) = temperature(globals, diags, prop) {
                    sim.celsius = v;
                }
            }
            "backend" => match word(&prop.value) {
                Some("cpu") => sim.backend = Backend::Cpu,
                Some("gpu") => sim.backend = Backend::Gpu,
                _ => diags.push(Diagnostic::error(
                    Code::InvalidSimulation,
                    prop.value.span,
                    "the backend is `cpu` or `gpu`",
                )),
            },
            "precision" => match word(&prop.value) {
                Some("f64") => sim.precision = Precision::F64,
                Some("f32") => sim.precision = Precision::F32,
                _ => diags.push(Diagnostic::error(
                    Code::InvalidSimulation,
                    prop.value.span,
                    "the precision is `f64` or `f32`",
                )),
            },
            "network" => {
                if let Some(found) = named_network(globals, diags, prop, networks) {
                    chosen = Some(found);
                }
            }
            _ => diags.push(unknown_property(
                &prop.key,
                "simulations",
                &["dt", "duration", "temperature", "backend", "precision", "network"],
            )),
        }
    }
    if !have_duration && !block.props.iter().any(|p| p.key.name == "duration") {
        diags.push(
            Diagnostic::error(Code::InvalidSimulation, block.span, "the simulation has no `duration`")
                .help("add `duration = 100 ms`"),
        );
    }
    if chosen.is_none() && !block.props.iter().any(|p| p.key.name == "network") {
        chosen = only_network(diags, block, networks);
    }
    (sim, chosen)
}

/// A model with a network but no `simulation` block is an error; one without either is not.
fn report_missing_block(diags: &mut Diagnostics, networks: &[&ast::Network]) {
    if let Some(n) = networks.first() {
        diags.push(
            Diagnostic::error(
                Code::InvalidSimulation,
                n.name.span,
                "this model has a network but no `simulation` block",
            )
            .help("add `simulation { dt = 0.025 ms, duration = 100 ms }`"),
        );
    }
}

/// The value of `dt` or `duration` (`key`), if it is a positive time.
fn positive_time(globals: &Globals<'_>, diags: &mut Diagnostics, prop: &ast::Property, key: &str) -> Option<f64> {
    let time = Unit { dim: Dimension::TIME, scale: 1.0 };
    let v = eval_in_unit(globals, diags, &prop.value, time, false, &format!("`{key}`"))?;
    if v <= 0.0 {
        diags.push(Diagnostic::error(Code::InvalidSimulation, prop.value.span, format!("`{key}` must be positive")));
        return None;
    }
    Some(v)
}

/// The temperature in degC, if it is one: not written in kelvin, not below absolute zero.
fn temperature(globals: &Globals<'_>, diags: &mut Diagnostics, prop: &ast::Property) -> Option<f64> {
    // `K` is a temperature step, as in NMODL, so `310 K` would silently be 310 degC.
    if let ast::ExprKind::Number { value, unit: Some(u) } = &prop.value.kind
        && u.text.trim() == "K"
    {
        diags.push(
            Diagnostic::error(Code::InvalidSimulation, u.span, "the temperature is written in kelvin")
                .label(format!("this would be read as {value} degC"))
                .note("the simulation temperature is in degC; `K` is a temperature step, without an offset")
                .help(format!("write `{} degC`", ((value - 273.15) * 1e6).round() / 1e6)),
        );
        return None;
    }
    let unit = Unit { dim: Dimension::TEMPERATURE, scale: 1.0 };
    match eval_in_unit(globals, diags, &prop.value, unit, false, "the temperature") {
        Some(v) if v < ir::ABSOLUTE_ZERO_CELSIUS => {
            diags.push(
                Diagnostic::error(Code::InvalidSimulation, prop.value.span, "the temperature is below absolute zero")
                    .label(format!("this is {v} degC"))
                    .note("the temperature is in degC: `K` and `degC` are the same step, without an offset")
                    .help("physiological temperatures are 6.3 degC (hh's) to 37 degC"),
            );
            None
        }
        v => v,
    }
}

/// The network `network = name` names, if it exists.
fn named_network<'a>(
    globals: &Globals<'a>,
    diags: &mut Diagnostics,
    prop: &ast::Property,
    networks: &[&'a ast::Network],
) -> Option<&'a ast::Network> {
    let ast::ExprKind::Name(n) = &prop.value.kind else {
        diags.push(Diagnostic::error(Code::InvalidSimulation, prop.value.span, "write the name of a network"));
        return None;
    };
    match networks.iter().find(|x| x.name.name == n.name) {
        Some(found) => {
            globals.mark_used(&n.name, n.span.file);
            Some(found)
        }
        None if globals.is_broken(&n.name) => None,
        None => {
            let mut d = Diagnostic::error(Code::UndefinedName, n.span, format!("cannot find network `{}`", n.name));
            if let Some(s) = did_you_mean(&n.name, networks.iter().map(|x| x.name.name.as_str())) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            None
        }
    }
}

/// Without `network = name`: the model's only network; several, or none, is an error.
fn only_network<'a>(
    diags: &mut Diagnostics,
    block: &ast::Simulation,
    networks: &[&'a ast::Network],
) -> Option<&'a ast::Network> {
    match networks {
        // A network that failed to parse was reported already.
        [] if diags.iter().any(|d| d.code == Code::Syntax) => None,
        [] => {
            diags.push(
                Diagnostic::error(Code::InvalidSimulation, block.span, "there is no network to simulate")
                    .help("add a `network { … }`"),
            );
            None
        }
        [only] => Some(only),
        [first, ..] => {
            diags.push(
                Diagnostic::error(
                    Code::InvalidSimulation,
                    block.span,
                    "the model has several networks; say which one to simulate",
                )
                .help(format!("add `network = {}`", first.name.name)),
            );
            None
        }
    }
}

/// The bare name an expression is, if it is one (`cpu`, `f64`).
fn word(expr: &ast::Expr) -> Option<&str> {
    match &expr.kind {
        ast::ExprKind::Name(n) => Some(n.name.as_str()),
        _ => None,
    }
}

/// Checks a function body once, with its parameters as opaque values of their units.
pub(crate) fn check_function(globals: &Globals<'_>, diags: &mut Diagnostics, f: &ast::Function) {
    let mut arena = ExprArena::new();
    let mut scope = Scope::default();
    let mut lower = Lower::new(&mut arena, diags, globals, &mut scope);
    for (i, param) in f.params.iter().enumerate() {
        let dim = match parse_unit(&param.unit) {
            Ok(u) => Some(u.dim),
            Err(d) => {
                lower.diags.push(d);
                None
            }
        };
        let id = lower.arena.leaf(Expr::Param(i as u32));
        lower.push_local(&param.name.name, Value { id, dim });
    }
    let result = lower.lower(&f.body);
    if let Some(unit) = &f.result {
        match parse_unit(unit) {
            Ok(u) => lower.require(result, u.dim, f.body.span, &format!("the result of `{}`", f.name.name)),
            Err(d) => lower.diags.push(d),
        }
    }
}
