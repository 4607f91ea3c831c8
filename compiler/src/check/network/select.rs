//! Selections (`cells`, `cells[3]`, `cells[0..10 by 2]`, a spike source) and locations on one
//! selected cell (`cells[0].soma(0.5)`, `cells[0].apic(distance = 300 um)`).

use crate::check::constant::eval_count;
use crate::check::globals::Globals;
use crate::check::morphology::location_x;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, CellRange};
use crate::source::Span;
use crate::syntax::ast;

use super::CellTypes;

/// What a selection's name refers to.
pub(super) enum Selected {
    Cells(CellRange),
    Source(ir::SourceId),
}

pub(super) fn select(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    network: &ir::Network,
    sel: &ast::Selection,
) -> Option<Selected> {
    if let Some(i) = network.sources.iter().position(|s| s.name == sel.name.name) {
        if sel.index.is_some() {
            diags.push(Diagnostic::error(
                Code::IndexOutOfRange,
                sel.span,
                "a spike source is a single source and takes no index",
            ));
            return None;
        }
        return Some(Selected::Source(ir::SourceId(i as u32)));
    }
    let Some(p) = network.populations.iter().position(|x| x.name == sel.name.name) else {
        let names =
            network.populations.iter().map(|p| p.name.as_str()).chain(network.sources.iter().map(|s| s.name.as_str()));
        let mut d = Diagnostic::error(
            Code::UnknownPopulation,
            sel.name.span,
            format!("no population or source `{}` in this network", sel.name.name),
        )
        .label("unknown population");
        if let Some(s) = did_you_mean(&sel.name.name, names) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        diags.push(d);
        return None;
    };
    let count = network.populations[p].count;
    let (start, end, step, span) = match &sel.index {
        None => (0, count as u64, 1, sel.span),
        Some(ast::Index::One(i)) => {
            let i = eval_count(globals, diags, i, "a cell index")?;
            (i, i + 1, 1, sel.span)
        }
        Some(ast::Index::Range { start, end, step }) => {
            let a = eval_count(globals, diags, start, "a cell index")?;
            let b = eval_count(globals, diags, end, "a cell index")?;
            let s = match step {
                Some(s) => eval_count(globals, diags, s, "a step")?,
                None => 1,
            };
            if s == 0 {
                diags.push(Diagnostic::error(Code::OutOfRange, sel.span, "the step of a range must be at least 1"));
                return None;
            }
            (a, b, s, sel.span)
        }
    };
    if end > u64::from(count) || start > end {
        diags.push(
            Diagnostic::error(
                Code::IndexOutOfRange,
                span,
                format!("cell index out of range for population `{}`", sel.name.name),
            )
            .label(format!(
                "`{}` has {count} cells (indices 0 to {})",
                sel.name.name,
                count.saturating_sub(1)
            )),
        );
        return None;
    }
    Some(Selected::Cells(CellRange {
        population: ir::PopulationId(p as u32),
        start: start as u32,
        end: end as u32,
        step: step as u32,
    }))
}

pub(super) fn single(diags: &mut Diagnostics, network: &ir::Network, selected: Selected, span: Span) -> Option<u32> {
    match selected {
        Selected::Cells(r) if r.len() == 1 => Some(network.populations[r.population.index()].first_gid + r.start),
        _ => {
            diags.push(
                Diagnostic::error(Code::IndexOutOfRange, span, "this needs exactly one cell")
                    .help("select one cell, such as `cells[0]`"),
            );
            None
        }
    }
}

pub(super) fn cell_location(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    at: &ast::CellLocation,
) -> Option<(u32, u32)> {
    let selected = select(globals, diags, network, &at.cells)?;
    let gid = single(diags, network, selected, at.cells.span)?;
    Some((gid, node_on(globals, diags, cells, network, gid, &at.at)?))
}

/// The node of cell `gid` at `at` (`soma(0.5)`, `apic(distance = 300 um)`).
pub(super) fn node_on(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    gid: u32,
    at: &ast::Location,
) -> Option<u32> {
    let cell = cell_of(cells, network, gid);
    let names = cell.section_names.iter().map(String::as_str);
    if let Some(distance) = &at.distance {
        // A section, or every section of an array (`apic` for `apic[0]`, `apic[1]`, …).
        let base = format!("{}[", at.section.name);
        let candidates: Vec<usize> = names
            .clone()
            .enumerate()
            .filter(|(_, n)| *n == at.section.name || n.starts_with(&base))
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            diags.push(Diagnostic::error(
                Code::UnknownRegion,
                at.section.span,
                format!("cell `{}` has no section `{}`", cell.name, at.section.name),
            ));
            return None;
        }
        let node =
            crate::check::morphology::node_at_distance(globals, diags, &cell.tree, &candidates, &at.section, distance)?;
        return Some(node);
    }
    let section = match crate::check::morphology::find_section(names.clone(), &at.section.name) {
        Some(s) => s,
        None => {
            let mut d = Diagnostic::error(
                Code::UnknownRegion,
                at.section.span,
                format!("cell `{}` has no section `{}`", cell.name, at.section.name),
            )
            .label("unknown section");
            if let Some(help) = crate::check::morphology::section_help(names, &at.section.name) {
                d = d.help(help);
            }
            diags.push(d);
            return None;
        }
    };
    let x = match &at.x {
        Some(x) => location_x(globals, diags, x)?,
        None => 0.5,
    };
    Some(cell.tree.node_at(section, x))
}

pub(super) fn cell_of<'c>(cells: &CellTypes<'c>, network: &ir::Network, gid: u32) -> &'c ir::Cell {
    let p = network
        .populations
        .iter()
        .find(|p| gid >= p.first_gid && gid < p.first_gid + p.count)
        .expect("gid from a selection");
    &cells.list[p.cell.index()]
}
