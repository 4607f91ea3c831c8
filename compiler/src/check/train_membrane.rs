//! Trainable membrane properties: `trainable cm in REGION` (the specific capacitance of the
//! regions' segments) and `trainable Ra in REGION` (the axial resistivity of the regions'
//! sections), one value per cell type shared by every cell of it (docs/language.md,
//! "Training"). The discretization stays the model's: training `Ra` or `cm` does not re-run
//! the `d_lambda` rule.

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{self, CellId};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::Dimension;

use super::train::{Model, Resolved, membrane_property, only_cell_type, region_nodes};

/// `[CELL.]cm in REGION …` or `[CELL.]Ra in REGION …`.
pub(super) fn resolve(diags: &mut Diagnostics, model: &Model<'_>, t: &ast::Trainable) -> Option<Resolved> {
    let property = membrane_property(model, t).expect("a membrane property");
    let cell = match t.path.as_slice() {
        [cell, _] => model.cell_names.iter().find(|(n, _)| *n == cell.name).and_then(|(_, id)| *id)?,
        _ => only_cell_type(diags, model, property.span, &t.path)?,
    };
    if t.regions.is_empty() {
        diags.push(
            Diagnostic::error(
                Code::UnknownTrainable,
                property.span,
                format!("`{}` is trained per region", property.name),
            )
            .label("no region")
            .help(format!("write `trainable {} in all`, or name the regions: `in soma + dend`", property.name)),
        );
        return None;
    }
    let nodes = region_nodes(diags, model, cell, t)?;
    let regions_span = t.regions[0].span.to(t.regions[t.regions.len() - 1].span);
    if nodes.is_empty() {
        diags.push(
            Diagnostic::error(Code::UnknownTrainable, regions_span, "these regions have no segments in this cell")
                .label("no node here")
                .help("name a region the cell has sections in"),
        );
        return None;
    }
    if property.name == "cm" {
        capacitance(diags, model, cell, nodes, property.span)
    } else {
        axial_resistivity(diags, model, cell, &nodes, property.span)
    }
}

/// `cm` on the regions' segment centres: one value there.
fn capacitance(
    diags: &mut Diagnostics,
    model: &Model<'_>,
    cell: CellId,
    nodes: Vec<u32>,
    span: Span,
) -> Option<Resolved> {
    let cm = &model.cells[cell.index()].cm;
    let value = uniform(diags, nodes.iter().map(|n| cm[*n as usize]), span, "cm")?;
    Some((ir::TrainedParam::Capacitance { cell, nodes }, None, value))
}

/// `Ra` of the sections the regions' segments belong to: one value there. The resistance of
/// every node of those sections to its parent lies in its own section (a child's first
/// half-segment; the parent's node adds none), so it is proportional to that section's `Ra`.
fn axial_resistivity(
    diags: &mut Diagnostics,
    model: &Model<'_>,
    cell: CellId,
    centres: &[u32],
    span: Span,
) -> Option<Resolved> {
    let tree = &model.cells[cell.index()].tree;
    let mut sections: Vec<u32> = centres.iter().map(|n| tree.nodes[*n as usize].section).collect();
    sections.sort_unstable();
    sections.dedup();
    let section_ra = &model.facts[cell.index()].section_ra;
    let value = uniform(diags, sections.iter().map(|s| section_ra[*s as usize]), span, "Ra")?;
    let (nodes, resistance): (Vec<u32>, Vec<f64>) = tree
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.parent.is_some() && n.r_to_parent_mohm > 0.0 && sections.binary_search(&n.section).is_ok())
        .map(|(i, n)| (i as u32, n.r_to_parent_mohm / value))
        .unzip();
    Some((ir::TrainedParam::AxialResistivity { cell, nodes, resistance }, None, value))
}

/// The one value of `values`, or E0702.
fn uniform(diags: &mut Diagnostics, mut values: impl Iterator<Item = f64>, span: Span, what: &str) -> Option<f64> {
    let first = values.next().expect("not empty");
    if values.all(|v| v.to_bits() == first.to_bits()) {
        return Some(first);
    }
    diags.push(
        Diagnostic::error(Code::PerNodeTrainable, span, format!("`{what}` varies from node to node here"))
            .label("not one value in these regions")
            .note(format!("the cell sets `{what}` differently in parts of these regions; a trainable is one value"))
            .help(format!("train `{what}` in each region the cell sets it for separately")),
    );
    None
}

/// `cm` or `Ra` as a parameter (its dimension, positive and unbounded above), and the name of
/// its cell type.
pub(super) fn declared<'m>(
    model: &Model<'m>,
    param: &ir::TrainedParam,
    value: f64,
    span: Span,
) -> (ir::Param, &'m str) {
    let (name, dim, cell) = match param {
        ir::TrainedParam::Capacitance { cell, .. } => ("cm", Dimension::SPECIFIC_CAPACITANCE, cell),
        ir::TrainedParam::AxialResistivity { cell, .. } => ("Ra", Dimension::SPECIFIC_RESISTANCE, cell),
        _ => unreachable!("a membrane property"),
    };
    let param = ir::Param { name: name.into(), dim, default: value, min: 0.0, max: f64::INFINITY, doc: None, span };
    (param, model.cells[cell.index()].name.as_str())
}
