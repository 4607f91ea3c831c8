//! Editing an SWC morphology (`delete`, added `section`s) and moving the origin of `distance`
//! (`distance from sec(x)`): what the edits leave, where distances are measured from, and every
//! mistake reported at its place. The NEURON comparison of a published model's edits is
//! `fidelity::edited_allen_reconstruction_matches_neuron`.

use sylva_compiler::ir::Cell;
use sylva_tests::{compile_text, render};

/// Compiles `text` as a model in `tests/data/` (so `swc/…` names a test file): its one cell,
/// or the errors as (code, the text they point at).
fn compile_cell(text: &str) -> Result<Cell, Vec<(String, String)>> {
    let (db, compilation) = compile_text("tests/data/edits.syl", text, &[]);
    match compilation.model() {
        Some(model) if !compilation.has_errors() => Ok(model.cells[0].clone()),
        _ => {
            let rendered = render(&db, &compilation.diagnostics);
            let errors: Vec<(String, String)> = compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| {
                    let file = &db.get(d.primary.span.file).text;
                    let text = &file[d.primary.span.start as usize..d.primary.span.end as usize];
                    (d.code.as_str().to_string(), text.to_string())
                })
                .collect();
            assert!(!errors.is_empty(), "no model and no error:\n{rendered}");
            Err(errors)
        }
    }
}

/// A model of `morph_minimal.swc` (soma[0], apic[0] and apic[1] off the soma, dend[0]) with
/// `edits` in its `swc` block and `cell` lines in its cell.
fn minimal(edits: &str, cell: &str) -> String {
    format!(
        "import pas\nmorphology m = swc(\"swc/morph_minimal.swc\") {{\n    nseg = 3\n{edits}\n}}\n\
         cell c {{\n    morphology = m\n    insert pas in all\n{cell}\n}}\n\
         network main {{ population cells = c[1] }}\nsimulation {{ dt = 0.025 ms, duration = 1 ms }}\n"
    )
}

fn names(cell: &Cell) -> Vec<&str> {
    cell.section_names.iter().map(String::as_str).collect()
}

#[test]
fn edits_apply_in_order_and_added_sections_join_their_type() {
    let plain = compile_cell(&minimal("", "")).expect("compiles");
    assert_eq!(names(&plain), ["soma[0]", "apic[0]", "apic[1]", "dend[0]"]);

    // The apical sections replaced by one added section: an `apic` by its name, with the
    // morphology's nseg, attached where it says.
    let text = minimal("    delete apic\n    section apic[0] at soma(1) { length = 100 um, diam = 2 um }", "");
    let cell = compile_cell(&text).expect("compiles");
    assert_eq!(names(&cell), ["soma[0]", "dend[0]", "apic[0]"]);
    let added = &cell.tree.sections[2];
    assert_eq!((added.nseg, added.length_um, added.parent), (3, 100.0, Some((0, 1.0))));
    assert_eq!(added.kind, sylva_compiler::morph::SectionKind::Apic);

    // A section deleted takes those attached below it; a name that is no type has no type.
    let text = minimal(
        "    delete dend[0]\n    section stub at soma(0) { length = 10 um, diam = 1 um, nseg = 1 }\n    \
         section tip at stub { length = 5 um, diam = 1 um }\n    delete stub",
        "",
    );
    assert_eq!(names(&compile_cell(&text).expect("compiles")), ["soma[0]", "apic[0]", "apic[1]"]);
    let text = minimal("    section stub at dend[0](0.5) { length = 10 um, diam = 1 um }", "");
    let cell = compile_cell(&text).expect("compiles");
    assert_eq!(cell.tree.sections[4].kind, sylva_compiler::morph::SectionKind::Other(0));
}

