//! Cells: a morphology, membrane properties, mechanisms placed by region, ion species,
//! synapses and a spike detector, to an [`ir::Cell`] on the discretized tree.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::expr::IonVar;
use crate::ir::{self, MechId};
use crate::limits;
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::constant::{eval_in_unit, eval_in_unit_with};
use super::globals::{Globals, ItemRef};
use super::morphology::{self, Sections, SwcFiles, location_x, unknown_property};

/// The checked mechanisms, by name.
pub(crate) struct Mechanisms<'m> {
    pub list: &'m [ir::Mechanism],
    pub by_name: HashMap<String, MechId>,
}

impl Mechanisms<'_> {
    /// Looks up a mechanism of the wanted kind, reporting what is wrong otherwise.
    pub fn expect(
        &self,
        globals: &Globals<'_>,
        diags: &mut Diagnostics,
        name: &ast::Ident,
        kind: ir::MechanismKind,
    ) -> Option<MechId> {
        let Some(&id) = self.by_name.get(&name.name) else {
            if globals.is_broken(&name.name) {
                return None;
            }
            let mut d =
                Diagnostic::error(Code::UndefinedName, name.span, format!("cannot find mechanism `{}`", name.name))
                    .label("not a mechanism");
            if globals.items.contains_key(&name.name) {
                d = d.note(format!("`{}` is defined, but it is not a mechanism", name.name));
            } else if let Some(s) = did_you_mean(&name.name, self.by_name.keys().map(String::as_str)) {
                d = d.help(format!("a mechanism with a similar name exists: `{s}`"));
            } else {
                d = d.help(format!("is an `import {}` missing?", name.name));
            }
            diags.push(d);
            return None;
        };
        globals.mark_used(&name.name, name.span.file);
        let mechanism = &self.list[id.index()];
        if mechanism.kind != kind {
            let (is, wanted) = match kind {
                ir::MechanismKind::Point => ("a density mechanism", "a point mechanism (a synapse or stimulus)"),
                ir::MechanismKind::Density => ("a point mechanism", "a density mechanism (inserted in a region)"),
            };
            diags.push(
                Diagnostic::error(Code::WrongMechanismKind, name.span, format!("`{}` is {is}", name.name))
                    .label(format!("expected {wanted}"))
                    .secondary(mechanism.span, "defined here"),
            );
            return None;
        }
        Some(id)
    }

    /// Parameter values of a placement: the defaults overridden by `props`, whose expressions
    /// may use `bindings` (`distance` for density mechanisms).
    #[allow(clippy::too_many_arguments)]
    pub fn param_values(
        &self,
        globals: &Globals<'_>,
        diags: &mut Diagnostics,
        id: MechId,
        props: &[ast::Property],
        base: &mut [f64],
        bindings: &[(&str, f64, Dimension)],
    ) {
        let mechanism = &self.list[id.index()];
        for prop in props {
            let Some(index) = mechanism.params.iter().position(|p| p.name == prop.key.name) else {
                let names: Vec<&str> = mechanism.params.iter().map(|p| p.name.as_str()).collect();
                let mut d = Diagnostic::error(
                    Code::UnknownProperty,
                    prop.key.span,
                    format!("`{}` has no parameter `{}`", mechanism.name, prop.key.name),
                )
                .label("unknown parameter");
                if let Some(s) = did_you_mean(&prop.key.name, names.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else if !names.is_empty() {
                    d = d.help(format!(
                        "its parameters are {}",
                        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ));
                }
                diags.push(d);
                continue;
            };
            let param = &mechanism.params[index];
            let unit = Unit { dim: param.dim, scale: 1.0 };
            let what = format!("parameter `{}` of `{}`", param.name, mechanism.name);
            if let Some(value) = eval_in_unit_with(globals, diags, &prop.value, unit, false, &what, bindings) {
                if !(param.min..=param.max).contains(&value) {
                    diags.push(
                        Diagnostic::error(
                            Code::OutOfRange,
                            prop.value.span,
                            format!("{what} is outside its allowed range"),
                        )
                        .label(format!("allowed: [{}, {}] in internal units", param.min, param.max))
                        .secondary(param.span, "range declared here"),
                    );
                }
                base[index] = value;
            }
        }
    }
}

