"""A data-driven trigger for anomalies (paper §3.3.6): fires when a value crosses a
threshold from below, and re-arms once a value falls below it again.

The Python twin of ``plugins/threshold``, with the same configuration::

    trigger: { repeatedly: { plugin: threshold.wasm, config: { threshold: 100, field: latency } } }

``field`` picks a number out of object values; without it the value itself is read.
The per-window state, whether the last value seen was at or above the threshold, is
a postcard ``bool`` as in the Rust plugin.
"""

from __future__ import annotations

import millrace
from millrace import Json, postcard


@millrace.export
class Threshold(millrace.Trigger[Json, bool]):
    """The threshold trigger; its state is whether the last reading was above."""

    state_codec = postcard.BOOL

    def __init__(self, config: millrace.Config) -> None:
        self.threshold: float = config.require("threshold", float)
        self.field: str | None = config.optional("field", str)

    def reading(self, value: Json) -> float | None:
        """The number ``value`` holds, if any."""
        if self.field is not None:
            value = value.get(self.field) if isinstance(value, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    def initial_state(self) -> bool:
        return False

    def on_elements(
        self, above: bool, window: millrace.Window, elements: list[millrace.Element[Json]]
    ) -> tuple[bool, bool]:
        fire = False
        for element in elements:
            reading = self.reading(element.value)
            if reading is None:
                continue
            now_above = reading >= self.threshold
            fire |= now_above and not above
            above = now_above
        return fire, above
