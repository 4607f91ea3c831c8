//! The Sylva runtime: runs a checked model ([`sylva_compiler::ir::Model`]).
//!
//! [`plan`] turns the model into what every engine runs, [`host`] is the side of a run every
//! engine shares, [`simulation`] the engine interface and the run loop; [`cpu`] and [`gpu`]
//! are the engines; [`output`] writes what a run recorded.

pub mod cpu;
pub mod gpu;
pub mod grad;
pub mod host;
pub mod output;
pub mod plan;
pub mod simulation;
pub mod train;

pub use simulation::{Engine, RunError, Simulation};

#[cfg(test)]
mod test_models;
