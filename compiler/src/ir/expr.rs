//! Expressions: a hash-consed DAG in an arena, one per mechanism. Values are in the internal
//! unit system (`docs/language.md`), so no unit appears here. Building an expression folds
//! constants and shares equal subexpressions; [`ExprArena::derivative`] differentiates
//! symbolically (the conductance dI/dv, and later adjoints).

use std::collections::HashMap;
use std::fmt;

/// Handle of an expression in its [`ExprArena`]. Operands always have smaller handles.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

/// Values every mechanism may read that the simulator provides.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// Membrane voltage of the node (mV).
    V,
    /// The presynaptic cell's voltage (mV) at its detector, for a point mechanism connected
    /// continuously (graded synapses, gap junctions); read at the same time level as `V`.
    VPre,
    /// Model time (ms); the midpoint of the step while currents are computed.
    T,
    Dt,
    /// Simulation temperature in °C.
    Celsius,
    /// Membrane area of the node (µm²).
    Area,
    /// Diameter at the node (µm).
    Diam,
}

/// What an ion variable is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IonVar {
    /// Reversal potential `eX`.
    Reversal,
    /// Inner concentration `Xi`.
    Inside,
    /// Outer concentration `Xo`.
    Outside,
    /// Summed current density `iX` of all mechanisms.
    Current,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
    Exp,
    Log,
    Log10,
    Sqrt,
    Abs,
    Sin,
    Cos,
    Tanh,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Real power `a^b` (both operands any value).
    Pow,
    Min,
    Max,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Expr {
    Const(f64),
    /// Parameter `i` of the mechanism (per instance).
    Param(u32),
    /// State `i` of the mechanism (per instance).
    State(u32),
    Builtin(Builtin),
    /// An ion variable: the mechanism's ion use `i` and which variable.
    Ion(u32, IonVar),
    /// The weight of the event being handled (event handlers only).
    Weight,
    Unary(UnaryOp, ExprId),
    Binary(BinaryOp, ExprId, ExprId),
    /// `a^n` for a constant integer `n`.
    Powi(ExprId, i32),
    /// `if c { a } else { b }`; both branches are evaluated, so each must be finite where it
    /// is not chosen only if the back end needs it (they do not trap).
    Select(ExprId, ExprId, ExprId),
}

/// Key for hash-consing: `f64` by its bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Param(u32),
    State(u32),
    Builtin(Builtin),
    Ion(u32, IonVar),
    Weight,
    Unary(UnaryOp, ExprId),
    Binary(BinaryOp, ExprId, ExprId),
    Powi(ExprId, i32),
    Select(ExprId, ExprId, ExprId),
}

impl Expr {
    fn key(self) -> Key {
        match self {
            Expr::Const(c) => Key::Const(c.to_bits()),
            Expr::Param(i) => Key::Param(i),
            Expr::State(i) => Key::State(i),
            Expr::Builtin(b) => Key::Builtin(b),
            Expr::Ion(i, v) => Key::Ion(i, v),
            Expr::Weight => Key::Weight,
            Expr::Unary(op, a) => Key::Unary(op, a),
            Expr::Binary(op, a, b) => Key::Binary(op, a, b),
            Expr::Powi(a, n) => Key::Powi(a, n),
            Expr::Select(c, a, b) => Key::Select(c, a, b),
        }
    }

    /// The operands, in order.
    pub fn operands(self) -> impl Iterator<Item = ExprId> {
        let (a, b, c) = match self {
            Expr::Unary(_, a) | Expr::Powi(a, _) => (Some(a), None, None),
            Expr::Binary(_, a, b) => (Some(a), Some(b), None),
            Expr::Select(c, a, b) => (Some(c), Some(a), Some(b)),
            _ => (None, None, None),
        };
        a.into_iter().chain(b).chain(c)
    }

    /// The same node with every operand mapped through `f`.
    pub fn map_operands(self, mut f: impl FnMut(ExprId) -> ExprId) -> Expr {
        match self {
            Expr::Unary(op, a) => Expr::Unary(op, f(a)),
            Expr::Binary(op, a, b) => Expr::Binary(op, f(a), f(b)),
            Expr::Powi(a, n) => Expr::Powi(f(a), n),
            Expr::Select(c, a, b) => Expr::Select(f(c), f(a), f(b)),
            leaf => leaf,
        }
    }
}

