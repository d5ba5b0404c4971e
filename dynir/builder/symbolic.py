"""Symbolic shape values: the integers a model computes from its own dynamic dims.

Exported models compute reshape targets from shapes at run time: PyTorch's
``x.view(x.size(0), x.size(1), 12, 64)`` becomes ``Shape -> Gather -> Unsqueeze -> Concat
-> Reshape``. With a dynamic ``x`` none of those values is a constant, but each element
is a polynomial in ``x``'s dims. ``FunctionBuilder`` evaluates the small integer ops of
such chains on numpy *object* arrays of ``DimExpr`` (through each op's own ``reference``,
see ``SYMBOLIC_OPS``), so a converter can ask what a shape input is in terms of dims
(``symbolic_value``) and turn it into a static ``nn.reshape`` spec (``0`` = copy the dim,
``-1`` = the one unknown).

A dim's symbol is its ``nn.dim_names`` name for a function argument that has one (ONNX
``dim_param``: equal names are equal dims), else the pair (value, axis).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import numpy as np


class NotSymbolic(Exception):
    """An operation on dims this module cannot express (it is then left to run time)."""


@dataclass(frozen=True)
class DimSymbol:
    """One unknown dim: ``key`` says which (a name, or (value, axis)); ``label`` prints it."""

    key: Hashable
    label: str = field(compare=False)

    def __lt__(self, other: DimSymbol) -> bool:
        return self.label < other.label


Monomial = tuple[DimSymbol, ...]  # sorted factors; () is the constant term


class DimExpr:
    """A polynomial with integer coefficients over ``DimSymbol``s (immutable)."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[Monomial, int]) -> None:
        self.terms = {m: c for m, c in terms.items() if c != 0}

    @staticmethod
    def symbol(symbol: DimSymbol) -> DimExpr:
        return DimExpr({(symbol,): 1})

    @staticmethod
    def make(terms: dict[Monomial, int]) -> DimExpr | int:
        """The polynomial, or a plain int when it has no symbols left."""
        expr = DimExpr(terms)
        if all(m == () for m in expr.terms):
            return expr.terms.get((), 0)
        return expr

    # arithmetic (numpy object arrays call these) -------------------------------------------
    def __add__(self, other: object) -> DimExpr | int:
        terms = dict(self.terms)
        for m, c in _terms(other).items():
            terms[m] = terms.get(m, 0) + c
        return DimExpr.make(terms)

    __radd__ = __add__

    def __neg__(self) -> DimExpr | int:
        return DimExpr.make({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: object) -> DimExpr | int:
        return self + (-_as_expr(other))

    def __rsub__(self, other: object) -> DimExpr | int:
        return _as_expr(other) + (-self)

    def __mul__(self, other: object) -> DimExpr | int:
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in _terms(other).items():
                m = tuple(sorted(m1 + m2))
                terms[m] = terms.get(m, 0) + c1 * c2
        return DimExpr.make(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other: object) -> DimExpr | int:
        """Exact division by a nonzero int only (``(b*s*768) // 768``)."""
        if not isinstance(other, (int, np.integer)) or int(other) == 0:
            raise NotSymbolic(f"cannot divide {self} by {other}")
        divisor = int(other)
        if any(c % divisor for c in self.terms.values()):
            raise NotSymbolic(f"{self} is not a multiple of {divisor}")
        return DimExpr.make({m: c // divisor for m, c in self.terms.items()})

    def __truediv__(self, other: object) -> DimExpr | int:
        return self.__floordiv__(other)

    def __int__(self) -> int:
        raise NotSymbolic(f"{self} is not known before run time")

    __index__ = __int__

    def __float__(self) -> float:
        raise NotSymbolic(f"{self} is not known before run time")

    def __bool__(self) -> bool:
        raise NotSymbolic(f"the truth of {self} is not known before run time")

    # comparison ---------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        try:
            return self.terms == _terms(other)
        except NotSymbolic:
            return False

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        parts = []
        for m, c in sorted(self.terms.items(), key=lambda mc: (len(mc[0]), [s.label for s in mc[0]])):
            factors = "*".join(s.label for s in m)
            if not m:
                parts.append(str(c))
            elif c == 1:
                parts.append(factors)
            else:
                parts.append(f"{c}*{factors}")
        return " + ".join(parts) or "0"


def _as_expr(value: object) -> DimExpr:
    return value if isinstance(value, DimExpr) else DimExpr(_terms(value))


def _terms(value: object) -> dict[Monomial, int]:
    if isinstance(value, DimExpr):
        return value.terms
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {(): int(value)} if int(value) else {}
    raise NotSymbolic(f"{value!r} is not an integer dim")


SymbolicInts = np.ndarray
"""A numpy object array of ``int`` and ``DimExpr`` elements."""


def is_concrete(array: SymbolicInts) -> bool:
    return all(not isinstance(v, DimExpr) for v in array.reshape(-1))


def symbolic_array(values: Iterable[int | DimExpr], shape: tuple[int, ...] | None = None) -> SymbolicInts:
    """An object array of ``values`` (a vector, or ``shape``)."""
    items = list(values)
    array = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        array[i] = v
    return array if shape is None else array.reshape(shape)


def as_symbolic(array: np.ndarray) -> SymbolicInts:
    """An integer array as an object array of Python ints (constants join symbolic math)."""
    return symbolic_array((int(v) for v in array.reshape(-1)), tuple(array.shape))


# ----------------------------------------------------------------------------------------
# Evaluating ops on symbolic values.

MAX_SYMBOLIC_ELEMENTS = 16
"""Only small integer tensors (shape vectors, scalars) are tracked symbolically."""

_BINARY = {
    "nn.add": lambda a, b: a + b,
    "nn.sub": lambda a, b: a - b,
    "nn.mul": lambda a, b: a * b,
    "nn.div": lambda a, b: _divide(a, b),
}

_STRUCTURAL = frozenset({"nn.gather", "nn.unsqueeze", "nn.squeeze", "nn.concat", "nn.slice", "nn.reshape", "nn.flatten"})
"""Ops that only move elements: their numpy ``reference`` runs on object arrays as is."""


def _divide(a: object, b: object) -> object:
    if isinstance(a, DimExpr):
        return a // b
    if isinstance(b, DimExpr):
        raise NotSymbolic(f"cannot divide by {b}")
    q = abs(int(a)) // abs(int(b))  # ONNX integer Div truncates toward zero
    return q if (int(a) >= 0) == (int(b) > 0) else -q


def evaluate(op: object, operands: list[SymbolicInts], dims_of: object) -> list[SymbolicInts] | None:
    """``op``'s results on symbolic operands, or None when it cannot be expressed.

    ``operands[i]`` is None for an operand with no known value (only ``nn.shape`` may
    have one: it reads dims, through ``dims_of(value) -> [int | DimExpr]``)."""
    from dynir.ir.types import element_of, shape_of

    name = getattr(op, "name", "")
    results = getattr(op, "results", ())
    if len(results) != 1:
        return None
    out_type = results[0].type
    out_shape = shape_of(out_type)
    element = str(element_of(out_type))
    if element not in ("i64", "i32") or any(d is None for d in out_shape):
        return None
    if int(np.prod(out_shape, dtype=np.int64)) > MAX_SYMBOLIC_ELEMENTS:
        return None
    try:
        if name == "nn.shape":
            x = op.operands[0]  # type: ignore[attr-defined]
            dims = dims_of(x)  # type: ignore[operator]
            start, end = op.bounds(len(dims))  # type: ignore[attr-defined]
            return [symbolic_array(dims[start:end])]
        if any(a is None for a in operands):
            return None
        if name == "nn.cast" or name == "nn.identity":
            return [operands[0].copy()]
        if name in _BINARY:
            a, b = np.broadcast_arrays(operands[0], operands[1])
            fn = _BINARY[name]
            values = [fn(x, y) for x, y in zip(a.reshape(-1), b.reshape(-1))]
            return [symbolic_array(values, tuple(a.shape))]
        if name in _STRUCTURAL:
            out = [np.asarray(r, dtype=object) for r in op.reference(*operands)]  # type: ignore[attr-defined]
            return out if all(r.shape == tuple(out_shape) for r in out) else None
    except (NotSymbolic, TypeError, ValueError, IndexError, AttributeError):
        return None
    return None
