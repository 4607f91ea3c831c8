//! Snapshots of `--emit ir` for the reference examples, and checks of the numbers in it that
//! the NEURON specs state (areas, axial resistances, node counts).

use sylva_tests::compile_file;

#[test]
fn ir_snapshots_of_the_reference_examples() {
    for case in ["hh_soma", "passive_cable", "ball_and_stick", "y_tree", "syn_pair"] {
        let (_, compilation) = compile_file(&format!("examples/neuron/{case}.syl"), &[]);
        let model = compilation.model.unwrap_or_else(|| panic!("{case} compiles"));
        insta::assert_snapshot!(format!("ir_{case}"), sylva_compiler::ir::print(&model));
    }
}

#[test]
fn ball_and_stick_tree_matches_neuron_discretization() {
    let (_, compilation) = compile_file("examples/neuron/ball_and_stick.syl", &[]);
    let model = compilation.model.expect("compiles");
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
    let model = compilation.model.expect("compiles");
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
