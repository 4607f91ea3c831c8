//! The reverse kernel of a gradient (`gpu::grad`): per cell type one entry point, run once
//! per checkpointed segment, by one invocation per cell (strategy thread) or one workgroup per
//! cell (strategy workgroup: lanes over the cell's nodes and instances as in the forward step,
//! barriers between the phases that share a node or the whole state). From the segment's
//! checkpoint in `data` it recomputes the segment's states into `work`, then undoes the steps
//! from the last: the step's state restored, the step replayed with the advance kernels fused
//! with their adjoints' partials (`ir::adjoint`), then every stage's adjoint in the reverse
//! order of `schedule::STEP`, as the CPU's reverse run (`grad::reverse`) does it: the advance
//! kernels' products, the transposed Hines solve, the current kernels' products (from the
//! step's state restored again, its events and Nernst: their partials stay in registers),
//! Nernst, the events'. Cotangents live in `adj`, a mirror of `data`.

mod coupled;
mod solve;
mod state;
mod vjp;

use naga::{BinaryOperator as B, Handle, Module};
use sylva_compiler::ir::kernel::{Kernel, Kernels};

use super::{Cx, Params, SPIKE_HEADER, compute_entry, entry_arguments, globals, skip_events_before};
use crate::gpu::GpuError;
use crate::gpu::builder::{Fb, H, Types, storage};
use crate::gpu::grad::layout::{BlockGrad, GradLayout, instance_stride};
use crate::gpu::layout::{BlockLayout, Layout};
use crate::gpu::math;

/// Where a product finds its partials: stored by the replay (the advance kernels'), or
/// evaluated with it at the values in `data` (the current and event kernels').
#[derive(Copy, Clone, PartialEq)]
enum Partials {
    Stored,
    Evaluated,
}

/// Bindings of the reverse kernel beyond the forward's seven (`codegen::BINDINGS`).
pub const B_ADJ: u32 = 7;
pub const B_WORK: u32 = 8;
pub const B_GRADS: u32 = 9;
pub const B_CHECKPOINTS: u32 = 10;
pub const REVERSE_BINDINGS: u32 = 11;

/// The reverse kernel's entry point of cell type `t`.
pub fn reverse_entry_name(t: usize) -> String {
    format!("reverse_cell_type_{t}")
}

/// The entry point of cell type `t` that saves its cells' state into the checkpoint of the
/// segment starting at `control[0]` (`save`), or restores it from there.
pub fn checkpoint_entry_name(t: usize, save: bool) -> String {
    format!("{}_checkpoint_cell_type_{t}", if save { "save" } else { "restore" })
}

/// The reverse kernel's entry point of cell type `t` for pass `pass` (0 or 1) of a step of
/// coupled cells (`coupled.rs`).
pub fn reverse_pass_name(t: usize, pass: usize) -> String {
    format!("reverse_cell_type_{t}_pass_{pass}")
}

/// The entry point of cell type `t` that gathers the cotangents of its voltages that other
/// cells' `v_pre` products left in their slots (`coupled.rs`).
pub fn gather_entry_name(t: usize) -> String {
    format!("gather_pre_cell_type_{t}")
}

/// The reverse kernel's dispatches of a segment, in order, each an entry point per cell type:
/// the reverse entry, or for coupled cells each pass followed by the gather.
pub fn reverse_dispatch_names(layout: &Layout) -> Vec<Vec<String>> {
    let per_type = |name: &dyn Fn(usize) -> String| (0..layout.types.len()).map(name).collect::<Vec<_>>();
    if !layout.coupled {
        return vec![per_type(&reverse_entry_name)];
    }
    let gather = per_type(&gather_entry_name);
    let pass = |p: usize| per_type(&|t| reverse_pass_name(t, p));
    vec![pass(0), gather.clone(), pass(1), gather]
}

/// What an entry point of the reverse module runs.
#[derive(Copy, Clone)]
enum Entry {
    /// A segment's recomputation and undoing.
    Reverse,
    /// A pass of a coupled step's undoing.
    Pass(usize),
    Gather,
    /// Saves (`true`) or restores a checkpoint.
    Checkpoint(bool),
}

/// What the reverse kernel adds to the forward's context.
#[derive(Copy, Clone)]
pub(super) struct GradCx<'a> {
    adj: Handle<naga::GlobalVariable>,
    work: Handle<naga::GlobalVariable>,
    grads: Handle<naga::GlobalVariable>,
    checkpoints: Handle<naga::GlobalVariable>,
    layout: &'a GradLayout,
    /// Per plan block.
    blocks: &'a [BlockGrad],
    /// Coupled cells: the step whose state the `v_pre` leaf reads, and that state's offset in
    /// `checkpoints` (`coupled.rs`).
    v_pre_step: Option<H>,
    v_pre_from: Option<H>,
}

