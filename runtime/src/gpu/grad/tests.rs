//! The GPU's gradient against the CPU's, on lavapipe (`VK_DRIVER_FILES=/usr/share/vulkan/icd.d/
//! lvp_icd.x86_64.json XDG_RUNTIME_DIR=/tmp`): f64 within 1e-9 relative per parameter, f32
//! within 1e-3 on well-conditioned models, with each strategy (one invocation per cell, one
//! workgroup per cell). Without an adapter the tests fail when `CI` is set and return early
//! otherwise (`gpu::tests::no_gpu`).

use sylva_compiler::artifact::Artifact;
use sylva_compiler::ir::Precision;

use super::{Settings, gradient};
use crate::gpu::tests::no_gpu;
use crate::gpu::{GpuError, Options, Solve, Strategy};
use crate::grad::tests::{example, targets, trainable};
use crate::grad::{GradError, Gradient, Loss, Problem, Trainable};

/// A model's problem over `params` ((mechanism, parameter)) and a loss toward its traces with
/// every value 5 % larger.
fn problem(a: &Artifact, params: &[(&str, &str)]) -> (Problem, Loss) {
    let trainables: Vec<Trainable> = params.iter().map(|(m, p)| trainable(a, m, p)).collect();
    with_trainables(a, &trainables)
}

fn with_trainables(a: &Artifact, trainables: &[Trainable]) -> (Problem, Loss) {
    let mut problem = Problem::new(a, trainables).expect("differentiable");
    let loss = targets(&mut problem, 1.05);
    (problem, loss)
}

/// The settings of a gradient in `precision` with `strategy` and checkpoints every `k` steps.
fn settings(precision: Precision, strategy: Strategy, k: Option<u64>) -> Settings {
    let options = Options { strategy, ..Options::default() };
    Settings { checkpoint_every: k, options, ..Settings::new(precision) }
}

/// The GPU's gradient, or `None` without an adapter outside CI.
fn on_gpu(a: &Artifact, problem: &Problem, loss: &Loss, settings: Settings) -> Option<Gradient> {
    match gradient(a, problem, loss, settings) {
        Ok(g) => Some(g),
        Err(GradError::Gpu(e)) if no_gpu(&e) => None,
        Err(e) => panic!("GPU gradient: {e}"),
    }
}

/// The largest relative difference between two gradients, parameter by parameter.
fn worst(gpu: &[f64], cpu: &[f64]) -> f64 {
    assert_eq!(gpu.len(), cpu.len());
    gpu.iter()
        .zip(cpu)
        .map(|(g, c)| {
            let error = (g - c).abs() / g.abs().max(c.abs()).max(1e-300);
            eprintln!("GPU {g:.15e}, CPU {c:.15e}, relative difference {error:.1e}");
            error
        })
        .fold(0.0, f64::max)
}

/// The GPU's gradient in `precision` with each strategy is the CPU's within `bound` relative,
/// and so is the loss.
fn agree(a: &Artifact, problem: &Problem, loss: &Loss, precision: Precision, bound: f64) {
    let cpu = problem.gradient(loss, None).expect("CPU gradient");
    for strategy in [Strategy::Thread, Strategy::Workgroup] {
        eprintln!("strategy {strategy:?}");
        let Some(gpu) = on_gpu(a, problem, loss, settings(precision, strategy, None)) else { return };
        agree_with_cpu(&gpu, &cpu, bound);
    }
}

/// The loss and every parameter's gradient within `bound` relative of the CPU's.
fn agree_with_cpu(gpu: &Gradient, cpu: &Gradient, bound: f64) {
    assert_eq!(gpu.checkpoint_every, cpu.checkpoint_every.min(gpu.checkpoint_every));
    let loss_error = (gpu.loss - cpu.loss).abs() / cpu.loss.abs().max(1e-300);
    assert!(loss_error <= bound, "loss: GPU {} CPU {} ({loss_error:.1e})", gpu.loss, cpu.loss);
    let error = worst(&gpu.gradient, &cpu.gradient);
    assert!(error <= bound, "GPU gradient {error:.1e} from the CPU's (bound {bound:.0e})");
}

