//! A small helper for building naga functions statement by statement: every expression is
//! emitted right after it is appended (naga's rule), blocks nest through a stack, and loops and
//! conditionals take closures.

use naga::{
    Arena, BinaryOperator as B, Block, Expression, Function, GlobalVariable, Handle, Literal, LocalVariable,
    MathFunction as M, Module, Range, Scalar, ScalarKind, Span, Statement, Type, TypeInner, UnaryOperator,
};

pub type H = Handle<Expression>;

/// The element precision of the generated code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Prec {
    F32,
    F64,
}

impl Prec {
    pub fn scalar(self) -> Scalar {
        match self {
            Prec::F32 => Scalar::F32,
            Prec::F64 => Scalar::F64,
        }
    }

    pub fn bytes(self) -> u64 {
        match self {
            Prec::F32 => 4,
            Prec::F64 => 8,
        }
    }
}

/// Types every function needs.
#[derive(Copy, Clone)]
pub struct Types {
    pub real: Handle<Type>,
    pub uint: Handle<Type>,
    pub boolean: Handle<Type>,
    pub real_array: Handle<Type>,
    pub uint_array: Handle<Type>,
    pub uvec3: Handle<Type>,
}

impl Types {
    pub fn new(module: &mut Module, prec: Prec) -> Types {
        let mut ty = |inner: TypeInner| module.types.insert(Type { name: None, inner }, Span::UNDEFINED);
        let real = ty(TypeInner::Scalar(prec.scalar()));
        let uint = ty(TypeInner::Scalar(Scalar::U32));
        let boolean = ty(TypeInner::Scalar(Scalar::BOOL));
        let real_array =
            ty(TypeInner::Array { base: real, size: naga::ArraySize::Dynamic, stride: prec.bytes() as u32 });
        let uint_array = ty(TypeInner::Array { base: uint, size: naga::ArraySize::Dynamic, stride: 4 });
        let uvec3 = ty(TypeInner::Vector { size: naga::VectorSize::Tri, scalar: Scalar::U32 });
        Types { real, uint, boolean, real_array, uint_array, uvec3 }
    }
}

pub struct Fb {
    pub prec: Prec,
    pub types: Types,
    pub func: Function,
    stack: Vec<Block>,
}

impl Fb {
    pub fn new(prec: Prec, types: Types, name: &str) -> Fb {
        Fb {
            prec,
            types,
            func: Function { name: Some(name.to_string()), ..Function::default() },
            stack: vec![Block::new()],
        }
    }

    /// Finishes the function.
    pub fn finish(mut self) -> Function {
        assert_eq!(self.stack.len(), 1, "unbalanced blocks");
        self.func.body = self.stack.pop().expect("body");
        self.func
    }

    pub fn stmt(&mut self, s: Statement) {
        self.stack.last_mut().expect("a block").push(s, Span::UNDEFINED);
    }

    /// Appends an expression, emitting it where naga requires.
    pub fn e(&mut self, expr: Expression) -> H {
        let pre = matches!(
            expr,
            Expression::Literal(_)
                | Expression::Constant(_)
                | Expression::Override(_)
                | Expression::ZeroValue(_)
                | Expression::FunctionArgument(_)
                | Expression::GlobalVariable(_)
                | Expression::LocalVariable(_)
                | Expression::CallResult(_)
        );
        let h = self.func.expressions.append(expr, Span::UNDEFINED);
        if !pre {
            self.stmt(Statement::Emit(Range::new_from_bounds(h, h)));
        }
        h
    }

    /// A floating-point literal of the precision.
    pub fn f(&mut self, x: f64) -> H {
        let lit = match self.prec {
            Prec::F32 => Literal::F32(x as f32),
            Prec::F64 => Literal::F64(x),
        };
        self.e(Expression::Literal(lit))
    }

    pub fn u(&mut self, x: u32) -> H {
        self.e(Expression::Literal(Literal::U32(x)))
    }

    pub fn i(&mut self, x: i32) -> H {
        self.e(Expression::Literal(Literal::I32(x)))
    }

    pub fn bool(&mut self, x: bool) -> H {
        self.e(Expression::Literal(Literal::Bool(x)))
    }

    pub fn bin(&mut self, op: B, left: H, right: H) -> H {
        self.e(Expression::Binary { op, left, right })
    }

    pub fn add(&mut self, a: H, b: H) -> H {
        self.bin(B::Add, a, b)
    }

    pub fn sub(&mut self, a: H, b: H) -> H {
        self.bin(B::Subtract, a, b)
    }

    pub fn mul(&mut self, a: H, b: H) -> H {
        self.bin(B::Multiply, a, b)
    }

    pub fn div(&mut self, a: H, b: H) -> H {
        self.bin(B::Divide, a, b)
    }

    pub fn neg(&mut self, a: H) -> H {
        self.e(Expression::Unary { op: UnaryOperator::Negate, expr: a })
    }

    pub fn not(&mut self, a: H) -> H {
        self.e(Expression::Unary { op: UnaryOperator::LogicalNot, expr: a })
    }

    pub fn math1(&mut self, fun: M, arg: H) -> H {
        self.e(Expression::Math { fun, arg, arg1: None, arg2: None, arg3: None })
    }

    pub fn math2(&mut self, fun: M, arg: H, arg1: H) -> H {
        self.e(Expression::Math { fun, arg, arg1: Some(arg1), arg2: None, arg3: None })
    }

    pub fn math3(&mut self, fun: M, arg: H, arg1: H, arg2: H) -> H {
        self.e(Expression::Math { fun, arg, arg1: Some(arg1), arg2: Some(arg2), arg3: None })
    }

