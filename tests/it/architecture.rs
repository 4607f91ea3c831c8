//! The module boundaries `docs/ARCHITECTURE.md` states, checked on the source (as
//! rust-analyzer's tidy tests do): a change that crosses one fails here, not in review.

use std::path::{Path, PathBuf};

use sylva_tests::repo;

/// Every `.rs` file under `dir` (relative to the repository), recursively.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join(dir), &mut out);
    assert!(!out.is_empty(), "no Rust files under {dir}");
    out
}

/// The lines of `files` that contain one of `needles`, outside comments and unit tests (test
/// files, and a file's `#[cfg(test)]` part, which comes last by this project's convention).
fn offending(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let path = file.to_string_lossy();
        if path.contains("/tests/") || path.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate().take_while(|(_, l)| l.trim() != "#[cfg(test)]") {
            let code = line.split("//").next().unwrap_or("");
            if needles.iter().any(|needle| code.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// The GPU engine, the plan, the host side and the run loop never use the CPU engine or
/// Cranelift: `sylva compile --emit wgsl` and GPU runs build no native code. Only the GPU's
/// agreement tests (`gpu/tests.rs`) run the CPU engine, to compare with it.
#[test]
fn the_gpu_engine_and_the_plan_do_not_use_the_cpu_engine() {
    let mut files = rust_files("runtime/src/gpu");
    files.retain(|f| !f.ends_with("gpu/tests.rs"));
    files.extend(rust_files("runtime/src/plan"));
    files.extend(rust_files("runtime/src/host"));
    files.push(repo().join("runtime/src/simulation.rs"));
    let found = offending(&files, &["crate::cpu", "cpu::", "cranelift"]);
    assert!(found.is_empty(), "the CPU engine used outside it:\n{}", found.join("\n"));
}

/// The compiler does no IO (invariant 1): no files, no printing, no clock, no GPU.
#[test]
fn the_compiler_does_no_io() {
    let files = rust_files("compiler/src");
    let found = offending(&files, &["std::fs", "println!", "eprintln!", "std::time", "std::env", "wgpu"]);
    assert!(found.is_empty(), "IO in the compiler:\n{}", found.join("\n"));
}
