//! Mutation fuzzing of the whole front end: thousands of broken variants of the shipped
//! examples (truncations, deleted lines, swapped units, misspelled names, garbage bytes, huge
//! numbers, deep nesting) must give diagnostics, never a panic, with every label (primary and
//! secondary) inside its file on character boundaries, and render. Some that check cleanly go
//! through GPU code generation, which must not answer `Unsupported`. The same oracle holds for
//! mutated SWC files (`tests/data/swc/`, imported by a small model) and YAML run files (the
//! examples of `docs/`), whose errors must point into the file. `SYLVA_FUZZ_CASES`,
//! `SYLVA_FUZZ_SWC_CASES` and `SYLVA_FUZZ_RUN_FILE_CASES` raise the counts (the defaults keep
//! `cargo test` quick).

use std::time::{Duration, Instant};

use sylva_compiler::diagnostics::Diagnostic;
use sylva_compiler::ir::{Model, Precision};
use sylva_compiler::render::try_render;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};
use sylva_runtime::gpu::{GpuError, Strategy};
use sylva_runtime::output::{ConfigError, parse_config};
use sylva_tests::{RepoLoader, Rng, compile_text, files_with_extension};

/// How many checked mutants also go through the back ends by default (each builds,
/// initialises and generates code, which takes far longer than checking);
/// `SYLVA_FUZZ_BACK_END_CASES` changes it.
const BACK_END_CASES: usize = 40;

/// The nodes of the whole network (mutants may ask for huge ones).
fn nodes(model: &Model) -> u64 {
    model
        .network
        .populations
        .iter()
        .map(|p| u64::from(p.count) * model.cells[p.cell.index()].tree.nodes.len() as u64)
        .sum()
}

const UNITS: &[&str] =
    &["mV", "ms", "um", "nA", "uS", "S/cm2", "mM", "degC", "ohm*cm", "uF/cm2", "1", "Hz", "mv", "xyz"];
