//! Mechanism blocks: all instances of one placement of a mechanism across the network, in
//! structure-of-arrays form, with their specialised kernels, and the interpreter that defines
//! what a kernel does (every other back end reproduces it bit for bit).

use sylva_compiler::artifact::Placement;
use sylva_compiler::ir::expr::{Builtin, Expr, ExprArena, IonVar};
use sylva_compiler::ir::kernel::{Kernel, Kernels, Target};

/// Per-node arrays shared by all blocks.
#[derive(Clone, Debug, Default)]
pub struct Nodes {
    pub v: Vec<f64>,
    pub rhs: Vec<f64>,
    pub diagonal: Vec<f64>,
    pub area: Vec<f64>,
    pub diam: Vec<f64>,
}

/// Per-node arrays of one ion species.
#[derive(Clone, Debug, Default)]
pub struct IonArrays {
    pub reversal: Vec<f64>,
    pub inside: Vec<f64>,
    pub outside: Vec<f64>,
    pub current: Vec<f64>,
}

impl IonArrays {
    pub fn get(&self, var: IonVar) -> &Vec<f64> {
        match var {
            IonVar::Reversal => &self.reversal,
            IonVar::Inside => &self.inside,
            IonVar::Outside => &self.outside,
            IonVar::Current => &self.current,
        }
    }

    pub fn get_mut(&mut self, var: IonVar) -> &mut Vec<f64> {
        match var {
            IonVar::Reversal => &mut self.reversal,
            IonVar::Inside => &mut self.inside,
            IonVar::Outside => &mut self.outside,
            IonVar::Current => &mut self.current,
        }
    }
}

/// Indices into the scalars every kernel receives, `[t, dt, celsius]` (the calling convention of
/// the interpreter and the compiled kernels).
pub const SCALAR_T: usize = 0;
pub const SCALAR_DT: usize = 1;
pub const SCALAR_CELSIUS: usize = 2;
pub const SCALAR_COUNT: usize = 3;

/// The instances of one mechanism placement.
#[derive(Clone, Debug)]
pub struct Block {
    pub placement: Placement,
    pub mechanism: u32,
    pub node_index: Vec<u32>,
    /// Per-instance parameters that are not constants in the kernels: (parameter, values).
    pub params: Vec<(u32, Vec<f64>)>,
    /// Parameters of `params` whose values may differ between the cells of a type from one run
    /// to the next (a dense input's, set per sample): a GPU keeps them per instance, not once
    /// per cell type.
    pub varying: Vec<u32>,
    /// Constant parameters (baked into the kernels), for probes.
    pub constant_params: Vec<(u32, f64)>,
    pub states: Vec<Vec<f64>>,
    /// Stored currents: (current index, values).
    pub currents: Vec<(u32, Vec<f64>)>,
    /// Stored derived values: (derived index, values).
    pub derived: Vec<(u32, Vec<f64>)>,
    /// The species index of each ion use of the mechanism.
    pub species: Vec<usize>,
    /// Shared, so the engine can hold a kernel while the block's arrays change.
    pub kernels: std::sync::Arc<Kernels>,
    /// The cells the instances belong to, ascending; each has `per_cell` consecutive instances.
    pub gids: Vec<u32>,
    pub per_cell: usize,
    /// Per instance, the node whose voltage `v_pre` reads (the presynaptic cell's detector);
    /// empty when the mechanism does not read it. Every engine reads it at the time level of
    /// `v`: all cells' currents before any solve, all solves before any advance.
    pub pre_node: Vec<u32>,
}

impl Block {
    pub fn len(&self) -> usize {
        self.node_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.node_index.is_empty()
    }

    /// Parameter `param` of instance `instance`, whether per instance or folded into the kernels.
    pub fn param_value(&self, param: u32, instance: usize) -> f64 {
        match self.params.iter().find(|(p, _)| *p == param) {
            Some((_, values)) => values[instance],
            None => self.constant_params.iter().find(|(p, _)| *p == param).map_or(f64::NAN, |(_, v)| *v),
        }
    }

    /// The instances that belong to cells `gids` (a range of gids).
    pub fn instances_of(&self, gids: std::ops::Range<u32>) -> std::ops::Range<usize> {
        let first = self.gids.partition_point(|g| *g < gids.start);
        let last = self.gids.partition_point(|g| *g < gids.end);
        first * self.per_cell..last * self.per_cell
    }

