"""Quantized element types: ``!quant.uniform`` per tensor and per axis.

A uniform quantized value is ``real = scale * (stored - zero_point)``. The types name the
storage (``i8``/``u8``/``i16``/``u16``), the expressed float type and the parameters:

```mlir
!quant.uniform<i8:f32, 5.000000e-01:-3>                    // per tensor
!quant.uniform<u8:f32:1, {2.500000e-01:128, 5.000000e-01:127}>   // per axis 1
```

In dynir they describe quantization decisions (``quant.quantize`` records one as its
``qtype``; ``dynir quant-report`` prints them); tensors themselves hold the plain storage
integers (see the package docstring for why). Scales print with ``print_float`` so they
parse back exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    NoneAttr,
    Signedness,
    f64,
    i8,
    i16,
)
from xdsl.ir import Attribute, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

u8 = IntegerType(8, Signedness.UNSIGNED)
u16 = IntegerType(16, Signedness.UNSIGNED)
STORAGE_TYPES: dict[str, IntegerType] = {"i8": i8, "u8": u8, "i16": i16, "u16": u16}
"""Storage spellings of the type syntax; ``i8`` is signless in tensors (numpy int8)."""


def storage_name(storage: Attribute) -> str:
    for name, t in STORAGE_TYPES.items():
        if t == storage:
            return name
    raise VerifyException(f"quantized storage must be one of {', '.join(STORAGE_TYPES)}, got {storage}")


def storage_range(storage: Attribute) -> tuple[int, int]:
    """``(qmin, qmax)`` of a storage integer type (signless counts as signed)."""
    if not isinstance(storage, IntegerType):
        raise ValueError(f"quantized storage must be an integer type, got {storage}")
    bits = storage.width.data
    if storage.signedness.data == Signedness.UNSIGNED:
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _check_params(storage: Attribute, expressed: Attribute, scales: Sequence[float], zero_points: Sequence[int]) -> None:
    name = storage_name(storage)
    if not isinstance(expressed, Float32Type | Float16Type | BFloat16Type):
        raise VerifyException(f"quantized expressed type must be f32, f16 or bf16, got {expressed}")
    lo, hi = storage_range(storage)
    for scale in scales:
        if not (np.isfinite(scale) and scale > 0):
            raise VerifyException(f"quantized scale must be positive and finite, got {scale}")
    for zp in zero_points:
        if not lo <= zp <= hi:
            raise VerifyException(f"zero point {zp} is out of the {name} range [{lo}, {hi}]")


def _parse_storage_and_expressed(parser: AttrParser) -> tuple[IntegerType, Attribute]:
    pos = parser.pos
    word = parser.parse_identifier()
    if word not in STORAGE_TYPES:
        parser.raise_error(f"expected a storage type ({', '.join(STORAGE_TYPES)}), got '{word}'", pos, parser.pos)
    parser.parse_punctuation(":")
    expressed = parser.parse_type()
    return STORAGE_TYPES[word], expressed


def _parse_scale_zero(parser: AttrParser) -> tuple[float, int]:
    scale = parser.parse_number()
    zero = 0
    if parser.parse_optional_punctuation(":") is not None:
        zero = parser.parse_integer(allow_boolean=False)
    return float(scale), zero


def _print_scale_zero(printer: Printer, scale: float, zero: int) -> None:
    printer.print_float(scale, f64)
    printer.print_string(f":{zero}")


@irdl_attr_definition
class UniformQuantizedType(ParametrizedAttribute, TypeAttribute):
    """``!quant.uniform<i8:f32, scale:zero_point>`` (per tensor, ``axis`` is ``none``) or
    ``!quant.uniform<i8:f32:axis, {s0:z0, s1:z1, ...}>`` (one scale and zero point per
    index along ``axis``: per output channel for weights)."""

    name = "quant.uniform"

    storage_type: IntegerType
    expressed_type: Attribute
    axis: IntAttr | NoneAttr
    scales: ArrayAttr[FloatAttr]
    zero_points: ArrayAttr[IntegerAttr]

    @staticmethod
    def make(
        storage: IntegerType,
        expressed: Attribute,
        scales: float | Sequence[float],
        zero_points: int | Sequence[int],
        axis: int | None = None,
    ) -> UniformQuantizedType:
        """Per tensor when ``axis`` is None (one scale), else per axis."""
        scale_list = [float(scales)] if isinstance(scales, int | float) else [float(s) for s in scales]
        zero_list = [int(zero_points)] if isinstance(zero_points, int) else [int(z) for z in zero_points]
        return UniformQuantizedType(
            storage,
            expressed,
            NoneAttr() if axis is None else IntAttr(int(axis)),
            ArrayAttr([FloatAttr(s, f64) for s in scale_list]),
            ArrayAttr([IntegerAttr(z, 64) for z in zero_list]),
        )

    @property
    def axis_value(self) -> int | None:
        return self.axis.data if isinstance(self.axis, IntAttr) else None

    def scale_values(self) -> list[float]:
        return [s.value.data for s in self.scales.data]

    def zero_point_values(self) -> list[int]:
        return [z.value.data for z in self.zero_points.data]

    def verify(self) -> None:
        scales, zeros = self.scale_values(), self.zero_point_values()
        if len(scales) != len(zeros) or not scales:
            raise VerifyException(
                f"quantized type needs one zero point per scale, got {len(scales)} scales and {len(zeros)} zero points"
            )
        if self.axis_value is None and len(scales) != 1:
            raise VerifyException(f"per-tensor quantized type has {len(scales)} scales; give an axis for per-axis")
        if self.axis_value is not None and self.axis_value < 0:
            raise VerifyException(f"quantization axis must be non-negative, got {self.axis_value}")
        _check_params(self.storage_type, self.expressed_type, scales, zeros)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            storage, expressed = _parse_storage_and_expressed(parser)
            axis: Attribute = NoneAttr()
            if parser.parse_optional_punctuation(":") is not None:
                axis = IntAttr(parser.parse_integer(allow_boolean=False))
            parser.parse_punctuation(",")
            if isinstance(axis, IntAttr):
                pairs = parser.parse_comma_separated_list(parser.Delimiter.BRACES, lambda: _parse_scale_zero(parser))
            else:
                pairs = [_parse_scale_zero(parser)]
        params = (
            storage,
            expressed,
            axis,
            ArrayAttr([FloatAttr(s, f64) for s, _ in pairs]),
            ArrayAttr([IntegerAttr(z, 64) for _, z in pairs]),
        )
        try:
            _check_params(storage, expressed, [s for s, _ in pairs], [z for _, z in pairs])
        except VerifyException as error:
            parser.raise_error(str(error))
        return params

    def print_parameters(self, printer: Printer) -> None:
        pairs = list(zip(self.scale_values(), self.zero_point_values()))
        with printer.in_angle_brackets():
            printer.print_string(f"{storage_name(self.storage_type)}:")
            printer.print_attribute(self.expressed_type)
            if self.axis_value is None:
                printer.print_string(", ")
                _print_scale_zero(printer, *pairs[0])
                return
            printer.print_string(f":{self.axis_value}, ")
            with printer.in_braces():
                printer.print_list(pairs, lambda p: _print_scale_zero(printer, p[0], p[1]))


TYPES = [UniformQuantizedType]
