//! The CPU engine: compiled kernels (Cranelift) or the reference interpreter over the plan's
//! arrays.

pub mod compiled;
pub mod engine;
pub mod jit;
#[cfg(test)]
mod replica_tests;
pub mod slots;
mod team;

pub use engine::{CpuEngine, Options, Simulation};

/// The Cranelift IR of every kernel the engine compiles (a step's stages; initialisation is
/// interpreted by the plan), as `sylva compile --emit clif` prints it.
pub fn clif_text(artifact: &sylva_compiler::artifact::Artifact) -> Result<String, jit::JitError> {
    let plan = crate::plan::Plan::new(artifact);
    let mut out = String::new();
    for (i, block) in plan.blocks.iter().enumerate() {
        let name = &artifact.model.mechanisms[block.mechanism as usize].name;
        let slots = compiled::slots(block);
        let k = &block.kernels;
        let stages = [("current", Some(&k.current)), ("advance", Some(&k.advance)), ("event", k.event.as_ref())];
        for (stage, kernel) in stages {
            if let Some(kernel) = kernel {
                out.push_str(&format!("; block {i}: {name}, {} instances, stage {stage}\n", block.len()));
                out.push_str(&jit::clif_text(kernel, &slots)?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}
