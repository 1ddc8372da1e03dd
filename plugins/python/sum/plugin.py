"""Sums numbers. Integers stay integers (as the built-in ``sum`` does); retractions are
subtracted, so the plugin works downstream of retracting steps.

The Python twin of ``plugins/sum``: the same outputs, and the same accumulator bytes
and format (``postcard/sum::Total/1``), so the host may hot-swap one for the other.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import millrace
from millrace import postcard

Number = int | float

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
I128_MIN, I128_MAX = -(2**127), 2**127 - 1
F64_MAX = 1.7976931348623157e308


class Total(NamedTuple):
    """A running total: integers exactly, fractions as floating point."""

    exact: int = 0
    """The sum of the integer inputs."""
    approx: float = 0.0
    """The sum of the fractional inputs."""
    fractions: int = 0
    """Net number of fractional inputs: the output is an integer when it is zero."""


def _number(value: object) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise millrace.PluginError("expected a JSON number")
    return value


def _add(total: Total, value: object, sign: int) -> Total:
    """``total`` plus ``sign × value``; refuses (a :class:`PluginError`) a total that
    would no longer be a 64-bit number: an overflow is the element's fault, never a
    silent 0 or null."""
    number = _number(value)
    if isinstance(number, int) and I64_MIN <= number <= I64_MAX:
        total = total._replace(exact=total.exact + sign * number)
    else:
        total = total._replace(
            approx=total.approx + sign * float(number), fractions=total.fractions + sign
        )
    if total.fractions == 0:
        if not I64_MIN <= total.exact <= I64_MAX:
            raise millrace.PluginError("sum overflows a 64-bit integer")
    elif not math.isfinite(float(total.exact) + total.approx):
        raise millrace.PluginError("sum overflows a 64-bit float")
    return total


@millrace.export
class Sum(millrace.CombineFn[Number, Total, Number]):
    """The sum combiner."""

    inversion = millrace.Inversion.SUBTRACT
    # The Rust plugin's accumulator, byte for byte: `struct Total { int: i128,
    # float: f64, fractional: i64 }` in postcard, named as the Rust SDK names it.
    accumulator_codec = postcard.Struct(
        "sum::Total", Total, exact=postcard.I128, approx=postcard.F64, fractions=postcard.I64
    )
    accumulator_format = "1"

    def create_accumulator(self) -> Total:
        return Total()

    def add_input(self, total: Total, value: Number) -> Total:
        return _add(total, value, 1)

    def add_inputs(self, total: Total, values: list[Number]) -> Total:
        # The bulk path: integers whose running total cannot leave 64 bits on the way
        # are added at once; anything else goes input by input.
        if (
            total.fractions == 0
            and set(map(type, values)) <= {int}
            and abs(total.exact) + sum(map(abs, values)) <= I64_MAX
        ):
            return total._replace(exact=total.exact + int(sum(values)))
        return super().add_inputs(total, values)

    def merge_accumulators(self, totals: list[Total]) -> Total:
        exact = sum(t.exact for t in totals)
        return Total(
            exact=min(max(exact, I128_MIN), I128_MAX),
            approx=sum(t.approx for t in totals),
            fractions=sum(t.fractions for t in totals),
        )

    def extract_output(self, total: Total) -> Number:
        if total.fractions == 0 and I64_MIN <= total.exact <= I64_MAX:
            return total.exact
        # Only merged windows can pass 64 bits (each input was checked); they saturate
        # at the largest float.
        result = min(max(float(total.exact) + total.approx, -F64_MAX), F64_MAX)
        return 0 if math.isnan(result) else result

    def uncombine(self, total: Total, value: Number) -> Total:
        return _add(total, value, -1)
