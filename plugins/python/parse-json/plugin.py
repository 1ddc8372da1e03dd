"""Parses each value as JSON text (a string holding a JSON object, or an object), keeps
the records that match a filter, and re-keys them by a field.

The Python twin of ``plugins/parse-json``, with the same configuration (all optional)::

    config:
      key: user              # field that becomes the key (dotted paths reach nested fields)
      value: score           # field that becomes the value (else the whole object)
      timestamp: ts          # field (integer ms) that becomes the event time
      where: { type: score } # keep only records whose fields equal these values

Text that is not JSON, or a record without the key or value field, goes to the
dead-letter output with the reason. It takes the SDK's bulk path
(``DoFn.process_batch``): one Python call per batch rather than per element.
"""

from __future__ import annotations

import json
from typing import Any

import millrace
from millrace import Json, PluginError

_MISSING = object()


def _field(record: Json, path: str) -> Any:
    """The field at the dotted ``path`` of ``record``, or ``_MISSING``."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _same(a: Json, b: Json) -> bool:
    """JSON equality: ``1``, ``1.0`` and ``true`` are three different values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _quoted(name: str) -> str:
    return json.dumps(name)


@millrace.export
class ParseJson(millrace.DoFn[Json]):
    """The parse/filter/re-key DoFn."""

    def __init__(self, config: millrace.Config) -> None:
        config.allow_only("key", "value", "timestamp", "where")
        self.key: str | None = config.optional("key", str)
        self.value: str | None = config.optional("value", str)
        self.timestamp: str | None = config.optional("timestamp", str)
        self.where: dict[str, Json] = config.optional("where", dict, {})

    def process_batch(self, batch: millrace.Batch[Json]) -> None:
        # The bulk path: one call for the whole batch; a bad record is rejected by
        # index and the rest carry on.
        for index, value in enumerate(batch.values):
            try:
                parsed = self.parse(value, batch.keys[index], batch.timestamps[index])
            except PluginError as error:
                batch.reject(index, str(error))
                continue
            if parsed is not None:
                key, record, timestamp = parsed
                batch.emit(index, record, key=key, timestamp=timestamp)

    def parse(self, value: Json, key: Json, timestamp: int) -> tuple[Json, Json, int] | None:
        """The (key, value, event time) to emit for an element, or ``None`` when the
        filter drops it; raises a :class:`PluginError` for a bad record."""
        record = value
        if isinstance(record, str):
            try:
                record = json.loads(record, parse_constant=_no_constants)
            except ValueError as err:
                raise PluginError(f"not valid JSON: {err}") from None
        if not isinstance(record, dict):
            raise PluginError("expected a JSON object")
        if not all(_same(_field(record, name), wanted) for name, wanted in self.where.items()):
            return None
        if self.key is not None:
            key = _field(record, self.key)
            if key is _MISSING:
                raise PluginError(f"missing the key field {_quoted(self.key)}")
        if self.timestamp is not None:
            timestamp = _field(record, self.timestamp)
            if type(timestamp) is not int or not -(2**63) <= timestamp < 2**63:
                raise PluginError(f"missing the integer time field {_quoted(self.timestamp)}")
        if self.value is not None:
            record = _field(record, self.value)
            if record is _MISSING:
                raise PluginError(f"missing the value field {_quoted(self.value)}")
        return key, record, timestamp
