//! Spike sources: `spikes(t1, t2, …)`, `regular(start, interval, stop)` and
//! `poisson(rate, seed, start, stop)`.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use crate::check::constant::{eval_in_unit, eval_limit_in_unit};
use crate::check::globals::Globals;
use crate::check::morphology::unknown_property;

pub(super) fn source_kind(globals: &Globals<'_>, diags: &mut Diagnostics, call: &ast::Call) -> Option<ir::SourceKind> {
    let ms = Unit { dim: Dimension::TIME, scale: 1.0 };
    let rate = Unit { dim: Dimension::TIME.powi(-1).expect("small"), scale: 1.0 };
    match call.name.name.as_str() {
        "spikes" => {
            let mut times = Vec::new();
            for arg in &call.args {
                times.push(eval_in_unit(globals, diags, &arg.value, ms, false, "a spike time")?);
            }
            times.sort_by(f64::total_cmp);
            Some(ir::SourceKind::Times(times))
        }
        "regular" => {
            let v = named_args(
                globals,
                diags,
                call,
                &[("start", ms, Some(0.0)), ("interval", ms, None), ("stop", ms, Some(f64::INFINITY))],
            )?;
            if v[1] <= 0.0 {
                diags.push(Diagnostic::error(Code::OutOfRange, call.span, "the interval must be positive"));
                return None;
            }
            Some(ir::SourceKind::Regular { start: v[0], interval: v[1], stop: v[2] })
        }
        "poisson" => {
            let v = named_args(
                globals,
                diags,
                call,
                &[
                    ("rate", rate, None),
                    ("seed", Unit::ONE, Some(1.0)),
                    ("start", ms, Some(0.0)),
                    ("stop", ms, Some(f64::INFINITY)),
                ],
            )?;
            if v[0] < 0.0 || v[1] < 0.0 || v[1].fract() != 0.0 {
                diags.push(Diagnostic::error(
                    Code::OutOfRange,
                    call.span,
                    "the rate must be non-negative and the seed a whole number",
                ));
                return None;
            }
            Some(ir::SourceKind::Poisson { rate: v[0], seed: v[1] as u64, start: v[2], stop: v[3] })
        }
        other => {
            let mut d = Diagnostic::error(Code::UndefinedName, call.name.span, format!("no spike source kind `{other}`"))
                .help("the kinds are `spikes(t1, t2, …)`, `regular(start, interval, stop)` and `poisson(rate, seed, start, stop)`");
            if let Some(s) = did_you_mean(other, ["spikes", "regular", "poisson"]) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            None
        }
    }
}

/// The arguments of a source kind, by name or position, each in its unit; a key with a default
/// may be left out. `None` if any is missing or wrong (all are reported).
fn named_args(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    call: &ast::Call,
    keys: &[(&str, Unit, Option<f64>)],
) -> Option<Vec<f64>> {
    let mut values: Vec<Option<f64>> = keys.iter().map(|(_, _, d)| *d).collect();
    let mut ok = true;
    for (i, arg) in call.args.iter().enumerate() {
        let index = match &arg.name {
            Some(n) => keys.iter().position(|(k, _, _)| *k == n.name),
            None => Some(i).filter(|i| *i < keys.len()),
        };
        let Some(index) = index else {
            let valid: Vec<&str> = keys.iter().map(|(k, _, _)| *k).collect();
            match &arg.name {
                Some(n) => diags.push(unknown_property(n, &format!("`{}` sources", call.name.name), &valid)),
                None => diags.push(Diagnostic::error(
                    Code::WrongArgumentCount,
                    arg.span,
                    format!("`{}` takes {} arguments", call.name.name, keys.len()),
                )),
            }
            ok = false;
            continue;
        };
        let (key, unit, default) = keys[index];
        let what = format!("`{key}`");
        // What is unbounded by default (a stop time) may be written unbounded.
        values[index] = if default.is_some_and(f64::is_infinite) {
            eval_limit_in_unit(globals, diags, &arg.value, unit, false, &what)
        } else {
            eval_in_unit(globals, diags, &arg.value, unit, false, &what)
        };
        ok &= values[index].is_some();
    }
    for ((key, _, _), v) in keys.iter().zip(&values) {
        if v.is_none() && ok {
            diags.push(Diagnostic::error(
                Code::MissingProperty,
                call.span,
                format!("`{}` needs `{key}`", call.name.name),
            ));
            ok = false;
        }
    }
    ok.then(|| values.into_iter().map(|v| v.unwrap_or(0.0)).collect())
}
