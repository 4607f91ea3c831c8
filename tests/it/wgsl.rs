//! Snapshots of the WGSL the GPU engine generates (built as naga modules, validated, then
//! written by naga), for reference examples that cover the standard library's mechanisms, for
//! both GPU strategies, and for cells coupled by a gap junction or a graded synapse (a step in
//! three passes), and the reverse kernel of a gradient.

use sylva_compiler::ir::Precision;
use sylva_runtime::gpu::Strategy;
use sylva_tests::compile_file;

#[test]
fn wgsl_snapshots() {
    for (case, precision, strategy) in [
        ("hh_soma", Precision::F64, Strategy::Thread),
        ("syn_pair", Precision::F64, Strategy::Thread),
        ("kinetic_k", Precision::F64, Strategy::Thread),
        ("ca_sk", Precision::F64, Strategy::Thread),
        ("ih", Precision::F64, Strategy::Thread),
        ("hh_soma", Precision::F32, Strategy::Thread),
        ("y_tree", Precision::F64, Strategy::Workgroup),
        // Coupled through `v_pre`: an entry point per pass of the step.
        ("gap_pair", Precision::F64, Strategy::Thread),
        ("graded_pair", Precision::F32, Strategy::Workgroup),
    ] {
        let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
        let artifact = compilation.artifact.unwrap_or_else(|| panic!("{case} compiles"));
        let text = sylva_runtime::gpu::wgsl(&artifact, precision, strategy).unwrap_or_else(|e| panic!("{case}: {e}"));
        // The text must be valid WGSL as naga reads it back.
        let module =
            naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| panic!("{case}: {}", e.emit_to_string(&text)));
        let mut validator =
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
        validator.validate(&module).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        let name = match strategy {
            Strategy::Workgroup => format!("wgsl_{case}_{precision:?}_workgroup"),
            _ => format!("wgsl_{case}_{precision:?}"),
        };
        insta::assert_snapshot!(name, text);
    }
}

/// The reverse kernel of a gradient on the GPU (`gpu::grad`) in f64 with two of hh's densities
/// trained, validated by naga as written and as read back: hh_soma's with one invocation per
/// cell, y_tree's with one workgroup per cell (lanes over the nodes, the transposed solve in
/// the forward's rounds; its gnabar differs by region, so gkbar is trained).
#[test]
fn reverse_wgsl_snapshot() {
    for (case, density, strategy, name) in [
        ("hh_soma", "gnabar", Strategy::Thread, "wgsl_reverse_hh_soma_F64"),
        ("y_tree", "gkbar", Strategy::Workgroup, "wgsl_reverse_y_tree_F64_workgroup"),
    ] {
        let text = reverse_wgsl(case, [density, "gl"], strategy);
        let entry = format!(
            "fn reverse_cell_type_0_(@builtin({}",
            match strategy {
                Strategy::Workgroup => "local_invocation_index) lane",
                _ => "global_invocation_id) global_id",
            }
        );
        assert!(text.contains(&entry), "{case}: one entry point per cell type, of {strategy:?}");
        insta::assert_snapshot!(name, text);
    }
}

/// The validated WGSL of `examples/neuron/<case>.syl`'s reverse kernel with hh's `densities`
/// trained, with `strategy`.
fn reverse_wgsl(case: &str, densities: [&str; 2], strategy: Strategy) -> String {
    use sylva_runtime::grad::{Problem, Trainable, Use};
    let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
    let artifact = compilation.artifact.unwrap_or_else(|| panic!("{case} compiles"));
    let hh = artifact.first_placement_of("hh").expect("hh is placed");
    let params = &artifact.model.mechanisms[artifact.placements[hh].mechanism.index()].params;
    let trainable = |name: &str| Trainable {
        uses: vec![Use::all(hh, params.iter().position(|p| p.name == name).expect("a parameter of hh") as u32)],
        ..Trainable::default()
    };
    let problem = Problem::new(&artifact, &densities.map(trainable)).expect("differentiable");
    let options = sylva_runtime::gpu::Options { strategy, ..Default::default() };
    let text = sylva_runtime::gpu::grad::reverse_wgsl(&artifact, &problem, Precision::F64, options)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let module = naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&text)));
    let mut validator =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    validator.validate(&module).unwrap_or_else(|e| panic!("{case}: {e:?}"));
    text
}

/// The reverse kernel of cells coupled by a gap junction (gap_pair, one invocation per cell):
/// two entry points per cell type, the step's replay with its advance products and the rest of
/// its adjoint, and the gather of the presynaptic voltages' cotangents from their slots.
#[test]
fn reverse_wgsl_snapshot_of_coupled_cells() {
    let text = reverse_wgsl("gap_pair", ["gkbar", "gl"], Strategy::Thread);
    for entry in ["fn reverse_cell_type_0_pass_0_(", "fn reverse_cell_type_0_pass_1_(", "fn gather_pre_cell_type_0_("] {
        assert!(text.contains(entry), "gap_pair: {entry}");
    }
    assert!(!text.contains("fn reverse_cell_type_0_("), "no single reverse entry point for coupled cells");
    insta::assert_snapshot!("wgsl_reverse_gap_pair_F64", text);
}
