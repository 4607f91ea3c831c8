//! Semantic analysis: parsed files to the IR. Every problem is reported; the IR is produced
//! only when there are no errors (a partial model is never handed to a back end).

mod cell;
mod constant;
mod expr;
mod globals;
mod kinetic;
mod limits;
mod mechanism;
mod morphology;
mod network;
mod params;
mod simulation;
mod species;
mod swc_edit;
mod train;
mod train_data;
mod train_membrane;

use std::collections::{HashMap, HashSet};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{self, CellId, MechId};
use crate::source::{FileId, SourceDb};
use crate::syntax::ast;

pub use morphology::SwcFiles;
pub use params::Override;

/// Everything the checker needs from the driver.
pub struct Input<'a> {
    pub db: &'a SourceDb,
    /// Parsed files, the root first.
    pub files: &'a [(FileId, ast::File)],
    /// Files the user wrote (warnings are reported for these only, not for the library).
    pub user_files: &'a [FileId],
    pub swc_files: &'a SwcFiles,
    pub overrides: &'a [Override],
    /// Receives the dimension of every checked expression (see [`crate::ide`]).
    pub expr_dims: Option<&'a std::cell::RefCell<ExprDims>>,
}

/// The dimension of every checked expression, by span (`None`: unknown after an error).
pub type ExprDims = Vec<(crate::source::Span, Option<crate::units::Dimension>)>;

pub fn check(input: &Input<'_>, diags: &mut Diagnostics) -> Option<ir::Model> {
    let globals = globals::Globals::collect(input.db, input.files, diags);
    let mut globals = globals;
    let params = params::evaluate(&mut globals, diags, input.overrides);

    // Top-level functions are checked once on their own; uses inline them silently.
    for item in &globals.order {
        if let globals::ItemRef::Function(f) = item {
            simulation::check_function(&globals, diags, f);
        }
    }

    let mut mechanisms = Vec::new();
    let mut by_name = HashMap::new();
    let mut species = Vec::new();
    for item in &globals.order {
        match item {
            globals::ItemRef::Mechanism(m) => {
                by_name.insert(m.name.name.clone(), MechId(mechanisms.len() as u32));
                mechanisms.push(mechanism::check(m, &globals, diags));
            }
            globals::ItemRef::Species(s) => species.push(species::check(&globals, diags, s)),
            _ => {}
        }
    }
    let mechanism_table = cell::Mechanisms { list: &mechanisms, by_name };

    let mut cells = Vec::new();
    let mut cell_facts = Vec::new();
    let mut cell_names = Vec::new();
    for item in &globals.order {
        if let globals::ItemRef::Cell(c) = item {
            let checked = cell::check(c, &globals, diags, &mechanism_table, &species, input.swc_files);
            let id = checked.map(|(c, facts)| {
                cells.push(c);
                cell_facts.push(facts);
                CellId(cells.len() as u32 - 1)
            });
            cell_names.push((c.name.name.clone(), id));
        }
    }
    // Named morphologies that no cell uses are still checked.
    for item in &globals.order {
        if let globals::ItemRef::Morphology(m) = item
            && !globals.is_used(&m.name.as_ref().expect("named").name)
        {
            morphology::sections(&globals, diags, m, input.swc_files)
                .and_then(|s| morphology::discretize(diags, &s, m.span));
        }
    }

    let networks: Vec<&ast::Network> = globals
        .order
        .iter()
        .filter_map(|i| match i {
            globals::ItemRef::Network(n) => Some(*n),
            _ => None,
        })
        .collect();
    let (simulation, chosen) = simulation::check(&globals, diags, &networks);
    let cell_types = network::CellTypes { cells: &cell_names, list: &cells };
    let network = match chosen {
        Some(n) => network::check(n, &globals, diags, &mechanism_table, &cell_types),
        None => ir::Network::default(),
    };

    let training = train::check(
        &globals,
        diags,
        &train::Model {
            mechanisms: &mechanisms,
            cells: &cells,
            cell_names: &cell_names,
            facts: &cell_facts,
            network: &network,
            simulation: &simulation,
        },
    );

    warn_unused(input, &globals, diags);
    if let Some(sink) = input.expr_dims {
        *sink.borrow_mut() = globals.expr_dims.take();
    }
    if diags.has_errors() {
        return None;
    }
    let model = ir::Model { mechanisms, cells, network, simulation, params, training };
    limits::check(&globals, diags, &model);
    (!diags.has_errors()).then_some(model)
}

fn warn_unused(input: &Input<'_>, globals: &globals::Globals<'_>, diags: &mut Diagnostics) {
    // What an item that did not parse uses is unknown: any import or definition may be its.
    if input.files.iter().any(|(_, f)| !f.broken.is_empty()) {
        return;
    }
    let used = globals.used.borrow();
    // By name, once: a scan of `used` per item was quadratic in the number of parameters.
    let used_names: HashSet<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    for (file, parsed) in input.files {
        if !input.user_files.contains(file) {
            continue;
        }
        for item in &parsed.items {
            match item {
                // An import that an error is about (a cycle) is not also unused.
                ast::Item::Import(import)
                    if diags.iter().any(|d| {
                        d.is_error() && std::iter::once(&d.primary).chain(&d.secondary).any(|l| l.span == import.span)
                    }) => {}
                ast::Item::Import(import) => {
                    // An import is used when anything it defines is used.
                    let module_files: Vec<FileId> = input
                        .files
                        .iter()
                        .filter(|(f, _)| input.db.get(*f).name == import_name(input.db, import))
                        .map(|(f, _)| *f)
                        .collect();
                    let any_used = globals
                        .defined_in
                        .iter()
                        .any(|(name, f)| module_files.contains(f) && used.contains(&(name.clone(), *file)));
                    if !module_files.is_empty() && !any_used {
                        diags.push(
                            Diagnostic::warning(Code::UnusedImport, import.span, "unused import")
                                .label("nothing from this module is used")
                                .help("remove the import"),
                        );
                    }
                }
                ast::Item::Function(f) if !used_names.contains(f.name.name.as_str()) => diags.push(
                    Diagnostic::warning(
                        Code::UnusedDefinition,
                        f.name.span,
                        format!("function `{}` is never used", f.name.name),
                    )
                    .help("remove it, or call it from a mechanism"),
                ),
                ast::Item::Param(p) if !used_names.contains(p.name.name.as_str()) => diags.push(
                    Diagnostic::warning(
                        Code::UnusedParameter,
                        p.name.span,
                        format!("parameter `{}` is never used", p.name.name),
                    )
                    .help("remove it, or use it in the model"),
                ),
                _ => {}
            }
        }
    }
}

/// The built-in functions and their argument counts (for the editor).
pub fn builtin_functions() -> &'static [(&'static str, usize)] {
    expr::BUILTIN_FUNCTIONS
}

/// The named constants: name, value, unit (for the editor).
pub fn constants() -> &'static [(&'static str, f64, &'static str)] {
    expr::CONSTANTS
}

/// The name under which an import's Sylva file is in the database: for a `.mod` file, its
/// translation's.
pub fn import_name(db: &SourceDb, import: &ast::Import) -> String {
    let path = import_path(db, import);
    if crate::driver::is_nmodl(&path) { crate::driver::translation_name(&path) } else { path }
}

/// The name of the file an import names (the `.mod` file itself for NMODL).
pub fn import_path(db: &SourceDb, import: &ast::Import) -> String {
    match &import.target {
        ast::ImportTarget::Std(name) => crate::stdlib::file_name(&name.name),
        ast::ImportTarget::File(path) => crate::driver::resolve_relative(&db.get(import.span.file).name, &path.value),
    }
}
