//! Morphologies: inline section trees and SWC imports to section lists for
//! [`crate::morph::discretize`], with regions. Checked per cell, because the d_lambda rule
//! and the axial resistances need the cell's `cm` and `Ra`.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::limits;
use crate::morph::{self, Geometry, Nseg, SectionKind, SectionSpec};
use crate::source::{FileId, Span};
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::constant::{eval, eval_in_unit};
use super::globals::Globals;

/// SWC files the driver loaded: (model file, path as written) to the loaded file or why not.
pub type SwcFiles = HashMap<(FileId, String), Result<FileId, String>>;

/// A morphology ready to discretize, with what is needed to resolve names in it.
pub(crate) struct Sections {
    pub specs: Vec<SectionSpec>,
    pub spans: Vec<Span>,
    /// Region name to section indices (sections, SWC types, `all` and user regions).
    pub regions: HashMap<String, Vec<usize>>,
}

impl Sections {
    pub fn section(&self, name: &str) -> Option<usize> {
        find_section(self.specs.iter().map(|s| s.name.as_str()), name)
    }

    pub fn section_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.specs.iter().map(|s| s.name.as_str())
    }
}

/// NEURON's defaults, replaced by the cell's `Ra` and `cm` before discretizing.
const DEFAULT_RA_OHM_CM: f64 = 35.4;
const DEFAULT_CM_UF_CM2: f64 = 1.0;

pub(crate) fn sections(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    morphology: &ast::Morphology,
    swc_files: &SwcFiles,
) -> Option<Sections> {
    match &morphology.body {
        ast::MorphologyBody::Tree(members) => tree(globals, diags, morphology.span, members),
        ast::MorphologyBody::Swc { path, props, regions, edits } => {
            let (mut out, nseg) = swc(globals, diags, path, props, swc_files)?;
            if !super::swc_edit::apply(globals, diags, &mut out, edits, nseg) {
                return None;
            }
            add_regions(diags, &mut out, regions);
            Some(out)
        }
    }
}

fn tree(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    span: Span,
    members: &[ast::MorphologyMember],
) -> Option<Sections> {
    let sections: Vec<&ast::Section> = members
        .iter()
        .filter_map(|m| match m {
            ast::MorphologyMember::Section(s) => Some(s),
            ast::MorphologyMember::Region(_) => None,
        })
        .collect();
    let errors_before = diags.error_count();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in sections.iter().enumerate() {
        if let Some(&previous) = index.get(s.name.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    s.name.span,
                    format!("section `{}` is defined more than once", s.name.name),
                )
                .secondary(sections[previous].name.span, "first defined here"),
            );
        } else {
            index.insert(&s.name.name, i);
        }
    }
    if sections.is_empty() {
        diags.push(Diagnostic::error(Code::RootCount, span, "this morphology has no sections"));
        return None;
    }
    let mut specs = Vec::new();
    for s in &sections {
        let parent = s.parent.as_ref().and_then(|at| {
            let Some(&p) = index.get(at.section.name.as_str()) else {
                let mut d = Diagnostic::error(
                    Code::MissingParent,
                    at.section.span,
                    format!("no section `{}` to attach `{}` to", at.section.name, s.name.name),
                )
                .label("not a section of this morphology");
                if let Some(c) = did_you_mean(&at.section.name, index.keys().copied()) {
                    d = d.help(format!("a section with a similar name exists: `{c}`"));
                }
                diags.push(d);
                return None;
            };
            let x = match &at.x {
                Some(x) => location_x(globals, diags, x)?,
                None => 1.0,
            };
            Some((p, x))
        });
        let kind = if s.name.name == "soma" { SectionKind::Soma } else { SectionKind::Dend };
        specs.push(section_spec(globals, diags, s, parent, SectionDefaults { nseg: Nseg::Fixed(1), kind }));
    }
    if diags.error_count() > errors_before {
        return None;
    }
    let mut out = Sections { specs, spans: sections.iter().map(|s| s.name.span).collect(), regions: HashMap::new() };
    default_regions(&mut out);
    let defs: Vec<ast::RegionDef> = members
        .iter()
        .filter_map(|m| match m {
            ast::MorphologyMember::Region(r) => Some(r.clone()),
            ast::MorphologyMember::Section(_) => None,
        })
        .collect();
    add_regions(diags, &mut out, &defs);
    Some(out)
}

