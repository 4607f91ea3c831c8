//! The JIT against the reference semantics ([`ExprArena::eval`] with the kernel write rules),
//! bit for bit.

use std::collections::HashMap;

use sylva_compiler::ir::expr::{BinaryOp, Builtin, Expr, ExprArena, ExprId, IonVar, UnaryOp};
use sylva_compiler::ir::kernel::{self, Kernel, Stage, Target, Write};
use sylva_compiler::ir::{Mechanism, Model};

use super::{JitError, clif_text, compile};
use crate::cpu::slots::{SCALAR_COUNT, Slot};

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Every standard-library mechanism plus a user channel (sigmoid, `^2`, gates in inf/tau form);
/// `the_test_model_has_every_standard_mechanism` keeps the list complete.
const MODEL: &str = r#"
import hh
import pas
import iclamp
import seclamp
import expsyn
import exp2syn
import kinetic_k
import cadyn
import ca_hva
import sk
import ih
import graded_syn
import gap_junction

density cahva {
    ion ca { read eca, write ica }
    param gbar: S/cm2 = 2e-4 in [0, inf]
    param vhalf: mV = -25
    param slope: mV = 5 in [1e-9, inf]
    gate m {
        inf = sigmoid((v - vhalf) / slope)
        tau = 0.5 ms + 2 ms * exp(-((v + 30 mV) / 20 mV) ^ 2)
    }
    gate h {
        inf = 1 / (1 + exp((v + 45 mV) / 7 mV))
        tau = 80 ms
    }
    let g = gbar * m * m * h
    ica = g * (v - eca)
}

cell c {
    morphology {
        section soma { length = 20 um, diam = 20 um, nseg = 1 }
    }
    v_init = -65 mV
    insert hh in soma
    insert pas in soma
    insert kinetic_k in soma
    insert cahva in soma
    insert cadyn in soma
    insert ca_hva in soma
    insert sk in soma
    insert ih in soma
    synapse s1 = expsyn at soma(0.5)
    synapse s2 = exp2syn at soma(0.5)
    synapse s3 = graded_syn at soma(0.5)
    synapse s4 = gap_junction at soma(0.5)
}

network main {
    population cells = c[1]
    stimulus clamp = iclamp at cells[0].soma(0.5) { del = 1 ms, dur = 1 ms, amp = 0.1 nA }
    stimulus hold = seclamp at cells[0].soma(0.5) { rs = 10 MOhm, dur1 = 0.5 ms, amp1 = -60 mV, dur2 = 0.3 ms, amp2 = -20 mV }
}

simulation {
    dt = 0.025 ms
    duration = 1 ms
    temperature = 6.3 degC
}
"#;

fn model() -> Model {
    crate::test_models::compiled("jit_test.syl", MODEL).model
}

fn kernels_of(m: &Mechanism) -> Vec<Kernel> {
    let stored = kernel::Stored {
        currents: (0..m.currents.len() as u32).collect(),
        derived: (0..m.derived.len() as u32).collect(),
    };
    let k = kernel::lower(m, &stored);
    let mut out = vec![k.init, k.current, k.advance];
    out.extend(k.event);
    out
}

fn leaf_slot(e: Expr) -> Option<Slot> {
    match e {
        Expr::Param(i) => Some(Slot::Param(i)),
        Expr::State(i) => Some(Slot::State(i)),
        Expr::Builtin(Builtin::V) | Expr::Builtin(Builtin::VPre) => Some(Slot::Voltage),
        Expr::Builtin(Builtin::Area) => Some(Slot::Area),
        Expr::Builtin(Builtin::Diam) => Some(Slot::Diam),
        Expr::Ion(u, v) => Some(Slot::Ion(u, v)),
        _ => None,
    }
}

/// (slot, whether the write accumulates).
fn target_slot(t: Target) -> (Slot, bool) {
    match t {
        Target::State(i) => (Slot::State(i), false),
        Target::Current(i) => (Slot::Current(i), false),
        Target::Derived(i) => (Slot::Derived(i), false),
        Target::NodeRhs => (Slot::Rhs, true),
        Target::NodeDiagonal => (Slot::Diagonal, true),
        Target::IonCurrent(u) => (Slot::Ion(u, IonVar::Current), true),
        Target::IonConcentration(u, v) => (Slot::Ion(u, v), false),
        Target::Partial(k) => (Slot::Partial(k), false),
    }
}

