//! Every diagnostic code: a fixture `tests/data/diagnostics/<CODE>.syl` that triggers it (its
//! first diagnostic has that code), a snapshot of the rendered text, and a docs page.

use sylva_compiler::diagnostics::Code;
use sylva_tests::{compile_file, files_with_extension, render, repo};

fn fixture_overrides(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(path)).expect("fixture");
    text.lines().filter_map(|l| l.trim().strip_prefix("// set:")).map(|s| s.trim().to_string()).collect()
}

#[test]
fn each_fixture_reports_its_code_first() {
    let fixtures = files_with_extension("tests/data/diagnostics", "syl");
    assert!(!fixtures.is_empty());
    for fixture in fixtures {
        let (db, compilation) = compile_file(&fixture, &fixture_overrides(&fixture));
        let rendered = render(&db, &compilation.diagnostics);
        let code = sylva_tests::fixture_code(&fixture, &compilation.diagnostics, &rendered);
        insta::assert_snapshot!(format!("diagnostic_{code}"), rendered);
    }
}

#[test]
fn every_code_has_a_fixture_and_a_docs_page() {
    let mut missing = Vec::new();
    for code in Code::ALL {
        if *code == Code::InternalError {
            continue;
        }
        let name = code.as_str();
        if !repo().join(format!("docs/diagnostics/{name}.md")).exists() {
            missing.push(format!("docs/diagnostics/{name}.md"));
        }
        // NMODL import's codes (E08xx, W0006) have `.mod` fixtures (tests/it/nmodl.rs); E0711
        // is the runtime's, about a data file (runtime/tests/cli.rs).
        if *code != Code::DataFile
            && !repo().join(format!("tests/data/diagnostics/{name}.syl")).exists()
            && !repo().join(format!("tests/data/diagnostics/{name}.mod")).exists()
        {
            missing.push(format!("tests/data/diagnostics/{name}.syl"));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:?}");
}

#[test]
fn broken_file_reports_every_problem_with_locations() {
    let text = "import hh\n\ndensity bad {\n    param g: S/cm2 = 0.1\n    current i\n    i = g * v\n}\n\nfn twice(x: mV) -> mV { x + 2 }\n";
    let (db, compilation) = sylva_tests::compile_text("broken.syl", text, &[]);
    let rendered = render(&db, &compilation.diagnostics);
    // `g * v` is a conductance density times a voltage: fine. `x + 2` adds a number to a voltage.
    assert!(compilation.has_errors(), "{rendered}");
    assert!(rendered.contains("broken.syl:9:"), "{rendered}");
    insta::assert_snapshot!("broken_file", rendered);
}

/// One syntax error in a cell is one diagnostic: the cell still exists for the network that
/// uses it, and the import the cell uses is not reported unused.
#[test]
fn a_broken_item_does_not_cascade() {
    let text = "import hh\nfn double(x: mV) -> mV { 2 * x }\ncell c {\n    morphology { section soma { length = 25 um, diam = 25 um } }\n    insert hh in soma { gkbar = = 0 S/cm2 }\n}\nnetwork main { population cells = c[1] }\nsimulation { dt = 0.025 ms, duration = 1 ms, network = main }\n";
    let (db, compilation) = sylva_tests::compile_text("cascade.syl", text, &[]);
    let rendered = render(&db, &compilation.diagnostics);
    let codes: Vec<&str> = compilation.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0101"], "{rendered}");
    assert!(rendered.contains("cascade.syl:5:33"), "{rendered}");
}

/// A name glued to a unit by `*` is read as part of the unit, and the error says so.
#[test]
fn a_name_glued_to_a_unit_is_explained() {
    let text = "param k: 1 = 2\nparam t: ms = 13 ms*k\n";
    let (db, compilation) = sylva_tests::compile_text("glued.syl", text, &[]);
    let rendered = render(&db, &compilation.diagnostics);
    assert!(rendered.contains("unknown unit `k`"), "{rendered}");
    assert!(rendered.contains("`ms*k` is read as one unit: put spaces around"), "{rendered}");
}

/// Assigning `v` is not fixed by declaring `current v`: the help says how `v` changes.
#[test]
fn assigning_the_voltage_explains_how_it_changes() {
    let text = "density d {\n    ion na { read ena, write ina }\n    param g: S/cm2 = 1e-3\n    ina = g * (v - ena)\n    v = v + 10 mV\n    t = 1 ms\n}\n";
    let (db, compilation) = sylva_tests::compile_text("assign.syl", text, &[]);
    let rendered = render(&db, &compilation.diagnostics);
    assert!(rendered.contains("`v` is read-only in a mechanism"), "{rendered}");
    assert!(rendered.contains("the simulator computes `v` from the membrane currents"), "{rendered}");
    assert!(rendered.contains("`t` is read-only in a mechanism"), "{rendered}");
    assert!(!rendered.contains("`current v`") && !rendered.contains("`current t`"), "{rendered}");
}

/// A rate written without its unit in a `let` is reported at the `let`, where the unit is
/// missing, with the use as a secondary label.
#[test]
fn a_let_with_the_wrong_dimension_is_reported_where_it_is_written() {
    let text = "density d {\n    ion na { read ena, write ina }\n    param g: S/cm2 = 1e-3\n    let a = 0.1 * exp(-v / 10 mV)\n    gate m {\n        alpha = a\n        beta = 4 / ms\n    }\n    ina = g * m * (v - ena)\n}\n";
    let (db, compilation) = sylva_tests::compile_text("rate.syl", text, &[]);
    let rendered = render(&db, &compilation.diagnostics);
    let errors: Vec<_> = compilation.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{rendered}");
    assert!(rendered.contains("rate.syl:4:13"), "at the let's value: {rendered}");
    assert!(rendered.contains("expected a rate (1/ms), found a dimensionless number"), "{rendered}");
    assert!(rendered.contains("`a` is used here"), "{rendered}");
}

/// A one-cell model with `{scale}`, `{threshold}`, `{stop}` and `{temperature}` to fill in.
const MODEL: &str = r#"import hh
param thr: mV = -20
cell c {
    morphology {
        section soma { length = 20 um, diam = 20 um }
        section dend at soma(1) { length = 1000 um, diam = 2 um, nseg = 5 }
    }
    insert hh in soma
    insert pas in dend { g = 1e-4 S/cm2 * exp(distance / {scale}) }
    detector at soma(0.5) threshold {threshold}
}
network main {
    population cells = c[1]
    source kick = regular(start = 1 ms, interval = 10 ms, stop = {stop})
    probe "v" = v at cells[0].soma(0.5)
}
simulation { dt = 0.025 ms, duration = 10 ms, temperature = {temperature} }
import pas
"#;

/// Compiles `MODEL` with its blanks filled; the errors as (code, the text they point at).
fn model_errors(fill: &[(&str, &str)]) -> Vec<(String, String)> {
    model_errors_with(fill, &[])
}

/// As [`model_errors`], with `--set` overrides.
fn model_errors_with(fill: &[(&str, &str)], overrides: &[String]) -> Vec<(String, String)> {
    let defaults = [("scale", "300 um"), ("threshold", "thr"), ("stop", "inf * 1 ms"), ("temperature", "6.3 degC")];
    let mut text = MODEL.to_string();
    for (key, default) in defaults {
        let value = fill.iter().find(|(k, _)| *k == key).map_or(default, |(_, v)| v);
        text = text.replace(&format!("{{{key}}}"), value);
    }
    let (db, compilation) = sylva_tests::compile_text("model.syl", &text, overrides);
    let rendered = render(&db, &compilation.diagnostics);
    assert_eq!(compilation.artifact.is_some(), !compilation.has_errors(), "{rendered}");
    compilation
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let file = &db.get(d.primary.span.file).text;
            (d.code.as_str().to_string(), file[d.primary.span.start as usize..d.primary.span.end as usize].to_string())
        })
        .collect()
}

