//! Networks: populations, connections, spike sources, stimuli and probes.

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::{self, CellId, CellRange, Presynaptic, ProbeTarget, Var};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use super::cell::Mechanisms;
use super::constant::{eval_count, eval_in_unit, eval_limit_in_unit};
use super::globals::Globals;
use super::morphology::{location_x, unknown_property};

pub(crate) struct CellTypes<'c> {
    /// Checked cells by name; `None` for cells that failed to check.
    pub cells: &'c [(String, Option<CellId>)],
    pub list: &'c [ir::Cell],
}

pub(crate) fn check(
    network: &ast::Network,
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
) -> ir::Network {
    let mut out = ir::Network { name: network.name.name.clone(), ..ir::Network::default() };
    let mut next_gid: u64 = 0;
    // Populations of cells that failed to check: uses of them are not reported again.
    let mut broken: Vec<&str> = Vec::new();
    // Pass 1: populations and sources, so members may refer to later ones.
    for member in &network.members {
        match member {
            ast::NetworkMember::Population(p) => {
                if out.populations.iter().any(|x| x.name == p.name.name)
                    || out.sources.iter().any(|x| x.name == p.name.name)
                {
                    diags.push(Diagnostic::error(
                        Code::DuplicateName,
                        p.name.span,
                        format!("`{}` is defined more than once in this network", p.name.name),
                    ));
                    continue;
                }
                let Some(count) = eval_count(globals, diags, &p.count, "a population size") else { continue };
                let cell = match cells.cells.iter().find(|(n, _)| *n == p.cell.name) {
                    Some((_, Some(id))) => *id,
                    Some((_, None)) => {
                        broken.push(&p.name.name);
                        continue;
                    }
                    None if globals.is_broken(&p.cell.name) => {
                        broken.push(&p.name.name);
                        continue;
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            Code::UndefinedName,
                            p.cell.span,
                            format!("cannot find cell `{}`", p.cell.name),
                        )
                        .label("not a cell");
                        if let Some(s) = did_you_mean(&p.cell.name, cells.cells.iter().map(|(n, _)| n.as_str())) {
                            d = d.help(format!("a cell with a similar name exists: `{s}`"));
                        }
                        diags.push(d);
                        continue;
                    }
                };
                globals.mark_used(&p.cell.name, p.cell.span.file);
                if next_gid + count > u64::from(u32::MAX) {
                    diags.push(Diagnostic::error(
                        Code::OutOfRange,
                        p.count.span,
                        "the network has more than 4294967295 cells",
                    ));
                    continue;
                }
                out.populations.push(ir::Population {
                    name: p.name.name.clone(),
                    cell,
                    first_gid: next_gid as u32,
                    count: count as u32,
                    span: p.span,
                });
                next_gid += count;
            }
            ast::NetworkMember::Source(s) => {
                if let Some(kind) = source_kind(globals, diags, &s.generator) {
                    out.sources.push(ir::SpikeSource { name: s.name.name.clone(), kind, span: s.span });
                }
            }
            _ => {}
        }
    }
    let mut members = Diagnostics::new();
    for member in &network.members {
        let diags = &mut members;
        match member {
            ast::NetworkMember::Connect(c) => {
                if let Some(connection) = connect(globals, diags, mechanisms, cells, &out, c) {
                    out.connections.push(connection);
                }
            }
            ast::NetworkMember::Stimulus(s) => {
                let Some(mechanism) = mechanisms.expect(globals, diags, &s.mechanism, ir::MechanismKind::Point) else {
                    continue;
                };
                let Some((gid, node)) = cell_location(globals, diags, cells, &out, &s.at) else { continue };
                let mut params: Vec<f64> =
                    mechanisms.list[mechanism.index()].params.iter().map(|p| p.default).collect();
                mechanisms.param_values(globals, diags, mechanism, &s.props, &mut params, &[]);
                out.stimuli.push(ir::Stimulus {
                    name: s.name.name.clone(),
                    mechanism,
                    gid,
                    node,
                    params,
                    span: s.span,
                });
            }
            ast::NetworkMember::Probe(p) => {
                if out.probes.iter().any(|x| x.label == p.label.value) {
                    diags.push(Diagnostic::error(
                        Code::DuplicateName,
                        p.label.span,
                        format!("probe \"{}\" is defined more than once", p.label.value),
                    ));
                    continue;
                }
                if let Some(probe) = probe(globals, diags, mechanisms, cells, &out, p) {
                    out.probes.push(probe);
                }
            }
            ast::NetworkMember::RecordSpikes(_) => out.record_spikes = true,
            _ => {}
        }
    }
    // An unknown population that is a broken one was reported where it broke.
    for d in members.into_sorted() {
        let about_broken =
            d.code == Code::UnknownPopulation && broken.iter().any(|b| d.message.contains(&format!("`{b}`")));
        if !about_broken {
            diags.push(d);
        }
    }
    out
}

