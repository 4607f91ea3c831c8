//! The one integration-test binary (see docs/testing.md).

mod diagnostics;
mod examples;
mod fuzz;
mod ir;
