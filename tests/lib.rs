//! Shared helpers for the integration tests: compiling files from the repository with an
//! in-memory view of the file system rooted at the repository.

use std::path::{Path, PathBuf};

use sylva_compiler::diagnostics::Diagnostic;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Compilation, Loader, compile};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_path_buf()
}

/// Reads files relative to the repository root.
pub struct RepoLoader;

impl Loader for RepoLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(repo().join(path)).map_err(|e| e.to_string())
    }
}

/// Compiles a file given relative to the repository root.
pub fn compile_file(path: &str, overrides: &[String]) -> (SourceDb, Compilation) {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    compile_text(path, &text, overrides)
}

/// Compiles text as if it were the file `name` of the repository.
pub fn compile_text(name: &str, text: &str, overrides: &[String]) -> (SourceDb, Compilation) {
    let mut db = SourceDb::new();
    let root = db.add(name, text);
    let compilation = compile(&mut db, root, &mut RepoLoader, overrides);
    (db, compilation)
}

/// The diagnostics as the CLI prints them (no colour); panics where rendering fails, which the
/// CLI would hide.
pub fn render(db: &SourceDb, diagnostics: &[Diagnostic]) -> String {
    sylva_compiler::render::try_render(db, diagnostics, false).unwrap_or_else(|e| panic!("rendering failed: {e}"))
}

/// Every file below `dir` (relative to the repository) with the extension `ext`, sorted.
pub fn files_with_extension(dir: &str, ext: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![repo().join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                let relative = path.strip_prefix(repo()).expect("below the repository");
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}
pub mod reference;

/// A small deterministic generator (SplitMix64), so fuzzing failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The code a diagnostic fixture is named after (`E0507.syl`, `W0006.mod`), checked to be the
/// code of the first diagnostic of its severity (errors for E codes, warnings for W codes).
pub fn fixture_code(fixture: &str, diagnostics: &[Diagnostic], rendered: &str) -> String {
    let file = fixture.rsplit('/').next().expect("a file name");
    let code = file.rsplit_once('.').map_or(file, |(stem, _)| stem).to_string();
    let warning = code.starts_with('W');
    let first = diagnostics
        .iter()
        .find(|d| d.is_error() != warning)
        .unwrap_or_else(|| panic!("{fixture} gives no diagnostic of that severity:\n{rendered}"));
    assert_eq!(first.code.as_str(), code, "{fixture}:\n{rendered}");
    code
}