/// The arena. Append-only; equal expressions get the same handle.
#[derive(Clone, Debug, Default)]
pub struct ExprArena {
    nodes: Vec<Expr>,
    interned: HashMap<KeyWrap, ExprId>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct KeyWrap(Key);

impl fmt::Debug for KeyWrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key")
    }
}

impl ExprArena {
    pub fn new() -> ExprArena {
        ExprArena::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, id: ExprId) -> Expr {
        self.nodes[id.0 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (ExprId, Expr)> + '_ {
        self.nodes.iter().enumerate().map(|(i, e)| (ExprId(i as u32), *e))
    }

    /// The constant value of an expression, if it is one.
    pub fn constant(&self, id: ExprId) -> Option<f64> {
        match self.get(id) {
            Expr::Const(c) => Some(c),
            _ => None,
        }
    }

    fn intern(&mut self, expr: Expr) -> ExprId {
        let key = KeyWrap(expr.key());
        if let Some(id) = self.interned.get(&key) {
            return *id;
        }
        let id = ExprId(self.nodes.len() as u32);
        self.nodes.push(expr);
        self.interned.insert(key, id);
        id
    }

    pub fn constant_expr(&mut self, value: f64) -> ExprId {
        // -0.0 and 0.0 are one constant for sharing; the sign of zero never matters here.
        self.intern(Expr::Const(if value == 0.0 { 0.0 } else { value }))
    }

    /// Appends `expr` without folding or checks, operands after it included: tests of the
    /// validators build broken arenas with it.
    #[cfg(test)]
    pub(crate) fn push_unchecked(&mut self, expr: Expr) -> ExprId {
        self.intern(expr)
    }

    pub fn leaf(&mut self, expr: Expr) -> ExprId {
        debug_assert!(expr.operands().next().is_none());
        self.intern(expr)
    }

    pub fn unary(&mut self, op: UnaryOp, a: ExprId) -> ExprId {
        if let Some(x) = self.constant(a) {
            return self.constant_expr(eval_unary(op, x));
        }
        if op == UnaryOp::Neg
            && let Expr::Unary(UnaryOp::Neg, inner) = self.get(a)
        {
            return inner;
        }
        self.intern(Expr::Unary(op, a))
    }

    pub fn binary(&mut self, op: BinaryOp, a: ExprId, b: ExprId) -> ExprId {
        let (ca, cb) = (self.constant(a), self.constant(b));
        if let (Some(x), Some(y)) = (ca, cb) {
            return self.constant_expr(eval_binary(op, x, y));
        }
        // Identities: exact in floating point, except that a product with zero and zero divided
        // by anything are taken to be zero (the other operand is finite, and a divisor non-zero,
        // wherever the model is meaningful; derivatives make such terms often). The guards
        // compare with `==` so that -0.0 counts as zero too.
        #[allow(clippy::redundant_guards)]
        match (op, ca, cb) {
            (BinaryOp::Mul, Some(z), _) | (BinaryOp::Mul, _, Some(z)) if z == 0.0 => return self.constant_expr(0.0),
            (BinaryOp::Div, Some(z), _) if z == 0.0 => return self.constant_expr(0.0),
            (BinaryOp::Add, Some(z), _) if z == 0.0 => return b,
            (BinaryOp::Add | BinaryOp::Sub, _, Some(z)) if z == 0.0 => return a,
            (BinaryOp::Sub, Some(z), _) if z == 0.0 => return self.unary(UnaryOp::Neg, b),
            (BinaryOp::Mul, Some(one), _) if one == 1.0 => return b,
            (BinaryOp::Mul | BinaryOp::Div, _, Some(one)) if one == 1.0 => return a,
            (BinaryOp::Mul, Some(m), _) if m == -1.0 => return self.unary(UnaryOp::Neg, b),
            (BinaryOp::Mul, _, Some(m)) if m == -1.0 => return self.unary(UnaryOp::Neg, a),
            _ => {}
        }
        self.intern(Expr::Binary(op, a, b))
    }

    pub fn powi(&mut self, a: ExprId, n: i32) -> ExprId {
        match n {
            0 => return self.constant_expr(1.0),
            1 => return a,
            _ => {}
        }
        if let Some(x) = self.constant(a) {
            return self.constant_expr(x.powi(n));
        }
        self.intern(Expr::Powi(a, n))
    }

    pub fn select(&mut self, c: ExprId, a: ExprId, b: ExprId) -> ExprId {
        if a == b {
            return a;
        }
        if let Some(x) = self.constant(c) {
            return if x != 0.0 { a } else { b };
        }
        self.intern(Expr::Select(c, a, b))
    }

    /// Adds `expr` (its operands already in this arena) through the folding constructors.
    pub fn build(&mut self, expr: Expr) -> ExprId {
        match expr {
            Expr::Const(c) => self.constant_expr(c),
            Expr::Unary(op, a) => self.unary(op, a),
            Expr::Binary(op, a, b) => self.binary(op, a, b),
            Expr::Powi(a, n) => self.powi(a, n),
            Expr::Select(c, a, b) => self.select(c, a, b),
            leaf => self.leaf(leaf),
        }
    }

    pub fn add(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Add, a, b)
    }

