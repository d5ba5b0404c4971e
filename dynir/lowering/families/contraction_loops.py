"""Scalar loop kernels of ``nn.matmul`` and ``nn.gemm``: the fallback of ``contraction.py``.

Loop order is i-k-j (the reduction in the middle, the output's contiguous dim
innermost), which lets LLVM vectorise the inner loop: the i-j-k order is 40x slower
on this machine (see TOOLCHAIN.md). An ``epilogue`` (a fused elementwise tail, see
``dynir.lowering.kernels``) is applied to each row of the result once its reduction is
done, while the row is still in cache. ``contraction.py`` uses these for what the
micro-kernel does not cover (integer and f16 elements, 1-D operands); they are also the
reference-quality shape the micro-kernels are checked against.
"""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.dialects.builtin import MemRefType
from xdsl.ir import Operation, SSAValue

from dynir.dialects.nn.base import read_float, read_int
from dynir.lowering.builder import KernelBuilder
from dynir.lowering.kernels import Epilogue


def _rank(v: SSAValue) -> int:
    t = v.type
    assert isinstance(t, MemRefType)
    return t.get_num_dims()


def matmul_loops(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    a, b = ins
    (c,) = outs
    ra, rb, rc = _rank(a), _rank(b), _rank(c)
    # numpy promotion: a 1-D lhs is a row (no M dim in C), a 1-D rhs a column (no N dim).
    has_m, has_n = ra > 1, rb > 1
    batch_rank = rc - int(has_m) - int(has_n)
    k_size = kb.dim(a, ra - 1)
    out_dims = kb.dims(c)
    batch_ivs, body = kb.loop_nest(out_dims[:batch_rank])
    zero = body.float_const(0.0, c.type.element_type)  # type: ignore[attr-defined]

    def batch_index(buf: SSAValue, rank: int, tail: int) -> list[SSAValue]:
        if rank - tail <= 0:
            return []
        return body.broadcast_index(buf, batch_ivs, leading=rank - tail)

    m_dim = out_dims[batch_rank] if has_m else body.index(1)
    with body.loop(m_dim) as (i, row):
        n_dim = out_dims[rc - 1] if has_n else row.index(1)

        def c_index(j: SSAValue) -> list[SSAValue]:
            return [*batch_ivs, *([i] if has_m else []), *([j] if has_n else [])]

        with row.loop(n_dim) as (j, init):
            init.store(zero, c, c_index(j))
        with row.loop(k_size) as (k, kloop):
            a_idx = [*batch_index(a, ra, 2 if has_m else 1), *([i] if has_m else []), k]
            a_val = kloop.load(a, a_idx)
            with kloop.loop(n_dim) as (j, inner):
                b_idx = [*batch_index(b, rb, 2 if has_n else 1), k, *([j] if has_n else [])]
                b_val = inner.load(b, b_idx)
                acc = inner.load(c, c_index(j))
                prod = inner.add(arith.MulfOp(a_val, b_val))
                inner.store(inner.add(arith.AddfOp(acc, prod)), c, c_index(j))
        if epilogue is not None:
            with row.loop(n_dim) as (j, epi):
                idx = c_index(j)
                epi.store(epilogue(epi, epi.load(c, idx), idx), c, idx)


def gemm_loops(
    kb: KernelBuilder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], *, epilogue: Epilogue | None = None
) -> None:
    a, b, c_in = ins
    (y,) = outs
    alpha = read_float(getattr(op, "alpha", None), 1.0)
    beta = read_float(getattr(op, "beta", None), 1.0)
    trans_a = read_int(getattr(op, "trans_a", None), 0)
    trans_b = read_int(getattr(op, "trans_b", None), 0)
    element = y.type.element_type  # type: ignore[attr-defined]
    m_dim, n_dim = kb.dim(y, 0), kb.dim(y, 1)
    k_dim = kb.dim(a, 0 if trans_a else 1)
    zero = kb.float_const(0.0, element)
    with kb.loop(m_dim) as (i, row):
        with row.loop(n_dim) as (j, init):
            init.store(zero, y, [i, j])
        with row.loop(k_dim) as (k, kloop):
            a_val = kloop.load(a, [k, i] if trans_a else [i, k])
            if alpha != 1.0:
                a_val = kloop.add(arith.MulfOp(a_val, kloop.float_const(alpha, element)))
            with kloop.loop(n_dim) as (j, inner):
                b_val = inner.load(b, [j, k] if trans_b else [k, j])
                acc = inner.load(y, [i, j])
                inner.store(inner.add(arith.AddfOp(acc, inner.add(arith.MulfOp(a_val, b_val)))), y, [i, j])
        if beta != 0.0 or epilogue is not None:
            with row.loop(n_dim) as (j, epi):
                value = epi.load(y, [i, j])
                if beta != 0.0:
                    c_val = epi.load(c_in, epi.broadcast_index(c_in, [i, j]))
                    if beta != 1.0:
                        c_val = epi.add(arith.MulfOp(c_val, epi.float_const(beta, element)))
                    value = epi.add(arith.AddfOp(value, c_val))
                if epilogue is not None:
                    value = epilogue(epi, value, [i, j])
                epi.store(value, y, [i, j])