const GARBAGE: &[&str] = &[
    "{", "}", "(", ")", "[", "]", "<->", "'", "\"", "\u{0}", "\u{feff}", "é", "1e999", "-", ",", "=", "..", "by", "at",
    "\n",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(3) {
        let boundary = |s: &str, i: usize| {
            let mut i = i.min(s.len());
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let at = boundary(&s, rng.below(s.len() + 1));
        match rng.below(9) {
            0 => s.truncate(at),
            1 => {
                // Delete a line.
                let lines: Vec<&str> = s.lines().collect();
                let k = rng.below(lines.len());
                s = lines.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            }
            2 => {
                // Swap a unit.
                let from = UNITS[rng.below(UNITS.len())];
                let to = UNITS[rng.below(UNITS.len())];
                s = s.replacen(from, to, 1 + rng.below(3));
            }
            3 => {
                // Misspell a word.
                let end = boundary(&s, at + 1 + rng.below(6));
                let start = boundary(&s, at);
                if start < end {
                    let word: String = s[start..end].chars().rev().collect();
                    s.replace_range(start..end, &word);
                }
            }
            4 => s.insert_str(at, GARBAGE[rng.below(GARBAGE.len())]),
            5 => s.insert_str(at, &format!("{}e{}", rng.below(1000), 300 + rng.below(400))),
            6 => {
                let depth = 1 + rng.below(5000);
                s.insert_str(at, &format!("{}1{}", "(".repeat(depth), ")".repeat(rng.below(depth + 1))));
            }
            7 => {
                let bytes: String = (0..1 + rng.below(16)).map(|_| char::from(rng.below(128) as u8)).collect();
                s.insert_str(at, &bytes);
            }
            _ => {
                // Duplicate a random chunk.
                let end = boundary(&s, at + rng.below(200));
                let chunk = s[at..end].to_string();
                s.insert_str(end, &chunk);
            }
        }
    }
    s
}

/// A case count from the environment, or the default.
fn case_count(variable: &str, default: usize) -> usize {
    std::env::var(variable).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The oracle for a compilation: every label in its file on character boundaries, a message,
/// and rendering works. Returns the number of labels.
fn check_diagnostics(case: usize, name: &str, input: &str, db: &SourceDb, diagnostics: &[Diagnostic]) -> usize {
    let mut labels = 0;
    for d in diagnostics {
        for label in d.labels() {
            assert!(
                db.contains(label.span),
                "case {case} of {name}: {label:?} is outside its file or splits a character: {d:?}"
            );
        }
        labels += 1 + d.secondary.len();
        assert!(!d.message.is_empty());
    }
    if let Err(e) = try_render(db, diagnostics, false) {
        panic!("case {case} of {name}: rendering failed: {e}; input:\n{input}");
    }
    labels
}

#[test]
fn mutated_examples_never_panic_and_spans_stay_in_their_files() {
    let cases = case_count("SYLVA_FUZZ_CASES", 1500);
    let mut sources: Vec<(String, String)> = files_with_extension("examples", "syl")
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(sylva_tests::repo().join(&f)).expect("readable");
            (f, text)
        })
        .collect();
    sources.extend(
        sylva_compiler::stdlib::names()
            .map(|n| (format!("{n}.syl"), sylva_compiler::stdlib::source(n).expect("exists").to_string())),
    );
    let mut rng = Rng(0x5EED);
    let (mut with_errors, mut generated, mut labels, mut secondary) = (0, 0, 0, 0);
    // Code generation touches no device and assumes WebGPU's default limits, so none of the
    // device-size `Unsupported`s can come from it, and an `Internal` is a consistency check a
    // validated model never fails (invariant 8). Each one is a bug, listed at the end.
    let mut unsupported = Vec::new();
    let back_end_cases = case_count("SYLVA_FUZZ_BACK_END_CASES", BACK_END_CASES);
    for case in 0..cases {
        let (name, text) = &sources[rng.below(sources.len())];
        let mutated = mutate(text, &mut rng);
        let result = std::panic::catch_unwind(|| compile_text(name, &mutated, &[]));
        let (db, compilation) = result.unwrap_or_else(|_| panic!("case {case} of {name} panicked; input:\n{mutated}"));
        labels += check_diagnostics(case, name, &mutated, &db, &compilation.diagnostics);
        secondary += compilation.diagnostics.iter().map(|d| d.secondary.len()).sum::<usize>();
        if compilation.has_errors() {
            with_errors += 1;
            assert!(compilation.artifact.is_none(), "case {case}: a model with errors must not reach the back ends");
        } else if let Some(artifact) = &compilation.artifact
            && generated < back_end_cases
            && (1..=100_000).contains(&nodes(&artifact.model))
        {
            // A checked model must reach code: the GPU code generation (after the plan's build
            // and initialisation) for both strategies, validated by naga. Models without
            // cells (every standard-library module, examples whose network was cut) give the back
            // ends nothing to do, so they do not use up the back-end cases.
            generated += 1;
            for strategy in [Strategy::Thread, Strategy::Workgroup] {
                let result = std::panic::catch_unwind(|| sylva_runtime::gpu::wgsl(artifact, Precision::F64, strategy));
                match result {
                    Ok(Ok(_)) => {}
                    Ok(Err(e @ (GpuError::Unsupported(_) | GpuError::Internal(_)))) => {
                        unsupported.push(format!("case {case} of {name}, {strategy:?}: {e}"))
                    }
                    Ok(Err(e)) => panic!("case {case} of {name}, {strategy:?}: {e}; input:\n{mutated}"),
                    Err(_) => {
                        panic!("case {case} of {name}, {strategy:?}: code generation panicked; input:\n{mutated}")
                    }
                }
            }
        }
    }
    eprintln!(
        "fuzz: {cases} mutated inputs: {} without errors, {with_errors} with errors ({labels} labels, {secondary} \
         of them secondary, all in their files and rendered); {generated} with cells through code generation for \
         both strategies, {} Unsupported or Internal",
        cases - with_errors,
        unsupported.len()
    );
    assert!(unsupported.is_empty(), "validated models the GPU code generation rejects:\n{}", unsupported.join("\n"));
    assert!(generated > 0, "no mutated model compiled, so none reached the back ends");
    // Most mutations break the model; a generator that never did would test nothing.
    assert!(with_errors * 2 > cases, "only {with_errors} of {cases} mutations gave errors");
}

/// Values that have broken SWC readers: zero, negative, beyond single or double precision,
/// not numbers, fractions where integers belong.
const SWC_VALUES: &[&str] =
    &["0", "-1", "-2", "1e300", "-1e300", "1e-300", "3e38", "-3e38", "1e999", "nan", "inf", "0.5", "99999999999", "x"];