/// A location `x` on a section: a dimensionless constant in [0, 1].
pub(crate) fn location_x(globals: &Globals<'_>, diags: &mut Diagnostics, x: &ast::Expr) -> Option<f64> {
    let value = eval_in_unit(globals, diags, x, Unit::ONE, false, "a location on a section")?;
    if !(0.0..=1.0).contains(&value) {
        diags.push(
            Diagnostic::error(Code::LocationOutOfRange, x.span, format!("location {value} is outside the section"))
                .label("must be between 0 and 1")
                .note("0 is the section's start and 1 its end"),
        );
        return None;
    }
    Some(value)
}

/// What a section declared with `section` is when its properties do not say.
pub(crate) struct SectionDefaults {
    pub nseg: Nseg,
    pub kind: SectionKind,
}

/// A declared section's spec: a cylinder with its segment count, NEURON's default `Ra` and
/// `cm` (the cell's replace them).
pub(crate) fn section_spec(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    s: &ast::Section,
    parent: Option<(usize, f64)>,
    defaults: SectionDefaults,
) -> SectionSpec {
    let props = section_props(globals, diags, s, defaults.kind);
    for (value, what) in [(props.length, "length"), (props.diam, "diam")] {
        if value.is_none() && !s.props.iter().any(|p| p.key.name == what) {
            diags.push(
                Diagnostic::error(
                    Code::MissingProperty,
                    s.name.span,
                    format!("section `{}` has no `{what}`", s.name.name),
                )
                .help(format!("add `{what} = … um`")),
            );
        }
    }
    let nseg = match (props.nseg, props.d_lambda) {
        (Some(n), None) => Nseg::Fixed(n),
        (None, Some(d)) => Nseg::DLambda { d_lambda: d, frequency_hz: props.frequency },
        (None, None) => defaults.nseg,
        (Some(_), Some(_)) => {
            diags.push(Diagnostic::error(
                Code::DuplicateName,
                s.name.span,
                "give either `nseg` or `d_lambda`, not both",
            ));
            Nseg::Fixed(1)
        }
    };
    SectionSpec {
        name: s.name.name.clone(),
        parent,
        geometry: Geometry::Cylinder { length_um: props.length.unwrap_or(1.0), diam_um: props.diam.unwrap_or(1.0) },
        nseg,
        ra_ohm_cm: DEFAULT_RA_OHM_CM,
        cm_uf_cm2: DEFAULT_CM_UF_CM2,
        kind: props.kind,
    }
}

/// The properties of an inline section as written; `None` where absent or wrong (reported).
struct SectionProps {
    length: Option<f64>,
    diam: Option<f64>,
    nseg: Option<u32>,
    d_lambda: Option<f64>,
    /// For d_lambda, in Hz (NEURON's default 100).
    frequency: f64,
    kind: SectionKind,
}

