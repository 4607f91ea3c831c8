//! A dispatch the device cuts short is an error, never a silently short window (docs/gpu.md,
//! "Loop limiter"). Provoked on lavapipe, whose loop limiter ends an invocation after 65535
//! loop iterations, by running a longer window than the engine fits under that limit. Run with
//! `VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json XDG_RUNTIME_DIR=/tmp`; without
//! an adapter the test fails when `CI` is set and is skipped otherwise (`gpu::tests::no_gpu`).

use std::io::Write;

use sylva_compiler::ir::Precision;

use super::{GpuError, GpuSimulation, MAX_WINDOW, Options, Strategy};
use crate::RunError;
use crate::test_models::compiled;

/// One cable of 201 compartments on one invocation: a few hundred loop iterations per step.
/// No connections, so the buffers are sized for windows of `MAX_WINDOW` steps.
const CABLE: &str = "import pas\n\ncell c {\n    morphology { section dend { length = 1000 um, diam = 1 um, nseg = 201 } }\n    \
                     insert pas in dend\n}\n\nnetwork n {\n    population p = c[1]\n    probe \"v\" = v at p[0].dend(0.5)\n}\n\n\
                     simulation { dt = 0.025 ms, duration = 20 ms }\n";

#[test]
fn a_truncated_dispatch_is_an_error() {
    let model = compiled("cable.syl", CABLE);
    let options = Options { strategy: Strategy::Thread, ..Options::default() };
    let mut sim = match GpuSimulation::with_options(&model, Precision::F32, options) {
        Ok(sim) => sim,
        Err(e) if super::tests::no_gpu(&e) => return,
        Err(e) => panic!("{e}"),
    };
    if !sim.engine.gpu.cpu_device {
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED gpu::dispatch_tests: {} has no loop limiter to cut a dispatch short",
            sim.engine.adapter()
        );
        return;
    }
    let window = sim.engine.window();
    assert!(window < MAX_WINDOW, "the engine shortens the window on lavapipe");
    sim.engine.window_once(&mut sim.host, window, None).expect("a window the engine fits runs whole");
    let rows = sim.times().len();
    let step = sim.host.step();
    sim.engine.window = MAX_WINDOW;
    let e = sim.run(|_, _| {}).expect_err("a window past the loop limiter");
    // The limiter ends every loop of the step it trips in: the kernel reports fewer steps
    // than the window, or, when the cut solve divides by a zeroed diagonal, a blow-up at
    // that step. Either way nothing of the window is kept.
    let short = format!("of {MAX_WINDOW} steps");
    let stopped = matches!(&e, RunError::Gpu(GpuError::Device(m)) if m.contains("stopped cell 0's kernel after") && m.contains(&short));
    let cut = matches!(&e, RunError::Diverged(b) if b.step > step && b.step < step + u64::from(MAX_WINDOW));
    assert!(stopped || cut, "{e}");
    assert_eq!(sim.times().len(), rows);
}
