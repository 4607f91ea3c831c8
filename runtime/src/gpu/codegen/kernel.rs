//! A mechanism kernel lowered into the step function: its expression DAG evaluated per
//! instance (software f64 math where drivers are wrong), then its writes in order.

use naga::{BinaryOperator as B, MathFunction as M};
use sylva_compiler::ir::expr::{BinaryOp, Builtin, Expr, UnaryOp};
use sylva_compiler::ir::kernel::{Kernel, Target};

use super::{At, Cx, DIAGONAL, RHS};
use crate::gpu::GpuError;
use crate::gpu::builder::{Fb, H};
use crate::gpu::layout::{BlockLayout, ion_slot};

impl Cx<'_> {
    /// Evaluates a kernel's DAG, then performs its writes in order.
    pub(super) fn kernel(&mut self, fb: &mut Fb, b: &BlockLayout, kernel: &Kernel, at: &At) {
        let values = self.values(fb, b, kernel, at);
        self.writes(fb, b, kernel, at, &values);
    }

    /// The value of every expression of a kernel's DAG at the instance `at`.
    pub(super) fn values(&mut self, fb: &mut Fb, b: &BlockLayout, kernel: &Kernel, at: &At) -> Vec<H> {
        let g = self.g;
        let ty = self.ty;
        let mut values: Vec<H> = Vec::with_capacity(kernel.exprs.len());
        for (_, e) in kernel.exprs.iter() {
            let v = |i: sylva_compiler::ir::expr::ExprId| values[i.0 as usize];
            let h = match e {
                Expr::Const(x) => fb.f(x),
                Expr::Param(p) => match b.params.iter().find(|(q, _)| *q == p) {
                    Some((_, off)) if b.varying.contains(&p) => {
                        let i = self.instance_index(fb, b, *off, at);
                        fb.read(g.shared, i)
                    }
                    Some((_, off)) => {
                        let o = fb.u(*off);
                        let i = fb.add(o, at.k);
                        fb.read(g.shared, i)
                    }
                    None => {
                        self.err = Some(GpuError::Internal(format!("parameter {p} without values")));
                        fb.f(f64::NAN)
                    }
                },
                Expr::State(s) => {
                    let i = self.instance_index(fb, b, b.states[s as usize], at);
                    fb.read(g.data, i)
                }
                Expr::Builtin(bi) => match bi {
                    Builtin::V => {
                        let i = self.node_index(fb, ty.v, at.node, at.c);
                        fb.read(g.data, i)
                    }
                    Builtin::Area | Builtin::Diam => {
                        let o = fb.u(if bi == Builtin::Area { ty.area } else { ty.diam });
                        let i = fb.add(o, at.node);
                        fb.read(g.shared, i)
                    }
                    Builtin::VPre => match b.pre_voltage {
                        // Another cell's voltage: its index in `data` from the block's table.
                        Some(table) => {
                            let at_table = self.instance_index(fb, b, table, at);
                            let i = fb.read(g.meta, at_table);
                            self.pre_voltage(fb, i)
                        }
                        None => {
                            self.err = Some(GpuError::Internal("v_pre without a presynaptic table".into()));
                            fb.f(f64::NAN)
                        }
                    },
                    Builtin::T => at.t,
                    Builtin::Dt => fb.f(self.p.dt),
                    Builtin::Celsius => {
                        self.err = Some(GpuError::Internal("unspecialised temperature".into()));
                        fb.f(f64::NAN)
                    }
                },
                Expr::Ion(u, var) => {
                    let off = ty.ions[b.species[u as usize]][ion_slot(var)];
                    let i = self.node_index(fb, off, at.node, at.c);
                    fb.read(g.data, i)
                }
                Expr::Weight => at.weight.expect("the weight only in event kernels (artifact::validate)"),
                Expr::Unary(op, a) => self.unary(fb, op, v(a)),
                Expr::Binary(op, a, c) => self.binary(fb, op, v(a), v(c)),
                Expr::Powi(a, n) => powi(fb, v(a), n),
                Expr::Select(cnd, a, c) => {
                    let z = fb.f(0.0);
                    let cond = fb.bin(B::NotEqual, v(cnd), z);
                    fb.select(cond, v(a), v(c))
                }
            };
            values.push(h);
        }
        values
    }

    /// A kernel's writes in order, of the DAG's `values`.
    fn writes(&mut self, fb: &mut Fb, b: &BlockLayout, kernel: &Kernel, at: &At, values: &[H]) {
        let (g, ty) = (self.g, self.ty);
        for w in &kernel.writes {
            let x = values[w.value.0 as usize];
            match w.target {
                Target::State(s) => {
                    let i = self.instance_index(fb, b, b.states[s as usize], at);
                    fb.write(g.data, i, x);
                }
                Target::Current(k) | Target::Derived(k) => {
                    // artifact::validate: a kernel writes only the values its placement stores.
                    let list = if let Target::Current(_) = w.target { &b.currents } else { &b.derived };
                    let off = list.iter().find(|(e, _)| *e == k).expect("stored").1;
                    let i = self.instance_index(fb, b, off, at);
                    fb.write(g.data, i, x);
                }
                Target::NodeRhs | Target::NodeDiagonal => {
                    let which = if w.target == Target::NodeRhs { RHS } else { DIAGONAL };
                    let p = self.solve_ptr(fb, which, at.node, at.c);
                    let old = fb.load(p);
                    let new = fb.add(old, x);
                    fb.store(p, new);
                }
                Target::IonCurrent(u) => {
                    let species = b.species[u as usize];
                    if self.layout.current_read[species] {
                        let i = self.node_index(fb, ty.ions[species][3], at.node, at.c);
                        self.accumulate(fb, i, x);
                    }
                }
                Target::IonConcentration(u, var) => {
                    let i = self.node_index(fb, ty.ions[b.species[u as usize]][ion_slot(var)], at.node, at.c);
                    fb.write(g.data, i, x);
                }
                // Only the reverse kernel of a gradient runs a kernel fused with its partials.
                Target::Partial(j) => self.store_partial(fb, b, j, at, x),
            }
        }
    }

    fn unary(&mut self, fb: &mut Fb, op: UnaryOp, x: H) -> H {
        match op {
            UnaryOp::Neg => fb.neg(x),
            UnaryOp::Not => {
                let z = fb.f(0.0);
                let one = fb.f(1.0);
                let c = fb.bin(B::Equal, x, z);
                fb.select(c, one, z)
            }
            UnaryOp::Exp => fb.call(self.fns.exp, vec![x]),
            UnaryOp::Log => fb.call(self.fns.log, vec![x]),
            UnaryOp::Log10 => fb.call(self.fns.log10, vec![x]),
            UnaryOp::Sqrt => fb.math1(M::Sqrt, x),
            UnaryOp::Abs => fb.math1(M::Abs, x),
            UnaryOp::Sin => fb.call(self.fns.sin, vec![x]),
            UnaryOp::Cos => fb.call(self.fns.cos, vec![x]),
            UnaryOp::Tanh => fb.call(self.fns.tanh, vec![x]),
        }
    }

    fn binary(&mut self, fb: &mut Fb, op: BinaryOp, x: H, y: H) -> H {
        let truth = |fb: &mut Fb, c: H| {
            let one = fb.f(1.0);
            let z = fb.f(0.0);
            fb.select(c, one, z)
        };
        match op {
            BinaryOp::Add => fb.add(x, y),
            BinaryOp::Sub => fb.sub(x, y),
            BinaryOp::Mul => fb.mul(x, y),
            BinaryOp::Div => fb.div(x, y),
            BinaryOp::Pow => fb.call(self.fns.pow, vec![x, y]),
            // f64::min / max: the other operand when one is NaN.
            BinaryOp::Min | BinaryOp::Max => {
                let cmp = fb.bin(if op == BinaryOp::Min { B::Less } else { B::Greater }, x, y);
                let ynan = fb.bin(B::NotEqual, y, y);
                let take_x = fb.bin(B::LogicalOr, cmp, ynan);
                fb.select(take_x, x, y)
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne => {
                let o = match op {
                    BinaryOp::Lt => B::Less,
                    BinaryOp::Le => B::LessEqual,
                    BinaryOp::Gt => B::Greater,
                    BinaryOp::Ge => B::GreaterEqual,
                    BinaryOp::Eq => B::Equal,
                    _ => B::NotEqual,
                };
                let c = fb.bin(o, x, y);
                truth(fb, c)
            }
            BinaryOp::And | BinaryOp::Or => {
                let z = fb.f(0.0);
                let a = fb.bin(B::NotEqual, x, z);
                let b = fb.bin(B::NotEqual, y, z);
                let c = fb.bin(if op == BinaryOp::And { B::LogicalAnd } else { B::LogicalOr }, a, b);
                truth(fb, c)
            }
        }
    }
}

/// `f64::powi`'s order: square-and-multiply from the lowest bit, one reciprocal at the end.
fn powi(fb: &mut Fb, x: H, n: i32) -> H {
    let mut b = n.unsigned_abs();
    let mut base = x;
    let mut result: Option<H> = None;
    loop {
        if b & 1 != 0 {
            result = Some(match result {
                None => base,
                Some(r) => fb.mul(r, base),
            });
        }
        b >>= 1;
        if b == 0 {
            break;
        }
        base = fb.mul(base, base);
    }
    let r = match result {
        Some(r) => r,
        None => fb.f(1.0),
    };
    if n < 0 {
        let one = fb.f(1.0);
        fb.div(one, r)
    } else {
        r
    }
}
