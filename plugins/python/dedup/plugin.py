"""Drops repeats: a record whose id was already seen for the same key within the
horizon (in event time) is not passed on. Each id is remembered in keyed state and
forgotten by an event-time timer once the watermark passes ``ts + horizon``.

The Python twin of ``plugins/dedup``, with the same configuration and the same state
(each id's cell holds its first time as a postcard ``i64``, as the Rust plugin's does)::

    config:
      id: event_id     # the field of the value that identifies a record (else the whole value)
      horizon: 600000  # how long an id is remembered, in milliseconds of event time
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import millrace
from millrace import JSON, Json, PluginError, postcard

MAX_TIME = 2**63 - 1


@millrace.export
class Dedup(millrace.DoFn[Json]):
    """The dedup DoFn."""

    state_codec = postcard.I64

    def __init__(self, config: millrace.Config) -> None:
        self.horizon: int = config.require("horizon", int)
        if self.horizon <= 0:
            raise PluginError('config "horizon" must be a positive number of milliseconds')
        self.id: str | None = config.optional("id", str)

    def process(self, element: millrace.Element[Json]) -> Iterator[Json]:
        value = element.value
        if self.id is None:
            identity = value
        elif isinstance(value, dict) and self.id in value:
            identity = value[self.id]
        else:
            raise PluginError(f"missing the id field {json.dumps(self.id)}")
        name = f"seen:{JSON.encode(identity).decode()}"
        if name in element.state:
            millrace.counter_add("duplicates")
            return
        element.state[name] = element.timestamp
        element.timers.set_event(name, min(element.timestamp + self.horizon, MAX_TIME))
        yield value

    def on_timer(self, timer: millrace.Timer) -> None:
        # The horizon has passed: forget the id.
        del timer.state[timer.name]