/// Reads a section's properties, reporting values out of range and unknown properties.
fn section_props(globals: &Globals<'_>, diags: &mut Diagnostics, s: &ast::Section, kind: SectionKind) -> SectionProps {
    let mut out = SectionProps { length: None, diam: None, nseg: None, d_lambda: None, frequency: 100.0, kind };
    let um = Unit { dim: Dimension::LENGTH, scale: 1.0 };
    for prop in &s.props {
        let key = prop.key.name.as_str();
        match key {
            "length" | "diam" => {
                let value = eval_in_unit(globals, diags, &prop.value, um, false, &format!("`{key}`"));
                if let Some(v) = value
                    && v <= 0.0
                {
                    diags.push(
                        Diagnostic::error(
                            Code::NonPositiveGeometry,
                            prop.value.span,
                            format!("`{key}` must be positive"),
                        )
                        .label(format!("this is {v} um")),
                    );
                }
                let slot = if key == "length" { &mut out.length } else { &mut out.diam };
                *slot = value.filter(|v| *v > 0.0);
            }
            "nseg" => {
                if let Some(n) = eval_in_unit(globals, diags, &prop.value, Unit::ONE, false, "`nseg`") {
                    if n < 1.0 || n.fract() != 0.0 || n > f64::from(morph::MAX_NSEG) {
                        diags.push(
                            Diagnostic::error(
                                Code::NonPositiveGeometry,
                                prop.value.span,
                                "`nseg` must be a whole number from 1 to 1000000",
                            )
                            .label(format!("this is {n}")),
                        );
                    } else {
                        out.nseg = Some(n as u32);
                    }
                }
            }
            "d_lambda" => out.d_lambda = positive(globals, diags, prop, Unit::ONE),
            "frequency" => {
                let hz = Unit { dim: Dimension::TIME.powi(-1).expect("small"), scale: 1e-3 };
                if let Some(f) = positive(globals, diags, prop, hz) {
                    out.frequency = f / hz.scale;
                }
            }
            "type" => out.kind = section_kind(diags, &prop.value).unwrap_or(out.kind),
            _ => diags.push(unknown_property(
                &prop.key,
                "sections",
                &["length", "diam", "nseg", "d_lambda", "frequency", "type"],
            )),
        }
    }
    out
}

fn positive(globals: &Globals<'_>, diags: &mut Diagnostics, prop: &ast::Property, unit: Unit) -> Option<f64> {
    let value = eval_in_unit(globals, diags, &prop.value, unit, false, &format!("`{}`", prop.key.name))?;
    if value <= 0.0 {
        diags.push(Diagnostic::error(
            Code::NonPositiveGeometry,
            prop.value.span,
            format!("`{}` must be positive", prop.key.name),
        ));
        return None;
    }
    Some(value)
}

fn section_kind(diags: &mut Diagnostics, value: &ast::Expr) -> Option<SectionKind> {
    if let ast::ExprKind::Name(n) = &value.kind {
        match n.name.as_str() {
            "soma" => return Some(SectionKind::Soma),
            "axon" => return Some(SectionKind::Axon),
            "dend" => return Some(SectionKind::Dend),
            "apic" => return Some(SectionKind::Apic),
            _ => {}
        }
    }
    diags.push(
        Diagnostic::error(
            Code::UnknownProperty,
            value.span,
            "a section type is one of `soma`, `axon`, `dend` or `apic`",
        )
        .label("unknown section type"),
    );
    None
}