/// The reverse kernels of every cell type (one invocation or one workgroup per cell, as the
/// forward's), and the entry points that save and restore a segment's checkpoint.
pub fn reverse_module(
    layout: &Layout,
    p: &Params,
    grad: &GradLayout,
    blocks: &[BlockGrad],
) -> Result<Module, GpuError> {
    let mut module = Module::default();
    let types = Types::new(&mut module, p.prec);
    let g = globals(&mut module, types);
    let mut buffer =
        |name: &str, binding: u32| storage(&mut module.global_variables, name, binding, types.real_array, true);
    let (adj, work, grads) = (buffer("adj", B_ADJ), buffer("work", B_WORK), buffer("grads", B_GRADS));
    let checkpoints = buffer("checkpoints", B_CHECKPOINTS);
    let fns = math::add(&mut module, types, p.prec);
    let gcx = GradCx { adj, work, grads, checkpoints, layout: grad, blocks, v_pre_step: None, v_pre_from: None };
    for (t, ty) in layout.types.iter().enumerate() {
        // The forward step's arrays in workgroup memory, for the recomputation and the replay.
        let solve = super::solve_arrays(&mut module, types, ty, t, p.prec);
        let fill = super::workgroup::fill_array(&mut module, types, ty, t, p.prec);
        for (name, entry) in entry_points(layout, t) {
            let mut fb = Fb::new(p.prec, types, &name);
            let size = entry_arguments(&mut fb, types, ty);
            let sync = std::cell::RefCell::new(super::sync::Sync::new(ty.nnodes));
            let mut cx = Cx { g, fns, layout, ty, p, lane: None, solve, fill, sync, err: None, grad: Some(gcx) };
            match entry {
                Entry::Reverse => cx.reverse_entry(&mut fb),
                Entry::Pass(pass) => cx.coupled_entry(&mut fb, pass),
                Entry::Gather => cx.gather_entry(&mut fb),
                Entry::Checkpoint(save) => cx.checkpoint_entry(&mut fb, save),
            }
            if let Some(e) = cx.err {
                return Err(e);
            }
            module.entry_points.push(compute_entry(name, size, fb));
        }
    }
    Ok(module)
}

/// The entry points of cell type `t`, named.
fn entry_points(layout: &Layout, t: usize) -> Vec<(String, Entry)> {
    let mut entries = if layout.coupled {
        vec![
            (reverse_pass_name(t, 0), Entry::Pass(0)),
            (reverse_pass_name(t, 1), Entry::Pass(1)),
            (gather_entry_name(t), Entry::Gather),
        ]
    } else {
        vec![(reverse_entry_name(t), Entry::Reverse)]
    };
    entries.push((checkpoint_entry_name(t, true), Entry::Checkpoint(true)));
    entries.push((checkpoint_entry_name(t, false), Entry::Checkpoint(false)));
    entries
}

/// What every reverse entry point of a segment starts from: the invocation's cell, its gid,
/// the segment's first step and its steps, the cell's events and its spike header.
struct Segment {
    c: H,
    gid: H,
    step0: H,
    nsteps: H,
    events: Events,
    spike_base: H,
}

/// The cell's event records: the next one's index (a local), the end of its range, where the
/// records start, and the first of the cell's.
#[derive(Copy, Clone)]
struct Events {
    ev: H,
    end: H,
    records: H,
    start: H,
}

impl Events {
    fn cursor(self) -> (H, H, H) {
        (self.ev, self.end, self.records)
    }
}

impl<'a> Cx<'a> {
    fn grad(&self) -> GradCx<'a> {
        self.grad.expect("the reverse kernel")
    }
}