fn check(name: &str, duration: f64, params: &[(&str, &str)], precision: Precision, bound: f64) {
    let a = example(name, duration);
    let (problem, loss) = problem(&a, params);
    agree(&a, &problem, &loss, precision, bound);
}

const HH: [(&str, &str); 4] = [("hh", "gnabar"), ("hh", "gkbar"), ("hh", "gl"), ("hh", "el")];
const BALL_AND_STICK: [(&str, &str); 3] = [("hh", "gnabar"), ("pas", "g"), ("pas", "e")];

#[test]
fn gpu_gradient_f64_hh_soma() {
    check("hh_soma", 10.0, &HH, Precision::F64, 1e-9);
}

#[test]
fn gpu_gradient_f64_ball_and_stick() {
    check("ball_and_stick", 8.0, &BALL_AND_STICK, Precision::F64, 1e-9);
}

#[test]
fn gpu_gradient_f64_syn_pair_weight_and_synapse() {
    let a = example("syn_pair", 14.0);
    let weight = Trainable { weights: vec![0], ..Trainable::default() };
    let trainables =
        [weight, trainable(&a, "exp2syn", "tau1"), trainable(&a, "exp2syn", "tau2"), trainable(&a, "pas", "g")];
    let (problem, loss) = with_trainables(&a, &trainables);
    agree(&a, &problem, &loss, Precision::F64, 1e-9);
}

#[test]
fn gpu_gradient_f64_kinetic_scheme() {
    check("kinetic_k", 8.0, &[("kinetic_k", "gkbar"), ("hh", "gnabar")], Precision::F64, 1e-9);
}

#[test]
fn gpu_gradient_f64_calcium_and_nernst() {
    let params = [("ca_hva", "gCa_HVAbar"), ("sk", "gSK_E2bar"), ("cadyn", "gamma"), ("cadyn", "decay")];
    check("ca_sk", 8.0, &params, Precision::F64, 1e-9);
}

#[test]
fn gpu_gradient_f32_hh_soma() {
    check("hh_soma", 10.0, &HH, Precision::F32, 1e-3);
}

#[test]
fn gpu_gradient_f32_ball_and_stick() {
    check("ball_and_stick", 8.0, &BALL_AND_STICK, Precision::F32, 1e-3);
}

#[test]
fn gpu_checkpoint_spacing_does_not_change_the_gradient() {
    let a = example("hh_soma", 6.0);
    let (problem, loss) = problem(&a, &[("hh", "gnabar"), ("hh", "gl")]);
    same_bits_for_any_spacing(&a, &problem, &loss, Strategy::Thread, &[7, 16, 240]);
}

/// With a workgroup per cell (ball_and_stick: lanes over its nodes and instances, the solve in
/// rounds) the checkpoints' spacing does not change the bits either.
#[test]
fn gpu_workgroup_checkpoint_spacing_does_not_change_the_gradient() {
    let a = example("ball_and_stick", 4.0);
    let (problem, loss) = problem(&a, &[("hh", "gnabar"), ("pas", "g")]);
    same_bits_for_any_spacing(&a, &problem, &loss, Strategy::Workgroup, &[7, 40]);
}

fn same_bits_for_any_spacing(a: &Artifact, problem: &Problem, loss: &Loss, strategy: Strategy, spacings: &[u64]) {
    let on = |k| on_gpu(a, problem, loss, settings(Precision::F64, strategy, Some(k)));
    let Some(reference) = on(1) else { return };
    for &k in spacings {
        let g = on(k).expect("an adapter");
        assert_eq!(g.checkpoint_every, k);
        assert_eq!(g.loss, reference.loss);
        assert_eq!(g.gradient, reference.gradient, "K = {k}: the bits of K = 1");
    }
}

