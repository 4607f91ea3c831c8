//! Hover, definition, symbols and completion on small models. A `$0` in a model marks the
//! cursor.

use super::*;
use crate::driver::{Loader, compile};

struct NoFiles;

impl Loader for NoFiles {
    fn read(&mut self, path: &str) -> Result<String, String> {
        Err(format!("no file `{path}` in tests"))
    }
}

/// Compiles `text` (with `$0` removed) and returns the database, compilation, root and cursor.
fn setup(text: &str) -> (SourceDb, Compilation, FileId, u32) {
    let cursor = text.find("$0").expect("a $0 cursor") as u32;
    let text = text.replacen("$0", "", 1);
    let mut db = SourceDb::new();
    let root = db.add("model.syl", text);
    let compilation = compile(&mut db, root, &mut NoFiles, &[]);
    (db, compilation, root, cursor)
}

fn hover_at(text: &str) -> String {
    let (db, c, root, cursor) = setup(text);
    hover(&db, &c, root, cursor).map(|h| h.text).unwrap_or_default()
}

const CHANNEL: &str = r#"
import hh

/// A potassium leak.
density kleak {
    ion k { read ek, write ik }
    /// Leak conductance density.
    param gk: S/cm2 = 1e-4 in [0, inf]
    state w: 1 = 0
    w' = (1 - w) / 10 ms
    let g = gk * w
    ik = g * (v - ek)
}

cell c {
    morphology {
        section soma { length = 10 um, diam = 10 um, nseg = 1 }
    }
    insert kleak in soma { gk = 2e-4 S/cm2 }
    insert hh in soma
}
"#;

