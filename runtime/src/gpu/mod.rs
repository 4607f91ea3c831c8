//! The GPU engine: the model's kernels lowered to naga IR, one compute entry point per cell
//! type, run through wgpu. A cell runs on one invocation (networks of many cells) or on one
//! workgroup with an intra-cell parallel Hines solve (big cells); see [`Strategy`]. A dispatch
//! advances every cell through a window of time steps without returning to the host; spikes
//! come back after the window and become events of later windows (every connection delay is
//! at least the window). Cells coupled by graded synapses or gap junctions (`v_pre`) read each
//! other's voltages within a step: their step runs as a dispatch per pass of
//! `plan::schedule::step_passes`, every step of the window in one submit. See `docs/gpu.md`.

mod blowup;
mod builder;
mod codegen;
mod cost;
mod device;
#[cfg(test)]
mod dispatch_tests;
pub mod grad;
mod layout;
mod math;
mod schedule;
mod stimuli;
#[cfg(test)]
mod tests;
mod traffic;

use std::fmt;

use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;

use crate::host::{DueEvent, Host, time_of};
use crate::plan::Plan;
use crate::simulation::{Engine, RunError};
use builder::Prec;
pub use codegen::StepBarriers;
pub use cost::StepCost;
use device::Gpu;
use layout::{Layout, ProbeLoc};
pub use schedule::Solve;

/// Invocations an NVIDIA H100 keeps resident (132 multiprocessors of 2,048): below this many,
/// f64 cells get twice the lanes, whose extra warps hide the latency of the software math
/// (`Strategy::workgroup_size`).
const RESIDENT_INVOCATIONS: u64 = 1 << 18;

/// An event of a window as the device reads it: (gid, step in the window, block, instance in
/// the cell, weight).
type EventRecord = (u32, u32, u32, u32, f64);

/// Longest window (time steps per dispatch).
pub const MAX_WINDOW: u32 = 400;

/// Loop iterations per invocation and window on llvmpipe (it stops at 65535), leaving room
/// for events.
const LLVMPIPE_LOOP_BUDGET: u64 = 50_000;

/// How the cells of a type are mapped onto the GPU.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// [`Strategy::Workgroup`] for types of few, big cells, else [`Strategy::Thread`]
    /// (see [`Strategy::workgroup_size`]).
    #[default]
    Auto,
    /// One invocation per cell: the whole cell, Hines solve included, on one thread.
    Thread,
    /// One workgroup per cell: mechanisms and nodes split across its lanes, the Hines solve in
    /// DHS rounds (`schedule`).
    Workgroup,
}

/// Auto picks workgroups for cells of at least this many nodes.
const AUTO_MIN_NODES: u32 = 64;

/// What the device offers a workgroup.
#[derive(Copy, Clone, Debug)]
pub struct DeviceFit {
    /// Bytes of workgroup memory.
    pub workgroup_memory: u32,
    /// Invocations.
    pub max_lanes: u32,
}

impl DeviceFit {
    fn of(limits: &wgpu::Limits) -> DeviceFit {
        DeviceFit {
            workgroup_memory: limits.max_compute_workgroup_storage_size,
            max_lanes: limits.max_compute_invocations_per_workgroup.min(limits.max_compute_workgroup_size_x),
        }
    }
}

