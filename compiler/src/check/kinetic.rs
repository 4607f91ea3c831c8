//! Kinetic (Markov) schemes: reactions between states with forward and backward rates.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::expr::ExprId;
use crate::ir::{self, Dynamics, StateId};
use crate::syntax::ast;
use crate::units::Dimension;

use super::expr::Lower;

/// Checks a kinetic scheme: its reactions, its conserved total, and that its states have no
/// other equation (they are marked [`Dynamics::Kinetic`]). `None` after an error.
pub(crate) fn check(
    lower: &mut Lower<'_, '_>,
    k: &ast::Kinetic,
    states: &mut [ir::State],
) -> Option<ir::KineticScheme> {
    let mut scheme = Members { members: Vec::new(), dim: None, ok: true };
    let reactions = k.reactions.iter().map(|reaction| check_reaction(lower, states, reaction, &mut scheme)).collect();
    let conserve = check_conserve(lower, states, k, &mut scheme);
    let Members { mut members, mut ok, .. } = scheme;
    members.sort_unstable();
    ok &= mark_kinetic(lower, k, states, &members);
    if k.reactions.is_empty() {
        lower.diags.push(Diagnostic::error(Code::InvalidKinetic, k.span, "this kinetic scheme has no reactions"));
        ok = false;
    }
    ok &= !k.steady_state || linear(lower, k);
    ok.then_some(ir::KineticScheme { states: members, reactions, conserve, steady_state: k.steady_state, span: k.span })
}

/// A `steady_state` scheme must be linear in its states (one reactant on each side): its
/// steady state is then one backward Euler step away, as in NEURON.
fn linear(lower: &mut Lower<'_, '_>, k: &ast::Kinetic) -> bool {
    let order = |side: &[ast::Reactant]| side.iter().map(|r| r.count).sum::<u32>();
    let Some(r) = k.reactions.iter().find(|r| order(&r.lhs) > 1 || order(&r.rhs) > 1) else { return true };
    lower.diags.push(
        Diagnostic::error(Code::InvalidKinetic, r.span, "a `steady_state` scheme must be linear in its states")
            .label("a reaction of order above 1")
            .note("the steady state is one backward Euler step of 1e9 ms away only for a linear scheme"),
    );
    false
}

/// What the reactions of a scheme gather as they are checked.
struct Members {
    /// The states in any reaction, in the order first met.
    members: Vec<StateId>,
    /// The unit of the first state met; every other must have the same.
    dim: Option<Dimension>,
    /// No error so far.
    ok: bool,
}

/// One reaction: both sides, and the rates in the units their orders need.
fn check_reaction(
    lower: &mut Lower<'_, '_>,
    states: &[ir::State],
    reaction: &ast::Reaction,
    scheme: &mut Members,
) -> ir::Reaction {
    let lhs = side(lower, states, &reaction.lhs, scheme);
    let rhs = side(lower, states, &reaction.rhs, scheme);
    let state_dim = scheme.dim.unwrap_or(Dimension::NONE);
    let rate = |order: u32| {
        Dimension::TIME
            .powi(-1)
            .and_then(|r| state_dim.powi(1 - order as i32).map(|c| r.mul(c)))
            .unwrap_or(Dimension::NONE)
    };
    let order = |side: &[(StateId, u32)]| side.iter().map(|(_, n)| *n).sum::<u32>().max(1);
    let forward = lower.expect(&reaction.forward, rate(order(&lhs)), "the forward rate");
    let backward = lower.expect(&reaction.backward, rate(order(&rhs)), "the backward rate");
    ir::Reaction { lhs, rhs, forward: forward.id, backward: backward.id, span: reaction.span }
}

/// One side of a reaction: (state, count) of each reactant that is a state of the mechanism,
/// all of one unit.
fn side(
    lower: &mut Lower<'_, '_>,
    states: &[ir::State],
    reactants: &[ast::Reactant],
    scheme: &mut Members,
) -> Vec<(StateId, u32)> {
    let mut out = Vec::new();
    for r in reactants {
        let Some(index) = states.iter().position(|s| s.name == r.state.name) else {
            lower.diags.push(
                Diagnostic::error(
                    Code::InvalidKinetic,
                    r.state.span,
                    format!("`{}` is not a state of this mechanism", r.state.name),
                )
                .help(format!("declare it: `state {}: 1`", r.state.name)),
            );
            scheme.ok = false;
            continue;
        };
        let state_dim = states[index].dim;
        match scheme.dim {
            None => scheme.dim = Some(state_dim),
            Some(d) if d != state_dim => {
                lower.diags.push(
                    Diagnostic::error(
                        Code::InvalidKinetic,
                        r.state.span,
                        "all states of a kinetic scheme must have the same unit",
                    )
                    .label(format!(
                        "this is {}, the others are {}",
                        state_dim.describe(),
                        d.describe()
                    )),
                );
                scheme.ok = false;
            }
            Some(_) => {}
        }
        let id = StateId(index as u32);
        if !scheme.members.contains(&id) {
            scheme.members.push(id);
        }
        out.push((id, r.count));
    }
    out
}

/// The `conserve`s of a scheme, each over states in its reactions that no other `conserve`
/// names, with a total in their unit.
fn check_conserve(
    lower: &mut Lower<'_, '_>,
    states: &[ir::State],
    k: &ast::Kinetic,
    scheme: &mut Members,
) -> Vec<(Vec<StateId>, ExprId)> {
    let mut conserve: Vec<(Vec<StateId>, ExprId)> = Vec::new();
    for c in &k.conserves {
        let mut list = Vec::new();
        for s in &c.states {
            match states.iter().position(|st| st.name == s.name) {
                Some(i) if conserve.iter().any(|(l, _)| l.contains(&StateId(i as u32))) => {
                    lower.diags.push(
                        Diagnostic::error(Code::InvalidKinetic, s.span, format!("`{}` is in two `conserve`s", s.name))
                            .label("conserved already")
                            .note(
                                "each `conserve` replaces the equation of one of its states: their states must differ",
                            ),
                    );
                    scheme.ok = false;
                }
                Some(i) if scheme.members.contains(&StateId(i as u32)) => list.push(StateId(i as u32)),
                _ => {
                    lower.diags.push(
                        Diagnostic::error(
                            Code::InvalidKinetic,
                            s.span,
                            format!("`{}` is not a state of this kinetic scheme", s.name),
                        )
                        .label("not in any reaction"),
                    );
                    scheme.ok = false;
                }
            }
        }
        let total = lower.expect(&c.total, scheme.dim.unwrap_or(Dimension::NONE), "the conserved total");
        conserve.push((list, total.id));
    }
    conserve
}

/// Marks the scheme's states as kinetic; one with another equation is an error (then `false`).
fn mark_kinetic(lower: &mut Lower<'_, '_>, k: &ast::Kinetic, states: &mut [ir::State], members: &[StateId]) -> bool {
    let mut ok = true;
    for &index in members {
        let state = &mut states[index.index()];
        if state.dynamics != Dynamics::Constant {
            lower.diags.push(
                Diagnostic::error(
                    Code::DuplicateDynamics,
                    k.span,
                    format!("state `{}` is in a kinetic scheme and has another equation", state.name),
                )
                .secondary(state.span, "declared here"),
            );
            ok = false;
        } else {
            state.dynamics = Dynamics::Kinetic;
        }
    }
    ok
}
