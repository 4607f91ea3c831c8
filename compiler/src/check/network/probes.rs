//! Stimuli (a point mechanism at one cell's location) and probes: what they measure, where,
//! and in which dimension.

use crate::check::cell::Mechanisms;
use crate::check::globals::Globals;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, ProbeTarget, Var};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::Dimension;

use super::CellTypes;
use super::select::{Selected, cell_location, cell_of, node_on, select, single};

pub(super) fn stimulus(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    s: &ast::Stimulus,
) -> Option<ir::Stimulus> {
    let mechanism = mechanisms.expect(globals, diags, &s.mechanism, ir::MechanismKind::Point)?;
    if mechanisms.list[mechanism.index()].reads_pre_voltage() {
        diags.push(
            Diagnostic::error(
                Code::NoPresynapticLocation,
                s.mechanism.span,
                format!("`{}` reads `v_pre`, and a stimulus has no presynaptic cell", s.mechanism.name),
            )
            .label("reads the presynaptic voltage")
            .help("declare it as a synapse of the cell (`synapse gap = gap_junction at soma(0.5)`) and `connect` a cell to it"),
        );
        return None;
    }
    let (gid, node) = cell_location(globals, diags, cells, network, &s.at)?;
    let mut params: Vec<f64> = mechanisms.list[mechanism.index()].params.iter().map(|p| p.default).collect();
    mechanisms.param_values(globals, diags, mechanism, &s.props, &mut params, &[]);
    Some(ir::Stimulus { name: s.name.name.clone(), mechanism, gid, node, params, span: s.span })
}

/// The probes one `probe` declares: one, or one per selected cell for a location on several
/// cells (`v at hidden.soma(0.5)`, `v at hidden[0..8].soma(0.5)`), labelled with the cell's
/// index in its population appended (`h0`, `h1`, …).
pub(super) fn probe(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    p: &ast::Probe,
) -> Option<Vec<ir::Probe>> {
    // `v at …` and `mech.var at …`.
    if let Some(at) = &p.at {
        return located_probes(globals, diags, mechanisms, cells, network, p, at);
    }
    // `stimulus.var`.
    if let Some(index) = network.stimuli.iter().position(|s| s.name == p.head.name.name) {
        return stimulus_probe(diags, mechanisms, network, p, index).map(|x| vec![x]);
    }
    // `pop[i].synapse.var`.
    synapse_probe(globals, diags, mechanisms, cells, network, p).map(|x| vec![x])
}

/// A located probe on one cell (`cells[0].soma(0.5)`) or on each cell of a population or range.
fn located_probes(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    p: &ast::Probe,
    at: &ast::CellLocation,
) -> Option<Vec<ir::Probe>> {
    let Selected::Cells(range) = select(globals, diags, network, &at.cells)? else {
        diags.push(Diagnostic::error(Code::WrongKind, at.cells.span, "a spike source has no location to probe"));
        return None;
    };
    if range.is_empty() {
        diags.push(Diagnostic::error(Code::IndexOutOfRange, at.cells.span, "this range selects no cells"));
        return None;
    }
    // `cells[3]` keeps its label; a population or a range labels each cell by its index.
    let one_cell = matches!(at.cells.index, Some(ast::Index::One(_)));
    let first_gid = network.populations[range.population.index()].first_gid;
    // Every cell of a population has the same type, so the same node.
    let node = node_on(globals, diags, cells, network, first_gid + range.start, &at.at)?;
    range
        .iter()
        .map(|i| {
            let label = if one_cell { p.label.value.clone() } else { format!("{}{i}", p.label.value) };
            let site = Site { label, gid: first_gid + i, node };
            located_probe(diags, mechanisms, cells, network, p, at, site)
        })
        .collect()
}

/// One located probe's label, cell and node.
struct Site {
    label: String,
    gid: u32,
    node: u32,
}