impl Strategy {
    /// The workgroup size when the type's `ncells` cells of `nnodes` nodes run a workgroup each
    /// (`None`: one invocation per cell): `lanes` when given, else an eighth of the nodes as a
    /// power of two, between 32 (one NVIDIA warp: the barriers are cheapest) and the device's
    /// limit (at most 1024); in f64 twice that while the cells with twice the lanes fit in
    /// [`RESIDENT_INVOCATIONS`]. Measured (docs/performance.md): the ringtest's 105-node cells
    /// run fastest with 32 lanes when they fill the GPU (64: 26 % slower in f64 at 1e7), the
    /// 2,162-node binary tree with 512 in f32; in f64 twice the lanes were 3–28 % faster for
    /// one to 1,030 cells of 105 to 2,162 nodes.
    pub fn workgroup_size(
        self,
        nnodes: u32,
        ncells: u32,
        f64: bool,
        fit: DeviceFit,
        lanes: Option<u32>,
    ) -> Option<u32> {
        let limit = fit.max_lanes.clamp(32, 1024);
        let eighth = (nnodes / 8).next_power_of_two().clamp(32, limit);
        let twice = (2 * eighth).min(limit);
        let idle = u64::from(ncells) * u64::from(twice) <= RESIDENT_INVOCATIONS;
        let size = lanes.unwrap_or(if f64 && idle { twice } else { eighth });
        match self {
            Strategy::Thread => None,
            Strategy::Workgroup => Some(size),
            Strategy::Auto => (nnodes >= AUTO_MIN_NODES).then_some(size),
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Strategy, String> {
        match s {
            "auto" => Ok(Strategy::Auto),
            "thread" => Ok(Strategy::Thread),
            "workgroup" => Ok(Strategy::Workgroup),
            _ => Err(format!("GPU strategy `{s}` is not `auto`, `thread` or `workgroup`")),
        }
    }
}

#[derive(Debug)]
pub enum GpuError {
    NoAdapter,
    NoF64 {
        adapter: String,
    },
    /// Generated code rejected by naga or by the driver.
    Shader(String),
    /// A model feature or size the GPU engine or the device does not support.
    Unsupported(String),
    /// A consistency check that a validated model never fails: a bug in Sylva.
    Internal(String),
    /// Buffer mapping or device failure.
    Device(String),
    /// More spikes of one cell in one window than the buffer holds.
    SpikeOverflow {
        gid: u32,
        window_start: f64,
    },
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter => write!(
                f,
                "no GPU adapter found (wgpu enumerated no Vulkan device; install a driver, or \
                 mesa-vulkan-drivers for the lavapipe CPU implementation)"
            ),
            GpuError::NoF64 { adapter } => write!(
                f,
                "the GPU adapter '{adapter}' does not support f64 in shaders (SHADER_F64); use \
                 precision f32 or the CPU engine"
            ),
            GpuError::Shader(m) => write!(f, "GPU shader error: {m}"),
            GpuError::Unsupported(m) => write!(f, "not supported by the GPU engine: {m}"),
            GpuError::Internal(m) => write!(f, "internal error in the GPU engine: {m}"),
            GpuError::Device(m) => write!(f, "GPU device error: {m}"),
            GpuError::SpikeOverflow { gid, window_start } => {
                write!(
                    f,
                    "cell {gid} spiked more often than the spike buffer holds in the window from {window_start} ms"
                )
            }
        }
    }
}

impl std::error::Error for GpuError {}

fn prec(p: Precision) -> Prec {
    match p {
        Precision::F32 => Prec::F32,
        Precision::F64 => Prec::F64,
    }
}

/// The plan laid out for the GPU, and its generated module.
struct Prepared {
    layout: Layout,
    module: naga::Module,
    /// Barriers of a step of each type.
    barriers: Vec<codegen::StepBarriers>,
    info: naga::valid::ModuleInfo,
    window: u32,
    spike_cap: u32,
}

fn prepare(
    artifact: &Artifact,
    plan: &Plan,
    precision: Precision,
    options: Options,
    fit: DeviceFit,
) -> Result<Prepared, GpuError> {
    let dt = artifact.model.simulation.dt;
    let window_cap = options.window_cap.max(1);
    let layout = layout::layout(artifact, plan, options, fit, prec(precision))?;
    // The window: the shortest delay of a connection from a cell, in steps. Coupled cells read
    // each other's voltages within a step: each step of the window is a dispatch per pass, one
    // after another in one submit.
    let window = crate::plan::events::steps_within(plan.wiring.min_delay(), dt, u64::from(window_cap)) as u32;
    let spike_cap = window / 4 + 1;
    let params = codegen::Params { prec: prec(precision), dt, spike_cap };
    let (module, barriers) = codegen::module(&layout, &params)?;
    let info = validate(&module)?;
    Ok(Prepared { layout, module, barriers, info, window, spike_cap })
}

fn validate(module: &naga::Module) -> Result<naga::valid::ModuleInfo, GpuError> {
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::FLOAT64)
        .validate(module)
        .map_err(|e| GpuError::Shader(format!("{:?}", e.into_inner())))
}

/// The generated WGSL (`sylva compile --emit wgsl`), for a device with WebGPU's default limits
/// (16 KiB of workgroup memory, 256 invocations per workgroup).
pub fn wgsl(artifact: &Artifact, precision: Precision, strategy: Strategy) -> Result<String, GpuError> {
    let fit = DeviceFit::of(&wgpu::Limits::default());
    let p = prepare(artifact, &Plan::new(artifact), precision, Options { strategy, ..Options::default() }, fit)?;
    naga::back::wgsl::write_string(&p.module, &p.info, naga::back::wgsl::WriterFlags::empty())
        .map_err(|e| GpuError::Shader(e.to_string()))
}