/// A graded synapse: its cotangent of `v_pre` crosses from the postsynaptic cell to the
/// presynaptic one (slots gathered between dispatches), in the current and advance kernels.
#[test]
fn gpu_gradient_of_a_graded_synapse_is_the_cpus() {
    let params = [("graded_syn", "g"), ("graded_syn", "alpha"), ("graded_syn", "v_th"), ("hh", "gnabar")];
    for (precision, bound) in [(Precision::F64, 1e-9), (Precision::F32, 1e-3)] {
        let a = example("graded_pair", 10.0);
        let (problem, loss) = problem(&a, &params);
        agree(&a, &problem, &loss, precision, bound);
    }
}

/// A gap junction: each cell's current reads the other's voltage.
#[test]
fn gpu_gradient_of_a_gap_junction_is_the_cpus() {
    for (precision, bound) in [(Precision::F64, 1e-9), (Precision::F32, 1e-3)] {
        let a = example("gap_pair", 10.0);
        let (problem, loss) = problem(&a, &[("gap_junction", "g"), ("hh", "gkbar")]);
        agree(&a, &problem, &loss, precision, bound);
    }
}

/// A ring of 70 coupled cells (two invocation workgroups): each cell's voltage is read by three
/// instances of its neighbours (two gap junctions and a graded synapse), so its gather sums
/// three slots, across workgroups at the ring's seam.
#[test]
fn gpu_gradient_of_a_coupled_ring_is_the_cpus() {
    let overrides = ["cells=70".to_string()];
    let mut a = crate::test_models::example_edited("examples/bench/coupled_chain.syl", &overrides, |t| t);
    a.model.simulation.duration = 5.0;
    let params = [("gap_junction", "g"), ("graded_syn", "g"), ("hh", "gkbar")];
    let (problem, loss) = problem(&a, &params);
    agree(&a, &problem, &loss, Precision::F64, 1e-9);
}

/// Coupled cells save the state after every step: a larger spacing is refused, with why.
#[test]
fn gpu_gradient_of_coupled_cells_refuses_a_spacing_above_one() {
    let a = example("gap_pair", 10.0);
    let (problem, loss) = problem(&a, &[("gap_junction", "g")]);
    match gradient(&a, &problem, &loss, settings(Precision::F64, Strategy::Thread, Some(4))) {
        Err(GradError::Gpu(GpuError::Unsupported(m))) => assert!(m.contains("every step"), "{m}"),
        Err(GradError::Gpu(e)) if no_gpu(&e) => {}
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a spacing of 4 steps for coupled cells"),
    }
}

#[test]
fn gpu_gradient_refuses_what_exceeds_its_memory_budget() {
    let a = example("hh_soma", 10.0);
    let (problem, loss) = problem(&a, &[("hh", "gnabar")]);
    let settings = Settings { memory_budget: Some(256), ..Settings::new(Precision::F64) };
    match gradient(&a, &problem, &loss, settings) {
        Err(GradError::Gpu(GpuError::Unsupported(m))) => {
            assert!(m.contains("bytes of device memory") && m.contains("budget of 256 bytes"), "{m}")
        }
        Err(GradError::Gpu(e)) if no_gpu(&e) => {}
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a gradient beyond its budget"),
    }
}

/// A network: the ringtest's ten cells of 97 nodes (one type, interleaved), events from the
/// cells and from an artificial source, the weights of both connection rules, hh's densities,
/// and probes on three cells (the kick reaches the loss through cell 0 only: spike times are
/// held fixed).
#[test]
fn gpu_gradient_f64_ring_network() {
    let mut a = crate::test_models::example_edited("examples/bench/ringtest.syl", &[], |text| {
        text.replace(
            "    record spikes",
            "    record spikes\n    probe \"v0\" = v at cells[0].soma(0.5)\n    probe \"v3\" = v at cells[3].soma(0.5)\n    probe \"d7\" = v at cells[7].dend2(0.5)",
        )
    });
    a.model.simulation.duration = 12.0;
    let ring = Trainable { weights: vec![0], ..Trainable::default() };
    let kick = Trainable { weights: vec![1], ..Trainable::default() };
    // hh's gnabar differs between the soma (instance 0 of each cell) and the dendrites.
    let mut soma_gnabar = trainable(&a, "hh", "gnabar");
    soma_gnabar.uses[0].positions = Some(vec![0]);
    let trainables = [ring, kick, soma_gnabar, trainable(&a, "hh", "gkbar"), trainable(&a, "exp2syn", "tau2")];
    let (problem, loss) = with_trainables(&a, &trainables);
    agree(&a, &problem, &loss, Precision::F64, 1e-9);
}