/// A cell type's regions (`all`, sections, SWC types, `region` definitions), each to its
/// segment centre nodes, ascending: what a `trainable … in REGION` covers.
pub(crate) type RegionNodes = HashMap<String, Vec<u32>>;

/// What a `train` block needs of a checked cell besides its IR.
pub(crate) struct CellFacts {
    pub regions: RegionNodes,
    /// The amplitudes of its density parameters (for a trained distance profile).
    pub amplitudes: Amplitudes,
    /// Per section, its axial resistivity `Ra` (internal units).
    pub section_ra: Vec<f64>,
}

/// Checks a cell: its morphology, discretized; membrane properties; density mechanisms by
/// region; species overrides; synapses and the spike detector. Also returns what a `train`
/// block needs of it.
pub(crate) fn check(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    species: &[ir::Species],
    swc_files: &SwcFiles,
) -> Option<(ir::Cell, CellFacts)> {
    let morph = find_morphology(cell, globals, diags)?;
    let Some(mut sections) = morphology::sections(globals, diags, morph, swc_files) else {
        check_placements_without_tree(cell, globals, diags, mechanisms);
        return None;
    };
    let (v_init, cm) = membrane_properties(cell, globals, diags, &mut sections);
    let Some(mut tree) = morphology::discretize(diags, &sections, cell.name.span) else {
        check_placements_without_tree(cell, globals, diags, mechanisms);
        return None;
    };
    set_distance_origin(cell, globals, diags, &sections, &mut tree);
    warn_many_compartments(cell, diags, &tree);
    let node_cm: Vec<f64> =
        tree.nodes.iter().map(|n| if n.area_um2 > 0.0 { cm[n.section as usize] } else { 0.0 }).collect();
    let placed = place_density_mechanisms(cell, globals, diags, mechanisms, &sections, &tree);
    let (density, amplitudes) = density_instances(mechanisms.list, placed, diags);
    let cell_species = cell_species(cell, globals, diags, species);
    let (synapses, detector) = synapses_and_detector(cell, globals, diags, mechanisms, &sections, &tree);
    let ohm_cm = crate::units::parse_unit("ohm*cm").expect("valid unit").scale;
    let section_ra = sections.specs.iter().map(|s| s.ra_ohm_cm * ohm_cm).collect();
    let regions = sections
        .regions
        .iter()
        .map(|(name, list)| {
            let mut nodes: Vec<u32> = list.iter().flat_map(|&s| tree.sections[s].centres.iter().copied()).collect();
            nodes.sort_unstable();
            nodes.dedup();
            (name.clone(), nodes)
        })
        .collect();

    let cell = ir::Cell {
        name: cell.name.name.clone(),
        span: cell.span,
        section_names: sections.specs.iter().map(|s| s.name.clone()).collect(),
        tree,
        cm: node_cm,
        v_init,
        species: cell_species,
        density,
        synapses,
        detector,
    };
    Some((cell, CellFacts { regions, amplitudes, section_ra }))
}

