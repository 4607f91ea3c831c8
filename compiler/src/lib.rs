//! The Sylva compiler: model text to a checked, validated IR. Pure: no file system, no
//! terminal, no clock, no GPU. Whoever drives it supplies the text of every file.

pub mod diagnostics;
pub mod morph;
pub mod render;
pub mod source;
pub mod syntax;
pub mod units;
