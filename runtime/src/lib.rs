//! The Sylva runtime: runs a checked model ([`sylva_compiler::ir::Model`]).

pub mod cpu;
pub mod gpu;
pub mod output;

#[cfg(test)]
mod test_models;
