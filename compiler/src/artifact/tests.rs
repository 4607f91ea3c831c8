//! Species resolution, stored values, KernelInfo and both validators on small models.

use super::*;
use crate::driver::{Loader, compile};
use crate::ir::expr::{Builtin, ExprId, IonVar, UnaryOp};
use crate::ir::kernel::{Kernel, Stage, Target, Write};
use crate::ir::{ValidationError, validate as validate_ir};
use crate::source::SourceDb;

struct NoFiles;

impl Loader for NoFiles {
    fn read(&mut self, path: &str) -> Result<String, String> {
        Err(format!("no file `{path}` in tests"))
    }
}

fn artifact(text: &str) -> Artifact {
    let mut db = SourceDb::new();
    let root = db.add("model.syl", text);
    let compilation = compile(&mut db, root, &mut NoFiles, &[]);
    compilation.artifact.unwrap_or_else(|| panic!("compiles: {:?}", compilation.diagnostics))
}

/// hh (fixed na, k made Nernst by its cell) and cadyn writing cai, two clamps on one node.
const MODEL: &str = r#"
import hh
import pas
import cadyn
import ca_hva
import iclamp

cell soma_cell {
    morphology {
        section soma { length = 20 um, diam = 20 um, nseg = 1 }
    }
    species k { reversal = nernst }
    insert hh in soma
    insert cadyn in soma
    insert ca_hva in soma
}

cell unused {
    morphology {
        section soma { length = 10 um, diam = 10 um, nseg = 1 }
    }
    insert pas in soma
}

network main {
    population cells = soma_cell[2]
    stimulus first = iclamp at cells[0].soma(0.5) { del = 1 ms, dur = 1 ms, amp = 0.1 nA }
    stimulus second = iclamp at cells[1].soma(0.5) { del = 2 ms, dur = 1 ms, amp = 0.1 nA }
    probe "second_i" = second.i
    probe "cai" = cadyn.cai at cells[0].soma(0.5)
}

simulation {
    dt = 0.025 ms
    duration = 5 ms
}
"#;

fn species<'a>(a: &'a Artifact, name: &str) -> &'a ResolvedSpecies {
    a.species.iter().find(|s| s.name == name).expect("species")
}

fn placement_of<'a>(a: &'a Artifact, mech: &str) -> &'a PlacementKernels {
    &a.placements[a.first_placement_of(mech).expect("placed")]
}

#[test]
fn a_written_concentration_makes_the_species_follow_nernst() {
    let a = artifact(MODEL);
    let ca = species(&a, "ca");
    assert_eq!((ca.charge, ca.reversal), (2, Reversal::Nernst(NernstBecause::ConcentrationWritten)));
}

#[test]
fn a_declared_reversal_is_fixed_and_a_declared_nernst_is_not() {
    let a = artifact(MODEL);
    assert_eq!(species(&a, "na").reversal, Reversal::Fixed);
    assert_eq!(species(&a, "k").reversal, Reversal::Nernst(NernstBecause::Declared));
    // Every ion use maps to the species of its name.
    for (m, ids) in a.model.mechanisms.iter().zip(&a.ion_species) {
        for (u, id) in m.ions.iter().zip(ids) {
            assert_eq!(a.species[id.index()].name, u.species);
        }
    }
}

#[test]
fn placements_follow_block_order_and_skip_cell_types_without_cells() {
    let a = artifact(MODEL);
    let cell = CellId(0);
    let order: Vec<Placement> = a.placements.iter().map(|p| p.placement).collect();
    assert_eq!(
        order,
        [
            Placement::Density { cell, instance: ir::DensityId(0) },
            Placement::Density { cell, instance: ir::DensityId(1) },
            Placement::Density { cell, instance: ir::DensityId(2) },
            Placement::Stimulus(ir::StimulusId(0)),
            Placement::Stimulus(ir::StimulusId(1)),
        ]
    );
}

#[test]
fn stimuli_of_one_mechanism_store_the_union_of_what_probes_read() {
    let a = artifact(MODEL);
    let stored: Vec<&Stored> =
        a.placements.iter().filter(|p| matches!(p.placement, Placement::Stimulus(_))).map(|p| &p.stored).collect();
    // Only the second clamp is probed; the first stores its current too.
    assert_eq!(stored, [&Stored { currents: vec![0], derived: vec![] }; 2]);
    assert_eq!(placement_of(&a, "hh").stored, Stored::default());
}

fn same_kernel(a: &Kernel, b: &Kernel) -> bool {
    a.stage == b.stage && a.writes == b.writes && a.exprs.iter().eq(b.exprs.iter())
}

