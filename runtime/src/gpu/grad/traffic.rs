//! What a gradient costs on the device without running it: the least storage traffic of one
//! step of the reverse run, counted as `gpu::traffic` counts the forward step's (every element
//! of a buffer a phase reads counted once, every element it writes once; shared tables,
//! events and probes not counted), and the memory of the checkpoints and the scratch.

use sylva_compiler::ir::adjoint::Wrt;
use sylva_compiler::ir::kernel::Target;

use super::layout::{BlockGrad, GradLayout, Vjp};
use crate::gpu::builder::Prec;
use crate::gpu::layout::{BlockLayout, Layout, TypeLayout};

/// A gradient's device memory and traffic per step.
#[derive(Copy, Clone, Debug)]
pub struct Footprint {
    /// Nodes of every cell.
    pub compartments: u64,
    /// Bytes of `data`.
    pub data_bytes: u64,
    /// Bytes of a step's state in the reverse run's scratch (v, the ion arrays a step reads
    /// before it computes them, the mechanisms' states).
    pub state_bytes: u64,
    pub checkpoint_every: u64,
    /// ⌈N/K⌉ checkpoints of a state (coupled cells: K = 1 and N + 1).
    pub checkpoint_bytes: u64,
    /// The reverse run's buffers: `work` (K states, the row derivatives, the tape, the
    /// advance partials), `adj` (one more `data`, and the cotangents of the diagonal and rhs a
    /// workgroup keeps in workgroup memory) and the per-instance parameter gradients.
    pub scratch_bytes: u64,
    /// Least storage traffic of a forward step and of a step of the reverse run (which
    /// recomputes and replays the step, two forward steps, then undoes it; coupled cells
    /// replay it once, from the checkpoint, and move each `v_pre` instance's cotangent slot).
    /// The checkpoints the `v_pre` leaf reads are not counted, as the forward's `v_pre` reads
    /// are not.
    pub forward_bytes_per_step: u64,
    pub backward_bytes_per_step: u64,
}

impl Footprint {
    pub(super) fn new(
        layout: &Layout,
        grad: &GradLayout,
        blocks: &[BlockGrad],
        steps: u64,
        k: u64,
        prec: Prec,
    ) -> Footprint {
        let b = prec.bytes();
        let data_bytes = layout.data.len() as u64 * b;
        let forward = crate::gpu::traffic::bytes_per_step(layout, prec);
        let adjoint: u64 = layout.types.iter().map(|ty| adjoint_elements(layout, grad, ty, blocks)).sum();
        let backward = if grad.coupled {
            forward + (adjoint + SLOT_ELEMENTS * u64::from(layout.pre_gather.slots)) * b
        } else {
            2 * forward + adjoint * b
        };
        Footprint {
            compartments: layout.types.iter().map(|t| u64::from(t.ncells) * u64::from(t.nnodes)).sum(),
            data_bytes,
            state_bytes: u64::from(grad.state_len) * b,
            checkpoint_every: k,
            checkpoint_bytes: (steps.div_ceil(k).max(1) + u64::from(grad.coupled)) * u64::from(grad.state_len) * b,
            scratch_bytes: (grad.work_len + grad.grads_len + u64::from(grad.adj_len)) * b,
            forward_bytes_per_step: forward,
            backward_bytes_per_step: backward,
        }
    }
}

/// Elements a `v_pre` instance's cotangent slot moves per step: in each of the two passes,
/// its product reads and writes it, the gather reads and clears it and reads and writes the
/// cotangent it adds to.
const SLOT_ELEMENTS: u64 = 2 * 6;

/// Elements a step of the reverse run moves for the cells of `ty` beyond its two forward
/// steps (the recomputation and the replay): the state saved once and restored twice (for the
/// replay and for the current kernels' products, with Nernst run again); the advance kernels'
/// partials written by the replay and read by their products; the current kernels' leaves read
/// again for their partials (kept in registers); the cotangents every product, the solve's
/// adjoint, the cleared accumulators and Nernst's adjoint read and write.
fn adjoint_elements(layout: &Layout, grad: &GradLayout, ty: &TypeLayout, blocks: &[BlockGrad]) -> u64 {
    let cells = u64::from(ty.ncells);
    let nodes = cells * u64::from(ty.nnodes);
    let species = ty.ions.len() as u64;
    let instances =
        |b: &BlockLayout| if b.group.is_some() { u64::from(b.per_cell) } else { cells * u64::from(b.per_cell) };
    let states: u64 =
        ty.blocks.iter().filter(|b| b.group.is_none()).map(|b| instances(b) * b.states.len() as u64).sum();
    let state = nodes * (1 + grad.saved_ions.len() as u64) + states;
    let mut elements = 5 * state;
    for b in &ty.blocks {
        let code = &blocks[b.block];
        let advance = 2 * code.advance_vjp.partials.len() as u64 + 2 * cotangents(&code.advance_vjp);
        let current = leaves(&code.current.vjp) + 2 * cotangents(&code.current.vjp);
        elements += instances(b) * (advance + current);
    }
    // The solve's adjoint: the tape written and read (2), v after and before the solve (2), the
    // cotangents of v, rhs and the diagonal read and written (6), and M's diagonal and μ where
    // the forward's solve keeps its arrays.
    elements += 10 * nodes + solve_arrays(ty);
    // The accumulators' cotangents cleared; Nernst again (3) and its adjoint: the
    // concentrations read, the reversal's and the concentrations' cotangents read and written.
    let nernst = layout.nernst.iter().filter(|n| n.is_some()).count() as u64;
    elements + (2 + species) * nodes + 9 * nernst * nodes
}

/// Elements of the transposed solve's own arrays in storage: M's diagonal and μ in `data`
/// (written, read in the elimination and the substitution: 6 per node) unless a workgroup
/// keeps them in workgroup memory, and the fills of split chains in `data` (written, read).
fn solve_arrays(ty: &TypeLayout) -> u64 {
    let nodes = u64::from(ty.ncells) * u64::from(ty.nnodes);
    let workgroup = ty.workgroup.as_ref();
    let diagonal_and_mu = if workgroup.is_some_and(|w| w.local_solve) { 0 } else { 6 * nodes };
    let fills = workgroup.and_then(|w| w.fill).filter(|f| !f.local);
    diagonal_and_mu + fills.map_or(0, |f| 2 * u64::from(ty.ncells) * u64::from(f.len))
}

/// The distinct values of `data` an instance's partials read (not the parameters: shared).
fn leaves(vjp: &Vjp) -> u64 {
    let mut distinct: Vec<Wrt> = Vec::new();
    for &(_, wrt) in &vjp.partials {
        if !matches!(wrt, Wrt::Param(_)) && !distinct.contains(&wrt) {
            distinct.push(wrt);
        }
    }
    distinct.len() as u64
}

/// The distinct cotangents (and parameter gradients) one instance's product touches.
fn cotangents(vjp: &Vjp) -> u64 {
    let mut places: Vec<String> = vjp.writes.iter().map(|t: &Target| format!("{t:?}")).collect();
    for (_, wrt) in &vjp.partials {
        let place = match wrt {
            Wrt::Param(p) => format!("Param({p})"),
            Wrt::State(s) => format!("{:?}", Target::State(*s)),
            Wrt::V => "V".to_string(),
            Wrt::Ion(u, var) => format!("Ion({u}, {var:?})"),
            Wrt::VPre | Wrt::Weight => continue,
        };
        places.push(place);
    }
    places.sort();
    places.dedup();
    places.len() as u64
}
