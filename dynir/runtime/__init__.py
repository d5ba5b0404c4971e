"""The runtime: the host program that runs compiled kernels (executable.py) and the
user-facing ``CompiledModel`` that guards inputs (compiled_model.py)."""
