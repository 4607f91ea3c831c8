//! The CPU engine.

pub mod block;
pub mod build;
pub mod compiled;
pub mod engine;
pub mod events;
pub mod jit;
pub mod slots;

pub use engine::{Blowup, Options, Simulation};

/// The Cranelift IR of every kernel of every block, as `sylva compile --emit clif` prints it.
pub fn clif_text(model: &sylva_compiler::ir::Model) -> Result<String, jit::JitError> {
    let built = build::build(model, model.simulation.dt, model.simulation.celsius);
    let mut out = String::new();
    for (i, block) in built.blocks.iter().enumerate() {
        let name = &model.mechanisms[block.mechanism as usize].name;
        let slots = block.slots();
        let k = &block.kernels;
        let stages = [
            ("init", Some(&k.init)),
            ("current", Some(&k.current)),
            ("advance", Some(&k.advance)),
            ("event", k.event.as_ref()),
        ];
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
