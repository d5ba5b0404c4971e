"""The CPU backend's bottom half: loop-level IR -> LLVM IR (llvmlite) -> O3 -> ORC JIT.

Input: ``func``/``scf``/``memref``/``arith``/``math`` IR (what the nn-to-loops lowering
produces). Output: native functions callable with numpy arrays.

```python
compiled = compile_module(dynir.parse(text))       # or emit_llvm_ir(module, optimized=True)
compiled["matmul"](a, b, c)                          # writes into c
```

Calling convention
------------------
``func.func @k(%a: memref<?x512xf32>, %b: memref<512x?xf32>, %c: memref<?x?xf32>)`` becomes
``void @k(ptr noalias %a, i64 %a_d0, ptr noalias %b, i64 %b_d1, ptr noalias %c, i64 %c_d0, i64 %c_d1)``:

- each memref is a pointer to its first element, followed by one ``i64`` per *dynamic*
  dim in dim order (static dims are constants in the code). Layout: row-major, contiguous
  (identity layout only; anything else is a ``TranslationError``);
- memref pointers are ``noalias`` (dynir's buffers never overlap), per-function opt-out
  with ``{dynir.noalias = false}`` on the ``func.func``, module-wide with
  ``TranslateOptions(noalias=False)``;
- scalars (``index`` = ``i64``, ``i1``..``i64``, ``f32``, ``f64``; ``f16`` inside memrefs
  only from Python) pass by value;
- results: none (destination-passing style: the caller passes output arrays, kernels never
  allocate across calls) or one scalar returned by value. Functions that are not public
  get internal linkage and are not exported.

Python side: ``CompiledKernel`` checks dtype, rank, static dims and C-contiguity of each
array, then calls through ctypes (the GIL is released during the call).

Floating point
--------------
``contract`` is on by default (``a*b+c`` may become one FMA, like clang's
``-ffp-contract=on``); ``reassoc`` only on reduction updates and only with
``TranslateOptions(reassoc_reductions=True)``, so sums keep their order unless asked.
Ops' own ``fastmath<...>`` flags are always honoured.
"""

from dynir.backends.llvm.abi import CompiledKernel, KernelSignature, MemrefArg, ScalarArg
from dynir.backends.llvm.errors import KernelArgumentError, TranslationError
from dynir.backends.llvm.jit import CompiledModule, compile_module, emit_llvm_ir
from dynir.backends.llvm.target import HostTarget, host_target
from dynir.backends.llvm.translate import ExportedKernel, TranslateOptions, exported_kernels, translate_module

__all__ = [
    "CompiledKernel",
    "CompiledModule",
    "ExportedKernel",
    "HostTarget",
    "KernelArgumentError",
    "KernelSignature",
    "MemrefArg",
    "ScalarArg",
    "TranslateOptions",
    "TranslationError",
    "compile_module",
    "emit_llvm_ir",
    "host_target",
    "exported_kernels",
    "translate_module",
]
