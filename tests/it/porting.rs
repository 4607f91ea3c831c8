//! `docs/porting.md`: every `sylva` block is a whole model that compiles without a diagnostic (as the
//! file `docs/porting.syl`, so paths are relative to `docs/`), and the worked example on the page
//! is `examples/neuron/allen_stub.syl`, but for its path.

use sylva_tests::{compile_text, render, repo};

/// The contents of every fenced block of `language` in a Markdown text.
fn blocks(markdown: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}\n");
    let mut out = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        // An indented block (inside a list) ends with an indented fence.
        let end = body.find("```").expect("the block ends");
        let indent = body[..end].rsplit('\n').next().unwrap_or("").len();
        let text: Vec<&str> = body[..end].lines().map(|l| l.get(indent.min(l.len())..).unwrap_or(l)).collect();
        out.push(text.join("\n"));
        rest = &body[end + 3..];
    }
    out
}

#[test]
fn every_snippet_of_the_porting_guide_compiles() {
    let page = std::fs::read_to_string(repo().join("docs/porting.md")).expect("docs/porting.md");
    let snippets = blocks(&page, "sylva");
    assert!(snippets.len() >= 5, "{} blocks", snippets.len());
    for (i, snippet) in snippets.iter().enumerate() {
        let (db, compilation) = compile_text("docs/porting.syl", snippet, &[]);
        let rendered = render(&db, &compilation.diagnostics);
        assert!(compilation.diagnostics.is_empty(), "block {i} of docs/porting.md:\n{snippet}\n{rendered}");
        assert!(compilation.model().is_some(), "block {i} gives a model");
    }
    let example = std::fs::read_to_string(repo().join("examples/neuron/allen_stub.syl")).expect("the example");
    let as_on_the_page = example.replace("\"../../tests/", "\"../tests/");
    assert!(
        snippets.iter().any(|s| s.trim_end() == as_on_the_page.trim_end()),
        "docs/porting.md's whole example differs from examples/neuron/allen_stub.syl"
    );
}
