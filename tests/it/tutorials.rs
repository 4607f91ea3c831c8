//! Tutorials 01 and 02 simulated: what their comments promise a reader, and what the physics of
//! a clamped compartment and a passive dendrite requires.

use sylva_runtime::cpu::{Options, Simulation};
use sylva_tests::compile_file;

const T01: &str = "examples/tutorial/01_single_compartment.syl";
const T02: &str = "examples/tutorial/02_dendrite.syl";

/// hh's leak reversal (-54.3 mV) puts its rest within a tenth of a millivolt of -65 mV.
const REST_MV: f64 = 0.1;

fn run(path: &str, overrides: &[String]) -> Simulation {
    let (db, compilation) = compile_file(path, overrides);
    let artifact =
        compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let mut sim = Simulation::new(&artifact, Options::default()).expect("compiles");
    sim.run(|_, _| {}).expect("runs");
    sim
}

/// The row of time `t` (ms) on the 0.025 ms grid.
fn row(t: f64) -> usize {
    (t / 0.025).round() as usize
}

#[test]
fn tutorial_01_fires_as_its_comments_say() {
    let sim = run(T01, &[]);
    let (v, clamp) = (&sim.columns()[0], &sim.columns()[3]);
    // At rest until the clamp starts at 5 ms.
    assert!(v[..=row(5.0)].iter().all(|v| (v + 65.0).abs() < REST_MV), "{:?}", &v[..=row(5.0)]);
    // The clamp delivers 0.2 nA from 5 to 45 ms and nothing outside.
    for (&t, &i) in sim.times().iter().zip(clamp) {
        if (t - 5.0).abs() > 0.05 && (t - 45.0).abs() > 0.05 {
            assert_eq!(i, if (5.0..45.0).contains(&t) { 0.2 } else { 0.0 }, "{t} ms");
        }
    }
    // The first step of the clamp charges the capacitance of the lateral area alone:
    // dV = I dt / C with C = 1 uF/cm2 * pi * 20 um * 20 um = 12.566 pF, less the fraction
    // g dt / C ≈ 1.7% that hh's resting conductance (about 0.7 mS/cm2) takes. End caps would
    // add half the area (dV 33% smaller), a wrong unit a power of ten.
    let capacitance_pf = std::f64::consts::PI * 20.0 * 20.0 * 1e-8 * 1e6;
    let expected = 0.2 * 0.025 / capacitance_pf * 1e3;
    let jump = v[row(5.0) + 1] - v[row(5.0)];
    assert!(jump < expected && jump > 0.95 * expected, "{jump} mV vs {expected} mV");
    // "It fires 4 spikes", all while the clamp is on, each overshooting 0 mV; after the clamp
    // the membrane undershoots rest (the potassium current's afterhyperpolarisation).
    let times: Vec<f64> = sim.spikes().iter().map(|s| s.1).collect();
    assert_eq!(times.len(), 4, "{times:?}");
    assert!(times.iter().all(|t| (5.0..45.0).contains(t)), "{times:?}");
    assert!(v.iter().copied().fold(f64::MIN, f64::max) > 0.0);
    assert!(v[row(50.0)] < -65.0 - 1.0, "{}", v[row(50.0)]);
    // The other amplitudes its header names: no spike, a single spike, 5 spikes.
    for (amp, spikes) in [("0.02nA", 0), ("0.05nA", 1), ("0.5nA", 5)] {
        let sim = run(T01, &[format!("stim_amp={amp}")]);
        assert_eq!(sim.spikes().len(), spikes, "{amp}: {:?}", sim.spikes());
    }
}

#[test]
fn tutorial_02_attenuates_and_delays_along_the_dendrite() {
    let sim = run(T02, &[]);
    // Probes from the injection site to the soma, then the sibling branch's tip.
    let path = ["branch1_tip", "fork", "apical_mid", "soma"];
    let [tip, fork, mid, soma, branch2] = [0, 1, 2, 3, 4].map(|k| &sim.columns()[k]);
    // At rest until the pulse starts at 2 ms.
    for c in [tip, fork, mid, soma, branch2] {
        assert!(c[..=row(2.0)].iter().all(|v| (v + 65.0).abs() < REST_MV));
    }
    // The passive tip charges while the current flows and discharges after: its peak is at
    // the pulse's end, 12 ms.
    let peak = tip.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("rows").0;
    assert_eq!(sim.times()[peak], 12.0);
    // At the end of the pulse the depolarisation falls along the path...
    let at_end: Vec<f64> = [tip, fork, mid, soma].iter().map(|c| c[row(12.0)]).collect();
    assert!(at_end.windows(2).all(|w| w[0] > w[1]), "{path:?}: {at_end:?}");
    // ...and reaches each point later: the first time 5 mV above rest grows along the path.
    let onset = |c: &[f64]| sim.times()[c.iter().position(|v| *v > -60.0).expect("depolarised")];
    let onsets: Vec<f64> = [tip, fork, mid, soma].iter().map(|c| onset(c)).collect();
    assert!(onsets.windows(2).all(|w| w[0] < w[1]), "{path:?}: {onsets:?}");
    // The sibling branch is fed through the fork only: it lags behind the fork.
    assert!(onset(branch2) > onset(fork) && branch2[row(12.0)] < fork[row(12.0)]);
}
