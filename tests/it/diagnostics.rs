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
        let code = fixture.rsplit('/').next().and_then(|f| f.strip_suffix(".syl")).expect("file name").to_string();
        let (db, compilation) = compile_file(&fixture, &fixture_overrides(&fixture));
        let rendered = render(&db, &compilation.diagnostics);
        // The first error for an error code, the first warning for a warning code.
        let warning = code.starts_with('W');
        let first = compilation
            .diagnostics
            .iter()
            .find(|d| d.is_error() != warning)
            .unwrap_or_else(|| panic!("{fixture} gives no diagnostic of that severity:\n{rendered}"));
        assert_eq!(first.code.as_str(), code, "{fixture}:\n{rendered}");
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
        if !repo().join(format!("tests/data/diagnostics/{name}.syl")).exists() {
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
