//! Mutation fuzzing of the whole front end: thousands of broken variants of the shipped
//! examples (truncations, deleted lines, swapped units, misspelled names, garbage bytes, huge
//! numbers, deep nesting) must give diagnostics, never a panic, with every label (primary and
//! secondary) inside its file on character boundaries, and render. Some that check cleanly go
//! through GPU code generation, which must not answer `Unsupported`. `SYLVA_FUZZ_CASES` raises
//! the count (the default keeps `cargo test` quick).

use sylva_compiler::ir::{Model, Precision};
use sylva_compiler::render::try_render;
use sylva_runtime::gpu::{GpuError, Strategy};
use sylva_tests::{compile_text, files_with_extension};

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

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
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

#[test]
fn mutated_examples_never_panic_and_spans_stay_in_their_files() {
    let cases: usize = std::env::var("SYLVA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
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
    let back_end_cases: usize =
        std::env::var("SYLVA_FUZZ_BACK_END_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(BACK_END_CASES);
    for case in 0..cases {
        let (name, text) = &sources[rng.below(sources.len())];
        let mutated = mutate(text, &mut rng);
        let result = std::panic::catch_unwind(|| compile_text(name, &mutated, &[]));
        let (db, compilation) = result.unwrap_or_else(|_| panic!("case {case} of {name} panicked; input:\n{mutated}"));
        for d in &compilation.diagnostics {
            for label in d.labels() {
                assert!(
                    db.contains(label.span),
                    "case {case} of {name}: {label:?} is outside its file or splits a character: {d:?}"
                );
            }
            labels += 1 + d.secondary.len();
            secondary += d.secondary.len();
            assert!(!d.message.is_empty());
        }
        if let Err(e) = try_render(&db, &compilation.diagnostics, false) {
            panic!("case {case} of {name}: rendering failed: {e}; input:\n{mutated}");
        }
        if compilation.has_errors() {
            with_errors += 1;
            assert!(compilation.model.is_none(), "case {case}: a model with errors must not reach the back ends");
        } else if let Some(model) = &compilation.model
            && generated < back_end_cases
            && (1..=100_000).contains(&nodes(model))
        {
            // A checked model must reach code: the GPU code generation (after the CPU engine's
            // build and initialisation) for both strategies, validated by naga. Models without
            // cells (every standard-library module, examples whose network was cut) give the back
            // ends nothing to do, so they do not use up the back-end cases.
            generated += 1;
            for strategy in [Strategy::Thread, Strategy::Workgroup] {
                let result = std::panic::catch_unwind(|| sylva_runtime::gpu::wgsl(model, Precision::F64, strategy));
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