    pub fn sub(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Sub, a, b)
    }

    pub fn mul(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Mul, a, b)
    }

    pub fn div(&mut self, a: ExprId, b: ExprId) -> ExprId {
        self.binary(BinaryOp::Div, a, b)
    }

    pub fn neg(&mut self, a: ExprId) -> ExprId {
        self.unary(UnaryOp::Neg, a)
    }

    /// Copies `id` from another arena into this one, mapping leaves through `leaf`
    /// (used to inline and to substitute).
    pub fn import(
        &mut self,
        from: &ExprArena,
        id: ExprId,
        leaf: &mut dyn FnMut(&mut ExprArena, Expr) -> ExprId,
    ) -> ExprId {
        let mut map: HashMap<ExprId, ExprId> = HashMap::new();
        self.import_rec(from, id, leaf, &mut map)
    }

    fn import_rec(
        &mut self,
        from: &ExprArena,
        id: ExprId,
        leaf: &mut dyn FnMut(&mut ExprArena, Expr) -> ExprId,
        map: &mut HashMap<ExprId, ExprId>,
    ) -> ExprId {
        if let Some(done) = map.get(&id) {
            return *done;
        }
        let result = match from.get(id) {
            e @ (Expr::Param(_) | Expr::State(_) | Expr::Builtin(_) | Expr::Ion(..) | Expr::Weight) => leaf(self, e),
            e => {
                let mapped = e.map_operands(|operand| self.import_rec(from, operand, leaf, map));
                self.build(mapped)
            }
        };
        map.insert(id, result);
        result
    }

    /// Replaces every occurrence of the leaf `what` by `with` in `id`.
    pub fn substitute(&mut self, id: ExprId, what: Expr, with: ExprId) -> ExprId {
        let snapshot = self.clone();
        self.import(&snapshot, id, &mut |arena, leaf| if leaf == what { with } else { arena.leaf(leaf) })
    }

    /// Whether `id` depends on the leaf `what`.
    pub fn depends_on(&self, id: ExprId, what: Expr) -> bool {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![id];
        while let Some(e) = stack.pop() {
            if std::mem::replace(&mut seen[e.0 as usize], true) {
                continue;
            }
            let node = self.get(e);
            if node == what {
                return true;
            }
            stack.extend(node.operands());
        }
        false
    }

    /// d(id)/d(leaf), symbolically. Comparisons and logic are piecewise constant (derivative 0).
    pub fn derivative(&mut self, id: ExprId, wrt: Expr) -> ExprId {
        let mut memo = HashMap::new();
        self.derivative_rec(id, wrt, &mut memo)
    }

    fn derivative_rec(&mut self, id: ExprId, wrt: Expr, memo: &mut HashMap<ExprId, ExprId>) -> ExprId {
        if let Some(d) = memo.get(&id) {
            return *d;
        }
        let zero = self.constant_expr(0.0);
        let result = if !self.depends_on(id, wrt) {
            zero
        } else {
            match self.get(id) {
                e if e == wrt => self.constant_expr(1.0),
                Expr::Const(_) | Expr::Param(_) | Expr::State(_) | Expr::Builtin(_) | Expr::Ion(..) | Expr::Weight => {
                    zero
                }
                Expr::Unary(op, a) => {
                    let da = self.derivative_rec(a, wrt, memo);
                    let outer = match op {
                        UnaryOp::Neg => self.constant_expr(-1.0),
                        UnaryOp::Not => zero,
                        UnaryOp::Exp => id,
                        UnaryOp::Log => {
                            let one = self.constant_expr(1.0);
                            self.div(one, a)
                        }
                        UnaryOp::Log10 => {
                            let k = self.constant_expr(std::f64::consts::LN_10);
                            let ka = self.mul(k, a);
                            let one = self.constant_expr(1.0);
                            self.div(one, ka)
                        }
                        UnaryOp::Sqrt => {
                            let two = self.constant_expr(2.0);
                            let t = self.mul(two, id);
                            let one = self.constant_expr(1.0);
                            self.div(one, t)
                        }
                        UnaryOp::Abs => {
                            let c = self.binary(BinaryOp::Lt, a, zero);
                            let m1 = self.constant_expr(-1.0);
                            let p1 = self.constant_expr(1.0);
                            self.select(c, m1, p1)
                        }
                        UnaryOp::Sin => self.unary(UnaryOp::Cos, a),
                        UnaryOp::Cos => {
                            let s = self.unary(UnaryOp::Sin, a);
                            self.neg(s)
                        }
                        UnaryOp::Tanh => {
                            let sq = self.powi(id, 2);
                            let one = self.constant_expr(1.0);
                            self.sub(one, sq)
                        }
                    };
                    self.mul(outer, da)
                }
                Expr::Binary(op, a, b) => {
                    let da = self.derivative_rec(a, wrt, memo);
                    let db = self.derivative_rec(b, wrt, memo);
                    match op {
                        BinaryOp::Add => self.add(da, db),
                        BinaryOp::Sub => self.sub(da, db),
                        BinaryOp::Mul => {
                            let l = self.mul(da, b);
                            let r = self.mul(a, db);
                            self.add(l, r)
                        }
                        BinaryOp::Div => {
                            // (da*b - a*db) / b^2, written as da/b - a*db/b^2.
                            let l = self.div(da, b);
                            let b2 = self.powi(b, 2);
                            let adb = self.mul(a, db);
                            let r = self.div(adb, b2);
                            self.sub(l, r)
                        }
                        BinaryOp::Pow => {
                            // d(a^b) = a^b * (db*ln a + b*da/a).
                            let ln_a = self.unary(UnaryOp::Log, a);
                            let t1 = self.mul(db, ln_a);
                            let bda = self.mul(b, da);
                            let t2 = self.div(bda, a);
                            let s = self.add(t1, t2);
                            let zero_db = self.constant(db) == Some(0.0);
                            if zero_db {
                                // Keeps a^b' defined for a <= 0 when the exponent is constant.
                                let one = self.constant_expr(1.0);
                                let bm1 = self.sub(b, one);
                                let p = self.binary(BinaryOp::Pow, a, bm1);
                                let bp = self.mul(b, p);
                                self.mul(bp, da)
                            } else {
                                self.mul(id, s)
                            }
                        }
                        BinaryOp::Min | BinaryOp::Max => {
                            let cmp = if op == BinaryOp::Min { BinaryOp::Le } else { BinaryOp::Ge };
                            let c = self.binary(cmp, a, b);
                            self.select(c, da, db)
                        }
                        BinaryOp::Lt
                        | BinaryOp::Le
                        | BinaryOp::Gt
                        | BinaryOp::Ge
                        | BinaryOp::Eq
                        | BinaryOp::Ne
                        | BinaryOp::And
                        | BinaryOp::Or => zero,
                    }
                }
                Expr::Powi(a, n) => {
                    let da = self.derivative_rec(a, wrt, memo);
                    let p = self.powi(a, n - 1);
                    let k = self.constant_expr(f64::from(n));
                    let kp = self.mul(k, p);
                    self.mul(kp, da)
                }
                Expr::Select(c, a, b) => {
                    let da = self.derivative_rec(a, wrt, memo);
                    let db = self.derivative_rec(b, wrt, memo);
                    self.select(c, da, db)
                }
            }
        };
        memo.insert(id, result);
        result
    }

    /// Evaluates with the leaves given by `leaf` (the reference semantics the back ends
    /// must reproduce).
    pub fn eval(&self, id: ExprId, leaf: &dyn Fn(Expr) -> f64) -> f64 {
        let mut values: HashMap<ExprId, f64> = HashMap::new();
        self.eval_rec(id, leaf, &mut values)
    }

    fn eval_rec(&self, id: ExprId, leaf: &dyn Fn(Expr) -> f64, values: &mut HashMap<ExprId, f64>) -> f64 {
        if let Some(v) = values.get(&id) {
            return *v;
        }
        let v = match self.get(id) {
            Expr::Const(c) => c,
            e @ (Expr::Param(_) | Expr::State(_) | Expr::Builtin(_) | Expr::Ion(..) | Expr::Weight) => leaf(e),
            Expr::Unary(op, a) => eval_unary(op, self.eval_rec(a, leaf, values)),
            Expr::Binary(op, a, b) => {
                let x = self.eval_rec(a, leaf, values);
                let y = self.eval_rec(b, leaf, values);
                eval_binary(op, x, y)
            }
            Expr::Powi(a, n) => self.eval_rec(a, leaf, values).powi(n),
            Expr::Select(c, a, b) => {
                if self.eval_rec(c, leaf, values) != 0.0 {
                    self.eval_rec(a, leaf, values)
                } else {
                    self.eval_rec(b, leaf, values)
                }
            }
        };
        values.insert(id, v);
        v
    }
}

