//! The CPU engine against NEURON 9.0.2 (`tests/data/neuron/`): every reference case, in f64,
//! max |ΔV| ≤ 1e-3 mV at every recorded step and column (the bound; the actual
//! maxima are printed and recorded in docs/performance.md), and identical spike times.

use sylva_runtime::cpu::{Options, Simulation};
use sylva_tests::{compile_file, repo};

/// Tolerance from the issue: the same scheme must match to 1e-3 mV.
const TOLERANCE_MV: f64 = 1e-3;

struct Reference {
    columns: Vec<String>,
    rows: Vec<Vec<f64>>,
}

fn read_csv(path: &str) -> Reference {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let columns = lines.next().expect("header").split(',').map(str::to_string).collect();
    let rows =
        lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(|x| x.parse().expect("number")).collect()).collect();
    Reference { columns, rows }
}

/// Runs a case and compares; returns the largest difference per column.
fn check_case(case: &str, overrides: &[String], trace: &str, spikes: &str) -> Vec<(String, f64)> {
    let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), overrides);
    let model = compilation.model.unwrap_or_else(|| panic!("{case} compiles"));
    let mut sim = Simulation::new(&model, Options::default()).expect("compiles");
    sim.run(|_, _| {}).unwrap_or_else(|b| panic!("{case} blew up: {b:?}"));
    let reference = read_csv(&format!("tests/data/neuron/{case}/{trace}"));
    assert_eq!(sim.times.len(), reference.rows.len(), "{case}: row count");
    let labels: Vec<&str> = model.network.probes.iter().map(|p| p.label.as_str()).collect();
    let mut worst = Vec::new();
    for (c, label) in labels.iter().enumerate() {
        let col = reference.columns.iter().position(|x| x == label).expect("column");
        let (mut max, mut at) = (0.0f64, 0);
        for (row, values) in reference.rows.iter().enumerate() {
            let d = (sim.columns[c][row] - values[col]).abs();
            if d > max {
                max = d;
                at = row;
            }
        }
        eprintln!("{case} {label}: max |diff| {max:.3e} at t = {}", reference.rows[at][0]);
        worst.push((label.to_string(), max));
    }
    // A case without a spikes file has no detector: no spikes.
    let spikes_path = format!("tests/data/neuron/{case}/{spikes}");
    let expected = if repo().join(&spikes_path).exists() {
        read_csv(&spikes_path)
    } else {
        Reference { columns: Vec::new(), rows: Vec::new() }
    };
    let got: Vec<(u32, f64)> = sim.spikes.clone();
    assert_eq!(got.len(), expected.rows.len(), "{case}: spikes {got:?} vs {:?}", expected.rows);
    for ((gid, t), row) in got.iter().zip(&expected.rows) {
        assert_eq!(f64::from(*gid), row[0], "{case}: spike gid");
        // NEURON reports the grid time plus 1e-10 ms.
        assert!((t - row[1]).abs() < 1e-6, "{case}: spike at {t}, NEURON {}", row[1]);
    }
    worst
}

fn assert_within(case: &str, worst: &[(String, f64)]) {
    for (label, max) in worst {
        assert!(*max <= TOLERANCE_MV, "{case} {label}: max |ΔV| {max} mV exceeds {TOLERANCE_MV} mV");
    }
}

#[test]
fn hh_soma_matches_neuron() {
    let worst = check_case("hh_soma", &[], "trace.csv", "spikes.csv");
    assert_within("hh_soma", &worst);
}

#[test]
fn passive_cable_matches_neuron() {
    let worst = check_case("passive_cable", &[], "trace.csv", "spikes.csv");
    assert_within("passive_cable", &worst);
}

#[test]
fn ball_and_stick_matches_neuron() {
    let worst = check_case("ball_and_stick", &[], "trace.csv", "spikes.csv");
    assert_within("ball_and_stick", &worst);
}

#[test]
fn y_tree_matches_neuron() {
    let worst = check_case("y_tree", &[], "trace.csv", "spikes.csv");
    assert_within("y_tree", &worst);
}

#[test]
fn syn_pair_matches_neuron() {
    let worst = check_case("syn_pair", &[], "trace.csv", "spikes.csv");
    assert_within("syn_pair", &worst);
}

/// The channels of the standard library beyond hh (Hay et al. 2011 Ca_HVA, SK_E2, Ih,
/// CaDynamics_E2) and the Markov-scheme K channel, each against NEURON with its own mod file.
#[test]
fn standard_library_channels_match_neuron() {
    for case in ["cadyn", "ca_hva", "ca_hva_eca", "sk", "ih", "kinetic_k", "ca_sk"] {
        let worst = check_case(case, &[], "trace.csv", "spikes.csv");
        assert_within(case, &worst);
    }
}

/// The realistic example: the CA1 reconstruction with hh, Ih rising with distance,
/// Ca_HVA with calcium dynamics and SK (`examples/neuron/pyramidal.syl`).
#[test]
fn pyramidal_cell_matches_neuron() {
    let worst = check_case("pyramidal", &[], "trace.csv", "spikes.csv");
    assert_within("pyramidal", &worst);
}

#[test]
fn ca1_reconstruction_from_swc_matches_neuron() {
    let worst = check_case("ca1_swc", &[], "trace.csv", "spikes.csv");
    assert_within("ca1_swc", &worst);
}

#[test]
fn syn_pair_strong_synapse_matches_neuron() {
    let worst = check_case("syn_pair", &["weight=0.05uS".to_string()], "trace_w0.05.csv", "spikes_w0.05.csv");
    assert_within("syn_pair w0.05", &worst);
}

#[test]
fn ringtest_spikes_match_neuron() {
    let (_, compilation) = compile_file("examples/bench/ringtest.syl", &[]);
    let model = compilation.model.expect("ringtest compiles");
    let mut sim = Simulation::new(&model, Options::default()).expect("compiles");
    sim.run(|_, _| {}).expect("runs");
    let expected = read_csv("tests/data/neuron/ringtest/spikes.csv");
    assert_eq!(sim.spikes.len(), 60, "NEURON gives 60 spikes per ring");
    assert_eq!(sim.spikes.len(), expected.rows.len());
    for ((gid, t), row) in sim.spikes.iter().zip(&expected.rows) {
        assert_eq!(f64::from(*gid), row[0]);
        assert!((t - row[1]).abs() < 1e-6, "spike of gid {gid} at {t}, NEURON {}", row[1]);
    }
}

/// The interpreter (the reference semantics of the kernels) and the JIT on 1 and 3 threads give
/// the same bits.
#[test]
fn interpreter_and_jit_on_any_thread_count_agree_bit_for_bit() {
    for (file, overrides) in
        [("examples/neuron/syn_pair.syl", vec!["weight=0.05uS".to_string()]), ("examples/bench/ringtest.syl", vec![])]
    {
        let (_, compilation) = compile_file(file, &overrides);
        let mut model = compilation.model.expect("compiles");
        model.simulation.duration = 20.0;
        let run = |options: Options| {
            let mut sim = Simulation::new(&model, options).expect("compiles");
            sim.run(|_, _| {}).expect("runs");
            (sim.columns.clone(), sim.spikes.clone())
        };
        let reference = run(Options { threads: 1, interpret: true });
        for threads in [1, 3] {
            let jit = run(Options { threads, interpret: false });
            let bits = |c: &Vec<Vec<f64>>| {
                c.iter().map(|col| col.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>()
            };
            assert_eq!(bits(&jit.0), bits(&reference.0), "{file}: traces differ with {threads} threads");
            assert_eq!(jit.1, reference.1, "{file}: spikes differ with {threads} threads");
        }
    }
}
