//! Snapshots of `--emit kernels` (the artifact the engines run) for the reference examples
//! whose IR `ir.rs` snapshots (`gap_pair`: a kernel reading `v_pre`).

use sylva_tests::compile_file;

#[test]
fn kernel_snapshots_of_the_reference_examples() {
    for case in ["hh_soma", "passive_cable", "ball_and_stick", "y_tree", "syn_pair", "gap_pair"] {
        let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
        let artifact = compilation.artifact.unwrap_or_else(|| panic!("{case} compiles"));
        insta::assert_snapshot!(format!("kernels_{case}"), sylva_compiler::artifact::print(&artifact));
    }
}
