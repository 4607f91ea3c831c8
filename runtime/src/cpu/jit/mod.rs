//! The Cranelift JIT: compiles a stage [`Kernel`] into native code that follows the memory
//! contract of [`crate::cpu::slots`].
//!
//! The generated code computes exactly what [`ExprArena::eval`] computes, bit for bit:
//! arithmetic, `sqrt`, `abs` and comparisons are native instructions with IEEE semantics,
//! `powi` is unrolled in `f64::powi`'s order, `exp` is `sylva_compiler::ir::math::exp` emitted
//! inline operation for operation, and every other function calls the Rust standard library
//! through the wrappers in `math`. The instance loop runs two instances per iteration in
//! `F64X2` lanes (see `codegen`), with a scalar body for an odd remainder.
//!
//! [`ExprArena::eval`]: sylva_compiler::ir::expr::ExprArena::eval

mod batch;
mod codegen;
mod math;
#[cfg(test)]
mod tests;

pub(crate) use batch::nernst_rows;

use std::fmt;

use cranelift_codegen::Context;
use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use sylva_compiler::ir::kernel::{Kernel, Stage};

use crate::cpu::slots::Slot;

/// Why a kernel could not be compiled. Every variant is an internal error (the engine built an
/// inconsistent slot list or kernel, or the code generator failed), never a user error.
#[derive(Clone, Debug, PartialEq)]
pub enum JitError {
    /// The kernel reads or writes an array that is not in the slot list.
    MissingSlot { slot: Slot, user: String },
    /// The host is not supported or the ISA could not be configured.
    Isa(String),
    /// Cranelift rejected the function (verifier or code generation).
    Codegen(String),
    /// Declaring, defining or linking failed.
    Module(String),
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::MissingSlot { slot, user } => {
                write!(f, "JIT: {user} needs slot {slot:?}, which the slot list lacks")
            }
            JitError::Isa(what) => write!(f, "JIT: cannot configure the host ISA: {what}"),
            JitError::Codegen(what) => write!(f, "JIT: code generation failed: {what}"),
            JitError::Module(what) => write!(f, "JIT: module error: {what}"),
        }
    }
}

impl std::error::Error for JitError {}

type RangeFn = unsafe extern "C" fn(*const *mut u8, *const f64, i64, i64);
type EventFn = unsafe extern "C" fn(*const *mut u8, *const f64, i64, f64);

#[derive(Copy, Clone)]
enum Entry {
    Range(RangeFn),
    Event(EventFn),
}

/// A compiled kernel. Owns the machine code; the function pointer is valid while it lives.
pub struct JitKernel {
    /// `Some` until dropped (`free_memory` consumes the module).
    module: Option<JITModule>,
    entry: Entry,
    stage: Stage,
}

// SAFETY: through `&JitKernel` nothing reaches the module (its symbol cache and memory
// provider are not `Sync`): `run`, `run_event` and `stage` read only `entry`, a pointer to code
// that is immutable once finalised, and `stage`. The module is touched only by `Drop`, which
// owns the kernel. So threads may share a kernel (a gradient's samples run in parallel).
unsafe impl Sync for JitKernel {}

impl fmt::Debug for JitKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitKernel").field("stage", &self.stage).finish_non_exhaustive()
    }
}

impl JitKernel {
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Runs an init, current or advance kernel over the instances `start..end`, in order.
    ///
    /// # Safety
    /// `table` must hold one valid pointer per slot of the slot list the kernel was compiled
    /// with, each to an array large enough for every instance (per-instance slots) or every
    /// node named by `node_index[start..end]` (per-node slots); `scalars` must point to
    /// [`crate::cpu::slots::SCALAR_COUNT`] values. Arrays the kernel writes must not be read or
    /// written by anyone else during the call.
    ///
    /// # Panics
    /// If this is an event kernel.
    pub unsafe fn run(&self, table: *const *mut u8, scalars: *const f64, start: usize, end: usize) {
        let Entry::Range(f) = self.entry else { panic!("JitKernel::run called on an event kernel") };
        // SAFETY: the caller upholds the memory contract; the code lives as long as `self`.
        unsafe { f(table, scalars, start as i64, end as i64) }
    }

