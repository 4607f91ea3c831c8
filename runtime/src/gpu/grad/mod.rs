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
//! into trainables run on the host with the CPU gradient's own code. A loss over samples runs
//! each sample's plan through the same device (`sample.rs`).

mod device;
mod forward;
mod host;
pub(in crate::gpu) mod layout;
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
use super::{GpuEngine, GpuError, LLVMPIPE_LOOP_BUDGET, Options, round};
use crate::grad::kernels::{Code, kernel_of};
use crate::grad::{GradError, Gradient, Loss, ParamGradients, Problem, RowLoss};
use crate::plan::Plan;
use device::Reverse;
use forward::Forward;
use layout::{BlockGrad, GradLayout, Product, Vjp};
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
/// values and initial state.
pub struct GpuGradient {
    artifact: Artifact,
    engine: GpuEngine,
    reverse: Reverse,
    grad: GradLayout,
    /// Steps of a run.
    steps: u64,
    /// Steps between checkpoints.
    k: u64,
}

impl GpuGradient {
    /// The device's code and buffers for `problem`'s gradients (made from `artifact`), its
    /// memory checked.
    pub fn new(artifact: &Artifact, problem: &Problem, settings: Settings) -> Result<GpuGradient, GradError> {
        let Settings { precision, checkpoint_every, memory_budget, options } = settings;
        let (plan, code, steps) = problem.parts();
        check_supported(problem, plan)?;
        let (engine, _) =
            GpuEngine::with_host(artifact, initialized(plan), precision, options).map_err(GradError::Gpu)?;
        let k = spacing(&engine, steps, checkpoint_every)?;
        let blocks = block_grads(plan, code);
        let data_len = engine.gpu.data.size() / engine.prec.bytes();
        let grad = GradLayout::new(&engine.layout, data_len, &blocks, k as u32, saved_ions(plan));
        check_memory(&engine, &grad, steps, k, memory_budget).map_err(GradError::Gpu)?;
        let params = codegen::Params { prec: engine.prec, dt: engine.dt, spike_cap: engine.spike_cap };
        let (module, _) = reverse_module(&engine.layout, &params, &grad, &blocks).map_err(GradError::Gpu)?;
        let reverse = Reverse::new(&engine, module, &grad, steps.div_ceil(k).max(1)).map_err(GradError::Gpu)?;
        Ok(GpuGradient { artifact: artifact.clone(), engine, reverse, grad, steps, k })
    }

    /// The loss and its gradient at `problem`'s current values (the problem this was made for).
    pub fn gradient(&mut self, problem: &Problem, loss: &Loss) -> Result<Gradient, GradError> {
        refuse_inputs(problem)?;
        let (plan, _, _) = problem.parts();
        let scales = vec![1.0; self.artifact.model.network.connections.len()];
        self.gradient_of(problem, plan, &scales, &mut |rows| crate::grad::evaluate(plan, loss, rows)).map(|(g, _)| g)
    }

    /// The loss of a forward run on the GPU at `problem`'s current values.
    pub fn loss(&mut self, problem: &Problem, loss: &Loss) -> Result<f64, GradError> {
        refuse_inputs(problem)?;
        let (plan, _, _) = problem.parts();
        let forward = self.forward(plan, false)?;
        crate::grad::evaluate(plan, loss, &forward.rows).map(|(value, _)| value)
    }

    /// The gradient of the loss `objective` gives of a run of `plan` (`problem`'s, or one of its
    /// samples'), whose connection rules' events carry their weight times `rule_scales`: the
    /// GPU's counterpart of the CPU's `Problem::gradient_of`.
    fn gradient_of(
        &mut self,
        problem: &Problem,
        plan: &Plan,
        rule_scales: &[f64],
        objective: &mut RowLoss<'_>,
    ) -> Result<(Gradient, ParamGradients), GradError> {
        let (_, code, _) = problem.parts();
        let forward = self.forward(plan, true)?;
        let (value, row_cotangents) = objective(&forward.rows)?;
        let (results, records) = self.undo_segments(&forward, &row_cotangents).map_err(GradError::Gpu)?;
        let connections = self.artifact.model.network.connections.len();
        let (params, weights, cable) = host::gradients(
            plan,
            code,
            &self.engine.layout,
            &self.grad,
            &results,
            &row_cotangents[0],
            &forward.events,
            &records,
            connections,
        );
        let gradient = problem.fold(plan, &params, &weights, rule_scales, &cable);
        Ok((Gradient { loss: value, gradient, checkpoint_every: self.k, kept_tapes: false }, params))
    }

