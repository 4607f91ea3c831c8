//! The invariants [`super::validate`] checks, one variant each, naming the broken entity.

use std::fmt;

use super::expr::ExprId;
use super::{CellId, MechId};

/// A broken invariant of the IR: a compiler bug, never a user error.
#[derive(Clone, Debug, PartialEq)]
pub enum ValidationError {
    OperandNotBefore {
        mech: MechId,
        mech_name: String,
        expr: ExprId,
        operand: ExprId,
    },
    /// A `Param`, `State` or `Ion` leaf past the mechanism's lists.
    MissingLeaf {
        mech: MechId,
        mech_name: String,
        expr: ExprId,
    },
    StateInitOutOfRange {
        mech: MechId,
        state: u32,
        name: String,
    },
    StateDynamicsOutOfRange {
        mech: MechId,
        state: u32,
        name: String,
    },
    StateWritesMissingIon {
        mech: MechId,
        state: u32,
        name: String,
    },
    DerivedOutOfRange {
        mech: MechId,
        derived: u32,
        name: String,
    },
    CurrentOutOfRange {
        mech: MechId,
        current: u32,
        name: String,
    },
    CurrentMissingIon {
        mech: MechId,
        current: u32,
        name: String,
    },
    NotAKineticState {
        mech: MechId,
        state: u32,
    },
    ReactionRateOutOfRange {
        mech: MechId,
        reaction: u32,
    },
    ReactionOutsideScheme {
        mech: MechId,
        reaction: u32,
    },
    ConserveOutOfRange {
        mech: MechId,
    },
    EventOnDensity {
        mech: MechId,
    },
    EventAssignmentOutOfRange {
        mech: MechId,
    },
    NodeRootMismatch {
        cell: CellId,
        node: u32,
    },
    NodeParentAfter {
        cell: CellId,
        node: u32,
    },
    CmLength {
        cell: CellId,
        entries: usize,
        nodes: u32,
    },
    /// (cell, density instance) in the five variants below.
    DensityNotDensity(CellId, u32),
    DensityNodesNotAscending(CellId, u32),
    DensityOnNodeWithoutMembrane(CellId, u32),
    DensityParamCount(CellId, u32),
    DensityPerNodeLength(CellId, u32),
    SynapseInvalid {
        cell: CellId,
        synapse: u32,
        name: String,
    },
    SynapseParamCount {
        cell: CellId,
        synapse: u32,
        name: String,
    },
    DetectorNode {
        cell: CellId,
    },
    DetectorThreshold {
        cell: CellId,
    },
    Population {
        population: u32,
        name: String,
    },
    ConnectionSourceRange {
        connection: u32,
    },
    ConnectionMissingSource {
        connection: u32,
    },
    ConnectionTargetRange {
        connection: u32,
    },
    ConnectionMissingSynapse {
        connection: u32,
    },
    ConnectionDelay {
        connection: u32,
    },
    /// A continuous connection whose ends, synapse or rule break its contract.
    Continuous {
        connection: u32,
    },
    /// A mechanism reading `v_pre` driven by events or placed as a stimulus.
    PreVoltageMisplaced {
        what: String,
    },
    StimulusLocation {
        stimulus: u32,
        name: String,
    },
    StimulusNotPoint {
        stimulus: u32,
        name: String,
    },
    StimulusParamCount {
        stimulus: u32,
        name: String,
    },
    ProbeWithoutCell {
        probe: u32,
        label: String,
    },
    ProbeTarget {
        probe: u32,
        label: String,
    },
    SimulationTime,
    BelowAbsoluteZero,
    /// A trainable's cell, instance, synapse, stimulus or parameter does not exist, or its
    /// nodes are not the instance's (ascending, not empty).
    TrainableTarget {
        trainable: u32,
        name: String,
    },
    /// A trainable's dimension or range differs from its parameter's, or its start value is
    /// outside the range.
    TrainableValue {
        trainable: u32,
        name: String,
    },
    /// A target's probe does not exist, or its path or column is empty.
    TrainingTarget {
        target: u32,
    },
    /// The optimizer's settings or the iteration count are invalid.
    TrainingSettings,
    /// Samples whose inputs, readout, loss, epochs or batch break their invariants.
    TrainingData,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ValidationError::*;
        match self {
            OperandNotBefore { mech, mech_name, expr, operand } => {
                write!(f, "{mech} {mech_name}: operand e{} is not before e{}", operand.0, expr.0)
            }
            MissingLeaf { mech, mech_name, expr } => {
                write!(f, "{mech} {mech_name}: e{} refers to a missing parameter, state or ion", expr.0)
            }
            StateInitOutOfRange { mech, name, .. } => write!(f, "{mech}: initial value of {name} out of range"),
            StateDynamicsOutOfRange { mech, name, .. } => write!(f, "{mech}: dynamics of {name} out of range"),
            StateWritesMissingIon { mech, name, .. } => write!(f, "{mech}: state {name} writes a missing ion"),
            DerivedOutOfRange { mech, name, .. } => write!(f, "{mech}: derived {name} out of range"),
            CurrentOutOfRange { mech, name, .. } => write!(f, "{mech}: current {name} out of range"),
            CurrentMissingIon { mech, name, .. } => write!(f, "{mech}: current {name} has a missing ion"),
            NotAKineticState { mech, state } => write!(f, "{mech}: kinetic state {state} is not a kinetic state"),
            ReactionRateOutOfRange { mech, .. } => write!(f, "{mech}: reaction rate out of range"),
            ReactionOutsideScheme { mech, .. } => write!(f, "{mech}: reaction uses a state outside the scheme"),
            ConserveOutOfRange { mech } => write!(f, "{mech}: conserve out of range"),
            EventOnDensity { mech } => write!(f, "{mech}: event handler on a density mechanism"),
            EventAssignmentOutOfRange { mech } => write!(f, "{mech}: event assignment out of range"),
            NodeRootMismatch { cell, node } => write!(f, "{cell}: node {node} root mismatch"),
            NodeParentAfter { cell, node } => write!(f, "{cell}: node {node} has a parent after it"),
            CmLength { cell, entries, nodes } => write!(f, "{cell}: cm has {entries} entries for {nodes} nodes"),
            DensityNotDensity(cell, k) => write!(f, "{cell}: density instance {k} is not a density mechanism"),
            DensityNodesNotAscending(cell, k) => write!(f, "{cell}: density instance {k} nodes not ascending"),
            DensityOnNodeWithoutMembrane(cell, k) => {
                write!(f, "{cell}: density instance {k} on a node without membrane")
            }
            DensityParamCount(cell, k) => write!(f, "{cell}: density instance {k} has the wrong parameter count"),
            DensityPerNodeLength(cell, k) => {
                write!(f, "{cell}: density instance {k} per-node values do not match its nodes")
            }
            SynapseInvalid { cell, name, .. } => write!(f, "{cell}: synapse {name} invalid"),
            SynapseParamCount { cell, name, .. } => write!(f, "{cell}: synapse {name} has the wrong parameter count"),
            DetectorNode { cell } => write!(f, "{cell}: detector node out of range"),
            DetectorThreshold { cell } => write!(f, "{cell}: detector threshold not finite"),
            Population { name, .. } => write!(f, "population {name} invalid"),
            ConnectionSourceRange { connection } => write!(f, "connection {connection}: source range invalid"),
            ConnectionMissingSource { connection } => write!(f, "connection {connection}: missing source"),
            ConnectionTargetRange { connection } => write!(f, "connection {connection}: target range invalid"),
            ConnectionMissingSynapse { connection } => write!(f, "connection {connection}: missing synapse"),
            ConnectionDelay { connection } => write!(f, "connection {connection}: bad delay"),
            Continuous { connection } => write!(f, "continuous connection {connection}: invalid"),
            PreVoltageMisplaced { what } => write!(f, "{what} reads v_pre without a continuous connection"),
            StimulusLocation { name, .. } => write!(f, "stimulus {name} location invalid"),
            StimulusNotPoint { name, .. } => write!(f, "stimulus {name} is not a point mechanism"),
            StimulusParamCount { name, .. } => write!(f, "stimulus {name} has the wrong parameter count"),
            ProbeWithoutCell { label, .. } => write!(f, "probe {label} has no cell"),
            ProbeTarget { label, .. } => write!(f, "probe {label} target invalid"),
            SimulationTime => write!(f, "simulation dt or duration invalid"),
            BelowAbsoluteZero => write!(f, "simulation temperature below absolute zero"),
            TrainableTarget { trainable, name } => write!(f, "trainable {trainable} {name}: target invalid"),
            TrainableValue { trainable, name } => {
                write!(f, "trainable {trainable} {name}: dimension, range or start value invalid")
            }
            TrainingTarget { target } => write!(f, "training target {target}: probe, path or column invalid"),
            TrainingSettings => write!(f, "training optimizer settings or iterations invalid"),
            TrainingData => write!(f, "training samples: an input, the readout, the loss, epochs or batch invalid"),
        }
    }
}