    /// Runs an event kernel for one instance and one event weight.
    ///
    /// # Safety
    /// As for [`JitKernel::run`], for the one instance `instance`.
    ///
    /// # Panics
    /// If this is not an event kernel.
    pub unsafe fn run_event(&self, table: *const *mut u8, scalars: *const f64, instance: usize, weight: f64) {
        let Entry::Event(f) = self.entry else { panic!("JitKernel::run_event called on a non-event kernel") };
        // SAFETY: as in `run`.
        unsafe { f(table, scalars, instance as i64, weight) }
    }
}

impl Drop for JitKernel {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the only pointer into the module's code is `self.entry`, which cannot be
            // called once `self` is being dropped.
            unsafe { module.free_memory() };
        }
    }
}

fn new_module() -> Result<JITModule, JitError> {
    let mut flags = settings::builder();
    let set =
        |flags: &mut settings::Builder, k: &str, v: &str| flags.set(k, v).map_err(|e| JitError::Isa(e.to_string()));
    // No e-graph pass: it would re-sequence the body depth first from the stores, undoing the
    // interleaved order the code generator emits (see `codegen::body`).
    set(&mut flags, "opt_level", "none")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    let isa = cranelift_native::builder()
        .map_err(|e| JitError::Isa(e.to_string()))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError::Isa(e.to_string()))?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for f in math::MathFn::ALL {
        builder.symbol(f.symbol(), f.address());
    }
    for f in batch::Batched::ALL {
        builder.symbol(f.symbol(), f.address());
    }
    Ok(JITModule::new(builder))
}

/// Declares and builds the kernel's function, called `name`, in `module`.
fn build(module: &mut JITModule, kernel: &Kernel, slots: &[Slot], name: &str) -> Result<Built, JitError> {
    let math = codegen::declare_math(module)?;
    let sig = codegen::signature(module, kernel.stage);
    let id = module.declare_function(name, Linkage::Export, &sig).map_err(|e| JitError::Module(e.to_string()))?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let calls = codegen::build(module, &mut ctx.func, kernel, slots, &math)?
        .into_iter()
        .map(|(f, s)| (f.as_u32(), s))
        .collect();
    Ok(Built { ctx, id, calls })
}

struct Built {
    ctx: Context,
    id: cranelift_module::FuncId,
    /// The imported functions the code calls: (user name index, symbol).
    calls: Vec<(u32, &'static str)>,
}

/// Compiles a kernel for the slot list `slots` (the order of the pointer table).
pub fn compile(kernel: &Kernel, slots: &[Slot]) -> Result<JitKernel, JitError> {
    compile_named(kernel, slots, "kernel")
}

/// [`compile`], the function called `name` (what `perf` shows for its code when it writes a
/// perf map, e.g. `perf record`).
pub fn compile_named(kernel: &Kernel, slots: &[Slot], name: &str) -> Result<JitKernel, JitError> {
    let mut module = new_module()?;
    let Built { mut ctx, id, .. } = build(&mut module, kernel, slots, name)?;
    module.define_function(id, &mut ctx).map_err(|e| JitError::Codegen(format!("{e:?}")))?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| JitError::Module(e.to_string()))?;
    let code = module.get_finalized_function(id);
    // SAFETY: the function was built with the signature matching the stage (codegen::signature).
    let entry = unsafe {
        if kernel.stage == Stage::Event {
            Entry::Event(std::mem::transmute::<*const u8, EventFn>(code))
        } else {
            Entry::Range(std::mem::transmute::<*const u8, RangeFn>(code))
        }
    };
    Ok(JitKernel { module: Some(module), entry, stage: kernel.stage })
}

/// The Cranelift IR of the kernel's function, before optimisation (`sylva compile --emit clif`),
/// after comment lines naming the table entries and the called functions.
pub fn clif_text(kernel: &Kernel, slots: &[Slot]) -> Result<String, JitError> {
    let mut module = new_module()?;
    let built = build(&mut module, kernel, slots, "kernel")?;
    let mut text = format!(
        "; {:?} kernel: (table, scalars, {})\n",
        kernel.stage,
        if kernel.stage == Stage::Event { "instance, weight" } else { "start, end" }
    );
    for (k, s) in slots.iter().enumerate() {
        text += &format!("; table+{}: {s:?}\n", k * 8);
    }
    text += "; scalars+0: t, scalars+8: dt, scalars+16: celsius\n";
    for (index, symbol) in &built.calls {
        text += &format!("; u0:{index} = {symbol}\n");
    }
    text += &built.ctx.func.display().to_string();
    // Nothing was defined, so there is no code to free; dropping the module is enough.
    drop(module);
    Ok(text)
}