/// `v at …`, an ion variable (`eca at …`) or `mech.var at …`, at `site`.
fn located_probe(
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    p: &ast::Probe,
    at: &ast::CellLocation,
    Site { label, gid, node }: Site,
) -> Option<ir::Probe> {
    let head = &p.head.name;
    if p.head.index.is_some() {
        diags.push(Diagnostic::error(
            Code::WrongKind,
            p.head.span,
            "a quantity measured at a location takes no cell index",
        ));
        return None;
    }
    match (head.name.as_str(), p.path.as_slice()) {
        ("v", []) => {
            Some(ir::Probe { label, gid, target: ProbeTarget::Voltage { node }, dim: Dimension::VOLTAGE, span: p.span })
        }
        (name, []) => {
            let cell = cell_of(cells, network, gid);
            let (target, dim) = ion_probe(diags, mechanisms, cell, head, name, node, at.span)?;
            Some(ir::Probe { label, gid, target, dim, span: p.span })
        }
        (_, [var]) => {
            let cell = cell_of(cells, network, gid);
            let (target, dim) = density_probe(diags, mechanisms, cell, head, var, node, at.span)?;
            Some(ir::Probe { label, gid, target, dim, span: p.span })
        }
        _ => {
            diags.push(
                Diagnostic::error(Code::WrongKind, p.head.span, "a probe at a location measures `v` or `mechanism.variable`")
                    .help("for example `probe \"soma_v\" = v at cells[0].soma(0.5)` or `probe \"m\" = hh.m at cells[0].soma(0.5)`"),
            );
            None
        }
    }
}

/// `mech.var at …`: a variable of a density mechanism inserted at that node.
fn density_probe(
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cell: &ir::Cell,
    head: &ast::Ident,
    var: &ast::Ident,
    node: u32,
    location: Span,
) -> Option<(ProbeTarget, Dimension)> {
    let Some(mechanism) = mechanisms.by_name.get(&head.name) else {
        diags.push(Diagnostic::error(Code::UndefinedName, head.span, format!("cannot find mechanism `{}`", head.name)));
        return None;
    };
    let Some(instance) =
        cell.density.iter().position(|d| d.mechanism == *mechanism && d.nodes.binary_search(&node).is_ok())
    else {
        diags.push(
            Diagnostic::error(
                Code::WrongKind,
                head.span,
                format!("`{}` is not inserted at this location of cell `{}`", head.name, cell.name),
            )
            .secondary(location, "this location"),
        );
        return None;
    };
    let var = variable(diags, &mechanisms.list[mechanism.index()], var)?;
    let dim = var_dim(&mechanisms.list[mechanism.index()], var);
    Some((ProbeTarget::Density { instance: ir::DensityId(instance as u32), node, var }, dim))
}

/// `stimulus.var`: a variable of the stimulus at `index`.
fn stimulus_probe(
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    network: &ir::Network,
    p: &ast::Probe,
    index: usize,
) -> Option<ir::Probe> {
    let label = p.label.value.clone();
    let stimulus = &network.stimuli[index];
    let [var] = p.path.as_slice() else {
        diags.push(Diagnostic::error(Code::WrongKind, p.span, "write `stimulus.variable`, such as `clamp.i`"));
        return None;
    };
    let mechanism = &mechanisms.list[stimulus.mechanism.index()];
    let var = variable(diags, mechanism, var)?;
    Some(ir::Probe {
        label,
        gid: stimulus.gid,
        target: ProbeTarget::Stimulus { index: ir::StimulusId(index as u32), var },
        dim: var_dim(mechanism, var),
        span: p.span,
    })
}

/// `pop[i].synapse.var`: a variable of a synapse of one cell.
fn synapse_probe(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    p: &ast::Probe,
) -> Option<ir::Probe> {
    let label = p.label.value.clone();
    let selected = select(globals, diags, network, &p.head)?;
    let gid = single(diags, network, selected, p.head.span)?;
    let [synapse, var] = p.path.as_slice() else {
        diags.push(
            Diagnostic::error(
                Code::WrongKind,
                p.span,
                "write `population[i].synapse.variable`, or `quantity at population[i].section(x)`",
            )
            .help("for example `probe \"syn_i\" = cells[1].syn.i` or `probe \"v\" = v at cells[0].soma(0.5)`"),
        );
        return None;
    };
    let cell = cell_of(cells, network, gid);
    let Some(index) = cell.synapses.iter().position(|s| s.name == synapse.name) else {
        diags.push(Diagnostic::error(
            Code::UndefinedName,
            synapse.span,
            format!("cell `{}` has no synapse `{}`", cell.name, synapse.name),
        ));
        return None;
    };
    let mechanism = &mechanisms.list[cell.synapses[index].mechanism.index()];
    let var = variable(diags, mechanism, var)?;
    let dim = var_dim(mechanism, var);
    Some(ir::Probe {
        label,
        gid,
        target: ProbeTarget::Synapse { index: ir::SynapseId(index as u32), var },
        dim,
        span: p.span,
    })
}