fn source_kind(globals: &Globals<'_>, diags: &mut Diagnostics, call: &ast::Call) -> Option<ir::SourceKind> {
    let ms = Unit { dim: Dimension::TIME, scale: 1.0 };
    let rate = Unit { dim: Dimension::TIME.powi(-1).expect("small"), scale: 1.0 };
    let named = |diags: &mut Diagnostics, keys: &[(&str, Unit, Option<f64>)]| -> Option<Vec<f64>> {
        let mut values: Vec<Option<f64>> = keys.iter().map(|(_, _, d)| *d).collect();
        let mut ok = true;
        for (i, arg) in call.args.iter().enumerate() {
            let index = match &arg.name {
                Some(n) => keys.iter().position(|(k, _, _)| *k == n.name),
                None => Some(i).filter(|i| *i < keys.len()),
            };
            let Some(index) = index else {
                let valid: Vec<&str> = keys.iter().map(|(k, _, _)| *k).collect();
                match &arg.name {
                    Some(n) => diags.push(unknown_property(n, &format!("`{}` sources", call.name.name), &valid)),
                    None => diags.push(Diagnostic::error(
                        Code::WrongArgumentCount,
                        arg.span,
                        format!("`{}` takes {} arguments", call.name.name, keys.len()),
                    )),
                }
                ok = false;
                continue;
            };
            let (key, unit, default) = keys[index];
            let what = format!("`{key}`");
            // What is unbounded by default (a stop time) may be written unbounded.
            values[index] = if default.is_some_and(f64::is_infinite) {
                eval_limit_in_unit(globals, diags, &arg.value, unit, false, &what)
            } else {
                eval_in_unit(globals, diags, &arg.value, unit, false, &what)
            };
            ok &= values[index].is_some();
        }
        for ((key, _, _), v) in keys.iter().zip(&values) {
            if v.is_none() && ok {
                diags.push(Diagnostic::error(
                    Code::MissingProperty,
                    call.span,
                    format!("`{}` needs `{key}`", call.name.name),
                ));
                ok = false;
            }
        }
        ok.then(|| values.into_iter().map(|v| v.unwrap_or(0.0)).collect())
    };
    match call.name.name.as_str() {
        "spikes" => {
            let mut times = Vec::new();
            for arg in &call.args {
                times.push(eval_in_unit(globals, diags, &arg.value, ms, false, "a spike time")?);
            }
            times.sort_by(f64::total_cmp);
            Some(ir::SourceKind::Times(times))
        }
        "regular" => {
            let v =
                named(diags, &[("start", ms, Some(0.0)), ("interval", ms, None), ("stop", ms, Some(f64::INFINITY))])?;
            if v[1] <= 0.0 {
                diags.push(Diagnostic::error(Code::OutOfRange, call.span, "the interval must be positive"));
                return None;
            }
            Some(ir::SourceKind::Regular { start: v[0], interval: v[1], stop: v[2] })
        }
        "poisson" => {
            let v = named(
                diags,
                &[
                    ("rate", rate, None),
                    ("seed", Unit::ONE, Some(1.0)),
                    ("start", ms, Some(0.0)),
                    ("stop", ms, Some(f64::INFINITY)),
                ],
            )?;
            if v[0] < 0.0 || v[1] < 0.0 || v[1].fract() != 0.0 {
                diags.push(Diagnostic::error(
                    Code::OutOfRange,
                    call.span,
                    "the rate must be non-negative and the seed a whole number",
                ));
                return None;
            }
            Some(ir::SourceKind::Poisson { rate: v[0], seed: v[1] as u64, start: v[2], stop: v[3] })
        }
        other => {
            let mut d = Diagnostic::error(Code::UndefinedName, call.name.span, format!("no spike source kind `{other}`"))
                .help("the kinds are `spikes(t1, t2, …)`, `regular(start, interval, stop)` and `poisson(rate, seed, start, stop)`");
            if let Some(s) = did_you_mean(other, ["spikes", "regular", "poisson"]) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            None
        }
    }
}

/// What a selection's name refers to.
enum Selected {
    Cells(CellRange),
    Source(u32),
}