pub struct GpuEngine {
    prec: Prec,
    gpu: Gpu,
    layout: Layout,
    /// Barriers of a step of each type.
    barriers: Vec<codegen::StepBarriers>,
    /// Per plan block: its gids and instances per cell.
    blocks: Vec<(Vec<u32>, usize)>,
    dt: f64,
    window: u32,
    spike_cap: u32,
    /// What the layout was made with (`GpuEngine::restart` makes it again).
    options: Options,
    fit: DeviceFit,
}

/// A run on the GPU.
pub type GpuSimulation = crate::Simulation<GpuEngine>;

/// Choices of a GPU run.
#[derive(Copy, Clone, Debug)]
pub struct Options {
    pub strategy: Strategy,
    /// The workgroup size of workgroup types (default: from the cell's size).
    pub lanes: Option<u32>,
    /// The most time steps per dispatch.
    pub window_cap: u32,
    /// How workgroup types solve their tree (long chains split, or every chain on one lane).
    pub solve: Solve,
}

impl Default for Options {
    fn default() -> Options {
        Options { strategy: Strategy::Auto, lanes: None, window_cap: MAX_WINDOW, solve: Solve::Split }
    }
}

impl crate::Simulation<GpuEngine> {
    pub fn new(artifact: &Artifact, precision: Precision) -> Result<GpuSimulation, GpuError> {
        GpuSimulation::with_options(artifact, precision, Options::default())
    }

    pub fn with_options(
        artifact: &Artifact,
        precision: Precision,
        options: Options,
    ) -> Result<GpuSimulation, GpuError> {
        let (engine, host) = GpuEngine::with_host(artifact, Plan::new(artifact), precision, options)?;
        Ok(crate::Simulation::from_parts(engine, host))
    }
}

impl GpuEngine {
    /// The engine of a run of `plan` (initialised; made from `artifact`, perhaps with
    /// parameters kept as data: a gradient's) and its host, row 0 recorded.
    fn with_host(
        artifact: &Artifact,
        plan: Plan,
        precision: Precision,
        options: Options,
    ) -> Result<(GpuEngine, Host), GpuError> {
        GpuEngine::on_device(device::open(prec(precision))?, artifact, plan, precision, options)
    }

    /// [`GpuEngine::with_host`] on a device already open (a gradient sizes its batch by the
    /// device's limits first).
    fn on_device(
        opened: device::Opened,
        artifact: &Artifact,
        mut plan: Plan,
        precision: Precision,
        options: Options,
    ) -> Result<(GpuEngine, Host), GpuError> {
        let p = prec(precision);
        let fit = DeviceFit::of(&opened.limits());
        let prepared = prepare(artifact, &plan, precision, options, fit)?;
        let mut host = Host::new(&mut plan, artifact.model.simulation.steps() as u64);
        let gpu = Gpu::new(opened, &prepared, p)?;
        let Prepared { mut layout, mut window, spike_cap, barriers, .. } = prepared;
        if gpu.cpu_device {
            // llvmpipe's loop limiter: keep a window well inside 65535 iterations per cell.
            let cost = layout.types.iter().map(|t| codegen::loop_cost(&layout, t)).max().unwrap_or(1);
            let probes = u64::from(layout.gpu_probes) + 1;
            let fit = LLVMPIPE_LOOP_BUDGET / (cost + probes);
            if fit == 0 {
                return Err(GpuError::Unsupported(format!(
                    "a cell needs {cost} loop iterations per step, more than llvmpipe allows per invocation"
                )));
            }
            window = window.min(fit as u32);
        }
        record_row0(&mut host, &mut layout, p);
        let blocks = plan.blocks.iter().map(|b| (b.gids.clone(), b.per_cell)).collect();
        let dt = artifact.model.simulation.dt;
        let engine = GpuEngine { prec: p, gpu, layout, barriers, blocks, dt, window, spike_cap, options, fit };
        Ok((engine, host))
    }

    /// Starts again from `plan` (initialised; the plan this engine was made from, with other
    /// parameter values): its state and parameters uploaded into the same buffers, the same
    /// pipelines. Returns the run's host, row 0 recorded.
    fn restart(&mut self, artifact: &Artifact, mut plan: Plan) -> Result<Host, GpuError> {
        let mut layout = layout::layout(artifact, &plan, self.options, self.fit, self.prec)?;
        let bytes = |reals: usize| reals as u64 * self.prec.bytes();
        if bytes(layout.data.len()) > self.gpu.data.size() || bytes(layout.shared.len()) > self.gpu.shared.size() {
            return Err(GpuError::Internal("a restart with a plan of another shape".into()));
        }
        self.gpu.upload_state(self.prec, &layout.data, &layout.shared);
        let mut host = Host::new(&mut plan, artifact.model.simulation.steps() as u64);
        record_row0(&mut host, &mut layout, self.prec);
        self.layout = layout;
        Ok(host)
    }