impl Cx<'_> {
    /// The block's reverse code.
    fn block_grad(&self, b: &BlockLayout) -> &BlockGrad {
        &self.grad().blocks[b.block]
    }

    /// Stores partial `j` of block `b` at the instance `at` (the fused kernels' extra writes).
    pub(super) fn store_partial(&mut self, fb: &mut Fb, b: &BlockLayout, j: u32, at: &super::At, x: H) {
        let Some(grad) = self.grad else {
            self.err = Some(GpuError::Internal("a partial outside the reverse kernel".into()));
            return;
        };
        let i = self.partial_index(fb, b, j, at);
        fb.write(grad.work, i, x);
    }

    /// Index in `work` of partial `j` of block `b` at the instance `at`.
    pub(super) fn partial_index(&self, fb: &mut Fb, b: &BlockLayout, j: u32, at: &super::At) -> H {
        let off = self.grad().layout.partials[b.block] + j * instance_stride(b, self.ty.ncells);
        self.instance_index(fb, b, off, at)
    }

    /// The segment's recomputation, then its steps undone from the last; the count of steps
    /// undone is added to the cell's spike header (llvmpipe may stop an invocation early).
    fn reverse_entry(&mut self, fb: &mut Fb) {
        let Segment { c, gid, step0, nsteps, events, spike_base } = self.segment_start(fb);
        let (zero, one) = (fb.u(0), fb.u(1));
        fb.for_range(zero, nsteps, "s", |fb, s| {
            self.save_state(fb, c, s);
            let (t, mid) = self.step_times(fb, step0, s);
            self.replay(fb, c, s, (t, mid), events, spike_base, false);
        });
        let undone = fb.local(fb.types.uint, "undone");
        fb.store(undone, zero);
        fb.for_range(zero, nsteps, "i", |fb, i| {
            let last = fb.sub(nsteps, one);
            let s = fb.sub(last, i);
            let (t, mid) = self.step_times(fb, step0, s);
            self.add_rows(fb, gid, s);
            self.restore_state(fb, c, s);
            self.seek_events(fb, events, s);
            self.replay(fb, c, s, (t, mid), events, spike_base, true);
            self.undo(fb, c, s, (t, mid), events);
            let done = fb.add(i, one);
            fb.store(undone, done);
        });
        let now = fb.load(undone);
        self.count_undone(fb, spike_base, now);
    }

    /// The invocation's cell, its segment and events (`Segment`).
    fn segment_start(&mut self, fb: &mut Fb) -> Segment {
        let g = self.g;
        let c = self.cell(fb);
        let goff = fb.u(self.ty.gid);
        let gi = fb.add(goff, c);
        let gid = fb.read(g.meta, gi);
        let (zero, one) = (fb.u(0), fb.u(1));
        let step0 = fb.read(g.control, zero);
        let nsteps = fb.read(g.control, one);
        let (ev, end, records) = self.cell_events(fb, gid, one, None);
        let start = fb.load(ev);
        let events = Events { ev, end, records, start };
        let cap1 = fb.u(self.p.spike_cap + SPIKE_HEADER);
        let spike_base = fb.mul(gid, cap1);
        Segment { c, gid, step0, nsteps, events, spike_base }
    }

    /// Adds `undone` steps to the cell's count in its spike header (summed over the segments:
    /// the host zeroes it first), by one lane.
    fn count_undone(&mut self, fb: &mut Fb, spike_base: H, undone: H) {
        let g = self.g;
        self.on_first(fb, |_, fb| {
            let two = fb.u(2);
            let done_at = fb.add(spike_base, two);
            let before = fb.read(g.spikes, done_at);
            let done = fb.add(before, undone);
            fb.write(g.spikes, done_at, done);
        });
    }

    /// Saves the cell's state into, or restores it from, the checkpoint of the segment that
    /// starts at step `control[0]` (segments start every `GradLayout::checkpoint_every` steps).
    fn checkpoint_entry(&mut self, fb: &mut Fb, save: bool) {
        let c = self.cell(fb);
        let zero = fb.u(0);
        let start = fb.read(self.g.control, zero);
        let every = fb.u(self.grad().layout.checkpoint_every);
        let index = fb.div(start, every);
        let base = self.saved_base(fb, index);
        self.copy_state(fb, c, self.grad().checkpoints, base, save);
    }

    /// Puts the cell's next event at its first of step `s` or later.
    fn seek_events(&self, fb: &mut Fb, events: Events, s: H) {
        fb.store(events.ev, events.start);
        skip_events_before(fb, self.g, events.cursor(), s);
    }

    /// Step `s` from the state in `data` (its events next in `events`); `for_undo`: with the
    /// advance kernels' partials and the solve's tape kept.
    #[allow(clippy::too_many_arguments)]
    fn replay(&mut self, fb: &mut Fb, c: H, s: H, (t, mid): (H, H), events: Events, spike_base: H, for_undo: bool) {
        self.up_to_currents(fb, c, s, t, events);
        self.zero(fb, c);
        self.block_kernels(fb, c, mid, |k| &k.current);
        if for_undo {
            self.keep_solve_tape(fb, c);
        }
        match self.lane {
            None => self.hines(fb, c, s, spike_base),
            Some(_) => self.parallel_hines(fb, c, s, spike_base),
        }
        self.with_v_pre_after(fb, |this, fb| {
            if for_undo {
                for b in &this.ty.blocks {
                    let kernel = this.block_grad(b).advance.clone();
                    this.instances(fb, b, c, mid, &kernel);
                }
            } else {
                this.block_kernels(fb, c, mid, |k| &k.advance);
            }
        });
    }

    /// The stages of step `s` before the currents: its events (next in `events`; on the first
    /// lane, after the barrier of the state's copy that precedes them, then a barrier where
    /// the type has event kernels), Nernst.
    fn up_to_currents(&mut self, fb: &mut Fb, c: H, s: H, t: H, events: Events) {
        self.on_first(fb, |this, fb| this.events(fb, c, s, events.ev, events.end, events.records, t));
        if self.ty.blocks.iter().any(|b| b.kernels.event.is_some()) {
            self.barrier(fb);
        }
        self.nernst(fb, c);
    }

    /// One stage's kernel of every block in order.
    fn block_kernels(&mut self, fb: &mut Fb, c: H, mid: H, pick: fn(&Kernels) -> &Kernel) {
        let ty = self.ty;
        for b in &ty.blocks {
            let kernel = pick(&b.kernels).clone();
            self.instances(fb, b, c, mid, &kernel);
        }
    }

    /// The adjoint of step `s` (from time `t`, its midpoint `mid`), its replay's advance
    /// partials in `work`. The current kernels' products evaluate their partials where the
    /// kernels read: the step's state restored, its events and Nernst run again.
    fn undo(&mut self, fb: &mut Fb, c: H, s: H, (t, mid): (H, H), events: Events) {
        for b in self.ty.blocks.iter().rev() {
            self.block_vjp(fb, b, c, mid, Partials::Stored);
        }
        self.undo_after_advance(fb, c, s, (t, mid), events);
    }

    /// The adjoint of step `s` after its advance products: the solve's, the current
    /// products, Nernst's and the events'.
    fn undo_after_advance(&mut self, fb: &mut Fb, c: H, s: H, (t, mid): (H, H), events: Events) {
        let ty = self.ty;
        self.solve_adjoint(fb, c, s);
        self.restore_state(fb, c, s);
        self.seek_events(fb, events, s);
        self.up_to_currents(fb, c, s, t, events);
        for b in ty.blocks.iter().rev() {
            self.block_vjp(fb, b, c, mid, Partials::Evaluated);
        }
        self.clear_accumulators(fb, c);
        self.nernst_adjoint(fb, c);
        self.events_adjoint(fb, c, s, t, events);
    }

    /// Adds the loss's derivative in each of the cell's probe columns after step `s`, on the
    /// first lane between barriers (a probe may read any node or instance).
    fn add_rows(&mut self, fb: &mut Fb, gid: H, s: H) {
        if self.layout.gpu_probes == 0 {
            return;
        }
        self.sync_all(fb);
        self.on_first(fb, |this, fb| this.add_rows_here(fb, gid, s));
        self.barrier(fb);
    }

    fn add_rows_here(&self, fb: &mut Fb, gid: H, s: H) {
        let (g, grad) = (self.g, self.grad());
        let po = fb.u(self.layout.probe_offsets);
        let a = fb.add(po, gid);
        let first = fb.read(g.meta, a);
        let one = fb.u(1);
        let a1 = fb.add(a, one);
        let end = fb.read(g.meta, a1);
        let pairs = fb.u(self.layout.probe_pairs);
        let cols = fb.u(self.layout.gpu_probes);
        let rows = fb.u(grad.layout.rows);
        let row = fb.mul(s, cols);
        let row = fb.add(rows, row);
        fb.for_range(first, end, "q", |fb, q| {
            let two = fb.u(2);
            let q2 = fb.mul(q, two);
            let at = fb.add(pairs, q2);
            let col = fb.read(g.meta, at);
            let at1 = fb.add(at, one);
            let index = fb.read(g.meta, at1);
            let from = fb.add(row, col);
            let d = fb.read(grad.work, from);
            add_unless_zero(fb, grad.adj, index, d);
        });
    }
}

/// `buffer[i] += x`, unless `x` is zero (as the CPU's products skip a zero contribution: adding
/// 0 would turn a −0 into +0).
fn add_unless_zero(fb: &mut Fb, buffer: Handle<naga::GlobalVariable>, i: H, x: H) {
    let z = fb.f(0.0);
    let nonzero = fb.bin(B::NotEqual, x, z);
    let old = fb.read(buffer, i);
    let sum = fb.add(old, x);
    let new = fb.select(nonzero, sum, old);
    fb.write(buffer, i, new);
}
