//! The compilation driver: parses the root file, follows imports (the standard library from
//! memory, other files through a [`Loader`]), loads SWC files, and runs the checker.
//! The caller's loader is the only way anything outside reaches the compiler.

use std::collections::HashMap;

use crate::artifact::{self, Artifact};
use crate::check::{self, Override, SwcFiles};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir;
use crate::nmodl;
use crate::source::{FileId, SourceDb, Span};
use crate::stdlib;
use crate::syntax::{self, ast};
use crate::units::Dimension;

/// Reads files for the compiler (from disk in the CLI, from memory in tests and the editor).
pub trait Loader {
    /// The text of the file at `path` (as the driver resolved it), or why it cannot be read.
    fn read(&mut self, path: &str) -> Result<String, String>;
}

/// The result of a compilation: the artifact when there are no errors, and every diagnostic.
pub struct Compilation {
    pub artifact: Option<Artifact>,
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<(FileId, ast::File)>,
    /// The dimension of every checked expression, by span (`None`: unknown), for the editor.
    pub expr_dims: Vec<(Span, Option<Dimension>)>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn model(&self) -> Option<&ir::Model> {
        self.artifact.as_ref().map(|a| &a.model)
    }
}

/// A parameter override written in a file of the `SourceDb` (a run file's `set:` entry).
pub struct Setting {
    pub name: String,
    pub value: String,
    pub name_span: Span,
    pub value_span: Span,
}

/// Compiles `root` (already in `db`). `overrides` are `--set` arguments, `name=value`.
pub fn compile(db: &mut SourceDb, root: FileId, loader: &mut dyn Loader, overrides: &[String]) -> Compilation {
    compile_with_settings(db, root, loader, overrides, &[])
}

/// [`compile`] with overrides from a run file too; `--set` arguments come first, so they win.
pub fn compile_with_settings(
    db: &mut SourceDb,
    root: FileId,
    loader: &mut dyn Loader,
    overrides: &[String],
    settings: &[Setting],
) -> Compilation {
    let mut diags = Diagnostics::new();
    let mut files: Vec<(FileId, ast::File)> = Vec::new();
    let mut imports: Vec<Import> = Vec::new();
    // A `.mod` root (`sylva check na.mod`, the editor) is checked through its translation.
    let root = if is_nmodl(&db.get(root).name) { translate_nmodl(db, root, &mut diags) } else { root };
    let mut queue = vec![root];
    let prelude = stdlib_file(db, stdlib::PRELUDE).expect("the prelude exists");
    queue.push(prelude);
    while let Some(file) = queue.pop() {
        if files.iter().any(|(f, _)| *f == file) {
            continue;
        }
        let (parsed, errors) = syntax::parse(file, &db.get(file).text);
        diags.extend(errors);
        for item in &parsed.items {
            if let ast::Item::Import(import) = item
                && let Some(target) = resolve_import(db, loader, import, &mut diags)
            {
                imports.push(Import { from: file, span: import.span, to: target });
                queue.push(target);
            }
        }
        files.push((file, parsed));
    }
    report_import_cycles(db, root, &imports, &mut diags);
    // Root first, then the rest in load order.
    files.sort_by_key(|(f, _)| (*f != root, f.0));
    let swc_files = load_swc(db, loader, &files);
    let mut overrides = parse_overrides(db, overrides, &mut diags);
    overrides.extend(settings.iter().filter_map(|s| setting_override(s, &mut diags)));
    let user_files: Vec<FileId> =
        files.iter().map(|(f, _)| *f).filter(|f| !stdlib::is_std_file(&db.get(*f).name)).collect();
    let expr_dims = std::cell::RefCell::new(Vec::new());
    let input = check::Input {
        db,
        files: &files,
        user_files: &user_files,
        swc_files: &swc_files,
        overrides: &overrides,
        expr_dims: Some(&expr_dims),
    };
    let model = check::check(&input, &mut diags);
    // A failure of either validator is a compiler bug, not a user error.
    let internal_error = |diags: &mut Diagnostics, problem: String| {
        diags.push(Diagnostic::error(
            Code::InternalError,
            Span { file: root, start: 0, end: 0 },
            format!("internal compiler error: {problem}"),
        ));
    };
    let artifact = model.and_then(|m| {
        if let Err(problems) = ir::validate(&m) {
            problems.into_iter().for_each(|p| internal_error(&mut diags, p.to_string()));
            return None;
        }
        let artifact = Artifact::new(m);
        if let Err(problems) = artifact::validate(&artifact) {
            problems.into_iter().for_each(|p| internal_error(&mut diags, p.to_string()));
            return None;
        }
        Some(artifact)
    });
    let diagnostics = without_cascades_of_broken_translations(db, diags.into_sorted());
    Compilation { artifact, diagnostics, files, expr_dims: expr_dims.into_inner() }
}

