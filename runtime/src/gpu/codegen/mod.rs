//! One compute entry point per cell type, built as naga IR: an invocation (`thread`) or a
//! workgroup (`workgroup`) runs a window of time steps of one cell (events, currents, Hines
//! solve, states, Nernst, detection, probes).

mod kernel;
mod reverse;
mod sync;
mod thread;
mod workgroup;

pub use reverse::{REVERSE_BINDINGS, checkpoint_entry_name, reverse_dispatch_names, reverse_module};
pub use sync::StepBarriers;

use naga::{BinaryOperator as B, Handle, MathFunction as M, Module};
use sylva_compiler::ir::kernel::{Kernel, Kernels};

use super::GpuError;
use super::builder::{Fb, H, Prec, Types, storage};
use super::layout::{BlockLayout, GRID_X, Layout, TypeLayout};
use super::math::{self, MathFns};
use crate::plan::schedule::{self, Stage};

pub const WORKGROUP: u32 = 64;

/// Bindings of group 0.
pub const B_DATA: u32 = 0;
pub const B_SHARED: u32 = 1;
pub const B_META: u32 = 2;
pub const B_CONTROL: u32 = 3;
pub const B_WEIGHTS: u32 = 4;
pub const B_SPIKES: u32 = 5;
pub const B_PROBES: u32 = 6;
pub const BINDINGS: u32 = 7;

/// Control buffer: [step0, nsteps, event offsets by gid (ncells + 1), records (step, block,
/// instance)...].
pub const CONTROL_HEADER: u32 = 2;

/// Spike buffer, per gid: [count, first bad step + 1, steps done, spike steps...].
pub const SPIKE_HEADER: u32 = 3;

/// Loop iterations of one time step of one invocation of this type, events and probes aside
/// (each loop counts one more for its exit test; a workgroup lane takes every `size`-th
/// element). llvmpipe stops an invocation after 65535 loop iterations, so the window is sized
/// with this on CPU adapters.
pub fn loop_cost(layout: &Layout, ty: &TypeLayout) -> u64 {
    let meta = &layout.meta;
    let lanes = ty.workgroup.as_ref().map_or(1, |w| u64::from(w.size));
    let share = |n: u64| n.div_ceil(lanes) + 1;
    let nn = u64::from(ty.nnodes);
    let nernst = layout.nernst.iter().filter(|n| n.is_some()).count() as u64;
    let mut cost = 2 + share(nn) * (4 + nernst);
    if let Some(wg) = &ty.workgroup {
        // Rounds of the solve (a task each, a child loop per node), and assembly's child loops.
        let widest = (0..ty.nnodes as usize)
            .map(|j| u64::from(meta[wg.child_start as usize + j + 1] - meta[wg.child_start as usize + j]))
            .max()
            .unwrap_or(0);
        let chain = u64::from(wg.longest_task) + 1;
        cost += u64::from(wg.rounds.count) * (1 + chain * (widest + 1)) + share(nn) * (widest + 1);
    }
    for b in &ty.blocks {
        if b.per_cell > 1 || b.group.is_some() {
            let kernels = [&b.kernels.current, &b.kernels.advance].iter().filter(|k| !k.writes.is_empty()).count();
            let per_lane = if b.shares_nodes { u64::from(b.per_cell) + 1 } else { share(u64::from(b.per_cell)) };
            cost += kernels as u64 * per_lane;
        }
    }
    cost
}

#[derive(Copy, Clone)]
struct Globals {
    data: Handle<naga::GlobalVariable>,
    shared: Handle<naga::GlobalVariable>,
    meta: Handle<naga::GlobalVariable>,
    control: Handle<naga::GlobalVariable>,
    weights: Handle<naga::GlobalVariable>,
    spikes: Handle<naga::GlobalVariable>,
    probes: Handle<naga::GlobalVariable>,
}

/// Everything the generated code bakes in.
pub struct Params {
    pub prec: Prec,
    pub dt: f64,
    /// Per-cell spike capacity per window.
    pub spike_cap: u32,
}

/// The entry point of cell type `t` for pass `pass` of a step split into `passes` dispatches
/// (`schedule::step_passes`): `cell_type_<t>`, or `cell_type_<t>_pass_<p>` when coupled.
pub fn entry_name(t: usize, pass: usize, passes: usize) -> String {
    if passes == 1 { format!("cell_type_{t}") } else { format!("cell_type_{t}_pass_{pass}") }
}

