//! Which partials of the adjoint kernels can reach a gradient. A partial ∂w/∂x matters only
//! where the write w can have a cotangent and the value x can pass one on to a trained value:
//! a summed ion current that nothing reads and no probe records has none, and a folded or
//! untrained parameter, a constant reversal or a concentration no kernel writes passes none on.
//! The reverse run keeps only the partials that matter, so neither the replay's kernels nor
//! the products spend time on the rest (for hh: the partials of i_na and i_k, and those in e_na
//! and e_k). Leaving the others out changes no bit of the gradient: they only ever added to
//! cotangents that reach nothing.

use sylva_compiler::ir::adjoint::{Partial, Wrt};
use sylva_compiler::ir::expr::{Expr, IonVar};
use sylva_compiler::ir::kernel::{Kernel, Target};

use crate::plan::{Block, Plan, ProbeSource};

/// What carries a cotangent to a trained value in one plan.
#[derive(Clone, Debug)]
pub(super) struct Live {
    /// (block, parameter) kept per instance for the gradient: the trainables and inputs.
    params: Vec<(usize, u32)>,
    /// Per species: whether its summed current is read (by a kernel or a probe).
    current_read: Vec<bool>,
    /// Per species: whether its reversal follows Nernst (else it is a constant).
    reversal_varies: Vec<bool>,
    /// Per species: whether a kernel writes its inside, its outside concentration.
    written: Vec<[bool; 2]>,
    /// The plan's probes (a stored current or derived value has a cotangent where probed).
    probes: Vec<ProbeSource>,
}

impl Live {
    /// For `plan` with the per-instance parameters `params` trained or set by samples.
    pub(super) fn new(plan: &Plan, params: &[(usize, u32)]) -> Live {
        let species = |b: &Block, u: u32| b.species[u as usize];
        let mut current_read = vec![false; plan.species.len()];
        let mut written = vec![[false; 2]; plan.species.len()];
        for b in &plan.blocks {
            let k = &b.kernels;
            for kernel in [&k.init, &k.current, &k.advance].into_iter().chain(k.event.as_ref()) {
                for (_, e) in kernel.exprs.iter() {
                    if let Expr::Ion(u, IonVar::Current) = e {
                        current_read[species(b, u)] = true;
                    }
                }
                for w in &kernel.writes {
                    if let Target::IonConcentration(u, var) = w.target {
                        written[species(b, u)][usize::from(var == IonVar::Outside)] = true;
                    }
                }
            }
        }
        for probe in &plan.probes {
            if let ProbeSource::Ion { species, var: IonVar::Current, .. } = *probe {
                current_read[species] = true;
            }
        }
        Live {
            params: params.to_vec(),
            current_read,
            reversal_varies: plan.species.iter().map(|s| s.nernst).collect(),
            written,
            probes: plan.probes.clone(),
        }
    }

    /// Whether `partial` of the adjoint of `kernel` (of block `b`, `block`) can reach a gradient.
    pub(super) fn matters(&self, b: usize, block: &Block, kernel: &Kernel, partial: &Partial) -> bool {
        self.has_cotangent(b, block, kernel.writes[partial.write as usize].target)
            && self.passes_on(b, block, partial.wrt)
    }

    /// Whether a write to `target` can have a cotangent.
    fn has_cotangent(&self, b: usize, block: &Block, target: Target) -> bool {
        let slot = |list: &[(u32, Vec<f64>)], x: u32| list.iter().position(|(y, _)| *y == x);
        match target {
            Target::IonCurrent(u) => self.current_read[block.species[u as usize]],
            Target::Current(c) => {
                let stored = slot(&block.currents, c);
                self.probes.iter().any(
                    |p| matches!(*p, ProbeSource::Current { block, slot, .. } if block == b && Some(slot) == stored),
                )
            }
            Target::Derived(d) => {
                let stored = slot(&block.derived, d);
                self.probes.iter().any(
                    |p| matches!(*p, ProbeSource::Derived { block, slot, .. } if block == b && Some(slot) == stored),
                )
            }
            _ => true,
        }
    }

    /// Whether a cotangent of the value `wrt` can reach a trained value.
    fn passes_on(&self, b: usize, block: &Block, wrt: Wrt) -> bool {
        match wrt {
            Wrt::Param(q) => self.params.contains(&(b, q)),
            Wrt::Ion(u, var) => {
                let s = block.species[u as usize];
                match var {
                    IonVar::Reversal => self.reversal_varies[s],
                    IonVar::Inside => self.written[s][0],
                    IonVar::Outside => self.written[s][1],
                    IonVar::Current => true,
                }
            }
            Wrt::State(_) | Wrt::V | Wrt::VPre | Wrt::Weight => true,
        }
    }
}

#[cfg(test)]
impl Live {
    /// Everything carries a cotangent: the adjoints keep every partial (the reference the
    /// pruned gradient is compared with).
    pub(super) fn everything(plan: &Plan) -> Live {
        let every_param =
            plan.blocks.iter().enumerate().flat_map(|(b, block)| block.params.iter().map(move |(q, _)| (b, *q)));
        let every_stored = plan.blocks.iter().enumerate().flat_map(|(block, b)| {
            let currents = (0..b.currents.len()).map(move |slot| ProbeSource::Current { block, slot, instance: 0 });
            currents.chain((0..b.derived.len()).map(move |slot| ProbeSource::Derived { block, slot, instance: 0 }))
        });
        let n = plan.species.len();
        Live {
            params: every_param.collect(),
            current_read: vec![true; n],
            reversal_varies: vec![true; n],
            written: vec![[true; 2]; n],
            probes: every_stored.collect(),
        }
    }
}
