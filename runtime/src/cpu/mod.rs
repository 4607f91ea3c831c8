//! The CPU engine.

pub mod jit;
pub mod slots;