fn is_per_node(s: Slot) -> bool {
    matches!(s, Slot::Voltage | Slot::Rhs | Slot::Diagonal | Slot::Area | Slot::Diam | Slot::Ion(..))
}

/// The slots a kernel uses, in a scrambled order, with the node index somewhere in between.
fn slots_of(k: &Kernel, rng: &mut Rng) -> Vec<Slot> {
    let mut slots = vec![Slot::NodeIndex];
    let mut add = |s: Slot| {
        if !slots.contains(&s) {
            slots.push(s);
        }
    };
    for (_, e) in k.exprs.iter() {
        if let Some(s) = leaf_slot(e) {
            add(s);
        }
        if e == Expr::Builtin(Builtin::VPre) {
            add(Slot::PreNodeIndex);
        }
    }
    for w in &k.writes {
        add(target_slot(w.target).0);
    }
    for i in (1..slots.len()).rev() {
        let j = rng.below(i + 1);
        slots.swap(i, j);
    }
    slots
}

/// The memory of one block: every array of the slot list.
#[derive(Clone)]
struct Memory {
    node_index: Vec<u32>,
    /// Where `v_pre` reads, any node (another cell's, in a network).
    pre_node_index: Vec<u32>,
    arrays: HashMap<Slot, Vec<f64>>,
    scalars: [f64; SCALAR_COUNT],
}

impl Memory {
    fn random(slots: &[Slot], params: &[(f64, f64, f64)], instances: usize, nodes: Nodes, rng: &mut Rng) -> Memory {
        // Every node gets at least one instance when there are enough; the rest share nodes.
        let mut node_index: Vec<u32> = (0..instances).map(|i| (i % nodes.count) as u32).collect();
        if !nodes.in_order {
            for i in (1..instances).rev() {
                let j = rng.below(i + 1);
                node_index.swap(i, j);
            }
        }
        let nodes = nodes.count;
        let pre_node_index = (0..instances).map(|_| rng.below(nodes) as u32).collect();
        let mut arrays = HashMap::new();
        for &s in slots {
            if matches!(s, Slot::NodeIndex | Slot::PreNodeIndex) {
                continue;
            }
            let len = if is_per_node(s) { nodes } else { instances };
            let values = (0..len)
                .map(|_| match s {
                    Slot::Voltage => rng.uniform(-90.0, 50.0),
                    Slot::Area => rng.uniform(50.0, 2000.0),
                    Slot::Diam => rng.uniform(0.2, 20.0),
                    Slot::Rhs | Slot::Diagonal => rng.uniform(-1.0, 1.0),
                    Slot::Param(i) => {
                        let (default, min, max) = params.get(i as usize).copied().unwrap_or((1.0, 0.0, 2.0));
                        let x = if default == 0.0 { rng.uniform(0.0, 1.0) } else { default * rng.uniform(0.8, 1.2) };
                        x.clamp(min, max)
                    }
                    Slot::State(_) => rng.unit(),
                    Slot::Current(_) | Slot::Derived(_) | Slot::Partial(_) => rng.uniform(-5.0, 5.0),
                    Slot::Ion(_, IonVar::Reversal) => rng.uniform(-90.0, 130.0),
                    Slot::Ion(_, IonVar::Inside) => rng.uniform(1e-5, 20.0),
                    Slot::Ion(_, IonVar::Outside) => rng.uniform(1.0, 150.0),
                    Slot::Ion(_, IonVar::Current) => rng.uniform(-1e-2, 1e-2),
                    Slot::NodeIndex | Slot::PreNodeIndex => unreachable!(),
                })
                .collect();
            arrays.insert(s, values);
        }
        let scalars = [rng.uniform(0.0, 3.0), 0.025, rng.uniform(6.0, 37.0)];
        Memory { node_index, pre_node_index, arrays, scalars }
    }

    /// The pointer table in slot-list order.
    fn table(&mut self, slots: &[Slot]) -> Vec<*mut u8> {
        slots
            .iter()
            .map(|s| match s {
                Slot::NodeIndex => self.node_index.as_mut_ptr() as *mut u8,
                Slot::PreNodeIndex => self.pre_node_index.as_mut_ptr() as *mut u8,
                s => self.arrays.get_mut(s).expect("allocated").as_mut_ptr() as *mut u8,
            })
            .collect()
    }

