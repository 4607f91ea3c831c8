//! The one integration-test binary (see docs/testing.md).

mod architecture;
mod diagnostics;
mod examples;
mod fidelity;
mod fuzz;
mod fuzz_data;
mod ir;
mod kernels;
mod limits;
mod morphology_edits;
mod network;
mod nmodl;
mod porting;
mod tutorials;
mod wgsl;
