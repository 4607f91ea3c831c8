//! Kinetic (Markov) schemes: reactions between states with forward and backward rates.

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Dynamics};
use crate::syntax::ast;
use crate::units::Dimension;

use super::expr::Lower;

pub(crate) fn check(
    lower: &mut Lower<'_, '_>,
    k: &ast::Kinetic,
    states: &mut [ir::State],
) -> Option<ir::KineticScheme> {
    let mut members: Vec<u32> = Vec::new();
    let mut reactions = Vec::new();
    let mut dim: Option<Dimension> = None;
    let mut ok = true;
    let mut side = |lower: &mut Lower<'_, '_>,
                    reactants: &[ast::Reactant],
                    members: &mut Vec<u32>,
                    dim: &mut Option<Dimension>| {
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
                ok = false;
                continue;
            };
            let state_dim = states[index].dim;
            match dim {
                None => *dim = Some(state_dim),
                Some(d) if *d != state_dim => {
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
                    ok = false;
                }
                Some(_) => {}
            }
            if !members.contains(&(index as u32)) {
                members.push(index as u32);
            }
            out.push((index as u32, r.count));
        }
        out
    };
    for reaction in &k.reactions {
        let lhs = side(lower, &reaction.lhs, &mut members, &mut dim);
        let rhs = side(lower, &reaction.rhs, &mut members, &mut dim);
        let state_dim = dim.unwrap_or(Dimension::NONE);
        let rate = |order: u32| {
            Dimension::TIME
                .powi(-1)
                .and_then(|r| state_dim.powi(1 - order as i32).map(|c| r.mul(c)))
                .unwrap_or(Dimension::NONE)
        };
        let order = |side: &[(u32, u32)]| side.iter().map(|(_, n)| *n).sum::<u32>().max(1);
        let forward = lower.expect(&reaction.forward, rate(order(&lhs)), "the forward rate");
        let backward = lower.expect(&reaction.backward, rate(order(&rhs)), "the backward rate");
        reactions.push(ir::Reaction { lhs, rhs, forward: forward.id, backward: backward.id, span: reaction.span });
    }
    let mut conserve = None;
    for c in &k.conserves {
        if conserve.is_some() {
            lower.diags.push(Diagnostic::error(
                Code::InvalidKinetic,
                c.span,
                "a kinetic scheme can conserve only one total",
            ));
            continue;
        }
        let mut list = Vec::new();
        for s in &c.states {
            match states.iter().position(|st| st.name == s.name) {
                Some(i) if members.contains(&(i as u32)) => list.push(i as u32),
                _ => {
                    lower.diags.push(
                        Diagnostic::error(
                            Code::InvalidKinetic,
                            s.span,
                            format!("`{}` is not a state of this kinetic scheme", s.name),
                        )
                        .label("not in any reaction"),
                    );
                    ok = false;
                }
            }
        }
        let total = lower.expect(&c.total, dim.unwrap_or(Dimension::NONE), "the conserved total");
        conserve = Some((list, total.id));
    }
    members.sort_unstable();
    for &index in &members {
        let state = &mut states[index as usize];
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
    if k.reactions.is_empty() {
        lower.diags.push(Diagnostic::error(Code::InvalidKinetic, k.span, "this kinetic scheme has no reactions"));
        ok = false;
    }
    ok.then_some(ir::KineticScheme { states: members, reactions, conserve, span: k.span })
}