/// Drops the diagnostics located in the translation of a `.mod` file that has errors of its
/// own: they follow from what could not be translated, and the `.mod` errors say that.
fn without_cascades_of_broken_translations(db: &SourceDb, diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let broken: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| &db.get(d.primary.span.file).name)
        .filter(|name| is_nmodl(name))
        .map(|name| translation_name(name))
        .collect();
    if broken.is_empty() {
        return diagnostics;
    }
    diagnostics.into_iter().filter(|d| !broken.contains(&db.get(d.primary.span.file).name)).collect()
}

/// An import of one file by another, resolved.
struct Import {
    from: FileId,
    span: Span,
    to: FileId,
}

/// Files that import each other are an error: each import that closes a cycle (depth first from
/// the root, in import order) is reported with the files of its cycle.
fn report_import_cycles(db: &SourceDb, root: FileId, imports: &[Import], diags: &mut Diagnostics) {
    fn visit(
        file: FileId,
        imports: &[Import],
        path: &mut Vec<usize>,
        done: &mut Vec<FileId>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        for (i, import) in imports.iter().enumerate().filter(|(_, import)| import.from == file) {
            path.push(i);
            if let Some(at) = path.iter().position(|&p| imports[p].from == import.to) {
                cycles.push(path[at..].to_vec());
            } else if !done.contains(&import.to) {
                visit(import.to, imports, path, done, cycles);
            }
            path.pop();
        }
        done.push(file);
    }
    let mut done = Vec::new();
    let mut cycles = Vec::new();
    for file in std::iter::once(root).chain(imports.iter().map(|i| i.from)) {
        if !done.contains(&file) {
            visit(file, imports, &mut Vec::new(), &mut done, &mut cycles);
        }
    }
    for cycle in cycles {
        let name = |file: FileId| format!("`{}`", db.get(file).name);
        let (closing, others) = cycle.split_last().expect("a cycle has an import");
        let span = imports[*closing].span;
        if others.is_empty() {
            let file = name(imports[*closing].from);
            diags.push(
                Diagnostic::error(Code::ImportCycle, span, format!("{file} imports itself")).help("remove the import"),
            );
            continue;
        }
        let chain: Vec<String> =
            cycle.iter().map(|&i| name(imports[i].from)).chain([name(imports[*closing].to)]).collect();
        let mut d = Diagnostic::error(Code::ImportCycle, span, format!("import cycle: {}", chain.join(" → ")))
            .label("this import closes the cycle");
        for &i in others {
            d = d.secondary(imports[i].span, format!("{} imports {} here", name(imports[i].from), name(imports[i].to)));
        }
        diags.push(d.help("move what the files share into a file that each of them imports"));
    }
}

fn stdlib_file(db: &mut SourceDb, module: &str) -> Option<FileId> {
    let name = stdlib::file_name(module);
    if let Some(id) = db.find(&name) {
        return Some(id);
    }
    Some(db.add(name, stdlib::source(module)?))
}

