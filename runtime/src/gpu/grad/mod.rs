//! Gradients on the GPU: the loss of a [`Problem`] and its exact gradient, with the forward
//! run and the reverse run on the device, one invocation or one workgroup per cell as the
//! engine's strategy gives each cell type (`docs/training.md`, "On the GPU"). The forward run is
//! the engine's windows, cut every K steps where each cell's state is packed into a checkpoint
//! in device memory. The reverse run is one dispatch per segment, from the last: each cell's
//! invocation or workgroup restores its checkpoint, recomputes the segment's K states
//! into per-cell scratch, then undoes the steps from the last, each replayed with the advance
//! kernels fused with their adjoints' partials, the current and event kernels' partials
//! evaluated with their products (`codegen::reverse_module`).
//! Initialisation's adjoint, the sums of the event records' weight gradients and the folding
//! into trainables run on the host with the CPU gradient's own code. A batch of samples runs
//! at once, its plans as replicas of the network in one engine (`batch.rs`, `sample.rs`), each
//! sample's results mapped back to its own plan (`host.rs`).

mod batch;
#[cfg(test)]
mod batch_tests;
mod device;
mod forward;
mod host;
pub(in crate::gpu) mod layout;
mod memory;
mod sample;
#[cfg(test)]
mod sample_tests;
mod segments;
#[cfg(test)]
mod tests;
mod traffic;

use sylva_compiler::artifact::{Artifact, Placement};
use sylva_compiler::ir::Precision;
use sylva_compiler::ir::kernel::{Stage, Target};

use super::codegen;
use super::{GpuEngine, GpuError, LLVMPIPE_LOOP_BUDGET, Options};
use crate::grad::kernels::{Code, kernel_of};
use crate::grad::{GradError, Gradient, Loss, Problem, RowLoss};
use crate::plan::Plan;
use crate::plan::replicas::Replicas;
use device::Reverse;
use layout::{BlockGrad, GradLayout, Product, Vjp};
use memory::{Limits, Memory};
pub use traffic::Footprint;

/// Choices of a gradient on the GPU.
#[derive(Copy, Clone, Debug)]
pub struct Settings {
    pub precision: Precision,
    /// Steps between saved states (default ⌈√N⌉).
    pub checkpoint_every: Option<u64>,
    /// Bytes of device memory the checkpoints and the reverse run's scratch may take together
    /// (default: no limit but the device's per buffer).
    pub memory_budget: Option<u64>,
    /// How cells map onto the GPU, forward and reverse alike (default: the engine's, a
    /// workgroup per cell for big cells).
    pub options: Options,
}

impl Settings {
    /// The defaults in `precision`.
    pub fn new(precision: Precision) -> Settings {
        Settings { precision, checkpoint_every: None, memory_budget: None, options: Options::default() }
    }
}

/// The loss `loss` of `problem` (made from `artifact`) and its gradient, computed on the GPU.
pub fn gradient(
    artifact: &Artifact,
    problem: &Problem,
    loss: &Loss,
    settings: Settings,
) -> Result<Gradient, GradError> {
    GpuGradient::new(artifact, problem, settings)?.gradient(problem, loss)
}

/// Gradients of one problem on the GPU, its device, pipelines and buffers kept from one to the
/// next (a fit: `sylva train --backend gpu`); each gradient uploads the problem's current
/// values and initial state. Made for batches of samples, it runs a batch's samples at once,
/// as replicas of the network in one engine (`batch.rs`).
pub struct GpuGradient {
    artifact: Artifact,
    engine: GpuEngine,
    reverse: Reverse,
    grad: GradLayout,
    /// Steps of a run.
    steps: u64,
    /// Steps between checkpoints.
    k: u64,
    /// Samples run at once (1 for a problem without samples).
    replicas: usize,
}

impl GpuGradient {
    /// The device's code and buffers for `problem`'s gradients (made from `artifact`), its
    /// memory checked.
    pub fn new(artifact: &Artifact, problem: &Problem, settings: Settings) -> Result<GpuGradient, GradError> {
        GpuGradient::for_batches(artifact, problem, settings, 1)
    }