fn mutate_swc(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        let k = rng.below(lines.len());
        match rng.below(8) {
            0 | 1 => {
                // One field of one line becomes a troublesome value.
                let mut fields: Vec<String> = lines[k].split_whitespace().map(str::to_string).collect();
                if !fields.is_empty() {
                    let f = rng.below(fields.len());
                    fields[f] = SWC_VALUES[rng.below(SWC_VALUES.len())].to_string();
                    lines[k] = fields.join(" ");
                }
            }
            2 => {
                // Every radius 0 (a retina export), or every parent after its child.
                let field = if rng.below(2) == 0 { 5 } else { 6 };
                for line in lines.iter_mut().filter(|l| !l.starts_with('#')) {
                    let mut fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
                    if fields.len() == 7 {
                        fields[field] = if field == 5 {
                            "0".into()
                        } else {
                            format!("{}", fields[0].parse::<i64>().unwrap_or(0) + 1)
                        };
                        *line = fields.join(" ");
                    }
                }
            }
            3 => {
                lines.remove(k);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            4 => {
                let j = rng.below(lines.len());
                lines.swap(k, j);
            }
            5 => {
                let line = lines[k].clone();
                lines.insert(rng.below(lines.len() + 1), line);
            }
            6 => lines
                .insert(0, ["\u{feff}", "# Units: nm", "# units = furlongs", "# Unit: 1e999 um"][rng.below(4)].into()),
            _ => return mutate(&lines.join("\n"), rng),
        }
    }
    lines.join("\n") + "\n"
}

/// Serves the mutated SWC file from memory, anything else from the repository.
struct WithSwc<'a>(&'a str);

impl Loader for WithSwc<'_> {
    fn read(&mut self, path: &str) -> Result<String, String> {
        if path == "tests/data/swc/mutant.swc" { Ok(self.0.to_string()) } else { RepoLoader.read(path) }
    }
}

#[test]
fn mutated_swc_files_never_panic_flood_or_leave_their_files() {
    let cases = case_count("SYLVA_FUZZ_SWC_CASES", 300);
    let sources: Vec<(String, String)> = files_with_extension("tests/data/swc", "swc")
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(sylva_tests::repo().join(&f)).expect("readable");
            (f, text)
        })
        .collect();
    // Options, and the edits published models make (which may name sections a mutant lacks).
    let props = [
        "",
        " { d_lambda = 0.1 }",
        " { units = nm }",
        " { nseg = 3, units = 2 um }",
        " { delete axon }",
        " { d_lambda = 0.1, delete axon, section axon[0] at soma(0.5) { length = 30 um, diam = 1 um } }",
        " { delete dend[1] + apic, section extra at dend[0](0.3) { length = 5 um, diam = 0.5 um } }",
        " { section tip at dend[2] { length = 5 um, diam = 0.5 um }, delete dend[2], delete soma }",
    ];
    let origins = ["", "distance from apic[0](0)", "distance from dend[3](1)", "distance from soma"];
    let mut rng = Rng(0x5C);
    let (mut with_errors, mut labels, mut slowest) = (0, 0, (Duration::ZERO, 0));
    for case in 0..cases {
        let (name, text) = &sources[rng.below(sources.len())];
        let mutated = mutate_swc(text, &mut rng);
        let model = format!(
            "import pas\nmorphology m = swc(\"mutant.swc\"){}\ncell c {{\n    morphology = m\n    {}\n    \
             insert pas in all {{ g = 1e-4 S/cm2 * exp(-distance / 100 um) }}\n}}\n\
             network main {{ population cells = c[1] }}\nsimulation {{ dt = 0.025 ms, duration = 1 ms }}\n",
            props[rng.below(props.len())],
            origins[rng.below(origins.len())]
        );
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| {
            let mut db = SourceDb::new();
            let root = db.add("tests/data/swc/mutant.syl", model.as_str());
            let compilation = compile(&mut db, root, &mut WithSwc(&mutated), &[]);
            (db, compilation)
        });
        let (db, compilation) = result.unwrap_or_else(|_| panic!("case {case} of {name} panicked; SWC:\n{mutated}"));
        slowest = slowest.max((started.elapsed(), case));
        labels += check_diagnostics(case, name, &mutated, &db, &compilation.diagnostics);
        // One problem repeated on thousands of lines must not give thousands of diagnostics.
        assert!(
            compilation.diagnostics.len() <= 200,
            "case {case} of {name}: {} diagnostics",
            compilation.diagnostics.len()
        );
        if compilation.has_errors() {
            with_errors += 1;
        } else {
            assert!(compilation.artifact.is_some(), "case {case} of {name}: no errors and no model");
        }
    }
    eprintln!(
        "fuzz: {cases} mutated SWC files: {} imported, {with_errors} with errors ({labels} labels, all in their \
         files and rendered); slowest case {} took {:.2?}",
        cases - with_errors,
        slowest.1,
        slowest.0
    );
    assert!(with_errors > 0 && with_errors < cases, "the SWC mutations should break some files, not all");
}

