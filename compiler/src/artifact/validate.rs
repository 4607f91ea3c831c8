//! The gate between the compiler and the back ends for the kernels they run: every index a
//! kernel holds points at something that exists, so engines index without checks. A failure
//! is a compiler bug, never a user error.

use std::fmt;

use super::{Artifact, KernelInfo, Placement, PlacementId, placement_order};
use crate::ir::expr::Expr;
use crate::ir::kernel::{Kernel, Stage, Stored, Target};
use crate::ir::{self, MechId, ProbeTarget, Var};

/// A broken invariant of an [`Artifact`].
#[derive(Clone, Debug, PartialEq)]
pub enum ArtifactError {
    /// The placements are not those of the model in block order.
    PlacementOrder,
    /// The placement names a cell, instance, synapse or stimulus that does not exist, or its
    /// mechanism is not the one placed there.
    MissingPlacementTarget {
        placement: PlacementId,
    },
    /// A probe reads a current or derived value its placement does not store.
    ProbedValueNotStored {
        probe: u32,
    },
    /// A stored current or derived value that the mechanism does not have.
    StoredOutOfRange {
        placement: PlacementId,
    },
    OperandNotBefore {
        placement: PlacementId,
        stage: Stage,
        expr: u32,
        operand: u32,
    },
    MissingLeaf {
        placement: PlacementId,
        stage: Stage,
        expr: u32,
    },
    WeightOutsideEvent {
        placement: PlacementId,
        stage: Stage,
        expr: u32,
    },
    WriteValueOutOfRange {
        placement: PlacementId,
        stage: Stage,
        write: usize,
    },
    WriteTargetOutOfRange {
        placement: PlacementId,
        stage: Stage,
        target: Target,
    },
    /// A current or derived value written but not in the placement's stored set.
    WriteNotStored {
        placement: PlacementId,
        stage: Stage,
        target: Target,
    },
    InfoMismatch {
        placement: PlacementId,
        stage: Stage,
    },
    /// An ion use without a species of its name.
    UnmappedIonUse {
        mech: MechId,
        ion: u32,
    },
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ArtifactError::*;
        match self {
            PlacementOrder => write!(f, "the placements are not the model's in block order"),
            MissingPlacementTarget { placement } => write!(f, "{placement} refers to a missing placement"),
            StoredOutOfRange { placement } => write!(f, "{placement} stores a missing current or derived value"),
            ProbedValueNotStored { probe } => write!(f, "probe {probe} reads a value its placement does not store"),
            OperandNotBefore { placement, stage, expr, operand } => {
                write!(f, "{placement} {stage:?} kernel: operand e{operand} is not before e{expr}")
            }
            MissingLeaf { placement, stage, expr } => {
                write!(f, "{placement} {stage:?} kernel: e{expr} refers to a missing parameter, state or ion")
            }
            WeightOutsideEvent { placement, stage, expr } => {
                write!(f, "{placement} {stage:?} kernel: e{expr} reads the weight outside an event kernel")
            }
            WriteValueOutOfRange { placement, stage, write } => {
                write!(f, "{placement} {stage:?} kernel: write {write} has a value out of range")
            }
            WriteTargetOutOfRange { placement, stage, target } => {
                write!(f, "{placement} {stage:?} kernel: write target {target:?} out of range")
            }
            WriteNotStored { placement, stage, target } => {
                write!(f, "{placement} {stage:?} kernel: writes {target:?}, which the placement does not store")
            }
            InfoMismatch { placement, stage } => {
                write!(f, "{placement} {stage:?} kernel: its KernelInfo differs from a recomputation")
            }
            UnmappedIonUse { mech, ion } => write!(f, "{mech}: ion use {ion} has no species of its name"),
        }
    }
}

