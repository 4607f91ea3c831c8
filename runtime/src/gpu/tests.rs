//! The GPU engine against the CPU engine, and the software math against Rust's std. Run with
//! lavapipe: `VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json XDG_RUNTIME_DIR=/tmp`.
//! Without an adapter the tests fail when `CI` is set and return early otherwise.

use std::io::Write;
use std::time::Instant;

use sylva_compiler::artifact::Artifact;
use sylva_compiler::compile;
use sylva_compiler::ir::Precision;
use sylva_compiler::source::SourceDb;

use super::builder::{Fb, Prec, Types, storage};
use super::{GpuError, GpuSimulation, Options as GpuOptions, Solve, Strategy, math, wgsl};
use crate::cpu::{Options, Simulation};
use crate::test_models::{RepoLoader, example, example_edited, repo};

// The NEURON references and per-unit bounds of the fidelity tests (`tests/reference.rs`); not
// every bound there is one the GPU tests use.
#[path = "../../../tests/reference.rs"]
#[allow(dead_code)]
mod reference;
use reference::{
    AGAINST_NEURON, GPU_F64_AGAINST_CPU, Tolerances, Trace, check_runs, check_spikes, check_trace, read_spikes,
};

fn model(path: &str, overrides: &[String], duration: Option<f64>) -> Artifact {
    let mut m = example(path, overrides);
    if let Some(d) = duration {
        m.model.simulation.duration = d;
    }
    m
}

/// `true` when there is no adapter and `CI` is unset: the test is skipped, and says so on the
/// terminal (written past the test harness's capture, so a passing run shows it too).
pub(super) fn no_gpu(e: &GpuError) -> bool {
    if matches!(e, GpuError::NoAdapter) {
        assert!(std::env::var_os("CI").is_none(), "no GPU adapter on CI: {e}");
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("a GPU test");
        let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {e}");
        return true;
    }
    false
}

/// One run's outputs, from either engine.
type Run = crate::host::Recording;

fn run_cpu(m: &Artifact) -> Run {
    let mut cpu = Simulation::new(m, Options::default()).expect("cpu");
    cpu.run(|_, _| {}).expect("cpu runs");
    cpu.into_recording()
}

/// The GPU run, or `None` when there is no adapter outside CI.
fn run_gpu(case: &str, m: &Artifact, precision: Precision, strategy: Strategy) -> Option<Run> {
    let t0 = Instant::now();
    let mut gpu = match GpuSimulation::with_options(m, precision, GpuOptions { strategy, ..GpuOptions::default() }) {
        Ok(g) => g,
        Err(e) if no_gpu(&e) => return None,
        Err(e) => panic!("{case}: {e}"),
    };
    let setup = t0.elapsed();
    let t0 = Instant::now();
    gpu.run(|_, _| {}).unwrap_or_else(|e| panic!("{case}: {e}"));
    eprintln!(
        "{case} {precision:?} {strategy:?}: {} spikes, window {} steps, setup {:.3} s, run {:.3} s on {}",
        gpu.spikes().len(),
        gpu.engine().window(),
        setup.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        gpu.engine().adapter()
    );
    Some(gpu.into_recording())
}

/// f32 against the CPU in f64: each column within 2e-3 of its range (5e-3 mV in the 140 mV
/// swing of a spiking cell; measured ≤ 4e-4 of the range), allowing each sample to be matched
/// two steps away, because f32 spike times may move by a step or two.
const GPU_F32_AGAINST_CPU: Tolerances = Tolerances { voltage_mv: f64::NAN, of_range: 2e-3, shift_steps: 2 };

/// Largest spike-time difference of f32 runs (ms).
const F32_SPIKE_TIME_MS: f64 = 0.05;

/// NEURON's trace and spikes of a reference case.
struct Neuron {
    trace: Trace,
    spikes: Vec<(u32, f64)>,
}

/// Checks a reference case (`examples/neuron/{case}.syl`) against the CPU engine and, in f64,
/// against NEURON's files `trace` and `spikes` as the CPU engine is, so that nothing the GPU
/// engine takes from the CPU build (probe scales) escapes a check.
fn check(case: &str, overrides: &[String], (trace, spikes): (&str, &str)) {
    let data = repo().join(format!("tests/data/neuron/{case}"));
    let neuron = Neuron { trace: Trace::read(&data.join(trace)), spikes: read_spikes(&data.join(spikes)) };
    check_model(case, &model(&format!("examples/neuron/{case}.syl"), overrides, None), Some(&neuron));
}

