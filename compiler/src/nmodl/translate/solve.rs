//! `SOLVE` in BREAKPOINT: a DERIVATIVE block with `METHOD cnexp` (Sylva's exact exponential
//! update of a linear ODE, as NEURON's `cnexp`) or `METHOD derivimplicit` (backward Euler,
//! `by backward_euler`), and a KINETIC block with `METHOD sparse` (a `kinetic` scheme).

use super::*;

impl Tx<'_> {
    pub(super) fn solve(&mut self, target: &str, span: Span, method: Option<&(String, Span)>, blocks: &mut Blocks) {
        let Some((m, method_span)) = method else {
            self.solve_without_method(target, span, blocks);
            return;
        };
        match m.as_str() {
            "cnexp" => self.solve_derivative(target, span, false, blocks),
            "derivimplicit" => self.solve_derivative(target, span, true, blocks),
            "euler" => self.solve_euler(target, span, blocks),
            "sparse" => self.solve_kinetic(target, span, blocks),
            _ => {
                let m = m.clone();
                self.unsupported(
                    *method_span,
                    format!("`METHOD {m}` is not translated"),
                    "`cnexp`, `derivimplicit`, `euler` and `sparse` are",
                );
            }
        }
    }

    /// `SOLVE states` without METHOD: of a PROCEDURE that advances the states by assignments
    /// each step (the old `m = m + mexp*(minf - m)` style), translated by `state_update`; of
    /// anything else, refused.
    fn solve_without_method(&mut self, target: &str, span: Span, blocks: &mut Blocks) {
        let Some(f) = self.procedures.get(target).filter(|f| !f.is_function).cloned() else {
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlUnsupported, span, "`SOLVE` without `METHOD` is not translated")
                    .label("no METHOD")
                    .help("name the method NEURON should use: `METHOD cnexp`, `derivimplicit` or `sparse`"),
            );
            return;
        };
        blocks.solved.insert(target.to_string());
        self.block = BlockKind::Update;
        let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
        self.stmts(&f.body, &mut env);
        self.keep(&env);
        self.derivatives_of(&env, blocks);
        let mut set: Vec<(String, Out)> = env
            .globals
            .iter()
            .filter(|(n, _)| self.vars.get(*n).is_some_and(|v| v.kind == Kind::State))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        set.sort_by_key(|(n, _)| self.file_order(n));
        blocks.held.extend(set);
    }

    pub(super) fn is_state_update(&self, name: &str) -> bool {
        self.block == BlockKind::Update && self.vars.get(name).is_some_and(|v| v.kind == Kind::State)
    }

    /// `x = x + E*(I - x)` (or `x = I + (x - I)*F`, F = 1 - E) of a state, with E and I free of
    /// x: NEURON's new x, the exact exponential update towards I with factor E. Sylva's
    /// equation `x' = (I - x) * -log(1 - E)/dt` advances by that update (its exact exponential
    /// step is x + (1 - exp(log(1 - E)))*(I - x), equal to rounding). Any other assignment
    /// sets the state each step (`state_set_each_step`).
    pub(super) fn state_update(&mut self, name: &str, span: Span, value: &Expr, env: &mut Env) {
        let Some((factor, target)) = update_form(name, value) else {
            self.state_set_each_step(name, value, env);
            return;
        };
        // The fraction of the gap to I that remains after the step: 1 - E, or F.
        let keep = match factor {
            Factor::Step(e) => {
                let e = self.expr(e, env);
                binary("-", &Out::atom("1"), &e)
            }
            Factor::Keep(f) => self.expr(f, env),
        };
        let i = self.expr(target, env);
        let own = sylva_name(name);
        if self.names_read(&keep.text).contains(&own) || self.names_read(&i.text).contains(&own) {
            self.state_set_each_step(name, value, env);
            return;
        }
        let x = self.read(name, span, env);
        let rate = Out { text: format!("-log({}) / (dt / 1 ms)", keep.text), prec: 5 };
        let gap = binary("-", &i, &x);
        env.globals.insert(format!("{name}'"), binary("*", &gap, &rate));
    }

    /// Any other assignment of a state in such a PROCEDURE (nap.mod's `n = 1/(1 + exp(vhalf -
    /// v)/K)`): the state's new value, set each step; the block's later statements read it.
    fn state_set_each_step(&mut self, name: &str, value: &Expr, env: &mut Env) {
        let value = self.expr(value, env);
        let unit = self.vars[name].unit.clone();
        env.globals.insert(name.to_string(), attach(&value, &unit));
    }

    fn find_block(&self, target: &str, kinetic: bool) -> Option<Vec<Stmt>> {
        self.file.items.iter().find_map(|i| match i {
            Item::Derivative(n, body, _) if n == target && !kinetic => Some(body.clone()),
            Item::Kinetic(n, body, _) if n == target && kinetic => Some(body.clone()),
            _ => None,
        })
    }

    fn no_block(&mut self, target: &str, span: Span, kind: &str) {
        self.diagnostics
            .push(Diagnostic::error(Code::NmodlName, span, format!("no {kind} block `{target}`")).label("solved here"));
    }

    /// The DERIVATIVE block `target` executed: its statements and what they computed.
    fn execute_derivative(&mut self, target: &str, span: Span, blocks: &mut Blocks) -> Option<(Vec<Stmt>, Env)> {
        let Some(body) = self.find_block(target, false) else {
            self.no_block(target, span, "DERIVATIVE");
            return None;
        };
        blocks.solved.insert(target.to_string());
        self.block = BlockKind::Derivative;
        let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
        self.stmts(&body, &mut env);
        self.keep(&env);
        Some((body, env))
    }

    /// `METHOD euler`: NEURON's forward Euler, x + dt·x' from the states before the step at
    /// the step's new voltage, all derivatives first; that is `x = x + dt·x' each step`.
    fn solve_euler(&mut self, target: &str, span: Span, blocks: &mut Blocks) {
        let Some((_, env)) = self.execute_derivative(target, span, blocks) else { return };
        let mut keys: Vec<_> = env.globals.keys().filter(|k| k.ends_with('\'')).cloned().collect();
        keys.sort_by_key(|k| self.file_order(k.trim_end_matches('\'')));
        for k in keys {
            let n = k.trim_end_matches('\'').to_string();
            let unit = self.vars.get(&n).map_or("1".to_string(), |v| v.unit.clone());
            let x = strip(&sylva_name(&n), &unit);
            let step = binary("*", &Out { text: "dt / 1 ms".into(), prec: 5 }, &env.globals[&k]);
            blocks.held.push((n, attach(&binary("+", &x, &step), &unit)));
        }
    }

    fn solve_derivative(&mut self, target: &str, span: Span, implicit: bool, blocks: &mut Blocks) {
        let Some((body, env)) = self.execute_derivative(target, span, blocks) else { return };
        let first = blocks.derivatives.len();
        self.derivatives_of(&env, blocks);
        if implicit {
            self.check_uncoupled(&body, &blocks.derivatives[first..]);
            blocks.implicit.extend(blocks.derivatives[first..].iter().map(|(n, _)| n.clone()));
        }
    }

    /// The equations a block gave (`x'` in `env`), in STATE order, with their units.
    fn derivatives_of(&self, env: &Env, blocks: &mut Blocks) {
        let mut keys: Vec<_> = env.globals.keys().filter(|k| k.ends_with('\'')).cloned().collect();
        keys.sort_by_key(|k| self.file_order(k.trim_end_matches('\'')));
        for k in keys {
            let n = k.trim_end_matches('\'').to_string();
            let unit = self.vars.get(&n).map_or("1".to_string(), |v| v.unit.clone());
            let q = attach(&env.globals[&k], &unit);
            blocks.derivatives.push((n, Out { text: format!("{} / 1 ms", q.wrap(5)), prec: 5 }));
        }
    }

    /// NEURON's `derivimplicit` solves the block's equations together; Sylva advances each
    /// state by its own backward Euler step, which is the same only when no equation reads
    /// another state of the block (E0807 otherwise).
    fn check_uncoupled(&mut self, body: &[Stmt], derivatives: &[(String, Out)]) {
        let states: Vec<String> = derivatives.iter().map(|(n, _)| sylva_name(n)).collect();
        for (n, value) in derivatives {
            let reads = self.names_read(&value.text);
            let own = sylva_name(n);
            let Some(other) = states.iter().find(|s| **s != own && reads.contains(*s)) else { continue };
            let span = body
                .iter()
                .find_map(|s| match s {
                    Stmt::Derivative { name, span, .. } if name == n => Some(*span),
                    _ => None,
                })
                .unwrap_or(Span { file: self.file_id, start: 0, end: 0 });
            self.diagnostics.push(
                Diagnostic::error(
                    Code::NmodlCoupledImplicit,
                    span,
                    format!("`{n}'` reads `{other}`, another state of this `derivimplicit` block"),
                )
                .label("coupled to another state")
                .note("NEURON solves the coupled equations together by Newton's method; Sylva advances each state by its own backward Euler step, which differs when they are coupled"),
            );
        }
    }

    /// The names a text reads, through the `let`s it names.
    pub(super) fn names_read(&self, text: &str) -> HashSet<String> {
        let lets: HashMap<&str, &str> = self.lets.iter().map(|(n, v)| (n.as_str(), v.text.as_str())).collect();
        let mut seen = HashSet::new();
        let mut pending = vec![text];
        while let Some(t) = pending.pop() {
            for word in t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && seen.insert(word.to_string()) {
                    pending.extend(lets.get(word));
                }
            }
        }
        seen
    }

    fn solve_kinetic(&mut self, target: &str, span: Span, blocks: &mut Blocks) {
        let Some(body) = self.find_block(target, true) else {
            if self.find_block(target, false).is_some() {
                self.unsupported(
                    span,
                    "`METHOD sparse` for a DERIVATIVE block is not translated",
                    "use `cnexp` or `derivimplicit`",
                );
            } else {
                self.no_block(target, span, "KINETIC");
            }
            return;
        };
        blocks.solved.insert(target.to_string());
        self.block = BlockKind::Kinetic;
        let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
        self.stmts(&body, &mut env);
        self.keep(&env);
        let (lines, linear) = self.scheme_lines();
        if blocks.kinetic_block.is_some() {
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlKinetic, span, "a second KINETIC scheme: a Sylva mechanism has one")
                    .label("solved here"),
            );
            return;
        }
        blocks.kinetic = lines;
        blocks.kinetic_block = Some((target.to_string(), linear));
    }

    /// `SOLVE kin STEADYSTATE sparse` in INITIAL: `kinetic steady_state` when `kin` is the
    /// scheme BREAKPOINT solves and it is linear (Sylva's steady state is NEURON's one backward
    /// Euler step of 1e9 ms, exact for linear schemes only).
    pub(super) fn steady_state(&mut self, blocks: &mut Blocks) {
        let Some((target, span)) = self.steady_state.take() else { return };
        match &blocks.kinetic_block {
            Some((name, true)) if *name == target => blocks.steady_state = true,
            Some((name, false)) if *name == target => self.diagnostics.push(
                Diagnostic::error(Code::NmodlKinetic, span, format!("STEADYSTATE of the nonlinear scheme `{target}`"))
                    .label("a scheme with a reaction of order above 1")
                    .note("NEURON iterates Newton's method towards the steady state of a nonlinear scheme; Sylva's `kinetic steady_state` is one backward Euler step, the steady state of linear schemes only"),
            ),
            _ => self.diagnostics.push(
                Diagnostic::error(Code::NmodlName, span, format!("`{target}` is not the KINETIC block BREAKPOINT solves"))
                    .label("solved for its steady state here"),
            ),
        }
    }
}