/// Path distances from a chosen origin, through the common ancestor: a soma (20 µm) with `a`
/// (100 µm) at its end and `b` (50 µm) at its start.
#[test]
fn distance_is_measured_from_the_chosen_origin() {
    let cell = |origin: &str| {
        let text = format!(
            "import pas\ncell c {{\n    morphology {{\n        section soma {{ length = 20 um, diam = 20 um }}\n        \
             section a at soma(1) {{ length = 100 um, diam = 2 um, nseg = 4 }}\n        \
             section b at soma(0) {{ length = 50 um, diam = 2 um, nseg = 2 }}\n    }}\n    {origin}\n    \
             insert pas in all\n}}\nnetwork main {{ population cells = c[1] }}\n\
             simulation {{ dt = 0.025 ms, duration = 1 ms }}\n"
        );
        compile_cell(&text).expect("compiles")
    };
    let tree = |origin: &str| cell(origin).tree;
    let soma_middle = tree("");
    let from_a_end = tree("distance from a(1)");
    let from_b_start = tree("distance from b(0)");
    // (section, x, from soma(0.5), from a(1), from b(0))
    let expected = [
        (0, 0.5, 0.0, 110.0, 10.0),
        (1, 0.25, 35.0, 75.0, 45.0),
        (1, 1.0, 110.0, 0.0, 120.0),
        (2, 0.5, 35.0, 145.0, 25.0),
        (2, 0.0, 10.0, 120.0, 0.0),
    ];
    for (section, x, d_soma, d_a, d_b) in expected {
        assert_eq!(soma_middle.path_distance_um(section, x), d_soma, "{section}({x}) from soma(0.5)");
        assert_eq!(from_a_end.path_distance_um(section, x), d_a, "{section}({x}) from a(1)");
        assert_eq!(from_b_start.path_distance_um(section, x), d_b, "{section}({x}) from b(0)");
    }
    // Every node's distance follows the origin (what `distance` in an insert reads).
    for node in &from_a_end.nodes {
        assert_eq!(node.distance_um, from_a_end.path_distance_um(node.section as usize, node.x));
    }
    // Locations by distance from a(1): on `a` itself, back towards the soma (a(0.75), segment 3
    // of 4); on `b`, beyond the whole soma (b(0.2), segment 0 of 2).
    let detector_at = |location: &str| {
        let c = cell(&format!("distance from a(1)\n    detector at {location} threshold -20 mV"));
        let node = &c.tree.nodes[c.detector.expect("a detector").node as usize];
        (node.section, node.x)
    };
    assert_eq!(detector_at("a(distance = 25 um)"), (1, 0.875));
    assert_eq!(detector_at("b(distance = 130 um)"), (2, 0.25));
    assert_eq!(detector_at("soma(distance = 105 um)"), (0, 0.5));
    let errors = compile_cell(
        "import pas\ncell c {\n    morphology { section soma { length = 20 um, diam = 20 um } }\n    \
         distance from soma(0)\n    detector at soma(distance = 30 um) threshold -20 mV\n}\n\
         network main { population cells = c[1] }\nsimulation { dt = 0.025 ms, duration = 1 ms }\n",
    );
    assert_eq!(errors.err(), Some(vec![("E0502".to_string(), "30 um".to_string())]));
}

#[test]
fn every_mistake_of_an_edit_or_an_origin_is_reported_at_its_place() {
    let error = |code: &str, text: &str| vec![(code.to_string(), text.to_string())];
    let edits = |edits: &str| compile_cell(&minimal(edits, "")).err().unwrap_or_default();
    assert_eq!(edits("    delete soma"), error("E0210", "delete soma"));
    assert_eq!(edits("    delete axons"), error("E0507", "axons"));
    assert_eq!(edits("    section extra { length = 10 um, diam = 1 um }"), error("E0210", "extra"));
    assert_eq!(
        edits("    section extra at dend[0](distance = 3 um) { length = 10 um, diam = 1 um }"),
        error("E0210", "3 um")
    );
    assert_eq!(edits("    section dend[0] at soma(1) { length = 10 um, diam = 1 um }"), error("E0202", "dend[0]"));
    assert_eq!(
        edits("    delete dend\n    section extra at dend[0](1) { length = 10 um, diam = 1 um }"),
        error("E0501", "dend[0]")
    );
    assert_eq!(edits("    section extra at soma(1) { length = -1 um, diam = 1 um }"), error("E0503", "-1 um"));

    let origin = |line: &str| compile_cell(&minimal("", line)).err().unwrap_or_default();
    assert_eq!(origin("    distance from apic[1](0)"), Vec::new());
    assert_eq!(origin("    distance from apic[7](0)"), error("E0507", "apic[7]"));
    assert_eq!(origin("    distance from apic[1](2)"), error("E0502", "2"));
    assert_eq!(origin("    distance from apic(distance = 2 um)"), error("E0211", "2 um"));
    assert_eq!(origin("    distance from soma(0.5)\n    distance from apic[0](0)"), error("E0202", "apic[0](0)"));
}