/// The cell's one morphology, named or inline; reports a name that is not a morphology, a
/// second morphology, and a cell without any.
fn find_morphology<'m, 'g: 'm>(
    cell: &'m ast::Cell,
    globals: &Globals<'g>,
    diags: &mut Diagnostics,
) -> Option<&'m ast::Morphology> {
    let mut morph: Option<&ast::Morphology> = None;
    for member in &cell.members {
        let (found, span) = match member {
            ast::CellMember::MorphologyRef(name) => match globals.get(&name.name, name.span.file) {
                Some(ItemRef::Morphology(m)) => (Some(m), name.span),
                _ if globals.is_broken(&name.name) => (None, name.span),
                _ => {
                    let known = globals.names_where(|i| matches!(i, ItemRef::Morphology(_)));
                    let mut d = Diagnostic::error(
                        Code::UndefinedName,
                        name.span,
                        format!("cannot find morphology `{}`", name.name),
                    )
                    .label("not a morphology");
                    if let Some(s) = did_you_mean(&name.name, known) {
                        d = d.help(format!("a morphology with a similar name exists: `{s}`"));
                    }
                    diags.push(d);
                    (None, name.span)
                }
            },
            ast::CellMember::Morphology(m) => (Some(m), m.span),
            _ => continue,
        };
        if morph.is_some() {
            diags.push(Diagnostic::error(Code::DuplicateName, span, "a cell has only one morphology"));
        } else if found.is_some() {
            morph = found;
        }
    }
    if morph.is_none() && !cell.members.iter().any(|m| matches!(m, ast::CellMember::MorphologyRef(_))) {
        diags.push(
            Diagnostic::error(
                Code::MissingProperty,
                cell.name.span,
                format!("cell `{}` has no morphology", cell.name.name),
            )
            .help("add `morphology = name` or an inline `morphology { section soma { … } }`"),
        );
    }
    morph
}

/// Membrane properties: a default for all, then per-region overrides in order. Sets each
/// section's `Ra` and `cm`; returns `v_init` and, per section, the specific capacitance in
/// internal units.
fn membrane_properties(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    sections: &mut Sections,
) -> (f64, Vec<f64>) {
    let specific_r = Unit { dim: Dimension::SPECIFIC_RESISTANCE, scale: 1.0 };
    let specific_c = Unit { dim: Dimension::SPECIFIC_CAPACITANCE, scale: 1.0 };
    let ohm_cm = crate::units::parse_unit("ohm*cm").expect("valid unit").scale;
    let uf_cm2 = crate::units::parse_unit("uF/cm2").expect("valid unit").scale;
    let mut v_init = -65.0;
    let mut ra = vec![35.4 * ohm_cm; sections.specs.len()];
    let mut cm = vec![uf_cm2; sections.specs.len()];
    for member in &cell.members {
        let ast::CellMember::Property { prop, region } = member else { continue };
        let key = prop.key.name.as_str();
        let (unit, target) = match key {
            "cm" => (specific_c, Some(&mut cm)),
            "Ra" => (specific_r, Some(&mut ra)),
            "v_init" => (Unit { dim: Dimension::VOLTAGE, scale: 1.0 }, None),
            _ => {
                diags.push(unknown_property(&prop.key, "cells", &["cm", "Ra", "v_init"]));
                continue;
            }
        };
        let Some(value) = eval_in_unit(globals, diags, &prop.value, unit, false, &format!("`{key}`")) else { continue };
        match target {
            None if region.is_some() => diags.push(Diagnostic::error(
                Code::UnknownProperty,
                prop.key.span,
                "`v_init` is set for the whole cell",
            )),
            None => v_init = value,
            Some(list) => {
                if value <= 0.0 {
                    diags.push(Diagnostic::error(
                        Code::OutOfRange,
                        prop.value.span,
                        format!("`{key}` must be positive"),
                    ));
                    continue;
                }
                if key == "Ra" {
                    warn_unusual_ra(diags, prop, value / ohm_cm);
                }
                let which = match region {
                    None => (0..sections.specs.len()).collect(),
                    Some(r) => match region_sections(diags, sections, r) {
                        Some(list) => list,
                        None => continue,
                    },
                };
                for s in which {
                    list[s] = value;
                }
            }
        }
    }
    for (i, spec) in sections.specs.iter_mut().enumerate() {
        spec.ra_ohm_cm = ra[i] / ohm_cm;
        spec.cm_uf_cm2 = cm[i] / uf_cm2;
    }
    (v_init, cm)
}