/// The traffic model and memory of the ringtest's gradient (10 cells of 105 nodes, every
/// hh density of the soma and both weights trained; no device needed), with each strategy: the
/// figures of docs/training.md, "On the GPU".
/// Coupled cells save the state after every step: N + 1 checkpoints, and a reverse step that
/// replays once and moves the cotangent slots (two per pair of cells: one junction each).
#[test]
fn footprint_of_a_gap_junction_gradient() {
    let a = example("gap_pair", 10.0);
    let (problem, _) = problem(&a, &[("gap_junction", "g")]);
    let f = super::footprint(&a, &problem, Precision::F64, Options::default()).expect("a footprint");
    assert_eq!(f.checkpoint_every, 1);
    assert_eq!(f.checkpoint_bytes, 401 * f.state_bytes, "400 steps and the last state");
    assert!(f.backward_bytes_per_step > f.forward_bytes_per_step, "{f:?}");
}

#[test]
fn footprint_of_the_ringtest_gradient() {
    let mut a = crate::test_models::example_edited("examples/bench/ringtest.syl", &[], |text| {
        text.replace("    record spikes", "    record spikes\n    probe \"v0\" = v at cells[0].soma(0.5)")
    });
    a.model.simulation.duration = 100.0;
    let mut trainables = vec![Trainable { weights: vec![0], ..Trainable::default() }];
    for param in ["gnabar", "gkbar", "gl", "el"] {
        let mut soma = trainable(&a, "hh", param);
        soma.uses[0].positions = Some(vec![0]);
        trainables.push(soma);
    }
    let problem = Problem::new(&a, &trainables).expect("differentiable");
    for precision in [Precision::F64, Precision::F32] {
        let of = |strategy| {
            let f = super::footprint(&a, &problem, precision, Options { strategy, ..Options::default() });
            let f = f.expect("a footprint");
            show(precision, strategy, &f);
            f
        };
        let (thread, workgroup) = (of(Strategy::Thread), of(Strategy::Workgroup));
        let f = thread;
        assert_eq!(f.compartments, 1050, "ten cells of 105 nodes");
        assert_eq!(f.checkpoint_every, 64, "⌈√4000⌉");
        assert_eq!(f.checkpoint_bytes, 4000u64.div_ceil(64) * f.state_bytes);
        // v at 1,050 nodes, hh's three gates at 970 compartments, exp2syn's two states per cell.
        let real = if precision == Precision::F64 { 8 } else { 4 };
        assert_eq!(f.state_bytes, (1050 + 3 * 970 + 2 * 10) * real);
        assert!(f.scratch_bytes > 64 * f.state_bytes, "K states and more");
        assert!(f.state_bytes * 3 < f.data_bytes, "packed states, not copies of data");
        assert!(f.backward_bytes_per_step > 2 * f.forward_bytes_per_step, "two forward steps and the adjoint");
        // A workgroup per cell saves the same state; its solves (forward and transposed) keep
        // their arrays in workgroup memory, so each step moves less.
        assert_eq!((workgroup.state_bytes, workgroup.checkpoint_bytes), (f.state_bytes, f.checkpoint_bytes));
        assert!(workgroup.forward_bytes_per_step < f.forward_bytes_per_step);
        assert!(workgroup.backward_bytes_per_step < f.backward_bytes_per_step);
    }
}

