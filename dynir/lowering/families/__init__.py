"""Loop lowerings of non-elementwise ops, one module per op family; importing this
package registers them (``dynir.lowering.kernels.lowers``)."""

from dynir.lowering.families import contraction  # noqa: F401
from dynir.lowering.families import indexing  # noqa: F401
from dynir.lowering.families import layout  # noqa: F401
from dynir.lowering.families import shape  # noqa: F401
from dynir.lowering.families import convolution  # noqa: F401
from dynir.lowering.families import pooling  # noqa: F401
from dynir.lowering.families import resize  # noqa: F401
from dynir.lowering.families import quant  # noqa: F401
from dynir.lowering.families import reduction  # noqa: F401
from dynir.lowering.families import normalization  # noqa: F401
