//! Connections: `connect source -> target.synapse rule { weight = …, delay = … }`, from cells
//! with a spike detector or from spike sources to a synapse with an event handler.

use crate::check::cell::Mechanisms;
use crate::check::constant::{eval_count, eval_in_unit};
use crate::check::globals::Globals;
use crate::check::morphology::unknown_property;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, CellRange, Presynaptic};
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::CellTypes;
use super::select::{Selected, select};

mod continuous;
pub(super) use continuous::report_presynaptic_cells;

/// A checked `connect`: spikes to an event handler, or a presynaptic voltage to a mechanism
/// reading `v_pre`.
pub(super) enum Checked {
    Events(ir::Connection),
    Continuous(ir::ContinuousConnection),
}

pub(super) fn connect(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    c: &ast::Connect,
) -> Option<Checked> {
    let (source, target) = connection_ends(globals, diags, network, c)?;
    let synapse = target_synapse(diags, cells, network, c, target)?;
    let mechanism = synapse_mechanism(mechanisms, cells, network, target, synapse);
    if mechanism.reads_pre_voltage() {
        return continuous::connect(globals, diags, cells, network, c, (source, target), synapse)
            .map(Checked::Continuous);
    }
    let event = event_handler(diags, c, mechanism)?;
    let (weight, delay) = weight_and_delay(globals, diags, c, event);
    let presynaptic = presynaptic(diags, cells, network, c, source)?;
    let rule = rule(globals, diags, c, presynaptic, target)?;
    Some(Checked::Events(ir::Connection {
        name: c.name.as_ref().map(|n| n.name.clone()),
        source: presynaptic,
        target,
        synapse: ir::SynapseId(synapse as u32),
        rule,
        weight: weight?,
        delay: delay?,
        span: c.span,
    }))
}

/// The source and the target selections; the target must be cells.
fn connection_ends(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    network: &ir::Network,
    c: &ast::Connect,
) -> Option<(Selected, CellRange)> {
    let source = select(globals, diags, network, &c.source);
    let target = select(globals, diags, network, &c.target);
    let (source, target) = (source?, target?);
    let Selected::Cells(target) = target else {
        diags.push(Diagnostic::error(
            Code::InvalidConnection,
            c.target.span,
            "a spike source cannot receive connections",
        ));
        return None;
    };
    Some((source, target))
}

/// The index of the target cells' synapse.
fn target_synapse(
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    c: &ast::Connect,
    target: CellRange,
) -> Option<usize> {
    let cell = &cells.list[network.populations[target.population.index()].cell.index()];
    let Some(synapse) = cell.synapses.iter().position(|s| s.name == c.synapse.name) else {
        let mut d = Diagnostic::error(
            Code::InvalidConnection,
            c.synapse.span,
            format!("cell `{}` has no synapse `{}`", cell.name, c.synapse.name),
        )
        .label("unknown synapse");
        if let Some(s) = did_you_mean(&c.synapse.name, cell.synapses.iter().map(|s| s.name.as_str())) {
            d = d.help(format!("a synapse with a similar name exists: `{s}`"));
        } else {
            d = d.help(format!(
                "declare it in cell `{}`: `synapse {} = exp2syn at soma(0.5)`",
                cell.name, c.synapse.name
            ));
        }
        diags.push(d);
        return None;
    };
    Some(synapse)
}

/// The mechanism of synapse `synapse` of the target cells.
fn synapse_mechanism<'m>(
    mechanisms: &Mechanisms<'m>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    target: CellRange,
    synapse: usize,
) -> &'m ir::Mechanism {
    let cell = &cells.list[network.populations[target.population.index()].cell.index()];
    &mechanisms.list[cell.synapses[synapse].mechanism.index()]
}

/// The event handler a spike connection needs.
fn event_handler<'m>(
    diags: &mut Diagnostics,
    c: &ast::Connect,
    mechanism: &'m ir::Mechanism,
) -> Option<&'m ir::EventHandler> {
    let Some(event) = &mechanism.event else {
        diags.push(
            Diagnostic::error(
                Code::InvalidConnection,
                c.synapse.span,
                format!("synapse `{}` ({}) has no event handler", c.synapse.name, mechanism.name),
            )
            .help("a connection target needs `on event(w: …) { … }` in its mechanism, or `v_pre` for a graded synapse"),
        );
        return None;
    };
    Some(event)
}

/// The `weight` (in the dimension of the event handler's weight) and the `delay`, each
/// reported if missing or wrong.
fn weight_and_delay(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    c: &ast::Connect,
    event: &ir::EventHandler,
) -> (Option<f64>, Option<f64>) {
    let mut weight = None;
    let mut delay = None;
    for prop in &c.props {
        match prop.key.name.as_str() {
            "weight" => {
                weight = eval_in_unit(
                    globals,
                    diags,
                    &prop.value,
                    Unit { dim: event.weight_dim, scale: 1.0 },
                    false,
                    "the weight",
                )
            }
            "delay" => {
                delay = eval_in_unit(
                    globals,
                    diags,
                    &prop.value,
                    Unit { dim: Dimension::TIME, scale: 1.0 },
                    false,
                    "the delay",
                );
                if delay.is_some_and(|d| d < 0.0) {
                    diags.push(Diagnostic::error(Code::OutOfRange, prop.value.span, "a delay cannot be negative"));
                    delay = None;
                }
            }
            _ => diags.push(unknown_property(&prop.key, "connections", &["weight", "delay"])),
        }
    }
    for (value, key) in [(weight.is_some(), "weight"), (delay.is_some(), "delay")] {
        if !value && !c.props.iter().any(|p| p.key.name == key) {
            diags.push(
                Diagnostic::error(Code::MissingProperty, c.span, format!("this connection has no `{key}`"))
                    .help(format!("add `{{ {key} = … }}`")),
            );
        }
    }
    (weight, delay)
}