/// A constant that folds to NaN or an infinity is an error where it is used; `inf` stays
/// allowed for limits (a range's bound, a source's `stop`).
#[test]
fn constants_must_be_finite_numbers() {
    assert_eq!(model_errors(&[]), Vec::<(String, String)>::new());
    let error = |text: &str| vec![("E0102".to_string(), text.to_string())];
    for threshold in ["0 mV / 0", "inf * 1 mV - inf * 1 mV", "0 mV * inf", "1e200 mV * 1e200"] {
        assert_eq!(model_errors(&[("threshold", threshold)]), error(threshold), "threshold {threshold}");
    }
    assert_eq!(model_errors(&[("temperature", "0 degC / 0")]), error("0 degC / 0"));
    // A finite `--set` value whose unit takes it past the largest float.
    let too_large = model_errors_with(&[], &["thr=1e308 V".to_string()]);
    assert_eq!(too_large, vec![("E0606".to_string(), "1e308 V".to_string())]);
    assert_eq!(model_errors(&[("stop", "inf * 1 ms - inf * 1 ms")]), error("inf * 1 ms - inf * 1 ms"));
    // exp(distance / 1 um) overflows far out on the dendrite, not at the soma.
    assert_eq!(
        model_errors(&[("scale", "1 um")]),
        error("1e-4 S/cm2 * exp(distance / 1 um)"),
        "a value that depends on distance is checked at every node"
    );
}

#[test]
fn temperature_below_absolute_zero_is_an_error() {
    assert_eq!(model_errors(&[("temperature", "-273.15 degC")]), Vec::<(String, String)>::new());
    assert_eq!(model_errors(&[("temperature", "-300 degC")]), vec![("E0605".to_string(), "-300 degC".to_string())]);
    // Kelvin is a step here: `310 K` would be 310 degC, so it is refused at the unit.
    assert_eq!(model_errors(&[("temperature", "310 K")]), vec![("E0605".to_string(), "K".to_string())]);
    assert_eq!(model_errors(&[("temperature", "37 degC")]), Vec::<(String, String)>::new());
}