    /// The device's code and buffers for the gradients of `problem`'s samples, `batch` at once
    /// as replicas of the network, or as many as fit the device and `settings.memory_budget`
    /// (a batch then runs in parts, [`GpuGradient::replicas`] samples each); refused with the
    /// figures when not even one sample fits.
    pub fn for_batches(
        artifact: &Artifact,
        problem: &Problem,
        settings: Settings,
        batch: usize,
    ) -> Result<GpuGradient, GradError> {
        let Settings { precision, checkpoint_every, memory_budget, options } = settings;
        let (plan, code, steps) = problem.parts();
        check_supported(problem, plan)?;
        let gpu = GradError::Gpu;
        let opened = super::device::open(super::prec(precision)).map_err(gpu)?;
        let limits = opened.limits();
        let one = initialized(plan);
        let p = super::prec(precision);
        let single = super::layout::layout(artifact, &one, options, super::DeviceFit::of(&limits), p).map_err(gpu)?;
        let k = spacing(opened.cpu_device(), &single, steps, checkpoint_every)?;
        let blocks = block_grads(plan, code);
        let grad_of = |layout: &super::layout::Layout, data_len: u64| {
            GradLayout::new(layout, data_len, &blocks, k as u32, saved_ions(plan))
        };
        let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let fit = Limits { budget: memory_budget, binding, adapter: opened.name(), prec: p };
        let one_memory = Memory::of(&grad_of(&single, single.data.len() as u64), steps, k, p);
        let replicas = one_memory.replicas_that_fit(batch, &fit).map_err(gpu)?;
        let plan = Replicas::of(&one, replicas).plan(&vec![one; replicas]);
        let (engine, _) = GpuEngine::on_device(opened, artifact, plan, precision, options).map_err(gpu)?;
        let grad = grad_of(&engine.layout, engine.gpu.data.size() / engine.prec.bytes());
        let params = codegen::Params { prec: engine.prec, dt: engine.dt, spike_cap: engine.spike_cap };
        let (module, _) = reverse_module(&engine.layout, &params, &grad, &blocks).map_err(gpu)?;
        let reverse = Reverse::new(&engine, module, &grad, steps.div_ceil(k).max(1)).map_err(gpu)?;
        Ok(GpuGradient { artifact: artifact.clone(), engine, reverse, grad, steps, k, replicas })
    }

    /// Samples run at once.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The loss and its gradient at `problem`'s current values (the problem this was made for).
    pub fn gradient(&mut self, problem: &Problem, loss: &Loss) -> Result<Gradient, GradError> {
        refuse_inputs(problem)?;
        let (plan, _, _) = problem.parts();
        let scales = vec![1.0; self.artifact.model.network.connections.len()];
        let objective: Box<RowLoss<'_>> = Box::new(|rows| crate::grad::evaluate(plan, loss, rows));
        let mut results = self.gradients_of(problem, std::slice::from_ref(plan), &[scales], &mut [objective])?;
        Ok(results.remove(0).0)
    }

    /// The loss of a forward run on the GPU at `problem`'s current values.
    pub fn loss(&mut self, problem: &Problem, loss: &Loss) -> Result<f64, GradError> {
        refuse_inputs(problem)?;
        let (plan, _, _) = problem.parts();
        let rows = self.rows_of(std::slice::from_ref(plan))?.remove(0);
        crate::grad::evaluate(plan, loss, &rows).map(|(value, _)| value)
    }
}

/// Refuses a loss over rows of a problem with samples: its samples' losses run on the GPU
/// (`GpuGradient::sample_gradient`), a loss over the rows of its plan alone does not.
fn refuse_inputs(problem: &Problem) -> Result<(), GradError> {
    if problem.has_inputs() {
        return Err(GradError::NotDifferentiable(
            "a loss over the rows of a model with samples on the GPU (its samples' losses run there)".into(),
        ));
    }
    Ok(())
}

/// `plan` initialised.
fn initialized(plan: &Plan) -> Plan {
    let mut initial = plan.clone();
    initial.initialize();
    initial
}

/// The forward layout, the reverse code and its layout of a gradient, for a device with
/// WebGPU's default limits, with the state saved every ⌈√N⌉ steps (coupled cells: every step).
struct Offline {
    prepared: super::Prepared,
    blocks: Vec<BlockGrad>,
    grad: GradLayout,
    params: codegen::Params,
    steps: u64,
    k: u64,
}

