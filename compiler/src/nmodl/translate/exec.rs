//! The imperative NMODL blocks executed symbolically: statements, assignments (each a `let`),
//! reads of variables with their units stripped, expressions, calls (math functions, Sylva
//! functions, inlined procedures and functions).

use std::collections::HashMap;

use super::*;

impl Tx<'_> {
    pub(super) fn stmts(&mut self, stmts: &[Stmt], env: &mut Env) {
        for s in stmts {
            self.stmt(s, env);
        }
    }

    pub(super) fn stmt(&mut self, stmt: &Stmt, env: &mut Env) {
        match stmt {
            Stmt::Local(names) => {
                for (n, _) in names {
                    env.frames.last_mut().expect("a frame").insert(n.clone(), Out::atom("0"));
                }
            }
            Stmt::Assign { name, span, index, value } => {
                let name = match index {
                    Some(index) => match self.element(name, *span, index, env) {
                        Some(element) => element,
                        None => return,
                    },
                    None => name.clone(),
                };
                if self.is_state_update(&name) {
                    self.state_update(&name, *span, value, env);
                } else {
                    let value = self.expr(value, env);
                    self.assign(&name, *span, value, env);
                }
            }
            Stmt::From { var, from, to, body, span } => self.unrolled_loop(var, (from, to), body, *span, env),
            Stmt::Derivative { name, span, value } => self.derivative_stmt(name, *span, value, env),
            Stmt::Call { name, span, args } => self.call_stmt(name, *span, args, env),
            Stmt::If { cond, then, otherwise } => self.if_stmt(cond, then, otherwise, env),
            Stmt::Solve { name, span, method, steady_state } => {
                let sparse = method.as_ref().is_some_and(|(m, _)| m == "sparse");
                if *steady_state && sparse && self.block == BlockKind::Initial {
                    self.steady_state = Some((name.clone(), *span));
                } else if *steady_state {
                    self.unsupported(
                        *span,
                        "only `SOLVE … STEADYSTATE sparse` in INITIAL is translated",
                        "not translated",
                    );
                } else {
                    self.unsupported(*span, "`SOLVE` outside BREAKPOINT is not translated", "not translated");
                }
            }
            Stmt::Table(span) => {
                self.diagnostics.push(
                    Diagnostic::warning(Code::NmodlTable, *span, "TABLE is ignored: Sylva computes the formula at every step")
                        .label("a lookup table in NEURON")
                        .note("the results match NEURON's with `usetable_<suffix> = 0`, and differ from the interpolated table by its interpolation error"),
                );
            }
            Stmt::Reaction(_) | Stmt::Flux(_) | Stmt::Conserve { .. } | Stmt::Compartment { .. } => {
                self.kinetic_stmt(stmt, env);
            }
            Stmt::Unsupported(word, span) => self.unsupported_stmt(word, *span),
        }
    }

    fn derivative_stmt(&mut self, name: &str, span: Span, value: &Expr, env: &mut Env) {
        let value = self.expr(value, env);
        let kind = self.vars.get(name).map(|v| v.kind);
        if self.block != BlockKind::Derivative || !matches!(kind, Some(Kind::State | Kind::IonState)) {
            self.unsupported(
                span,
                format!("`{name}'` outside a DERIVATIVE block or of a name that is not a STATE"),
                "not translated",
            );
            return;
        }
        env.globals.insert(format!("{name}'"), value);
    }

    fn call_stmt(&mut self, name: &str, span: Span, args: &[Expr], env: &mut Env) {
        let args: Vec<Out> = args.iter().map(|a| self.expr(a, env)).collect();
        if self.procedures.get(name).is_some_and(|f| !f.is_function) {
            self.inline(name, span, args, env);
        } else if self.procedures.contains_key(name) {
            self.call(name, span, args, env);
        } else {
            self.diagnostics
                .push(Diagnostic::error(Code::NmodlName, span, format!("no PROCEDURE `{name}`")).label("called here"));
        }
    }

    fn unsupported_stmt(&mut self, word: &str, span: Span) {
        const EVENTS: &[&str] = &["net_send", "net_event", "net_move", "WATCH", "FOR_NETCONS", "INITIAL"];
        if self.block == BlockKind::NetReceive && EVENTS.contains(&word) {
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlNetReceive, span, format!("`{word}` in NET_RECEIVE cannot be translated"))
                    .label("not expressible in `on event`")
                    .note("Sylva's event handler changes states by the weight of each event: it sends no events, watches no conditions and keeps no state per connection"),
            );
            return;
        }
        let message = if word == "VERBATIM" {
            "VERBATIM (C code) cannot be translated".to_string()
        } else {
            format!("`{word}` is not translated yet")
        };
        self.unsupported(span, message, "skipped");
    }

    /// Both branches run on copies of the environment; each variable they leave different
    /// becomes an `if` expression.
    fn if_stmt(&mut self, cond: &Expr, then: &[Stmt], otherwise: &[Stmt], env: &mut Env) {
        let c = self.expr(cond, env);
        if c.text == "1" && otherwise.is_empty() {
            self.stmts(then, env);
            return;
        }
        let mut a = env.clone();
        let mut b = env.clone();
        self.branch += 1;
        self.stmts(then, &mut a);
        self.stmts(otherwise, &mut b);
        self.branch -= 1;
        self.merge_locals(&c, &a, &b, env);
        self.merge_globals(&c, cond.span(), &a, &b, env);
    }

    /// Locals of the innermost frame.
    fn merge_locals(&mut self, c: &Out, a: &Env, b: &Env, env: &mut Env) {
        let frame = env.frames.len() - 1;
        let mut keys: Vec<String> = a.frames[frame].keys().chain(b.frames[frame].keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let (Some(x), Some(y)) = (a.frames[frame].get(&k), b.frames[frame].get(&k)) else { continue };
            if x != y {
                let merged = Out { text: format!("if {} {{ {} }} else {{ {} }}", c.text, x.text, y.text), prec: 0 };
                let v = self.bind(&k, merged);
                env.frames[frame].insert(k, v);
            }
        }
    }

    /// The block's globals.
    fn merge_globals(&mut self, c: &Out, cond: Span, a: &Env, b: &Env, env: &mut Env) {
        let mut keys: Vec<String> = a.globals.keys().chain(b.globals.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let before = env.globals.get(&k).cloned().or_else(|| self.global_value(&k));
            let x = a.globals.get(&k).cloned().or_else(|| before.clone());
            let y = b.globals.get(&k).cloned().or_else(|| before.clone());
            let (Some(x), Some(y)) = (x, y) else {
                self.unsupported(cond, format!("`{k}` is assigned in one branch only"), "in this `if`");
                continue;
            };
            if x == y {
                env.globals.insert(k, x);
                continue;
            }
            let merged = Out { text: format!("if {} {{ {} }} else {{ {} }}", c.text, x.text, y.text), prec: 0 };
            // ASSIGNED values and PARAMETERs that INITIAL changes are `let`s; states and
            // currents are stored with their unit.
            let kind = self.vars.get(&k).map(|v| v.kind);
            let v = if matches!(kind, Some(Kind::Assigned | Kind::Param | Kind::Builtin)) {
                self.bind(&k, merged)
            } else {
                merged
            };
            env.globals.insert(k, v);
        }
    }

    /// The value of a global name before a block assigns it.
    pub(super) fn global_value(&self, name: &str) -> Option<Out> {
        if name.ends_with('\'') {
            return None;
        }
        let v = self.vars.get(name)?;
        match v.kind {
            Kind::Assigned => self.latest.get(name).cloned(),
            Kind::Current => None,
            _ => Some(strip(&self.sylva_read_name(name), &v.unit)),
        }
    }

    pub(super) fn assign(&mut self, name: &str, span: Span, value: Out, env: &mut Env) {
        if let Some(frame) = env.frames.last()
            && frame.contains_key(name)
        {
            let v = self.bind(name, value);
            env.frames.last_mut().expect("a frame").insert(name.to_string(), v);
            return;
        }
        let Some(var) = self.vars.get(name).cloned() else {
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlName, span, format!("`{name}` is not declared"))
                    .label("assigned here")
                    .help("declare it in ASSIGNED (or LOCAL)"),
            );
            return;
        };
        if let Some(s) = self.fn_scope.as_mut() {
            s.pure = false;
        }
        match var.kind {
            Kind::Assigned => {
                let v = self.bind(name, value);
                env.globals.insert(name.to_string(), v);
            }
            Kind::State | Kind::IonState if self.block == BlockKind::Initial => {
                if let Some((scheme, _)) = &self.steady_state {
                    let message = format!("`{name}` is assigned after `SOLVE {scheme} STEADYSTATE`");
                    self.diagnostics.push(
                        Diagnostic::error(Code::NmodlKinetic, span, message)
                            .label("after the steady state")
                            .note("Sylva's `kinetic steady_state` starts from the initial values, after all of them"),
                    );
                }
                env.globals.insert(name.to_string(), attach(&value, &var.unit));
            }
            Kind::State if self.block == BlockKind::NetReceive => {
                env.globals.insert(name.to_string(), attach(&value, &var.unit));
            }
            // A PARAMETER INITIAL changes (Exp2Syn's guard on tau1): a plain value, which the
            // other blocks read through `shadows`.
            Kind::Param if self.block == BlockKind::Initial => {
                env.globals.insert(name.to_string(), value);
            }
            // NEURON's `v` in a block is a copy of the membrane potential: assigning it (Hay's
            // `if (v == -27) { v = v + 0.0001 }`) changes what the rest of the block reads.
            Kind::Builtin if name == "v" => {
                let v = self.bind(name, value);
                env.globals.insert(name.to_string(), v);
            }
            // NEURON computes the currents again (BREAKPOINT) before the first step, so a
            // current INITIAL assigns ("initial Ca++ current value") has no effect.
            Kind::Current if self.block == BlockKind::Initial => {}
            Kind::Current if self.block == BlockKind::Breakpoint => {
                env.globals.insert(name.to_string(), attach(&value, &var.unit));
            }
            _ => {
                let what = match var.kind {
                    Kind::Param => "a PARAMETER outside INITIAL",
                    Kind::State | Kind::IonState => "a STATE outside INITIAL",
                    Kind::Current => "a current outside BREAKPOINT",
                    _ => "a variable NEURON provides",
                };
                self.unsupported(span, format!("assigning `{name}`, {what}, is not translated"), "assigned here");
            }
        }
    }

    pub(super) fn read(&mut self, name: &str, span: Span, env: &Env) -> Out {
        if let Some(v) = env.frames.last().and_then(|f| f.get(name)) {
            return v.clone();
        }
        if let Some(v) = env.globals.get(name) {
            // A current or state assigned earlier in the block: its plain value.
            return match self.vars.get(name) {
                Some(var) if matches!(var.kind, Kind::Current | Kind::State | Kind::IonState) => {
                    strip_out(v, &var.unit)
                }
                _ => v.clone(),
            };
        }
        if name != "PI"
            && let Some(s) = self.fn_scope.as_mut()
        {
            s.pure = false;
        }
        if name == "PI" {
            return Out::atom("PI");
        }
        if let Some(c) = self.constants.get(name) {
            return Out::atom(c.clone());
        }
        let Some(var) = self.vars.get(name).cloned() else {
            self.diagnostics.push(
                Diagnostic::error(Code::NmodlName, span, format!("`{name}` is not declared")).label("not declared"),
            );
            return Out::atom("0");
        };
        if let Some(stored) = self.read_held(name) {
            return stored;
        }
        match var.kind {
            Kind::Assigned => match self.latest.get(name).cloned() {
                Some(v) => v,
                None if self.block != BlockKind::Initial && self.initial_values.contains_key(name) => {
                    self.initial_value(name, span).unwrap_or_else(|| Out::atom("0"))
                }
                None => {
                    if self.fn_scope.is_none() {
                        self.unsupported(
                            span,
                            format!("`{name}` is read before any block computes it"),
                            "never assigned before",
                        );
                    }
                    Out::atom("0")
                }
            },
            Kind::Param if self.block != BlockKind::Initial && self.shadows.contains_key(name) => {
                self.shadows[name].clone()
            }
            // NEURON sets a STATE to 0 before INITIAL runs (hha2.mod's INITIAL advances the
            // gates from there); Sylva's own start value would be a gate's steady state.
            Kind::State if self.block == BlockKind::Initial => Out::atom("0"),
            _ => strip(&self.sylva_read_name(name), &var.unit),
        }
    }

    /// The Sylva name a global read refers to: `v_pre` for the presynaptic-voltage POINTER.
    fn sylva_read_name(&self, name: &str) -> String {
        if self.pre_voltage.as_deref() == Some(name) { "v_pre".into() } else { sylva_name(name) }
    }

    pub(super) fn expr(&mut self, e: &Expr, env: &mut Env) -> Out {
        match e {
            Expr::Number(n, _) => number(n),
            Expr::Name(n, span) => self.read(n, *span, env),
            Expr::Index(n, span, index) => match self.element(n, *span, index, env) {
                Some(element) => self.read(&element, *span, env),
                None => Out::atom("0"),
            },
            Expr::Unary(op, x) => {
                let x = self.expr(x, env);
                Out { text: format!("{op}{}", x.wrap(7)), prec: 6 }
            }
            Expr::Binary(op, a, b) => {
                let a = self.expr(a, env);
                let b = self.expr(b, env);
                binary(op, &a, &b)
            }
            Expr::Call(name, span, args) => {
                let args: Vec<Out> = args.iter().map(|a| self.expr(a, env)).collect();
                if let Some((_, s, n)) = MATH.iter().find(|(m, _, _)| m == name) {
                    if args.len() != *n {
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::NmodlName,
                                *span,
                                format!("`{name}` takes {n} argument(s), found {}", args.len()),
                            )
                            .label("this call"),
                        );
                        return Out::atom("0");
                    }
                    let list: Vec<String> = args.iter().map(|a| a.text.clone()).collect();
                    return Out::atom(format!("{s}({})", list.join(", ")));
                }
                if self.procedures.get(name).is_some_and(|f| f.is_function) {
                    return self.call(name, *span, args, env);
                }
                self.diagnostics.push(
                    Diagnostic::error(Code::NmodlName, *span, format!("no FUNCTION `{name}`")).label("called here"),
                );
                Out::atom("0")
            }
        }
    }

    /// Whether a call passes the procedure's number of arguments; reported when not.
    fn arity_ok(&mut self, name: &str, span: Span, expected: usize, found: usize) -> bool {
        if expected != found {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::NmodlName,
                    span,
                    format!("`{name}` takes {expected} argument(s), found {found}"),
                )
                .label("this call"),
            );
        }
        expected == found
    }

    /// A FUNCTION call: a Sylva function when the body reads only its arguments, else inlined.
    pub(super) fn call(&mut self, name: &str, span: Span, args: Vec<Out>, env: &mut Env) -> Out {
        let Some(f) = self.procedures.get(name).cloned() else { return Out::atom("0") };
        if !self.arity_ok(name, span, f.params.len(), args.len()) {
            return Out::atom("0");
        }
        if !self.fn_states.contains_key(name) && self.branch == 0 {
            self.try_function(&f);
        }
        if let Some(FnState::Pure(n)) = self.fn_states.get(name) {
            let list: Vec<String> = args.iter().map(|a| a.text.clone()).collect();
            return Out::atom(format!("{n}({})", list.join(", ")));
        }
        if let Some(s) = self.fn_scope.as_mut() {
            s.pure = false;
        }
        let frame = self.inline(name, span, args, env);
        frame.and_then(|f| f.get(name).cloned()).unwrap_or_else(|| Out::atom("0"))
    }

    pub(super) fn try_function(&mut self, f: &Function) {
        self.fn_states.insert(f.name.clone(), FnState::Pending);
        let saved = self.fn_scope.replace(FnScope { name: f.name.clone(), lets: Vec::new(), pure: true });
        let saved_diags = self.diagnostics.len();
        let mut env = Env { frames: vec![HashMap::new()], globals: HashMap::new() };
        let frame = env.frames.last_mut().expect("a frame");
        for (p, _, _) in &f.params {
            frame.insert(p.clone(), Out::atom(sylva_name(p)));
        }
        frame.insert(f.name.clone(), Out::atom("0"));
        self.stmts(&f.body, &mut env);
        let scope = std::mem::replace(&mut self.fn_scope, saved).expect("the function's scope");
        let result = env.frames[0].get(&f.name).cloned().unwrap_or_else(|| Out::atom("0"));
        if !scope.pure || self.diagnostics.len() != saved_diags {
            self.diagnostics.truncate(saved_diags);
            self.fn_states.insert(f.name.clone(), FnState::Impure);
            for (n, _) in &scope.lets {
                self.taken.remove(n);
            }
            return;
        }
        let fname = sylva_name(&f.name);
        let params: Vec<String> = f.params.iter().map(|(p, _, _)| format!("{}: 1", sylva_name(p))).collect();
        let body = if scope.lets.is_empty() {
            result.text
        } else {
            let lets: Vec<String> = scope.lets.iter().map(|(n, v)| format!("let {n} = {};", v.text)).collect();
            format!("{} {}", lets.join(" "), result.text)
        };
        self.fn_texts.push(format!(
            "/// NMODL FUNCTION `{}`, in plain numbers.\n    fn {fname}({}) -> 1 {{ {body} }}",
            f.name,
            params.join(", ")
        ));
        self.fn_states.insert(f.name.clone(), FnState::Pure(fname));
    }

    /// Runs a PROCEDURE's (or an impure FUNCTION's) body in place; returns its frame.
    pub(super) fn inline(
        &mut self,
        name: &str,
        span: Span,
        args: Vec<Out>,
        env: &mut Env,
    ) -> Option<HashMap<String, Out>> {
        let f = self.procedures.get(name).cloned()?;
        if !self.arity_ok(name, span, f.params.len(), args.len()) {
            return None;
        }
        if self.call_depth > 16 {
            self.unsupported(span, format!("`{name}` calls itself: recursion is not translated"), "too deep");
            return None;
        }
        let mut frame = HashMap::new();
        for ((p, _, _), a) in f.params.iter().zip(args) {
            frame.insert(p.clone(), a);
        }
        if f.is_function {
            frame.insert(f.name.clone(), Out::atom("0"));
        }
        env.frames.push(frame);
        self.call_depth += 1;
        self.stmts(&f.body, env);
        self.call_depth -= 1;
        env.frames.pop()
    }
}