/// The entry points in dispatch order, (cell type, name): every type's first pass, then every
/// type's second, and so on, so that every cell finishes a pass before any starts the next.
pub fn entry_points(layout: &Layout) -> Vec<(usize, String)> {
    let passes = schedule::step_passes(layout.coupled).len();
    (0..passes).flat_map(|p| (0..layout.types.len()).map(move |t| (t, entry_name(t, p, passes)))).collect()
}

/// Which stages of the step one entry point runs, whether it opens the window (resets the
/// cell's spike header) and closes each step (counts it done), and whether an earlier pass of
/// the step solves.
struct Pass<'a> {
    stages: &'a [Stage],
    opens: bool,
    closes: bool,
    after_solve: bool,
}

/// The storage buffers of the forward step, at their bindings.
fn globals(module: &mut Module, types: Types) -> Globals {
    Globals {
        data: storage(&mut module.global_variables, "data", B_DATA, types.real_array, true),
        shared: storage(&mut module.global_variables, "shared", B_SHARED, types.real_array, false),
        meta: storage(&mut module.global_variables, "meta", B_META, types.uint_array, false),
        control: storage(&mut module.global_variables, "control", B_CONTROL, types.uint_array, false),
        weights: storage(&mut module.global_variables, "weights", B_WEIGHTS, types.real_array, false),
        spikes: storage(&mut module.global_variables, "spikes", B_SPIKES, types.uint_array, true),
        probes: storage(&mut module.global_variables, "probes", B_PROBES, types.real_array, true),
    }
}

/// The module of every cell type's entry points, and the barriers of a step of each type.
pub fn module(layout: &Layout, p: &Params) -> Result<(Module, Vec<StepBarriers>), GpuError> {
    let mut module = Module::default();
    let types = Types::new(&mut module, p.prec);
    let g = globals(&mut module, types);
    let fns = math::add(&mut module, types, p.prec);
    let passes = schedule::step_passes(layout.coupled);
    let mut barriers = Vec::new();
    for (t, ty) in layout.types.iter().enumerate() {
        let mut step = StepBarriers::default();
        let solve = solve_arrays(&mut module, types, ty, t, p.prec);
        let fill = workgroup::fill_array(&mut module, types, ty, t, p.prec);
        for (i, stages) in passes.iter().enumerate() {
            let after_solve = passes[..i].iter().any(|earlier| earlier.contains(&Stage::Solve));
            let pass = Pass { stages, opens: i == 0, closes: i + 1 == passes.len(), after_solve };
            let mut fb = Fb::new(p.prec, types, &entry_name(t, i, passes.len()));
            let size = entry_arguments(&mut fb, types, ty);
            let sync = std::cell::RefCell::new(sync::Sync::new(ty.nnodes));
            let mut cx = Cx { g, fns, layout, ty, p, lane: None, solve, fill, sync, err: None, grad: None };
            cx.entry(&mut fb, &pass);
            if let Some(e) = cx.err {
                return Err(e);
            }
            step.add_all(&cx.sync.into_inner().counted);
            module.entry_points.push(compute_entry(entry_name(t, i, passes.len()), size, fb));
        }
        barriers.push(step);
    }
    Ok((module, barriers))
}

/// A compute entry point of `size` lanes a workgroup running `fb`'s function.
fn compute_entry(name: String, size: u32, fb: Fb) -> naga::EntryPoint {
    naga::EntryPoint {
        name,
        stage: naga::ShaderStage::Compute,
        early_depth_test: None,
        workgroup_size: [size, 1, 1],
        workgroup_size_overrides: None,
        function: fb.finish(),
        mesh_info: None,
        task_payload: None,
        incoming_ray_payload: None,
    }
}

/// The built-in arguments of a type's entry points; returns the workgroup size.
fn entry_arguments(fb: &mut Fb, types: Types, ty: &TypeLayout) -> u32 {
    let mut arg = |name: &str, ty, builtin| {
        fb.func.arguments.push(naga::FunctionArgument {
            name: Some(name.into()),
            ty,
            binding: Some(naga::Binding::BuiltIn(builtin)),
        })
    };
    match &ty.workgroup {
        None => {
            arg("global_id", types.uvec3, naga::BuiltIn::GlobalInvocationId);
            WORKGROUP
        }
        Some(wg) => {
            arg("lane", types.uint, naga::BuiltIn::LocalInvocationIndex);
            arg("workgroup_id", types.uvec3, naga::BuiltIn::WorkGroupId);
            wg.size
        }
    }
}