#[test]
fn specialize_gives_the_kernels_of_lower_then_specialize() {
    let a = artifact(MODEL);
    let (dt, celsius) = (0.025, 6.3);
    for (p, pk) in a.placements.iter().enumerate() {
        let constants = [(0, 1.5), (2, -3.0)];
        let ours = a.specialize(PlacementId(p as u32), &constants, dt, celsius);
        let lowered = kernel::lower(&a.model.mechanisms[pk.mechanism.index()], &pk.stored);
        let constant = |leaf: Expr| match leaf {
            Expr::Param(i) => constants.iter().find(|(k, _)| *k == i).map(|(_, v)| *v),
            Expr::Builtin(Builtin::Dt) => Some(dt),
            Expr::Builtin(Builtin::Celsius) => Some(celsius),
            _ => None,
        };
        let pairs = [(&ours.init, &lowered.init), (&ours.current, &lowered.current), (&ours.advance, &lowered.advance)];
        for (mine, reference) in pairs {
            assert!(same_kernel(mine, &kernel::specialize(reference, &constant)), "{:?}", pk.placement);
        }
        assert_eq!(ours.event.is_some(), lowered.event.is_some());
    }
}

#[test]
fn hh_accumulates_node_and_ion_currents_and_stores_only_its_states() {
    let a = artifact(MODEL);
    let hh = &placement_of(&a, "hh").info;
    let current = &hh.current;
    assert!(current.reads.contains(&Leaf::Builtin(Builtin::V)));
    assert!(current.reads.contains(&Leaf::Ion(0, IonVar::Reversal)));
    let accumulated = [Target::NodeRhs, Target::NodeDiagonal, Target::IonCurrent(0), Target::IonCurrent(1)];
    assert_eq!(current.accumulates, accumulated);
    assert!(current.stores.is_empty());
    assert_eq!(current.hazards, accumulated.map(Hazard::SharedAccumulator));
    assert_eq!(hh.advance.stores, [Target::State(0), Target::State(1), Target::State(2)]);
    assert!(hh.advance.accumulates.is_empty() && hh.advance.hazards.is_empty());
    assert!(!hh.advance.reads.iter().any(|l| matches!(l, Leaf::Weight | Leaf::Ion(..))));
}

#[test]
fn cadyn_stores_its_concentration_at_the_node() {
    let a = artifact(MODEL);
    let advance = &placement_of(&a, "cadyn").info.advance;
    let cai = Target::IonConcentration(0, IonVar::Inside);
    assert_eq!(advance.stores, [Target::State(0), cai]);
    assert!(advance.reads.contains(&Leaf::Ion(0, IonVar::Current)));
    assert_eq!(advance.hazards, [Hazard::SharedStore(cai)]);
}

#[test]
fn a_concentration_read_and_stored_in_one_kernel_is_a_hazard() {
    let mut exprs = crate::ir::expr::ExprArena::new();
    let cai = exprs.leaf(Expr::Ion(0, IonVar::Inside));
    let value = exprs.unary(UnaryOp::Abs, cai);
    let target = Target::IonConcentration(0, IonVar::Inside);
    let kernel = Kernel { stage: Stage::Advance, exprs, writes: vec![Write { target, value }] };
    let info = KernelInfo::of(&kernel);
    assert_eq!(info.hazards, [Hazard::SharedStore(target), Hazard::ReadsWritten { ion: 0, var: IonVar::Inside }]);
}

fn ir_errors(model: &crate::ir::Model) -> Vec<ValidationError> {
    validate_ir(model).expect_err("broken")
}

