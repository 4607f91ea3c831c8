//! The second step of checking a mechanism: gates, equations, the kinetic scheme, currents,
//! the event handler, initial values and derived values lowered into its arena, and what is
//! reported once all are known (currents never assigned, states without dynamics).

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::expr::{Builtin, Expr, ExprArena, ExprId};
use crate::ir::{self, Dynamics, StateId};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::Dimension;

use crate::check::expr::{Lower, Symbol, Value, parse_unit};

use super::CurrentSlot;

/// What lowering the members gives besides the states' dynamics.
pub(super) struct Lowered<'m> {
    pub(super) currents: Vec<ir::Current>,
    pub(super) kinetic: Option<ir::KineticScheme>,
    pub(super) event: Option<ir::EventHandler>,
    pub(super) initial: Option<&'m ast::Initial>,
    /// Gates already reported as incomplete are not reported again as states without dynamics.
    pub(super) broken_gates: Vec<u32>,
}

/// Lowers gates, equations, the kinetic scheme, current assignments and the event handler, in
/// the order written; finds the `initial` block.
pub(super) fn lower_members<'m>(
    lower: &mut Lower<'_, '_>,
    m: &'m ast::Mechanism,
    states: &mut [ir::State],
    currents: &HashMap<String, CurrentSlot>,
) -> Lowered<'m> {
    let current_dim = match m.kind {
        ast::MechanismKind::Density => Dimension::CURRENT_DENSITY,
        ast::MechanismKind::Point => Dimension::CURRENT,
    };
    let mut out_currents = Vec::new();
    let mut kinetic = None;
    let mut event = None;
    let mut initial: Option<&ast::Initial> = None;
    let mut broken_gates: Vec<u32> = Vec::new();
    for member in &m.members {
        match member {
            ast::Member::Gate(g) => {
                let index = states.iter().position(|s| s.name == g.name.name).expect("gates are states") as u32;
                match gate(lower, g) {
                    Some(dynamics) => set_dynamics(lower, &mut states[index as usize], dynamics, g.span),
                    None => broken_gates.push(index),
                }
            }
            ast::Member::Ode(ode) => {
                let Some(index) = state_index(states, &ode.state) else {
                    lower.diags.push(not_a_state(&ode.state, states));
                    lower.lower(&ode.rhs);
                    continue;
                };
                let state = &states[index as usize];
                let expected = state.dim.div(Dimension::TIME);
                let rhs = lower.expect(&ode.rhs, expected, &format!("the equation of `{}`", state.name));
                let dynamics = if ode.backward_euler {
                    Dynamics::Ode { rhs: rhs.id }
                } else {
                    classify_ode(lower.arena, index, rhs.id)
                };
                set_dynamics(lower, &mut states[index as usize], dynamics, ode.span);
            }
            ast::Member::Kinetic(k) => {
                if kinetic.is_some() {
                    lower.diags.push(Diagnostic::error(
                        Code::InvalidKinetic,
                        k.span,
                        "a mechanism can have only one kinetic scheme",
                    ));
                    continue;
                }
                kinetic = crate::check::kinetic::check(lower, k, states);
            }
            ast::Member::Assign(a) if a.each_step => assign_each_step(lower, a, states),
            ast::Member::Assign(a) => {
                if let Some(current) = assign_current(lower, a, currents, states, &out_currents, current_dim) {
                    out_currents.push(current);
                }
            }
            ast::Member::OnEvent(e) => {
                if m.kind == ast::MechanismKind::Density {
                    lower.diags.push(
                        Diagnostic::error(Code::EventInDensity, e.span, "a density mechanism cannot handle events")
                            .help("declare it as `point` to place it as a synapse"),
                    );
                    continue;
                }
                if event.is_some() {
                    lower.diags.push(Diagnostic::error(
                        Code::DuplicateName,
                        e.span,
                        "a mechanism can have only one event handler",
                    ));
                    continue;
                }
                event = Some(event_handler(lower, e, states));
            }
            ast::Member::Initial(i) => {
                if initial.is_some() {
                    lower.diags.push(Diagnostic::error(
                        Code::DuplicateName,
                        i.span,
                        "a mechanism can have only one `initial` block",
                    ));
                }
                initial = Some(i);
            }
            _ => {}
        }
    }
    Lowered { currents: out_currents, kinetic, event, initial, broken_gates }
}

/// `x = value each step`: the state's value at every step ([`Dynamics::Assign`]).
fn assign_each_step(lower: &mut Lower<'_, '_>, a: &ast::Assign, states: &mut [ir::State]) {
    let Some(index) = state_index(states, &a.target) else {
        let d = not_a_state(&a.target, states)
            .note("`each step` sets a state; a current is assigned without it: `ina = …`");
        lower.diags.push(d);
        lower.lower(&a.value);
        return;
    };
    let state = &states[index as usize];
    let value = lower.expect(&a.value, state.dim, &format!("the value of `{}` at each step", state.name));
    set_dynamics(lower, &mut states[index as usize], Dynamics::Assign { value: value.id }, a.span);
}

