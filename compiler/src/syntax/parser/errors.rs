//! pest's errors in a compiler's words: the expected rules become "an expression", "`}`" and
//! the like, and the found token is read from the text.

use pest::error::{Error, ErrorVariant, InputLocation};

use super::grammar::Rule;
use super::scan::token_at;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Converts a pest error on the item at `offset` of `text` into a diagnostic.
pub(super) fn syntax_error(file: FileId, text: &str, offset: usize, error: &Error<Rule>) -> Diagnostic {
    let pos = offset
        + match error.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((p, _)) => p,
        };
    let (range, found) = token_at(text, pos);
    let span = Span::new(file, range);
    match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let expected = expected_list(positives);
            if expected.is_empty() {
                Diagnostic::error(Code::Syntax, span, format!("unexpected {found}")).label("unexpected here")
            } else {
                Diagnostic::error(Code::Syntax, span, format!("expected {expected}, found {found}"))
                    .label(format!("expected {expected}"))
            }
        }
        // pest's own resource guards ("stack limit reached", "call limit reached").
        ErrorVariant::CustomError { .. } => {
            Diagnostic::error(Code::Syntax, span, "this item is too deeply nested or too long to parse")
                .label("parsing stopped here")
        }
    }
}

/// The words for what pest expected, deduplicated and ordered: tokens first, then kinds of
/// things, operators last.
pub(super) fn expected_list(rules: &[Rule]) -> String {
    let mut words: Vec<&'static str> = Vec::new();
    for rule in rules {
        for word in describe(*rule) {
            if !words.contains(word) {
                words.push(word);
            }
        }
    }
    // Where an expression may start, its possible first tokens say no more than "an expression".
    if words.contains(&"an expression") {
        words.retain(|w| !["`if`", "`{`", "`(`", "`inf`", "a name", "a number"].contains(w));
    }
    let rank = |w: &str| match w {
        _ if w.starts_with('`') => 0,
        "an operator" => 2,
        "an item" => 3,
        _ => 1,
    };
    words.sort_by_key(|w| rank(w));
    let words: Vec<String> = words.into_iter().map(str::to_string).collect();
    match words.len() {
        0 => String::new(),
        1 => words[0].clone(),
        _ => format!("one of {}", join_or(&words)),
    }
}

/// `a`, `a or b`, `a, b or c`.
pub(super) fn join_or(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What a rule means to a reader. Every rule is listed, so that a new rule cannot leak its
/// name into a message.
fn describe(rule: Rule) -> &'static [&'static str] {
    use Rule::*;
    match rule {
        EOI | file_item | item_prefix | import | param | function | mechanism | species | morphology | cell
        | network | simulation | train => &["an item"],
        name | callee | selection | generator => &["a name"],
        key => &["a property name"],
        kw_import => &["`import`"],
        kw_param => &["`param`"],
        kw_fn => &["`fn`"],
        kw_density => &["`density`"],
        kw_point => &["`point`"],
        kw_species => &["`species`"],
        kw_morphology => &["`morphology`"],
        kw_cell => &["`cell`"],
        kw_network => &["`network`"],
        kw_simulation => &["`simulation`"],
        kw_state => &["`state`"],
        kw_gate => &["`gate`"],
        kw_let | let_decl => &["`let`"],
        kw_ion => &["`ion`"],
        kw_read => &["`read`"],
        kw_write => &["`write`"],
        ion_clause => &["`read`", "`write`"],
        kw_current => &["`current`"],
        kw_electrode => &["`electrode`"],
        kw_kinetic => &["`kinetic`"],
        kw_conserve | conserve => &["`conserve`"],
        kw_on | on_event => &["`on`"],
        kw_event => &["`event`"],
        kw_initial | initial => &["`initial`"],
        kw_section | section => &["`section`"],
        kw_region | region_def => &["`region`"],
        kw_swc | swc => &["`swc`"],
        kw_delete | delete => &["`delete`"],
        section_name => &["a section name"],
        kw_insert => &["`insert`"],
        kw_synapse => &["`synapse`"],
        kw_detector => &["`detector`"],
        kw_threshold => &["`threshold`"],
        kw_population => &["`population`"],
        kw_connect => &["`connect`"],
        kw_source => &["`source`"],
        kw_stimulus => &["`stimulus`"],
        kw_probe => &["`probe`"],
        kw_record => &["`record`"],
        kw_spikes => &["`spikes`"],
        kw_in | range => &["`in`"],
        kw_at => &["`at`"],
        kw_by => &["`by`"],
        kw_backward_euler | ode_method => &["`backward_euler`"],
        kw_steady_state => &["`steady_state`"],
        kw_each | each_step => &["`each step`"],
        kw_step => &["`step`"],
        kw_secant | secant => &["`secant`"],
        kw_if => &["`if`"],
        kw_else => &["`else`"],
        kw_train => &["`train`"],
        kw_trainable | trainable => &["`trainable`"],
        kw_target | target => &["`target`"],
        kw_from => &["`from`"],
        kw_column => &["`column`"],
        kw_input | input => &["`input`"],
        kw_readout | readout => &["`readout`"],
        dataset => &["`data = table(\"…\")`"],
        train_text => &["`label = \"…\"`"],
        settings_value => &["a name"],
        lbrace | properties | tree | statements => &["`{`"],
        rbrace => &["`}`"],
        lparen => &["`(`"],
        rparen => &["`)`"],
        lbracket => &["`[`"],
        rbracket => &["`]`"],
        comma => &["`,`"],
        colon => &["`:`"],
        semicolon => &["`;`"],
        assign => &["`=`"],
        add_assign => &["`+=`"],
        sub_assign => &["`-=`"],
        arrow => &["`->`"],
        reversible => &["`<->`"],
        dotdot => &["`..`"],
        dot => &["`.`"],
        prime => &["`'`"],
        plus => &["`+`"],
        number | number_lit | count => &["a number"],
        unit | unit_type => &["a unit"],
        inf_lit => &["`inf`"],
        string | string_body => &["a string"],
        or | and | eq | ne | le | ge | lt | gt | add | sub | mul | div | pow => &["an operator"],
        neg | not | expr | paren | call | if_expr | block | index => &["an expression"],
        property => &["a property"],
        location | cell_location => &["a location"],
        section_index => &["a section index such as `[3]`"],
        distance_arg => &["`distance = …`"],
        kw_distance => &["`distance`"],
        fn_param => &["a parameter"],
        member | state | gate | ion | current_decl | electrode | ode | assignment | kinetic | cell_member
        | morphology_inline | morphology_ref | insert | synapse | detector | distance_origin | cell_property
        | network_member | population | connect | source | stimulus | probe | record | train_member | train_setting => {
            &["a member"]
        }
        reaction | reactants | reactant => &["a reaction"],
        statement => &["a statement"],
        arg => &["an argument"],
        // Silent rules: pest never reports them.
        WHITESPACE | COMMENT | inline_ws | ident_start | ident_char | word | reserved | reserved_name | unit_letter
        | unit_atom | prefix_op | infix_op | primary | item => &[],
    }
}