/// The factor of an update towards a target: `E` in `x + E*(I - x)`, or `F` in `I + (x - I)*F`
/// (E = 1 - F).
enum Factor<'e> {
    Step(&'e Expr),
    Keep(&'e Expr),
}

/// `x + E*(I - x)`, `x + (I - x)*E`, `I + (x - I)*F` or `I + F*(x - I)`: the factor and `I`.
fn update_form<'e>(x: &str, value: &'e Expr) -> Option<(Factor<'e>, &'e Expr)> {
    let Expr::Binary("+", a, b) = value else { return None };
    let is_x = |e: &Expr| matches!(e, Expr::Name(n, _) if n == x);
    let product = |e: &'e Expr| match e {
        Expr::Binary("*", p, q) => Some((p.as_ref(), q.as_ref())),
        _ => None,
    };
    let difference = |e: &'e Expr| match e {
        Expr::Binary("-", p, q) => Some((p.as_ref(), q.as_ref())),
        _ => None,
    };
    // The factor of the product that is a difference passing `fits`, the other factor, and the
    // difference's parts.
    let split = |e: &'e Expr, fits: &dyn Fn(&Expr, &Expr) -> bool| {
        let (p, q) = product(e)?;
        let pick = |d: &'e Expr, other: &'e Expr| difference(d).filter(|(l, r)| fits(l, r)).map(|d| (other, d));
        pick(p, q).or_else(|| pick(q, p))
    };
    if is_x(a) {
        let (e, (i, _)) = split(b, &|_, r| is_x(r))?;
        return Some((Factor::Step(e), i));
    }
    let (f, _) = split(b, &|l, r| is_x(l) && matches_expr(r, a))?;
    Some((Factor::Keep(f), a.as_ref()))
}

/// Whether two expressions are written alike (names, numbers, operators; spans aside).
fn matches_expr(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (Expr::Number(x, _), Expr::Number(y, _)) | (Expr::Name(x, _), Expr::Name(y, _)) => x == y,
        (Expr::Call(f, _, xs), Expr::Call(g, _, ys)) => {
            f == g && xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| matches_expr(x, y))
        }
        (Expr::Unary(o, x), Expr::Unary(p, y)) => o == p && matches_expr(x, y),
        (Expr::Binary(o, x1, x2), Expr::Binary(p, y1, y2)) => o == p && matches_expr(x1, y1) && matches_expr(x2, y2),
        _ => false,
    }
}