/// Returns every broken invariant found. Assumes the model passed `ir::validate`.
pub fn validate(artifact: &Artifact) -> Result<(), Vec<ArtifactError>> {
    let Artifact { model, species, ion_species, placements } = artifact;
    let mut errors = Vec::new();
    for (m, mech) in model.mechanisms.iter().enumerate() {
        for (u, ion) in mech.ions.iter().enumerate() {
            let mapped = ion_species.get(m).and_then(|ids| ids.get(u)).and_then(|id| species.get(id.index()));
            if mapped.is_none_or(|s| s.name != ion.species) {
                errors.push(ArtifactError::UnmappedIonUse { mech: MechId(m as u32), ion: u as u32 });
            }
        }
    }
    let order: Vec<(Placement, MechId)> = placements.iter().map(|p| (p.placement, p.mechanism)).collect();
    if order != placement_order(model) {
        errors.push(ArtifactError::PlacementOrder);
    }
    for (p, pk) in placements.iter().enumerate() {
        let placement = PlacementId(p as u32);
        let Some(mech) = placed_mechanism(model, pk.placement).filter(|m| *m == pk.mechanism) else {
            errors.push(ArtifactError::MissingPlacementTarget { placement });
            continue;
        };
        let mech = &model.mechanisms[mech.index()];
        let Stored { currents, derived } = &pk.stored;
        let stored_ok = currents.iter().all(|&c| (c as usize) < mech.currents.len())
            && derived.iter().all(|&d| (d as usize) < mech.derived.len());
        if !stored_ok {
            errors.push(ArtifactError::StoredOutOfRange { placement });
        }
        let kernels = &pk.kernels;
        let stages = [
            (Some(&kernels.init), Some(&pk.info.init)),
            (Some(&kernels.current), Some(&pk.info.current)),
            (Some(&kernels.advance), Some(&pk.info.advance)),
            (kernels.event.as_ref(), pk.info.event.as_ref()),
        ];
        for (kernel, info) in stages {
            let Some(kernel) = kernel else { continue };
            let mut check =
                KernelCheck { placement, mech, stored: &pk.stored, stage: kernel.stage, errors: &mut errors };
            check.exprs(kernel);
            check.writes(kernel);
            if info != Some(&KernelInfo::of(kernel)) {
                errors.push(ArtifactError::InfoMismatch { placement, stage: kernel.stage });
            }
        }
    }
    probes_read_stored_values(artifact, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Every current and derived value a probe reads is stored by its placement, so engines find
/// its slot without checks.
fn probes_read_stored_values(artifact: &Artifact, errors: &mut Vec<ArtifactError>) {
    let model = &artifact.model;
    for (i, p) in model.network.probes.iter().enumerate() {
        let Some((population, _)) = model.locate_gid(p.gid) else { continue };
        let cell = population.cell;
        let (placement, var) = match p.target {
            ProbeTarget::Density { instance, var, .. } => (Placement::Density { cell, instance }, var),
            ProbeTarget::Synapse { index, var } => (Placement::Synapse { cell, index }, var),
            ProbeTarget::Stimulus { index, var } => (Placement::Stimulus(index), var),
            ProbeTarget::Voltage { .. } | ProbeTarget::Ion { .. } => continue,
        };
        let stored = artifact.placements.iter().find(|pk| pk.placement == placement).map(|pk| &pk.stored);
        let ok = match var {
            Var::Current(c) => stored.is_some_and(|s| s.currents.contains(&c.0)),
            Var::Derived(d) => stored.is_some_and(|s| s.derived.contains(&d.0)),
            Var::State(_) | Var::Param(_) => true,
        };
        if !ok {
            errors.push(ArtifactError::ProbedValueNotStored { probe: i as u32 });
        }
    }
}

/// The mechanism at a placement, if the placement exists.
fn placed_mechanism(model: &ir::Model, placement: Placement) -> Option<MechId> {
    match placement {
        Placement::Density { cell, instance } => {
            model.cells.get(cell.index())?.density.get(instance.index()).map(|d| d.mechanism)
        }
        Placement::Synapse { cell, index } => {
            model.cells.get(cell.index())?.synapses.get(index.index()).map(|s| s.mechanism)
        }
        Placement::Stimulus(i) => model.network.stimuli.get(i.index()).map(|s| s.mechanism),
    }
}

/// Checks of one kernel of one placement.
struct KernelCheck<'a> {
    placement: PlacementId,
    mech: &'a ir::Mechanism,
    stored: &'a Stored,
    stage: Stage,
    errors: &'a mut Vec<ArtifactError>,
}

impl KernelCheck<'_> {
    fn exprs(&mut self, kernel: &Kernel) {
        let (placement, stage, mech) = (self.placement, self.stage, self.mech);
        for (id, e) in kernel.exprs.iter() {
            let expr = id.0;
            for op in e.operands().filter(|op| *op >= id) {
                self.errors.push(ArtifactError::OperandNotBefore { placement, stage, expr, operand: op.0 });
            }
            let leaf_ok = match e {
                Expr::Param(i) => (i as usize) < mech.params.len(),
                Expr::State(i) => (i as usize) < mech.states.len(),
                Expr::Ion(u, _) => (u as usize) < mech.ions.len(),
                Expr::Weight => {
                    if stage != Stage::Event {
                        self.errors.push(ArtifactError::WeightOutsideEvent { placement, stage, expr });
                    }
                    true
                }
                Expr::Const(_)
                | Expr::Builtin(_)
                | Expr::Unary(..)
                | Expr::Binary(..)
                | Expr::Powi(..)
                | Expr::Select(..) => true,
            };
            if !leaf_ok {
                self.errors.push(ArtifactError::MissingLeaf { placement, stage, expr });
            }
        }
    }

    fn writes(&mut self, kernel: &Kernel) {
        let (placement, stage, mech) = (self.placement, self.stage, self.mech);
        for (k, w) in kernel.writes.iter().enumerate() {
            if w.value.0 as usize >= kernel.exprs.len() {
                self.errors.push(ArtifactError::WriteValueOutOfRange { placement, stage, write: k });
            }
            let (in_range, stored) = match w.target {
                Target::State(i) => ((i as usize) < mech.states.len(), true),
                Target::Current(i) => ((i as usize) < mech.currents.len(), self.stored.currents.contains(&i)),
                Target::Derived(i) => ((i as usize) < mech.derived.len(), self.stored.derived.contains(&i)),
                Target::NodeRhs | Target::NodeDiagonal => (true, true),
                Target::IonCurrent(u) | Target::IonConcentration(u, _) => ((u as usize) < mech.ions.len(), true),
                // Only adjoint kernels, which are derived at run time, write partials.
                Target::Partial(_) => (false, true),
            };
            if !in_range {
                self.errors.push(ArtifactError::WriteTargetOutOfRange { placement, stage, target: w.target });
            } else if !stored {
                self.errors.push(ArtifactError::WriteNotStored { placement, stage, target: w.target });
            }
        }
    }
}
