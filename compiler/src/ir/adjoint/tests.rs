//! Every partial of every stage kernel of every standard-library mechanism against central
//! finite differences of the forward kernel, at random states.

use super::*;
use crate::artifact::{Artifact, PlacementId};
use crate::driver::{Loader, compile};
use crate::ir::kernel::Kernels;
use crate::source::SourceDb;

struct NoFiles;

impl Loader for NoFiles {
    fn read(&mut self, path: &str) -> Result<String, String> {
        Err(format!("no file `{path}` in tests"))
    }
}

/// Every standard mechanism placed once (kinetic_k: a kinetic scheme; cadyn: a concentration;
/// exp2syn: an event handler), parameters kept as leaves (nothing folded but dt and celsius).
const MODEL: &str = r#"
import hh
import pas
import cadyn
import ca_hva
import sk
import ih
import kinetic_k
import exp2syn
import expsyn
import iclamp

cell c {
    morphology { section soma { length = 20 um, diam = 20 um, nseg = 1 } }
    insert hh in soma
    insert pas in soma
    insert cadyn in soma
    insert ca_hva in soma
    insert sk in soma
    insert ih in soma
    insert kinetic_k in soma
    synapse a = exp2syn at soma(0.5)
    synapse b = expsyn at soma(0.5)
}

network n {
    population p = c[1]
    stimulus s = iclamp at p[0].soma(0.5) { del = 1 ms, dur = 1 ms, amp = 0.1 nA }
}

simulation { dt = 0.025 ms, duration = 1 ms }
"#;

/// Per placement: the mechanism's name, its parameters' defaults, its kernels.
fn kernels() -> Vec<(String, Vec<f64>, Kernels)> {
    let mut db = SourceDb::new();
    let root = db.add("adjoint.syl", MODEL);
    let compilation = compile(&mut db, root, &mut NoFiles, &[]);
    let a: Artifact = compilation.artifact.unwrap_or_else(|| panic!("compiles: {:?}", compilation.diagnostics));
    let sim = &a.model.simulation;
    (0..a.placements.len())
        .map(|p| {
            let m = &a.model.mechanisms[a.placements[p].mechanism.index()];
            let defaults = m.params.iter().map(|q| q.default).collect();
            (m.name.clone(), defaults, a.specialize(PlacementId(p as u32), &[], sim.dt, sim.celsius))
        })
        .collect()
}

/// SplitMix64 in [0, 1).
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A leaf's value at a random but physiological point: v in [−80, 20] mV, states in (0, 1)
/// (concentrations 1e-4 mM and up), parameters within 20 % of their defaults, positive ion
/// values. (Far from the defaults, e.g. exp2syn with tau1 ≈ tau2, a kernel can be so
/// ill-conditioned that no difference quotient resolves its derivative.)
fn random_leaves(kernel: &Kernel, defaults: &[f64], rng: &mut Rng) -> Vec<(Expr, f64)> {
    let mut values: Vec<(Expr, f64)> = Vec::new();
    for (_, e) in kernel.exprs.iter() {
        let x = match e {
            Expr::Builtin(Builtin::V) => -80.0 + 100.0 * rng.unit(),
            Expr::Builtin(_) => 0.5 + rng.unit(),
            Expr::State(_) => 0.05 + 0.9 * rng.unit(),
            Expr::Param(p) => match defaults[p as usize] {
                0.0 => -1.0 + 2.0 * rng.unit(),
                d => d * (0.8 + 0.4 * rng.unit()),
            },
            Expr::Ion(_, IonVar::Reversal) => -90.0 + 140.0 * rng.unit(),
            Expr::Ion(..) => 1e-4 + rng.unit(),
            Expr::Weight => rng.unit(),
            _ => continue,
        };
        if !values.iter().any(|(l, _)| *l == e) {
            values.push((e, x));
        }
    }
    values
}

fn value_of(at: &[(Expr, f64)], leaf: Expr) -> f64 {
    at.iter().find(|(l, _)| *l == leaf).expect("a leaf of the kernel").1
}

