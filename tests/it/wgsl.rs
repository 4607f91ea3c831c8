//! Snapshots of the WGSL the GPU engine generates (built as naga modules, validated, then
//! written by naga), for reference examples that cover the standard library's mechanisms.

use sylva_compiler::ir::Precision;
use sylva_tests::compile_file;

#[test]
fn wgsl_snapshots() {
    for (case, precision) in [
        ("hh_soma", Precision::F64),
        ("syn_pair", Precision::F64),
        ("kinetic_k", Precision::F64),
        ("ca_sk", Precision::F64),
        ("ih", Precision::F64),
        ("hh_soma", Precision::F32),
    ] {
        let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
        let model = compilation.model.unwrap_or_else(|| panic!("{case} compiles"));
        let text = sylva_runtime::gpu::wgsl(&model, precision).unwrap_or_else(|e| panic!("{case}: {e}"));
        // The text must be valid WGSL as naga reads it back.
        let module =
            naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| panic!("{case}: {}", e.emit_to_string(&text)));
        let mut validator =
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
        validator.validate(&module).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        insta::assert_snapshot!(format!("wgsl_{case}_{precision:?}"), text);
    }
}
