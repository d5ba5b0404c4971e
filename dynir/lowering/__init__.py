"""The loop level, shared by the LLVM and CUDA emitters.

Each ``fusion.group`` becomes one kernel function on memrefs (destination-passing: the
group's inputs, then its outputs) whose body is ``scf`` loops over ``memref`` loads and
stores with ``arith``/``math`` scalar code. ``builder.py`` holds the loop-building
helpers, ``scalar.py`` the scalar semantics of elementwise ops, ``kernels.py`` picks
the kernel shape for a group, and one module per op family lowers the others.
"""
