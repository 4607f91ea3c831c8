//! Arrays of constant size (`inf[2]` in ASSIGNED, `LOCAL a[2]`), which the parser declares
//! element by element (`inf[0]`, `inf[1]`), and `FROM i = 0 TO 1 { … }` loops, unrolled: every
//! index must be a constant once the loop variables have their values.

use super::*;

/// The most iterations a `FROM` loop is unrolled to.
const MAX_ITERATIONS: i64 = 256;

impl Tx<'_> {
    /// The element `name[k]` that `name[index]` designates, `k` the index's constant value;
    /// `None` (reported) when the index is not a constant or out of the array.
    pub(super) fn element(&mut self, name: &str, span: Span, index: &Expr, env: &Env) -> Option<String> {
        let Some(k) = constant(index, env) else {
            self.unsupported(
                index.span(),
                format!("the index of `{name}` is not a constant"),
                "Sylva translates indices known without running the model",
            );
            return None;
        };
        let element = format!("{name}[{k}]");
        let declared = self.vars.contains_key(&element) || env.frames.iter().any(|f| f.contains_key(&element));
        if !declared {
            let message = if self.vars.contains_key(&format!("{name}[0]")) {
                format!("`{name}[{k}]` is outside the array `{name}`")
            } else {
                format!("`{name}` is not an array")
            };
            self.diagnostics.push(Diagnostic::error(Code::NmodlName, span, message).label("indexed here"));
            return None;
        }
        Some(element)
    }

    /// `FROM var = from TO to { body }`: the body once for each value of `var`, which is a
    /// local of the innermost frame.
    pub(super) fn unrolled_loop(
        &mut self,
        var: &str,
        (from, to): (&Expr, &Expr),
        body: &[Stmt],
        span: Span,
        env: &mut Env,
    ) {
        let (Some(first), Some(last)) = (constant(from, env), constant(to, env)) else {
            self.unsupported(
                span,
                "the bounds of `FROM` are not constants",
                "Sylva unrolls loops with constant bounds",
            );
            return;
        };
        if last - first >= MAX_ITERATIONS {
            let message =
                format!("a `FROM` loop of {} iterations: Sylva unrolls at most {MAX_ITERATIONS}", last - first + 1);
            self.unsupported(span, message, "too many iterations");
            return;
        }
        for k in first..=last {
            env.frames.last_mut().expect("a frame").insert(var.to_string(), Out::atom(k.to_string()));
            self.stmts(body, env);
        }
    }
}

/// The value of an index: whole numbers, loop variables and LOCALs holding one, `+ - *`.
fn constant(e: &Expr, env: &Env) -> Option<i64> {
    match e {
        Expr::Number(n, _) => n.parse::<f64>().ok().filter(|x| x.fract() == 0.0 && x.abs() < 1e9).map(|x| x as i64),
        Expr::Name(n, _) => {
            let value = env.frames.last().and_then(|f| f.get(n)).or_else(|| env.globals.get(n))?;
            value.text.parse::<i64>().ok()
        }
        Expr::Unary("-", x) => constant(x, env).map(|x| -x),
        Expr::Binary(op, a, b) => {
            let (a, b) = (constant(a, env)?, constant(b, env)?);
            match *op {
                "+" => a.checked_add(b),
                "-" => a.checked_sub(b),
                "*" => a.checked_mul(b),
                _ => None,
            }
        }
        _ => None,
    }
}