fn resolve_import(
    db: &mut SourceDb,
    loader: &mut dyn Loader,
    import: &ast::Import,
    diags: &mut Diagnostics,
) -> Option<FileId> {
    match &import.target {
        ast::ImportTarget::Std(name) => {
            let found = stdlib_file(db, &name.name);
            if found.is_none() {
                let mut d = Diagnostic::error(
                    Code::UnknownModule,
                    name.span,
                    format!("no standard-library module `{}`", name.name),
                )
                .label("unknown module");
                if let Some(s) = did_you_mean(&name.name, stdlib::names()) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else {
                    d = d.note(format!(
                        "the modules are {}",
                        stdlib::names().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ));
                }
                diags.push(d);
            }
            found
        }
        ast::ImportTarget::File(path) => {
            let resolved = resolve_relative(&db.get(import.span.file).name, &path.value);
            // A `.mod` file already read is imported through its translation, never itself.
            if is_nmodl(&resolved)
                && let Some(translated) = db.find(&translation_name(&resolved))
            {
                return Some(translated);
            }
            if let Some(id) = db.find(&resolved) {
                return Some(id);
            }
            match loader.read(&resolved) {
                Ok(text) if is_nmodl(&resolved) => {
                    let file = db.add(resolved, text);
                    Some(translate_nmodl(db, file, diags))
                }
                Ok(text) => Some(db.add(resolved, text)),
                Err(why) => {
                    diags.push(
                        Diagnostic::error(
                            Code::UnknownModule,
                            path.span,
                            format!("cannot import `{}`: {why}", path.value),
                        )
                        .label("imported here")
                        .note(format!("looked for `{resolved}`")),
                    );
                    None
                }
            }
        }
    }
}

/// Whether the file named `name` is NMODL, imported through its translation.
pub fn is_nmodl(name: &str) -> bool {
    name.ends_with(".mod")
}

/// The name in the [`SourceDb`] of the Sylva translation of the NMODL file named `mod_name`
/// (it has no file on disk; diagnostics of the translation itself point into the `.mod`).
pub fn translation_name(mod_name: &str) -> String {
    format!("{mod_name} (translated)")
}

/// Whether `name` is a translation made by [`translation_name`].
pub fn is_translation(name: &str) -> bool {
    name.ends_with(".mod (translated)")
}

/// Translates the NMODL file `file` into a new Sylva file of `db` and reports the
/// translation's diagnostics (located in the `.mod`). A file that names no mechanism
/// translates to nothing, so that importing it again reports nothing twice.
fn translate_nmodl(db: &mut SourceDb, file: FileId, diags: &mut Diagnostics) -> FileId {
    let import = nmodl::import(db, file);
    diags.extend(import.diagnostics);
    let text = import.mechanism.map(|m| m.text).unwrap_or_default();
    db.add(translation_name(&db.get(file).name), text)
}

/// `path` relative to the directory of the file named `from` (already relative to the
/// working directory), normalised.
pub fn resolve_relative(from: &str, path: &str) -> String {
    if path.starts_with('/') || stdlib::is_std_file(from) {
        return path.to_string();
    }
    let dir = from.rsplit_once('/').map_or("", |(d, _)| d);
    // An absolute importing file (the language server names files by absolute path) keeps
    // its root.
    let root = if from.starts_with('/') { "/" } else { "" };
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("{root}{}", parts.join("/"))
}