#[test]
fn the_ir_validator_names_what_is_broken() {
    let valid = artifact(MODEL).model;
    let hh = valid.mechanisms.iter().position(|m| m.name == "hh").expect("hh");
    let mech = MechId(hh as u32);

    let mut model = valid.clone();
    let exprs = &mut model.mechanisms[hh].exprs;
    let after = ExprId(exprs.len() as u32 + 1);
    let broken = exprs.push_unchecked(Expr::Unary(UnaryOp::Neg, after));
    let errors = ir_errors(&model);
    assert!(errors.contains(&ValidationError::OperandNotBefore {
        mech,
        mech_name: "hh".into(),
        expr: broken,
        operand: after
    }));
    assert_eq!(errors[0].to_string(), format!("mech{hh} hh: operand e{} is not before e{}", after.0, broken.0));

    let mut model = valid.clone();
    let expr = model.mechanisms[hh].exprs.leaf(Expr::State(99));
    assert_eq!(ir_errors(&model), [ValidationError::MissingLeaf { mech, mech_name: "hh".into(), expr }]);

    let mut model = valid.clone();
    model.mechanisms[hh].states[0].writes_ion = Some((ir::IonUseId(9), IonVar::Inside));
    assert_eq!(ir_errors(&model), [ValidationError::StateWritesMissingIon { mech, state: 0, name: "m".into() }]);

    let mut model = valid.clone();
    model.cells[0].density[0].params.pop();
    assert_eq!(ir_errors(&model), [ValidationError::DensityParamCount(CellId(0), 0)]);

    let mut model = valid.clone();
    model.network.stimuli[1].params.push(1.0);
    assert_eq!(ir_errors(&model), [ValidationError::StimulusParamCount { stimulus: 1, name: "second".into() }]);

    let mut model = valid;
    model.simulation.celsius = -300.0;
    let errors = ir_errors(&model);
    assert_eq!(errors, [ValidationError::BelowAbsoluteZero]);
    assert_eq!(errors[0].to_string(), "simulation temperature below absolute zero");
}

fn artifact_errors(a: &Artifact) -> Vec<ArtifactError> {
    validate(a).expect_err("broken")
}

#[test]
fn the_artifact_validator_names_what_is_broken() {
    let valid = artifact(MODEL);
    assert_eq!(validate(&valid), Ok(()));
    let p = valid
        .placements
        .iter()
        .position(|p| p.placement == Placement::Density { cell: CellId(0), instance: ir::DensityId(0) });
    let placement = PlacementId(p.expect("hh placed") as u32);
    fn current_kernel(a: &mut Artifact, placement: PlacementId) -> &mut Kernel {
        &mut a.placements[placement.index()].kernels.current
    }
    let stage = Stage::Current;

    let mut a = valid.clone();
    let exprs = &mut current_kernel(&mut a, placement).exprs;
    let after = exprs.len() as u32 + 3;
    let expr = exprs.push_unchecked(Expr::Unary(UnaryOp::Neg, ExprId(after))).0;
    assert!(artifact_errors(&a).contains(&ArtifactError::OperandNotBefore { placement, stage, expr, operand: after }));

    let mut a = valid.clone();
    let expr = current_kernel(&mut a, placement).exprs.leaf(Expr::Param(99)).0;
    let errors = artifact_errors(&a);
    assert!(errors.contains(&ArtifactError::MissingLeaf { placement, stage, expr }));
    // The kernel changed after its KernelInfo was computed.
    assert!(errors.contains(&ArtifactError::InfoMismatch { placement, stage }));

    let mut a = valid.clone();
    let expr = current_kernel(&mut a, placement).exprs.leaf(Expr::Weight).0;
    assert!(artifact_errors(&a).contains(&ArtifactError::WeightOutsideEvent { placement, stage, expr }));

    let mut a = valid.clone();
    let value = ExprId(0);
    current_kernel(&mut a, placement).writes.push(Write { target: Target::State(7), value });
    current_kernel(&mut a, placement).writes.push(Write { target: Target::Current(0), value });
    current_kernel(&mut a, placement).writes.push(Write { target: Target::Partial(0), value });
    let errors = artifact_errors(&a);
    assert!(errors.contains(&ArtifactError::WriteTargetOutOfRange { placement, stage, target: Target::State(7) }));
    // Only adjoint kernels write partials.
    assert!(errors.contains(&ArtifactError::WriteTargetOutOfRange { placement, stage, target: Target::Partial(0) }));
    assert!(errors.contains(&ArtifactError::WriteNotStored { placement, stage, target: Target::Current(0) }));

    let mut a = valid.clone();
    a.ion_species[placement_of(&valid, "hh").mechanism.index()].pop();
    let mech = placement_of(&valid, "hh").mechanism;
    assert_eq!(artifact_errors(&a), [ArtifactError::UnmappedIonUse { mech, ion: 1 }]);
    assert_eq!(artifact_errors(&a)[0].to_string(), format!("{mech}: ion use 1 has no species of its name"));

    let mut a = valid.clone();
    for pk in &mut a.placements {
        pk.stored.currents.clear();
    }
    assert!(artifact_errors(&a).contains(&ArtifactError::ProbedValueNotStored { probe: 0 }));

    let mut a = valid;
    a.placements[placement.index()].placement = Placement::Synapse { cell: CellId(0), index: ir::SynapseId(4) };
    assert_eq!(
        artifact_errors(&a),
        [ArtifactError::PlacementOrder, ArtifactError::MissingPlacementTarget { placement }]
    );
}