/// The current `a` assigns, with its conductance (dI/dv); `None` if reported.
fn assign_current(
    lower: &mut Lower<'_, '_>,
    a: &ast::Assign,
    currents: &HashMap<String, CurrentSlot>,
    states: &[ir::State],
    out_currents: &[ir::Current],
    current_dim: Dimension,
) -> Option<ir::Current> {
    let Some(slot) = currents.get(&a.target.name).copied() else {
        let mut d = not_a_current(&a.target, currents);
        if state_index(states, &a.target).is_some() {
            d = d.help(format!(
                "`{0}` is a state: write its equation `{0}' = …`, or `{0} = … each step` to set it at every step",
                a.target.name
            ));
        }
        lower.diags.push(d);
        lower.lower(&a.value);
        return None;
    };
    if out_currents.iter().any(|c: &ir::Current| c.name == a.target.name) {
        lower.diags.push(
            Diagnostic::error(
                Code::DuplicateName,
                a.target.span,
                format!("current `{}` is assigned twice", a.target.name),
            )
            .label("second assignment"),
        );
        return None;
    }
    let value = lower.expect(&a.value, current_dim, &format!("current `{}`", a.target.name));
    let conductance = if a.secant {
        secant_conductance(lower.arena, value.id)
    } else {
        lower.arena.derivative(value.id, Expr::Builtin(Builtin::V))
    };
    Some(ir::Current {
        name: a.target.name.clone(),
        ion: slot.ion,
        value: value.id,
        conductance,
        electrode: a.electrode,
        span: a.span,
    })
}

/// The step of NEURON's secant conductance, in mV (nrn_cur evaluates the current at v + 0.001).
const SECANT_STEP_MV: f64 = 0.001;

/// NEURON's conductance of a current: (I(v + 0.001 mV) − I(v)) / 0.001 mV, which differs from
/// dI/dv for a current nonlinear in v (a GHK current) by about 0.0005 mV × d²I/dv².
fn secant_conductance(arena: &mut ExprArena, current: ExprId) -> ExprId {
    let v = arena.leaf(Expr::Builtin(Builtin::V));
    let step = arena.constant_expr(SECANT_STEP_MV);
    let shifted_v = arena.add(v, step);
    let shifted = arena.substitute(current, Expr::Builtin(Builtin::V), shifted_v);
    let difference = arena.sub(shifted, current);
    arena.div(difference, step)
}

/// Currents declared as written but never assigned.
pub(super) fn report_unassigned_currents(
    diags: &mut Diagnostics,
    currents: &HashMap<String, CurrentSlot>,
    out_currents: &[ir::Current],
) {
    for (name, slot) in currents {
        if !out_currents.iter().any(|c| c.name == *name) {
            diags.push(
                Diagnostic::error(
                    Code::MissingProperty,
                    slot.span,
                    format!("current `{name}` is declared but never assigned"),
                )
                .help(format!("assign it in the mechanism: `{name} = …`")),
            );
        }
    }
}

/// Initial values: the declared ones, then gates at steady state, then `initial`.
pub(super) fn set_initial_values(
    lower: &mut Lower<'_, '_>,
    states: &mut [ir::State],
    state_inits: &[Option<&ast::Expr>],
    initial: Option<&ast::Initial>,
) {
    let mut inits: Vec<ExprId> = Vec::with_capacity(states.len());
    for (state, init) in states.iter().zip(state_inits) {
        let value = match (init, state.dynamics) {
            (Some(expr), _) => lower.expect(expr, state.dim, &format!("the initial value of `{}`", state.name)).id,
            (None, Dynamics::Exponential { inf, .. }) if state.writes_ion.is_none() => inf,
            (None, _) => state.init,
        };
        inits.push(value);
    }
    // Initial values may read other states' initial values.
    let snapshot: Vec<ExprId> = inits.clone();
    for value in inits.iter_mut() {
        for (j, init_j) in snapshot.iter().enumerate() {
            *value = lower.arena.substitute(*value, Expr::State(j as u32), *init_j);
        }
    }
    if let Some(block) = initial {
        for stmt in &block.body {
            let Some(index) = state_index(states, &stmt.target) else {
                lower.diags.push(not_a_state(&stmt.target, states));
                continue;
            };
            let dim = states[index as usize].dim;
            let mut value = assignment(lower, stmt, dim, index);
            for (j, init_j) in inits.iter().enumerate() {
                value = lower.arena.substitute(value, Expr::State(j as u32), *init_j);
            }
            inits[index as usize] = value;
        }
    }
    for (state, init) in states.iter_mut().zip(inits) {
        state.init = init;
    }
}