fn load_swc(db: &mut SourceDb, loader: &mut dyn Loader, files: &[(FileId, ast::File)]) -> SwcFiles {
    let mut out: SwcFiles = HashMap::new();
    let mut paths = Vec::new();
    for (file, parsed) in files {
        for item in &parsed.items {
            match item {
                ast::Item::Morphology(m) => paths.extend(swc_path(m).map(|p| (*file, p.clone()))),
                ast::Item::Cell(c) => {
                    for member in &c.members {
                        if let ast::CellMember::Morphology(m) = member {
                            paths.extend(swc_path(m).map(|p| (*file, p.clone())));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for (file, path) in paths {
        let resolved = resolve_relative(&db.get(file).name, &path);
        let loaded = match db.find(&resolved) {
            Some(id) => Ok(id),
            None => loader.read(&resolved).map(|text| db.add(resolved, text)),
        };
        out.insert((file, path), loaded);
    }
    out
}

fn swc_path(m: &ast::Morphology) -> Option<&String> {
    match &m.body {
        ast::MorphologyBody::Swc { path, .. } => Some(&path.value),
        ast::MorphologyBody::Tree(_) => None,
    }
}

/// `name=value` with value a number and an optional unit (`weight=0.05uS`, `rings=10`).
fn parse_overrides(db: &mut SourceDb, raw: &[String], diags: &mut Diagnostics) -> Vec<Override> {
    if raw.is_empty() {
        return Vec::new();
    }
    let file = db.add("<command line>", raw.join("\n"));
    let mut offset = 0u32;
    let mut out = Vec::new();
    for text in raw {
        let whole = Span { file, start: offset, end: offset + text.len() as u32 };
        offset += text.len() as u32 + 1;
        let Some((name, value)) = text.split_once('=') else {
            diags.push(
                Diagnostic::error(Code::InvalidOverride, whole, format!("`--set {text}` is not `name=value`"))
                    .help("for example `--set rings=10`"),
            );
            continue;
        };
        let name_span = Span { file, start: whole.start, end: whole.start + name.len() as u32 };
        let value_span = Span { file, start: name_span.end + 1, end: whole.end };
        match crate::units::split_quantity(value) {
            Ok((value, unit)) => {
                let shown = format!("--set {}", name.trim());
                out.push(Override { name: name.trim().to_string(), shown, name_span, value, unit, value_span })
            }
            Err(why) => diags.push(
                Diagnostic::error(Code::InvalidOverride, value_span, format!("`--set {text}`: {why}"))
                    .help("for example `--set weight=0.05uS`"),
            ),
        }
    }
    out
}

fn setting_override(s: &Setting, diags: &mut Diagnostics) -> Option<Override> {
    let shown = format!("set: {}", s.name);
    match crate::units::split_quantity(&s.value) {
        Ok((value, unit)) => Some(Override {
            name: s.name.clone(),
            shown,
            name_span: s.name_span,
            value,
            unit,
            value_span: s.value_span,
        }),
        Err(why) => {
            diags.push(
                Diagnostic::error(Code::InvalidOverride, s.value_span, format!("`{shown}: {}`: {why}", s.value))
                    .help("for example `weight: 0.05uS`"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Files in memory, by resolved path.
    struct Files(HashMap<&'static str, String>);

    impl Loader for Files {
        fn read(&mut self, path: &str) -> Result<String, String> {
            self.0.get(path).cloned().ok_or_else(|| format!("no file `{path}`"))
        }
    }

    /// Compiles `model` (as `m.syl`) with `cell.swc` in memory; the diagnostics as text.
    fn compile_with_swc(model: &str, swc: &str) -> (Compilation, Vec<String>) {
        let mut db = SourceDb::new();
        let root = db.add("m.syl", model);
        let mut files = Files(HashMap::from([("cell.swc", swc.to_string())]));
        let c = compile(&mut db, root, &mut files, &[]);
        let messages = c.diagnostics.iter().map(|d| format!("{}: {}", d.code.as_str(), d.message)).collect();
        (c, messages)
    }

    const SWC_MODEL: &str = "import pas\nmorphology m = swc(\"cell.swc\")\ncell c {\n    morphology = m\n    insert pas in all\n}\nnetwork main { population cells = c[1] }\nsimulation { dt = 0.025 ms, duration = 1 ms }\n";
    const SWC_CELL: &str = "1 1 0 0 0 5 -1\n2 3 5 0 0 1 1\n3 3 15 0 0 1 2\n";

    #[test]
    fn a_byte_order_mark_is_ignored_in_models_and_swc_files() {
        let (c, messages) = compile_with_swc(&format!("\u{feff}{SWC_MODEL}"), &format!("\u{feff}{SWC_CELL}"));
        assert!(messages.is_empty(), "{messages:?}");
        assert!(c.artifact.is_some());
    }

    /// The cell's membrane area (µm²).
    fn area(c: &Compilation) -> f64 {
        c.model().expect("compiles").cells[0].tree.total_area_um2()
    }

    #[test]
    fn swc_units_come_from_the_model_or_the_header() {
        let (um, _) = compile_with_swc(SWC_MODEL, SWC_CELL);
        let nm_cell = "# Units: nm\n1 1 0 0 0 5000 -1\n2 3 5000 0 0 1000 1\n3 3 15000 0 0 1000 2\n";
        let (header, messages) = compile_with_swc(SWC_MODEL, nm_cell);
        assert!(messages.is_empty(), "{messages:?}");
        assert_eq!(area(&header), area(&um));
        // The model's `units` overrides the header.
        let in_um = SWC_MODEL.replace("swc(\"cell.swc\")", "swc(\"cell.swc\") { units = um }");
        let (over, _) = compile_with_swc(&in_um, &format!("# Units: nm\n{SWC_CELL}"));
        assert_eq!(area(&over), area(&um));
        let in_nm = SWC_MODEL.replace("swc(\"cell.swc\")", "swc(\"cell.swc\") { units = nm }");
        let (model, _) = compile_with_swc(&in_nm, &nm_cell.replace("# Units: nm\n", ""));
        assert_eq!(area(&model), area(&um));
        let (_, messages) = compile_with_swc(&in_nm.replace("= nm", "= 1 mV"), SWC_CELL);
        assert!(messages.iter().any(|m| m.starts_with("E0302")), "{messages:?}");
    }

    /// A `.mod` file imported by two files is translated once: its diagnostics come once, in
    /// the `.mod`, and the mechanism is defined once.
    #[test]
    fn a_mod_file_imported_twice_is_translated_once() {
        let leak = "NEURON { SUFFIX leakmod NONSPECIFIC_CURRENT i RANGE g }\nPARAMETER { g = 0.001 (S/cm2) }\nASSIGNED { v (mV) i (mA/cm2) }\nBREAKPOINT { i = g*(v + 70) : a comment\n}\nVERBATIM\nstatic int x;\nENDVERBATIM\n";
        let lib = "import \"ch/leak.mod\"\n";
        let model = "import \"ch/leak.mod\"\nimport \"lib.syl\"\ncell c {\n    morphology { section soma { length = 10 um, diam = 10 um } }\n    insert leakmod in soma\n}\n";
        let mut db = SourceDb::new();
        let root = db.add("m.syl", model);
        let mut files = Files(HashMap::from([("ch/leak.mod", leak.to_string()), ("lib.syl", lib.to_string())]));
        let c = compile(&mut db, root, &mut files, &[]);
        let located: Vec<(&str, &str)> = c
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.code.as_str(), db.get(d.primary.span.file).name.as_str()))
            .collect();
        assert_eq!(located, [("E0802", "ch/leak.mod")], "{:?}", c.diagnostics);
        assert_eq!((0..db.len() as u32).filter(|&i| is_translation(&db.get(FileId(i)).name)).count(), 1);
    }

    #[test]
    fn imports_resolve_relative_to_the_importing_file() {
        assert_eq!(resolve_relative("examples/a.syl", "lib/b.syl"), "examples/lib/b.syl");
        assert_eq!(resolve_relative("examples/x/a.syl", "../b.syl"), "examples/b.syl");
        assert_eq!(resolve_relative("a.syl", "./b.syl"), "b.syl");
        assert_eq!(resolve_relative("../m/a.syl", "../b.syl"), "../b.syl");
        assert_eq!(resolve_relative("/home/u/m/a.syl", "lib/b.syl"), "/home/u/m/lib/b.syl");
        assert_eq!(resolve_relative("/home/u/m/a.syl", "../b.syl"), "/home/u/b.syl");
    }
}