    /// `condition ? accept : reject`.
    pub fn select(&mut self, condition: H, accept: H, reject: H) -> H {
        self.e(Expression::Select { condition, accept, reject })
    }

    /// Converts a scalar to the real type.
    pub fn real_of(&mut self, x: H) -> H {
        self.e(Expression::As { expr: x, kind: ScalarKind::Float, convert: Some(self.prec.bytes() as u8) })
    }

    pub fn i32_of(&mut self, x: H) -> H {
        self.e(Expression::As { expr: x, kind: ScalarKind::Sint, convert: Some(4) })
    }

    pub fn global(&mut self, g: Handle<GlobalVariable>) -> H {
        self.e(Expression::GlobalVariable(g))
    }

    /// Pointer to element `index` of a global array.
    pub fn elem(&mut self, g: Handle<GlobalVariable>, index: H) -> H {
        let base = self.global(g);
        self.e(Expression::Access { base, index })
    }

    pub fn read(&mut self, g: Handle<GlobalVariable>, index: H) -> H {
        let pointer = self.elem(g, index);
        self.e(Expression::Load { pointer })
    }

    pub fn write(&mut self, g: Handle<GlobalVariable>, index: H, value: H) {
        let pointer = self.elem(g, index);
        self.stmt(Statement::Store { pointer, value });
    }

    /// A new local variable (uninitialised) and its pointer expression.
    pub fn local(&mut self, ty: Handle<Type>, name: &str) -> H {
        let l = self
            .func
            .local_variables
            .append(LocalVariable { name: Some(name.to_string()), ty, init: None }, Span::UNDEFINED);
        self.e(Expression::LocalVariable(l))
    }

    pub fn load(&mut self, pointer: H) -> H {
        self.e(Expression::Load { pointer })
    }

    pub fn store(&mut self, pointer: H, value: H) {
        self.stmt(Statement::Store { pointer, value });
    }

    fn nested(&mut self, body: impl FnOnce(&mut Fb)) -> Block {
        self.stack.push(Block::new());
        body(self);
        self.stack.pop().expect("pushed")
    }

    pub fn if_(&mut self, condition: H, accept: impl FnOnce(&mut Fb)) {
        let accept = self.nested(accept);
        self.stmt(Statement::If { condition, accept, reject: Block::new() });
    }

    pub fn if_else(&mut self, condition: H, accept: impl FnOnce(&mut Fb), reject: impl FnOnce(&mut Fb)) {
        let accept = self.nested(accept);
        let reject = self.nested(reject);
        self.stmt(Statement::If { condition, accept, reject });
    }

    /// `loop { body }`; the body leaves with [`Fb::brk`].
    pub fn loop_(&mut self, body: impl FnOnce(&mut Fb)) {
        let body = self.nested(body);
        self.stmt(Statement::Loop { body, continuing: Block::new(), break_if: None });
    }

    pub fn brk(&mut self) {
        self.stmt(Statement::Break);
    }

    /// `for i in start..end` over u32 (values computed before the loop).
    pub fn for_range(&mut self, start: H, end: H, name: &str, body: impl FnOnce(&mut Fb, H)) {
        self.for_step(start, end, 1, name, body);
    }

    /// `for (i = start; i < end; i += step)` over u32.
    pub fn for_step(&mut self, start: H, end: H, step: u32, name: &str, body: impl FnOnce(&mut Fb, H)) {
        let ty = self.types.uint;
        let var = self.local(ty, name);
        self.store(var, start);
        self.loop_(|b| {
            let i = b.load(var);
            let done = b.bin(B::GreaterEqual, i, end);
            b.if_(done, |b| b.brk());
            body(b, i);
            let step = b.u(step);
            let next = b.add(i, step);
            b.store(var, next);
        });
    }

    /// A workgroup barrier that orders storage-buffer and workgroup-memory accesses.
    pub fn barrier(&mut self) {
        self.stmt(Statement::ControlBarrier(naga::Barrier::STORAGE | naga::Barrier::WORK_GROUP));
    }

    /// A workgroup barrier for workgroup memory only (`workgroupBarrier()`): cheaper.
    pub fn workgroup_barrier(&mut self) {
        self.stmt(Statement::ControlBarrier(naga::Barrier::WORK_GROUP));
    }

    /// Calls `function` and returns its result.
    pub fn call(&mut self, function: Handle<Function>, arguments: Vec<H>) -> H {
        let result = self.e(Expression::CallResult(function));
        self.stmt(Statement::Call { function, arguments, result: Some(result) });
        result
    }

    pub fn ret(&mut self, value: Option<H>) {
        self.stmt(Statement::Return { value });
    }

    pub fn arg(&mut self, index: u32) -> H {
        self.e(Expression::FunctionArgument(index))
    }
}

/// Adds a function to the module.
pub fn add_function(module: &mut Module, f: Function) -> Handle<Function> {
    module.functions.append(f, Span::UNDEFINED)
}

/// A storage buffer global at group 0.
pub fn storage(
    globals: &mut Arena<GlobalVariable>,
    name: &str,
    binding: u32,
    ty: Handle<Type>,
    write: bool,
) -> Handle<GlobalVariable> {
    let access = if write { naga::StorageAccess::LOAD | naga::StorageAccess::STORE } else { naga::StorageAccess::LOAD };
    globals.append(
        GlobalVariable {
            name: Some(name.to_string()),
            space: naga::AddressSpace::Storage { access },
            binding: Some(naga::ResourceBinding { group: 0, binding }),
            ty,
            init: None,
            memory_decorations: naga::MemoryDecorations::empty(),
        },
        Span::UNDEFINED,
    )
}