fn select(
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
        return Some(Selected::Source(i as u32));
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
    Some(Selected::Cells(CellRange { population: p as u32, start: start as u32, end: end as u32, step: step as u32 }))
}

fn single(diags: &mut Diagnostics, network: &ir::Network, selected: Selected, span: Span) -> Option<u32> {
    match selected {
        Selected::Cells(r) if r.len() == 1 => Some(network.populations[r.population as usize].first_gid + r.start),
        _ => {
            diags.push(
                Diagnostic::error(Code::IndexOutOfRange, span, "this needs exactly one cell")
                    .help("select one cell, such as `cells[0]`"),
            );
            None
        }
    }
}

fn cell_location(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    at: &ast::CellLocation,
) -> Option<(u32, u32)> {
    let selected = select(globals, diags, network, &at.cells)?;
    let gid = single(diags, network, selected, at.cells.span)?;
    let cell = cell_of(cells, network, gid);
    let names = cell.section_names.iter().map(String::as_str);
    if let Some(distance) = &at.at.distance {
        // A section, or every section of an array (`apic` for `apic[0]`, `apic[1]`, …).
        let base = format!("{}[", at.at.section.name);
        let candidates: Vec<usize> = names
            .clone()
            .enumerate()
            .filter(|(_, n)| *n == at.at.section.name || n.starts_with(&base))
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            diags.push(Diagnostic::error(
                Code::UnknownRegion,
                at.at.section.span,
                format!("cell `{}` has no section `{}`", cell.name, at.at.section.name),
            ));
            return None;
        }
        let node =
            super::morphology::node_at_distance(globals, diags, &cell.tree, &candidates, &at.at.section, distance)?;
        return Some((gid, node));
    }
    let section = match super::morphology::find_section(names.clone(), &at.at.section.name) {
        Some(s) => s,
        None => {
            let mut d = Diagnostic::error(
                Code::UnknownRegion,
                at.at.section.span,
                format!("cell `{}` has no section `{}`", cell.name, at.at.section.name),
            )
            .label("unknown section");
            if let Some(help) = super::morphology::section_help(names, &at.at.section.name) {
                d = d.help(help);
            }
            diags.push(d);
            return None;
        }
    };
    let x = match &at.at.x {
        Some(x) => location_x(globals, diags, x)?,
        None => 0.5,
    };
    Some((gid, cell.tree.node_at(section, x)))
}

fn cell_of<'c>(cells: &CellTypes<'c>, network: &ir::Network, gid: u32) -> &'c ir::Cell {
    let p = network
        .populations
        .iter()
        .find(|p| gid >= p.first_gid && gid < p.first_gid + p.count)
        .expect("gid from a selection");
    &cells.list[p.cell.index()]
}