pub(crate) fn unknown_property(key: &ast::Ident, what: &str, valid: &[&str]) -> Diagnostic {
    let mut d = Diagnostic::error(Code::UnknownProperty, key.span, format!("{what} have no property `{}`", key.name))
        .label("unknown property");
    if let Some(s) = did_you_mean(&key.name, valid.iter().copied()) {
        d = d.help(format!("did you mean `{s}`?"));
    } else {
        d = d.help(format!(
            "the properties are {}",
            valid.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    d
}

fn kind_name(kind: SectionKind) -> Option<&'static str> {
    match kind {
        SectionKind::Soma => Some("soma"),
        SectionKind::Axon => Some("axon"),
        SectionKind::Dend => Some("dend"),
        SectionKind::Apic => Some("apic"),
        SectionKind::Other(_) => None,
    }
}

/// The regions every morphology has (`all`, the types, each section, each array's base name),
/// in place of any before.
pub(crate) fn default_regions(out: &mut Sections) {
    out.regions.clear();
    out.regions.insert("all".to_string(), (0..out.specs.len()).collect());
    for kind in ["soma", "axon", "dend", "apic"] {
        let list: Vec<usize> = (0..out.specs.len()).filter(|&i| kind_name(out.specs[i].kind) == Some(kind)).collect();
        out.regions.insert(kind.to_string(), list);
    }
    for (i, spec) in out.specs.iter().enumerate() {
        out.regions.insert(spec.name.clone(), vec![i]);
        // SWC sections `dend[3]` also join the region of their base name.
        if let Some(base) = spec.name.split('[').next().filter(|b| *b != spec.name) {
            out.regions.entry(base.to_string()).or_default().push(i);
        }
    }
    for list in out.regions.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
}

fn add_regions(diags: &mut Diagnostics, out: &mut Sections, defs: &[ast::RegionDef]) {
    for def in defs {
        let mut list = Vec::new();
        for part in &def.parts {
            match out.regions.get(&part.name) {
                Some(sections) => list.extend(sections.iter().copied()),
                None => diags.push(unknown_region(part, out.regions.keys().map(String::as_str))),
            }
        }
        list.sort_unstable();
        list.dedup();
        if out.regions.insert(def.name.name.clone(), list).is_some()
            && out.specs.iter().any(|s| s.name == def.name.name)
        {
            diags.push(Diagnostic::error(
                Code::DuplicateName,
                def.name.span,
                format!("region `{}` has the name of a section", def.name.name),
            ));
        }
    }
}

pub(crate) fn unknown_region<'n>(name: &ast::Ident, known: impl IntoIterator<Item = &'n str>) -> Diagnostic {
    let mut d =
        Diagnostic::error(Code::UnknownRegion, name.span, format!("no region `{}` in this morphology", name.name))
            .label("unknown region");
    if let Some(s) = did_you_mean(&name.name, known) {
        d = d.help(format!("a region with a similar name exists: `{s}`"));
    } else {
        d = d.note("regions are `all`, section names, `soma`, `axon`, `dend`, `apic` and `region` definitions");
    }
    d
}

/// An SWC morphology: the loaded file read and grouped into sections as NEURON's Import3d
/// does, with the model's segment count and unit, and the default regions; and that segment
/// count, for the sections its edits add.
fn swc(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    path: &ast::StringLit,
    props: &[ast::Property],
    swc_files: &SwcFiles,
) -> Option<(Sections, Nseg)> {
    let file = loaded_swc_file(diags, path, swc_files)?;
    let (nseg, units) = swc_props(globals, diags, props);
    let text = &globals.sources.get(file).text;
    let (samples, errors) = morph::parse_swc(file, text);
    let failed = errors.iter().any(|d| d.is_error());
    diags.extend(errors);
    if failed {
        return None;
    }
    // The model's `units` wins over the file's header.
    let um_per_unit = match units {
        Some(um) => um,
        None => match morph::swc_header_units(file, text) {
            Some(Ok((um, _))) => um,
            Some(Err(warning)) => {
                diags.push(warning);
                1.0
            }
            None => 1.0,
        },
    };
    let options = morph::SwcOptions { um_per_unit, ..morph::SwcOptions::default() };
    let cell = match morph::swc_to_sections(file, &samples, &options) {
        Ok(cell) => cell,
        Err(errors) => {
            diags.extend(errors);
            return None;
        }
    };
    diags.extend(cell.warnings.iter().cloned());
    let specs: Vec<SectionSpec> =
        cell.sections.iter().map(|s| s.to_spec(nseg, DEFAULT_RA_OHM_CM, DEFAULT_CM_UF_CM2)).collect();
    let spans = cell.sections.iter().map(|s| s.span).collect();
    let mut out = Sections { specs, spans, regions: HashMap::new() };
    default_regions(&mut out);
    Some((out, nseg))
}

/// The file the driver loaded for an SWC path, or why it could not (reported).
fn loaded_swc_file(diags: &mut Diagnostics, path: &ast::StringLit, swc_files: &SwcFiles) -> Option<FileId> {
    match swc_files.get(&(path.span.file, path.value.clone())) {
        Some(Ok(file)) => Some(*file),
        Some(Err(why)) => {
            diags.push(Diagnostic::error(
                Code::SwcError,
                path.span,
                format!("cannot read SWC file `{}`: {why}", path.value),
            ));
            None
        }
        None => {
            diags.push(Diagnostic::error(
                Code::SwcError,
                path.span,
                format!("SWC file `{}` was not loaded", path.value),
            ));
            None
        }
    }
}

/// An SWC morphology's properties: the segment count of every section (`nseg`, or
/// `d_lambda` at `frequency`) and, if given, µm per unit of the file.
fn swc_props(globals: &Globals<'_>, diags: &mut Diagnostics, props: &[ast::Property]) -> (Nseg, Option<f64>) {
    let mut nseg = Nseg::Fixed(1);
    let mut frequency = 100.0;
    let mut d_lambda = None;
    let mut units = None;
    for prop in props {
        match prop.key.name.as_str() {
            "nseg" => {
                if let Some((n, _)) = eval(globals, diags, &prop.value, "`nseg`")
                    && n >= 1.0
                    && n.fract() == 0.0
                    && n <= f64::from(morph::MAX_NSEG)
                {
                    nseg = Nseg::Fixed(n as u32);
                } else {
                    diags.push(Diagnostic::error(
                        Code::NonPositiveGeometry,
                        prop.value.span,
                        format!("`nseg` must be a whole number from 1 to {}", morph::MAX_NSEG),
                    ));
                }
            }
            "d_lambda" => d_lambda = positive(globals, diags, prop, Unit::ONE),
            "frequency" => {
                let hz = Unit { dim: Dimension::TIME.powi(-1).expect("small"), scale: 1e-3 };
                if let Some(f) = positive(globals, diags, prop, hz) {
                    frequency = f / hz.scale;
                }
            }
            // `units = nm` (a unit is a length of 1 of it), or any length: `units = 0.001 mm`.
            "units" => units = positive(globals, diags, prop, Unit { dim: Dimension::LENGTH, scale: 1.0 }),
            _ => {
                diags.push(unknown_property(&prop.key, "SWC morphologies", &["nseg", "d_lambda", "frequency", "units"]))
            }
        }
    }
    if let Some(d) = d_lambda {
        nseg = Nseg::DLambda { d_lambda: d, frequency_hz: frequency };
    }
    (nseg, units)
}

/// Discretizes, turning structural problems into diagnostics at the sections' names.
pub(crate) fn discretize(diags: &mut Diagnostics, sections: &Sections, fallback: Span) -> Option<morph::CableTree> {
    match morph::discretize(&sections.specs) {
        Ok(tree) => Some(tree),
        Err(errors) => {
            for e in errors {
                let at = match &e {
                    morph::MorphError::MissingParent { section, .. }
                    | morph::MorphError::LocationOutOfRange { section, .. }
                    | morph::MorphError::NonPositive { section, .. }
                    | morph::MorphError::TooFewPoints { section, .. }
                    | morph::MorphError::TooManyCompartments { section, .. } => sections.spans.get(*section).copied(),
                    morph::MorphError::Cycle { sections: list } | morph::MorphError::MultipleRoots { roots: list } => {
                        list.first().and_then(|s| sections.spans.get(*s).copied())
                    }
                    morph::MorphError::Empty | morph::MorphError::NoRoot => None,
                };
                let message = e.message(|i| sections.specs.get(i).map_or_else(|| format!("#{i}"), |s| s.name.clone()));
                let mut d = Diagnostic::error(e.code(), at.unwrap_or(fallback), message);
                if let morph::MorphError::TooManyCompartments { section, .. } = e {
                    d = too_many_compartments(d, &sections.specs[section]);
                }
                diags.push(d);
            }
            None
        }
    }
}

/// Says where the segments of the section with the most come from.
fn too_many_compartments(d: Diagnostic, spec: &SectionSpec) -> Diagnostic {
    let d = d.label("this section has the most segments");
    match spec.nseg {
        Nseg::DLambda { d_lambda, frequency_hz } => d
            .note(format!(
                "its segments come from the d_lambda rule: d_lambda = {} at {} Hz, with Ra = {} ohm*cm and \
                 cm = {} uF/cm2",
                limits::number(d_lambda),
                limits::number(frequency_hz),
                limits::number(spec.ra_ohm_cm),
                limits::number(spec.cm_uf_cm2)
            ))
            .help("check `d_lambda` and the cell's `Ra` and `cm` (typical: d_lambda = 0.1, Ra = 35 to 300 ohm*cm)"),
        Nseg::Fixed(_) => d.help("give fewer segments (`nseg`)"),
    }
}

/// A section by name; a base name such as `soma` also names `soma[0]` when the cell has only
/// that one section of the array (SWC imports always make arrays).
pub(crate) fn find_section<'n>(names: impl Iterator<Item = &'n str> + Clone, name: &str) -> Option<usize> {
    names.clone().position(|s| s == name).or_else(|| {
        let prefix = format!("{name}[");
        let mut indexed = names.enumerate().filter(|(_, s)| s.starts_with(&prefix)).map(|(i, _)| i);
        let first = indexed.next();
        if indexed.next().is_none() { first } else { None }
    })
}

