//! The step schedule: NEURON's fixed step (`docs/ARCHITECTURE.md`, "Step schedule") as an
//! ordered list of stages, written once. Every engine runs [`STEP`] in this order (the CPU
//! interpreter, the compiled CPU step per chunk of cells, the GPU's generated loop), and
//! [`INIT`] before the first step. Each stage says what it reads and writes, so that an
//! engine may fuse neighbours and a reverse (adjoint) schedule can be derived next to it.

/// One stage of a time step from t to t + dt.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Run the event kernels of the events due by t + dt/2, in delivery order.
    /// Reads and writes: the states of the targeted instances.
    DeliverEvents,
    /// Nernst reversals from the concentrations, where a species follows Nernst (as NEURON's
    /// ion mechanisms, at the start of the current phase: a recorded eca is the one the step
    /// used). Reads: inside and outside concentrations. Writes: reversals.
    Reversals,
    /// Zero the node accumulators and the ion currents, then run the current kernels at v(t),
    /// model time at the step midpoint. Reads: v, states, ions. Writes: rhs and diagonal
    /// (accumulated: −I·area and dI/dv·area), ion currents (accumulated), stored currents and
    /// derived values.
    Currents,
    /// Add C/dt and the axial terms and solve the tree for Δv (Hines), v += Δv.
    /// Reads: rhs, diagonal, v, the cable. Writes: v (rhs and diagonal are consumed).
    Solve,
    /// Run the advance kernels with the new voltage. Reads: v, states, ions. Writes: states and
    /// the concentrations a mechanism owns.
    Advance,
    /// Upward threshold crossings at the new grid point, queued as events (spike time + delay).
    /// Reads: v at the detectors. Writes: the detectors' flags, the spike list.
    Detect,
    /// Every probe's value at the new grid point. Reads: anything probed. Writes: the trace.
    Record,
}

/// A time step, in order.
pub const STEP: [Stage; 7] = [
    Stage::DeliverEvents,
    Stage::Reversals,
    Stage::Currents,
    Stage::Solve,
    Stage::Advance,
    Stage::Detect,
    Stage::Record,
];

/// With continuous connections (a mechanism reading `v_pre`), the current and advance kernels
/// read other cells' voltage: at v(t) in `Currents`, before any cell solves, and at v(t + dt)
/// in `Advance`, after every cell has solved (NEURON's order: all currents, one solve, then
/// the states with the new voltage). An engine that runs the per-cell stages per chunk of
/// cells then waits for every chunk before each of these stages.
pub const COUPLED_BARRIERS: [Stage; 2] = [Stage::Solve, Stage::Advance];

/// The stages of [`STEP`] in passes that every cell finishes before the next starts: one pass,
/// or with continuous connections a pass per [`COUPLED_BARRIERS`] boundary (the GPU runs a
/// dispatch per pass).
pub fn step_passes(coupled: bool) -> Vec<Vec<Stage>> {
    let mut passes: Vec<Vec<Stage>> = vec![Vec::new()];
    for stage in STEP {
        if coupled && COUPLED_BARRIERS.contains(&stage) {
            passes.push(Vec::new());
        }
        passes.last_mut().expect("one pass at least").push(stage);
    }
    passes
}

/// The per-cell stages of [`step_passes`] (the CPU engine runs the others on the host).
pub fn per_cell_passes(coupled: bool) -> Vec<Vec<Stage>> {
    step_passes(coupled).into_iter().map(|pass| pass.into_iter().filter(|s| s.is_per_cell()).collect()).collect()
}

/// Stages of initialisation, each a stage of its own kind (`Plan::new` runs them).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum InitStage {
    /// `v = v_init` and the ions' initial values (the plan's arrays start so), then the init
    /// kernels: initial states and the concentrations they imply.
    InitKernels,
    /// [`Stage::Reversals`] from the initial concentrations.
    Reversals,
    /// [`Stage::Currents`] at t = 0, so current and derived probes have a first value.
    Currents,
    /// The detectors' flags from the initial voltage (no spike at t = 0).
    DetectorFlags,
}

pub const INIT: [InitStage; 4] =
    [InitStage::InitKernels, InitStage::Reversals, InitStage::Currents, InitStage::DetectorFlags];

impl Stage {
    /// Whether the stage runs on each cell on its own (no data of other cells), so an engine may
    /// run it per chunk of cells or per GPU invocation; the others touch the host's queue or
    /// the recording.
    pub fn is_per_cell(self) -> bool {
        matches!(self, Stage::Reversals | Stage::Currents | Stage::Solve | Stage::Advance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_cell_stages_are_contiguous() {
        // Engines run the per-cell stages as one fused block between events and detection.
        let first = STEP.iter().position(|s| s.is_per_cell()).expect("some");
        let count = STEP.iter().filter(|s| s.is_per_cell()).count();
        assert!(STEP[first..first + count].iter().all(|s| s.is_per_cell()));
        assert_eq!(STEP[first - 1], Stage::DeliverEvents);
    }

    #[test]
    fn coupled_passes_wait_before_solve_and_advance() {
        let uncoupled = per_cell_passes(false);
        assert_eq!(uncoupled, [vec![Stage::Reversals, Stage::Currents, Stage::Solve, Stage::Advance]]);
        let coupled = per_cell_passes(true);
        assert_eq!(coupled, [vec![Stage::Reversals, Stage::Currents], vec![Stage::Solve], vec![Stage::Advance]]);
    }

    #[test]
    fn step_passes_keep_the_step_order() {
        assert_eq!(step_passes(false), [STEP.to_vec()]);
        let coupled = step_passes(true);
        assert_eq!(coupled.concat(), STEP.to_vec());
        assert_eq!(coupled[1], [Stage::Solve]);
        assert_eq!(coupled[2].first(), Some(&Stage::Advance));
    }
}
