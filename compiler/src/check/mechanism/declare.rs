//! The first step of checking a mechanism: its members' names, with parameters, ion uses and
//! currents, states and their initial values, lets and functions declared in its scope.

use std::collections::HashMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::ir::expr::{Expr, ExprArena, IonVar};
use crate::ir::{self, Dynamics};
use crate::source::Span;
use crate::syntax::ast;
use crate::units::{Dimension, Unit};

use crate::check::constant::{eval_in_unit, eval_limit_in_unit};
use crate::check::expr::{LetSlot, Scope, Symbol, parse_unit};
use crate::check::globals::{Globals, ItemRef};

use super::{ConcentrationWrite, CurrentSlot, ion_var};

/// Parameters, in order.
pub(super) fn declare_params<'m>(
    cx: &mut Collect<'_, '_, '_>,
    scope: &mut Scope<'m>,
    m: &'m ast::Mechanism,
) -> Vec<ir::Param> {
    let mut params = Vec::new();
    for member in &m.members {
        if let ast::Member::Param(p) = member {
            let index = params.len() as u32;
            if let Some(param) = cx.param(p) {
                cx.declare(&p.name, "parameter");
                scope.symbols.insert(p.name.name.clone(), Symbol::Leaf(Expr::Param(index), param.dim));
                params.push(param);
            }
        }
    }
    params
}

/// Ions (their variables read become names), the currents the mechanism writes, and the
/// concentrations it writes.
pub(super) fn declare_ions_and_currents<'m>(
    cx: &mut Collect<'_, '_, '_>,
    scope: &mut Scope<'m>,
    m: &'m ast::Mechanism,
) -> (Vec<ir::IonUse>, HashMap<String, CurrentSlot>, Vec<ConcentrationWrite>) {
    let mut ions = Vec::new();
    let mut currents: HashMap<String, CurrentSlot> = HashMap::new();
    let mut concentration_writes: Vec<ConcentrationWrite> = Vec::new();
    for member in &m.members {
        match member {
            ast::Member::Ion(use_) => {
                let index = ions.len() as u32;
                let Some(ion) = cx.ion(use_) else { continue };
                for read in &use_.reads {
                    if let Some((var, dim)) = ion_var(&ion.species, &read.name) {
                        cx.declare(read, "ion variable");
                        scope.symbols.insert(read.name.clone(), Symbol::Leaf(Expr::Ion(index, var), dim));
                    }
                }
                for write in &use_.writes {
                    match ion_var(&ion.species, &write.name) {
                        Some((IonVar::Current, _)) => {
                            currents.insert(
                                write.name.clone(),
                                CurrentSlot { ion: Some(ir::IonUseId(index)), span: write.span },
                            );
                        }
                        Some((var @ (IonVar::Inside | IonVar::Outside), _)) => {
                            concentration_writes.push((write.name.clone(), index, var, write.span));
                        }
                        _ => {}
                    }
                }
                ions.push(ion);
            }
            ast::Member::Current(name) => {
                cx.declare(name, "current");
                currents.insert(name.name.clone(), CurrentSlot { ion: None, span: name.span });
            }
            ast::Member::Assign(a) if a.electrode => {
                cx.declare(&a.target, "current");
                currents.insert(a.target.name.clone(), CurrentSlot { ion: None, span: a.target.span });
            }
            _ => {}
        }
    }
    (ions, currents, concentration_writes)
}

/// States: declared ones, gates, and concentrations the mechanism writes; with the initial
/// value written in each declaration.
pub(super) fn declare_states<'m>(
    cx: &mut Collect<'_, '_, '_>,
    scope: &mut Scope<'m>,
    arena: &mut ExprArena,
    m: &'m ast::Mechanism,
    concentration_writes: &[ConcentrationWrite],
) -> (Vec<ir::State>, Vec<Option<&'m ast::Expr>>) {
    let mut states: Vec<ir::State> = Vec::new();
    let mut state_inits: Vec<Option<&ast::Expr>> = Vec::new();
    let zero = arena.constant_expr(0.0);
    for member in &m.members {
        let (name, dim, init, doc, span) = match member {
            ast::Member::State(s) => {
                let dim = match parse_unit(&s.unit) {
                    Ok(u) => u.dim,
                    Err(d) => {
                        cx.diags.push(d);
                        Dimension::NONE
                    }
                };
                (&s.name, dim, s.init.as_ref(), s.doc.clone(), s.span)
            }
            ast::Member::Gate(g) => (&g.name, Dimension::NONE, None, g.doc.clone(), g.span),
            _ => continue,
        };
        cx.declare(name, "state");
        let index = states.len() as u32;
        scope.symbols.insert(name.name.clone(), Symbol::Leaf(Expr::State(index), dim));
        let writes_ion = concentration_writes.iter().find(|w| w.0 == name.name).map(|w| (ir::IonUseId(w.1), w.2));
        states.push(ir::State {
            name: name.name.clone(),
            dim,
            init: zero,
            dynamics: Dynamics::Constant,
            writes_ion,
            doc,
            span,
        });
        state_inits.push(init);
    }
    for (name, ion, var, span) in concentration_writes {
        if states.iter().any(|s| s.name == *name) {
            continue;
        }
        cx.declare(&ast::Ident { name: name.clone(), span: *span }, "state");
        let index = states.len() as u32;
        scope.symbols.insert(name.clone(), Symbol::Leaf(Expr::State(index), Dimension::CONCENTRATION));
        let init = arena.leaf(Expr::Ion(*ion, *var));
        states.push(ir::State {
            name: name.clone(),
            dim: Dimension::CONCENTRATION,
            init,
            dynamics: Dynamics::Constant,
            writes_ion: Some((ir::IonUseId(*ion), *var)),
            doc: None,
            span: *span,
        });
        state_inits.push(None);
    }
    (states, state_inits)
}