const NEURON_FILES: (&str, &str) = ("trace.csv", "spikes.csv");

/// Both strategies in f64 and f32 against the CPU engine in f64: every column, the time grid and
/// the spikes.
fn check_model(case: &str, m: &Artifact, neuron: Option<&Neuron>) {
    let cpu = run_cpu(m);
    let probes = &m.model.network.probes;
    for strategy in [Strategy::Thread, Strategy::Workgroup] {
        let Some(gpu) = run_gpu(case, m, Precision::F64, strategy) else { return };
        let what = format!("{case} f64 {strategy:?}");
        assert_eq!(gpu.times, cpu.times, "{what}: time grid");
        check_runs(&what, probes, &gpu.columns, &cpu.columns, GPU_F64_AGAINST_CPU);
        assert_eq!(gpu.spikes, cpu.spikes, "{what}: spikes");
        if let Some(neuron) = neuron {
            let what = format!("{what} vs NEURON");
            check_trace(&what, probes, &gpu.times, &gpu.columns, &neuron.trace, AGAINST_NEURON);
            check_spikes(&what, &gpu.spikes, &neuron.spikes, m.model.simulation.dt);
        }

        let gpu = run_gpu(case, m, Precision::F32, strategy).expect("an adapter for f64 serves f32");
        let what = format!("{case} f32 {strategy:?}");
        assert_eq!(gpu.times, cpu.times, "{what}: time grid");
        let f32_bounds = Tolerances { voltage_mv: f32_voltage_bound(probes, &cpu), ..GPU_F32_AGAINST_CPU };
        check_runs(&what, probes, &gpu.columns, &cpu.columns, f32_bounds);
        assert_eq!(gpu.spikes.len(), cpu.spikes.len(), "{what}: spike counts {:?} vs {:?}", gpu.spikes, cpu.spikes);
        for (a, b) in gpu.spikes.iter().zip(&cpu.spikes) {
            assert_eq!(a.0, b.0, "{what}: spike gids {:?} vs {:?}", gpu.spikes, cpu.spikes);
            assert!(
                (a.1 - b.1).abs() <= F32_SPIKE_TIME_MS,
                "{what}: spike of gid {} at {} ms, CPU {} ms",
                a.0,
                a.1,
                b.1
            );
        }
    }
}

/// Voltages in f32 are held, like every other column, to a fraction of their range; the range
/// is the widest of the case's voltage columns, so a flat dendrite is not held to 1e-3 of 0.
fn f32_voltage_bound(probes: &[sylva_compiler::ir::Probe], cpu: &Run) -> f64 {
    let widest = probes
        .iter()
        .zip(&cpu.columns)
        .filter(|(p, _)| p.dim == sylva_compiler::units::Dimension::VOLTAGE)
        .map(|(_, c)| {
            c.iter().fold(f64::NEG_INFINITY, |a, b| a.max(*b)) - c.iter().fold(f64::INFINITY, |a, b| a.min(*b))
        })
        .fold(0.0, f64::max);
    GPU_F32_AGAINST_CPU.of_range * widest
}

#[test]
fn hh_soma_matches_cpu() {
    check("hh_soma", &[], NEURON_FILES);
}

#[test]
fn passive_cable_matches_cpu() {
    check("passive_cable", &[], NEURON_FILES);
}

#[test]
fn ball_and_stick_matches_cpu() {
    check("ball_and_stick", &[], NEURON_FILES);
}

#[test]
fn y_tree_matches_cpu() {
    check("y_tree", &[], NEURON_FILES);
}

#[test]
fn biophysics_cases_match_cpu() {
    // Calcium channels and dynamics (Nernst), SK, Ih, a kinetic scheme, SWC cells (one edited).
    let cases =
        ["cadyn", "ca_hva", "ca_hva_eca", "ca_sk", "sk", "ih", "kinetic_k", "ca1_swc", "pyramidal", "allen_stub"];
    for case in cases {
        check(case, &[], NEURON_FILES);
    }
}

/// `kinetic steady_state` (set by the interpreter's initialisation every engine starts from)
/// and `by backward_euler`, the constructs `sylva import` writes for STEADYSTATE and
/// derivimplicit.
#[test]
fn steady_state_and_backward_euler_match_cpu() {
    check_model("steady_markov", &model("examples/nmodl/steady_markov.syl", &[], None), None);
}

