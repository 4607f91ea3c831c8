//! Snapshots of `--emit ir` for the reference examples, and checks of the numbers in it that
//! the NEURON specs state (areas, axial resistances, node counts).

use sylva_tests::compile_file;

#[test]
fn ir_snapshots_of_the_reference_examples() {
    for case in ["hh_soma", "passive_cable", "ball_and_stick", "y_tree", "syn_pair", "gap_pair"] {
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

/// `--emit ir` of the training example: every trainable with where it goes, its start value and
/// range, the target with its resolved path and column, the settings.
#[test]
fn ir_snapshot_of_the_training_example() {
    let (_, compilation) = compile_file("examples/train/fit_hh.syl", &[]);
    let model = compilation.artifact.map(|a| a.model).expect("fit_hh compiles");
    let printed = sylva_compiler::ir::print(&model);
    let train = &printed[printed.find("\ntrain ").expect("a train section")..];
    insta::assert_snapshot!("ir_train_fit_hh", train);
}

/// Each kind of trainable resolves to its typed place; defaults and the column rule hold.
#[test]
fn trainables_resolve_to_density_synapse_and_stimulus_parameters() {
    use sylva_compiler::ir::{DensityId, Optimizer, ParamId, StimulusId, SynapseId, TrainedParam};
    let text = r#"import hh
import pas
import iclamp
import exp2syn
cell a {
    morphology {
        section soma { length = 20 um, diam = 20 um }
        section d1 at soma(1) { length = 100 um, diam = 1 um, nseg = 2 }
        section d2 at soma(1) { length = 100 um, diam = 1 um, nseg = 3 }
    }
    insert hh in soma
    insert pas in all { g = 2e-4 S/cm2 }
    insert pas in d2 { g = 3e-4 S/cm2 }
    synapse syn = exp2syn at d1(0.5)
}
cell b {
    morphology { section soma { length = 20 um, diam = 20 um } }
    insert pas in soma
}
network main {
    population cells = a[2]
    population others = b[1]
    stimulus clamp = iclamp at cells[0].soma(0.5) { del = 1 ms, dur = 5 ms, amp = 0.1 nA }
    probe "v" = v at cells[0].soma(0.5)
    probe "w" = v at others[0].soma(0.5)
}
simulation { dt = 0.025 ms, duration = 10 ms }
train t {
    trainable a.pas.g in soma + d1
    trainable a.pas.g in d2 { init = 1e-4 S/cm2 }
    trainable b.pas.g in soma
    trainable cells.syn.tau2 { init = 5 ms }
    trainable clamp.amp
    target "v" from "data/rec.csv"
    target "w" from "/abs/rec.csv" column "w2"
    optimizer = sgd
    iterations = 3
}
"#;
    let (db, compilation) = sylva_tests::compile_text("models/t.syl", text, &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let model = compilation.artifact.map(|a| a.model).unwrap_or_else(|| panic!("{rendered}"));
    let t = model.training.expect("training");
    let places: Vec<&TrainedParam> = t.trainables.iter().map(|x| &x.param).collect();
    let a = sylva_compiler::ir::CellId(0);
    let b = sylva_compiler::ir::CellId(1);
    // The segment centres of sections soma, d1, d2 of `a`; pas is its density instance 1.
    let centres = |s: usize| model.cells[0].tree.sections[s].centres.clone();
    let mut soma_d1 = [centres(0), centres(1)].concat();
    soma_d1.sort_unstable();
    assert_eq!(
        places,
        [
            &TrainedParam::Density {
                cell: a,
                instance: DensityId(1),
                param: ParamId(0),
                nodes: soma_d1,
                profile: None
            },
            &TrainedParam::Density {
                cell: a,
                instance: DensityId(1),
                param: ParamId(0),
                nodes: centres(2),
                profile: None
            },
            &TrainedParam::Density {
                cell: b,
                instance: DensityId(0),
                param: ParamId(0),
                nodes: vec![1],
                profile: None
            },
            &TrainedParam::Synapse { cell: a, synapse: SynapseId(0), param: ParamId(1) },
            &TrainedParam::Stimulus { stimulus: StimulusId(0), param: ParamId(2) },
        ],
        "{:#?}",
        t.trainables
    );
    // Start values in internal units: the model's 2e-4 S/cm2 (= 2e-6 uS/um2), `init`, 0.1 nA.
    let inits: Vec<f64> = t.trainables.iter().map(|x| x.init).collect();
    assert!((inits[0] - 2e-6).abs() < 1e-18 && (inits[1] - 1e-6).abs() < 1e-18, "{inits:?}");
    assert_eq!((inits[3], inits[4]), (5.0, 0.1));
    assert_eq!(t.targets[0].path, "models/data/rec.csv");
    assert_eq!(t.targets[0].column, "v");
    assert_eq!((t.targets[1].path.as_str(), t.targets[1].column.as_str()), ("/abs/rec.csv", "w2"));
    assert_eq!(t.optimizer, Optimizer::Sgd { learning_rate: 0.01 });
    assert_eq!((t.iterations, t.seed), (3, 1));
}

/// The mistakes of a `train` block are each reported where they are written, all of them.
#[test]
fn train_block_mistakes_are_all_reported() {
    let text = r#"import hh
import iclamp
cell a {
    morphology { section soma { length = 20 um, diam = 20 um } }
    insert hh in soma
}
cell b {
    morphology { section soma { length = 20 um, diam = 20 um } }
    insert hh in soma
}
network main {
    population cells = a[1]
    population more = b[1]
    stimulus clamp = iclamp at cells[0].soma(0.5) { amp = 0.1 nA }
    probe "v" = v at cells[0].soma(0.5)
}
simulation { dt = 0.025 ms, duration = 10 ms }
train t {
    trainable hh.gnabar in soma
    trainable a.hh.gnabar in dend
    trainable a.hh.gkbar in soma { init = 3 mV }
    trainable a.hh.gl in soma { ini = 1 }
    trainable cells.nope.tau
    trainable clamp.ampp
    trainable a.hh.el in soma
    trainable a.hh.el in all
    target "v" from "r.csv"
    target "v" from "r.csv"
    target "x" from ""
    loss = mae
    optimizer = adam { learning_rate = -1, beta3 = 0 }
    iterations = 2.5
    seed = -1
    iteration = 3
}
"#;
    let (db, compilation) = sylva_tests::compile_text("t.syl", text, &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let codes: Vec<&str> = compilation.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "E0701", "E0701", "E0703", "E0706", "E0701", "E0701", "E0704", "E0705", "E0705", "E0706", "E0706", "E0706",
            "E0706", "E0706", "E0706"
        ],
        "{rendered}"
    );
    for needle in [
        "t.syl:19:15",
        "several cell types",
        "`hh` is not inserted here in cell `a`",
        "found a voltage (mV)",
        "did you mean `init`?",
        "no synapse `nope`",
        "did you mean `amp`?",
        "probe \"v\" has two targets",
        "did you mean `iterations`?",
    ] {
        assert!(rendered.contains(needle), "{needle}:\n{rendered}");
    }
}

/// `optimizer = lbfgs { … }`: its defaults, its settings, and each bad setting located (E0706);
/// with samples it is refused at its name (E0708).
#[test]
fn lbfgs_settings_resolve_and_their_mistakes_are_located() {
    use sylva_compiler::ir::Optimizer;
    let model = |optimizer: &str, samples: bool| {
        let fit = "    target \"v\" from \"r.csv\"\n    iterations = 5\n";
        let data = "    data = table(\"d.csv\")\n    input \"x\" -> clamp.amp\n    readout = mean \"v\" in [1 ms, 2 ms]\n    \
                    label = \"y\"\n    epochs = 2\n";
        format!(
            "import hh\nimport iclamp\ncell a {{\n    morphology {{ section soma {{ length = 20 um, diam = 20 um }} }}\n    \
             insert hh in soma\n}}\nnetwork main {{\n    population cells = a[1]\n    \
             stimulus clamp = iclamp at cells[0].soma(0.5) {{ amp = 0.1 nA }}\n    probe \"v\" = v at cells[0].soma(0.5)\n}}\n\
             simulation {{ dt = 0.025 ms, duration = 3 ms }}\ntrain t {{\n    trainable hh.gnabar in soma\n{}    \
             optimizer = {optimizer}\n}}\n",
            if samples { data } else { fit }
        )
    };
    let optimizer = |text: &str| {
        let (db, compilation) = sylva_tests::compile_text("t.syl", text, &[]);
        let rendered = sylva_tests::render(&db, &compilation.diagnostics);
        compilation
            .artifact
            .map(|a| a.model.training.expect("training").optimizer)
            .unwrap_or_else(|| panic!("{rendered}"))
    };
    let defaults = Optimizer::Lbfgs { memory: 10, gradient_tolerance: 1e-8, loss_tolerance: 1e-12 };
    assert_eq!(optimizer(&model("lbfgs", false)), defaults);
    assert_eq!(
        optimizer(&model("lbfgs { memory = 4, gradient_tolerance = 0, loss_tolerance = 1e-9 }", false)),
        Optimizer::Lbfgs { memory: 4, gradient_tolerance: 0.0, loss_tolerance: 1e-9 }
    );
    for (setting, message) in [
        ("memory = 0", "`memory` must be a positive whole number"),
        ("memory = 2.5", "`memory` must be a positive whole number"),
        ("gradient_tolerance = -1e-3", "`gradient_tolerance` must be 0 or more"),
        ("loss_tolerance = 1 ms", "mismatched dimensions in `loss_tolerance`"),
        ("learning_rate = 0.1", "`lbfgs` has no setting `learning_rate`"),
    ] {
        let text = model(&format!("lbfgs {{ {setting} }}"), false);
        let (db, compilation) = sylva_tests::compile_text("t.syl", &text, &[]);
        let rendered = sylva_tests::render(&db, &compilation.diagnostics);
        let codes: Vec<&str> = compilation.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert!(codes.iter().all(|c| *c == "E0706" || *c == "E0302") && !codes.is_empty(), "{setting}: {rendered}");
        assert!(rendered.contains(message) && rendered.contains("t.syl:17:"), "{setting}: {rendered}");
    }
    let (db, compilation) = sylva_tests::compile_text("t.syl", &model("lbfgs", true), &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let codes: Vec<&str> = compilation.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0708"], "{rendered}");
    assert!(
        rendered.contains("`lbfgs` in a `train` block with samples") && rendered.contains("t.syl:20:17"),
        "{rendered}"
    );
}

/// `insert pas in soma + dend` places pas on the union of the regions: the same nodes and values
/// as the two inserts written apart; an unknown region in the union is reported at its name.
#[test]
fn an_insert_covers_a_union_of_regions() {
    let cell = |inserts: &str| {
        format!(
            "import pas\n\ncell c {{\n    morphology {{\n        section soma {{ length = 20 um, diam = 20 um }}\n        \
             section dend at soma(1) {{ length = 100 um, diam = 1 um, nseg = 3 }}\n        \
             section axon at soma(0) {{ length = 50 um, diam = 1 um, nseg = 2 }}\n    }}\n{inserts}}}\n"
        )
    };
    let density = |text: &str| {
        let (db, compilation) = sylva_tests::compile_text("union.syl", text, &[]);
        let artifact =
            compilation.artifact.unwrap_or_else(|| panic!("{}", sylva_tests::render(&db, &compilation.diagnostics)));
        artifact.model.cells[0].density.iter().map(|d| (d.nodes.clone(), d.params.clone())).collect::<Vec<_>>()
    };
    let union = density(&cell("    insert pas in soma + dend { g = 1e-4 S/cm2 }\n"));
    let apart =
        density(&cell("    insert pas in soma { g = 1e-4 S/cm2 }\n    insert pas in dend { g = 1e-4 S/cm2 }\n"));
    assert_eq!(union, apart);
    assert_eq!(union[0].0.len(), 4, "the soma's node and the dendrite's three: {:?}", union[0].0);
    let (db, compilation) = sylva_tests::compile_text("union.syl", &cell("    insert pas in soma + dned\n"), &[]);
    assert!(compilation.artifact.is_none());
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    assert!(rendered.contains("dned") && rendered.contains("E0507"), "{rendered}");
}

/// `cm` and `Ra` per region, and a density set by an expression of `distance`, trained as its
/// amplitude: where each value goes, the start values, and the mistakes (E0702, E0701).
#[test]
fn membrane_properties_and_distance_amplitudes_resolve() {
    use sylva_compiler::ir::TrainedParam;
    let text = r#"import pas
import iclamp
cell a {
    morphology {
        section soma { length = 20 um, diam = 20 um }
        section dend at soma(1) { length = 300 um, diam = 1 um, nseg = 3 }
    }
    cm in dend = 2 uF/cm2
    Ra = 150 ohm*cm
    insert pas in all { g = 1e-4 S/cm2 }
    insert pas in dend { g = 2e-4 S/cm2 * exp(distance / 100 um) }
}
network main {
    population cells = a[1]
    stimulus clamp = iclamp at cells[0].soma(0.5) { del = 1 ms, dur = 5 ms, amp = 0.1 nA }
    probe "v" = v at cells[0].soma(0.5)
}
simulation { dt = 0.025 ms, duration = 10 ms }
train t {
    trainable pas.g in dend { init = 3e-4 S/cm2 }
    trainable cm in dend
    trainable a.Ra in soma + dend { init = 120 ohm*cm }
    target "v" from "rec.csv"
    iterations = 3
}
"#;
    let (db, compilation) = sylva_tests::compile_text("models/t.syl", text, &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let model = compilation.artifact.map(|a| a.model).unwrap_or_else(|| panic!("{rendered}"));
    let t = model.training.as_ref().expect("training");
    let tree = &model.cells[0].tree;
    let dend = tree.sections[1].centres.clone();
    // The amplitude: 2e-4 S/cm2 (2e-6 uS/um2 internal), each node e^(distance/100 um) of it.
    let TrainedParam::Density { nodes, profile: Some(profile), .. } = &t.trainables[0].param else {
        panic!("a profile: {:?}", t.trainables[0].param)
    };
    assert_eq!(nodes, &dend);
    for (n, f) in nodes.iter().zip(profile) {
        let expected = (tree.nodes[*n as usize].distance_um / 100.0).exp();
        assert!((f - expected).abs() < 1e-12 * expected, "node {n}: {f} vs {expected}");
    }
    assert!((t.trainables[0].init - 3e-6).abs() < 1e-20, "init {}", t.trainables[0].init);
    assert_eq!(t.trainables[1].param, TrainedParam::Capacitance { cell: sylva_compiler::ir::CellId(0), nodes: dend });
    assert!((t.trainables[1].init - 2e-5).abs() < 1e-20, "2 uF/cm2 = 2e-5 nF/um2: {}", t.trainables[1].init);
    // Ra: every node with a parent, each resistance 1/150 ohm*cm of the model's.
    let TrainedParam::AxialResistivity { nodes, resistance, .. } = &t.trainables[2].param else { panic!("Ra") };
    assert_eq!(nodes.len(), tree.nodes.len() - 1);
    for (n, r) in nodes.iter().zip(resistance) {
        let model_r = tree.nodes[*n as usize].r_to_parent_mohm;
        assert!((r * 150.0 * 1e-2 - model_r).abs() < 1e-12 * model_r, "node {n}");
    }

    let mistakes = text
        .replace("trainable pas.g in dend { init = 3e-4 S/cm2 }", "trainable pas.g in all")
        .replace("trainable cm in dend", "trainable cm in all\n    trainable Ra\n    trainable cm in nowhere")
        .replace("trainable a.Ra in soma + dend { init = 120 ohm*cm }", "trainable Ra in all { init = 0 ohm*cm }");
    let (db, compilation) = sylva_tests::compile_text("t.syl", &mistakes, &[]);
    let rendered = sylva_tests::render(&db, &compilation.diagnostics);
    let codes: Vec<&str> = compilation.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0702", "E0702", "E0701", "E0701"], "{rendered}");
    for needle in [
        "inserts with different values at distance 0",
        "`cm` varies",
        "`Ra` is trained per region",
        "no region `nowhere`",
    ] {
        assert!(rendered.contains(needle), "{needle}:\n{rendered}");
    }
}
