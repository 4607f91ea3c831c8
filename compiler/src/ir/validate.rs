//! The one gate before the back ends. It checks that every handle and index in the model
//! points at something that exists and that arenas only refer backwards, so back ends may
//! index without checks. A failure here is a compiler bug, never a user error.

use super::expr::{Expr, ExprId};
use super::*;

/// Returns every broken invariant found.
pub fn validate(model: &Model) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    for (m, mech) in model.mechanisms.iter().enumerate() {
        let n = mech.exprs.len() as u32;
        let expr_ok = |id: ExprId| id.0 < n;
        for (id, e) in mech.exprs.iter() {
            for op in e.operands() {
                check(op < id, format!("mech{m} {}: operand e{} is not before e{}", mech.name, op.0, id.0));
            }
            let leaf_ok = match e {
                Expr::Param(i) => (i as usize) < mech.params.len(),
                Expr::State(i) => (i as usize) < mech.states.len(),
                Expr::Ion(i, _) => (i as usize) < mech.ions.len(),
                _ => true,
            };
            check(leaf_ok, format!("mech{m} {}: e{} refers to a missing parameter, state or ion", mech.name, id.0));
        }
        for s in &mech.states {
            check(expr_ok(s.init), format!("mech{m}: initial value of {} out of range", s.name));
            let ids: Vec<ExprId> = match s.dynamics {
                Dynamics::Exponential { inf, tau } => vec![inf, tau],
                Dynamics::Ode { rhs } => vec![rhs],
                Dynamics::Kinetic | Dynamics::Constant => vec![],
            };
            check(ids.into_iter().all(expr_ok), format!("mech{m}: dynamics of {} out of range", s.name));
            if let Some((ion, _)) = s.writes_ion {
                check((ion as usize) < mech.ions.len(), format!("mech{m}: state {} writes a missing ion", s.name));
            }
        }
        for d in &mech.derived {
            check(expr_ok(d.value), format!("mech{m}: derived {} out of range", d.name));
        }
        for c in &mech.currents {
            check(expr_ok(c.value) && expr_ok(c.conductance), format!("mech{m}: current {} out of range", c.name));
            check(
                c.ion.is_none_or(|i| (i as usize) < mech.ions.len()),
                format!("mech{m}: current {} has a missing ion", c.name),
            );
        }
        if let Some(k) = &mech.kinetic {
            for &s in &k.states {
                check(
                    mech.states.get(s as usize).is_some_and(|st| st.dynamics == Dynamics::Kinetic),
                    format!("mech{m}: kinetic state {s} is not a kinetic state"),
                );
            }
            for r in &k.reactions {
                check(expr_ok(r.forward) && expr_ok(r.backward), format!("mech{m}: reaction rate out of range"));
                check(
                    r.lhs.iter().chain(&r.rhs).all(|(s, _)| k.states.contains(s)),
                    format!("mech{m}: reaction uses a state outside the scheme"),
                );
            }
            if let Some((states, total)) = &k.conserve {
                check(
                    expr_ok(*total) && states.iter().all(|s| k.states.contains(s)),
                    format!("mech{m}: conserve out of range"),
                );
            }
        }
        if let Some(e) = &mech.event {
            check(mech.kind == MechanismKind::Point, format!("mech{m}: event handler on a density mechanism"));
            check(
                e.assigns.iter().all(|(s, v)| (*s as usize) < mech.states.len() && expr_ok(*v)),
                format!("mech{m}: event assignment out of range"),
            );
        }
    }
    let mech_kind = |id: MechId| model.mechanisms.get(id.index()).map(|m| m.kind);
    let params_of = |id: MechId| model.mechanisms.get(id.index()).map_or(0, |m| m.params.len());
    for (c, cell) in model.cells.iter().enumerate() {
        let nodes = cell.tree.nodes.len() as u32;
        for (i, node) in cell.tree.nodes.iter().enumerate() {
            check(node.parent.is_none() == (i == 0), format!("cell{c}: node {i} root mismatch"));
            check(node.parent.is_none_or(|p| (p as usize) < i), format!("cell{c}: node {i} has a parent after it"));
        }
        check(cell.cm.len() == nodes as usize, format!("cell{c}: cm has {} entries for {nodes} nodes", cell.cm.len()));
        for (k, d) in cell.density.iter().enumerate() {
            check(
                mech_kind(d.mechanism) == Some(MechanismKind::Density),
                format!("cell{c}: density instance {k} is not a density mechanism"),
            );
            check(
                d.nodes.windows(2).all(|w| w[0] < w[1]),
                format!("cell{c}: density instance {k} nodes not ascending"),
            );
            check(
                d.nodes.iter().all(|&n| n < nodes && cell.tree.nodes[n as usize].area_um2 > 0.0),
                format!("cell{c}: density instance {k} on a node without membrane"),
            );
            check(
                d.params.len() == params_of(d.mechanism),
                format!("cell{c}: density instance {k} has the wrong parameter count"),
            );
            check(
                d.params.iter().all(|p| match p {
                    ParamValue::Uniform(_) => true,
                    ParamValue::PerNode(v) => v.len() == d.nodes.len(),
                }),
                format!("cell{c}: density instance {k} per-node values do not match its nodes"),
            );
        }
        for s in &cell.synapses {
            check(
                mech_kind(s.mechanism) == Some(MechanismKind::Point) && s.node < nodes,
                format!("cell{c}: synapse {} invalid", s.name),
            );
            check(
                s.params.len() == params_of(s.mechanism),
                format!("cell{c}: synapse {} has the wrong parameter count", s.name),
            );
        }
        if let Some(d) = &cell.detector {
            check(d.node < nodes, format!("cell{c}: detector node out of range"));
            check(d.threshold.is_finite(), format!("cell{c}: detector threshold not finite"));
        }
    }
    let net = &model.network;
    let mut gid = 0u32;
    for p in &net.populations {
        check(p.first_gid == gid && p.cell.index() < model.cells.len(), format!("population {} invalid", p.name));
        gid = gid.saturating_add(p.count);
    }
    let range_ok = |r: &CellRange| {
        net.populations.get(r.population as usize).is_some_and(|p| r.start <= r.end && r.end <= p.count && r.step > 0)
    };
    for (i, conn) in net.connections.iter().enumerate() {
        match conn.source {
            Presynaptic::Cells(r) => check(range_ok(&r), format!("connection {i}: source range invalid")),
            Presynaptic::Source(s) => {
                check((s as usize) < net.sources.len(), format!("connection {i}: missing source"))
            }
        }
        check(range_ok(&conn.target), format!("connection {i}: target range invalid"));
        if range_ok(&conn.target) {
            let cell = &model.cells[net.populations[conn.target.population as usize].cell.index()];
            check((conn.synapse as usize) < cell.synapses.len(), format!("connection {i}: missing synapse"));
        }
        check(conn.delay >= 0.0 && conn.delay.is_finite(), format!("connection {i}: bad delay"));
    }
    let cell_of = |gid: u32| model.locate_gid(gid).map(|(p, _)| &model.cells[p.cell.index()]);
    for s in &net.stimuli {
        check(
            cell_of(s.gid).is_some_and(|c| (s.node as usize) < c.tree.nodes.len()),
            format!("stimulus {} location invalid", s.name),
        );
        check(
            mech_kind(s.mechanism) == Some(MechanismKind::Point),
            format!("stimulus {} is not a point mechanism", s.name),
        );
    }
    for p in &net.probes {
        let Some(cell) = cell_of(p.gid) else {
            check(false, format!("probe {} has no cell", p.label));
            continue;
        };
        let var_ok = |m: MechId, v: Var| {
            let m = &model.mechanisms[m.index()];
            match v {
                Var::State(i) => (i as usize) < m.states.len(),
                Var::Derived(i) => (i as usize) < m.derived.len(),
                Var::Param(i) => (i as usize) < m.params.len(),
                Var::Current(i) => (i as usize) < m.currents.len(),
            }
        };
        let ok = match p.target {
            ProbeTarget::Voltage { node } => (node as usize) < cell.tree.nodes.len(),
            ProbeTarget::Density { instance, node, var } => cell
                .density
                .get(instance as usize)
                .is_some_and(|d| d.nodes.binary_search(&node).is_ok() && var_ok(d.mechanism, var)),
            ProbeTarget::Synapse { index, var } => {
                cell.synapses.get(index as usize).is_some_and(|s| var_ok(s.mechanism, var))
            }
            ProbeTarget::Stimulus { index, var } => {
                net.stimuli.get(index as usize).is_some_and(|s| s.gid == p.gid && var_ok(s.mechanism, var))
            }
            ProbeTarget::Ion { species, node, .. } => {
                (species as usize) < cell.species.len() && (node as usize) < cell.tree.nodes.len()
            }
        };
        check(ok, format!("probe {} target invalid", p.label));
    }
    let sim = &model.simulation;
    check(sim.dt > 0.0 && sim.dt.is_finite() && sim.duration >= 0.0, "simulation dt or duration invalid".to_string());
    check(sim.celsius >= super::ABSOLUTE_ZERO_CELSIUS, "simulation temperature below absolute zero".to_string());
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}
