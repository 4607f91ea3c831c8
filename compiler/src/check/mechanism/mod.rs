//! Mechanisms: members to IR kinetics. Names are collected first (so members may appear in
//! any order, `declare`), then every expression is lowered into the mechanism's arena
//! (`lower`). This file holds the phase in order (`check`) and what both steps share.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::ir::expr::{Builtin, Expr, ExprArena, IonVar};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::Dimension;

use super::expr::{Lower, Scope, Symbol};
use super::globals::Globals;

mod declare;
mod lower;

use declare::{Collect, declare_ions_and_currents, declare_lets_and_functions, declare_params, declare_states};
use lower::{
    lower_derived, lower_members, report_states_without_dynamics, report_unassigned_currents, set_initial_values,
};

/// Names every mechanism can read, with their dimensions.
fn builtins(kind: ast::MechanismKind) -> Vec<(&'static str, Builtin, Dimension)> {
    let mut list = vec![
        ("v", Builtin::V, Dimension::VOLTAGE),
        ("t", Builtin::T, Dimension::TIME),
        ("dt", Builtin::Dt, Dimension::TIME),
        ("celsius", Builtin::Celsius, Dimension::TEMPERATURE),
        ("diam", Builtin::Diam, Dimension::LENGTH),
    ];
    if kind == ast::MechanismKind::Point {
        list.push(("area", Builtin::Area, Dimension::AREA));
        list.push(("v_pre", Builtin::VPre, Dimension::VOLTAGE));
    }
    list
}

/// What a current name refers to.
#[derive(Copy, Clone)]
struct CurrentSlot {
    ion: Option<ir::IonUseId>,
    span: Span,
}

/// Checks a mechanism: declares its members' names, then lowers every expression into its
/// arena, reporting what is missing once all members are known.
pub(crate) fn check(m: &ast::Mechanism, globals: &Globals<'_>, diags: &mut Diagnostics) -> ir::Mechanism {
    let mut cx = Collect { globals, diags, names: HashMap::new() };
    let mut scope = Scope::default();
    for (name, builtin, dim) in builtins(m.kind) {
        scope.symbols.insert(name.to_string(), Symbol::Leaf(Expr::Builtin(builtin), dim));
    }
    let params = declare_params(&mut cx, &mut scope, m);
    let (ions, currents, concentration_writes) = declare_ions_and_currents(&mut cx, &mut scope, m);
    let mut arena = ExprArena::new();
    let (mut states, state_inits) = declare_states(&mut cx, &mut scope, &mut arena, m, &concentration_writes);
    declare_lets_and_functions(&mut cx, &mut scope, m);

    let lowered = {
        let diags = &mut *cx.diags;
        let mut lower = Lower::new(&mut arena, diags, globals, &mut scope);
        let mut lowered = lower_members(&mut lower, m, &mut states, &currents);
        report_unassigned_currents(lower.diags, &currents, &lowered.currents);
        lowered.currents.sort_by_key(|c| c.span.start);
        set_initial_values(&mut lower, &mut states, &state_inits, lowered.initial);
        lowered
    };
    report_states_without_dynamics(cx.diags, &states, &lowered.broken_gates, lowered.event.as_ref());
    let derived = lower_derived(&mut Lower::new(&mut arena, cx.diags, globals, &mut scope), m);

    let mechanism = ir::Mechanism {
        name: m.name.name.clone(),
        kind: match m.kind {
            ast::MechanismKind::Density => ir::MechanismKind::Density,
            ast::MechanismKind::Point => ir::MechanismKind::Point,
        },
        doc: m.doc.clone(),
        span: m.span,
        exprs: arena,
        params,
        states,
        derived,
        ions,
        currents: lowered.currents,
        kinetic: lowered.kinetic,
        event: lowered.event,
    };
    report_events_with_pre_voltage(cx.diags, &mechanism);
    mechanism
}

/// A mechanism reading `v_pre` is connected continuously, so an event handler would never run.
fn report_events_with_pre_voltage(diags: &mut Diagnostics, m: &ir::Mechanism) {
    if let Some(event) = &m.event
        && m.reads_pre_voltage()
    {
        diags.push(
            Diagnostic::error(
                Code::PreVoltageUnavailable,
                event.span,
                format!("point mechanism `{}` reads `v_pre` and handles events", m.name),
            )
            .label("never runs: a mechanism reading `v_pre` is connected continuously, without events")
            .help("make two mechanisms: one driven by spikes, one by the presynaptic voltage"),
        );
    }
}

/// A concentration a mechanism writes: (name, ion use, variable, span). It is a state.
type ConcentrationWrite = (String, u32, IonVar, Span);

/// `ena` → reversal, `nai` → inside, `nao` → outside, `ina` → current.
pub(super) fn ion_var(ion: &str, name: &str) -> Option<(IonVar, Dimension)> {
    if name == format!("e{ion}") {
        Some((IonVar::Reversal, Dimension::VOLTAGE))
    } else if name == format!("{ion}i") {
        Some((IonVar::Inside, Dimension::CONCENTRATION))
    } else if name == format!("{ion}o") {
        Some((IonVar::Outside, Dimension::CONCENTRATION))
    } else if name == format!("i{ion}") {
        Some((IonVar::Current, Dimension::CURRENT_DENSITY))
    } else {
        None
    }
}