/// `eca at …`, `cai at …`, `cao at …`, `ica at …`: a variable of an ion that some mechanism
/// inserted at that node uses (as in NEURON, where an ion exists where its mechanisms are).
fn ion_probe(
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cell: &ir::Cell,
    head: &ast::Ident,
    name: &str,
    node: u32,
    location: Span,
) -> Option<(ProbeTarget, Dimension)> {
    let Some((species, (var, dim))) = cell
        .species
        .iter()
        .enumerate()
        .find_map(|(i, s)| crate::check::mechanism::ion_var(&s.name, name).map(|v| (i, v)))
    else {
        let mut d =
            Diagnostic::error(Code::WrongKind, head.span, format!("`{name}` is not a quantity measured at a location"));
        if mechanisms.by_name.contains_key(name) {
            d = d.note(format!("`{name}` is a mechanism: measure one of its variables, `{name}.variable`"));
        }
        diags.push(d.help(
            "a probe at a location measures `v`, an ion variable (`eca`, `cai`, `cao`, `ica`, …) or \
             `mechanism.variable`, for example `probe \"soma_v\" = v at cells[0].soma(0.5)` or \
             `probe \"m\" = hh.m at cells[0].soma(0.5)`",
        ));
        return None;
    };
    let species_name = &cell.species[species].name;
    let present = cell.density.iter().any(|d| {
        d.nodes.binary_search(&node).is_ok()
            && mechanisms.list[d.mechanism.index()].ions.iter().any(|u| u.species == *species_name)
    }) || cell.synapses.iter().any(|s| {
        s.node == node && mechanisms.list[s.mechanism.index()].ions.iter().any(|u| u.species == *species_name)
    });
    if !present {
        diags.push(
            Diagnostic::error(
                Code::WrongKind,
                head.span,
                format!("no mechanism at this location of cell `{}` uses ion `{species_name}`", cell.name),
            )
            .secondary(location, "this location"),
        );
        return None;
    }
    Some((ProbeTarget::Ion { species: ir::CellSpeciesId(species as u32), var, node }, dim))
}

/// The dimension of a readable variable (currents: densities for density mechanisms).
fn var_dim(m: &ir::Mechanism, var: Var) -> Dimension {
    match var {
        Var::State(i) => m.states[i.index()].dim,
        Var::Derived(i) => m.derived[i.index()].dim,
        Var::Param(i) => m.params[i.index()].dim,
        Var::Current(_) => match m.kind {
            ir::MechanismKind::Density => Dimension::CURRENT_DENSITY,
            ir::MechanismKind::Point => Dimension::CURRENT,
        },
    }
}

/// A readable variable of a mechanism: a state, derived value, parameter or current.
fn variable(diags: &mut Diagnostics, m: &ir::Mechanism, name: &ast::Ident) -> Option<Var> {
    let n = name.name.as_str();
    if let Some(i) = m.states.iter().position(|s| s.name == n) {
        return Some(Var::State(ir::StateId(i as u32)));
    }
    if let Some(i) = m.derived.iter().position(|s| s.name == n) {
        return Some(Var::Derived(ir::DerivedId(i as u32)));
    }
    if let Some(i) = m.currents.iter().position(|s| s.name == n) {
        return Some(Var::Current(ir::CurrentId(i as u32)));
    }
    if let Some(i) = m.params.iter().position(|s| s.name == n) {
        return Some(Var::Param(ir::ParamId(i as u32)));
    }
    let names = m
        .states
        .iter()
        .map(|s| s.name.as_str())
        .chain(m.derived.iter().map(|s| s.name.as_str()))
        .chain(m.currents.iter().map(|s| s.name.as_str()));
    let mut d = Diagnostic::error(Code::UndefinedName, name.span, format!("`{}` has no variable `{n}`", m.name))
        .label("unknown variable");
    if let Some(s) = did_you_mean(n, names) {
        d = d.help(format!("did you mean `{s}`?"));
    }
    diags.push(d);
    None
}