fn show(precision: Precision, strategy: Strategy, f: &super::Footprint) {
    let per = |bytes: u64| bytes as f64 / f.compartments as f64;
    eprintln!(
        "{precision:?} {strategy:?}: {} compartments, data {} B, state {} B, K = {}, checkpoints {} B, \
         scratch {} B; per compartment-step forward {:.1} B, backward {:.1} B ({:.2}x)",
        f.compartments,
        f.data_bytes,
        f.state_bytes,
        f.checkpoint_every,
        f.checkpoint_bytes,
        f.scratch_bytes,
        per(f.forward_bytes_per_step),
        per(f.backward_bytes_per_step),
        f.backward_bytes_per_step as f64 / f.forward_bytes_per_step as f64
    );
}

/// The CA1 pyramidal (a reconstructed tree, Ca, SK, Ih and hh by region): parameters per
/// group of compartments sharing a value, as `grad`'s test trains them, on a cell of hundreds
/// of nodes in one invocation, then in one workgroup.
#[test]
fn gpu_gradient_f64_pyramidal_per_region() {
    let mut a = crate::test_models::example_edited("examples/neuron/pyramidal.syl", &[], |text| {
        text.replace("del = 10 ms", "del = 1 ms")
    });
    a.model.simulation.duration = 3.0;
    let plan = crate::plan::Plan::uninitialized(&a, &[]);
    let mut trainables = Vec::new();
    for (mechanism, param) in [("pas", "g"), ("hh", "gnabar"), ("cadyn", "gamma"), ("sk", "gSK_E2bar"), ("ih", "ehcn")]
    {
        let Trainable { uses, .. } = trainable(&a, mechanism, param);
        let (block, param) = (uses[0].block, uses[0].param);
        let b = &plan.blocks[block];
        // The first group of positions sharing a value.
        let first = b.param_value(param, 0);
        let positions = (0..b.per_cell as u32).filter(|k| b.param_value(param, *k as usize) == first).collect();
        trainables
            .push(Trainable { uses: vec![crate::grad::Use::at(block, param, positions)], ..Trainable::default() });
    }
    let (problem, loss) = with_trainables(&a, &trainables);
    agree(&a, &problem, &loss, Precision::F64, 1e-9);
}

/// One `GpuGradient` for several values (a fit's iterations): each gradient is the one a
/// fresh device computes, bit for bit, and the CPU's within 1e-9; its forward-only loss is the
/// gradient's. syn_pair: the events (hence the records' buffers) change with the weight.
#[test]
fn gpu_gradient_reused_across_values() {
    let a = example("syn_pair", 14.0);
    let weight = Trainable { weights: vec![0], ..Trainable::default() };
    let (mut problem, loss) = with_trainables(&a, &[weight, trainable(&a, "exp2syn", "tau2")]);
    let settings = Settings::new(Precision::F64);
    let mut reused = match super::GpuGradient::new(&a, &problem, settings) {
        Ok(g) => g,
        Err(GradError::Gpu(e)) if no_gpu(&e) => return,
        Err(e) => panic!("GPU gradient: {e}"),
    };
    let start = problem.values();
    for factor in [0.5, 2.0] {
        problem.set_values(&start.iter().map(|x| x * factor).collect::<Vec<_>>());
        let g = reused.gradient(&problem, &loss).expect("a gradient");
        let fresh = gradient(&a, &problem, &loss, settings).expect("a gradient");
        assert_eq!((g.loss, &g.gradient), (fresh.loss, &fresh.gradient), "factor {factor}");
        assert_eq!(reused.loss(&problem, &loss).expect("a loss"), g.loss);
        let cpu = problem.gradient(&loss, None).expect("CPU gradient");
        assert!(worst(&g.gradient, &cpu.gradient) <= 1e-9, "factor {factor}");
    }
}