/// YAML troublemakers: structure, anchors and aliases, tags, quotes, tabs, huge numbers.
const YAML_GARBAGE: &[&str] = &[
    ":",
    ": ",
    "- ",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!int ",
    "---\n",
    "...\n",
    "? ",
    "|\n",
    ">\n",
    "'",
    "\"",
    "%YAML 1.2\n",
    "#",
    "~",
    "null",
    "1e999",
    "-.inf",
    ".nan",
    "0x1F",
    "\u{feff}",
];

fn mutate_yaml(text: &str, rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        return mutate(text, rng);
    }
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(3) {
        let mut at = rng.below(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.insert_str(at, YAML_GARBAGE[rng.below(YAML_GARBAGE.len())]);
    }
    s
}

/// The ```yaml blocks of the documentation.
fn documented_run_files() -> Vec<String> {
    let mut out = Vec::new();
    for doc in files_with_extension("docs", "md") {
        let text = std::fs::read_to_string(sylva_tests::repo().join(&doc)).expect("readable");
        for block in text.split("```yaml\n").skip(1) {
            out.push(block.split("```").next().unwrap_or("").to_string());
        }
    }
    out
}

#[test]
fn mutated_run_files_never_panic_and_errors_point_into_them() {
    let cases = case_count("SYLVA_FUZZ_RUN_FILE_CASES", 300);
    let mut sources = documented_run_files();
    assert!(!sources.is_empty(), "docs/outputs.md shows a run file");
    sources.push("dt: 0.01\nset: {weight: 0.05uS, rings: 10}\nplots: false\n".to_string());
    let model = std::fs::read_to_string(sylva_tests::repo().join("examples/neuron/syn_pair.syl")).expect("readable");
    let mut rng = Rng(0x7A31);
    let (mut accepted, mut compiled, mut slowest) = (0, 0, (Duration::ZERO, 0));
    for case in 0..cases {
        let mutated = mutate_yaml(&sources[rng.below(sources.len())], &mut rng);
        let started = Instant::now();
        let parsed = std::panic::catch_unwind(|| parse_config(&mutated))
            .unwrap_or_else(|_| panic!("case {case}: the run-file parser panicked; input:\n{mutated}"));
        if let Err(e) = &parsed {
            assert!(!e.to_string().is_empty(), "case {case}: an error without words");
        }
        match parsed {
            Ok(config) => {
                accepted += 1;
                for s in &config.set {
                    let _ = sylva_compiler::units::split_quantity(&s.value);
                    assert!(mutated.get(s.name_at.clone()).is_some(), "case {case}: `set` name outside the file");
                    assert!(mutated.get(s.value_at.clone()).is_some(), "case {case}: `set` value outside the file");
                }
                // The `set` entries reach the compiler as `--set` overrides, as in `sylva run`.
                if !config.set.is_empty() && compiled < 50 {
                    compiled += 1;
                    let overrides: Vec<String> = config.set.iter().map(|s| format!("{}={}", s.name, s.value)).collect();
                    let result =
                        std::panic::catch_unwind(|| compile_text("examples/neuron/syn_pair.syl", &model, &overrides));
                    let (db, c) = result.unwrap_or_else(|_| panic!("case {case}: overrides {overrides:?} panicked"));
                    check_diagnostics(case, "run file", &mutated, &db, &c.diagnostics);
                }
            }
            Err(ConfigError::Invalid { line, column, message, .. }) => {
                assert!(!message.is_empty(), "case {case}: an empty message");
                // Where the parser says the error is must be a place in the file (its end at most).
                let lines: Vec<&str> = mutated.split('\n').collect();
                if let (Some(line), Some(column)) = (line, column) {
                    assert!(
                        (1..=lines.len()).contains(&line)
                            && (1..=lines[line - 1].chars().count() + 1).contains(&column),
                        "case {case}: {line}:{column} is outside the run file: {message}; input:\n{mutated}"
                    );
                }
            }
            Err(e) => panic!("case {case}: parsing text gave an IO error: {e}"),
        }
        slowest = slowest.max((started.elapsed(), case));
    }
    eprintln!(
        "fuzz: {cases} mutated run files: {accepted} accepted ({compiled} with `set` compiled), {} refused with a \
         place in the file; slowest case {} took {:.2?}",
        cases - accepted,
        slowest.1,
        slowest.0
    );
    assert!(accepted > 0 && accepted < cases, "the run-file mutations should break some files, not all");
}
