//! The Sylva runtime: runs a checked model ([`sylva_compiler::ir::Model`]).

pub mod cpu;
pub mod gpu;
pub mod output;
