"""Which ONNX graph of a model folder runs: the one definition of the precisions a user may ask for."""

from __future__ import annotations

from enum import StrEnum


class Precision(StrEnum):
    """`auto` is int8 when the int8 graph passed its parity check at export, else fp32."""

    auto = "auto"
    int8 = "int8"
    fp32 = "fp32"


GRAPHS: tuple[Precision, ...] = (Precision.int8, Precision.fp32)  # the graphs a model folder holds


def parse_precision(value: str | Precision, graphs_only: bool = False) -> Precision:
    """A precision from its name; ValueError naming the allowed ones otherwise."""
    allowed = GRAPHS if graphs_only else tuple(Precision)
    try:
        precision = Precision(value)
    except ValueError:
        precision = None
    if precision not in allowed:
        raise ValueError(f"precision is one of {', '.join(allowed)}, not {value!r}")
    return precision
