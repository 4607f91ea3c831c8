//! The step-cost model of the `workgroup` strategy. One big cell leaves the GPU idle but for
//! one workgroup, so its step is bound by latency, not bandwidth: by the solve's serial depth
//! (dependent node updates on its longest path, `schedule::TreeSchedule::serial_depth`) and by
//! the barriers every lane of the workgroup waits at (counted per stage as the code emits them,
//! `codegen::StepBarriers`). `sylva run --backend gpu` prints both on its summary line.

use super::codegen::StepBarriers;
use super::layout::Layout;

/// What bounds one step of a cell of a workgroup type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepCost {
    pub lanes: u32,
    /// Nodes per piece where chains are split (`schedule::Solve::Split`, where that shortens
    /// the path).
    pub piece: Option<u32>,
    /// Dependent node updates on the solve's longest path.
    pub solve_depth: u32,
    pub barriers: StepBarriers,
}

/// The step cost of each cell type (`None` for a type run one invocation per cell).
pub fn step_costs(layout: &Layout, barriers: &[StepBarriers]) -> Vec<Option<StepCost>> {
    layout
        .types
        .iter()
        .zip(barriers)
        .map(|(ty, b)| {
            ty.workgroup.as_ref().map(|w| StepCost {
                lanes: w.size,
                piece: w.fill.map(|_| w.piece),
                solve_depth: w.serial_depth,
                barriers: b.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use sylva_compiler::artifact::Artifact;
    use sylva_compiler::ir::Precision;
    use sylva_compiler::ir::kernel::{Kernel, Kernels};

    use super::super::schedule::Solve;
    use super::super::{DeviceFit, Options, Strategy, prepare};
    use super::*;
    use crate::plan::Plan;
    use crate::test_models::{example, example_edited};

    /// An NVIDIA H100 through Vulkan: 48 KiB of workgroup memory, 1,024 lanes.
    const H100: DeviceFit = DeviceFit { workgroup_memory: 48 << 10, max_lanes: 1024 };

    fn cost(m: &Artifact, precision: Precision, solve: Solve) -> (StepCost, StepBarriers) {
        let options = Options { strategy: Strategy::Workgroup, solve, ..Options::default() };
        let p = prepare(m, &Plan::new(m), precision, options, H100).expect("prepares");
        let cost = step_costs(&p.layout, &p.barriers).remove(0).expect("a workgroup type");
        (cost, before(&p.layout))
    }

    /// Barriers of a step before 2026-12-06 (commit 1ccd739), by stage: events; zeroing and
    /// one after every block's current kernel; assembly, every round of whole chains and `v
    /// += Δv`; one after every block's advance kernel; the step's end.
    fn before(layout: &Layout) -> StepBarriers {
        let ty = &layout.types[0];
        let kernels = |pick: fn(&Kernels) -> &Kernel| {
            ty.blocks.iter().filter(|b| !pick(&b.kernels).writes.is_empty()).count() as u32
        };
        let rounds = ty.workgroup.as_ref().expect("a workgroup type").rounds.count;
        let stages = vec![
            ("events", 1),
            ("currents", 1 + kernels(|k| &k.current)),
            ("solve", 2 + rounds),
            ("advance", kernels(|k| &k.advance)),
            ("step end", 1),
        ];
        StepBarriers { stages }
    }

    /// The model for the benchmark cells (the table in docs/gpu.md): splitting shortens the
    /// serial path of the big cell and of the l5pc cell, and the barriers per step go down.
    #[test]
    fn step_cost_of_the_bench_cells() {
        let big = "examples/bench/bigcell.syl";
        let nseg = |n: u32| example_edited(big, &[], |t| t.replace("nseg = 16", &format!("nseg = {n}")));
        let cases = [
            ("big cell", example(big, &[])),
            ("big cell, nseg 8", nseg(8)),
            ("big cell, nseg 4", nseg(4)),
            ("big cell, nseg 1", nseg(1)),
            ("l5pc", example("examples/bench/l5pc.syl", &[])),
            ("ringtest cell, 10 cells", example("examples/bench/ringtest.syl", &["rings=1".to_string()])),
        ];
        for (name, m) in &cases {
            for precision in [Precision::F32, Precision::F64] {
                let (chains, old) = cost(m, precision, Solve::Chains);
                let (split, _) = cost(m, precision, Solve::Split);
                eprintln!(
                    "| {name} | {precision:?} | {} | {:?} | {} | {} → {} → {} | {:?} ← {:?} |",
                    split.lanes,
                    split.piece,
                    if split.piece.is_some() {
                        format!("{} → {}", chains.solve_depth, split.solve_depth)
                    } else {
                        format!("{} (not split)", chains.solve_depth)
                    },
                    old.total(),
                    chains.barriers.total(),
                    split.barriers.total(),
                    split.barriers.stages,
                    old.stages
                );
                assert!(split.solve_depth <= chains.solve_depth, "{name} {precision:?}");
                assert!(chains.barriers.total() <= old.total(), "{name} {precision:?}");
            }
        }
        let depth = |i: usize, solve| cost(&cases[i].1, Precision::F32, solve).0.solve_depth;
        for i in [0, 4] {
            assert!(2 * depth(i, Solve::Split) < depth(i, Solve::Chains), "{}: at least halved", cases[i].0);
        }
    }
}