    /// Time steps per dispatch.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// The adapter the simulation runs on.
    pub fn adapter(&self) -> &str {
        &self.gpu.adapter
    }

    /// The strategy each cell type runs with (in the order of the model's cell types that have
    /// cells) and its workgroup size.
    pub fn strategies(&self) -> Vec<(Strategy, u32)> {
        let strategy = |t: &layout::TypeLayout| match &t.workgroup {
            Some(w) => (Strategy::Workgroup, w.size),
            None => (Strategy::Thread, codegen::WORKGROUP),
        };
        self.layout.types.iter().map(strategy).collect()
    }

    /// The step-cost model of each cell type run by workgroups (`None`: one invocation per
    /// cell): the solve's serial depth and the barriers of a step.
    pub fn step_costs(&self) -> Vec<Option<StepCost>> {
        cost::step_costs(&self.layout, &self.barriers)
    }

    /// One window of `n` steps from the host's current step: the due events go up with the
    /// dispatch, the probes' rows and the spikes come back. With `delivered`, each step's
    /// events are appended to it in delivery order (a gradient replays them).
    fn window_once(
        &mut self,
        host: &mut Host,
        n: u32,
        delivered: Option<&mut Vec<Vec<DueEvent>>>,
    ) -> Result<Vec<Vec<f64>>, RunError> {
        let step0 = host.step();
        let dt = self.dt;
        let events = self.window_events(host, n, delivered);
        let control = self.control(step0, n, &events);
        let mut weights: Vec<f64> = events.iter().map(|e| e.4).collect();
        if weights.is_empty() {
            weights.push(0.0);
        }
        let cols = self.layout.gpu_probes;
        let (spike_bytes, probe_values) = self.gpu.dispatch(self.prec, &control, &weights, n, cols)?;
        let spk: Vec<u32> = bytemuck::cast_slice(&spike_bytes).to_vec();
        self.check_cells(&spk, step0, n)?;
        let rows: Vec<Vec<f64>> = (0..n as usize)
            .map(|s| {
                let row = self.layout.probes.iter().map(|p| match *p {
                    ProbeLoc::Gpu { col, .. } => probe_values[s * cols as usize + col as usize],
                    ProbeLoc::Constant(v) => v,
                });
                row.collect()
            })
            .collect();
        for (s, row) in rows.iter().enumerate() {
            host.record(time_of(dt, step0 + s as u64 + 1), row.iter().copied());
        }
        let fired = self.fired(&spk, step0)?;
        let last_due = time_of(dt, step0 + u64::from(n) - 1) + dt / 2.0;
        for (s, gid) in fired {
            let earliest = host.spike(gid, time_of(dt, step0 + u64::from(s) + 1));
            if earliest <= last_due {
                return Err(
                    GpuError::Internal(format!("an event at {earliest} ms falls inside the window just run")).into()
                );
            }
        }
        host.finish_steps(u64::from(n));
        Ok(rows)
    }

    /// The events of the next `n` steps, in delivery order, then grouped by cell (a stable
    /// sort keeps each cell's order): (gid, step in the window, block, instance in the cell,
    /// weight); each step's also appended to `delivered` when given.
    fn window_events(
        &self,
        host: &mut Host,
        n: u32,
        mut delivered: Option<&mut Vec<Vec<DueEvent>>>,
    ) -> Vec<EventRecord> {
        let mut events = Vec::new();
        for s in 0..n {
            if let Some(d) = delivered.as_deref_mut() {
                d.push(Vec::new());
            }
            while let Some(e) = host.pop_due(host.step() + u64::from(s)) {
                if let Some(step) = delivered.as_deref_mut().and_then(|d| d.last_mut()) {
                    step.push(e);
                }
                let (gids, per) = &self.blocks[e.block as usize];
                let gid = gids[e.instance as usize / per];
                let k = e.instance as usize % per;
                events.push((gid, s, e.block, k as u32, e.weight));
            }
        }
        events.sort_by_key(|e| e.0);
        events
    }

