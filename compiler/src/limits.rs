//! How big a model and its run may be: the limits, in one place, and the estimate of a model
//! they are compared with. The estimate is computed from the checked model before anything of
//! that size is allocated; figures are `f64` so that absurd inputs (`dt = 1e-300 ms`) give
//! absurd figures, not overflows. See `docs/language.md`, "Limits".
//!
//! The compiler refuses what exceeds these fixed bounds; `sylva run` also compares
//! [`Estimate::bytes`] with the memory the machine has, which the compiler cannot know.

use crate::ir::{Model, SourceKind};

/// Compartments of one cell: more is a discretization gone wrong (a `d_lambda` or `Ra` off by
/// orders of magnitude), not a neuron.
pub const MAX_CELL_COMPARTMENTS: f64 = 1e6;
/// A cell with more compartments than this is warned about (detailed models have 10²–10⁴).
pub const WARN_CELL_COMPARTMENTS: f64 = 1e5;
/// Compartments of the whole network.
pub const MAX_COMPARTMENTS: f64 = 1e9;
/// Time steps of a run.
pub const MAX_STEPS: f64 = 1e9;
/// Recorded values: (steps + 1) × (probes + 1 for the time column), 8 bytes each.
pub const MAX_TRACE_SAMPLES: f64 = 1e10;
/// Spikes of all artificial sources over the run (each is queued before the run starts).
pub const MAX_SOURCE_SPIKES: f64 = 1e8;
/// Axial resistivity outside this range (Ω·cm) is warned about: biology is 30–300.
pub const USUAL_RA_OHM_CM: (f64, f64) = (1.0, 1e4);

/// Bytes per compartment of the engines (voltages, the cable, mechanism states and
/// parameters): a low estimate, for refusing what surely does not fit.
const BYTES_PER_COMPARTMENT: f64 = 200.0;
/// Bytes per queued source spike (time, target, weight, order).
const BYTES_PER_SPIKE: f64 = 40.0;

/// The size of a model's run.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Compartments with membrane, all cells.
    pub compartments: f64,
    pub steps: f64,
    pub trace_samples: f64,
    pub source_spikes: f64,
}

/// A limit an estimate exceeds: what, how much, and the limit.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Excess {
    Compartments { value: f64 },
    Steps { value: f64 },
    TraceSamples { value: f64 },
    SourceSpikes { value: f64 },
}

impl Excess {
    /// The problem in words, with the figure and the limit.
    pub fn describe(&self) -> String {
        match *self {
            Excess::Compartments { value } => format!(
                "the network would have {} compartments, more than the limit of {}",
                count(value),
                count(MAX_COMPARTMENTS)
            ),
            Excess::Steps { value } => {
                format!("the run would take {} time steps, more than the limit of {}", count(value), count(MAX_STEPS))
            }
            Excess::TraceSamples { value } => format!(
                "the run would record {} values ({}), more than the limit of {}",
                count(value),
                bytes(value * 8.0),
                count(MAX_TRACE_SAMPLES)
            ),
            Excess::SourceSpikes { value } => format!(
                "the spike sources would fire {} spikes, more than the limit of {}",
                count(value),
                count(MAX_SOURCE_SPIKES)
            ),
        }
    }
}

impl Estimate {
    pub fn of(model: &Model) -> Estimate {
        let sim = &model.simulation;
        let compartments = model
            .network
            .populations
            .iter()
            .map(|p| f64::from(p.count) * cell_compartments(&model.cells[p.cell.index()].tree) as f64)
            .fold(0.0, |a, b| a + b);
        let steps = sim.steps();
        let probes = model.network.probes.len() as f64;
        Estimate {
            compartments,
            steps,
            trace_samples: (steps + 1.0) * (probes + 1.0),
            // A fold from +0: an empty f64 `sum` is -0.
            source_spikes: model
                .network
                .sources
                .iter()
                .map(|s| source_spikes(&s.kind, sim.duration))
                .fold(0.0, |a, b| a + b),
        }
    }