#[test]
fn syn_pair_matches_cpu() {
    check("syn_pair", &[], NEURON_FILES);
}

#[test]
fn syn_pair_strong_matches_cpu() {
    check("syn_pair", &["weight=0.05uS".to_string()], ("trace_w0.05.csv", "spikes_w0.05.csv"));
}

/// Continuous connections (`v_pre`): a graded synapse driven by a spiking cell, and a gap
/// junction coupling two cells both ways, as a dispatch per pass of the step.
#[test]
fn graded_synapse_and_gap_junction_pairs_match_cpu() {
    for case in ["graded_pair", "gap_pair"] {
        check(case, &[], NEURON_FILES);
    }
}

/// The same pairs with NEURON's POINTER mod files imported (`tests/data/neuron/mod/`) in place
/// of the standard library's mechanisms, as `tests/it/fidelity.rs` runs them on the CPU.
#[test]
fn imported_pointer_mod_files_match_cpu() {
    for (case, stdlib, (file, name), (from, to)) in [
        ("graded_pair", "graded_syn", ("graded_syn.mod", "GradedSyn"), ("e = 0 mV", "e_ = 0 mV")),
        ("gap_pair", "gap_junction", ("gap.mod", "Gap"), ("", "")),
    ] {
        let path = format!("examples/neuron/{case}.syl");
        let artifact = example_edited(&path, &[], |text| {
            let text = text
                .replace(&format!("import {stdlib}\n"), &format!("import \"../../tests/data/neuron/mod/{file}\"\n"))
                .replace(&format!("= {stdlib} at"), &format!("= {name} at"))
                .replace(from, to);
            assert!(text.contains(&format!("= {name} at")) && text.contains(file), "{case}: {text}");
            text
        });
        let data = repo().join(format!("tests/data/neuron/{case}"));
        let neuron =
            Neuron { trace: Trace::read(&data.join("trace.csv")), spikes: read_spikes(&data.join("spikes.csv")) };
        check_model(&format!("{case} (imported)"), &artifact, Some(&neuron));
    }
}

/// 24 cells of one type coupled through `v_pre` both ways (`examples/bench/coupled_chain.syl`):
/// a ring of gap junctions to each neighbour and graded synapses from every cell to the next,
/// so each instance's table entry points at another rank's voltage, interleaved (`thread`) and
/// cell by cell (`workgroup`).
#[test]
fn coupled_chain_matches_cpu() {
    let m = model("examples/bench/coupled_chain.syl", &["cells=24".to_string()], Some(30.0));
    assert_eq!(run_cpu(&m).spikes.len(), 24, "the wave reaches every cell");
    check_model("coupled chain", &m, None);
}

/// Coupled cells with an event-driven synapse too: the window is then the connection's delay
/// (80 steps), each step a dispatch per pass in one submit, and a cell's events fall at
/// several steps of a window (a dispatch finds its step's events past the earlier steps').
#[test]
fn coupled_cells_with_events_run_whole_windows() {
    let ring = std::fs::read_to_string(repo().join("examples/bench/coupled_chain.syl"))
        .expect("the example")
        .replace("import hh", "import hh\nimport exp2syn")
        .replace(
            "    detector at",
            "    synapse fast = exp2syn at soma(0.5) { tau1 = 0.5 ms, tau2 = 2 ms, e = 0 mV }\n    detector at",
        )
        .replace("param cells = 100", "param cells = 12")
        .replace("duration = 100 ms", "duration = 30 ms");
    let text = ring.replace(
        "    record spikes",
        "    connect ring[0 .. cells / 2] -> ring[cells / 2 .. cells].fast all_to_all { weight = 0.01 uS, delay = 2 ms }\n    record spikes",
    );
    let m = crate::test_models::compiled("coupled_events.syl", &text);
    let plan = crate::plan::Plan::new(&m);
    let without_events = run_cpu(&crate::test_models::compiled("coupled.syl", &ring));
    assert_ne!(run_cpu(&m).spikes, without_events.spikes, "the events change when cells fire");
    let fit = super::DeviceFit::of(&wgpu::Limits::default());
    let p = super::prepare(&m, &plan, Precision::F64, GpuOptions::default(), fit).expect("prepares");
    assert_eq!(p.window, 80, "a window of the connections' delay");
    check_model("coupled cells with events", &m, None);
}

