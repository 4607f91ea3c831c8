//! The standard library: `.syl` files compiled into the binary, importable by name.

/// (module name, source text).
const MODULES: &[(&str, &str)] = &[
    ("ions", include_str!("../stdlib/ions.syl")),
    ("hh", include_str!("../stdlib/hh.syl")),
    ("pas", include_str!("../stdlib/pas.syl")),
    ("iclamp", include_str!("../stdlib/iclamp.syl")),
    ("seclamp", include_str!("../stdlib/seclamp.syl")),
    ("expsyn", include_str!("../stdlib/expsyn.syl")),
    ("exp2syn", include_str!("../stdlib/exp2syn.syl")),
    ("kinetic_k", include_str!("../stdlib/kinetic_k.syl")),
    ("cadyn", include_str!("../stdlib/cadyn.syl")),
    ("ca_hva", include_str!("../stdlib/ca_hva.syl")),
    ("sk", include_str!("../stdlib/sk.syl")),
    ("ih", include_str!("../stdlib/ih.syl")),
    ("graded_syn", include_str!("../stdlib/graded_syn.syl")),
    ("gap_junction", include_str!("../stdlib/gap_junction.syl")),
];

/// The module every file imports implicitly.
pub const PRELUDE: &str = "ions";

pub fn source(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|(n, _)| *n)
}

/// The name a standard-library module has in the source database and in diagnostics.
pub fn file_name(module: &str) -> String {
    format!("std/{module}.syl")
}

pub fn is_std_file(name: &str) -> bool {
    name.starts_with("std/")
}