/// Warns about an axial resistivity far outside what neurons have (a unit mistake, likely).
fn warn_unusual_ra(diags: &mut Diagnostics, prop: &ast::Property, ra_ohm_cm: f64) {
    let (low, high) = limits::USUAL_RA_OHM_CM;
    if !(low..=high).contains(&ra_ohm_cm) {
        diags.push(
            Diagnostic::warning(
                Code::SuspiciousScale,
                prop.value.span,
                format!("`Ra` = {} ohm*cm is far outside the usual range", limits::number(ra_ohm_cm)),
            )
            .label(format!("expected between {low} and {high} ohm*cm"))
            .note("axial resistivity is 30 to 300 ohm*cm in neurons; check the unit"),
        );
    }
}

/// Warns about a cell with more compartments than detailed models have.
fn warn_many_compartments(cell: &ast::Cell, diags: &mut Diagnostics, tree: &crate::morph::CableTree) {
    let compartments = limits::cell_compartments(tree) as f64;
    if compartments > limits::WARN_CELL_COMPARTMENTS {
        diags.push(
            Diagnostic::warning(
                Code::SuspiciousScale,
                cell.name.span,
                format!("cell `{}` has {} compartments", cell.name.name, limits::count(compartments)),
            )
            .label(format!("more than {} compartments", limits::count(limits::WARN_CELL_COMPARTMENTS)))
            .note("detailed neuron models have hundreds to tens of thousands; check `nseg`, `d_lambda` and `Ra`"),
        );
    }
}

/// Density mechanisms: per mechanism, its first insert and, per node, the parameter values.
fn place_density_mechanisms(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    sections: &Sections,
    tree: &crate::morph::CableTree,
) -> Vec<Placed> {
    let mut placed: Vec<Placed> = Vec::new();
    for member in &cell.members {
        let ast::CellMember::Insert(insert) = member else { continue };
        place_insert(globals, diags, mechanisms, sections, tree, insert, &mut placed);
    }
    // A region without sections (an SWC cell without an axon) places nothing.
    placed.retain(|(_, _, per_node)| !per_node.is_empty());
    placed
}

/// One `insert`: its mechanism's parameter values on every node of its region, into the
/// mechanism's entry of `placed` (added at its first insert).
fn place_insert(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    sections: &Sections,
    tree: &crate::morph::CableTree,
    insert: &ast::Insert,
    placed: &mut Vec<Placed>,
) {
    let Some(id) = mechanisms.expect(globals, diags, &insert.mechanism, ir::MechanismKind::Density) else {
        return;
    };
    // `in a + b`: the union of the regions' sections, each once.
    let mut region: Vec<usize> = Vec::new();
    let mut known = true;
    for name in &insert.regions {
        match region_sections(diags, sections, name) {
            Some(list) => region.extend(list.into_iter().filter(|s| !region.contains(s)).collect::<Vec<_>>()),
            None => known = false,
        }
    }
    if !known {
        return;
    }
    let defaults: Vec<f64> = mechanisms.list[id.index()].params.iter().map(|p| p.default).collect();
    let slot = match placed.iter().position(|(m, _, _)| *m == id) {
        Some(i) => i,
        None => {
            placed.push((id, insert.mechanism.span, HashMap::new()));
            placed.len() - 1
        }
    };
    // Each node keeps the values it had and takes the ones this insert sets (as NEURON).
    let mut overrides = vec![f64::NAN; defaults.len()];
    let errors_before = diags.error_count();
    mechanisms.param_values(globals, diags, id, &insert.props, &mut overrides, &[("distance", 0.0, Dimension::LENGTH)]);
    // Values that depend on `distance` (µm along the tree from the root's middle, NEURON's
    // `h.distance()` from soma(0.5)) are evaluated per node; the errors of distance 0 were
    // reported above, and of the others (a value out of range or not finite far from the
    // soma) the first is.
    let varies = insert.props.iter().any(|p| mentions(&p.value, "distance"));
    let mut clean = diags.error_count() == errors_before;
    for s in region {
        for &node in &tree.sections[s].centres {
            let mut here = overrides.clone();
            if varies {
                let distance_um = tree.nodes[node as usize].distance_um;
                values_at_distance(globals, diags, mechanisms, id, insert, distance_um, &mut here, &mut clean);
            }
            let values = placed[slot].2.entry(node).or_insert_with(|| NodeValues::of(&defaults));
            values.take(&here, &overrides);
        }
    }
}