impl Offline {
    fn new(
        artifact: &Artifact,
        problem: &Problem,
        precision: Precision,
        options: Options,
    ) -> Result<Offline, GradError> {
        let (plan, code, steps) = problem.parts();
        check_supported(problem, plan)?;
        let fit = super::DeviceFit::of(&wgpu::Limits::default());
        let prepared = super::prepare(artifact, &initialized(plan), precision, options, fit).map_err(GradError::Gpu)?;
        let blocks = block_grads(plan, code);
        let k = spacing(false, &prepared.layout, steps, None)?;
        let data_len = prepared.layout.data.len() as u64;
        let grad = GradLayout::new(&prepared.layout, data_len, &blocks, k as u32, saved_ions(plan));
        let params = codegen::Params { prec: super::prec(precision), dt: plan.dt, spike_cap: prepared.spike_cap };
        Ok(Offline { prepared, blocks, grad, params, steps, k })
    }
}

/// The WGSL of the reverse kernel of `problem`'s gradient (made from `artifact`) in
/// `precision` with `options`, for a device with WebGPU's default limits, with the state saved
/// every ⌈√N⌉ steps (`sylva compile --emit wgsl` shows the forward's).
pub fn reverse_wgsl(
    artifact: &Artifact,
    problem: &Problem,
    precision: Precision,
    options: Options,
) -> Result<String, GradError> {
    let o = Offline::new(artifact, problem, precision, options)?;
    let (module, info) = reverse_module(&o.prepared.layout, &o.params, &o.grad, &o.blocks).map_err(GradError::Gpu)?;
    naga::back::wgsl::write_string(&module, &info, naga::back::wgsl::WriterFlags::empty())
        .map_err(|e| GradError::Gpu(GpuError::Shader(e.to_string())))
}

/// The device memory and the storage traffic per step of `problem`'s gradient in `precision`
/// with `options`, with the state saved every ⌈√N⌉ steps (`traffic::Footprint`).
pub fn footprint(
    artifact: &Artifact,
    problem: &Problem,
    precision: Precision,
    options: Options,
) -> Result<Footprint, GradError> {
    let o = Offline::new(artifact, problem, precision, options)?;
    Ok(Footprint::new(&o.prepared.layout, &o.grad, &o.blocks, o.steps, o.k, o.params.prec))
}

/// The reverse kernel's module, validated.
fn reverse_module(
    layout: &super::layout::Layout,
    params: &codegen::Params,
    grad: &GradLayout,
    blocks: &[BlockGrad],
) -> Result<(naga::Module, naga::valid::ModuleInfo), GpuError> {
    let module = codegen::reverse_module(layout, params, grad, blocks)?;
    let info = super::validate(&module)?;
    Ok((module, info))
}

/// Refuses what the GPU's reverse run does not cover yet, with what to use instead.
fn check_supported(problem: &Problem, plan: &Plan) -> Result<(), GradError> {
    let refuse = |what: &str| {
        Err(GradError::NotDifferentiable(format!("{what} on the GPU (the CPU computes it: `--backend cpu`)")))
    };
    if problem.trainables().iter().any(|t| !t.cable.is_empty()) {
        return refuse("the gradient of `cm` or `Ra`");
    }
    let stimulus = |b: usize| matches!(plan.blocks[b].placement, Placement::Stimulus(_));
    if problem.trainables().iter().flat_map(|t| &t.uses).any(|u| stimulus(u.block)) {
        return refuse("the gradient of a stimulus's parameter");
    }
    if (0..plan.blocks.len()).any(|b| stimulus(b) && !plan.blocks[b].states.is_empty()) {
        return refuse("a stimulus with states");
    }
    let writes_concentration = |b: &crate::plan::Block| {
        let event = b.kernels.event.iter().flat_map(|k| &k.writes);
        event.into_iter().any(|w| matches!(w.target, Target::IonConcentration(..)))
    };
    if plan.blocks.iter().any(writes_concentration) {
        return refuse("an event kernel that writes a concentration");
    }
    Ok(())
}

