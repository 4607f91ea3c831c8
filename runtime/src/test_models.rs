//! Models written in a unit test: compiled with no files to import but the standard library.

use sylva_compiler::artifact::Artifact;
use sylva_compiler::source::SourceDb;
use sylva_compiler::{Loader, compile};

struct NoFiles;

impl Loader for NoFiles {
    fn read(&mut self, path: &str) -> Result<String, String> {
        Err(format!("no file {path} in this test"))
    }
}

/// Compiles `text` as the file `name`; panics with the rendered diagnostics if it has errors.
pub(crate) fn compiled(name: &str, text: &str) -> Artifact {
    let mut db = SourceDb::new();
    let root = db.add(name, text);
    let compilation = compile(&mut db, root, &mut NoFiles, &[]);
    let rendered = sylva_compiler::render::render(&db, &compilation.diagnostics, false);
    compilation.artifact.unwrap_or_else(|| panic!("{name} compiles:\n{rendered}"))
}