    /// The reference: one instance, values from `eval` on the memory before its writes.
    fn reference(&mut self, k: &Kernel, instance: usize, weight: f64) {
        let node = self.node_index[instance] as usize;
        let values: Vec<f64> = {
            let leaf = |e: Expr| -> f64 {
                match e {
                    Expr::Builtin(Builtin::T) => self.scalars[0],
                    Expr::Builtin(Builtin::Dt) => self.scalars[1],
                    Expr::Builtin(Builtin::Celsius) => self.scalars[2],
                    Expr::Weight => weight,
                    Expr::Builtin(Builtin::VPre) => self.arrays[&Slot::Voltage][self.pre_node_index[instance] as usize],
                    e => {
                        let s = leaf_slot(e).expect("a memory leaf");
                        self.arrays[&s][if is_per_node(s) { node } else { instance }]
                    }
                }
            };
            k.writes.iter().map(|w| k.exprs.eval(w.value, &leaf)).collect()
        };
        for (w, v) in k.writes.iter().zip(values) {
            let (s, accumulate) = target_slot(w.target);
            let at = if is_per_node(s) { node } else { instance };
            let cell = &mut self.arrays.get_mut(&s).expect("allocated")[at];
            if accumulate {
                *cell += v;
            } else {
                *cell = v;
            }
        }
    }

    fn assert_bit_identical(&self, other: &Memory, what: &str) {
        for (s, a) in &self.arrays {
            let b = &other.arrays[s];
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    x.to_bits() == y.to_bits(),
                    "{what}: slot {s:?}[{i}]: reference {x:e} ({:#x}), JIT {y:e} ({:#x})",
                    x.to_bits(),
                    y.to_bits()
                );
            }
        }
    }
}

/// How many nodes the instances sit on, and whether instance `i` is on node `i % count` (runs
/// of consecutive nodes, as density mechanisms have) or on a shuffled one.
#[derive(Copy, Clone)]
struct Nodes {
    count: usize,
    in_order: bool,
}

const fn shuffled(count: usize) -> Nodes {
    Nodes { count, in_order: false }
}

/// Runs `k` through the JIT and through the reference on the same random memory; compares.
fn check_kernel(k: &Kernel, params: &[(f64, f64, f64)], what: &str, rng: &mut Rng) {
    check_kernel_on(k, params, what, shuffled(120), rng);
    // Few nodes: neighbouring instances (the two lanes of one pass) often share a node.
    check_kernel_on(k, params, &format!("{what}, 3 nodes"), shuffled(3), rng);
    // Runs of 37 consecutive nodes: passes on consecutive nodes, and passes across a run's end.
    check_kernel_on(k, params, &format!("{what}, nodes in order"), Nodes { count: 37, in_order: true }, rng);
}

/// Ranges of every length modulo 4, starting at even and odd instances, empty and of one
/// instance, so that the four-instance body, the two-lane body, the scalar tail, whole and
/// partial phased blocks and their mixes all run.
const RANGES: [(usize, usize); 11] =
    [(0, 1), (1, 2), (2, 5), (5, 5), (5, 8), (8, 37), (37, 100), (100, 299), (299, 300), (40, 46), (51, 58)];

fn check_kernel_on(k: &Kernel, params: &[(f64, f64, f64)], what: &str, nodes: Nodes, rng: &mut Rng) {
    const INSTANCES: usize = 300;
    let slots = slots_of(k, rng);
    let jit = compile(k, &slots).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut reference = Memory::random(&slots, params, INSTANCES, nodes, rng);
    let mut native = reference.clone();
    let table = native.table(&slots);
    if k.stage == Stage::Event {
        for _ in 0..100 {
            let instance = rng.below(INSTANCES);
            let weight = rng.uniform(0.0, 0.1);
            reference.reference(k, instance, weight);
            // SAFETY: the table holds every slot the kernel was compiled with, sized for all
            // instances and nodes.
            unsafe { jit.run_event(table.as_ptr(), native.scalars.as_ptr(), instance, weight) };
        }
    } else {
        for (start, end) in RANGES.into_iter().chain([(0, INSTANCES), (1, INSTANCES)]) {
            for i in start..end {
                reference.reference(k, i, 0.0);
            }
            // SAFETY: as above.
            unsafe { jit.run(table.as_ptr(), native.scalars.as_ptr(), start, end) };
        }
    }
    reference.assert_bit_identical(&native, what);
}

