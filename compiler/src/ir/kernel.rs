//! Stage kernels: each mechanism lowered to the four programs the step schedule runs
//! (`docs/ARCHITECTURE.md`, "Step schedule"). A kernel is an expression DAG plus an ordered
//! list of writes; every value is computed from the state *before* the kernel, then the writes
//! happen in order. The CPU interpreter, the Cranelift JIT and the GPU back end all execute
//! exactly these programs, so they cannot disagree about the numerics of a mechanism.
//!
//! Leaves: `Param(i)` (per instance, unless specialised to a constant), `State(i)`, the
//! builtins (`V`, `Area`, `Diam` are read at the instance's node), `Ion(u, var)` (read at the
//! node from the species of ion use `u`) and `Weight` (event kernels only).

use super::expr::{Builtin, Expr, ExprArena, ExprId, UnaryOp};
use super::{Dynamics, Mechanism, MechanismKind, StateId};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// At initialisation, after `v = v_init` and the ion values are set.
    Init,
    /// Membrane currents at v(t): accumulates into the node's right-hand side and diagonal.
    Current,
    /// States from t to t + dt with the new voltage.
    Advance,
    /// One event of weight `Weight` at one instance.
    Event,
}

/// Where a kernel writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Store into state `i` of the instance.
    State(u32),
    /// Store the value of current `i` (for probes).
    Current(u32),
    /// Store derived value `i` (for probes).
    Derived(u32),
    /// Add to the node's right-hand side (nA): minus the outward current.
    NodeRhs,
    /// Add to the node's diagonal (µS): the conductance dI/dv.
    NodeDiagonal,
    /// Add to the summed current density (nA/µm²) of the species of ion use `u` at the node.
    IonCurrent(u32),
    /// Store a concentration of the species of ion use `u` at the node (`Inside`/`Outside`).
    IonConcentration(u32, super::expr::IonVar),
    /// Store partial derivative `i` of an adjoint kernel for the instance
    /// ([`super::adjoint::AdjointKernel::kernel`]); no stage kernel writes it (the artifact's
    /// validator refuses it there).
    Partial(u32),
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Write {
    pub target: Target,
    pub value: ExprId,
}

#[derive(Clone, Debug)]
pub struct Kernel {
    pub stage: Stage,
    pub exprs: ExprArena,
    pub writes: Vec<Write>,
}

/// The four kernels of a mechanism.
#[derive(Clone, Debug)]
pub struct Kernels {
    pub init: Kernel,
    pub current: Kernel,
    pub advance: Kernel,
    /// `None` for mechanisms without an event handler.
    pub event: Option<Kernel>,
}

/// The values the current kernel stores per instance, because probes read them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub currents: Vec<u32>,
    pub derived: Vec<u32>,
}

/// Lowers a mechanism; the current kernel stores the currents and derived values in `stored`.
pub fn lower(m: &Mechanism, stored: &Stored) -> Kernels {
    Kernels {
        init: init(m),
        current: current(m, stored),
        advance: advance(m),
        event: m.event.as_ref().map(|e| {
            let writes = e.assigns.iter().map(|(s, v)| Write { target: Target::State(s.0), value: *v }).collect();
            compact(Kernel { stage: Stage::Event, exprs: m.exprs.clone(), writes })
        }),
    }
}

fn init(m: &Mechanism) -> Kernel {
    let mut a = m.exprs.clone();
    let mut values: Vec<ExprId> = m.states.iter().map(|s| s.init).collect();
    if let Some(k) = m.kinetic.as_ref().filter(|k| k.steady_state) {
        steady_state(&mut a, k, &mut values);
    }
    let mut writes: Vec<Write> =
        values.iter().enumerate().map(|(i, v)| Write { target: Target::State(i as u32), value: *v }).collect();
    concentration_writes(m, &mut writes, |i| values[i]);
    compact(Kernel { stage: Stage::Init, exprs: a, writes })
}

/// A `kinetic steady_state` scheme's states after their initial values: one backward Euler
/// step of `STEADY_STATE_DT` from them, as NEURON's `SOLVE … STEADYSTATE sparse` takes (the
/// steady state for a linear scheme, to a relative 1/(rate × 1e9 ms)).
fn steady_state(a: &mut ExprArena, k: &super::KineticScheme, values: &mut [ExprId]) {
    let dt = a.constant_expr(super::STEADY_STATE_DT);
    let step = kinetic_step(a, k, dt);
    let initial = values.to_vec();
    for (state, mut value) in step {
        for (j, init) in initial.iter().enumerate() {
            value = a.substitute(value, Expr::State(j as u32), *init);
        }
        values[state as usize] = value;
    }
}

/// States that are ion concentrations also write the species' value at the node.
fn concentration_writes(m: &Mechanism, writes: &mut Vec<Write>, value: impl Fn(usize) -> ExprId) {
    for (i, s) in m.states.iter().enumerate() {
        if let Some((ion, var)) = s.writes_ion {
            writes.push(Write { target: Target::IonConcentration(ion.0, var), value: value(i) });
        }
    }
}

