//! The NMODL syntax tree the parser builds: a file's items, declarations, statements and
//! expressions, each with its span.

use super::lexer::LineComment;
use crate::source::Span;

#[derive(Clone, Debug)]
pub struct ModFile {
    pub title: Option<String>,
    pub comments: Vec<String>,
    pub items: Vec<Item>,
    pub line_comments: Vec<LineComment>,
}

impl ModFile {
    /// The statements of the BREAKPOINT block, if there is one.
    pub fn breakpoint(&self) -> Option<&[Stmt]> {
        self.items.iter().find_map(|i| if let Item::Breakpoint(b, _) = i { Some(b.as_slice()) } else { None })
    }

    /// The statements of the INITIAL block, if there is one.
    pub fn initial(&self) -> Option<&[Stmt]> {
        self.items.iter().find_map(|i| if let Item::Initial(b, _) = i { Some(b.as_slice()) } else { None })
    }
}

/// A declaration of PARAMETER, ASSIGNED, STATE or CONSTANT.
#[derive(Clone, Debug)]
pub struct Decl {
    pub name: String,
    pub span: Span,
    pub line: usize,
    pub value: Option<(String, Span)>,
    /// The unit as written between the parentheses, and its span.
    pub unit: Option<(String, Span)>,
    pub range: Option<(String, String)>,
}

#[derive(Clone, Debug)]
pub enum NeuronStmt {
    Suffix(String, Span),
    PointProcess(String, Span),
    UseIon {
        ion: String,
        span: Span,
        read: Vec<(String, Span)>,
        write: Vec<(String, Span)>,
        valence: Option<String>,
    },
    Nonspecific(Vec<(String, Span)>),
    ElectrodeCurrent(Vec<(String, Span)>),
    Range(Vec<(String, Span)>),
    Global(Vec<(String, Span)>),
    /// `POINTER x`: translated as the presynaptic voltage `v_pre` of a point process.
    Pointer(Vec<(String, Span)>),
    /// Read but not translatable (BBCOREPOINTER, …; THREADSAFE is fine and dropped).
    Unsupported(String, Span),
}

/// `name = (factor) (unit)` or `(alias) = (definition)` of a UNITS block.
#[derive(Clone, Debug)]
pub struct UnitDef {
    pub lhs: String,
    pub lhs_is_unit: bool,
    pub rhs: Vec<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub span: Span,
    pub params: Vec<(String, Span, Option<String>)>,
    pub body: Vec<Stmt>,
    pub is_function: bool,
}

#[derive(Clone, Debug)]
pub enum Item {
    Units(Vec<UnitDef>),
    Neuron(Vec<NeuronStmt>),
    Parameter(Vec<Decl>),
    Assigned(Vec<Decl>),
    State(Vec<Decl>),
    Initial(Vec<Stmt>, Span),
    Breakpoint(Vec<Stmt>, Span),
    Derivative(String, Vec<Stmt>, Span),
    Procedure(Function),
    /// `KINETIC name { … }`: reactions, CONSERVE and COMPARTMENT among ordinary statements.
    Kinetic(String, Vec<Stmt>, Span),
    /// `NET_RECEIVE(weight (uS), …) { … }`: its arguments (name, span, unit) and body.
    NetReceive {
        params: Vec<(String, Span, Option<String>)>,
        body: Vec<Stmt>,
        span: Span,
    },
    /// A block Sylva cannot translate: its keyword and span.
    Unsupported(String, Span),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Local(Vec<(String, Span)>),
    Assign {
        name: String,
        span: Span,
        /// `x[index] = …` of an array's element.
        index: Option<Expr>,
        value: Expr,
    },
    Derivative {
        name: String,
        span: Span,
        value: Expr,
    },
    Call {
        name: String,
        span: Span,
        args: Vec<Expr>,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    /// `SOLVE name METHOD m` or `SOLVE name STEADYSTATE m` (`steady_state`).
    /// `FROM var = from TO to { body }`.
    From {
        var: String,
        from: Expr,
        to: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    Solve {
        name: String,
        span: Span,
        method: Option<(String, Span)>,
        steady_state: bool,
    },
    Table(Span),
    /// `~ A + 2 B <-> C (kf, kb)` of a KINETIC block.
    Reaction(Reaction),
    /// `~ A << (flux)` of a KINETIC block: a source term, which Sylva's schemes lack.
    Flux(Span),
    /// `CONSERVE A + B + C = total`; `plain` is false when a term is not a bare name.
    Conserve {
        states: Vec<(String, Span)>,
        total: Expr,
        plain: bool,
        span: Span,
    },
    /// `COMPARTMENT volume { A B }` (or `COMPARTMENT i, volume { … }`, `indexed`).
    Compartment {
        volume: Expr,
        states: Vec<(String, Span)>,
        indexed: bool,
        span: Span,
    },
    Unsupported(String, Span),
}

/// One reactant of a reaction: its count (`2 A` counts 2) and name.
#[derive(Clone, Debug)]
pub struct Reactant {
    pub count: u32,
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Reaction {
    pub lhs: Vec<Reactant>,
    pub rhs: Vec<Reactant>,
    pub forward: Expr,
    pub backward: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Expr {
    Number(String, Span),
    Name(String, Span),
    Call(String, Span, Vec<Expr>),
    /// `x[index]`, an element of an array.
    Index(String, Span, Box<Expr>),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Number(_, s) | Expr::Name(_, s) | Expr::Call(_, s, _) | Expr::Index(_, s, _) => *s,
            Expr::Unary(_, e) => e.span(),
            Expr::Binary(_, a, b) => a.span().to(b.span()),
        }
    }
}