/// Coupled cells that blow up (a current of 1 uS times the other cell's voltage, explicit in
/// `v_pre`): each strategy stops at the CPU engine's step and names its cell, node and value.
#[test]
fn coupled_blowup_is_reported_as_on_the_cpu() {
    let text = r#"
import hh
point feedback {
    current i
    param g: uS = 1 uS
    i = -g * v_pre
}
cell c {
    morphology { section soma { length = 20 um, diam = 20 um, nseg = 1 } }
    insert hh in soma
    synapse fb = feedback at soma(0.5)
    detector at soma(0.5) threshold -20 mV
}
network pair {
    population cells = c[2]
    connect cells -> cells.fb ring(2)
    probe "v0" = v at cells[0].soma(0.5)
}
simulation { dt = 0.025 ms, duration = 5 ms }
"#;
    let m = crate::test_models::compiled("feedback.syl", text);
    let mut cpu = Simulation::new(&m, Options::default()).expect("cpu");
    let Err(crate::simulation::RunError::Diverged(expected)) = cpu.run(|_, _| {}) else {
        panic!("the CPU run diverges")
    };
    for strategy in [Strategy::Thread, Strategy::Workgroup] {
        let mut gpu =
            match GpuSimulation::with_options(&m, Precision::F64, GpuOptions { strategy, ..GpuOptions::default() }) {
                Ok(g) => g,
                Err(e) if no_gpu(&e) => return,
                Err(e) => panic!("{e}"),
            };
        let Err(crate::simulation::RunError::Diverged(got)) = gpu.run(|_, _| {}) else {
            panic!("{strategy:?}: the GPU run diverges")
        };
        // The value as such (a NaN's payload may differ between devices).
        let key = |b: &crate::host::blowup::Blowup| (b.step, b.gid, b.node, b.suspects.clone());
        assert_eq!(key(&got), key(&expected), "{strategy:?}: {got:?} vs {expected:?}");
        assert!(got.value == expected.value || got.value.is_nan() && expected.value.is_nan(), "{got:?}");
    }
}

#[test]
fn ringtest_matches_cpu() {
    // The example records no traces: probe the soma and a distal dendrite node of every cell,
    // and a synaptic state, so that ΔV is measured.
    let mut m = model("examples/bench/ringtest.syl", &[], Some(20.0)).model;
    let cell = &m.cells[0];
    let soma = cell.detector.as_ref().expect("detector").node;
    let tip = cell.tree.nodes.len() as u32 - 1;
    let span = m.network.probes.first().map(|p| p.span).unwrap_or(cell.span);
    for gid in 0..m.cell_count() {
        for (name, node) in [("soma", soma), ("tip", tip)] {
            m.network.probes.push(sylva_compiler::ir::Probe {
                label: format!("cell{gid}_{name}_v"),
                gid,
                target: sylva_compiler::ir::ProbeTarget::Voltage { node },
                dim: sylva_compiler::units::Dimension::VOLTAGE,
                span,
            });
        }
    }
    // Probes added to the model: the compiler's artifact is made again from it.
    check_model("ringtest", &Artifact::new(m), None);
}

#[test]
fn wgsl_parses_back() {
    for path in ["examples/neuron/syn_pair.syl", "examples/bench/ringtest.syl", "examples/neuron/y_tree.syl"] {
        let m = model(path, &[], None);
        for (p, strategy) in [
            (Precision::F64, Strategy::Thread),
            (Precision::F32, Strategy::Thread),
            (Precision::F64, Strategy::Workgroup),
        ] {
            let text = wgsl(&m, p, strategy).unwrap_or_else(|e| panic!("{path}: {e}"));
            let module =
                naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| panic!("{path}: {}", e.emit_to_string(&text)));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::FLOAT64)
                .validate(&module)
                .unwrap_or_else(|e| panic!("{path} {p:?}: {e:?}"));
            assert!(text.contains("fn cell_type_0"), "{path}: entry point");
        }
    }
}

