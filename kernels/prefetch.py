"""A software prefetch for kernels: `prefetch(arr, k)` asks the CPU for the cache line of
element k of C-contiguous `arr` (flat index) and returns at once.

Why: at 10,000 agents an event's rows (the agent's record, its day accumulators, its
shift) are rarely in cache, and each event's misses come one after another (the shift row
is found from the agent row). Asking for the rows of the events a few places ahead lets
those misses overlap with the work on this one. numba has no prefetch of its own, so this
emits LLVM's `llvm.prefetch` (a hint: it never faults, even on an address outside the
array, and changes no result). In plain Python (NUMBA_DISABLE_JIT=1) it does nothing.
"""
from kernels import compiled


def prefetch(arr, k):
    """Plain Python: nothing to do (see the module doc)."""


def _register_numba_prefetch():
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic, overload

    @intrinsic
    def _llvm_prefetch(typingctx, arr, k):
        if not (isinstance(arr, types.Array) and isinstance(k, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            ptr = builder.gep(ary.data, [args[1]])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # rw=1: the rows are about to be written; locality 3: keep in all levels; data
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(arr, k), codegen

    @overload(prefetch, inline="always")
    def _prefetch_impl(arr, k):
        def impl(arr, k):
            _llvm_prefetch(arr, k)
        return impl


if compiled.jit():  # compiled ahead of time, the prefetches are in the extension's code
    _register_numba_prefetch()
