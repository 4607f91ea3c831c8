//! `sylva import FILE.mod... [-o DIR]`: NMODL files to Sylva, one `.syl` per mechanism
//! (`compiler::nmodl` translates; this reads and writes the files and prints diagnostics).

use std::path::Path;

use sylva_compiler::nmodl;
use sylva_compiler::source::SourceDb;

use crate::{Failure, read_source, report};

/// Translates every file; writes `DIR/<mechanism>.syl` for each that names a mechanism (even
/// when parts could not be translated: those are reported, and the exit status is 1).
pub fn import(files: &[String], out: Option<&Path>, colour: bool) -> Result<(), Failure> {
    let dir = out.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Failure::Usage(format!("cannot create `{}`: {e}", dir.display())))?;
    let mut failed = false;
    for file in files {
        let text = read_source(file).map_err(|e| Failure::Usage(format!("cannot read `{file}`: {e}")))?;
        let mut db = SourceDb::new();
        let id = db.add(file.replace('\\', "/"), text);
        let result = nmodl::import(&db, id);
        failed |= report(&db, &result.diagnostics, colour);
        if let Some(m) = result.mechanism {
            let path = dir.join(format!("{}.syl", m.name));
            std::fs::write(&path, m.text)
                .map_err(|e| Failure::Usage(format!("cannot write `{}`: {e}", path.display())))?;
            println!("{file}: wrote {}", path.display());
        }
    }
    if failed { Err(Failure::Model) } else { Ok(()) }
}
