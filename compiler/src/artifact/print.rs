//! `sylva compile --emit kernels`: the artifact as readable text. The species table with the
//! reversal rule, then per placement its stage kernels (expressions in the SSA form of
//! `--emit ir`, then the ordered writes) and what each kernel reads and writes.

use std::fmt::Write;

use super::{Artifact, Hazard, KernelInfo, Leaf, NernstBecause, Placement, PlacementId, Reversal, SpeciesId};
use crate::ir::kernel::{Kernel, Target};
use crate::ir::{self, Mechanism, Ssa, builtin_name, ion_name};

pub fn print(artifact: &Artifact) -> String {
    let mut out = String::new();
    let model = &artifact.model;
    let _ = writeln!(
        out,
        "species (each ion use's, first use first; Nernst when a mechanism writes a concentration \
         or the first cell declaring the species gives no fixed reversal)"
    );
    for (i, s) in artifact.species.iter().enumerate() {
        let reversal = match s.reversal {
            Reversal::Fixed => "fixed (each cell's declared value)",
            Reversal::Nernst(NernstBecause::ConcentrationWritten) => "Nernst (a mechanism writes a concentration)",
            Reversal::Nernst(NernstBecause::Declared) => "Nernst (declared without a fixed reversal)",
        };
        let _ = writeln!(out, "  {} {}: charge {}, reversal {reversal}", SpeciesId(i as u32), s.name, s.charge);
    }
    for (m, ids) in artifact.ion_species.iter().enumerate() {
        if ids.is_empty() {
            continue;
        }
        let mech = &model.mechanisms[m];
        let uses: Vec<String> = mech.ions.iter().zip(ids).map(|(u, id)| format!("{} -> {id}", u.species)).collect();
        let _ = writeln!(out, "  {} {} ion uses: {}", ir::MechId(m as u32), mech.name, uses.join(", "));
    }
    for (p, pk) in artifact.placements.iter().enumerate() {
        let mech = &model.mechanisms[pk.mechanism.index()];
        let currents: Vec<&str> = pk.stored.currents.iter().map(|&i| mech.currents[i as usize].name.as_str()).collect();
        let derived: Vec<&str> = pk.stored.derived.iter().map(|&i| mech.derived[i as usize].name.as_str()).collect();
        let _ = writeln!(
            out,
            "\n{} = {}: {} {}, stores currents [{}] derived [{}]",
            PlacementId(p as u32),
            placement(model, pk.placement),
            pk.mechanism,
            mech.name,
            currents.join(", "),
            derived.join(", ")
        );
        let kernels = &pk.kernels;
        let info = &pk.info;
        kernel(&mut out, mech, &kernels.init, &info.init);
        kernel(&mut out, mech, &kernels.current, &info.current);
        kernel(&mut out, mech, &kernels.advance, &info.advance);
        if let (Some(k), Some(i)) = (&kernels.event, &info.event) {
            kernel(&mut out, mech, k, i);
        }
    }
    out
}

fn placement(model: &ir::Model, placement: Placement) -> String {
    match placement {
        Placement::Density { cell, instance } => {
            format!("density instance {} of {cell} {}", instance.0, model.cells[cell.index()].name)
        }
        Placement::Synapse { cell, index } => {
            let c = &model.cells[cell.index()];
            format!("synapse {} ({}) of {cell} {}", index.0, c.synapses[index.index()].name, c.name)
        }
        Placement::Stimulus(i) => {
            let s = &model.network.stimuli[i.index()];
            format!("stimulus {} ({}) on gid {} node {}", i.0, s.name, s.gid, s.node)
        }
    }
}

fn kernel(out: &mut String, mech: &Mechanism, kernel: &Kernel, info: &KernelInfo) {
    let _ = writeln!(out, "  {:?}:", kernel.stage);
    let mut ssa = Ssa::new(&kernel.exprs, mech);
    let writes: Vec<String> = kernel
        .writes
        .iter()
        .map(|w| {
            let value = ssa.name(w.value);
            let op = if super::info::accumulates(w.target) { "+=" } else { "=" };
            format!("    {} {op} {value}", target(mech, w.target))
        })
        .collect();
    for line in ssa.lines.iter().chain(&writes) {
        let _ = writeln!(out, "  {line}");
    }
    let list = |items: Vec<String>| if items.is_empty() { "-".to_string() } else { items.join(", ") };
    let reads = list(info.reads.iter().map(|l| leaf(mech, *l)).collect());
    let stores = list(info.stores.iter().map(|t| target(mech, *t)).collect());
    let accumulates = list(info.accumulates.iter().map(|t| target(mech, *t)).collect());
    let hazards = list(info.hazards.iter().map(|h| hazard(mech, *h)).collect());
    let _ = writeln!(out, "    reads: {reads}");
    let _ = writeln!(out, "    stores: {stores}; accumulates: {accumulates}");
    let _ = writeln!(out, "    hazards: {hazards}");
}

fn leaf(mech: &Mechanism, leaf: Leaf) -> String {
    match leaf {
        Leaf::Param(i) => format!("param.{}", mech.params[i as usize].name),
        Leaf::State(i) => format!("state.{}", mech.states[i as usize].name),
        Leaf::Builtin(b) => builtin_name(b).to_string(),
        Leaf::Ion(u, var) => ion_name(&mech.ions[u as usize].species, var),
        Leaf::Weight => "weight".to_string(),
    }
}

fn target(mech: &Mechanism, target: Target) -> String {
    match target {
        Target::State(i) => format!("state.{}", mech.states[i as usize].name),
        Target::Current(i) => format!("current.{}", mech.currents[i as usize].name),
        Target::Derived(i) => format!("derived.{}", mech.derived[i as usize].name),
        Target::NodeRhs => "node.rhs".to_string(),
        Target::NodeDiagonal => "node.diagonal".to_string(),
        Target::IonCurrent(u) => ion_name(&mech.ions[u as usize].species, ir::expr::IonVar::Current),
        Target::IonConcentration(u, var) => ion_name(&mech.ions[u as usize].species, var),
        Target::Partial(i) => format!("partial.{i}"),
    }
}

fn hazard(mech: &Mechanism, hazard: Hazard) -> String {
    match hazard {
        Hazard::SharedAccumulator(t) => format!("{} summed over the node's instances", target(mech, t)),
        Hazard::SharedStore(t) => format!("{} stored by each instance on the node", target(mech, t)),
        Hazard::ReadsWritten { ion, var } => {
            format!("{} read and written in one stage", ion_name(&mech.ions[ion as usize].species, var))
        }
    }
}