fn current(m: &Mechanism, stored: &Stored) -> Kernel {
    let mut a = m.exprs.clone();
    let mut writes = Vec::new();
    let area = a.leaf(Expr::Builtin(Builtin::Area));
    for (k, c) in m.currents.iter().enumerate() {
        if stored.currents.contains(&(k as u32)) {
            writes.push(Write { target: Target::Current(k as u32), value: c.value });
        }
        // Node totals in nA and µS: densities times the node's area.
        let (total, slope) = match m.kind {
            MechanismKind::Density => (a.mul(c.value, area), a.mul(c.conductance, area)),
            MechanismKind::Point => (c.value, c.conductance),
        };
        let (rhs, diagonal) = if c.electrode {
            // Injected current: positive depolarizes, so it adds to the right-hand side.
            (total, a.neg(slope))
        } else {
            (a.neg(total), slope)
        };
        writes.push(Write { target: Target::NodeRhs, value: rhs });
        writes.push(Write { target: Target::NodeDiagonal, value: diagonal });
        if let Some(ion) = c.ion {
            let density = match m.kind {
                MechanismKind::Density => c.value,
                MechanismKind::Point => a.div(c.value, area),
            };
            writes.push(Write { target: Target::IonCurrent(ion.0), value: density });
        }
    }
    for &d in &stored.derived {
        writes.push(Write { target: Target::Derived(d), value: m.derived[d as usize].value });
    }
    compact(Kernel { stage: Stage::Current, exprs: a, writes })
}

fn advance(m: &Mechanism) -> Kernel {
    let mut a = m.exprs.clone();
    let mut next: Vec<Option<ExprId>> = vec![None; m.states.len()];
    let dt = a.leaf(Expr::Builtin(Builtin::Dt));
    for (i, s) in m.states.iter().enumerate() {
        let x = a.leaf(Expr::State(i as u32));
        next[i] = match s.dynamics {
            Dynamics::Exponential { inf, tau } => {
                // NEURON's cnexp: x + (1 - exp(-dt/tau)) * (inf - x).
                let ndt = a.neg(dt);
                let ratio = a.div(ndt, tau);
                let e = a.unary(UnaryOp::Exp, ratio);
                let one = a.constant_expr(1.0);
                let factor = a.sub(one, e);
                let gap = a.sub(inf, x);
                let step = a.mul(factor, gap);
                Some(a.add(x, step))
            }
            Dynamics::Ode { rhs } => {
                // One Newton step of backward Euler: x + dt f / (1 - dt f').
                let slope = a.derivative(rhs, Expr::State(i as u32));
                let num = a.mul(dt, rhs);
                let dts = a.mul(dt, slope);
                let one = a.constant_expr(1.0);
                let den = a.sub(one, dts);
                let step = a.div(num, den);
                Some(a.add(x, step))
            }
            Dynamics::Assign { value } => Some(value),
            Dynamics::Kinetic | Dynamics::Constant => None,
        };
    }
    if let Some(k) = &m.kinetic {
        for (state, value) in kinetic_step(&mut a, k, dt) {
            next[state as usize] = Some(value);
        }
    }
    let mut writes: Vec<Write> = next
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|value| Write { target: Target::State(i as u32), value }))
        .collect();
    let finals: Vec<ExprId> =
        (0..m.states.len()).map(|i| next[i].unwrap_or_else(|| a.leaf(Expr::State(i as u32)))).collect();
    concentration_writes(m, &mut writes, |i| finals[i]);
    compact(Kernel { stage: Stage::Advance, exprs: a, writes })
}

