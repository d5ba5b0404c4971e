"""Loop lowerings of non-elementwise ops, one module per op family; importing this
package registers them (``dynir.lowering.kernels.lowers``)."""

from dynir.lowering.families import contraction  # noqa: F401
