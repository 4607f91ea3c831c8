//! ASSIGNED values that the solved blocks compute and BREAKPOINT reads without computing them
//! (IT.mod's `m_inf`). NEURON stores such a value per instance in nrn_state, at the step's new
//! voltage, and nrn_cur reads it as stored at v + 0.001 and at v: the conductance dI/dv does
//! not see its dependence on v, and before the first state update it is whatever INITIAL left
//! (0 when INITIAL does not compute it). The translation makes it a state set at every step
//! (`x = … each step`), which is exactly that.

use super::*;

/// The names a body reads and assigns, following the PROCEDUREs and FUNCTIONs it calls (each
/// once). Arguments and LOCALs are included: the caller keeps only ASSIGNED variables.
#[derive(Default)]
struct Uses {
    reads: HashSet<String>,
    assigns: HashSet<String>,
    visited: HashSet<String>,
}

impl Uses {
    fn stmts(&mut self, stmts: &[Stmt], procedures: &HashMap<String, Function>) {
        for s in stmts {
            match s {
                Stmt::From { body, .. } => self.stmts(body, procedures),
                Stmt::Assign { name, value, .. } | Stmt::Derivative { name, value, .. } => {
                    self.assigns.insert(name.clone());
                    self.expr(value, procedures);
                }
                Stmt::Call { name, args, .. } => {
                    args.iter().for_each(|a| self.expr(a, procedures));
                    self.callee(name, procedures);
                }
                Stmt::If { cond, then, otherwise } => {
                    self.expr(cond, procedures);
                    self.stmts(then, procedures);
                    self.stmts(otherwise, procedures);
                }
                Stmt::Reaction(r) => {
                    self.expr(&r.forward, procedures);
                    self.expr(&r.backward, procedures);
                }
                _ => {}
            }
        }
    }

    fn expr(&mut self, e: &Expr, procedures: &HashMap<String, Function>) {
        match e {
            Expr::Number(..) => {}
            Expr::Name(n, _) => {
                self.reads.insert(n.clone());
            }
            Expr::Call(name, _, args) => {
                args.iter().for_each(|a| self.expr(a, procedures));
                self.callee(name, procedures);
            }
            Expr::Unary(_, x) | Expr::Index(_, _, x) => self.expr(x, procedures),
            Expr::Binary(_, a, b) => {
                self.expr(a, procedures);
                self.expr(b, procedures);
            }
        }
    }

    fn callee(&mut self, name: &str, procedures: &HashMap<String, Function>) {
        if let Some(f) = procedures.get(name)
            && self.visited.insert(name.to_string())
        {
            self.stmts(&f.body, procedures);
        }
    }
}

impl Tx<'_> {
    /// The ASSIGNED variables BREAKPOINT reads and does not assign while a block it solves
    /// assigns them; their names are taken before any `let` is named, so that the state keeps
    /// the NMODL name.
    pub(super) fn find_held(&mut self) {
        let file = self.file;
        let Some(body) = file.breakpoint() else { return };
        let (mut breakpoint, mut solved) = (Uses::default(), Uses::default());
        for stmt in body {
            match stmt {
                Stmt::Solve { name, .. } => self.solved_uses(name, &mut solved),
                _ => breakpoint.stmts(std::slice::from_ref(stmt), &self.procedures),
            }
        }
        let mut held: Vec<String> = breakpoint
            .reads
            .iter()
            .filter(|n| !breakpoint.assigns.contains(*n) && solved.assigns.contains(*n))
            .filter(|n| self.vars.get(*n).is_some_and(|v| v.kind == Kind::Assigned))
            .cloned()
            .collect();
        held.sort();
        for n in held {
            self.taken.insert(sylva_name(&n));
            self.held_candidates.insert(n);
        }
    }

    /// The names BREAKPOINT's own statements assign (SOLVE aside).
    pub(super) fn breakpoint_assigns(&self) -> HashSet<String> {
        let mut uses = Uses::default();
        for item in &self.file.items {
            if let Item::Breakpoint(body, _) = item {
                uses.stmts(body, &HashMap::new());
            }
        }
        uses.assigns
    }

    fn solved_uses(&self, target: &str, uses: &mut Uses) {
        for item in &self.file.items {
            match item {
                Item::Derivative(n, body, _) | Item::Kinetic(n, body, _) if n == target => {
                    uses.stmts(body, &self.procedures)
                }
                Item::Procedure(f) if f.name == target => uses.stmts(&f.body, &self.procedures),
                _ => {}
            }
        }
    }

    /// BREAKPOINT's read of a held value: the state, as stored; `None` for any other read.
    pub(super) fn read_held(&mut self, name: &str) -> Option<Out> {
        if self.block != BlockKind::Breakpoint || !self.held_candidates.contains(name) {
            return None;
        }
        let value = self.latest.get(name)?.clone();
        self.held.insert(name.to_string(), value);
        Some(strip(&sylva_name(name), &self.vars[name].unit))
    }

    /// `x = … each step` for every held value, with its unit.
    pub(super) fn held_updates(&self, blocks: &mut Blocks) {
        for (n, value) in &self.held {
            blocks.held.push((n.clone(), attach(value, &self.vars[n].unit)));
        }
    }
}
