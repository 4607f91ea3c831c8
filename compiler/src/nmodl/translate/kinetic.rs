//! KINETIC blocks (`SOLVE … METHOD sparse`) to a Sylva `kinetic { … }` scheme: each `~`
//! reaction with its rates in plain numbers given their units again, CONSERVE as `conserve`,
//! and COMPARTMENT volumes divided into the rates of reactions whose states share one volume.
//! Sylva solves the scheme by backward Euler as NEURON's `sparse` does: for schemes linear in
//! their states exactly; for nonlinear ones with one Newton step (W0010).

use super::*;
use crate::nmodl::ast::{Reactant, Reaction};

/// W0010's note: what a nonlinear scheme costs.
const NEWTON_NOTE: &str = "Sylva takes one Newton step of backward Euler per time step; NEURON's `sparse` iterates Newton's method to convergence, so the two differ by the Newton error, O(dt^2) per step";

/// What the statements of a KINETIC block declare, turned into text when the block ends.
#[derive(Default)]
pub(super) struct Scheme {
    reactions: Vec<SchemeReaction>,
    /// Each CONSERVE's states and total (a plain number).
    conserve: Vec<(Vec<String>, Out, Span)>,
    /// The COMPARTMENT volume (plain) of each state that has one.
    volumes: HashMap<String, Out>,
}

struct SchemeReaction {
    lhs: Vec<(u32, String)>,
    rhs: Vec<(u32, String)>,
    forward: Out,
    backward: Out,
    span: Span,
}