/// The values an insert sets at `distance_um` from the root, into `here` (NaN where it sets
/// none); reports the first error while `clean`, with the distance.
#[allow(clippy::too_many_arguments)]
fn values_at_distance(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    id: MechId,
    insert: &ast::Insert,
    distance_um: f64,
    here: &mut [f64],
    clean: &mut bool,
) {
    let distance = [("distance", distance_um, Dimension::LENGTH)];
    here.fill(f64::NAN);
    let mut at_node = Diagnostics::new();
    mechanisms.param_values(globals, &mut at_node, id, &insert.props, here, &distance);
    if *clean && let Some(d) = at_node.iter().find(|d| d.is_error()) {
        diags.push(d.clone().note(format!("at distance = {distance_um} um")));
        *clean = false;
    }
}

/// The density instances in the order they run (`concentration_order`), each parameter
/// uniform where it has one value on all its nodes, and their parameters' amplitudes.
fn density_instances(
    list: &[ir::Mechanism],
    placed: Vec<Placed>,
    diags: &mut Diagnostics,
) -> (Vec<ir::DensityInstance>, Amplitudes) {
    let order = concentration_order(list, &placed, diags);
    let mut placed: Vec<Option<_>> = placed.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| placed[i].take().expect("each placement once"))
        .map(|(mechanism, _, per_node)| {
            let mut nodes: Vec<u32> = per_node.keys().copied().collect();
            nodes.sort_unstable();
            let count = list[mechanism.index()].params.len();
            let params = (0..count)
                .map(|p| {
                    let values: Vec<f64> = nodes.iter().map(|n| per_node[n].value[p]).collect();
                    if values.iter().all(|v| v.to_bits() == values[0].to_bits()) {
                        ir::ParamValue::Uniform(values[0])
                    } else {
                        ir::ParamValue::PerNode(values)
                    }
                })
                .collect();
            let amplitudes = (0..count).map(|p| nodes.iter().map(|n| per_node[n].amplitude[p]).collect()).collect();
            (ir::DensityInstance { mechanism, nodes, params }, amplitudes)
        })
        .unzip()
}

/// Species: the global ones with this cell's overrides.
fn cell_species(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    species: &[ir::Species],
) -> Vec<ir::Species> {
    let mut cell_species = species.to_vec();
    for member in &cell.members {
        if let ast::CellMember::Species(s) = member {
            match cell_species.iter_mut().find(|x| x.name == s.name.name) {
                Some(existing) => super::species::apply(globals, diags, s, existing),
                None => diags.push(
                    Diagnostic::error(
                        Code::IonNotProvided,
                        s.name.span,
                        format!("no ion species `{}` to override", s.name.name),
                    )
                    .help("declare it at top level with `species`"),
                ),
            }
        }
    }
    cell_species
}

