//! Continuous connections: `connect pre -> post.syn RULE` to a synapse whose mechanism reads
//! `v_pre` (a graded synapse, a gap junction). No spikes travel: the synapse reads the voltage
//! at its one presynaptic cell's detector, so the source must be cells with a detector, the
//! rule must give each target one source, and there is no weight and no delay.

use std::collections::HashMap;

use crate::check::cell::Mechanisms;
use crate::check::constant::eval_in_unit;
use crate::check::globals::Globals;
use crate::check::morphology::unknown_property;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{self, CellRange, Presynaptic, Rule};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::super::CellTypes;
use super::super::select::Selected;

pub(super) fn connect(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    c: &ast::Connect,
    (source, target): (Selected, CellRange),
    synapse: usize,
) -> Option<ir::ContinuousConnection> {
    let source = presynaptic_cells(diags, cells, network, c, source)?;
    check_no_weight_or_delay(globals, diags, c);
    let rule = super::rule(globals, diags, c, Presynaptic::Cells(source), target)?;
    let one_source_each = match rule {
        Rule::OneToOne | Rule::Ring(_) => true,
        Rule::AllToAll => source.len() == 1,
        Rule::Random { .. } => false,
    };
    if !one_source_each {
        diags.push(
            Diagnostic::error(
                Code::SeveralPresynaptic,
                c.rule.as_ref().map_or(c.span, |r| r.span),
                format!("synapse `{}` reads one presynaptic voltage, but this rule gives it several", c.synapse.name),
            )
            .label("more than one source per target")
            .help("use `one_to_one`, `ring(n)` or a single source cell; a cell needs one synapse per presynaptic cell"),
        );
        return None;
    }
    Some(ir::ContinuousConnection { source, target, synapse: ir::SynapseId(synapse as u32), rule, span: c.span })
}

/// The presynaptic cells; `v_pre` is read at their detector.
fn presynaptic_cells(
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    c: &ast::Connect,
    source: Selected,
) -> Option<CellRange> {
    let Selected::Cells(range) = source else {
        diags.push(
            Diagnostic::error(
                Code::ContinuousFromSource,
                c.source.span,
                format!("synapse `{}` reads a presynaptic voltage, which a spike source does not have", c.synapse.name),
            )
            .label("an artificial spike source")
            .help("connect cells to it; a spike source drives synapses with `on event`"),
        );
        return None;
    };
    let cell = &cells.list[network.populations[range.population.index()].cell.index()];
    if cell.detector.is_none() {
        diags.push(
            Diagnostic::error(
                Code::NoPresynapticLocation,
                c.source.span,
                format!("cell `{}` has no detector, where `v_pre` is read", cell.name),
            )
            .label("no detector")
            .help("add `detector at soma(0.5) threshold -20 mV` to the cell: v_pre is the voltage at its node"),
        );
        return None;
    }
    Some(range)
}

/// A continuous connection acts at once and has no weight: `delay = 0 ms` is allowed, nothing
/// else.
fn check_no_weight_or_delay(globals: &Globals<'_>, diags: &mut Diagnostics, c: &ast::Connect) {
    for prop in &c.props {
        match prop.key.name.as_str() {
            "weight" => diags.push(
                Diagnostic::error(
                    Code::ContinuousWeightOrDelay,
                    prop.key.span,
                    format!("a connection to `{}`, which reads `v_pre`, has no weight", c.synapse.name),
                )
                .label("no weight")
                .help("its strength is a parameter of the mechanism (`g`), set where the synapse is declared"),
            ),
            "delay" => {
                let delay = eval_in_unit(
                    globals,
                    diags,
                    &prop.value,
                    Unit { dim: Dimension::TIME, scale: 1.0 },
                    false,
                    "the delay",
                );
                if delay.is_some_and(|d| d != 0.0) {
                    diags.push(
                        Diagnostic::error(
                            Code::ContinuousWeightOrDelay,
                            prop.value.span,
                            format!("a connection to `{}`, which reads `v_pre`, has no delay", c.synapse.name),
                        )
                        .label("must be 0 ms or left out")
                        .note("the synapse reads the presynaptic voltage of the same step"),
                    );
                }
            }
            _ => diags.push(unknown_property(&prop.key, "continuous connections", &["delay"])),
        }
    }
}

/// Every synapse reading `v_pre` has at most one presynaptic cell (E0611 at the second
/// connection); one that has none on some cells is warned about (W0007), unless a connection
/// was refused (then the warning would repeat the error).
pub(in crate::check::network) fn report_presynaptic_cells(
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
) {
    let mut driven: HashMap<(u32, ir::SynapseId), Span> = HashMap::new();
    for c in &network.continuous {
        let clash = c.pairs(network).find_map(|(_, post)| driven.insert((post, c.synapse), c.span).map(|s| (post, s)));
        if let Some((post, first)) = clash {
            diags.push(
                Diagnostic::error(
                    Code::SeveralPresynaptic,
                    c.span,
                    format!("the synapse of cell {post} (gid) already has a presynaptic cell"),
                )
                .label("a second presynaptic cell")
                .secondary(first, "the first")
                .help("a synapse reading `v_pre` has one presynaptic cell; declare one synapse per presynaptic cell"),
            );
        }
    }
    if !diags.has_errors() {
        report_unconnected(diags, mechanisms, cells, network, &driven);
    }
}

/// W0007 per population and synapse reading `v_pre` with cells that nothing connects.
fn report_unconnected(
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    driven: &HashMap<(u32, ir::SynapseId), Span>,
) {
    for p in &network.populations {
        let cell = &cells.list[p.cell.index()];
        for (s, syn) in cell.synapses.iter().enumerate() {
            let synapse = ir::SynapseId(s as u32);
            if !mechanisms.list[syn.mechanism.index()].reads_pre_voltage() {
                continue;
            }
            let free = (p.first_gid..p.first_gid + p.count).filter(|g| !driven.contains_key(&(*g, synapse))).count();
            if free > 0 {
                diags.push(
                    Diagnostic::warning(
                        Code::UnconnectedGraded,
                        p.span,
                        format!("synapse `{}` of {free} of the {} cells of `{}` has no presynaptic cell", syn.name, p.count, p.name),
                    )
                    .label("not connected")
                    .note("there `v_pre` reads the cell's own voltage at the synapse: a gap junction carries no current, a graded synapse follows its own cell")
                    .help(format!(
                        "connect a presynaptic cell to each (`connect other -> {}.{}`), or place them on a cell type without `{}`",
                        p.name, syn.name, syn.name
                    )),
                );
            }
        }
    }
}