    /// The limits exceeded, in the order above.
    pub fn excesses(&self) -> Vec<Excess> {
        let mut out = Vec::new();
        if self.compartments > MAX_COMPARTMENTS {
            out.push(Excess::Compartments { value: self.compartments });
        }
        if self.steps > MAX_STEPS {
            out.push(Excess::Steps { value: self.steps });
        }
        // Too many steps are too many samples too: one error says it.
        else if self.trace_samples > MAX_TRACE_SAMPLES {
            out.push(Excess::TraceSamples { value: self.trace_samples });
        }
        if self.source_spikes > MAX_SOURCE_SPIKES {
            out.push(Excess::SourceSpikes { value: self.source_spikes });
        }
        out
    }

    /// The memory a run needs at least (bytes).
    pub fn bytes(&self) -> f64 {
        self.compartments * BYTES_PER_COMPARTMENT + self.trace_samples * 8.0 + self.source_spikes * BYTES_PER_SPIKE
    }
}

/// Compartments with membrane (NEURON's segments) of one cell.
pub fn cell_compartments(tree: &crate::morph::CableTree) -> usize {
    tree.nodes.iter().filter(|n| n.area_um2 > 0.0).count()
}

/// How many spikes a source fires within [0, duration] (the mean, for a Poisson source).
pub fn source_spikes(kind: &SourceKind, duration: f64) -> f64 {
    match *kind {
        SourceKind::Times(ref times) => times.len() as f64,
        SourceKind::Regular { start, interval, stop } => {
            let span = stop.min(duration) - start;
            if span < 0.0 { 0.0 } else { (span / interval).floor() + 1.0 }
        }
        SourceKind::Poisson { rate, start, stop, .. } => (rate * (stop.min(duration) - start)).max(0.0),
    }
}

/// A count for messages: exact below a million, else `1.55e7` (three significant digits).
pub fn count(value: f64) -> String {
    if value < 1e6 { format!("{value}") } else { scientific(value) }
}

/// A value for messages: plain from 0.001 to a million, else `1e-12`, `2.5e20`.
pub fn number(value: f64) -> String {
    if value == 0.0 || (1e-3..1e6).contains(&value.abs()) { format!("{value}") } else { scientific(value) }
}

fn scientific(value: f64) -> String {
    let text = format!("{value:.2e}");
    let (mantissa, exponent) = text.split_once('e').expect("scientific notation");
    format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
}

/// A number of bytes for messages: `3.1 GB`, `32 TB`.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if value >= 1e21 {
        return format!("{} B", scientific(value));
    }
    let mut v = value;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 || v >= 10.0 { format!("{v:.0} {}", UNITS[unit]) } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(count(560502.0), "560502");
        assert_eq!(count(1.55e7), "1.55e7");
        assert_eq!(count(1e6), "1e6");
        assert_eq!(number(1e-12), "1e-12");
        assert_eq!(number(0.025), "0.025");
        assert_eq!(bytes(8e301), "8e301 B");
        assert_eq!(bytes(3.1e9), "3.1 GB");
        assert_eq!(bytes(3.2e13), "32 TB");
        assert_eq!(bytes(512.0), "512 B");
    }

    #[test]
    fn sources_count_their_spikes_without_generating_them() {
        let regular = SourceKind::Regular { start: 1.0, interval: 2.5, stop: 9.0 };
        assert_eq!(source_spikes(&regular, 100.0), 4.0);
        assert_eq!(source_spikes(&SourceKind::Regular { start: 0.0, interval: 1e-12, stop: 1e300 }, 100.0), 1e14 + 1.0);
        let poisson = SourceKind::Poisson { rate: 1e9, seed: 1, start: 0.0, stop: f64::INFINITY };
        assert_eq!(source_spikes(&poisson, 100.0), 1e11);
        let sim = crate::ir::Simulation {
            dt: 1e-300,
            duration: 10.0,
            celsius: 6.3,
            backend: crate::ir::Backend::Cpu,
            precision: crate::ir::Precision::F64,
        };
        assert!(sim.steps() > 1e300);
    }
}