/// The synapses and the spike detector, in the order they are written.
fn synapses_and_detector(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    sections: &Sections,
    tree: &crate::morph::CableTree,
) -> (Vec<ir::PointInstance>, Option<ir::Detector>) {
    let mut synapses: Vec<ir::PointInstance> = Vec::new();
    let mut detector = None;
    for member in &cell.members {
        match member {
            ast::CellMember::Synapse(p) => {
                if let Some(synapse) = synapse(globals, diags, mechanisms, sections, tree, p, &synapses) {
                    synapses.push(synapse);
                }
            }
            ast::CellMember::Detector(d) => {
                let Some(node) = location_node(globals, diags, sections, tree, &d.at) else { continue };
                let unit = Unit { dim: Dimension::VOLTAGE, scale: 1.0 };
                let Some(threshold) = eval_in_unit(globals, diags, &d.threshold, unit, false, "the threshold") else {
                    continue;
                };
                if detector.is_some() {
                    diags.push(Diagnostic::error(Code::DuplicateName, d.span, "a cell has only one spike detector"));
                }
                detector = Some(ir::Detector { node, threshold, span: d.span });
            }
            _ => {}
        }
    }
    (synapses, detector)
}

/// One synapse: a point mechanism at a location, with its parameter values; `None` (reported)
/// for a name used before, an unknown mechanism or location.
fn synapse(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    sections: &Sections,
    tree: &crate::morph::CableTree,
    p: &ast::Placement,
    synapses: &[ir::PointInstance],
) -> Option<ir::PointInstance> {
    if let Some(previous) = synapses.iter().find(|s| s.name == p.name.name) {
        diags.push(
            Diagnostic::error(
                Code::DuplicateName,
                p.name.span,
                format!("synapse `{}` is defined more than once", p.name.name),
            )
            .secondary(previous.span, "first defined here"),
        );
        return None;
    }
    let id = mechanisms.expect(globals, diags, &p.mechanism, ir::MechanismKind::Point)?;
    let node = location_node(globals, diags, sections, tree, &p.at)?;
    let mut params: Vec<f64> = mechanisms.list[id.index()].params.iter().map(|p| p.default).collect();
    mechanisms.param_values(globals, diags, id, &p.props, &mut params, &[]);
    Some(ir::PointInstance { name: p.name.name.clone(), mechanism: id, node, params, span: p.span })
}

fn region_sections(diags: &mut Diagnostics, sections: &Sections, name: &ast::Ident) -> Option<Vec<usize>> {
    match sections.regions.get(&name.name) {
        Some(list) => Some(list.clone()),
        None => {
            diags.push(morphology::unknown_region(name, sections.regions.keys().map(String::as_str)));
            None
        }
    }
}

/// The node of `section(x)` (x defaults to 0.5).
pub(crate) fn location_node(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    sections: &Sections,
    tree: &crate::morph::CableTree,
    at: &ast::Location,
) -> Option<u32> {
    if let Some(distance) = &at.distance {
        // `region(distance = d)`: a section or any region (`apic`, `dend`, …).
        let Some(candidates) = sections.regions.get(&at.section.name) else {
            diags.push(morphology::unknown_region(&at.section, sections.regions.keys().map(String::as_str)));
            return None;
        };
        return morphology::node_at_distance(globals, diags, tree, candidates, &at.section, distance);
    }
    let (section, x) = section_and_x(globals, diags, sections, at)?;
    Some(tree.node_at(section, x))
}

/// The section and x of `section(x)` (x defaults to 0.5).
fn section_and_x(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    sections: &Sections,
    at: &ast::Location,
) -> Option<(usize, f64)> {
    let Some(section) = sections.section(&at.section.name) else {
        let mut d = Diagnostic::error(
            Code::UnknownRegion,
            at.section.span,
            format!("no section `{}` in this cell", at.section.name),
        )
        .label("unknown section");
        if let Some(help) = morphology::section_help(sections.section_names(), &at.section.name) {
            d = d.help(help);
        }
        diags.push(d);
        return None;
    };
    let x = match &at.x {
        Some(x) => location_x(globals, diags, x)?,
        None => 0.5,
    };
    Some((section, x))
}

