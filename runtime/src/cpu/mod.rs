//! The CPU engine.

pub mod slots;
