//! Models that would not fit or not finish are refused before anything of their size is
//! allocated, with the figure, at the value responsible (issue 16). Each case here used to
//! abort allocating, hang, or check "ok".

use sylva_compiler::diagnostics::Code;
use sylva_tests::{compile_text, render};

/// A soma and a dendrite, with the pieces each case changes.
fn model(dend: &str, ra: &str, network: &str, simulation: &str) -> String {
    format!(
        "import pas\n\
         param n = 1\n\
         cell c {{\n\
             morphology {{\n\
                 section soma {{ length = 20 um, diam = 20 um }}\n\
                 section dend at soma(1) {{ length = 500 um, diam = 1 um, {dend} }}\n\
             }}\n\
             Ra = {ra}\n\
             insert pas in all\n\
         }}\n\
         network main {{\n\
             population cells = c[n]\n\
             {network}\n\
             probe \"v\" = v at cells[0].soma(0.5)\n\
         }}\n\
         simulation {{ {simulation} }}\n"
    )
}

const DEND: &str = "d_lambda = 0.1";
const RA: &str = "100 ohm*cm";
const SIM: &str = "dt = 0.025 ms, duration = 10 ms";

/// Compiles; returns the rendered diagnostics and whether there were errors.
fn check(text: &str, overrides: &[&str]) -> (String, Vec<Code>) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let (db, compilation) = compile_text("limits.syl", text, &overrides);
    let codes = compilation.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
    (render(&db, &compilation.diagnostics), codes)
}

#[track_caller]
fn refused(text: &str, overrides: &[&str], expected: &[&str]) {
    let (rendered, errors) = check(text, overrides);
    assert_eq!(errors, [Code::TooLarge], "{rendered}");
    for e in expected {
        assert!(rendered.contains(e), "expected `{e}` in:\n{rendered}");
    }
}

#[test]
fn a_tiny_d_lambda_or_a_huge_ra_is_refused_before_discretizing() {
    refused(
        &model("d_lambda = 1e-12", RA, "", SIM),
        &[],
        &["this cell would have 1.77e12 compartments", "d_lambda = 1e-12", "limit of 1e6"],
    );
    let (rendered, _) = check(&model(DEND, "1e20 ohm*cm", "", SIM), &[]);
    assert!(rendered.contains("this cell would have 1.77e10 compartments"), "{rendered}");
    assert!(rendered.contains("warning[W0005]: `Ra` = 1e20 ohm*cm is far outside"), "{rendered}");
    // 100 Gohm*cm (for 100 ohm*cm) used to check "ok" with millions of compartments.
    let long = model("d_lambda = 0.1", "100 Gohm*cm", "", SIM).replace("length = 500 um", "length = 5000 um");
    refused(&long, &[], &["compartments", "Ra = 1e11 ohm*cm"]);
}

#[test]
fn a_cell_of_many_compartments_is_warned_about() {
    let (rendered, errors) = check(&model("nseg = 200001", RA, "", SIM), &[]);
    assert!(errors.is_empty(), "{rendered}");
    assert!(rendered.contains("warning[W0005]: cell `c` has 200002 compartments"), "{rendered}");
}

#[test]
fn runs_of_too_many_steps_are_refused_at_dt_or_duration() {
    refused(
        &model(DEND, RA, "", "dt = 0.025 ms, duration = 1e12 ms"),
        &[],
        &["the run would take 4e13 time steps, more than the limit of 1e9", "duration = 1e12 ms"],
    );
    refused(&model(DEND, RA, "", "dt = 1e-9 ms, duration = 10 ms"), &[], &["1e10 time steps", "dt = 1e-9 ms"]);
    // Used to hang (the step count saturated and overflowed).
    refused(&model(DEND, RA, "", "dt = 1e-300 ms, duration = 10 ms"), &[], &["1e301 time steps"]);
}

#[test]
fn recording_too_many_values_is_refused() {
    let probes: String = (0..20).map(|i| format!("probe \"v{i}\" = v at cells[0].dend(0.5)\n")).collect();
    refused(
        &model(DEND, RA, &probes, "dt = 0.001 ms, duration = 1e6 ms"),
        &[],
        &["the run would record 2.2e10 values (176 GB), more than the limit of 1e10", "21 probes"],
    );
}

#[test]
fn populations_beyond_the_network_limit_are_refused() {
    // The compartments are counted, not the cells built: 2^31 cells check at once.
    refused(&model(DEND, RA, "", SIM), &["n=2147483648"], &["the network would have", "2.15e9 cells of"]);
    let ring = std::fs::read_to_string(sylva_tests::repo().join("examples/bench/ringtest.syl")).expect("example");
    refused(&ring, &["rings=1e7"], &["the network would have 9.7e9 compartments", "1e8 cells of 97 compartments"]);
}

#[test]
fn sources_that_would_fire_too_often_are_refused() {
    let poisson = "source s = poisson(rate = 1e12 Hz, seed = 1, start = 0 ms, stop = 100 ms)";
    refused(&model(DEND, RA, poisson, SIM), &[], &["would fire 1e10 spikes", "`s` fires 1e10 spikes in 10 ms"]);
    let regular = "source s = regular(start = 0 ms, interval = 1e-12 ms, stop = 100 ms)";
    refused(&model(DEND, RA, regular, SIM), &[], &["would fire 1e13 spikes"]);
}

/// Checking is linear in the number of top-level parameters (20,000 took 18 s; the timings
/// are in docs/performance.md): each resolves its names by lookup, not by a scan of all.
#[test]
fn twenty_thousand_parameters_check() {
    let mut text = String::from("param p0: mV = 0\n");
    text.extend((1..20_000).map(|i| format!("param p{i}: mV = p{} + 1 mV\n", i - 1)));
    let (db, compilation) = compile_text("params.syl", &text, &["p0=1".to_string()]);
    let model =
        compilation.artifact.map(|a| a.model).unwrap_or_else(|| panic!("{}", render(&db, &compilation.diagnostics)));
    assert_eq!(model.params.len(), 20_000);
    assert_eq!(model.params.last().map(|p| p.value), Some(20_000.0));
}