/// Runs one helper function over inputs on the GPU.
fn run_math(fun: &str, xs: &[f64], ys: &[f64]) -> Result<Vec<f64>, GpuError> {
    let prec = Prec::F64;
    let mut module = naga::Module::default();
    let types = Types::new(&mut module, prec);
    let fns = math::add(&mut module, types, prec);
    let input = storage(&mut module.global_variables, "xs", 0, types.real_array, false);
    let input2 = storage(&mut module.global_variables, "ys", 1, types.real_array, false);
    let output = storage(&mut module.global_variables, "out", 2, types.real_array, true);
    let mut fb = Fb::new(prec, types, "main");
    fb.func.arguments.push(naga::FunctionArgument {
        name: Some("gid".into()),
        ty: types.uvec3,
        binding: Some(naga::Binding::BuiltIn(naga::BuiltIn::GlobalInvocationId)),
    });
    let id = fb.arg(0);
    let i = fb.e(naga::Expression::AccessIndex { base: id, index: 0 });
    let n = fb.u(xs.len() as u32);
    let out = fb.bin(naga::BinaryOperator::GreaterEqual, i, n);
    fb.if_(out, |fb| fb.ret(None));
    let x = fb.read(input, i);
    let y = fb.read(input2, i);
    let r = match fun {
        "exp" => fb.call(fns.exp, vec![x]),
        "log" => fb.call(fns.log, vec![x]),
        "log10" => fb.call(fns.log10, vec![x]),
        "tanh" => fb.call(fns.tanh, vec![x]),
        "sin" => fb.call(fns.sin, vec![x]),
        "cos" => fb.call(fns.cos, vec![x]),
        _ => fb.call(fns.pow, vec![x, y]),
    };
    fb.write(output, i, r);
    module.entry_points.push(naga::EntryPoint {
        name: "main".into(),
        stage: naga::ShaderStage::Compute,
        early_depth_test: None,
        workgroup_size: [64, 1, 1],
        workgroup_size_overrides: None,
        function: fb.finish(),
        mesh_info: None,
        task_payload: None,
        incoming_ray_payload: None,
    });
    super::validate(&module)?;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .map_err(|_| GpuError::NoAdapter)?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_features: wgpu::Features::SHADER_F64,
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .map_err(|e| GpuError::Device(e.to_string()))?;
    let sm = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Naga(std::borrow::Cow::Owned(module)),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &sm,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let size = (xs.len() * 8) as u64;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let mk = |data: &[f64]| {
        let b = device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false });
        queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
        b
    };
    let bx = mk(xs);
    let by = mk(ys);
    let bo = mk(xs);
    let back = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let layout = pipeline.get_bind_group_layout(0);
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &layout,
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: bx.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: by.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: bo.as_entire_binding() },
        ],
    });
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups((xs.len() as u32).div_ceil(64), 1, 1);
    }
    enc.copy_buffer_to_buffer(&bo, 0, &back, 0, size);
    let index = queue.submit([enc.finish()]);
    let bytes = super::device::read(&device, &back, size, index)?;
    Ok(bytemuck::cast_slice::<u8, f64>(&bytes).to_vec())
}

fn max_rel(fun: &str, xs: &[f64], ys: &[f64], reference: impl Fn(f64, f64) -> f64) -> Option<f64> {
    let got = match run_math(fun, xs, ys) {
        Ok(g) => g,
        Err(e) if no_gpu(&e) => return None,
        Err(e) => panic!("{fun}: {e}"),
    };
    let mut worst = 0.0f64;
    let mut at = 0.0;
    for (i, g) in got.iter().enumerate() {
        let r = reference(xs[i], ys[i]);
        let e = if r == 0.0 { g.abs() } else { ((g - r) / r).abs() };
        if e > worst || e.is_nan() {
            worst = e;
            at = xs[i];
        }
    }
    eprintln!("software {fun}: max relative error {worst:.3e} (at x = {at}) over {} points", xs.len());
    Some(worst)
}