/// What sends the spikes: cells, which need a spike detector, or a spike source.
fn presynaptic(
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    c: &ast::Connect,
    source: Selected,
) -> Option<Presynaptic> {
    let presynaptic = match source {
        Selected::Cells(r) => Presynaptic::Cells(r),
        Selected::Source(s) => Presynaptic::Source(s),
    };
    if let Presynaptic::Cells(r) = presynaptic {
        let source_cell = &cells.list[network.populations[r.population.index()].cell.index()];
        if source_cell.detector.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::InvalidConnection,
                    c.source.span,
                    format!("cell `{}` has no spike detector", source_cell.name),
                )
                .help("add `detector at soma(0.5) threshold -20 mV` to the cell"),
            );
            return None;
        }
    }
    Some(presynaptic)
}

/// The connection rule written, or the one implied where the numbers of sources and targets
/// leave no choice.
fn rule(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    c: &ast::Connect,
    presynaptic: Presynaptic,
    target: CellRange,
) -> Option<ir::Rule> {
    let source_len = match presynaptic {
        Presynaptic::Cells(r) => r.len(),
        Presynaptic::Source(_) => 1,
    };
    match &c.rule {
        None if source_len == 1 || source_len == target.len() => {
            Some(if source_len == 1 { ir::Rule::AllToAll } else { ir::Rule::OneToOne })
        }
        None => {
            diags.push(
                Diagnostic::error(
                    Code::InvalidConnection,
                    c.span,
                    format!("{source_len} sources and {} targets need a connection rule", target.len()),
                )
                .help("add a rule: `one_to_one`, `all_to_all`, `ring(n)` or `random(p = …, seed = …)`"),
            );
            None
        }
        Some(rule) => connection_rule(globals, diags, rule, source_len, target.len(), presynaptic, target),
    }
}

fn connection_rule(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    rule: &ast::Call,
    source_len: u32,
    target_len: u32,
    source: Presynaptic,
    target: CellRange,
) -> Option<ir::Rule> {
    let arg = |diags: &mut Diagnostics, name: &str, i: usize| -> Option<&ast::Expr> {
        let found = rule
            .args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
            .or_else(|| rule.args.get(i).filter(|a| a.name.is_none()));
        if found.is_none() {
            diags.push(Diagnostic::error(
                Code::MissingProperty,
                rule.span,
                format!("`{}` needs `{name}`", rule.name.name),
            ));
        }
        found.map(|a| &a.value)
    };
    match rule.name.name.as_str() {
        "one_to_one" => {
            if source_len != target_len {
                diags.push(Diagnostic::error(
                    Code::InvalidConnection,
                    rule.span,
                    format!("`one_to_one` needs as many sources as targets, not {source_len} and {target_len}"),
                ));
                return None;
            }
            Some(ir::Rule::OneToOne)
        }
        "all_to_all" => Some(ir::Rule::AllToAll),
        "ring" => {
            let n = arg(diags, "n", 0)?;
            let n = eval_count(globals, diags, n, "the ring size")?;
            if Presynaptic::Cells(target) != source || n == 0 || u64::from(target_len) % n != 0 {
                diags.push(
                    Diagnostic::error(Code::InvalidConnection, rule.span, "`ring(n)` connects a selection to itself in groups of n cells")
                        .note(format!("here {target_len} cells and n = {n}; the source and target must be the same cells, and n must divide their number")),
                );
                return None;
            }
            Some(ir::Rule::Ring(n as u32))
        }
        "random" => {
            let (p, seed) = (arg(diags, "p", 0)?, arg(diags, "seed", 1)?);
            let p = eval_in_unit(globals, diags, p, Unit::ONE, false, "the probability")?;
            let seed = eval_count(globals, diags, seed, "the seed")?;
            if !(0.0..=1.0).contains(&p) {
                diags.push(Diagnostic::error(Code::OutOfRange, rule.span, "the probability must be between 0 and 1"));
                return None;
            }
            Some(ir::Rule::Random { p, seed })
        }
        other => {
            let mut d = Diagnostic::error(Code::UndefinedName, rule.name.span, format!("no connection rule `{other}`"))
                .help("the rules are `one_to_one`, `all_to_all`, `ring(n)` and `random(p, seed)`");
            if let Some(s) = did_you_mean(other, ["one_to_one", "all_to_all", "ring", "random"]) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            None
        }
    }
}