/// Two cell types (a one-compartment driver and syn_pair's ball-and-stick cells, each type its
/// own entry point and arrays), the driver's spikes crossing to the other type.
#[test]
fn gpu_gradient_f64_two_cell_types() {
    let mut a = crate::test_models::example_edited("examples/neuron/syn_pair.syl", &[], |text| {
        let driver = "cell driver {\n    morphology {\n        section soma { length = 20 um, diam = 20 um, nseg = 1 }\n    }\n    \
                      v_init = -65 mV\n    insert hh in soma\n    detector at soma(0.5) threshold -20 mV\n}\n\nnetwork main {";
        text.replace("network main {", driver)
            .replace(
                "population cells = ball_and_stick[2]",
                "population drivers = driver[1]\n    population cells = ball_and_stick[2]",
            )
            .replace("iclamp at cells[0].soma(0.5)", "iclamp at drivers[0].soma(0.5)")
            .replace("connect cells[0] -> cells[1].syn", "connect drivers[0] -> cells[1].syn")
            .replace("v at cells[0].soma(0.5)", "v at drivers[0].soma(0.5)")
            .replace("{ weight = weight,", "{ weight = 0.05 uS,")
    });
    a.model.simulation.duration = 14.0;
    let weight = Trainable { weights: vec![0], ..Trainable::default() };
    let trainables =
        [weight, trainable(&a, "exp2syn", "tau2"), trainable(&a, "pas", "g"), trainable(&a, "hh", "gkbar")];
    let (problem, loss) = with_trainables(&a, &trainables);
    agree(&a, &problem, &loss, Precision::F64, 1e-9);
}

/// With every chain walked by one lane (`Solve::Chains`, the serial solve's order) the
/// workgroup strategy's transposed solve, like its forward solve, has the serial bits: its
/// gradient is the thread strategy's, bit for bit.
#[test]
fn gpu_workgroup_gradient_with_whole_chains_has_the_thread_bits() {
    let a = example("ball_and_stick", 4.0);
    let (problem, loss) = problem(&a, &BALL_AND_STICK);
    let Some(thread) = on_gpu(&a, &problem, &loss, settings(Precision::F64, Strategy::Thread, None)) else { return };
    let chains = Options { strategy: Strategy::Workgroup, solve: Solve::Chains, ..Options::default() };
    let workgroup = Settings { options: chains, ..Settings::new(Precision::F64) };
    let g = on_gpu(&a, &problem, &loss, workgroup).expect("an adapter");
    assert_eq!((g.loss, &g.gradient), (thread.loss, &thread.gradient));
}

/// A cell too big for its solve's diagonal and rhs to fit workgroup memory (ball_and_stick's
/// dendrite in 4,201 segments, 0.5 ms): with a workgroup per cell they stay in `data`, with
/// the fills of split chains, and the gradient is still the CPU's within 1e-9.
#[test]
fn gpu_workgroup_gradient_with_the_solve_in_storage() {
    let mut a = crate::test_models::example_edited("examples/neuron/ball_and_stick.syl", &[], |text| {
        text.replace("nseg = 21", "nseg = 4201")
    });
    a.model.simulation.duration = 0.5;
    let (problem, loss) = problem(&a, &BALL_AND_STICK);
    let settings = settings(Precision::F64, Strategy::Workgroup, None);
    let on_device = match super::GpuGradient::new(&a, &problem, settings) {
        Ok(g) => g,
        Err(GradError::Gpu(e)) if no_gpu(&e) => return,
        Err(e) => panic!("GPU gradient: {e}"),
    };
    let workgroup = on_device.engine.layout.types[0].workgroup.as_ref().expect("a workgroup per cell");
    assert!(!workgroup.local_solve, "the diagonal and rhs in `data`");
    assert!(workgroup.fill.is_some_and(|f| !f.local), "split chains, their fills in `data`");
    let cpu = problem.gradient(&loss, None).expect("CPU gradient");
    let gpu = gradient(&a, &problem, &loss, settings).expect("a gradient");
    agree_with_cpu(&gpu, &cpu, 1e-9);
}
