//! Models for unit tests: written in the test (no files to import but the standard library),
//! or the repository's examples (their SWC files read from the repository).

use std::path::{Path, PathBuf};

use sylva_compiler::artifact::Artifact;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};

struct NoFiles;

impl Loader for NoFiles {
    fn read(&mut self, path: &str) -> Result<String, String> {
        Err(format!("no file {path} in this test"))
    }
}

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runtime/ is in the repository").to_path_buf()
}

/// Reads the files a model names from the repository (paths relative to its root).
pub(crate) struct RepoLoader;

impl Loader for RepoLoader {
    fn read(&mut self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(repo().join(path)).map_err(|e| e.to_string())
    }
}

/// Compiles `text` as the file `name`; panics with the rendered diagnostics if it has errors.
pub(crate) fn compiled(name: &str, text: &str) -> Artifact {
    compile_with(name, text, &mut NoFiles, &[])
}

/// Compiles the repository's file `path` (e.g. `examples/neuron/pyramidal.syl`) with `--set`
/// overrides; panics with the rendered diagnostics if it has errors.
pub(crate) fn example(path: &str, overrides: &[String]) -> Artifact {
    example_edited(path, overrides, |text| text)
}

/// [`example`] with its text changed by `edit` first.
pub(crate) fn example_edited(path: &str, overrides: &[String], edit: impl FnOnce(String) -> String) -> Artifact {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    compile_with(path, &edit(text), &mut RepoLoader, overrides)
}

fn compile_with(name: &str, text: &str, loader: &mut dyn Loader, overrides: &[String]) -> Artifact {
    let mut db = SourceDb::new();
    let root = db.add(name, text);
    let compilation = compile(&mut db, root, loader, overrides);
    let rendered = sylva_compiler::render::render(&db, &compilation.diagnostics, false);
    compilation.artifact.unwrap_or_else(|| panic!("{name} compiles:\n{rendered}"))
}
