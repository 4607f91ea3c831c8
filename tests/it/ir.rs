//! Snapshots of `--emit ir` for the reference examples, and checks of the numbers in it that
//! the NEURON specs state (areas, axial resistances, node counts).

use sylva_tests::compile_file;

#[test]
fn ir_snapshots_of_the_reference_examples() {
    for case in ["hh_soma", "passive_cable", "ball_and_stick", "y_tree", "syn_pair"] {
        let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
        let model = compilation.artifact.map(|a| a.model).unwrap_or_else(|| panic!("{case} compiles"));
        insta::assert_snapshot!(format!("ir_{case}"), sylva_compiler::ir::print(&model));
    }
}

#[test]
fn ball_and_stick_tree_matches_neuron_discretization() {
    let (_, compilation) = compile_file("examples/neuron/ball_and_stick.syl", &[]);
    let model = compilation.artifact.map(|a| a.model).expect("compiles");
    let cell = &model.cells[0];
    assert_eq!(cell.tree.nodes.len(), 25);
    let soma_area: f64 = cell.tree.nodes.iter().filter(|n| n.section == 0).map(|n| n.area_um2).sum();
    assert!((soma_area - 1256.637).abs() < 1e-3, "{soma_area}");
    let dend: Vec<_> = cell.tree.nodes.iter().filter(|n| n.area_um2 > 0.0 && n.section == 1).collect();
    assert_eq!(dend.len(), 21);
    assert!(dend.iter().all(|n| (n.area_um2 - 74.79983).abs() < 1e-4));
}

#[test]
fn hh_conductance_is_the_symbolic_derivative_of_its_current() {
    let (_, compilation) = compile_file("examples/neuron/hh_soma.syl", &[]);
    let model = compilation.artifact.map(|a| a.model).expect("compiles");
    let hh = model.mechanisms.iter().find(|m| m.name == "hh").expect("hh");
    for current in &hh.currents {
        // Evaluate I and dI/dv at a few points with made-up states and compare to a central
        // difference.
        let leaf = |v: f64| {
            move |e: sylva_compiler::ir::expr::Expr| match e {
                sylva_compiler::ir::expr::Expr::Builtin(sylva_compiler::ir::expr::Builtin::V) => v,
                sylva_compiler::ir::expr::Expr::Param(i) => hh.params[i as usize].default,
                sylva_compiler::ir::expr::Expr::State(_) => 0.3,
                sylva_compiler::ir::expr::Expr::Ion(_, _) => 10.0,
                _ => 6.3,
            }
        };
        for v in [-80.0, -65.0, -20.0, 30.0] {
            let fd =
                (hh.exprs.eval(current.value, &leaf(v + 1e-4)) - hh.exprs.eval(current.value, &leaf(v - 1e-4))) / 2e-4;
            let exact = hh.exprs.eval(current.conductance, &leaf(v));
            assert!((fd - exact).abs() <= 1e-7 * (1.0 + exact.abs()), "{} at {v}: {fd} vs {exact}", current.name);
        }
    }
}

#[test]
fn parameters_can_vary_with_distance_from_the_root() {
    let text = r#"
import pas
cell c {
    morphology {
        section soma { length = 20 um, diam = 20 um }
        section dend at soma(1) { length = 400 um, diam = 2 um, nseg = 4 }
    }
    insert pas in all { g = 1e-4 S/cm2 * exp(distance / 100 um) }
}
"#;
    let (db, compilation) = sylva_tests::compile_text("distance.syl", text, &[]);
    let model = compilation
        .artifact
        .map(|a| a.model)
        .unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let cell = &model.cells[0];
    let pas = &cell.density[0];
    let g = match &pas.params[0] {
        sylva_compiler::ir::ParamValue::PerNode(values) => values.clone(),
        other => panic!("expected per-node values, got {other:?}"),
    };
    let s_per_cm2 = sylva_compiler::units::parse_unit("S/cm2").expect("unit").scale;
    for (node, value) in pas.nodes.iter().zip(&g) {
        let d = cell.tree.nodes[*node as usize].distance_um;
        let expected = 1e-4 * s_per_cm2 * (d / 100.0).exp();
        assert!((value - expected).abs() <= 1e-12 * expected, "node {node} at {d} um: {value} vs {expected}");
    }
    // Soma centre at distance 0; dend centres at 10 + 50, 150, 250, 350 µm.
    let distances: Vec<f64> = pas.nodes.iter().map(|n| cell.tree.nodes[*n as usize].distance_um).collect();
    assert_eq!(distances, [0.0, 60.0, 160.0, 260.0, 360.0]);
}

#[test]
fn locations_by_distance_from_the_soma() {
    let text = r#"
import hh
import exp2syn
cell c {
    morphology = swc("tests/data/swc/morph_ca1_n120.swc") { d_lambda = 0.1 }
    insert hh in all
    synapse near = exp2syn at apic(distance = 300 um)
    synapse far = exp2syn at dend(distance = 150 um)
}
"#;
    let (db, compilation) = sylva_tests::compile_text("distance.syl", text, &[]);
    let model = compilation
        .artifact
        .map(|a| a.model)
        .unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
    let cell = &model.cells[0];
    for (synapse, region, target) in [(0, "apic[", 300.0), (1, "dend[", 150.0)] {
        let node = &cell.tree.nodes[cell.synapses[synapse].node as usize];
        let section = node.section as usize;
        assert!(cell.section_names[section].starts_with(region), "{}", cell.section_names[section]);
        // The node is the centre of the segment that contains the point at that distance.
        let segment = cell.tree.sections[section].length_um / f64::from(cell.tree.sections[section].nseg);
        assert!((node.distance_um - target).abs() <= segment / 2.0 + 1e-9, "{} vs {target}", node.distance_um);
    }
    // Out of reach: a located error.
    let (_, broken) = sylva_tests::compile_text("distance.syl", &text.replace("300 um", "5000 um"), &[]);
    let first = broken.diagnostics.iter().find(|d| d.is_error()).expect("an error");
    assert_eq!(first.code.as_str(), "E0502");
}
