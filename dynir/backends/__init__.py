"""Backends: the bottom of the pipeline, where loop-level IR becomes machine code.

``dynir.backends.llvm`` translates ``func``/``scf``/``memref``/``arith``/``math`` IR to
LLVM IR with llvmlite, optimises it for the host CPU and JIT-compiles it.
"""
