//! Populations: a name, a cell type and a number of cells, numbered by gid in the order written.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, CellId};
use crate::syntax::ast;

use super::CellTypes;
use crate::check::constant::eval_count;
use crate::check::globals::Globals;

/// A population whose first cell has gid `next_gid`; `None` if it is reported, or if its cell
/// failed to check (then its name is added to `broken`).
pub(super) fn population<'n>(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    p: &'n ast::Population,
    next_gid: u64,
    broken: &mut Vec<&'n str>,
) -> Option<ir::Population> {
    if network.populations.iter().any(|x| x.name == p.name.name)
        || network.sources.iter().any(|x| x.name == p.name.name)
    {
        diags.push(Diagnostic::error(
            Code::DuplicateName,
            p.name.span,
            format!("`{}` is defined more than once in this network", p.name.name),
        ));
        return None;
    }
    let count = eval_count(globals, diags, &p.count, "a population size")?;
    let cell = population_cell(globals, diags, cells, p, broken)?;
    globals.mark_used(&p.cell.name, p.cell.span.file);
    if next_gid + count > u64::from(u32::MAX) {
        diags.push(Diagnostic::error(Code::OutOfRange, p.count.span, "the network has more than 4294967295 cells"));
        return None;
    }
    Some(ir::Population {
        name: p.name.name.clone(),
        cell,
        first_gid: next_gid as u32,
        count: count as u32,
        span: p.span,
    })
}

/// The checked cell a population is made of.
fn population_cell<'n>(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    p: &'n ast::Population,
    broken: &mut Vec<&'n str>,
) -> Option<CellId> {
    match cells.cells.iter().find(|(n, _)| *n == p.cell.name) {
        Some((_, Some(id))) => Some(*id),
        Some((_, None)) => {
            broken.push(&p.name.name);
            None
        }
        None if globals.is_broken(&p.cell.name) => {
            broken.push(&p.name.name);
            None
        }
        None => {
            let mut d =
                Diagnostic::error(Code::UndefinedName, p.cell.span, format!("cannot find cell `{}`", p.cell.name))
                    .label("not a cell");
            if let Some(s) = did_you_mean(&p.cell.name, cells.cells.iter().map(|(n, _)| n.as_str())) {
                d = d.help(format!("a cell with a similar name exists: `{s}`"));
            }
            diags.push(d);
            None
        }
    }
}