/// Derived values and local functions: names now, lowered when used.
pub(super) fn declare_lets_and_functions<'m>(
    cx: &mut Collect<'_, '_, '_>,
    scope: &mut Scope<'m>,
    m: &'m ast::Mechanism,
) {
    for member in &m.members {
        match member {
            ast::Member::Let(l) => {
                cx.declare(&l.name, "derived value");
                scope.symbols.insert(l.name.name.clone(), Symbol::Let(scope.lets.len()));
                scope.lets.push(LetSlot { name: &l.name, value: &l.value, lowered: None, in_progress: false });
            }
            ast::Member::Function(f) => {
                cx.declare(&f.name, "function");
                scope.functions.insert(f.name.name.clone(), f);
            }
            _ => {}
        }
    }
}

/// The names of a mechanism's members as they are declared, and where the problems go.
pub(super) struct Collect<'g, 'd, 'a> {
    pub(super) globals: &'g Globals<'a>,
    pub(super) diags: &'d mut Diagnostics,
    pub(super) names: HashMap<String, (Span, &'static str)>,
}

impl Collect<'_, '_, '_> {
    /// Records a member name; a second member of the same name is an error.
    fn declare(&mut self, name: &ast::Ident, kind: &'static str) {
        if let Some((previous, previous_kind)) = self.names.get(&name.name) {
            self.diags.push(
                Diagnostic::error(Code::DuplicateName, name.span, format!("`{}` is defined more than once", name.name))
                    .label(format!("{kind} redefined here"))
                    .secondary(*previous, format!("first defined here as a {previous_kind}")),
            );
        } else if matches!(name.name.as_str(), "v" | "v_pre" | "t" | "dt" | "celsius" | "diam" | "area") {
            self.diags.push(
                Diagnostic::error(Code::DuplicateName, name.span, format!("`{}` is a built-in name", name.name))
                    .label("cannot be redefined")
                    .help("choose another name"),
            );
        } else {
            self.names.insert(name.name.clone(), (name.span, kind));
        }
    }

    fn param(&mut self, p: &ast::Param) -> Option<ir::Param> {
        let unit = match &p.unit {
            Some(u) => match parse_unit(u) {
                Ok(unit) => unit,
                Err(d) => {
                    self.diags.push(d);
                    return None;
                }
            },
            None => Unit::ONE,
        };
        let what = format!("the default of `{}`", p.name.name);
        let default = eval_in_unit(self.globals, self.diags, &p.default, unit, true, &what)?;
        let (mut min, mut max) = (f64::NEG_INFINITY, f64::INFINITY);
        if let Some(range) = &p.range {
            let what = format!("the range of `{}`", p.name.name);
            min = eval_limit_in_unit(self.globals, self.diags, &range.lo, unit, true, &what).unwrap_or(min);
            max = eval_limit_in_unit(self.globals, self.diags, &range.hi, unit, true, &what).unwrap_or(max);
            if min > max {
                self.diags.push(Diagnostic::error(
                    Code::OutOfRange,
                    range.span,
                    "the lower bound is above the upper bound",
                ));
            } else if !(min..=max).contains(&default) {
                self.diags.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        p.default.span,
                        format!("the default of `{}` is outside its range", p.name.name),
                    )
                    .secondary(range.span, "allowed range"),
                );
            }
        }
        Some(ir::Param {
            name: p.name.name.clone(),
            dim: unit.dim,
            default,
            min,
            max,
            doc: p.doc.clone(),
            span: p.span,
        })
    }

    fn ion(&mut self, use_: &ast::IonUse) -> Option<ir::IonUse> {
        let name = &use_.ion.name;
        match self.globals.get(name, use_.ion.span.file) {
            Some(ItemRef::Species(_)) => {}
            _ => {
                let species = self.globals.names_where(|i| matches!(i, ItemRef::Species(_)));
                let mut d = Diagnostic::error(
                    Code::IonNotProvided,
                    use_.ion.span,
                    format!("no ion species `{name}` is declared"),
                )
                .label("unknown ion");
                if let Some(s) = did_you_mean(name, species) {
                    d = d.help(format!("a species with a similar name exists: `{s}`"));
                } else {
                    d = d.help(format!(
                        "declare it: `species {name} {{ charge = 1, reversal = 0 mV, inside = 1 mM, outside = 1 mM }}`"
                    ));
                }
                self.diags.push(d);
                return None;
            }
        }
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for (list, out, writing) in [(&use_.reads, &mut reads, false), (&use_.writes, &mut writes, true)] {
            for ident in list.iter() {
                match ion_var(name, &ident.name) {
                    Some((IonVar::Reversal, _)) if writing => self.diags.push(
                        Diagnostic::error(
                            Code::NotAssignable,
                            ident.span,
                            format!("the reversal potential `{}` cannot be written", ident.name),
                        )
                        .help("it follows from the species (a constant or the Nernst equation)"),
                    ),
                    Some((var, _)) => out.push(var),
                    None => {
                        let valid = [format!("e{name}"), format!("{name}i"), format!("{name}o"), format!("i{name}")];
                        self.diags.push(
                            Diagnostic::error(
                                Code::UndefinedName,
                                ident.span,
                                format!("`{}` is not a variable of ion `{name}`", ident.name),
                            )
                            .help(format!(
                                "the variables of `{name}` are {}",
                                valid.map(|v| format!("`{v}`")).join(", ")
                            )),
                        );
                    }
                }
            }
        }
        Some(ir::IonUse { species: name.clone(), reads, writes, span: use_.span })
    }
}