    /// The forward run from `plan`'s initial state (the problem's plan or a sample's, of the
    /// same shape), with `checkpoints` its state saved every K steps.
    fn forward(&mut self, plan: &Plan, checkpoints: bool) -> Result<Forward, GradError> {
        let initial = initialized(plan);
        let prec = self.engine.prec;
        let row0: Vec<f64> = initial.probes.iter().map(|p| round(prec, initial.probe_value(p))).collect();
        let mut host = self.engine.restart(&self.artifact, initial).map_err(GradError::Gpu)?;
        let reverse = &self.reverse;
        let mut save = |engine: &GpuEngine, start: u64| {
            if checkpoints {
                reverse.save_checkpoint(&engine.gpu, start);
            }
        };
        forward::run(&mut self.engine, &mut host, row0, (self.steps, self.k), &mut save)
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
/// WebGPU's default limits, with the state saved every ⌈√N⌉ steps.
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
        let k = (steps.max(1) as f64).sqrt().ceil() as u64;
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
    if plan.blocks.iter().any(|b| !b.pre_node.is_empty()) {
        return refuse("the gradient of graded synapses and gap junctions (`v_pre`)");
    }
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

/// Refuses, before the forward run, a gradient whose checkpoints or per-cell scratch do not
/// fit the device's buffers or together the `budget`, with the figures.
fn check_memory(
    engine: &GpuEngine,
    grad: &GradLayout,
    steps: u64,
    k: u64,
    budget: Option<u64>,
) -> Result<(), GpuError> {
    let gpu = &engine.gpu;
    let limits = gpu.device.limits();
    let state = u64::from(grad.state_len) * engine.prec.bytes();
    let segments = steps.div_ceil(k).max(1);
    let checkpoints = segments * state;
    let scratch = grad.work_len * engine.prec.bytes();
    if let Some(budget) = budget.filter(|b| checkpoints + scratch > *b) {
        return Err(GpuError::Unsupported(format!(
            "the gradient needs {} bytes of device memory beyond the run's ({checkpoints} for {segments} \
             checkpoints of {state} bytes, {scratch} for the reverse run's per-cell scratch), more than its budget \
             of {budget} bytes",
            checkpoints + scratch
        )));
    }
    let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    if checkpoints > binding {
        return Err(GpuError::Unsupported(format!(
            "the checkpoints need {checkpoints} bytes ({segments} states of {state} bytes), more than the {binding} \
             bytes '{}' binds; save the state less often (a larger checkpoint spacing)",
            gpu.adapter
        )));
    }
    if scratch > binding || grad.work_len > u64::from(u32::MAX) {
        return Err(GpuError::Unsupported(format!(
            "the reverse run needs {scratch} bytes of per-cell scratch ({k} states of {state} bytes, the partials \
             and the solve's tape), more than the {binding} bytes '{}' binds; save the state more often",
            gpu.adapter
        )));
    }
    Ok(())
}

/// Steps between checkpoints: `given`, else ⌈√N⌉; on llvmpipe at most what one invocation
/// may loop through in a segment.
fn spacing(engine: &GpuEngine, steps: u64, given: Option<u64>) -> Result<u64, GradError> {
    let n = steps.max(1);
    let k = given.unwrap_or((n as f64).sqrt().ceil() as u64).clamp(1, n);
    if !engine.gpu.cpu_device {
        return Ok(k);
    }
    let fit = (LLVMPIPE_LOOP_BUDGET / reverse_loop_cost(engine)).max(1);
    match given {
        Some(k) if k > fit => Err(GradError::Gpu(GpuError::Unsupported(format!(
            "a segment of {k} steps needs more loop iterations than llvmpipe allows one invocation; \
             save the state at most every {fit} steps"
        )))),
        _ => Ok(k.min(fit)),
    }
}

/// Loop iterations of one step of the reverse kernel, bounded from above: the recomputation
/// and the replay (a forward step each, with the state's copies and the tape), the products,
/// the solve's adjoint and the cleared accumulators.
fn reverse_loop_cost(engine: &GpuEngine) -> u64 {
    let layout = &engine.layout;
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
