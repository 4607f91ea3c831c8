//! The divergence report of a GPU run (`host::blowup`), from the state the cell stopped in:
//! the kernel stops a cell at the end of its first bad step, where the CPU engine checks.

use super::layout::Layout;
use crate::host::blowup::{self, Blowup, InstanceState};

/// `data`: the whole `data` buffer read back after the window.
pub(super) fn report(layout: &Layout, data: &[f64], gid: u32, step: u64, time: f64) -> Blowup {
    let unknown = Blowup { step, time, gid, node: 0, value: f64::NAN, suspects: Vec::new() };
    let Some((ty, rank)) = layout.types.iter().find_map(|t| {
        let gids = &layout.meta[t.gid as usize..(t.gid + t.ncells) as usize];
        gids.iter().position(|g| *g == gid).map(|r| (t, r as u32))
    }) else {
        return unknown;
    };
    let nn = ty.nnodes as usize;
    let v: Vec<f64> = (0..ty.nnodes).map(|j| data[(ty.v + ty.node_slot(j, rank)) as usize]).collect();
    let area = &layout.shared[ty.area as usize..ty.area as usize + nn];
    let instances = ty.blocks.iter().flat_map(|b| {
        // The instances of this cell: all of a block's, or a group's members of this rank.
        let ks = match b.group {
            Some(at) => layout.meta[(at + rank) as usize]..layout.meta[(at + rank + 1) as usize],
            None => 0..b.per_cell,
        };
        ks.map(move |k| InstanceState {
            mechanism: b.mechanism,
            node: b.nodes[k as usize] as usize,
            states: b
                .states
                .iter()
                .map(|off| data[(off + b.slot(ty.ncells, ty.cell_major(), k, rank)) as usize])
                .collect(),
        })
    });
    blowup::report(step, time, gid, &v, area, instances).unwrap_or(unknown)
}