/// Steps between checkpoints: `given`, else ⌈√N⌉; on llvmpipe at most what one invocation
/// may loop through in a segment.
fn spacing(cpu_device: bool, layout: &super::layout::Layout, steps: u64, given: Option<u64>) -> Result<u64, GradError> {
    if layout.coupled {
        return coupled_spacing(given);
    }
    let n = steps.max(1);
    let k = given.unwrap_or((n as f64).sqrt().ceil() as u64).clamp(1, n);
    if !cpu_device {
        return Ok(k);
    }
    let fit = (LLVMPIPE_LOOP_BUDGET / reverse_loop_cost(layout)).max(1);
    match given {
        Some(k) if k > fit => Err(GradError::Gpu(GpuError::Unsupported(format!(
            "a segment of {k} steps needs more loop iterations than llvmpipe allows one invocation; \
             save the state at most every {fit} steps"
        )))),
        _ => Ok(k.min(fit)),
    }
}

/// Coupled cells save the state after every step: a cell's replay reads other cells'
/// voltages, which one dispatch cannot recompute (`codegen::reverse`, `coupled.rs`).
fn coupled_spacing(given: Option<u64>) -> Result<u64, GradError> {
    match given {
        Some(k) if k > 1 => Err(GradError::Gpu(GpuError::Unsupported(format!(
            "saving the state every {k} steps with graded synapses or gap junctions (`v_pre`): on the GPU \
             their gradient saves it after every step"
        )))),
        _ => Ok(1),
    }
}

/// Loop iterations of one step of the reverse kernel, bounded from above: the recomputation
/// and the replay (a forward step each, with the state's copies and the tape), the products,
/// the solve's adjoint and the cleared accumulators.
fn reverse_loop_cost(layout: &super::layout::Layout) -> u64 {
    let probes = u64::from(layout.gpu_probes) + 1;
    let cost = |ty: &super::layout::TypeLayout| {
        let nodes = u64::from(ty.nnodes) + 1;
        let instances: u64 = ty.blocks.iter().map(|b| u64::from(b.per_cell) + 1).sum();
        3 * codegen::loop_cost(layout, ty) + 12 * nodes + 6 * instances + probes
    };
    layout.types.iter().map(cost).max().unwrap_or(1)
}

/// The ion arrays of a step's state, (species, slot in `TypeLayout::ions`).
fn saved_ions(plan: &Plan) -> Vec<(usize, usize)> {
    let saved = crate::grad::forward::saved_ion_arrays(plan);
    saved.into_iter().map(|(species, var)| (species, super::layout::ion_slot(var))).collect()
}

/// Each plan block's reverse code: the replay's fused kernels and every kernel's product.
fn block_grads(plan: &Plan, code: &Code) -> Vec<BlockGrad> {
    plan.blocks
        .iter()
        .zip(&code.adjoints)
        .map(|(block, adjoints)| {
            let kernels = &block.kernels;
            let vjp = |stage: Stage| {
                let (kernel, adjoint) = (kernel_of(kernels, stage)?, &adjoints.of(stage)?.adjoint);
                Some(Vjp {
                    writes: kernel.writes.iter().map(|w| w.target).collect(),
                    partials: adjoint.partials.iter().map(|p| (p.write, p.wrt)).collect(),
                })
            };
            let product = |stage: Stage| {
                let partials = adjoints.of(stage)?.adjoint.kernel(stage);
                Some(Product { partials, vjp: vjp(stage)? })
            };
            let advance = &adjoints.of(Stage::Advance).expect("an adjoint per kernel").adjoint;
            BlockGrad {
                advance: advance.fused(&kernels.advance, 0),
                advance_vjp: vjp(Stage::Advance).expect("an advance kernel"),
                current: product(Stage::Current).expect("a current kernel"),
                event: product(Stage::Event),
                width: advance.partials.len() as u32,
            }
        })
        .collect()
}

impl crate::train::Objective for GpuGradient {
    fn gradient(&mut self, problem: &Problem, loss: &Loss) -> Result<Gradient, GradError> {
        GpuGradient::gradient(self, problem, loss)
    }

    fn loss(&mut self, problem: &Problem, loss: &Loss) -> Result<f64, GradError> {
        GpuGradient::loss(self, problem, loss)
    }
}