pub fn eval_unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Not => f64::from(u8::from(x == 0.0)),
        // Sylva's own exp: the JIT reproduces it bit for bit (`ir::math`).
        UnaryOp::Exp => super::math::exp(x),
        UnaryOp::Log => super::math::ln(x),
        UnaryOp::Log10 => x.log10(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
    }
}

pub fn eval_binary(op: BinaryOp, x: f64, y: f64) -> f64 {
    let truth = |b: bool| f64::from(u8::from(b));
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Min => x.min(y),
        BinaryOp::Max => x.max(y),
        BinaryOp::Lt => truth(x < y),
        BinaryOp::Le => truth(x <= y),
        BinaryOp::Gt => truth(x > y),
        BinaryOp::Ge => truth(x >= y),
        BinaryOp::Eq => truth(x == y),
        BinaryOp::Ne => truth(x != y),
        BinaryOp::And => truth(x != 0.0 && y != 0.0),
        BinaryOp::Or => truth(x != 0.0 || y != 0.0),
    }
}

impl UnaryOp {
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Not => "not",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Log10 => "log10",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
        }
    }
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_constants_and_shares_subexpressions() {
        let mut a = ExprArena::new();
        let two = a.constant_expr(2.0);
        let three = a.constant_expr(3.0);
        let six = a.mul(two, three);
        assert_eq!(a.constant(six), Some(6.0));
        let v = a.leaf(Expr::Builtin(Builtin::V));
        let x1 = a.add(v, six);
        let x2 = a.add(v, six);
        assert_eq!(x1, x2);
        let zero = a.constant_expr(0.0);
        let zero_over_v = a.div(zero, v);
        assert_eq!(a.constant(zero_over_v), Some(0.0));
    }

    #[test]
    fn derivative_matches_finite_difference() {
        let mut a = ExprArena::new();
        let v = a.leaf(Expr::Builtin(Builtin::V));
        // f(v) = exp(-v/18) * v^3 / (1 + v^2) + select(v > 0, v, 2v)
        let k = a.constant_expr(-1.0 / 18.0);
        let kv = a.mul(k, v);
        let e = a.unary(UnaryOp::Exp, kv);
        let v3 = a.powi(v, 3);
        let one = a.constant_expr(1.0);
        let v2 = a.powi(v, 2);
        let den = a.add(one, v2);
        let num = a.mul(e, v3);
        let q = a.div(num, den);
        let zero = a.constant_expr(0.0);
        let c = a.binary(BinaryOp::Gt, v, zero);
        let two = a.constant_expr(2.0);
        let twov = a.mul(two, v);
        let s = a.select(c, v, twov);
        let f = a.add(q, s);
        let df = a.derivative(f, Expr::Builtin(Builtin::V));
        for x in [-3.0, -0.5, 0.7, 4.0] {
            let at = |h: f64| a.eval(f, &|_| x + h);
            let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
            let exact = a.eval(df, &|_| x);
            assert!((fd - exact).abs() < 1e-6 * (1.0 + exact.abs()), "x={x}: {fd} vs {exact}");
        }
    }
}
