//! Edits of an SWC morphology, applied in the order written, as published models edit a
//! reconstruction after loading it: `delete axon` removes regions or sections with everything
//! attached below them, `section axon[0] at soma(0.5) { … }` adds a section (the axon replaced
//! by a stub: Hay et al. 2011, BluePyOpt, the Allen Institute's models).

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::morph::{Nseg, SectionKind};
use crate::source::Span;
use crate::syntax::ast;

use super::globals::Globals;
use super::morphology::{self, SectionDefaults, Sections};

/// Applies `edits` to `out`; false when one could not be applied (reported).
pub(crate) fn apply(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    out: &mut Sections,
    edits: &[ast::SwcEdit],
    nseg: Nseg,
) -> bool {
    let errors_before = diags.error_count();
    for edit in edits {
        match edit {
            ast::SwcEdit::Delete { names, span } => delete(diags, out, names, *span),
            ast::SwcEdit::Add(section) => add(globals, diags, out, section, nseg),
        }
    }
    diags.error_count() == errors_before
}

/// Removes the sections of `names` (regions or sections) and every section below them.
fn delete(diags: &mut Diagnostics, out: &mut Sections, names: &[ast::Ident], span: Span) {
    let mut doomed = vec![false; out.specs.len()];
    for name in names {
        match out.regions.get(&name.name) {
            Some(list) => list.iter().for_each(|&s| doomed[s] = true),
            None => diags.push(morphology::unknown_region(name, out.regions.keys().map(String::as_str))),
        }
    }
    // A section attached to a deleted one goes with it (NEURON would keep it as a second,
    // unconnected tree, which no published model means).
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..out.specs.len() {
            if !doomed[i] && out.specs[i].parent.is_some_and(|(p, _)| doomed[p]) {
                doomed[i] = true;
                changed = true;
            }
        }
    }
    if doomed.iter().all(|&d| d) {
        diags.push(
            Diagnostic::error(Code::SwcEdit, span, "this `delete` removes every section of the morphology")
                .label("nothing would be left")
                .note("a deleted section takes every section attached below it; the root section holds them all")
                .help("delete the branches to remove, such as `delete axon`"),
        );
        return;
    }
    keep_sections(out, &doomed);
}

/// Keeps the sections not `doomed`, their parents renumbered, and rebuilds the regions.
fn keep_sections(out: &mut Sections, doomed: &[bool]) {
    let mut new_index = vec![usize::MAX; doomed.len()];
    for (next, (i, _)) in doomed.iter().enumerate().filter(|(_, d)| !**d).enumerate() {
        new_index[i] = next;
    }
    let specs = std::mem::take(&mut out.specs);
    let spans = std::mem::take(&mut out.spans);
    for (i, (mut spec, span)) in specs.into_iter().zip(spans).enumerate() {
        if !doomed[i] {
            spec.parent = spec.parent.map(|(p, x)| (new_index[p], x));
            out.specs.push(spec);
            out.spans.push(span);
        }
    }
    morphology::default_regions(out);
}

/// Adds a section attached to one of the morphology's, with the morphology's segment rule
/// unless it gives its own, and the SWC type its name says (`axon[0]` is an axon).
fn add(globals: &Globals<'_>, diags: &mut Diagnostics, out: &mut Sections, s: &ast::Section, nseg: Nseg) {
    if out.specs.iter().any(|spec| spec.name == s.name.name) {
        diags.push(
            Diagnostic::error(
                Code::DuplicateName,
                s.name.span,
                format!("the morphology already has a section `{}`", s.name.name),
            )
            .label("added again here")
            .help(format!("delete it first (`delete {}`), or give the new section another name", s.name.name)),
        );
        return;
    }
    let Some(parent) = parent(globals, diags, out, s) else { return };
    let defaults = SectionDefaults { nseg, kind: kind_of_name(&s.name.name) };
    let spec = morphology::section_spec(globals, diags, s, Some(parent), defaults);
    out.specs.push(spec);
    out.spans.push(s.name.span);
    morphology::default_regions(out);
}

/// Where an added section attaches: `at section(x)` (x = 1 when not given).
fn parent(globals: &Globals<'_>, diags: &mut Diagnostics, out: &Sections, s: &ast::Section) -> Option<(usize, f64)> {
    let Some(at) = &s.parent else {
        diags.push(
            Diagnostic::error(
                Code::SwcEdit,
                s.name.span,
                format!("section `{}` is added to an SWC morphology without saying where it attaches", s.name.name),
            )
            .label("no `at`")
            .help(format!("attach it to a section of the file: `section {} at soma(0.5) {{ … }}`", s.name.name)),
        );
        return None;
    };
    if let Some(distance) = &at.distance {
        diags.push(
            Diagnostic::error(Code::SwcEdit, distance.span, "an added section attaches at `section(x)`")
                .label("a distance is not accepted here")
                .help(format!("name the section and x, such as `{}(1)`", at.section.name)),
        );
        return None;
    }
    let Some(index) = out.section(&at.section.name) else {
        let mut d = Diagnostic::error(
            Code::MissingParent,
            at.section.span,
            format!("no section `{}` to attach `{}` to", at.section.name, s.name.name),
        )
        .label("not a section of this morphology (after the edits above)");
        if let Some(help) = morphology::section_help(out.section_names(), &at.section.name) {
            d = d.help(help);
        }
        diags.push(d);
        return None;
    };
    let x = match &at.x {
        Some(x) => morphology::location_x(globals, diags, x)?,
        None => 1.0,
    };
    Some((index, x))
}

/// The SWC type of an added section by the base of its name, as Import3d names them; a name
/// that is none of them gives a section of no type (in no type's region).
fn kind_of_name(name: &str) -> SectionKind {
    match name.split('[').next().unwrap_or(name) {
        "soma" => SectionKind::Soma,
        "axon" => SectionKind::Axon,
        "dend" => SectionKind::Dend,
        "apic" => SectionKind::Apic,
        _ => SectionKind::Other(0),
    }
}