    /// The control buffer of a window: first step, steps, each cell's range of events (CSR),
    /// then (step, block, instance) per event.
    fn control(&self, step0: u64, n: u32, events: &[EventRecord]) -> Vec<u32> {
        let mut control: Vec<u32> = vec![step0 as u32, n];
        let mut count = vec![0u32; self.layout.ncells as usize];
        for e in events {
            count[e.0 as usize] += 1;
        }
        let mut acc = 0u32;
        for c in &count {
            control.push(acc);
            acc += c;
        }
        control.push(acc);
        for (_, s, b, k, _) in events {
            control.extend([*s, *b, *k]);
        }
        control
    }

    /// Divergence first (the CPU engine stops at the first bad step, and so does a bad cell's
    /// kernel, short of the window's end), then cells the device stopped early.
    fn check_cells(&self, spk: &[u32], step0: u64, n: u32) -> Result<(), RunError> {
        let stride = (self.spike_cap + codegen::SPIKE_HEADER) as usize;
        let ncells = self.layout.ncells as usize;
        let mut bad: Option<(u32, u32)> = None;
        for gid in 0..ncells {
            let b = spk[gid * stride + 1];
            if b != 0 && bad.is_none_or(|(s, _)| b < s) {
                bad = Some((b, gid as u32));
            }
        }
        if let Some((s, gid)) = bad {
            let step = step0 + u64::from(s);
            let data = self.gpu.read_data(self.prec)?;
            return Err(RunError::Diverged(blowup::report(&self.layout, &data, gid, step, time_of(self.dt, step))));
        }
        for gid in 0..ncells {
            let done = spk[gid * stride + 2];
            if done != n {
                return Err(GpuError::Device(format!(
                    "the device stopped cell {gid}'s kernel after {done} of {n} steps of the window from {} ms \
                     (llvmpipe ends an invocation after 65535 loop iterations)",
                    step0 as f64 * self.dt
                ))
                .into());
            }
        }
        Ok(())
    }

    /// The spikes of the window: (step in the window, gid), in the CPU engine's detection
    /// order (by step, then by gid).
    fn fired(&self, spk: &[u32], step0: u64) -> Result<Vec<(u32, u32)>, GpuError> {
        let stride = (self.spike_cap + codegen::SPIKE_HEADER) as usize;
        let mut fired = Vec::new();
        for gid in 0..self.layout.ncells as usize {
            let count = spk[gid * stride];
            if count > self.spike_cap {
                return Err(GpuError::SpikeOverflow { gid: gid as u32, window_start: step0 as f64 * self.dt });
            }
            for i in 0..count as usize {
                fired.push((spk[gid * stride + codegen::SPIKE_HEADER as usize + i], gid as u32));
            }
        }
        fired.sort_unstable();
        Ok(fired)
    }
}

impl Engine for GpuEngine {
    fn advance(&mut self, host: &mut Host, steps: u64) -> Result<(), RunError> {
        let mut left = steps.min(host.steps_left());
        while left > 0 {
            let n = left.min(u64::from(self.window)) as u32;
            self.window_once(host, n, None)?;
            left -= u64::from(n);
        }
        Ok(())
    }

    fn stride(&self) -> u64 {
        u64::from(self.window)
    }

    fn describe(&self) -> String {
        let strategies: Vec<String> = self
            .step_costs()
            .iter()
            .map(|cost| match cost {
                Some(c) => format!(
                    "a workgroup of {} per cell, {}: {} dependent node updates and {} barriers a step",
                    c.lanes,
                    c.piece.map_or("whole chains".to_string(), |m| format!("chains split every {m} nodes")),
                    c.solve_depth,
                    c.barriers.total()
                ),
                None => "a thread per cell".to_string(),
            })
            .collect();
        format!("GPU: {}, {}", self.adapter(), strategies.join(" / "))
    }

    fn storage_bytes_per_step(&self) -> Option<u64> {
        Some(traffic::bytes_per_step(&self.layout, self.prec))
    }
}

/// Records row 0, the state after initialisation that the layout holds, then drops the
/// layout's copy of that state (the device holds it now).
fn record_row0(host: &mut Host, layout: &mut Layout, p: Prec) {
    let row = layout.probes.iter().map(|probe| match *probe {
        ProbeLoc::Gpu { index, .. } => round(p, layout.data[index as usize]),
        ProbeLoc::Constant(v) => v,
    });
    host.record(0.0, row);
    layout.data = Vec::new();
}

/// A value as the GPU stores it.
fn round(p: Prec, x: f64) -> f64 {
    match p {
        Prec::F64 => x,
        Prec::F32 => f64::from(x as f32),
    }
}