#[test]
fn every_partial_matches_central_differences() {
    let mut rng = Rng(7);
    let mut checked = 0;
    for (name, defaults, k) in kernels() {
        for kernel in [&k.init, &k.current, &k.advance].into_iter().chain(&k.event) {
            let adjoint = adjoint(kernel);
            for _ in 0..20 {
                let at = random_leaves(kernel, &defaults, &mut rng);
                for p in &adjoint.partials {
                    let exact = adjoint.exprs.eval(p.value, &|leaf| value_of(&at, leaf));
                    let value = kernel.writes[p.write as usize].value;
                    let x0 = value_of(&at, p.wrt.leaf());
                    let h = 1e-6 * x0.abs().max(1e-3);
                    let shifted = |d: f64| {
                        kernel
                            .exprs
                            .eval(value, &|leaf| if leaf == p.wrt.leaf() { x0 + d } else { value_of(&at, leaf) })
                    };
                    let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
                    // Relative to the derivative, plus the rounding of the difference quotient
                    // itself (about ε·|f|/h, allowed 1e4 times over).
                    let rounding = 1e-12 * shifted(0.0).abs() / h;
                    assert!(
                        (exact - fd).abs() <= 1e-5 * exact.abs().max(fd.abs()) + rounding,
                        "{name} {:?} write {} d/d{:?}: {exact} vs {fd}",
                        kernel.stage,
                        p.write,
                        p.wrt
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 2_000, "{checked} partials checked");
}

#[test]
fn a_linear_current_has_one_partial_in_v() {
    // pas: i = g (v − e) writes −i·area to the rhs and dI/dv·area = g·area to the diagonal.
    // d²I/dv² = 0, so only the rhs has a partial in v.
    let all = kernels();
    let (_, _, pas) = all.iter().find(|(n, ..)| n == "pas").expect("pas");
    let adjoint = adjoint(&pas.current);
    let wrt_v: Vec<&Partial> = adjoint.partials.iter().filter(|p| p.wrt == Wrt::V).collect();
    assert_eq!(wrt_v.len(), 1, "{:?}", adjoint.partials);
    let target = pas.current.writes[wrt_v[0].write as usize].target;
    assert_eq!(target, crate::ir::kernel::Target::NodeRhs);
    // Every parameter and v appear, nothing else: pas reads g, e, v and the area (a constant).
    let mut wrts: Vec<Wrt> = adjoint.partials.iter().map(|p| p.wrt).collect();
    wrts.dedup();
    assert!(wrts.iter().all(|w| matches!(w, Wrt::V | Wrt::Param(_))), "{wrts:?}");
}

#[test]
fn the_event_weight_has_a_partial_in_event_kernels() {
    let all = kernels();
    let (_, _, exp2syn) = all.iter().find(|(n, ..)| n == "exp2syn").expect("exp2syn");
    let event = exp2syn.event.as_ref().expect("an event kernel");
    let adjoint = adjoint(event);
    assert!(adjoint.partials.iter().any(|p| p.wrt == Wrt::Weight), "{:?}", adjoint.partials);
}

#[test]
fn the_partials_kernel_stores_every_partial_in_order() {
    let all = kernels();
    let (_, _, hh) = all.iter().find(|(n, ..)| n == "hh").expect("hh");
    let adjoint = adjoint(&hh.advance);
    let kernel = adjoint.kernel(crate::ir::kernel::Stage::Advance);
    assert_eq!(kernel.writes.len(), adjoint.partials.len());
    for (k, (w, p)) in kernel.writes.iter().zip(&adjoint.partials).enumerate() {
        assert_eq!((w.target, w.value), (crate::ir::kernel::Target::Partial(k as u32), p.value));
    }
}

#[test]
fn a_fused_kernel_keeps_the_kernel_and_stores_the_partials_after_it() {
    let all = kernels();
    let (_, _, hh) = all.iter().find(|(n, ..)| n == "hh").expect("hh");
    let adjoint = adjoint(&hh.current);
    let fused = adjoint.fused(&hh.current, 5);
    let n = hh.current.writes.len();
    assert_eq!(fused.writes.len(), n + adjoint.partials.len());
    let targets: Vec<_> = fused.writes.iter().map(|w| w.target).collect();
    assert_eq!(targets[..n], hh.current.writes.iter().map(|w| w.target).collect::<Vec<_>>()[..]);
    for (k, w) in fused.writes[n..].iter().enumerate() {
        assert_eq!(w.target, crate::ir::kernel::Target::Partial(5 + k as u32));
    }
    // Shared subexpressions (the gates' rates) appear once.
    assert!(fused.exprs.len() < hh.current.exprs.len() + adjoint.exprs.len());
}