/// Deterministic points in [lo, hi].
fn points(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = crate::plan::events::Rng::new(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect()
}

#[test]
fn software_math_matches_std() {
    let n = 20_000;
    let xs = points(n, -700.0, 700.0, 1);
    let mut small = points(n, -5.0, 5.0, 2);
    small[0] = 0.0;
    let zeros = vec![0.0; n];
    let Some(e1) = max_rel("exp", &xs, &zeros, |x, _| x.exp()) else { return };
    let e2 = max_rel("exp", &small, &zeros, |x, _| x.exp()).expect("adapter");
    // log over many decades: 10^u, u in [-300, 300], and near 1.
    let lx: Vec<f64> = points(n, -300.0, 300.0, 3).iter().map(|u| 10f64.powf(*u)).collect();
    let near1: Vec<f64> = points(n, 0.5, 2.0, 4);
    let e3 = max_rel("log", &lx, &zeros, |x, _| x.ln()).expect("adapter");
    let e4 = max_rel("log", &near1, &zeros, |x, _| x.ln()).expect("adapter");
    let e5 = max_rel("log10", &lx, &zeros, |x, _| x.log10()).expect("adapter");
    let px = points(n, 0.01, 10.0, 5);
    let py = points(n, -10.0, 10.0, 6);
    let e6 = max_rel("pow", &px, &py, |x, y| x.powf(y)).expect("adapter");
    let tx = points(n, -30.0, 30.0, 7);
    let e7 = max_rel("tanh", &tx, &zeros, |x, _| x.tanh()).expect("adapter");
    let e8 = max_rel("tanh", &small, &zeros, |x, _| x.tanh()).expect("adapter");
    let sx = points(n, -100.0, 100.0, 8);
    let e9 = max_rel("sin", &sx, &zeros, |x, _| x.sin()).expect("adapter");
    let e10 = max_rel("cos", &sx, &zeros, |x, _| x.cos()).expect("adapter");
    for (name, e) in [
        ("exp", e1),
        ("exp small", e2),
        ("log", e3),
        ("log near 1", e4),
        ("log10", e5),
        ("pow", e6),
        ("tanh", e7),
        ("tanh small", e8),
        ("sin", e9),
        ("cos", e10),
    ] {
        assert!(e <= 1e-13, "{name}: {e}");
    }
}

#[test]
fn windows_do_not_change_results() {
    // Dispatching one step at a time or a whole window must give the same bits.
    let m = model("examples/neuron/syn_pair.syl", &["weight=0.05uS".to_string()], Some(20.0));
    let mut a =
        match GpuSimulation::with_options(&m, Precision::F64, GpuOptions { window_cap: 1, ..GpuOptions::default() }) {
            Ok(g) => g,
            Err(e) if no_gpu(&e) => return,
            Err(e) => panic!("{e}"),
        };
    a.run(|_, _| {}).expect("runs");
    let mut b = GpuSimulation::new(&m, Precision::F64).expect("gpu");
    b.run(|_, _| {}).expect("runs");
    assert_eq!((a.engine().window(), b.engine().window()), (1, 40));
    assert_eq!(a.columns(), b.columns());
    assert_eq!(a.spikes(), b.spikes());
}

#[test]
fn strategies_agree_on_a_big_tree() {
    // The 2,033-compartment binary tree of the single-cell benchmark, 15 ms with spikes. With
    // whole chains the parallel solve gathers every node's updates in the serial order, so the
    // two strategies give the same bits. Split chains (the default) reorder the arithmetic of
    // each 17-node branch, which changes the last bits: within 1e-9 mV in f64 (as the GPU
    // against the CPU engine), within the f32 bounds of `check_model` in f32, the same spikes.
    let m = model("examples/bench/bigcell.syl", &[], Some(15.0));
    for precision in [Precision::F64, Precision::F32] {
        let run = |strategy, solve| {
            let options = GpuOptions { strategy, solve, ..GpuOptions::default() };
            let mut sim = GpuSimulation::with_options(&m, precision, options)?;
            sim.run(|_, _| {}).unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
            Ok::<_, GpuError>(sim)
        };
        let thread = match run(Strategy::Thread, Solve::Chains) {
            Ok(s) => s,
            Err(e) if no_gpu(&e) => return,
            Err(e) => panic!("{e}"),
        };
        let chains = run(Strategy::Workgroup, Solve::Chains).expect("workgroup strategy runs");
        assert!(matches!(chains.engine().strategies()[..], [(Strategy::Workgroup, lanes)] if lanes >= 32));
        let local = chains.engine().layout.types[0].workgroup.as_ref().expect("workgroup").local_solve;
        eprintln!("{precision:?}: solve in {} memory", if local { "workgroup" } else { "storage" });
        assert!(!thread.spikes().is_empty(), "the step current makes the soma fire");
        assert_eq!(thread.spikes(), chains.spikes(), "{precision:?}");
        assert_eq!(thread.columns(), chains.columns(), "{precision:?}");
        let split = run(Strategy::Workgroup, Solve::Split).expect("workgroup strategy runs");
        assert!(split.engine().layout.types[0].workgroup.as_ref().expect("workgroup").fill.is_some(), "chains split");
        let what = format!("big tree {precision:?}, split against whole chains");
        let probes = &m.model.network.probes;
        let bounds = match precision {
            Precision::F64 => GPU_F64_AGAINST_CPU,
            Precision::F32 => Tolerances { voltage_mv: 1e-3, ..GPU_F32_AGAINST_CPU },
        };
        check_runs(&what, probes, split.columns(), thread.columns(), bounds);
        assert_eq!(thread.spikes().len(), split.spikes().len(), "{what}");
        if precision == Precision::F64 {
            assert_eq!(thread.spikes(), split.spikes(), "{what}");
        }
    }
}

/// Long unbranched chains solved in pieces: a 200-node daughter, a 60-node trunk and a
/// 40-node daughter (the y tree, finer), with a clamp at the soma that makes it fire; against
/// the CPU engine as every case (f64 within 1e-9 mV and the same spikes).
#[test]
fn split_long_chains_match_cpu() {
    let m = example_edited("examples/neuron/y_tree.syl", &[], |text| {
        text.replace("nseg = 9", "nseg = 60")
            .replace("nseg = 11", "nseg = 200")
            .replace("nseg = 7", "nseg = 40")
            .replace(
                "cells[0].daughter1(1) { del = 2 ms, dur = 20 ms, amp = 0.3 nA }",
                "cells[0].soma(0.5) { del = 2 ms, dur = 20 ms, amp = 1 nA }",
            )
            .replace("duration = 40 ms", "duration = 25 ms")
    });
    assert!(!run_cpu(&m).spikes.is_empty(), "the clamp makes the soma fire");
    let fit = super::DeviceFit::of(&wgpu::Limits::default());
    let options = GpuOptions { strategy: Strategy::Workgroup, ..GpuOptions::default() };
    let p = super::prepare(&m, &crate::plan::Plan::new(&m), Precision::F64, options, fit).expect("prepares");
    let wg = p.layout.types[0].workgroup.as_ref().expect("a workgroup type");
    assert!(wg.fill.is_some() && wg.longest_task < 60, "the long chains are cut: {} nodes a task", wg.longest_task);
    check_model("long chains", &m, None);
    // On 8 lanes the pieces take several rounds, and the chains' rounds hold 8 at most.
    let options = GpuOptions { strategy: Strategy::Workgroup, lanes: Some(8), ..GpuOptions::default() };
    let mut gpu = GpuSimulation::with_options(&m, Precision::F64, options).expect("an adapter");
    assert!(gpu.engine().layout.types[0].workgroup.as_ref().is_some_and(|w| w.fill.is_some()), "split on 8 lanes");
    gpu.run(|_, _| {}).expect("runs");
    let cpu = run_cpu(&m);
    check_runs("long chains on 8 lanes", &m.model.network.probes, gpu.columns(), &cpu.columns, GPU_F64_AGAINST_CPU);
    assert_eq!(gpu.spikes(), &cpu.spikes[..], "long chains on 8 lanes");
}

/// The layer-5 cell (12 mechanism types, long d_lambda chains) for 5 ms: in f64 on lavapipe
/// (32 KiB of workgroup memory) its diagonal and rhs fit in workgroup memory but its fills do
/// not, so they go to `data` behind one storage barrier; against the CPU engine.
#[test]
fn l5pc_split_solve_matches_cpu() {
    let m = model("examples/bench/l5pc.syl", &[], Some(5.0));
    let options = GpuOptions { strategy: Strategy::Workgroup, ..GpuOptions::default() };
    let gpu = match GpuSimulation::with_options(&m, Precision::F64, options) {
        Ok(g) => g,
        Err(e) if no_gpu(&e) => return,
        Err(e) => panic!("{e}"),
    };
    let wg = gpu.engine().layout.types[0].workgroup.as_ref().expect("a workgroup type");
    let fill = wg.fill.expect("long chains split");
    eprintln!("l5pc f64: solve in workgroup memory {}, fills there {}", wg.local_solve, fill.local);
    if gpu.engine().adapter().contains("llvmpipe") {
        assert!(wg.local_solve && !fill.local, "the fills in data beside a local solve");
    }
    check_model("l5pc", &m, None);
}

#[test]
fn storage_traffic_counts_what_a_step_touches() {
    // The ringtest cell: 105 nodes (97 with membrane, hh: m, h, n read and written, ena and ek
    // read), v read and written at every node, one Exp2Syn (A and B read and written), the
    // solve in workgroup memory, ina and ik never read so never summed.
    let m = model("examples/bench/ringtest.syl", &["rings=1".to_string()], Some(1.0));
    let fit = super::DeviceFit { workgroup_memory: 1 << 16, max_lanes: 256 };
    let options = GpuOptions { strategy: Strategy::Workgroup, ..GpuOptions::default() };
    let p = super::prepare(&m, &crate::plan::Plan::new(&m), Precision::F32, options, fit).expect("prepares");
    let ty = &p.layout.types[0];
    assert_eq!((ty.ncells, ty.nnodes), (10, 105));
    assert!(ty.workgroup.as_ref().is_some_and(|w| w.local_solve));
    let per_cell = 105 * (2 + 2) + 97 * 6 + 4;
    assert_eq!(super::traffic::bytes_per_step(&p.layout, Prec::F32), 4 * 10 * per_cell);
    // One invocation per cell: rhs and diagonal go through `data` (zeroed, summed, solved).
    let options = GpuOptions { strategy: Strategy::Thread, ..GpuOptions::default() };
    let p = super::prepare(&m, &crate::plan::Plan::new(&m), Precision::F64, options, fit).expect("prepares");
    assert_eq!(super::traffic::bytes_per_step(&p.layout, Prec::F64), 8 * 10 * (per_cell + 105 * 4));
}

/// A ring network with stimuli as data: 30 clamps of different onsets, durations and
/// amplitudes, two on one node of cell 3, none on some cells, and probes of two clamps'
/// currents (stored values of group members).
fn stimulated_ring() -> Artifact {
    let src = std::fs::read_to_string(repo().join("examples/bench/ringtest.syl")).expect("ringtest");
    let mut stimuli = String::new();
    for i in 0..30u32 {
        let cell = [3, 3, 5, 7, 11, 12, 13, 17, 19][i as usize % 9];
        let (del, dur, amp) = (1.0 + 0.37 * f64::from(i), 0.5 + 0.1 * f64::from(i % 4), 0.05 + 0.01 * f64::from(i % 7));
        stimuli.push_str(&format!(
            "    stimulus s{i} = iclamp at cells[{cell}].soma(0.5) {{ del = {del} ms, dur = {dur} ms, amp = {amp} nA }}\n"
        ));
    }
    stimuli.push_str("    probe \"s0_i\" = s0.i\n    probe \"s9_i\" = s9.i\n");
    stimuli.push_str("    probe \"c3_v\" = v at cells[3].soma(0.5)\n    probe \"c19_v\" = v at cells[19].soma(0.5)\n");
    let at = src.find("network ring").expect("network");
    let end = at + src[at..].find("\n}").expect("end of network");
    let text =
        format!("{}\n{stimuli}{}", &src[..end], &src[end..]).replace("import exp2syn", "import exp2syn\nimport iclamp");
    let mut db = SourceDb::new();
    let root = db.add("stimulated_ring.syl", &text);
    let c = compile(&mut db, root, &mut RepoLoader, &["rings=2".to_string()]);
    let mut m = c.artifact.unwrap_or_else(|| panic!("compiles: {:?}", c.diagnostics));
    m.model.simulation.duration = 20.0;
    m
}

#[test]
fn stimuli_run_as_data() {
    let m = stimulated_ring();
    check_model("stimulated ring", &m, None);
    // One loop over a cell's clamps, whatever their number: the code of 30 clamps is the code
    // of 3 (up to the digits of table offsets).
    let three = {
        let mut m = m.model.clone();
        m.network.stimuli.truncate(3);
        m.network.probes.retain(|p| !p.label.starts_with("s9"));
        wgsl(&Artifact::new(m), Precision::F64, Strategy::Workgroup).expect("wgsl").len()
    };
    let thirty = wgsl(&m, Precision::F64, Strategy::Workgroup).expect("wgsl").len();
    assert!(thirty.abs_diff(three) * 100 < three, "{thirty} vs {three} bytes of WGSL");
}