/// Every state needs something that changes it.
pub(super) fn report_states_without_dynamics(
    diags: &mut Diagnostics,
    states: &[ir::State],
    broken_gates: &[u32],
    event: Option<&ir::EventHandler>,
) {
    for (index, state) in states.iter().enumerate() {
        if broken_gates.contains(&(index as u32)) {
            continue;
        }
        let changed_by_event = event
            .is_some_and(|e: &ir::EventHandler| e.assigns.iter().any(|(s, _)| states[s.index()].name == state.name));
        if state.dynamics == Dynamics::Constant && !changed_by_event {
            diags.push(
                Diagnostic::error(
                    Code::StateWithoutDynamics,
                    state.span,
                    format!("state `{}` has no dynamics", state.name),
                )
                .label("declared here")
                .help(format!(
                    "give it an equation such as `{}' = …`, a gate, a kinetic scheme or an event that changes it",
                    state.name
                )),
            );
        }
    }
}

/// Lowers every derived value, also those nothing uses, so their errors are reported.
pub(super) fn lower_derived(lower: &mut Lower<'_, '_>, m: &ast::Mechanism) -> Vec<ir::Derived> {
    let mut derived = Vec::new();
    for member in &m.members {
        if let ast::Member::Let(l) = member {
            // Lowering the name lowers the let once and shares it with every use.
            let value = lower.lower(&ast::Expr { kind: ast::ExprKind::Name(l.name.clone()), span: l.name.span });
            derived.push(ir::Derived {
                name: l.name.name.clone(),
                dim: value.dim.unwrap_or(Dimension::NONE),
                value: value.id,
                span: l.span,
            });
        }
    }
    derived
}

fn state_index(states: &[ir::State], name: &ast::Ident) -> Option<u32> {
    states.iter().position(|s| s.name == name.name).map(|i| i as u32)
}

fn not_a_state(name: &ast::Ident, states: &[ir::State]) -> Diagnostic {
    let mut d =
        Diagnostic::error(Code::NotAssignable, name.span, format!("`{}` is not a state of this mechanism", name.name))
            .label("not a state");
    if let Some(s) = did_you_mean(&name.name, states.iter().map(|s| s.name.as_str())) {
        d = d.help(format!("a state with a similar name exists: `{s}`"));
    }
    d
}

fn not_a_current(name: &ast::Ident, currents: &HashMap<String, CurrentSlot>) -> Diagnostic {
    let builtin = matches!(name.name.as_str(), "v" | "v_pre" | "t" | "dt" | "celsius" | "diam" | "area");
    let message = if builtin {
        format!("`{}` is read-only in a mechanism", name.name)
    } else {
        format!("`{}` is not a current of this mechanism", name.name)
    };
    let d = Diagnostic::error(Code::NotAssignable, name.span, message).label("cannot be assigned");
    if name.name == "v" {
        // Declaring `current v` would not help: no mechanism sets the voltage directly.
        d.help("the simulator computes `v` from the membrane currents: change it through a current this mechanism writes, such as `ina = g * (v - ena)`")
    } else if builtin {
        d.note(format!("the simulator provides `{}`", name.name))
    } else if let Some(s) = did_you_mean(&name.name, currents.keys().map(String::as_str)) {
        d.help(format!("a current with a similar name exists: `{s}`"))
    } else {
        d.help(format!(
            "declare it with `current {}` (non-specific) or write it through an ion: `ion na {{ write ina }}`",
            name.name
        ))
    }
}

fn set_dynamics(lower: &mut Lower<'_, '_>, state: &mut ir::State, dynamics: Dynamics, span: Span) {
    if state.dynamics != Dynamics::Constant {
        lower.diags.push(
            Diagnostic::error(
                Code::DuplicateDynamics,
                span,
                format!("state `{}` has more than one equation", state.name),
            )
            .secondary(state.span, "declared here"),
        );
        return;
    }
    state.dynamics = dynamics;
}

/// `x' = rhs`: linear in x gives the exact exponential update, else a general ODE.
fn classify_ode(arena: &mut ExprArena, state: u32, rhs: ExprId) -> Dynamics {
    let x = Expr::State(state);
    let slope = arena.derivative(rhs, x);
    if arena.depends_on(slope, x) || arena.constant(slope) == Some(0.0) {
        return Dynamics::Ode { rhs };
    }
    // rhs = a + b x  ⇒  inf = -a/b, tau = -1/b.
    let zero = arena.constant_expr(0.0);
    let a = arena.substitute(rhs, x, zero);
    let na = arena.neg(a);
    let inf = arena.div(na, slope);
    let m1 = arena.constant_expr(-1.0);
    let tau = arena.div(m1, slope);
    Dynamics::Exponential { inf, tau }
}

