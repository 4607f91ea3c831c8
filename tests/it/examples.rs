//! Every example (its `.mod` files included) and every standard-library module compiles
//! without errors or warnings.

use sylva_tests::{compile_file, files_with_extension, render};

#[test]
fn every_example_checks_cleanly() {
    let files = files_with_extension("examples", "syl");
    assert!(files.len() >= 9, "expected the shipped examples, found {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let (db, compilation) = compile_file(file, &[]);
        if !compilation.diagnostics.is_empty() || compilation.artifact.is_none() {
            failures.push(format!("{file}:\n{}", render(&db, &compilation.diagnostics)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The NMODL files the examples import check cleanly on their own too (`sylva check x.mod`).
#[test]
fn every_example_mod_file_checks_cleanly() {
    let files = files_with_extension("examples", "mod");
    assert!(!files.is_empty(), "expected the .mod files of examples/nmodl");
    for file in &files {
        let (db, compilation) = compile_file(file, &[]);
        assert!(
            compilation.diagnostics.is_empty() && compilation.artifact.is_some(),
            "{file}:\n{}",
            render(&db, &compilation.diagnostics)
        );
    }
}

#[test]
fn every_stdlib_module_checks_cleanly() {
    for module in sylva_compiler::stdlib::names() {
        let text = format!("import {module}\n");
        let (db, compilation) = sylva_tests::compile_text("stdlib_check.syl", &text, &[]);
        let errors: Vec<_> = compilation.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
        assert!(errors.is_empty(), "std module {module}:\n{}", render(&db, &errors));
    }
}

#[test]
fn reference_examples_have_probes_named_like_the_reference_columns() {
    let cases = files_with_extension("examples/neuron", "syl");
    assert!(cases.len() >= 13, "{cases:?}");
    for file in cases {
        let case = file.trim_start_matches("examples/neuron/").trim_end_matches(".syl");
        let (_, compilation) = compile_file(&file, &[]);
        let model = compilation.artifact.map(|a| a.model).unwrap_or_else(|| panic!("{case} compiles"));
        let path = sylva_tests::repo().join(format!("tests/data/neuron/{case}/trace.csv"));
        let header = std::fs::read_to_string(path).expect("reference data");
        let columns: Vec<&str> = header.lines().next().expect("header").split(',').skip(1).collect();
        let probes: Vec<&str> = model.network.probes.iter().map(|p| p.label.as_str()).collect();
        // Every probe is a column and every column a probe, in the same order.
        assert_eq!(probes, columns, "{case}");
    }
}

#[test]
fn ringtest_scales_with_the_rings_parameter() {
    let (_, small) = compile_file("examples/bench/ringtest.syl", &[]);
    let (_, big) = compile_file("examples/bench/ringtest.syl", &["rings=103".to_string()]);
    let (small, big) =
        (small.artifact.map(|a| a.model).expect("compiles"), big.artifact.map(|a| a.model).expect("compiles"));
    assert_eq!(small.cell_count(), 10);
    assert_eq!(big.cell_count(), 1030);
    // 1 soma + 6 branches of 16 segments per cell, as in the NEURON benchmark.
    let cell = &big.cells[0];
    let membrane = cell.tree.nodes.iter().filter(|n| n.area_um2 > 0.0).count();
    assert_eq!(membrane, 97);
}
