//! The pest parser generated from `grammar/sylva.pest`.

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/sylva.pest"]
pub(super) struct SylvaParser;