fn connect(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    c: &ast::Connect,
) -> Option<ir::Connection> {
    let source = select(globals, diags, network, &c.source);
    let target = select(globals, diags, network, &c.target);
    let (source, target) = (source?, target?);
    let Selected::Cells(target) = target else {
        diags.push(Diagnostic::error(
            Code::InvalidConnection,
            c.target.span,
            "a spike source cannot receive connections",
        ));
        return None;
    };
    let cell = &cells.list[network.populations[target.population as usize].cell.index()];
    let Some(synapse) = cell.synapses.iter().position(|s| s.name == c.synapse.name) else {
        let mut d = Diagnostic::error(
            Code::InvalidConnection,
            c.synapse.span,
            format!("cell `{}` has no synapse `{}`", cell.name, c.synapse.name),
        )
        .label("unknown synapse");
        if let Some(s) = did_you_mean(&c.synapse.name, cell.synapses.iter().map(|s| s.name.as_str())) {
            d = d.help(format!("a synapse with a similar name exists: `{s}`"));
        } else {
            d = d.help(format!(
                "declare it in cell `{}`: `synapse {} = exp2syn at soma(0.5)`",
                cell.name, c.synapse.name
            ));
        }
        diags.push(d);
        return None;
    };
    let mechanism = &mechanisms.list[cell.synapses[synapse].mechanism.index()];
    let Some(event) = &mechanism.event else {
        diags.push(
            Diagnostic::error(
                Code::InvalidConnection,
                c.synapse.span,
                format!("synapse `{}` ({}) has no event handler", c.synapse.name, mechanism.name),
            )
            .help("a connection target needs `on event(w: …) { … }` in its mechanism"),
        );
        return None;
    };
    let mut weight = None;
    let mut delay = None;
    for prop in &c.props {
        match prop.key.name.as_str() {
            "weight" => {
                weight = eval_in_unit(
                    globals,
                    diags,
                    &prop.value,
                    Unit { dim: event.weight_dim, scale: 1.0 },
                    false,
                    "the weight",
                )
            }
            "delay" => {
                delay = eval_in_unit(
                    globals,
                    diags,
                    &prop.value,
                    Unit { dim: Dimension::TIME, scale: 1.0 },
                    false,
                    "the delay",
                );
                if delay.is_some_and(|d| d < 0.0) {
                    diags.push(Diagnostic::error(Code::OutOfRange, prop.value.span, "a delay cannot be negative"));
                    delay = None;
                }
            }
            _ => diags.push(unknown_property(&prop.key, "connections", &["weight", "delay"])),
        }
    }
    for (value, key) in [(weight.is_some(), "weight"), (delay.is_some(), "delay")] {
        if !value && !c.props.iter().any(|p| p.key.name == key) {
            diags.push(
                Diagnostic::error(Code::MissingProperty, c.span, format!("this connection has no `{key}`"))
                    .help(format!("add `{{ {key} = … }}`")),
            );
        }
    }
    let presynaptic = match source {
        Selected::Cells(r) => Presynaptic::Cells(r),
        Selected::Source(s) => Presynaptic::Source(s),
    };
    let source_len = match presynaptic {
        Presynaptic::Cells(r) => r.len(),
        Presynaptic::Source(_) => 1,
    };
    if let Presynaptic::Cells(r) = presynaptic {
        let source_cell = &cells.list[network.populations[r.population as usize].cell.index()];
        if source_cell.detector.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::InvalidConnection,
                    c.source.span,
                    format!("cell `{}` has no spike detector", source_cell.name),
                )
                .help("add `detector at soma(0.5) threshold -20 mV` to the cell"),
            );
            return None;
        }
    }
    let rule = match &c.rule {
        None if source_len == 1 || source_len == target.len() => {
            if source_len == 1 {
                ir::Rule::AllToAll
            } else {
                ir::Rule::OneToOne
            }
        }
        None => {
            diags.push(
                Diagnostic::error(
                    Code::InvalidConnection,
                    c.span,
                    format!("{source_len} sources and {} targets need a connection rule", target.len()),
                )
                .help("add a rule: `one_to_one`, `all_to_all`, `ring(n)` or `random(p = …, seed = …)`"),
            );
            return None;
        }
        Some(rule) => connection_rule(globals, diags, rule, source_len, target.len(), presynaptic, target)?,
    };
    Some(ir::Connection {
        source: presynaptic,
        target,
        synapse: synapse as u32,
        rule,
        weight: weight?,
        delay: delay?,
        span: c.span,
    })
}

fn connection_rule(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    rule: &ast::Call,
    source_len: u32,
    target_len: u32,
    source: Presynaptic,
    target: CellRange,
) -> Option<ir::Rule> {
    let arg = |diags: &mut Diagnostics, name: &str, i: usize| -> Option<&ast::Expr> {
        let found = rule
            .args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
            .or_else(|| rule.args.get(i).filter(|a| a.name.is_none()));
        if found.is_none() {
            diags.push(Diagnostic::error(
                Code::MissingProperty,
                rule.span,
                format!("`{}` needs `{name}`", rule.name.name),
            ));
        }
        found.map(|a| &a.value)
    };
    match rule.name.name.as_str() {
        "one_to_one" => {
            if source_len != target_len {
                diags.push(Diagnostic::error(
                    Code::InvalidConnection,
                    rule.span,
                    format!("`one_to_one` needs as many sources as targets, not {source_len} and {target_len}"),
                ));
                return None;
            }
            Some(ir::Rule::OneToOne)
        }
        "all_to_all" => Some(ir::Rule::AllToAll),
        "ring" => {
            let n = arg(diags, "n", 0)?;
            let n = eval_count(globals, diags, n, "the ring size")?;
            if Presynaptic::Cells(target) != source || n == 0 || u64::from(target_len) % n != 0 {
                diags.push(
                    Diagnostic::error(Code::InvalidConnection, rule.span, "`ring(n)` connects a selection to itself in groups of n cells")
                        .note(format!("here {target_len} cells and n = {n}; the source and target must be the same cells, and n must divide their number")),
                );
                return None;
            }
            Some(ir::Rule::Ring(n as u32))
        }
        "random" => {
            let (p, seed) = (arg(diags, "p", 0)?, arg(diags, "seed", 1)?);
            let p = eval_in_unit(globals, diags, p, Unit::ONE, false, "the probability")?;
            let seed = eval_count(globals, diags, seed, "the seed")?;
            if !(0.0..=1.0).contains(&p) {
                diags.push(Diagnostic::error(Code::OutOfRange, rule.span, "the probability must be between 0 and 1"));
                return None;
            }
            Some(ir::Rule::Random { p, seed })
        }
        other => {
            let mut d = Diagnostic::error(Code::UndefinedName, rule.name.span, format!("no connection rule `{other}`"))
                .help("the rules are `one_to_one`, `all_to_all`, `ring(n)` and `random(p, seed)`");
            if let Some(s) = did_you_mean(other, ["one_to_one", "all_to_all", "ring", "random"]) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            None
        }
    }
}

