//! Morphology: sections to a cable tree of nodes (NEURON's discretization), and SWC import
//! (NEURON's Import3d rules). Pure: the caller supplies the SWC text.
//!
//! * [`discretize`] turns resolved [`SectionSpec`]s into a [`CableTree`]: node areas,
//!   axial resistances, parents, and where each `sec(x)` lands ([`CableTree::node_at`]).
//! * [`parse_swc`] reads SWC text into [`SwcSample`]s with spanned diagnostics, and
//!   [`swc_to_sections`] groups them into sections the way NEURON's Import3d does.
//!
//! The exact rules, and what is still uncertain against NEURON, are in `docs/morphology.md`.

mod cable;
mod swc;

pub use cable::{
    CableTree, Geometry, MAX_NSEG, MorphError, Node, Nseg, Point3, SectionKind, SectionNodes, SectionSpec, discretize,
    nseg_for,
};
pub use swc::{SwcCell, SwcOptions, SwcSample, SwcSection, parse_swc, swc_header_units, swc_to_sections};

#[cfg(test)]
mod tests;