/// Files from memory.
struct Files<'a>(&'a [(&'a str, &'a str)]);

impl sylva_compiler::Loader for Files<'_> {
    fn read(&mut self, path: &str) -> Result<String, String> {
        self.0.iter().find(|(name, _)| *name == path).map(|(_, text)| text.to_string()).ok_or("no such file".into())
    }
}

/// `a.syl` imports `b.syl`, which imports `a.syl`: one error at the import that closes the
/// cycle, naming both files, and no warning that this import is unused.
#[test]
fn circular_imports_are_an_error_at_the_closing_import() {
    let a = "import \"b.syl\"\ncell c {\n    morphology { section soma { length = 20 um, diam = 20 um } }\n    insert leak in soma\n}\n";
    let b = "import \"a.syl\"\ndensity leak {\n    param g: S/cm2 = 1e-4\n    current i\n    i = g * (v + 70 mV)\n}\n";
    let mut db = sylva_compiler::source::SourceDb::new();
    let root = db.add("a.syl", a);
    let compilation = sylva_compiler::compile(&mut db, root, &mut Files(&[("b.syl", b)]), &[]);
    let rendered = render(&db, &compilation.diagnostics);
    let codes: Vec<&str> = compilation.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0209"], "{rendered}");
    let error = &compilation.diagnostics[0];
    assert_eq!(db.get(error.primary.span.file).name, "b.syl", "{rendered}");
    assert_eq!(&b[error.primary.span.start as usize..error.primary.span.end as usize], "import \"a.syl\"");
    assert!(rendered.contains("`a.syl` → `b.syl` → `a.syl`"), "{rendered}");
}

/// The codes and the located text of the errors of a model whose network is `network` (cells
/// `c` with a gap junction and a detector, `quiet` with neither).
fn continuous_errors(mechanisms: &str, network: &str) -> Vec<(String, String)> {
    let text = format!(
        "import hh\nimport gap_junction\nimport iclamp\n{mechanisms}\ncell c {{\n    morphology {{ section soma {{ length = 20 um, diam = 20 um }} }}\n    insert hh in soma\n    synapse gap = gap_junction at soma(0.5)\n    detector at soma(0.5) threshold -20 mV\n}}\nnetwork main {{\n{network}\n}}\nsimulation {{ dt = 0.025 ms, duration = 1 ms }}\n"
    );
    let (db, compilation) = sylva_tests::compile_text("continuous.syl", &text, &[]);
    compilation
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code.as_str().to_string(), db.text(d.primary.span).to_string()))
        .collect()
}

/// The misuses of graded synapses and gap junctions the fixtures do not show, each at its text.
#[test]
fn continuous_connection_mistakes_are_located() {
    let pair = "    population cells = c[2]\n";
    let e = |code: &str, at: &str| vec![(code.to_string(), at.to_string())];
    // A weight: the strength is the mechanism's conductance.
    let weight = format!("{pair}    connect cells -> cells.gap ring(2) {{ weight = 0.1 uS }}");
    assert_eq!(continuous_errors("", &weight), e("E0609", "weight"));
    // `delay = 0 ms` is allowed.
    let zero = format!("{pair}    connect cells -> cells.gap ring(2) {{ delay = 0 ms }}");
    assert_eq!(continuous_errors("", &zero), vec![]);
    // A second presynaptic cell for cell 1's junction, by a second connect.
    let twice = "    population cells = c[3]\n    connect cells[0] -> cells[1].gap\n    connect cells[2] -> cells[1].gap\n    connect cells[1] -> cells[0 .. 3 by 2].gap";
    assert_eq!(continuous_errors("", twice), e("E0611", "connect cells[2] -> cells[1].gap"));
    // `random` may give a target several sources.
    let random = format!("{pair}    connect cells -> cells.gap random(p = 0.5, seed = 1)");
    assert_eq!(continuous_errors("", &random), e("E0611", "random(p = 0.5, seed = 1)"));
    // A stimulus reading `v_pre` has no presynaptic cell.
    let stimulus =
        format!("{pair}    connect cells -> cells.gap ring(2)\n    stimulus s = gap_junction at cells[0].soma(0.5)");
    assert_eq!(continuous_errors("", &stimulus), e("E0612", "gap_junction"));
    // A point mechanism reading `v_pre` with an event handler.
    let both = "point mixed {\n    current i\n    state g: uS = 0 uS\n    g' = -g / 1 ms\n    i = g * (v - v_pre)\n    on event(w: uS) { g += w }\n}";
    let errors = continuous_errors(both, pair);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "E0608");
    assert!(errors[0].1.starts_with("on event"), "{errors:?}");
}