fn with_cursor(text: &str, needle: &str, shift: usize) -> String {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` in the model")) + shift;
    format!("{}$0{}", &text[..at], &text[at..])
}

#[test]
fn hover_on_a_parameter_shows_unit_default_range_and_doc() {
    let text = hover_at(&with_cursor(CHANNEL, "gk * w", 1));
    assert!(text.contains("**gk**: parameter of density mechanism `kleak`"), "{text}");
    assert!(text.contains("unit: `S/cm2` (a conductance density"), "{text}");
    assert!(text.contains("default: `1e-4`"), "{text}");
    assert!(text.contains("range: `[0, inf]`"), "{text}");
    assert!(text.contains("Leak conductance density."), "{text}");
    assert!(text.contains("here: a conductance density"), "{text}");
}

#[test]
fn hover_on_a_property_of_an_insert_shows_the_mechanism_parameter() {
    let text = hover_at(&with_cursor(CHANNEL, "gk = 2e-4", 0));
    assert!(text.contains("**gk**: parameter of density mechanism `kleak`"), "{text}");
}

#[test]
fn hover_on_a_mechanism_summarises_it() {
    let text = hover_at(&with_cursor(CHANNEL, "hh in soma", 0));
    assert!(text.contains("**hh**: density mechanism (standard library, `std/hh.syl`)"), "{text}");
    assert!(text.contains("`gnabar: S/cm2 = 0.12`"), "{text}");
    assert!(text.contains("ions: `na` (reads ena, writes ina)"), "{text}");
}

#[test]
fn hover_on_an_expression_shows_its_dimension() {
    // The cursor on `-` of `v - ek`: the whole difference, a voltage.
    let text = hover_at(&with_cursor(CHANNEL, "- ek)", 0));
    assert!(text.contains("`(v - ek)`: a voltage (mV)"), "{text}");
    let text = hover_at(&with_cursor(CHANNEL, "* (v - ek)", 0));
    assert!(text.contains("a current density"), "{text}");
}

#[test]
fn hover_on_units_builtins_and_regions() {
    assert!(hover_at(&with_cursor(CHANNEL, "S/cm2 = 1e-4", 0)).contains("unit `S/cm2`: a conductance density"));
    assert!(hover_at(&with_cursor(CHANNEL, "v - ek", 0)).contains("the membrane potential"));
    let soma = hover_at(&with_cursor(CHANNEL, "soma { gk", 0));
    assert!(soma.contains("**soma**: section"), "{soma}");
    let ek = hover_at(&with_cursor(CHANNEL, "ek)", 0));
    assert!(ek.contains("the reversal potential of ion `k`, read by"), "{ek}");
}

#[test]
fn hover_on_the_presynaptic_voltage() {
    let gap = "point gap {\n    current i\n    param g: uS = 0.001\n    i = g * (v - $0v_pre)\n}\n";
    let text = hover_at(gap);
    assert!(text.contains("the presynaptic cell's voltage at its detector"), "{text}");
}

#[test]
fn definition_goes_to_declarations_here_and_in_the_standard_library() {
    let (db, c, root, cursor) = setup(&with_cursor(CHANNEL, "gk * w", 0));
    let span = definition(&db, &c, root, cursor).expect("a definition");
    assert_eq!(db.text(span), "gk");
    assert_eq!(span.file, root);
    assert!(span.start < cursor);

    let (db, c, root, cursor) = setup(&with_cursor(CHANNEL, "hh in soma", 1));
    let span = definition(&db, &c, root, cursor).expect("a definition");
    assert_eq!(db.get(span.file).name, "std/hh.syl");
    assert_eq!(db.text(span), "hh");

    let (db, c, root, cursor) = setup(&with_cursor(CHANNEL, "hh\n", 0));
    let span = definition(&db, &c, root, cursor).expect("the module");
    assert_eq!(db.get(span.file).name, "std/hh.syl");
    assert_eq!(span.start, 0);
}

/// Each part of a probe's path goes to its own declaration: the population, the synapse of its
/// cell, the member of the synapse's mechanism (here in the standard library); a stimulus's and
/// a density mechanism's members likewise.
#[test]
fn definition_follows_each_part_of_a_probe_path() {
    let model = r#"
import pas
import exp2syn
import iclamp

cell c {
    morphology { section soma { length = 10 um, diam = 10 um } }
    insert pas in soma
    synapse noise_syn = exp2syn at soma(0.5)
}

network main {
    population cells = c[2]
    stimulus clamp = iclamp at cells[0].soma(0.5) { amp = 0.1 nA }
    probe "g" = cells[0].noise_syn.g
    probe "i" = clamp.i
    probe "pas_i" = pas.i at cells[1].soma(0.5)
}
"#;
    let definition_of = |needle: &str, shift: usize| {
        let (db, c, root, cursor) = setup(&with_cursor(model, needle, shift));
        let span = definition(&db, &c, root, cursor).unwrap_or_else(|| panic!("a definition at `{needle}`+{shift}"));
        let line = db.get(span.file).text[..span.start as usize].lines().count();
        (db.get(span.file).name.clone(), db.text(span).to_string(), line, span.file == root)
    };
    let (_, text, line, here) = definition_of("cells[0].noise_syn.g", 0);
    assert_eq!((text.as_str(), line, here), ("cells", 13, true));
    let (_, text, line, here) = definition_of("noise_syn.g", 3);
    assert_eq!((text.as_str(), line, here), ("noise_syn", 9, true));
    let (file, text, _, _) = definition_of("noise_syn.g", "noise_syn.".len());
    assert_eq!((file.as_str(), text.as_str()), ("std/exp2syn.syl", "g"));
    let (file, text, _, _) = definition_of("clamp.i", "clamp.".len());
    assert_eq!((file.as_str(), text.as_str()), ("std/iclamp.syl", "i"));
    let (file, text, _, _) = definition_of("pas.i at", "pas.".len());
    assert_eq!((file.as_str(), text.as_str()), ("std/pas.syl", "i"));
    // A synapse the cell does not have, or a member its mechanism does not have: nothing.
    let (db, c, root, cursor) = setup(&with_cursor(&model.replace(".noise_syn.g", ".other.g"), "other.g", 6));
    assert_eq!(definition(&db, &c, root, cursor), None);
    let (db, c, root, cursor) = setup(&with_cursor(&model.replace("noise_syn.g", "noise_syn.q"), "syn.q", 4));
    assert_eq!(definition(&db, &c, root, cursor), None);
}

/// In an SWC morphology's edits: an added section is a declaration that its children and the
/// cell's `distance from` go to, and a deleted type is the built-in region.
#[test]
fn swc_edits_and_the_distance_origin_resolve() {
    let model = r#"
import pas
morphology m = swc("cell.swc") {
    delete axon
    section stub at soma(0.5) { length = 30 um, diam = 1 um }
    section tip at stub(1) { length = 30 um, diam = 1 um }
}
cell c {
    morphology = m
    distance from tip(0)
    insert pas in all
}
"#;
    let (db, c, root, cursor) = setup(&with_cursor(model, "stub(1)", 1));
    let span = definition(&db, &c, root, cursor).expect("the added section");
    assert_eq!((db.text(span), span.start), ("stub", model.find("stub at").unwrap() as u32));
    let (db, c, root, cursor) = setup(&with_cursor(model, "tip(0)", 1));
    let span = definition(&db, &c, root, cursor).expect("the added section");
    assert_eq!((db.text(span), span.start), ("tip", model.find("tip at").unwrap() as u32));
    assert!(hover_at(&with_cursor(model, "axon\n", 1)).contains("region `axon`"));
    let outline = symbols(&c.files[0].1);
    let names: Vec<&str> = outline[1].children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["stub", "tip"]);
}

#[test]
fn symbols_outline_items_and_members() {
    let (_, c, _, _) = setup(&format!("$0{CHANNEL}"));
    let outline = symbols(&c.files[0].1);
    let names: Vec<&str> = outline.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hh", "kleak", "c"]);
    let kleak: Vec<&str> = outline[1].children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(kleak, ["gk", "w", "g"]);
    assert_eq!(outline[2].children[0].name, "soma");
}

fn labels(text: &str) -> Vec<String> {
    let (db, c, root, cursor) = setup(text);
    completions(&db, &c, root, cursor).into_iter().map(|c| c.label).collect()
}

#[test]
fn completion_offers_mechanisms_regions_parameters_and_units() {
    let insert = labels(&CHANNEL.replace("    insert hh in soma\n", "    insert $0\n"));
    assert!(insert.contains(&"hh".to_string()) && insert.contains(&"kleak".to_string()), "{insert:?}");
    // Not imported, but in the standard library; point mechanisms are not offered here.
    assert!(insert.contains(&"pas".to_string()) && !insert.contains(&"expsyn".to_string()), "{insert:?}");
    let region = labels(&CHANNEL.replace("insert hh in soma\n", "insert hh in s$0\n"));
    assert_eq!(region, ["soma"]);
    let params = labels(&CHANNEL.replace("insert hh in soma\n", "insert hh in soma { gn$0 }\n"));
    assert_eq!(params, ["gnabar"]);
    let unit = labels(&CHANNEL.replace("state w: 1 = 0", "state w: m$0"));
    assert!(unit.contains(&"mV".to_string()) && unit.contains(&"ms".to_string()), "{unit:?}");
    let after_number = labels(&CHANNEL.replace("10 ms", "10 m$0"));
    assert!(after_number.contains(&"ms".to_string()), "{after_number:?}");
    let member = labels(&CHANNEL.replace("let g = gk * w", "let g = g$0"));
    assert!(member.contains(&"gk".to_string()), "{member:?}");
    let import = labels("import e$0");
    assert_eq!(import, ["expsyn", "exp2syn"]);
    let trainable = labels(&(CHANNEL.to_string() + "\ntrain t {\n    trainable $0\n}\n"));
    for wanted in ["hh", "cm", "Ra"] {
        assert!(trainable.contains(&wanted.to_string()), "{wanted}: {trainable:?}");
    }
    let optimizer = labels(&(CHANNEL.to_string() + "\ntrain t {\n    optimizer = $0\n}\n"));
    assert_eq!(optimizer, ["adam", "sgd", "lbfgs"]);
}

#[test]
fn completion_works_inside_an_item_that_does_not_parse() {
    // The mechanism is half typed: its members come from its text.
    let text = "density half {\n    param gbar: S/cm2 = 1\n    state q: 1\n    let x = gb$0\n";
    let names = labels(text);
    assert!(names.contains(&"gbar".to_string()), "{names:?}");
}

#[test]
fn features_answer_anywhere_in_every_example_without_panicking() {
    let examples = [
        include_str!("../../../examples/tutorial/03_custom_channel.syl"),
        include_str!("../../../examples/neuron/ball_and_stick.syl"),
        include_str!("../../stdlib/hh.syl"),
    ];
    for text in examples {
        let mut db = SourceDb::new();
        let root = db.add("model.syl", text);
        let c = compile(&mut db, root, &mut NoFiles, &[]);
        for offset in (0..=text.len() as u32).step_by(7) {
            let _ = hover(&db, &c, root, offset);
            let _ = definition(&db, &c, root, offset);
            let _ = completions(&db, &c, root, offset);
        }
        let _ = symbols(&c.files[0].1);
    }
}

#[test]
fn hover_on_an_ion_probe_names_the_quantity() {
    let model =
        format!("{CHANNEL}\nnetwork n {{\n    population p = c[1]\n    probe \"ek\" = ek at p[0].soma(0.5)\n}}\n");
    let text = hover_at(&with_cursor(&model, "ek at", 0));
    assert!(text.contains("`ek`: the reversal potential of ion `k` at the location"), "{text}");
}