impl Tx<'_> {
    fn kinetic_error(&mut self, span: Span, message: impl Into<String>, label: &str) {
        self.diagnostics.push(Diagnostic::error(Code::NmodlKinetic, span, message).label(label));
    }

    /// A reaction, CONSERVE, COMPARTMENT or flux statement, inside a KINETIC block only.
    pub(super) fn kinetic_stmt(&mut self, stmt: &Stmt, env: &mut Env) {
        if self.block != BlockKind::Kinetic {
            let span = match stmt {
                Stmt::Reaction(r) => r.span,
                Stmt::Flux(s) | Stmt::Conserve { span: s, .. } | Stmt::Compartment { span: s, .. } => *s,
                _ => return,
            };
            self.kinetic_error(span, "a kinetic statement outside a KINETIC block", "not in a KINETIC block");
            return;
        }
        match stmt {
            Stmt::Reaction(r) => self.reaction(r, env),
            Stmt::Flux(span) => {
                let d = Diagnostic::error(
                    Code::NmodlKinetic,
                    *span,
                    "a flux `~ x << (…)` cannot be translated: Sylva's kinetic schemes have reactions between states only",
                )
                .label("a source term")
                .help("write the state with an ODE instead (`x' = … + flux`) if it is in no reaction");
                self.diagnostics.push(d);
            }
            Stmt::Conserve { states, total, plain, span } => {
                if !*plain {
                    self.kinetic_error(
                        *span,
                        "CONSERVE with coefficients cannot be translated: Sylva conserves a plain sum of states",
                        "a term that is not a bare STATE",
                    );
                    return;
                }
                if let Some((n, _)) =
                    states.iter().find(|(n, _)| self.scheme.conserve.iter().any(|(c, _, _)| c.contains(n)))
                {
                    let message =
                        format!("`{n}` is in two CONSERVE statements: Sylva's `conserve`s are over different states");
                    self.kinetic_error(*span, message, "conserved already");
                    return;
                }
                let total = self.expr(total, env);
                let names = states.iter().map(|(n, _)| n.clone()).collect();
                self.scheme.conserve.push((names, total, *span));
            }
            Stmt::Compartment { volume, states, indexed, span } => {
                if *indexed {
                    self.kinetic_error(
                        *span,
                        "an indexed COMPARTMENT (arrays of states) cannot be translated",
                        "indexed",
                    );
                    return;
                }
                if let Some(local) = local_in(volume, env) {
                    self.kinetic_error(
                        volume.span(),
                        format!("the COMPARTMENT volume reads the LOCAL `{local}`"),
                        "NEURON evaluates it before the block's statements",
                    );
                    return;
                }
                let volume = self.expr(volume, env);
                let volume = self.bind("volume", volume);
                for (n, _) in states {
                    self.scheme.volumes.insert(n.clone(), volume.clone());
                }
            }
            _ => {}
        }
    }

    fn reaction(&mut self, r: &Reaction, env: &mut Env) {
        let forward = self.expr(&r.forward, env);
        let backward = self.expr(&r.backward, env);
        let mut ok = true;
        for reactant in r.lhs.iter().chain(&r.rhs) {
            ok &= self.reactant_is_state(reactant);
        }
        if !ok {
            return;
        }
        let side = |v: &[Reactant]| v.iter().map(|x| (x.count, x.name.clone())).collect();
        self.scheme.reactions.push(SchemeReaction {
            lhs: side(&r.lhs),
            rhs: side(&r.rhs),
            forward,
            backward,
            span: r.span,
        });
    }

    /// Whether a reactant is a STATE of this mechanism (Sylva's schemes relate those only).
    fn reactant_is_state(&mut self, r: &Reactant) -> bool {
        match self.vars.get(&r.name).map(|v| v.kind) {
            Some(Kind::State) => true,
            Some(Kind::IonState) => {
                self.kinetic_error(
                    r.span,
                    format!(
                        "`{}` is an ion's concentration: Sylva's kinetic schemes relate the mechanism's own states",
                        r.name
                    ),
                    "an ion concentration in a reaction",
                );
                false
            }
            _ => {
                self.kinetic_error(r.span, format!("`{}` is not a STATE of this mechanism", r.name), "not a STATE");
                false
            }
        }
    }

    /// The scheme gathered from a KINETIC block as the lines of a Sylva `kinetic { … }`, and
    /// whether it is linear in its states; empties it for the next block.
    pub(super) fn scheme_lines(&mut self) -> (Vec<String>, bool) {
        let scheme = std::mem::take(&mut self.scheme);
        let orders_linear = scheme.reactions.iter().all(|r| order(&r.lhs) <= 1 && order(&r.rhs) <= 1);
        let linear = orders_linear & self.rates_free_of_states(&scheme);
        let mut lines = Vec::new();
        for r in &scheme.reactions {
            if let Some(line) = self.reaction_line(r, &scheme.volumes) {
                lines.push(line);
            }
        }
        for conserve in &scheme.conserve {
            if let Some(line) = self.conserve_line(conserve, &scheme.volumes) {
                lines.push(line);
            }
        }
        (lines, linear)
    }

    /// Whether no rate reads a state of the scheme (Ih.mod's `k3p = k4*(p1/Pc)^nexp`); each
    /// that does is reported (W0010): the scheme is then nonlinear in its states.
    fn rates_free_of_states(&mut self, scheme: &Scheme) -> bool {
        let states: HashSet<String> =
            scheme.reactions.iter().flat_map(|r| r.lhs.iter().chain(&r.rhs)).map(|(_, n)| sylva_name(n)).collect();
        let mut free = true;
        for r in &scheme.reactions {
            let mut reads = self.names_read(&r.forward.text);
            reads.extend(self.names_read(&r.backward.text));
            let Some(state) = states.iter().filter(|s| reads.contains(*s)).min() else { continue };
            free = false;
            let message = format!("a rate reads `{state}`, a state of the scheme: the scheme is nonlinear");
            self.diagnostics.push(
                Diagnostic::warning(Code::NmodlNewton, r.span, message)
                    .label("nonlinear in its states")
                    .note(NEWTON_NOTE),
            );
        }
        free
    }

    /// `conserve A + B = total`. With a COMPARTMENT, NMODL conserves amounts (Σ volume ×
    /// state), so the total is divided by the states' common volume.
    fn conserve_line(
        &mut self,
        (states, total, span): &(Vec<String>, Out, Span),
        volumes: &HashMap<String, Out>,
    ) -> Option<String> {
        for s in states {
            if !matches!(self.vars.get(s).map(|v| v.kind), Some(Kind::State)) {
                self.kinetic_error(*span, format!("`{s}` in CONSERVE is not a STATE of this mechanism"), "not a STATE");
                return None;
            }
        }
        let volume = volumes.get(&states[0]);
        if states.iter().any(|s| volumes.get(s).map(|v| &v.text) != volume.map(|v| &v.text)) {
            self.kinetic_error(
                *span,
                "CONSERVE over states in COMPARTMENTs of different volumes cannot be translated",
                "Sylva conserves a plain sum of states",
            );
            return None;
        }
        let total = volume.map_or_else(|| total.clone(), |v| binary("/", total, v));
        let unit = self.vars[&states[0]].unit.clone();
        let names: Vec<String> = states.iter().map(|s| sylva_name(s)).collect();
        Some(format!("conserve {} = {}", names.join(" + "), attach(&total, &unit).text))
    }

    /// `A + 2 B <-> C (kf, kb)` in Sylva units: the rates divided by the states' common volume
    /// and given the unit their order needs (1/ms times the state's unit to 1 − order).
    fn reaction_line(&mut self, r: &SchemeReaction, volumes: &HashMap<String, Out>) -> Option<String> {
        let names: Vec<&String> = r.lhs.iter().chain(&r.rhs).map(|(_, n)| n).collect();
        let units: Vec<String> = names.iter().map(|n| self.vars[*n].unit.clone()).collect();
        if units.iter().any(|u| *u != units[0]) {
            self.kinetic_error(
                r.span,
                "the states of this reaction have different units: Sylva's kinetic schemes need one unit",
                "states of different units",
            );
            return None;
        }
        let volume = volumes.get(names[0]);
        if names.iter().any(|n| volumes.get(*n).map(|v| &v.text) != volume.map(|v| &v.text)) {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::NmodlKinetic,
                    r.span,
                    "the states of this reaction lie in COMPARTMENTs of different volumes",
                )
                .label("one flux, different volumes")
                .note("Sylva's reactions change every state by the same flux; NMODL divides it by each state's volume"),
            );
            return None;
        }
        let rate = |rate: &Out, order: u32| {
            let per_volume = volume.map_or_else(|| rate.clone(), |v| binary("/", rate, v));
            let mut text = attach(&per_volume, "1/ms");
            for _ in 1..order.max(1) {
                if units[0] == "1" {
                    break;
                }
                text = Out { text: format!("{} / 1 {}", text.wrap(5), units[0]), prec: 5 };
            }
            text.text
        };
        let (fo, bo) = (order(&r.lhs), order(&r.rhs));
        if (fo > 1 || bo > 1) && units[0] != "1" && units[0].contains(['/', '*']) {
            self.kinetic_error(
                r.span,
                "a reaction of order above 1 between states of a compound unit",
                "order above 1",
            );
            return None;
        }
        if fo > 1 || bo > 1 {
            self.diagnostics.push(
                Diagnostic::warning(Code::NmodlNewton, r.span, "a reaction of order above 1: the scheme is nonlinear")
                    .label("nonlinear in its states")
                    .note(NEWTON_NOTE),
            );
        }
        let side = |v: &[(u32, String)]| {
            v.iter()
                .map(|(c, n)| if *c == 1 { sylva_name(n) } else { format!("{c} {}", sylva_name(n)) })
                .collect::<Vec<_>>()
                .join(" + ")
        };
        Some(format!("{} <-> {} ({}, {})", side(&r.lhs), side(&r.rhs), rate(&r.forward, fo), rate(&r.backward, bo)))
    }
}

/// A LOCAL of the block that `e` reads: NEURON computes COMPARTMENT volumes at the start of
/// the block, where LOCALs have no value yet.
fn local_in(e: &Expr, env: &Env) -> Option<String> {
    match e {
        Expr::Name(n, _) => env.frames.last().filter(|f| f.contains_key(n)).map(|_| n.clone()),
        Expr::Index(n, _, index) => {
            let element = format!("{n}[");
            let local = env.frames.last().is_some_and(|f| f.keys().any(|k| k.starts_with(&element)));
            if local { Some(n.clone()) } else { local_in(index, env) }
        }
        Expr::Number(..) => None,
        Expr::Call(_, _, args) => args.iter().find_map(|a| local_in(a, env)),
        Expr::Unary(_, x) => local_in(x, env),
        Expr::Binary(_, a, b) => local_in(a, env).or_else(|| local_in(b, env)),
    }
}

/// The order of one side of a reaction.
fn order(side: &[(u32, String)]) -> u32 {
    side.iter().map(|(c, _)| *c).sum()
}
