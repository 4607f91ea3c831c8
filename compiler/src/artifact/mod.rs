//! The artifact: what `compile()` hands to the back ends. The validated model plus the
//! decisions every engine would otherwise make again: the ion species and their reversal rule,
//! the mechanism placements in block order, the values each placement's current kernel stores
//! for probes, and the lowered stage kernels with what each one reads and writes
//! ([`KernelInfo`]). After [`validate`] passes, a back end may index everything here without
//! checks (`docs/ARCHITECTURE.md`, "The artifact").

mod info;
mod print;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use info::{Hazard, KernelInfo, Leaf, StageInfo};
pub use print::print;
pub use validate::{ArtifactError, validate};

use crate::ir::expr::{Builtin, Expr};
use crate::ir::kernel::{self, Kernels, Stored};
use crate::ir::{self, CellId, DensityId, MechId, ProbeTarget, StimulusId, SynapseId, Var, handle};

handle!(
    /// A species of [`Artifact::species`].
    SpeciesId,
    "species"
);
handle!(
    /// A placement of [`Artifact::placements`].
    PlacementId,
    "placement"
);

/// A compiled model, ready for any back end.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub model: ir::Model,
    /// Every species some mechanism uses; engines index their ion arrays by [`SpeciesId`].
    pub species: Vec<ResolvedSpecies>,
    /// Per mechanism, per ion use: the species it reads and writes.
    pub ion_species: Vec<Vec<SpeciesId>>,
    /// In the order engines build their blocks (see [`placement_order`]).
    pub placements: Vec<PlacementKernels>,
}

/// A species as every cell sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedSpecies {
    pub name: String,
    /// From the first cell type that declares the species; 1 when none does.
    pub charge: i32,
    pub reversal: Reversal,
}

/// How the reversal potential of a species is obtained during a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reversal {
    /// The value each cell declares (0 on cells that do not declare the species).
    Fixed,
    /// Recomputed from the concentrations before each current stage.
    Nernst(NernstBecause),
}

/// Why a species follows Nernst (NEURON's rule).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NernstBecause {
    /// Some mechanism writes a concentration of the species.
    ConcentrationWritten,
    /// The first cell type declaring the species gives it no fixed reversal.
    Declared,
}

impl Reversal {
    pub fn is_nernst(self) -> bool {
        matches!(self, Reversal::Nernst(_))
    }
}

/// Where a mechanism is placed; engines replicate a placement over the cells of its type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Density instance `instance` of the cell type (`Cell::density`).
    Density { cell: CellId, instance: DensityId },
    /// Synapse `index` of the cell type (`Cell::synapses`).
    Synapse { cell: CellId, index: SynapseId },
    /// Stimulus `i` of the network (`Network::stimuli`).
    Stimulus(StimulusId),
}

/// The kernels of one placement.
#[derive(Clone, Debug)]
pub struct PlacementKernels {
    pub placement: Placement,
    pub mechanism: MechId,
    /// What the current kernel stores for probes, first probe first.
    pub stored: Stored,
    /// Lowered with `stored`, not specialised (see [`Artifact::specialize`]).
    pub kernels: Kernels,
    pub info: StageInfo,
}

impl Artifact {
    /// Resolves species and placements of a model that passed `ir::validate`.
    pub fn new(model: ir::Model) -> Artifact {
        let (species, ion_species) = resolve_species(&model);
        let mut stored = stored_for_probes(&model);
        let placements = placement_order(&model)
            .into_iter()
            .map(|(placement, mechanism)| {
                let stored = stored.remove(&placement).unwrap_or_default();
                let kernels = kernel::lower(&model.mechanisms[mechanism.index()], &stored);
                let info = StageInfo::of(&kernels);
                PlacementKernels { placement, mechanism, stored, kernels, info }
            })
            .collect();
        Artifact { model, species, ion_species, placements }
    }

    /// The index of the first placement of the mechanism named `mechanism`, if it is placed.
    pub fn first_placement_of(&self, mechanism: &str) -> Option<usize> {
        self.placements.iter().position(|p| self.model.mechanisms[p.mechanism.index()].name == mechanism)
    }

    /// The kernels of `placement` with `constant_params` (uniform parameters), `dt` and the
    /// temperature folded in, so that generated code does per-instance work only.
    pub fn specialize(&self, placement: PlacementId, constant_params: &[(u32, f64)], dt: f64, celsius: f64) -> Kernels {
        let constant = |leaf: Expr| match leaf {
            Expr::Param(p) => constant_params.iter().find(|(i, _)| *i == p).map(|(_, v)| *v),
            Expr::Builtin(Builtin::Dt) => Some(dt),
            Expr::Builtin(Builtin::Celsius) => Some(celsius),
            _ => None,
        };
        let lowered = &self.placements[placement.index()].kernels;
        Kernels {
            init: kernel::specialize(&lowered.init, &constant),
            current: kernel::specialize(&lowered.current, &constant),
            advance: kernel::specialize(&lowered.advance, &constant),
            event: lowered.event.as_ref().map(|k| kernel::specialize(k, &constant)),
        }
    }
}

