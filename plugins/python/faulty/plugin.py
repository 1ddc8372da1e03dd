"""Misbehaves on demand, to test how the host contains faults of a Python plugin (the
twin of ``plugins/faulty``). A record whose value is ``{"fault": KIND}`` makes it:

- ``error``: refuse the record (a :class:`millrace.PluginError`),
- ``panic``: raise an unexpected exception (dead-lettered with its type and line; the
  name is the one the faulty plugin of every language uses for its own kind of panic),
- ``exit``: raise ``SystemExit``, which no plugin code should catch: a trap,
- ``recurse``: recurse without end,
- ``loop``: loop forever,
- ``bomb``: allocate memory until it runs out,
- ``flood``: emit 8 MiB of output, more than a test allows.

Anything else passes through unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import millrace
from millrace import Json, PluginError


def _recurse(depth: int) -> int:
    return _recurse(depth + 1) + 1


@millrace.export
class Faulty(millrace.DoFn[Json]):
    """The misbehaving DoFn."""

    def process(self, element: millrace.Element[Json]) -> Iterator[Json]:
        value = element.value
        fault = value.get("fault") if isinstance(value, dict) else None
        if fault == "error":
            raise PluginError("this record is refused on purpose")
        if fault == "panic":
            raise RuntimeError("boom: a deliberate exception")
        if fault == "exit":
            sys.exit("a deliberate exit")
        if fault == "recurse":
            _recurse(0)
        if fault == "loop":
            spins = 0
            while True:
                spins += 1
        if fault == "bomb":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if fault == "flood":
            chunk = "x" * (1 << 20)
            for _ in range(8):
                yield chunk
            return
        yield value