    /// Interprets `kernel` for instances `start..end` (the reference semantics every other
    /// back end must reproduce bit for bit).
    pub fn interpret(
        &mut self,
        kernel: &Kernel,
        nodes: &mut Nodes,
        ions: &mut [IonArrays],
        scalars: &[f64],
        start: usize,
        end: usize,
    ) {
        let mut values = vec![0.0; kernel.exprs.len()];
        for instance in start..end {
            self.interpret_one(kernel, nodes, ions, scalars, instance, 0.0, &mut values);
        }
    }

    /// Interprets the event kernel for one instance.
    pub fn interpret_event(
        &mut self,
        kernel: &Kernel,
        nodes: &mut Nodes,
        ions: &mut [IonArrays],
        scalars: &[f64],
        instance: usize,
        weight: f64,
    ) {
        let mut values = vec![0.0; kernel.exprs.len()];
        self.interpret_one(kernel, nodes, ions, scalars, instance, weight, &mut values);
    }

    #[allow(clippy::too_many_arguments)]
    fn interpret_one(
        &mut self,
        kernel: &Kernel,
        nodes: &mut Nodes,
        ions: &mut [IonArrays],
        scalars: &[f64],
        instance: usize,
        weight: f64,
        values: &mut [f64],
    ) {
        let node = self.node_index[instance] as usize;
        self.evaluate_at(&kernel.exprs, values, nodes, ions, scalars, instance, weight);
        for write in &kernel.writes {
            let value = values[write.value.0 as usize];
            match write.target {
                Target::State(s) => self.states[s as usize][instance] = value,
                Target::Current(c) => {
                    if let Some((_, v)) = self.currents.iter_mut().find(|(i, _)| *i == c) {
                        v[instance] = value;
                    }
                }
                Target::Derived(d) => {
                    if let Some((_, v)) = self.derived.iter_mut().find(|(i, _)| *i == d) {
                        v[instance] = value;
                    }
                }
                Target::NodeRhs => nodes.rhs[node] += value,
                Target::NodeDiagonal => nodes.diagonal[node] += value,
                Target::IonCurrent(u) => ions[self.species[u as usize]].current[node] += value,
                Target::IonConcentration(u, var) => ions[self.species[u as usize]].get_mut(var)[node] = value,
                Target::Partial(_) => unreachable!("stage kernels write no partials (artifact::validate)"),
            }
        }
    }
}

impl Block {
    /// Evaluates every expression of `exprs` (a kernel's, or its adjoint's) at instance
    /// `instance` into `values`, reading leaves as the interpreter does.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate_at(
        &self,
        exprs: &ExprArena,
        values: &mut [f64],
        nodes: &Nodes,
        ions: &[IonArrays],
        scalars: &[f64],
        instance: usize,
        weight: f64,
    ) {
        let node = self.node_index[instance] as usize;
        evaluate(exprs, values, |leaf| match leaf {
            Expr::Param(p) => self.param_value(p, instance),
            Expr::State(s) => self.states[s as usize][instance],
            Expr::Builtin(b) => match b {
                Builtin::V => nodes.v[node],
                Builtin::VPre => nodes.v[self.pre_node[instance] as usize],
                Builtin::Area => nodes.area[node],
                Builtin::Diam => nodes.diam[node],
                Builtin::T => scalars[SCALAR_T],
                Builtin::Dt => scalars[SCALAR_DT],
                Builtin::Celsius => scalars[SCALAR_CELSIUS],
            },
            Expr::Ion(u, var) => ions[self.species[u as usize]].get(var)[node],
            Expr::Weight => weight,
            _ => f64::NAN,
        });
    }
}

/// Evaluates every expression of a compacted arena in id order.
fn evaluate(exprs: &ExprArena, values: &mut [f64], leaf: impl Fn(Expr) -> f64) {
    use sylva_compiler::ir::expr::{eval_binary, eval_unary};
    for (id, e) in exprs.iter() {
        let v = |x: sylva_compiler::ir::expr::ExprId| values[x.0 as usize];
        let value = match e {
            Expr::Const(c) => c,
            Expr::Unary(op, a) => eval_unary(op, v(a)),
            Expr::Binary(op, a, b) => eval_binary(op, v(a), v(b)),
            Expr::Powi(a, n) => v(a).powi(n),
            Expr::Select(c, a, b) => {
                if v(c) != 0.0 {
                    v(a)
                } else {
                    v(b)
                }
            }
            leaf_expr => leaf(leaf_expr),
        };
        values[id.0 as usize] = value;
    }
}
