//! The CPU engine.

pub mod block;
pub mod build;
pub mod compiled;
pub mod engine;
pub mod events;
pub mod jit;
pub mod slots;

pub use engine::{Blowup, Options, Simulation};
