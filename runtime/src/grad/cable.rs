//! Trained membrane properties of the cable equation: `cm` (in the Hines matrix's diagonal,
//! C/dt = cm·area/dt) and `Ra` (in its axial conductances g = 1/(Ra·r), r a node's resistance
//! per unit of Ra), and their share of the discrete adjoint of the solve.
//!
//! The solve finds Δv from M Δv = rhs, M = diag(d + C/dt) + A (A the axial Laplacian: g on
//! both ends' diagonal, −g off it), with the axial currents g(v_p − v_i) in rhs, and sets
//! v' = v + Δv. With μ = M⁻ᵀ λ_v' (the transposed solve), the adjoint of a matrix entry is
//! −μ Δvᵀ on the sparsity pattern, so ∂L/∂(C/dt)ᵢ = −μᵢ Δvᵢ and, with the rhs terms,
//! ∂L/∂gᵢ = (μᵢ − μₚ)(v'ₚ − v'ᵢ).

use std::ops::Range;

use super::GradError;
use crate::plan::{Cable, Plan};

/// `cm` or `Ra` of a cell type (model cell index `cell`) at its local `nodes`, on every cell
/// of the type.
#[derive(Clone, Debug, PartialEq)]
pub struct CableUse {
    pub cell: u32,
    pub nodes: Vec<u32>,
    pub property: CableProperty,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CableProperty {
    /// The specific capacitance (internal units) of the nodes (segment centres).
    Capacitance,
    /// The axial resistivity: node `nodes[k]`'s resistance to its parent is `resistance[k]`
    /// times it.
    AxialResistivity { resistance: Vec<f64> },
}

/// The derivative of the loss in every node's C/dt and axial conductance, summed over the steps.
pub(crate) struct CableGradient {
    pub capacitance_dt: Vec<f64>,
    pub axial: Vec<f64>,
}

impl CableGradient {
    pub(super) fn zeros(nodes: usize) -> CableGradient {
        CableGradient { capacitance_dt: vec![0.0; nodes], axial: vec![0.0; nodes] }
    }

    /// Adds one solve's share at the `nodes` (whole cells): `mu` = M⁻ᵀ λ_v', `v_after` = v',
    /// `v_before` = v.
    pub(super) fn add_solve(
        &mut self,
        cable: &Cable,
        nodes: Range<usize>,
        mu: &[f64],
        v_after: &[f64],
        v_before: &[f64],
    ) {
        for i in nodes {
            self.capacitance_dt[i] -= mu[i] * (v_after[i] - v_before[i]);
            let parent = cable.parent[i];
            if parent != u32::MAX {
                let p = parent as usize;
                self.axial[i] += (mu[i] - mu[p]) * (v_after[p] - v_after[i]);
            }
        }
    }
}

impl CableUse {
    /// The plan's nodes of every cell of the type, each with its index in `nodes`.
    fn plan_nodes<'a>(&'a self, plan: &'a Plan) -> impl Iterator<Item = (usize, usize)> + 'a {
        let gids = plan.types.iter().filter(|t| t.cell == self.cell).flat_map(|t| &t.gids);
        gids.flat_map(move |&gid| {
            let offset = plan.cell_offset[gid as usize];
            self.nodes.iter().enumerate().map(move |(k, n)| (offset + *n as usize, k))
        })
    }

    /// Sets the property to `x` on its nodes, as the plan's build would.
    pub(super) fn set(&self, plan: &mut Plan, x: f64) {
        let nodes: Vec<(usize, usize)> = self.plan_nodes(plan).collect();
        for (n, k) in nodes {
            match &self.property {
                CableProperty::Capacitance => plan.cable.capacitance_dt[n] = x * plan.nodes.area[n] / plan.dt,
                CableProperty::AxialResistivity { resistance } => plan.cable.axial[n] = 1.0 / (x * resistance[k]),
            }
        }
    }

    /// The property's value in the plan, at its first node.
    fn value(&self, plan: &Plan) -> Option<f64> {
        let (n, k) = self.plan_nodes(plan).next()?;
        Some(match &self.property {
            CableProperty::Capacitance => plan.cable.capacitance_dt[n] * plan.dt / plan.nodes.area[n],
            CableProperty::AxialResistivity { resistance } => 1.0 / (plan.cable.axial[n] * resistance[k]),
        })
    }

    /// ∂L/∂x at the value `x`, from the per-node derivatives.
    pub(super) fn gradient(&self, plan: &Plan, g: &CableGradient, x: f64) -> f64 {
        self.plan_nodes(plan)
            .map(|(n, _)| match &self.property {
                CableProperty::Capacitance => g.capacitance_dt[n] * plan.nodes.area[n] / plan.dt,
                // g = 1/(x r): ∂g/∂x = −g/x.
                CableProperty::AxialResistivity { .. } => -g.axial[n] * plan.cable.axial[n] / x,
            })
            .sum()
    }

    /// Whether its nodes are the type's, with membrane where it sets `cm`.
    fn check(&self, plan: &Plan) -> Result<(), GradError> {
        let cell = plan.types.iter().find(|t| t.cell == self.cell);
        let count = |gid: u32| {
            let next = plan.cell_offset.get(gid as usize + 1).copied().unwrap_or(plan.nodes.v.len());
            next - plan.cell_offset[gid as usize]
        };
        let Some(first) = cell.and_then(|t| t.gids.first()) else {
            return Err(GradError::Loss(format!("cell type {} has no cells", self.cell)));
        };
        let fits = match &self.property {
            CableProperty::Capacitance => true,
            CableProperty::AxialResistivity { resistance } => resistance.len() == self.nodes.len(),
        };
        if self.nodes.is_empty() || !fits || self.nodes.iter().any(|n| *n as usize >= count(*first)) {
            return Err(GradError::Loss(format!("cell type {} has no such nodes", self.cell)));
        }
        let bad = self.plan_nodes(plan).any(|(n, _)| match self.property {
            CableProperty::Capacitance => plan.nodes.area[n] <= 0.0,
            CableProperty::AxialResistivity { .. } => plan.cable.parent[n] == u32::MAX,
        });
        if bad {
            return Err(GradError::Loss(format!("a node of cell type {} without membrane or parent", self.cell)));
        }
        Ok(())
    }
}

/// Per trainable, the value of its first `cm` or `Ra` in the plan (0 where it has none); an
/// error where one does not fit the plan.
pub(super) fn values(plan: &Plan, trainables: &[super::Trainable]) -> Result<Vec<f64>, GradError> {
    trainables
        .iter()
        .map(|t| {
            for c in &t.cable {
                c.check(plan)?;
            }
            Ok(t.cable.first().and_then(|c| c.value(plan)).unwrap_or(0.0))
        })
        .collect()
}