/// The solve's diagonal and rhs in workgroup memory, for a type that keeps them there.
fn solve_arrays(
    module: &mut Module,
    types: Types,
    ty: &TypeLayout,
    t: usize,
    prec: Prec,
) -> Option<[Handle<naga::GlobalVariable>; 2]> {
    ty.workgroup.as_ref().filter(|w| w.local_solve).map(|_| {
        ["solve_diagonal", "solve_rhs"]
            .map(|name| workgroup_array(module, types, &format!("{name}_{t}"), ty.nnodes, prec))
    })
}

/// A workgroup-memory array of `len` reals.
fn workgroup_array(
    module: &mut Module,
    types: Types,
    name: &str,
    len: u32,
    prec: Prec,
) -> Handle<naga::GlobalVariable> {
    let array = module.types.insert(
        naga::Type {
            name: None,
            inner: naga::TypeInner::Array {
                base: types.real,
                size: naga::ArraySize::Constant(std::num::NonZeroU32::new(len).expect("a length")),
                stride: prec.bytes() as u32,
            },
        },
        naga::Span::UNDEFINED,
    );
    module.global_variables.append(
        naga::GlobalVariable {
            name: Some(name.to_string()),
            space: naga::AddressSpace::WorkGroup,
            binding: None,
            ty: array,
            init: None,
            memory_decorations: naga::MemoryDecorations::empty(),
        },
        naga::Span::UNDEFINED,
    )
}

struct Cx<'a> {
    g: Globals,
    fns: MathFns,
    layout: &'a Layout,
    ty: &'a TypeLayout,
    p: &'a Params,
    /// Set when a workgroup runs the cell.
    lane: Option<Lane>,
    /// The solve's diagonal and rhs in workgroup memory (`WorkgroupLayout::local_solve`).
    solve: Option<[Handle<naga::GlobalVariable>; 2]>,
    /// The fills of split chains in workgroup memory (`layout::Fill::local`).
    fill: Option<Handle<naga::GlobalVariable>>,
    /// The nodes each lane touched since the last barrier, and the barriers per step.
    sync: std::cell::RefCell<sync::Sync>,
    err: Option<GpuError>,
    /// Set in the reverse kernel of a gradient: where partials and cotangents go.
    grad: Option<reverse::GradCx<'a>>,
}

/// This invocation's index in its workgroup, and the workgroup size.
#[derive(Copy, Clone)]
struct Lane {
    l: H,
    size: u32,
}

/// `solve_ptr`'s arrays.
const DIAGONAL: usize = 0;
const RHS: usize = 1;

/// Per-invocation values a kernel needs.
#[derive(Copy, Clone)]
struct At {
    c: H,
    k: H,
    node: H,
    t: H,
    weight: Option<H>,
}