/// The species of every ion use of every mechanism (mechanism, then ion-use order), each name
/// once, and the species of each ion use. The order is the engines' ion array order.
fn resolve_species(model: &ir::Model) -> (Vec<ResolvedSpecies>, Vec<Vec<SpeciesId>>) {
    let mut species: Vec<ResolvedSpecies> = Vec::new();
    let mut ion_species = Vec::with_capacity(model.mechanisms.len());
    for m in &model.mechanisms {
        let mut ids = Vec::with_capacity(m.ions.len());
        for u in &m.ions {
            let position = species.iter().position(|s| s.name == u.species).unwrap_or_else(|| {
                species.push(resolve(model, &u.species));
                species.len() - 1
            });
            ids.push(SpeciesId(position as u32));
        }
        ion_species.push(ids);
    }
    (species, ion_species)
}

fn resolve(model: &ir::Model, name: &str) -> ResolvedSpecies {
    let declared = model.cells.iter().flat_map(|c| &c.species).find(|s| s.name == name);
    let written = model
        .mechanisms
        .iter()
        .any(|m| m.states.iter().any(|s| s.writes_ion.is_some_and(|(ion, _)| m.ions[ion.index()].species == name)));
    let reversal = if written {
        Reversal::Nernst(NernstBecause::ConcentrationWritten)
    } else if declared.is_some_and(|s| s.reversal.is_none()) {
        Reversal::Nernst(NernstBecause::Declared)
    } else {
        Reversal::Fixed
    };
    ResolvedSpecies { name: name.to_string(), charge: declared.map_or(1, |s| s.charge), reversal }
}

/// Every placement with its mechanism, in block order: per cell type with at least one cell
/// (in `Model::cells` order) its density instances then its synapses; then every stimulus.
pub fn placement_order(model: &ir::Model) -> Vec<(Placement, MechId)> {
    let populated = |cell: usize| model.network.populations.iter().any(|p| p.cell.index() == cell && p.count > 0);
    let mut order = Vec::new();
    for (c, cell) in model.cells.iter().enumerate().filter(|(c, _)| populated(*c)) {
        let id = CellId(c as u32);
        for (k, d) in cell.density.iter().enumerate() {
            order.push((Placement::Density { cell: id, instance: DensityId(k as u32) }, d.mechanism));
        }
        for (k, s) in cell.synapses.iter().enumerate() {
            order.push((Placement::Synapse { cell: id, index: SynapseId(k as u32) }, s.mechanism));
        }
    }
    for (k, s) in model.network.stimuli.iter().enumerate() {
        order.push((Placement::Stimulus(StimulusId(k as u32)), s.mechanism));
    }
    order
}

/// The currents and derived values probes read, per placement, first probe first. Stimuli of
/// one mechanism share one set (the union), so an engine may run them as one block with one
/// kernel; a stored value nobody reads changes no result.
fn stored_for_probes(model: &ir::Model) -> HashMap<Placement, Stored> {
    let net = &model.network;
    let mut by_placement: HashMap<Placement, Stored> = HashMap::new();
    let mut by_stimulus_mechanism: HashMap<MechId, Stored> = HashMap::new();
    for p in &net.probes {
        let Some((population, _)) = model.locate_gid(p.gid) else { continue };
        let cell = population.cell;
        let (entry, var) = match p.target {
            ProbeTarget::Density { instance, var, .. } => {
                (by_placement.entry(Placement::Density { cell, instance }).or_default(), var)
            }
            ProbeTarget::Synapse { index, var } => {
                (by_placement.entry(Placement::Synapse { cell, index }).or_default(), var)
            }
            ProbeTarget::Stimulus { index, var } => {
                let mechanism = net.stimuli[index.index()].mechanism;
                (by_stimulus_mechanism.entry(mechanism).or_default(), var)
            }
            ProbeTarget::Voltage { .. } | ProbeTarget::Ion { .. } => continue,
        };
        let (list, i) = match var {
            Var::Derived(d) => (&mut entry.derived, d.0),
            Var::Current(c) => (&mut entry.currents, c.0),
            Var::State(_) | Var::Param(_) => continue,
        };
        if !list.contains(&i) {
            list.push(i);
        }
    }
    for (k, s) in net.stimuli.iter().enumerate() {
        if let Some(stored) = by_stimulus_mechanism.get(&s.mechanism) {
            by_placement.insert(Placement::Stimulus(StimulusId(k as u32)), stored.clone());
        }
    }
    by_placement
}