/// Measures `distance` in this cell from its `distance from section(x)`, if it has one (NEURON's
/// `h.distance(0, sec(x))`), instead of the middle of the root section.
fn set_distance_origin(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    sections: &Sections,
    tree: &mut crate::morph::CableTree,
) {
    let mut origins = cell.members.iter().filter_map(|m| match m {
        ast::CellMember::DistanceOrigin(at) => Some(at),
        _ => None,
    });
    let Some(at) = origins.next() else { return };
    for again in origins {
        diags.push(
            Diagnostic::error(Code::DuplicateName, again.span, "this cell's distance origin is given twice")
                .secondary(at.span, "first given here"),
        );
    }
    if let Some(distance) = &at.distance {
        diags.push(
            Diagnostic::error(Code::DistanceOrigin, distance.span, "the origin of distances is a point `section(x)`")
                .label("a distance cannot define where distances start")
                .help(format!("name the section and x, such as `distance from {}(0)`", at.section.name)),
        );
        return;
    }
    if let Some((section, x)) = section_and_x(globals, diags, sections, at) {
        tree.set_distance_origin(section, x);
    }
}

/// A density mechanism of a cell: its first `insert` and, per node, its parameter values.
/// A density mechanism placed on a cell: at its first insert, its values on every node it covers.
type Placed = (MechId, Span, HashMap<u32, NodeValues>);

/// A density mechanism's parameters on one node: their values and their amplitudes (the value
/// of the expression that set each one with `distance` = 0, its value where none mentions
/// `distance`).
struct NodeValues {
    value: Vec<f64>,
    amplitude: Vec<f64>,
}

impl NodeValues {
    fn of(defaults: &[f64]) -> NodeValues {
        NodeValues { value: defaults.to_vec(), amplitude: defaults.to_vec() }
    }

    /// Takes what an insert sets here (`here`, NaN where it sets nothing) and its values at
    /// distance 0.
    fn take(&mut self, here: &[f64], at_origin: &[f64]) {
        for (k, x) in here.iter().enumerate() {
            if !x.is_nan() {
                self.value[k] = *x;
                self.amplitude[k] = at_origin[k];
            }
        }
    }
}

/// Per density instance of a cell (in [`ir::Cell::density`]'s order), per parameter, per node
/// of the instance: the amplitude of its value there (see [`NodeValues`]).
pub(crate) type Amplitudes = Vec<Vec<Vec<f64>>>;

/// The order in which a cell's density mechanisms run, as indices into `placed`: one that writes
/// a concentration before those on the same nodes that read it, so that a reader (`sk`, of
/// `cai`) advances with the value of this step as in NEURON, whose type order happens to put
/// the writers first; the order of insertion otherwise. Where mechanisms read concentrations
/// each other writes, the cycle runs from its first insert on, with a warning.
fn concentration_order(list: &[ir::Mechanism], placed: &[Placed], diags: &mut Diagnostics) -> Vec<usize> {
    let is_concentration = |var: &IonVar| matches!(var, IonVar::Inside | IonVar::Outside);
    let writes: Vec<Vec<(&str, IonVar)>> = placed
        .iter()
        .map(|(id, _, _)| {
            let m = &list[id.index()];
            m.states
                .iter()
                .filter_map(|s| s.writes_ion)
                .map(|(ion, var)| (m.ions[ion.index()].species.as_str(), var))
                .collect()
        })
        .collect();
    let reads: Vec<Vec<(&str, IonVar)>> = placed
        .iter()
        .map(|(id, _, _)| {
            let ions = &list[id.index()].ions;
            ions.iter()
                .flat_map(|u| u.reads.iter().filter(|v| is_concentration(v)).map(|v| (u.species.as_str(), *v)))
                .collect()
        })
        .collect();
    // The concentration `reader` reads and `writer` writes on a node they share.
    let written_for = |writer: usize, reader: usize| {
        let shared = writer != reader && placed[writer].2.keys().any(|n| placed[reader].2.contains_key(n));
        writes[writer].iter().find(|w| shared && reads[reader].contains(w)).copied()
    };
    let n = placed.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let writer_of = |reader: usize| (0..n).find(|&w| !done[w] && written_for(w, reader).is_some());
        let next = match (0..n).find(|&i| !done[i] && writer_of(i).is_none()) {
            Some(i) => i,
            None => {
                // Every one left waits for a writer: follow writers back until one repeats.
                let mut path = vec![(0..n).find(|&i| !done[i]).expect("one left")];
                let cycle = loop {
                    let writer = writer_of(*path.last().expect("not empty")).expect("every one left waits");
                    if let Some(at) = path.iter().position(|&i| i == writer) {
                        break path.split_off(at);
                    }
                    path.push(writer);
                };
                diags.push(cycle_warning(list, placed, &cycle, &written_for));
                *cycle.iter().min().expect("not empty")
            }
        };
        done[next] = true;
        order.push(next);
    }
    order
}