/// The mechanisms the standard library declares (`density NAME` and `point NAME` items).
fn standard_mechanisms() -> Vec<&'static str> {
    let items = sylva_compiler::stdlib::names().flat_map(|module| {
        let text = sylva_compiler::stdlib::source(module).expect("a module has a source");
        text.lines().filter_map(|line| line.strip_prefix("density ").or_else(|| line.strip_prefix("point ")))
    });
    items.map(|rest| rest.split_whitespace().next().expect("a name")).collect()
}

#[test]
fn the_test_model_has_every_standard_mechanism() {
    let model = model();
    let names: Vec<&str> = model.mechanisms.iter().map(|m| m.name.as_str()).collect();
    let standard = standard_mechanisms();
    assert!(standard.len() >= 10, "{standard:?}");
    for expected in standard.iter().chain(&["cahva"]) {
        assert!(names.contains(expected), "{expected} is missing from the JIT test model: {names:?}");
    }
}

#[test]
fn every_standard_mechanism_matches_eval_bit_for_bit() {
    let model = model();
    let mut rng = Rng(0x5eed);
    for m in &model.mechanisms {
        let params: Vec<(f64, f64, f64)> = m.params.iter().map(|p| (p.default, p.min, p.max)).collect();
        for k in kernels_of(m) {
            let what = format!("{} {:?}", m.name, k.stage);
            for round in 0..3 {
                check_kernel(&k, &params, &format!("{what} (round {round})"), &mut rng);
            }
        }
    }
}

/// The kernels of the adjoints' partials (`grad` compiles them), fused with their stage
/// kernel: second derivatives of currents, derivatives of every gate and kinetic update,
/// in every stage.
#[test]
fn every_adjoint_partials_kernel_matches_eval_bit_for_bit() {
    let model = model();
    let mut rng = Rng(0xad70);
    for m in &model.mechanisms {
        let params: Vec<(f64, f64, f64)> = m.params.iter().map(|p| (p.default, p.min, p.max)).collect();
        for k in kernels_of(m) {
            // The partials alone (`AdjointKernel::kernel`) are this with no stage writes.
            let fused = sylva_compiler::ir::adjoint::adjoint(&k).fused(&k, 3);
            check_kernel(&fused, &params, &format!("{} {:?} fused with its adjoint", m.name, k.stage), &mut rng);
        }
    }
}

#[test]
fn specialised_kernels_match_eval() {
    let model = model();
    let mut rng = Rng(42);
    for m in &model.mechanisms {
        let params: Vec<(f64, f64, f64)> = m.params.iter().map(|p| (p.default, p.min, p.max)).collect();
        for k in kernels_of(m) {
            // dt, celsius and the first parameter become constants, as the engine does.
            let first = params.first().map(|p| p.0);
            let special = kernel::specialize(&k, &|e| match e {
                Expr::Builtin(Builtin::Dt) => Some(0.025),
                Expr::Builtin(Builtin::Celsius) => Some(6.3),
                Expr::Param(0) => first,
                _ => None,
            });
            let special = kernel::compact(special);
            check_kernel(&special, &params, &format!("{} {:?} specialised", m.name, k.stage), &mut rng);
        }
    }
}

