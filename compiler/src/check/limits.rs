//! The size of the checked model against [`crate::limits`], reported at the value responsible:
//! the population, the `dt` or `duration`, the spike source.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::limits::{self, Estimate, Excess};

use super::globals::Globals;

pub(crate) fn check(globals: &Globals<'_>, diags: &mut Diagnostics, model: &ir::Model) {
    let estimate = Estimate::of(model);
    let sim = &model.simulation;
    // The simulation block exists when there is a network (else it was an error).
    let setting = |key: &str| {
        globals.simulations.first().and_then(|b| b.props.iter().find(|p| p.key.name == key)).map(|p| p.value.span)
    };
    let block = globals.simulations.first().map(|b| b.span);
    for excess in estimate.excesses() {
        let d = match excess {
            Excess::Compartments { .. } => {
                let compartments = |p: &ir::Population| {
                    f64::from(p.count) * limits::cell_compartments(&model.cells[p.cell.index()].tree) as f64
                };
                let Some(p) =
                    model.network.populations.iter().max_by(|a, b| compartments(a).total_cmp(&compartments(b)))
                else {
                    continue;
                };
                let per_cell = limits::cell_compartments(&model.cells[p.cell.index()].tree);
                Diagnostic::error(Code::TooLarge, p.span, excess.describe())
                    .label(format!("{} cells of {per_cell} compartments", limits::count(f64::from(p.count))))
            }
            Excess::Steps { .. } | Excess::TraceSamples { .. } => {
                // Point at the setting further from the usual: a tiny dt, or else the duration.
                let (dt, duration) = (setting("dt"), setting("duration"));
                let (primary, secondary) = if sim.dt < 1e-3 { (dt, duration) } else { (duration, dt) };
                let Some(at) = primary.or(secondary).or(block) else { continue };
                let mut d = Diagnostic::error(Code::TooLarge, at, excess.describe()).label(format!(
                    "duration {} ms / dt {} ms = {} steps",
                    limits::number(sim.duration),
                    limits::number(sim.dt),
                    limits::count(estimate.steps)
                ));
                if let Some(other) = secondary.filter(|s| *s != at) {
                    d = d.secondary(other, "with this");
                }
                if let Excess::TraceSamples { .. } = excess {
                    let probes = model.network.probes.len();
                    d.note(format!(
                        "every step records the time and {probes} probe{}",
                        if probes == 1 { "" } else { "s" }
                    ))
                    .help("a larger `dt`, a shorter `duration` or fewer probes")
                } else {
                    d.help("a larger `dt` or a shorter `duration`")
                }
            }
            Excess::SourceSpikes { .. } => {
                let spikes = |s: &ir::SpikeSource| limits::source_spikes(&s.kind, sim.duration);
                let Some(s) = model.network.sources.iter().max_by(|a, b| spikes(a).total_cmp(&spikes(b))) else {
                    continue;
                };
                Diagnostic::error(Code::TooLarge, s.span, excess.describe())
                    .label(format!(
                        "`{}` fires {} spikes in {} ms",
                        s.name,
                        limits::count(spikes(s)),
                        limits::number(sim.duration)
                    ))
                    .help("check the source's rate or interval and its unit")
            }
        };
        diags.push(d);
    }
}
