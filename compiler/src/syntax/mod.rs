//! Text to syntax tree. pest's types (`Rule`, `Pair`, `Pairs`, its errors) never leave this
//! module: the parser converts them to [`ast`] nodes and [`Diagnostic`]s at once.
//!
//! [`Diagnostic`]: crate::diagnostics::Diagnostic

pub mod ast;
mod parser;

pub use parser::{MAX_FILE_LEN, parse};

#[cfg(test)]
mod tests;
