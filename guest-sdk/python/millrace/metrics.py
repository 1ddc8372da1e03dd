"""Counters and gauges of the step, reported to the host.

Logging needs nothing from the SDK: use the standard :mod:`logging` module. In a
component, records go to the host's log, tagged with the step and the plugin.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["counter_add", "gauge_set"]


class Sink(Protocol):
    """Where metrics go: the host, or a record for tests."""

    def counter_add(self, name: str, delta: int) -> None: ...
    def gauge_set(self, name: str, value: float) -> None: ...


class Recorded:
    """Metrics kept in memory, outside a component (tests read them)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.gauges: dict[str, float] = {}

    def counter_add(self, name: str, delta: int) -> None:
        self.counters[name] = self.counters.get(name, 0) + delta

    def gauge_set(self, name: str, value: float) -> None:
        self.gauges[name] = value


_sink: Sink = Recorded()


def install(sink: Sink) -> None:
    """Sends metrics to ``sink`` from now on."""
    global _sink
    _sink = sink


def counter_add(name: str, delta: int = 1) -> None:
    """Adds ``delta`` (a non-negative integer) to the step's counter ``name``."""
    if delta < 0:
        raise ValueError(f"counter {name!r} cannot go down by {delta}")
    _sink.counter_add(name, delta)


def gauge_set(name: str, value: float) -> None:
    """Sets the step's gauge ``name`` to ``value``."""
    _sink.gauge_set(name, float(value))
