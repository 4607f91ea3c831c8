//! Adjoint kernels: the reverse derivative of a stage kernel, derived symbolically. A kernel
//! reads leaves (parameters, states, v, ion values, the event weight) and writes values; its
//! adjoint is the Jacobian of every written value with respect to every leaf it depends on, as
//! expressions of the same leaves. An engine evaluates them at the forward state of the
//! instance and forms the vector–Jacobian product: `λ_leaf += Σ_w λ_w · ∂w/∂leaf`. Second
//! derivatives come for free where a kernel writes a derivative (the current kernel's
//! diagonal, dI/dv, gives d²I/dv²). Nothing here is a finite difference or a run-time tape.

use std::collections::HashMap;

use super::expr::{Builtin, Expr, ExprArena, ExprId, IonVar};
use super::kernel::{Kernel, Stage, Target, Write};

/// A value a kernel reads that a gradient flows into.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Wrt {
    Param(u32),
    State(u32),
    /// The membrane voltage at the instance's node.
    V,
    /// The presynaptic voltage of a continuously connected point mechanism: its gradient
    /// flows to the presynaptic cell's node.
    VPre,
    /// An ion value at the node, by the mechanism's ion use.
    Ion(u32, IonVar),
    /// The weight of the event (event kernels).
    Weight,
}

impl Wrt {
    /// The leaf a derivative is taken with respect to; `None` for the constants of a run (the
    /// node's area and diameter, t, dt, the temperature), which no gradient reaches.
    pub fn of(leaf: Expr) -> Option<Wrt> {
        match leaf {
            Expr::Param(p) => Some(Wrt::Param(p)),
            Expr::State(s) => Some(Wrt::State(s)),
            Expr::Builtin(Builtin::V) => Some(Wrt::V),
            Expr::Builtin(Builtin::VPre) => Some(Wrt::VPre),
            Expr::Ion(u, var) => Some(Wrt::Ion(u, var)),
            Expr::Weight => Some(Wrt::Weight),
            _ => None,
        }
    }

    pub fn leaf(self) -> Expr {
        match self {
            Wrt::Param(p) => Expr::Param(p),
            Wrt::State(s) => Expr::State(s),
            Wrt::V => Expr::Builtin(Builtin::V),
            Wrt::VPre => Expr::Builtin(Builtin::VPre),
            Wrt::Ion(u, var) => Expr::Ion(u, var),
            Wrt::Weight => Expr::Weight,
        }
    }
}

/// ∂(value of write `write`)/∂`wrt`, an expression of the adjoint kernel's arena.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Partial {
    /// Index into the forward kernel's writes.
    pub write: u32,
    pub wrt: Wrt,
    pub value: ExprId,
}

/// The structurally non-zero partial derivatives of a kernel's writes, in write order, then in
/// the order the leaves first appear in the kernel.
#[derive(Clone, Debug)]
pub struct AdjointKernel {
    /// Compacted: only what the partials reach, operands first.
    pub exprs: ExprArena,
    pub partials: Vec<Partial>,
}

impl AdjointKernel {
    /// A kernel of stage `stage` (that of the kernel this is the adjoint of) that computes
    /// every partial at an instance and stores partial `k` into [`Target::Partial`]`(k)`: what
    /// an engine compiles to evaluate the partials of a whole block in one call.
    pub fn kernel(&self, stage: Stage) -> Kernel {
        let empty = Kernel { stage, exprs: ExprArena::new(), writes: Vec::new() };
        self.fused(&empty, 0)
    }

    /// `kernel` (the kernel this is the adjoint of) that also stores partial `k` into
    /// [`Target::Partial`]`(first + k)`, from the values the kernel reads (every value is
    /// computed before the first write): one pass runs the stage and evaluates its partials,
    /// sharing what they have in common. The expressions are imported as they are (the
    /// arenas are already folded), so every value has the bits it has in either arena.
    pub fn fused(&self, kernel: &Kernel, first: u32) -> Kernel {
        let mut exprs = ExprArena::new();
        let mut leaf = |arena: &mut ExprArena, e: Expr| arena.leaf(e);
        let mut writes: Vec<Write> = kernel
            .writes
            .iter()
            .map(|w| Write { target: w.target, value: exprs.import(&kernel.exprs, w.value, &mut leaf) })
            .collect();
        for (k, p) in self.partials.iter().enumerate() {
            let value = exprs.import(&self.exprs, p.value, &mut leaf);
            writes.push(Write { target: Target::Partial(first + k as u32), value });
        }
        Kernel { stage: kernel.stage, exprs, writes }
    }
}

/// The adjoint of `kernel` (usually a specialised kernel, whose folded constants have no
/// gradient).
pub fn adjoint(kernel: &Kernel) -> AdjointKernel {
    let mut scratch = kernel.exprs.clone();
    let mut leaves: Vec<Wrt> = Vec::new();
    for (_, e) in kernel.exprs.iter() {
        if let Some(wrt) = Wrt::of(e)
            && !leaves.contains(&wrt)
        {
            leaves.push(wrt);
        }
    }
    let mut raw = Vec::new();
    for (k, w) in kernel.writes.iter().enumerate() {
        for &wrt in &leaves {
            if !scratch.depends_on(w.value, wrt.leaf()) {
                continue;
            }
            let d = scratch.derivative(w.value, wrt.leaf());
            if scratch.constant(d) != Some(0.0) {
                raw.push(Partial { write: k as u32, wrt, value: d });
            }
        }
    }
    // Keep only what the partials reach, shared where equal (the arena hash-conses).
    let mut exprs = ExprArena::new();
    let mut imported: HashMap<ExprId, ExprId> = HashMap::new();
    let partials = raw
        .into_iter()
        .map(|p| {
            let value = *imported
                .entry(p.value)
                .or_insert_with(|| exprs.import(&scratch, p.value, &mut |arena, leaf| arena.leaf(leaf)));
            Partial { value, ..p }
        })
        .collect();
    AdjointKernel { exprs, partials }
}

#[cfg(test)]
mod tests;