fn probe(
    globals: &Globals<'_>,
    diags: &mut Diagnostics,
    mechanisms: &Mechanisms<'_>,
    cells: &CellTypes<'_>,
    network: &ir::Network,
    p: &ast::Probe,
) -> Option<ir::Probe> {
    let label = p.label.value.clone();
    // `v at …` and `mech.var at …`.
    if let Some(at) = &p.at {
        let (gid, node) = cell_location(globals, diags, cells, network, at)?;
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
                return Some(ir::Probe {
                    label,
                    gid,
                    target: ProbeTarget::Voltage { node },
                    dim: Dimension::VOLTAGE,
                    span: p.span,
                });
            }
            (name, []) => {
                let cell = cell_of(cells, network, gid);
                let (target, dim) = ion_probe(diags, mechanisms, cell, head, name, node, at.span)?;
                return Some(ir::Probe { label, gid, target, dim, span: p.span });
            }
            (_, [var]) => {
                let cell = cell_of(cells, network, gid);
                let Some(mechanism) = mechanisms.by_name.get(&head.name) else {
                    diags.push(Diagnostic::error(
                        Code::UndefinedName,
                        head.span,
                        format!("cannot find mechanism `{}`", head.name),
                    ));
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
                        .secondary(at.span, "this location"),
                    );
                    return None;
                };
                let var = variable(diags, &mechanisms.list[mechanism.index()], var)?;
                let dim = var_dim(&mechanisms.list[mechanism.index()], var);
                return Some(ir::Probe {
                    label,
                    gid,
                    target: ProbeTarget::Density { instance: instance as u32, node, var },
                    dim,
                    span: p.span,
                });
            }
            _ => {
                diags.push(
                    Diagnostic::error(Code::WrongKind, p.head.span, "a probe at a location measures `v` or `mechanism.variable`")
                        .help("for example `probe \"soma_v\" = v at cells[0].soma(0.5)` or `probe \"m\" = hh.m at cells[0].soma(0.5)`"),
                );
                return None;
            }
        };
    }
    // `stimulus.var`.
    if let Some(index) = network.stimuli.iter().position(|s| s.name == p.head.name.name) {
        let stimulus = &network.stimuli[index];
        let [var] = p.path.as_slice() else {
            diags.push(Diagnostic::error(Code::WrongKind, p.span, "write `stimulus.variable`, such as `clamp.i`"));
            return None;
        };
        let mechanism = &mechanisms.list[stimulus.mechanism.index()];
        let var = variable(diags, mechanism, var)?;
        return Some(ir::Probe {
            label,
            gid: stimulus.gid,
            target: ProbeTarget::Stimulus { index: index as u32, var },
            dim: var_dim(mechanism, var),
            span: p.span,
        });
    }
    // `pop[i].synapse.var`.
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
    Some(ir::Probe { label, gid, target: ProbeTarget::Synapse { index: index as u32, var }, dim, span: p.span })
}

/// The dimension of a readable variable (currents: densities for density mechanisms).
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
    let Some((species, (var, dim))) =
        cell.species.iter().enumerate().find_map(|(i, s)| super::mechanism::ion_var(&s.name, name).map(|v| (i, v)))
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
    Some((ProbeTarget::Ion { species: species as u32, var, node }, dim))
}

fn var_dim(m: &ir::Mechanism, var: Var) -> Dimension {
    match var {
        Var::State(i) => m.states[i as usize].dim,
        Var::Derived(i) => m.derived[i as usize].dim,
        Var::Param(i) => m.params[i as usize].dim,
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
        return Some(Var::State(i as u32));
    }
    if let Some(i) = m.derived.iter().position(|s| s.name == n) {
        return Some(Var::Derived(i as u32));
    }
    if let Some(i) = m.currents.iter().position(|s| s.name == n) {
        return Some(Var::Current(i as u32));
    }
    if let Some(i) = m.params.iter().position(|s| s.name == n) {
        return Some(Var::Param(i as u32));
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