/// A kernel with every operator, on values that include NaN, infinities and signed zeros.
#[test]
fn every_operator_matches_eval_on_special_values() {
    let mut a = ExprArena::new();
    let x = a.leaf(Expr::State(0));
    let y = a.leaf(Expr::State(1));
    let c = a.leaf(Expr::State(2));
    let mut outputs: Vec<ExprId> = Vec::new();
    for op in [
        UnaryOp::Neg,
        UnaryOp::Not,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log10,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
    ] {
        outputs.push(a.unary(op, x));
    }
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Min,
        BinaryOp::Max,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::And,
        BinaryOp::Or,
    ] {
        outputs.push(a.binary(op, x, y));
        outputs.push(a.binary(op, y, x));
    }
    for n in [-31, -8, -7, -3, -2, -1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 100, i32::MAX, i32::MIN] {
        outputs.push(a.powi(x, n));
    }
    outputs.push(a.select(c, x, y));
    let k = Kernel {
        stage: Stage::Current,
        writes: outputs
            .iter()
            .enumerate()
            .map(|(i, v)| Write { target: Target::Current(i as u32), value: *v })
            .collect(),
        exprs: a,
    };
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        1.0000001,
        3.7,
        -700.0,
        710.0,
        1e-310,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
    ];
    let slots: Vec<Slot> = [Slot::State(0), Slot::State(1), Slot::State(2)]
        .into_iter()
        .chain((0..outputs.len() as u32).map(Slot::Current))
        .collect();
    let instances = specials.len() * specials.len();
    let mut reference = Memory {
        node_index: vec![0; instances],
        pre_node_index: vec![0; instances],
        arrays: slots.iter().map(|s| (*s, vec![0.0; instances])).collect(),
        scalars: [0.0, 0.025, 6.3],
    };
    let mut i = 0;
    for &p in &specials {
        for &q in &specials {
            reference.arrays.get_mut(&Slot::State(0)).unwrap()[i] = p;
            reference.arrays.get_mut(&Slot::State(1)).unwrap()[i] = q;
            reference.arrays.get_mut(&Slot::State(2)).unwrap()[i] = specials[(i * 7) % specials.len()];
            i += 1;
        }
    }
    let mut native = reference.clone();
    let table = native.table(&slots);
    let jit = compile(&k, &slots).expect("compiles");
    for i in 0..instances {
        reference.reference(&k, i, 0.0);
    }
    // SAFETY: every slot is allocated for every instance; no per-node slot is used.
    unsafe { jit.run(table.as_ptr(), native.scalars.as_ptr(), 0, instances) };
    reference.assert_bit_identical(&native, "operators");
}

/// The inline exp, in both lanes and in the scalar tail, against `ir::math::exp` (which the
/// reference evaluator uses) over its whole range, including the clamps, subnormal results and
/// special values.
#[test]
fn inline_exp_matches_math_exp_bit_for_bit() {
    let mut a = ExprArena::new();
    let x = a.leaf(Expr::State(0));
    let e = a.unary(UnaryOp::Exp, x);
    let k = Kernel { stage: Stage::Advance, writes: vec![Write { target: Target::State(1), value: e }], exprs: a };
    let slots = [Slot::State(0), Slot::State(1)];
    let jit = compile(&k, &slots).expect("compiles");
    let mut rng = Rng(7);
    let mut xs: Vec<f64> = (0..200_001)
        .map(|i| match i % 4 {
            0 => rng.uniform(-760.0, 720.0),
            1 => rng.uniform(-2.0, 2.0),
            2 => rng.uniform(-746.0, -700.0),
            _ => rng.uniform(700.0, 711.0),
        })
        .collect();
    xs.extend(super::batch::SPECIAL_ARGUMENTS);
    let mut out = vec![0.0f64; xs.len()];
    let table = [xs.as_mut_ptr() as *mut u8, out.as_mut_ptr() as *mut u8];
    let scalars = [0.0; SCALAR_COUNT];
    // SAFETY: both slots hold xs.len() values; no per-node slot is used.
    unsafe { jit.run(table.as_ptr(), scalars.as_ptr(), 0, xs.len()) };
    for (x, y) in xs.iter().zip(&out) {
        let want = sylva_compiler::ir::math::exp(*x);
        assert_eq!(y.to_bits(), want.to_bits(), "exp({x:e}): JIT {y:e}, math::exp {want:e}");
    }
}

/// A kernel that reads per-node ion values it also writes: with instances sharing nodes, each
/// instance must see the writes of the one before it, even when both would share a pass.
#[test]
fn reads_after_writes_on_shared_nodes_follow_instance_order() {
    let mut a = ExprArena::new();
    let cai = a.leaf(Expr::Ion(0, IonVar::Inside));
    let ica = a.leaf(Expr::Ion(0, IonVar::Current));
    let s = a.leaf(Expr::State(0));
    let half = a.constant_expr(0.5);
    let e = a.unary(UnaryOp::Exp, s);
    let t = a.mul(cai, half);
    let new_cai = a.add(t, e);
    let di = a.mul(ica, s);
    let k = Kernel {
        stage: Stage::Advance,
        writes: vec![
            Write { target: Target::IonConcentration(0, IonVar::Inside), value: new_cai },
            Write { target: Target::IonCurrent(0), value: di },
            Write { target: Target::State(0), value: new_cai },
        ],
        exprs: a,
    };
    let mut rng = Rng(11);
    for nodes in [1, 2, 3, 50] {
        check_kernel_on(&k, &[], &format!("ion hazard, {nodes} nodes"), shuffled(nodes), &mut rng);
    }
}