fn gate(lower: &mut Lower<'_, '_>, g: &ast::Gate) -> Option<Dynamics> {
    let mut props: HashMap<&str, (Value, Span)> = HashMap::new();
    let rate = Dimension::TIME.powi(-1).expect("small power");
    for prop in &g.props {
        let key = prop.key.name.as_str();
        let expected = match key {
            "alpha" | "beta" => rate,
            "inf" | "q10" => Dimension::NONE,
            "tau" => Dimension::TIME,
            _ => {
                let mut d =
                    Diagnostic::error(Code::UnknownProperty, prop.key.span, format!("gates have no property `{key}`"))
                        .help("a gate takes `alpha` and `beta`, or `inf` and `tau`, and optionally `q10`");
                if let Some(s) = did_you_mean(key, ["alpha", "beta", "inf", "tau", "q10"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                lower.diags.push(d);
                continue;
            }
        };
        let value = lower.expect(&prop.value, expected, &format!("`{key}` of gate `{}`", g.name.name));
        if props.insert(key, (value, prop.span)).is_some() {
            lower.diags.push(Diagnostic::error(Code::DuplicateName, prop.key.span, format!("`{key}` is given twice")));
        }
    }
    let q10 = props.get("q10").map(|(v, _)| v.id);
    let (inf, tau) = match (props.get("alpha"), props.get("beta"), props.get("inf"), props.get("tau")) {
        (Some((a, _)), Some((b, _)), None, None) => {
            let sum = lower.arena.add(a.id, b.id);
            let inf = lower.arena.div(a.id, sum);
            let scaled = match q10 {
                Some(q) => lower.arena.mul(q, sum),
                None => sum,
            };
            let one = lower.arena.constant_expr(1.0);
            (inf, lower.arena.div(one, scaled))
        }
        (None, None, Some((inf, _)), Some((tau, _))) => {
            let tau = match q10 {
                Some(q) => lower.arena.div(tau.id, q),
                None => tau.id,
            };
            (inf.id, tau)
        }
        _ => {
            lower.diags.push(
                Diagnostic::error(
                    Code::InvalidGate,
                    g.name.span,
                    format!("gate `{}` needs either `alpha` and `beta`, or `inf` and `tau`", g.name.name),
                )
                .label("incomplete gate"),
            );
            return None;
        }
    };
    Some(Dynamics::Exponential { inf, tau })
}

/// One `x = e`, `x += e` or `x -= e`; returns the new value of state `index`.
fn assignment(lower: &mut Lower<'_, '_>, stmt: &ast::Stmt, dim: Dimension, index: u32) -> ExprId {
    let value = lower.expect(&stmt.value, dim, &format!("the assignment to `{}`", stmt.target.name));
    let old = lower.arena.leaf(Expr::State(index));
    match stmt.op {
        ast::AssignOp::Set => value.id,
        ast::AssignOp::Add => lower.arena.add(old, value.id),
        ast::AssignOp::Sub => lower.arena.sub(old, value.id),
    }
}

fn event_handler(lower: &mut Lower<'_, '_>, e: &ast::OnEvent, states: &[ir::State]) -> ir::EventHandler {
    let weight_dim = match parse_unit(&e.unit) {
        Ok(u) => u.dim,
        Err(d) => {
            lower.diags.push(d);
            Dimension::NONE
        }
    };
    let shadowed = lower.scope.symbols.insert(e.weight.name.clone(), Symbol::Leaf(Expr::Weight, weight_dim));
    // Statements run in order: later ones see the values earlier ones assigned.
    let mut assigns: Vec<(StateId, ExprId)> = Vec::new();
    for stmt in &e.body {
        let Some(index) = state_index(states, &stmt.target) else {
            lower.diags.push(not_a_state(&stmt.target, states));
            continue;
        };
        let mut value = assignment(lower, stmt, states[index as usize].dim, index);
        for (s, v) in &assigns {
            value = lower.arena.substitute(value, Expr::State(s.0), *v);
        }
        match assigns.iter_mut().find(|(s, _)| s.0 == index) {
            Some(slot) => slot.1 = value,
            None => assigns.push((StateId(index), value)),
        }
    }
    match shadowed {
        Some(previous) => lower.scope.symbols.insert(e.weight.name.clone(), previous),
        None => lower.scope.symbols.remove(&e.weight.name),
    };
    ir::EventHandler { weight_dim, assigns, span: e.span }
}
