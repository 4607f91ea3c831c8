//! Snapshots of the WGSL the GPU engine generates (built as naga modules, validated, then
//! written by naga), for reference examples that cover the standard library's mechanisms, for
//! both GPU strategies, and for cells coupled by a gap junction or a graded synapse (a step in
//! three passes).

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