/// Backward Euler for a kinetic scheme, as one Newton step: (I - dt J) Δ = dt f(x), with the
/// last equation replaced by the conservation law when there is one. The small dense system is
/// eliminated symbolically (no pivoting: I - dt J is an M-matrix for mass-action schemes).
// Dense elimination reads clearest with indices.
#[allow(clippy::needless_range_loop)]
fn kinetic_step(a: &mut ExprArena, k: &super::KineticScheme, dt: ExprId) -> Vec<(u32, ExprId)> {
    let n = k.states.len();
    let states = conserved_last(k);
    let position = |s: StateId| states.iter().position(|x| *x == s).expect("scheme state");
    let zero = a.constant_expr(0.0);
    // f: the rate of change of each scheme state.
    let mut f = vec![zero; n];
    for r in &k.reactions {
        let mut forward = r.forward;
        for &(s, count) in &r.lhs {
            let x = a.leaf(Expr::State(s.0));
            let p = a.powi(x, count as i32);
            forward = a.mul(forward, p);
        }
        let mut backward = r.backward;
        for &(s, count) in &r.rhs {
            let x = a.leaf(Expr::State(s.0));
            let p = a.powi(x, count as i32);
            backward = a.mul(backward, p);
        }
        let net = a.sub(forward, backward);
        for &(s, count) in &r.lhs {
            let c = a.constant_expr(f64::from(count));
            let t = a.mul(c, net);
            let i = position(s);
            f[i] = a.sub(f[i], t);
        }
        for &(s, count) in &r.rhs {
            let c = a.constant_expr(f64::from(count));
            let t = a.mul(c, net);
            let i = position(s);
            f[i] = a.add(f[i], t);
        }
    }
    let one = a.constant_expr(1.0);
    // Matrix M = I - dt J and right-hand side b = dt f.
    let mut matrix = vec![vec![zero; n]; n];
    let mut b = vec![zero; n];
    for i in 0..n {
        for j in 0..n {
            let dij = a.derivative(f[i], Expr::State(states[j].0));
            let t = a.mul(dt, dij);
            let identity = if i == j { one } else { zero };
            matrix[i][j] = a.sub(identity, t);
        }
        b[i] = a.mul(dt, f[i]);
    }
    for (members, total) in &k.conserve {
        // Σ (x + Δ) over the conserved states = total, in the row of the last of them.
        let Some(row) = members.iter().map(|s| position(*s)).max() else { continue };
        let mut sum = zero;
        for j in 0..n {
            let member = members.contains(&states[j]);
            matrix[row][j] = if member { one } else { zero };
            if member {
                let x = a.leaf(Expr::State(states[j].0));
                sum = a.add(sum, x);
            }
        }
        b[row] = a.sub(*total, sum);
    }
    // Forward elimination and back substitution.
    for p in 0..n {
        for i in p + 1..n {
            if a.constant(matrix[i][p]) == Some(0.0) {
                continue;
            }
            let factor = a.div(matrix[i][p], matrix[p][p]);
            for j in p..n {
                let t = a.mul(factor, matrix[p][j]);
                matrix[i][j] = a.sub(matrix[i][j], t);
            }
            let t = a.mul(factor, b[p]);
            b[i] = a.sub(b[i], t);
        }
    }
    let mut delta = vec![zero; n];
    for i in (0..n).rev() {
        let mut s = b[i];
        for j in i + 1..n {
            let t = a.mul(matrix[i][j], delta[j]);
            s = a.sub(s, t);
        }
        delta[i] = a.div(s, matrix[i][i]);
    }
    (0..n)
        .map(|i| {
            let x = a.leaf(Expr::State(states[i].0));
            (states[i].0, a.add(x, delta[i]))
        })
        .collect()
}

/// The scheme's states with the last state of each `conserve` (whose equation the conservation
/// law replaces) moved to the end, so that the elimination, which does not pivot, meets the
/// rows of I - dt J before the conservation rows. The order is unchanged when the one
/// conserved total ends with the scheme's last state.
fn conserved_last(k: &super::KineticScheme) -> Vec<StateId> {
    let last_of = |members: &Vec<StateId>| k.states.iter().rev().find(|s| members.contains(s)).copied();
    let replaced: Vec<StateId> = k.conserve.iter().filter_map(|(members, _)| last_of(members)).collect();
    let kept = k.states.iter().filter(|s| !replaced.contains(s)).copied();
    kept.chain(replaced.iter().copied()).collect()
}

/// Keeps only the expressions the writes reach, renumbered in order (back ends and dumps see
/// no dead code), with the work reduced (`ir::reduce`).
pub fn compact(kernel: Kernel) -> Kernel {
    specialize(&kernel, &|_| None)
}

/// Replaces leaves by constants (uniform parameters, `dt`, `celsius`), folds, and reduces the
/// work (`ir::reduce`), so the code a back end generates does per-instance work only.
pub fn specialize(kernel: &Kernel, constant: &dyn Fn(Expr) -> Option<f64>) -> Kernel {
    super::reduce::reduce(&fold_leaves(kernel, constant))
}

/// The expressions the writes reach, renumbered in order, with the leaves `constant` knows
/// replaced by constants and folded.
pub(super) fn fold_leaves(kernel: &Kernel, constant: &dyn Fn(Expr) -> Option<f64>) -> Kernel {
    let mut exprs = ExprArena::new();
    let mut map = std::collections::HashMap::new();
    let writes = kernel
        .writes
        .iter()
        .map(|w| {
            let value = match map.get(&w.value) {
                Some(v) => *v,
                None => {
                    let v = exprs.import(&kernel.exprs, w.value, &mut |arena, leaf| match constant(leaf) {
                        Some(c) => arena.constant_expr(c),
                        None => arena.leaf(leaf),
                    });
                    map.insert(w.value, v);
                    v
                }
            };
            Write { target: w.target, value }
        })
        .collect();
    Kernel { stage: kernel.stage, exprs, writes }
}