impl Cx<'_> {
    /// `off + j * ncells + c`, or `off + c * nnodes + j` when a workgroup runs a cell (as
    /// `TypeLayout::node_slot`).
    fn node_index(&self, fb: &mut Fb, off: u32, j: H, c: H) -> H {
        let (major, minor, n) = if self.ty.cell_major() { (c, j, self.ty.nnodes) } else { (j, c, self.ty.ncells) };
        let n = fb.u(n);
        let scaled = fb.mul(major, n);
        let o = fb.u(off);
        let a = fb.add(o, scaled);
        fb.add(a, minor)
    }

    /// As `BlockLayout::slot`.
    fn instance_index(&self, fb: &mut Fb, b: &BlockLayout, off: u32, at: &At) -> H {
        let o = fb.u(off);
        if b.group.is_some() {
            return fb.add(o, at.k);
        }
        let (major, minor, n) =
            if self.ty.cell_major() { (at.c, at.k, b.per_cell) } else { (at.k, at.c, self.ty.ncells) };
        let n = fb.u(n);
        let scaled = fb.mul(major, n);
        let a = fb.add(o, scaled);
        fb.add(a, minor)
    }

    /// The invocation's cell and, for a workgroup, its lane.
    fn cell(&mut self, fb: &mut Fb) -> H {
        match self.ty.workgroup {
            None => {
                let id = fb.arg(0);
                let x = fb.e(naga::Expression::AccessIndex { base: id, index: 0 });
                let n = fb.u(self.ty.ncells);
                let out = fb.bin(B::GreaterEqual, x, n);
                fb.if_(out, |fb| fb.ret(None));
                x
            }
            Some(ref wg) => {
                let l = fb.arg(0);
                self.lane = Some(Lane { l, size: wg.size });
                let id = fb.arg(1);
                let x = fb.e(naga::Expression::AccessIndex { base: id, index: 0 });
                let y = fb.e(naga::Expression::AccessIndex { base: id, index: 1 });
                let w = fb.u(GRID_X);
                let yw = fb.mul(y, w);
                let c = fb.add(x, yw);
                // The last row of the grid may hold fewer cells (the whole workgroup leaves).
                let n = fb.u(self.ty.ncells);
                let out = fb.bin(B::GreaterEqual, c, n);
                fb.if_(out, |fb| fb.ret(None));
                c
            }
        }
    }

    /// The stages of `pass` for a window of steps of the invocation's cell.
    fn entry(&mut self, fb: &mut Fb, pass: &Pass) {
        let ty = self.ty;
        let g = self.g;
        let c = self.cell(fb);
        let goff = fb.u(ty.gid);
        let gi = fb.add(goff, c);
        let gid = fb.read(g.meta, gi);
        let zero_u = fb.u(0);
        let one_u = fb.u(1);
        let step0 = fb.read(g.control, zero_u);
        let nsteps = fb.read(g.control, one_u);
        let wants_events = pass.stages.contains(&Stage::DeliverEvents);
        let coupled = self.layout.coupled;
        let mut events = (wants_events && !coupled).then(|| self.cell_events(fb, gid, one_u, None));
        let cap1 = fb.u(self.p.spike_cap + SPIKE_HEADER);
        let spike_base = fb.mul(gid, cap1);
        let two_u = fb.u(2);
        let done_at = fb.add(spike_base, two_u);
        let (first, end) = if coupled {
            let (first, end) = self.coupled_step(fb, nsteps, spike_base, pass.after_solve);
            events = wants_events.then(|| self.cell_events(fb, gid, one_u, Some(first)));
            (first, end)
        } else {
            if pass.opens {
                self.on_first(fb, |_, fb| {
                    let bad_at = fb.add(spike_base, one_u);
                    for at in [spike_base, bad_at, done_at] {
                        fb.write(g.spikes, at, zero_u);
                    }
                });
                self.barrier(fb);
            }
            (zero_u, nsteps)
        };
        // No event kernel, no event for this type's cells: the stage and its barrier go.
        let has_events = self.ty.blocks.iter().any(|b| b.kernels.event.is_some());
        fb.for_range(first, end, "s", |fb, s| {
            let (t, mid) = self.step_times(fb, step0, s);
            for &stage in pass.stages {
                self.count_as(Some(stage_name(stage)));
                match stage {
                    Stage::DeliverEvents if has_events => {
                        let (ev, ev_end, records) = events.expect("set up for a pass delivering events");
                        self.on_first(fb, |this, fb| this.events(fb, c, s, ev, ev_end, records, t));
                        self.barrier(fb);
                    }
                    Stage::DeliverEvents => {}
                    Stage::Reversals => self.nernst(fb, c),
                    Stage::Currents => {
                        self.zero(fb, c);
                        self.stage_kernels(fb, c, mid, |k| &k.current);
                    }
                    Stage::Solve => match self.lane {
                        None => self.hines(fb, c, s, spike_base),
                        Some(_) => self.parallel_hines(fb, c, s, spike_base),
                    },
                    Stage::Advance => self.stage_kernels(fb, c, mid, |k| &k.advance),
                    Stage::Detect => {
                        if let Some((node, _)) = self.ty.detector {
                            self.sync_for(fb, sync::Work::FirstLane(node));
                        }
                        self.on_first(fb, |this, fb| this.detect(fb, c, s, spike_base))
                    }
                    Stage::Record => {
                        if self.layout.gpu_probes > 0 {
                            self.sync_all(fb);
                        }
                        self.probes(fb, gid, s)
                    }
                }
            }
            self.count_as(Some("step end"));
            if pass.closes {
                self.on_first(fb, |_, fb| {
                    let one = fb.u(1);
                    let done = fb.add(s, one);
                    fb.write(g.spikes, done_at, done);
                });
            }
            // The next step's events change states that this step's probes read.
            self.barrier(fb);
            // A cell that diverged stops, so that the host finds the state of that step (as the
            // CPU engine stops); every lane reads the same flag after the barrier.
            let bad_at = fb.add(spike_base, one_u);
            let bad = fb.read(g.spikes, bad_at);
            let stopped = fb.bin(B::NotEqual, bad, zero_u);
            fb.if_(stopped, |fb| fb.brk());
        });
        self.count_as(None);
    }

    /// The cell's events: the next one (`ev`), the end of its range, the records; with `skip_to`
    /// (a coupled dispatch, which starts inside the window) `ev` past the records of steps
    /// before it.
    fn cell_events(&mut self, fb: &mut Fb, gid: H, one: H, skip_to: Option<H>) -> (H, H, H) {
        let g = self.g;
        let hdr = fb.u(CONTROL_HEADER);
        let ev_at = fb.add(hdr, gid);
        let ev_start = fb.read(g.control, ev_at);
        let ev_at1 = fb.add(ev_at, one);
        let ev_end = fb.read(g.control, ev_at1);
        let ev = fb.local(fb.types.uint, "ev");
        fb.store(ev, ev_start);
        let records = fb.u(CONTROL_HEADER + self.layout.ncells + 1);
        if let Some(step) = skip_to {
            skip_events_before(fb, g, (ev, ev_end, records), step);
        }
        (ev, ev_end, records)
    }

    /// With coupled cells a window is a run of dispatches, one per pass and step, and each
    /// runs one step: the cell's next (its count of steps done), unless the window is over or
    /// the cell diverged, except that a pass after the solve still finishes the step whose
    /// solve diverged (as the fused loop does). The host zeroes the spike headers before the
    /// window. Returns the step range `[first, end)`, empty or one step.
    fn coupled_step(&mut self, fb: &mut Fb, nsteps: H, spike_base: H, after_solve: bool) -> (H, H) {
        let g = self.g;
        let (zero, one, two) = (fb.u(0), fb.u(1), fb.u(2));
        let done_at = fb.add(spike_base, two);
        let step = fb.read(g.spikes, done_at);
        let bad_at = fb.add(spike_base, one);
        let bad = fb.read(g.spikes, bad_at);
        // Every lane has read them before lane 0 counts the step done or reports it bad.
        self.barrier(fb);
        let next = fb.add(step, one);
        let mut runs = fb.bin(B::Equal, bad, zero);
        if after_solve {
            let diverged_now = fb.bin(B::Equal, bad, next);
            runs = fb.bin(B::LogicalOr, runs, diverged_now);
        }
        let in_window = fb.bin(B::Less, step, nsteps);
        let go = fb.bin(B::LogicalAnd, runs, in_window);
        let end = fb.select(go, next, step);
        (step, end)
    }

    /// The time of step `step0 + s` and the step's midpoint, as the CPU engine's `time_of`:
    /// n / (1/dt) when 1/dt is whole, else n dt.
    fn step_times(&self, fb: &mut Fb, step0: H, s: H) -> (H, H) {
        let step = fb.add(step0, s);
        let stepr = fb.real_of(step);
        let per_ms = 1.0 / self.p.dt;
        let t = if per_ms == per_ms.round() {
            let k = fb.f(per_ms);
            fb.div(stepr, k)
        } else {
            let dt = fb.f(self.p.dt);
            fb.mul(stepr, dt)
        };
        let half = fb.f(self.p.dt / 2.0);
        (t, fb.add(t, half))
    }

    /// One stage kernel of every block of the type on the cell's instances, in block order.
    fn stage_kernels(&mut self, fb: &mut Fb, c: H, mid: H, pick: fn(&Kernels) -> &Kernel) {
        let ty = self.ty;
        for b in &ty.blocks {
            let k = pick(&b.kernels).clone();
            self.instances(fb, b, c, mid, &k);
        }
    }

    /// Runs `body` on the first lane of a workgroup (on every invocation per cell).
    fn on_first(&mut self, fb: &mut Fb, body: impl FnOnce(&mut Self, &mut Fb)) {
        match self.lane {
            None => body(self, fb),
            Some(lane) => {
                let z = fb.u(0);
                let first = fb.bin(B::Equal, lane.l, z);
                fb.if_(first, |fb| body(self, fb));
            }
        }
    }

    fn barrier(&self, fb: &mut Fb) {
        if self.lane.is_some() {
            fb.barrier();
            self.sync.borrow_mut().passed(1);
        }
    }

    /// A local flag for the blow-up check of `v += Δv`.
    fn bad_flag(&self, fb: &mut Fb) -> H {
        let bad = fb.local(fb.types.boolean, "bad");
        let f = fb.bool(false);
        fb.store(bad, f);
        bad
    }

    /// Sets `bad` when the new voltage is non-finite or above 1e6 mV (the CPU engine's check).
    fn flag_if_bad(&self, fb: &mut Fb, bad: H, v: H) {
        let a = fb.math1(M::Abs, v);
        let lim = fb.f(1e6);
        let fine = fb.bin(B::LessEqual, a, lim);
        let wrong = fb.not(fine);
        let before = fb.load(bad);
        let now = fb.bin(B::LogicalOr, before, wrong);
        fb.store(bad, now);
    }

    /// Records the first bad step of the cell (lanes of one step write the same value).
    fn report_bad(&self, fb: &mut Fb, bad: H, s: H, spike_base: H) {
        let g = self.g;
        let isbad = fb.load(bad);
        fb.if_(isbad, |fb| {
            let one = fb.u(1);
            let at = fb.add(spike_base, one);
            let cur = fb.read(g.spikes, at);
            let z = fb.u(0);
            let first = fb.bin(B::Equal, cur, z);
            fb.if_(first, |fb| {
                let s1 = fb.add(s, one);
                fb.write(g.spikes, at, s1);
            });
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn events(&mut self, fb: &mut Fb, c: H, s: H, ev: H, ev_end: H, records: H, t: H) {
        let g = self.g;
        let with_events: Vec<&BlockLayout> = self.ty.blocks.iter().filter(|b| b.kernels.event.is_some()).collect();
        fb.loop_(|fb| {
            let (e, rec, rs) = next_event_record(fb, g, (ev, ev_end, records));
            let later = fb.bin(B::NotEqual, rs, s);
            fb.if_(later, |fb| fb.brk());
            let one = fb.u(1);
            let two = fb.u(2);
            let r1 = fb.add(rec, one);
            let r2 = fb.add(rec, two);
            let blk = fb.read(g.control, r1);
            let k = fb.read(g.control, r2);
            let w = fb.read(g.weights, e);
            for b in &with_events {
                let id = fb.u(b.block as u32);
                let hit = fb.bin(B::Equal, blk, id);
                let kernel = b.kernels.event.clone().expect("filtered");
                fb.if_(hit, |fb| {
                    let node = self.node_of(fb, b, k);
                    let at = At { c, k, node, t, weight: Some(w) };
                    self.kernel(fb, b, &kernel, &at);
                });
            }
            let next = fb.add(e, one);
            fb.store(ev, next);
        });
    }

    fn node_of(&self, fb: &mut Fb, b: &BlockLayout, k: H) -> H {
        if b.per_cell == 1 {
            return fb.u(b.nodes[0]);
        }
        // The local node of each instance, from the block's table in `meta`.
        let off = fb.u(self.node_table(b));
        let i = fb.add(off, k);
        fb.read(self.g.meta, i)
    }

    fn node_table(&self, b: &BlockLayout) -> u32 {
        self.layout.node_tables[b.block]
    }

    /// Runs `kernel` for every instance of block `b` in this cell: in order on one invocation,
    /// or split across a workgroup's lanes when no two instances share a node; for a group of
    /// stimuli, the cell's members in order on one invocation. A workgroup waits first where
    /// another lane touched one of the block's nodes (`sync`).
    fn instances(&mut self, fb: &mut Fb, b: &BlockLayout, c: H, t: H, kernel: &Kernel) {
        if kernel.writes.is_empty() {
            return;
        }
        self.sync_for(fb, sync::Work::Block(b));
        let run = |this: &mut Self, fb: &mut Fb, k: H| {
            let node = this.node_of(fb, b, k);
            this.kernel(fb, b, kernel, &At { c, k, node, t, weight: None });
        };
        if let Some(table) = b.group {
            let meta = self.g.meta;
            self.on_first(fb, |this, fb| {
                let at = fb.u(table);
                let i = fb.add(at, c);
                let start = fb.read(meta, i);
                let one = fb.u(1);
                let i1 = fb.add(i, one);
                let end = fb.read(meta, i1);
                fb.for_range(start, end, "member", |fb, k| run(this, fb, k));
            });
        } else if b.per_cell == 1 {
            self.on_first(fb, |this, fb| {
                let k = fb.u(0);
                run(this, fb, k);
            });
        } else {
            let lane = if b.shares_nodes { None } else { self.lane };
            let body = |this: &mut Self, fb: &mut Fb| {
                let zero = fb.u(0);
                let end = fb.u(b.per_cell);
                split(fb, lane, zero, end, "k", |fb, k| run(this, fb, k));
            };
            if b.shares_nodes { self.on_first(fb, body) } else { body(self, fb) }
        }
    }

    fn zero(&mut self, fb: &mut Fb, c: H) {
        self.sync_for(fb, sync::Work::Nodes);
        let ty = self.ty;
        let g = self.g;
        let zero = fb.u(0);
        let nn = fb.u(ty.nnodes);
        split(fb, self.lane, zero, nn, "j", |fb, j| {
            let z = fb.f(0.0);
            for which in [DIAGONAL, RHS] {
                let p = self.solve_ptr(fb, which, j, c);
                fb.store(p, z);
            }
            let read = ty.ions.iter().zip(&self.layout.current_read).filter(|(_, r)| **r);
            for off in read.map(|(a, _)| a[3]) {
                let i = self.node_index(fb, off, j, c);
                fb.write(g.data, i, z);
            }
        });
    }

    /// Pointer to the diagonal or rhs of node `j`: in workgroup memory when the type keeps
    /// them there (`WorkgroupLayout::local_solve`), else in `data`.
    fn solve_ptr(&self, fb: &mut Fb, which: usize, j: H, c: H) -> H {
        match self.solve {
            Some(arrays) => fb.elem(arrays[which], j),
            None => {
                let off = [self.ty.diagonal, self.ty.rhs][which];
                let i = self.node_index(fb, off, j, c);
                fb.elem(self.g.data, i)
            }
        }
    }

    /// The parent of node `j` (`NO_PARENT` at the root), from the type's table in `meta`.
    fn parent_of(&self, fb: &mut Fb, j: H) -> H {
        let o = fb.u(self.ty.parent);
        let i = fb.add(o, j);
        fb.read(self.g.meta, i)
    }

    /// The axial conductance between node `j` and its parent.
    fn axial_of(&self, fb: &mut Fb, j: H) -> H {
        let o = fb.u(self.ty.axial);
        let i = fb.add(o, j);
        fb.read(self.g.shared, i)
    }

    /// `data[i] += x`.
    fn accumulate(&self, fb: &mut Fb, i: H, x: H) {
        let old = fb.read(self.g.data, i);
        let new = fb.add(old, x);
        fb.write(self.g.data, i, new);
    }

    /// Nernst reversals of the cell's nodes.
    fn nernst(&mut self, fb: &mut Fb, c: H) {
        let ty = self.ty;
        let g = self.g;
        for (s, factor) in self.layout.nernst.iter().enumerate() {
            let Some(factor) = *factor else { continue };
            self.sync_for(fb, sync::Work::Nodes);
            let zero = fb.u(0);
            let nn = fb.u(ty.nnodes);
            let log = self.fns.log;
            split(fb, self.lane, zero, nn, "j", |fb, j| {
                let ii = self.node_index(fb, ty.ions[s][1], j, c);
                let inside = fb.read(g.data, ii);
                let z = fb.f(0.0);
                let positive = fb.bin(B::Greater, inside, z);
                fb.if_(positive, |fb| {
                    let io = self.node_index(fb, ty.ions[s][2], j, c);
                    let outside = fb.read(g.data, io);
                    let ratio = fb.div(outside, inside);
                    let l = fb.call(log, vec![ratio]);
                    let k = fb.f(factor);
                    let e = fb.mul(k, l);
                    let ir = self.node_index(fb, ty.ions[s][0], j, c);
                    fb.write(g.data, ir, e);
                });
            });
        }
    }

    fn detect(&mut self, fb: &mut Fb, c: H, s: H, spike_base: H) {
        let ty = self.ty;
        let g = self.g;
        let Some((node, threshold)) = ty.detector else { return };
        let j = fb.u(node);
        let vi = self.node_index(fb, ty.v, j, c);
        let v = fb.read(g.data, vi);
        let thr = fb.f(threshold);
        let above = fb.bin(B::GreaterEqual, v, thr);
        let ao = fb.u(ty.above);
        let ai = fb.add(ao, c);
        let prev = fb.read(g.data, ai);
        let z = fb.f(0.0);
        let was = fb.bin(B::NotEqual, prev, z);
        let notwas = fb.not(was);
        let up = fb.bin(B::LogicalAnd, above, notwas);
        fb.if_(up, |fb| {
            let count = fb.read(g.spikes, spike_base);
            let cap = fb.u(self.p.spike_cap);
            let room = fb.bin(B::Less, count, cap);
            fb.if_(room, |fb| {
                let hdr = fb.u(SPIKE_HEADER);
                let a = fb.add(spike_base, hdr);
                let at = fb.add(a, count);
                fb.write(g.spikes, at, s);
            });
            let one = fb.u(1);
            let next = fb.add(count, one);
            fb.write(g.spikes, spike_base, next);
        });
        let one = fb.f(1.0);
        let flag = fb.select(above, one, z);
        fb.write(g.data, ai, flag);
    }

    fn probes(&mut self, fb: &mut Fb, gid: H, s: H) {
        if self.layout.gpu_probes == 0 {
            return;
        }
        let g = self.g;
        let po = fb.u(self.layout.probe_offsets);
        let a = fb.add(po, gid);
        let start = fb.read(g.meta, a);
        let one = fb.u(1);
        let a1 = fb.add(a, one);
        let end = fb.read(g.meta, a1);
        let pp = fb.u(self.layout.probe_pairs);
        let cols = fb.u(self.layout.gpu_probes);
        let row = fb.mul(s, cols);
        split(fb, self.lane, start, end, "q", |fb, q| {
            let two = fb.u(2);
            let q2 = fb.mul(q, two);
            let at = fb.add(pp, q2);
            let col = fb.read(g.meta, at);
            let at1 = fb.add(at, one);
            let idx = fb.read(g.meta, at1);
            let value = fb.read(g.data, idx);
            let dst = fb.add(row, col);
            fb.write(g.probes, dst, value);
        });
    }
}

/// `for i in start..end`, split across the lanes of a workgroup when there is one.
fn split(fb: &mut Fb, lane: Option<Lane>, start: H, end: H, name: &str, body: impl FnOnce(&mut Fb, H)) {
    match lane {
        None => fb.for_range(start, end, name, body),
        Some(lane) => {
            let first = fb.add(start, lane.l);
            fb.for_step(first, end, lane.size, name, body);
        }
    }
}

/// Advances the cell's next event (`ev`, with the end of its range and the records) past the
/// records of steps before `step`: a coupled dispatch starts inside the window.
fn skip_events_before(fb: &mut Fb, g: Globals, events: (H, H, H), step: H) {
    let ev = events.0;
    fb.loop_(|fb| {
        let (e, _, record_step) = next_event_record(fb, g, events);
        let reached = fb.bin(B::GreaterEqual, record_step, step);
        fb.if_(reached, |fb| fb.brk());
        let one = fb.u(1);
        let next = fb.add(e, one);
        fb.store(ev, next);
    });
}

/// In a loop over the cell's events (`ev`, the end of its range, the records): leaves the loop
/// when none is left, else gives the next event's index, its record's offset and its step.
fn next_event_record(fb: &mut Fb, g: Globals, (ev, ev_end, records): (H, H, H)) -> (H, H, H) {
    let e = fb.load(ev);
    let done = fb.bin(B::GreaterEqual, e, ev_end);
    fb.if_(done, |fb| fb.brk());
    let three = fb.u(3);
    let e3 = fb.mul(e, three);
    let rec = fb.add(records, e3);
    let step = fb.read(g.control, rec);
    (e, rec, step)
}

/// A stage's name in the barrier counts (`StepBarriers`).
fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::DeliverEvents => "events",
        Stage::Reversals => "reversals",
        Stage::Currents => "currents",
        Stage::Solve => "solve",
        Stage::Advance => "advance",
        Stage::Detect => "detect",
        Stage::Record => "record",
    }
}
