//! The CPU engine runs a plan of replicas (`plan::replicas`) as it runs each replica's own
//! plan: every replica's probe columns and spikes are its plan's, bit for bit. The ringtest's
//! cells pass events from cell to cell, each replica's kick is scaled differently (one too weak
//! to start its ring), and a stimulus (a block per replica) drives one cell.

use super::engine::{CpuEngine, Options};
use crate::host::{Host, Recording};
use crate::plan::Plan;
use crate::plan::replicas::Replicas;

/// The recording of `steps` steps of `plan` on the CPU engine (compiled kernels).
fn recording(mut plan: Plan, steps: u64) -> Recording {
    let mut host = Host::new(&mut plan, steps);
    host.record(0.0, plan.probes.iter().map(|p| plan.probe_value(p)));
    let engine = CpuEngine::new(plan, Options::default()).expect("compiled");
    let mut simulation = crate::Simulation::from_parts(engine, host);
    simulation.run(|_, _| {}).expect("a run");
    simulation.into_recording()
}

#[test]
fn replicas_run_as_their_own_plans() {
    let a = crate::test_models::example_edited("examples/bench/ringtest.syl", &[], |text| {
        let text = text.replace("import exp2syn", "import exp2syn\nimport iclamp");
        text.replace(
            "    record spikes",
            "    record spikes\n    probe \"v2\" = v at cells[2].soma(0.5)\n    probe \"m4\" = hh.m at cells[4].soma(0.5)\n    \
             stimulus clamp = iclamp at cells[6].soma(0.5) { del = 2 ms, dur = 1 ms, amp = 0.3 nA }",
        )
    });
    let steps = 400;
    let plans: Vec<Plan> = [1.0, 0.05, 2.0]
        .iter()
        .map(|scale| {
            let mut plan = Plan::new(&a);
            plan.source_events.iter_mut().for_each(|(_, target)| target.weight *= scale);
            plan
        })
        .collect();
    let replicas = Replicas::of(&plans[0], plans.len());
    let together = recording(replicas.plan(&plans), steps);
    let cells = plans[0].cell_offset.len() as u32;
    let probes = plans[0].probes.len();
    let mut spikes = Vec::new();
    for (r, plan) in plans.into_iter().enumerate() {
        let alone = recording(plan, steps);
        for (p, column) in alone.columns.iter().enumerate() {
            let bits = |c: &[f64]| c.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(column), bits(&together.columns[r * probes + p]), "replica {r}, probe {p}");
        }
        let mine: Vec<(u32, f64)> = together
            .spikes
            .iter()
            .filter(|(gid, _)| replicas.replica_of(*gid) == r)
            .map(|(gid, t)| (gid % cells, *t))
            .collect();
        assert_eq!(mine, alone.spikes, "replica {r}'s spikes");
        spikes.push(alone.spikes.len());
    }
    // The weak kick starts no ring (its cells spike from the clamp alone).
    assert!(spikes[1] < spikes[0] && spikes[1] < spikes[2] && spikes[1] > 0, "spikes per replica: {spikes:?}");
}