/// Help for a section name that is not found: the sections of an array when the name is its
/// base, else a similar name.
pub(crate) fn section_help<'n>(names: impl Iterator<Item = &'n str> + Clone, name: &str) -> Option<String> {
    let prefix = format!("{name}[");
    let array: Vec<&str> = names.clone().filter(|s| s.starts_with(&prefix)).collect();
    if !array.is_empty() {
        let shown: Vec<String> = array.iter().take(4).map(|s| format!("`{s}`")).collect();
        let more = if array.len() > 4 { format!(" and {} more", array.len() - 4) } else { String::new() };
        return Some(format!(
            "`{name}` is an array of {} sections ({}{more}); name one, such as `{}(0.5)`",
            array.len(),
            shown.join(", "),
            array[0]
        ));
    }
    did_you_mean(name, names).map(|s| format!("a section with a similar name exists: `{s}`"))
}

/// The node at path distance `distance` from the distance origin on the first of `sections` (in
/// their order) that reaches it, then NEURON's `sec(x)` node. Along a section away from the
/// origin that is `x = (d - start) / (end - start)`; on a section the origin's path to the root
/// enters at `x0` (its own, or one it hangs below), the distance grows both ways from `x0`, and
/// the point towards x = 1 is taken if there is one.
pub(crate) fn node_at_distance(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    tree: &morph::CableTree,
    sections: &[usize],
    name: &ast::Ident,
    distance: &ast::Expr,
) -> Option<u32> {
    let um = Unit { dim: Dimension::LENGTH, scale: 1.0 };
    let d = eval_in_unit(globals, diags, distance, um, false, "a distance")?;
    let spans: Vec<(usize, f64, f64)> =
        sections.iter().map(|&s| (s, tree.path_distance_um(s, 0.0), tree.path_distance_um(s, 1.0))).collect();
    for &(s, start, end) in &spans {
        match tree.origin_entry(s) {
            None if start <= d && d <= end && end > start => {
                return Some(tree.node_at(s, ((d - start) / (end - start)).clamp(0.0, 1.0)));
            }
            Some(x0) if tree.section_length(s) > 0.0 => {
                let away = (d - tree.path_distance_um(s, x0)) / tree.section_length(s);
                let x = [x0 + away, x0 - away].into_iter().find(|x| away >= 0.0 && (0.0..=1.0).contains(x));
                if let Some(x) = x {
                    return Some(tree.node_at(s, x));
                }
            }
            _ => {}
        }
    }
    let (lo, hi) = spans.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &(_, a, b)| (lo.min(a), hi.max(b)));
    let (origin, origin_words) = if tree.distance_origin == (tree.root, 0.5) {
        ("the soma", "the root's middle")
    } else {
        ("the distance origin", "the cell's `distance from` origin")
    };
    diags.push(
        Diagnostic::error(
            Code::LocationOutOfRange,
            distance.span,
            format!("no point of `{}` is {d} um from {origin}", name.name),
        )
        .label("out of reach")
        .note(format!("`{}` spans {lo:.1} to {hi:.1} um of path distance from {origin_words}", name.name)),
    );
    None
}
