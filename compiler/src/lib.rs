//! The Sylva compiler: model text to a checked, validated IR. Pure: no file system, no
//! terminal, no clock, no GPU. Whoever drives it supplies the text of every file through a
//! [`driver::Loader`].

pub mod artifact;
pub mod check;
pub mod diagnostics;
pub mod driver;
pub mod ide;
pub mod ir;
pub mod limits;
pub mod morph;
pub mod nmodl;
pub mod render;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod units;

pub use driver::{Compilation, Loader, Setting, compile, compile_with_settings};