/// Phased blocks (exps in batches): values kept across phases (one computed in phase 0 and
/// used in phases 0 and 2 and written), exps of exps, a per-node sum of a phase-2 value, and a
/// chain of exps too deep for phases (it takes the quad body) — all against `eval`, on ranges
/// of one to several blocks, with instances that share nodes.
#[test]
fn phased_blocks_match_eval_with_nested_exps_and_kept_values() {
    let mut a = ExprArena::new();
    let s0 = a.leaf(Expr::State(0));
    let s1 = a.leaf(Expr::State(1));
    let v = a.leaf(Expr::Builtin(Builtin::V));
    let tenth = a.constant_expr(0.1);
    let kept = a.mul(s0, tenth);
    let e1 = a.unary(UnaryOp::Exp, kept);
    let scaled = a.mul(e1, v);
    let small = a.constant_expr(-0.01);
    let arg2 = a.mul(scaled, small);
    let e2 = a.unary(UnaryOp::Exp, arg2);
    let sum = a.add(e2, kept);
    let e3 = a.unary(UnaryOp::Exp, sum);
    let new_s1 = a.add(e3, s1);
    let mut deep = s1;
    for _ in 0..40 {
        let t = a.mul(deep, tenth);
        deep = a.unary(UnaryOp::Exp, t);
    }
    let nested = Kernel {
        stage: Stage::Advance,
        writes: vec![
            Write { target: Target::State(0), value: kept },
            Write { target: Target::State(1), value: new_s1 },
            Write { target: Target::NodeRhs, value: sum },
        ],
        exprs: a.clone(),
    };
    let too_deep =
        Kernel { stage: Stage::Advance, writes: vec![Write { target: Target::State(2), value: deep }], exprs: a };
    let mut rng = Rng(17);
    for nodes in [shuffled(3), shuffled(120), Nodes { count: 37, in_order: true }] {
        let n = nodes.count;
        check_kernel_on(&nested, &[], &format!("nested exps, {n} nodes"), nodes, &mut rng);
        check_kernel_on(&too_deep, &[], &format!("41 nested exps, {n} nodes"), nodes, &mut rng);
    }
    let text = clif_text(&too_deep, &[Slot::State(1), Slot::State(2)]).expect("builds");
    assert!(!text.contains("sylva_exp_block"), "{text}");
}

#[test]
fn missing_slot_is_an_error_not_a_panic() {
    let mut a = ExprArena::new();
    let p = a.leaf(Expr::Param(3));
    let v = a.leaf(Expr::Builtin(Builtin::V));
    let s = a.add(p, v);
    let k = Kernel { stage: Stage::Current, exprs: a, writes: vec![Write { target: Target::Current(0), value: s }] };
    let err = compile(&k, &[Slot::NodeIndex, Slot::Voltage, Slot::Current(0)]).expect_err("Param(3) has no slot");
    assert!(matches!(err, JitError::MissingSlot { slot: Slot::Param(3), .. }), "{err:?}");
    assert!(err.to_string().contains("Param(3)"), "{err}");
    // A per-node leaf without the node index.
    let err = compile(&k, &[Slot::Param(3), Slot::Voltage, Slot::Current(0)]).expect_err("no node index");
    assert!(matches!(err, JitError::MissingSlot { slot: Slot::NodeIndex, .. }), "{err:?}");
}

#[test]
fn clif_text_shows_the_function() {
    let model = model();
    let hh = model.mechanisms.iter().find(|m| m.name == "hh").expect("hh");
    let mut rng = Rng(1);
    for k in kernels_of(hh) {
        let slots = slots_of(&k, &mut rng);
        let text = clif_text(&k, &slots).expect("builds");
        assert!(text.contains("function"), "{text}");
        match k.stage {
            Stage::Current => assert!(text.contains("sylva_pow"), "{text}"),
            // Blocks of instances batch their exps through the native exp_block; the instances
            // after the last block have exp inline, in two lanes and in the scalar body.
            Stage::Advance => {
                assert!(text.contains("sylva_exp_block") && text.contains("explicit_slot"), "{text}");
                assert!(text.contains("f64x2") && text.contains("i64x2"), "{text}");
            }
            _ => {}
        }
    }
}
