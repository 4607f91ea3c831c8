//! The least storage traffic of one time step: every element of `data` that a step's current
//! and advance kernels, solve and Nernst update read is counted once, every element they write
//! once. The solve's arrays (and the fills of split chains) when they live in workgroup memory, the shared tables (read-only,
//! the same for every cell of a type, so they stay in cache), events and probes are not
//! counted. Per compartment and set against a measured rate, it gives a lower bound of the
//! bandwidth a run uses, hence of its fraction of the copy roofline.

use sylva_compiler::ir::expr::Expr;
use sylva_compiler::ir::kernel::Target;

use super::builder::Prec;
use super::layout::{Layout, ion_slot};

pub fn bytes_per_step(layout: &Layout, prec: Prec) -> u64 {
    let nspecies = layout.nernst.len();
    let mut elements = 0u64;
    for ty in &layout.types {
        let nodes = u64::from(ty.ncells) * u64::from(ty.nnodes);
        // v: read by the kernels and the solve, written by the solve.
        elements += 2 * nodes;
        if !ty.workgroup.as_ref().is_some_and(|w| w.local_solve) {
            // rhs and diagonal in `data`: zeroed, summed into, read by the solve.
            elements += 4 * nodes;
        }
        if let Some(fill) = ty.workgroup.as_ref().and_then(|w| w.fill).filter(|f| !f.local) {
            // The fills of split chains in `data`: written by the elimination, read by the
            // substitution.
            elements += 2 * u64::from(ty.ncells) * u64::from(fill.len);
        }
        // Per species and slot (reversal, inside, outside, current): read, written.
        let mut read = vec![[false; 4]; nspecies];
        let mut written = vec![[false; 4]; nspecies];
        for b in &ty.blocks {
            let mut states_read = vec![false; b.states.len()];
            let mut states_written = vec![false; b.states.len()];
            let mut stored = 0u64;
            for kernel in [&b.kernels.current, &b.kernels.advance] {
                for (_, e) in kernel.exprs.iter() {
                    match e {
                        Expr::State(s) => states_read[s as usize] = true,
                        Expr::Ion(u, var) => read[b.species[u as usize]][ion_slot(var)] = true,
                        _ => {}
                    }
                }
                for w in &kernel.writes {
                    match w.target {
                        Target::State(s) => states_written[s as usize] = true,
                        Target::Current(_) | Target::Derived(_) => stored += 1,
                        Target::IonCurrent(u) if layout.current_read[b.species[u as usize]] => {
                            // Zeroed, then summed into.
                            read[b.species[u as usize]][3] = true;
                            written[b.species[u as usize]][3] = true;
                        }
                        Target::IonConcentration(u, var) => written[b.species[u as usize]][ion_slot(var)] = true,
                        _ => {}
                    }
                }
            }
            let instances =
                if b.group.is_some() { u64::from(b.per_cell) } else { u64::from(ty.ncells) * u64::from(b.per_cell) };
            let per_instance = states_read.iter().chain(&states_written).filter(|x| **x).count() as u64 + stored;
            elements += instances * per_instance;
        }
        for (s, factor) in layout.nernst.iter().enumerate() {
            if factor.is_some() {
                read[s][1] = true;
                read[s][2] = true;
                written[s][0] = true;
            }
        }
        let touched: usize = read.iter().chain(&written).map(|slots| slots.iter().filter(|x| **x).count()).sum();
        elements += touched as u64 * nodes;
    }
    elements * prec.bytes()
}