/// The warning for mechanisms each of which reads a concentration the next one (and the last,
/// the first's) writes, at the first inserted.
fn cycle_warning<'m>(
    list: &[ir::Mechanism],
    placed: &[Placed],
    cycle: &[usize],
    written_for: &dyn Fn(usize, usize) -> Option<(&'m str, IonVar)>,
) -> Diagnostic {
    let name = |i: usize| list[placed[i].0.index()].name.as_str();
    let label = |k: usize| {
        let (reader, writer) = (cycle[k], cycle[(k + 1) % cycle.len()]);
        let (species, var) = written_for(writer, reader).expect("a link of the cycle");
        let suffix = if var == IonVar::Inside { "i" } else { "o" };
        (placed[reader].1, format!("`{}` reads `{species}{suffix}`, which `{}` writes", name(reader), name(writer)))
    };
    let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).expect("not empty");
    let names: Vec<String> = cycle.iter().map(|&i| format!("`{}`", name(i))).collect();
    let (last, others) = names.split_last().expect("not empty");
    let (span, message) = label(first);
    let mut d = Diagnostic::warning(
        Code::ConcentrationCycle,
        span,
        format!("{} and {last} read concentrations written by each other", others.join(", ")),
    )
    .label(message);
    for k in (0..cycle.len()).filter(|&k| k != first) {
        let (span, message) = label(k);
        d = d.secondary(span, message);
    }
    d.note("a mechanism that writes a concentration runs before those that read it; no order does that here, so these run in the order they are inserted")
        .help("insert first the mechanism whose new concentration the others should see in the same step")
}

/// When the morphology is broken, still checks the mechanisms and parameters placed, so their
/// mistakes are reported in the same run.
fn check_placements_without_tree(
    cell: &ast::Cell,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
) {
    for member in &cell.members {
        let (name, props, kind) = match member {
            ast::CellMember::Insert(i) => (&i.mechanism, &i.props, ir::MechanismKind::Density),
            ast::CellMember::Synapse(p) => (&p.mechanism, &p.props, ir::MechanismKind::Point),
            _ => continue,
        };
        if let Some(id) = mechanisms.expect(globals, diags, name, kind) {
            let mut values = vec![0.0; mechanisms.list[id.index()].params.len()];
            mechanisms.param_values(globals, diags, id, props, &mut values, &[]);
        }
    }
}

/// Whether an expression uses the name `name`.
fn mentions(expr: &ast::Expr, name: &str) -> bool {
    match &expr.kind {
        ast::ExprKind::Number { .. } => false,
        ast::ExprKind::Name(n) => n.name == name,
        ast::ExprKind::Unary(_, a) => mentions(a, name),
        ast::ExprKind::Binary(_, a, b) => mentions(a, name) || mentions(b, name),
        ast::ExprKind::Call { args, .. } => args.iter().any(|a| mentions(a, name)),
        ast::ExprKind::If { cond, then, otherwise } => {
            mentions(cond, name) || mentions(then, name) || mentions(otherwise, name)
        }
        ast::ExprKind::Block { lets, result } => {
            lets.iter().any(|l| mentions(&l.value, name)) || mentions(result, name)
        }
    }
}
