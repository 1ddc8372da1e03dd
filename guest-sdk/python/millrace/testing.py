"""Run plugins natively, through the same batch code a component runs.

Each harness builds the plugin from a configuration, feeds it batches laid out as the
host lays them out (JSON bytes, one column per field) and reads back what it returned,
so a test exercises the encoding of values, accumulators and state too. The
harnesses keep what the host would keep between calls: a DoFn's keyed state and
timers, a trigger's per-window state.

::

    from millrace.testing import CombineHarness

    def test_sums(self):
        self.assertEqual(CombineHarness(Sum).combine([5, 7, 3]), 15)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from millrace import metrics
from millrace._core import Json, Window
from millrace._glue import (
    Blobs,
    CombineRunner,
    DoFnRunner,
    Emitted,
    TriggerRunner,
    WindowRunner,
    read_config,
    split,
)
from millrace.codec import JSON, encode_json
from millrace.functions import CombineFn, DoFn, Element, Trigger, WindowFn

__all__ = [
    "CombineHarness",
    "DoFnHarness",
    "Processed",
    "Record",
    "TriggerHarness",
    "WindowHarness",
]


def _config(config: Mapping[str, Json] | None) -> Any:
    return read_config(JSON.encode(dict(config or {})).decode())


def _blobs(items: Iterable[bytes]) -> tuple[bytes, list[int]]:
    out = Blobs()
    for item in items:
        out.push(item)
    return bytes(out.data), out.ends


def _columns(elements: Sequence[Element[Any]]) -> tuple[Any, ...]:
    """A batch's element columns: keys, key ends, values, value ends, times, windows."""
    keys, key_ends = _blobs(encode_json(e.key) for e in elements)
    values, value_ends = _blobs(encode_json(e.value) for e in elements)
    return (
        keys,
        key_ends,
        values,
        value_ends,
        [e.timestamp for e in elements],
        [e.window.start for e in elements],
        [e.window.end for e in elements],
    )


class Record(NamedTuple):
    """An element a DoFn emitted."""

    key: Json
    value: Json
    timestamp: int
    source: int
    """The index of the input (or fired timer) it came from."""
    to: str = ""
    """The side output it went to; "" for the main output."""


class Processed(NamedTuple):
    """What a DoFn call gave back."""

    outputs: list[Record]
    errors: list[tuple[int, str]]
    """The inputs (or timers) it could not handle: (index, message), as dead-lettered."""

    @property
    def values(self) -> list[Json]:
        """The emitted values, in order."""
        return [record.value for record in self.outputs]


def _processed(emitted: Emitted) -> Processed:
    keys = [JSON.decode(item) for item in split(bytes(emitted.keys.data), emitted.keys.ends)]
    values = [JSON.decode(item) for item in split(bytes(emitted.values.data), emitted.values.ends)]
    records = [
        Record(key, value, timestamp, source, emitted.side.get(index, ""))
        for index, (key, value, timestamp, source) in enumerate(
            zip(keys, values, emitted.timestamps, emitted.sources)
        )
    ]
    return Processed(records, list(emitted.errors))


_Slot = tuple[str, int, int]
"""A key (as JSON text) and a window."""


class _Memory:
    """Keyed state and timers in memory, as the host keeps them; a call's indexes name
    the slots of the current batch."""

    def __init__(self) -> None:
        self.cells: dict[_Slot, dict[str, bytes]] = {}
        self.timers: dict[tuple[_Slot, str], tuple[str, int]] = {}
        self.batch: list[_Slot] = []

    def get(self, index: int, name: str) -> bytes | None:
        return self.cells.get(self.batch[index], {}).get(name)

    def set(self, index: int, name: str, value: bytes) -> None:
        self.cells.setdefault(self.batch[index], {})[name] = bytes(value)

    def clear(self, index: int, name: str) -> None:
        cells = self.cells.get(self.batch[index], {})
        cells.pop(name, None)
        if not cells:
            self.cells.pop(self.batch[index], None)

    def set_event_timer(self, index: int, name: str, time: int) -> None:
        self.timers[(self.batch[index], name)] = ("event", time)

    def set_processing_timer(self, index: int, name: str, time: int) -> None:
        self.timers[(self.batch[index], name)] = ("processing", time)

    def clear_timer(self, index: int, name: str) -> None:
        self.timers.pop((self.batch[index], name), None)

    def take_due(self, domain: str, bound: int) -> list[tuple[int, _Slot, str]]:
        """Removes the timers of ``domain`` strictly before ``bound``, in time order."""
        due = sorted(
            (time, slot, name)
            for (slot, name), (kind, time) in self.timers.items()
            if kind == domain and time < bound
        )
        for _, slot, name in due:
            del self.timers[(slot, name)]
        return due


class DoFnHarness:
    """Runs a :class:`DoFn` as a ``pardo`` step would, with keyed state and timers.

    ``process`` takes one batch; ``advance_watermark`` and ``advance_processing_time``
    fire the timers that become due, round after round, as the host does.
    """

    max_rounds = 1000

    def __init__(self, plugin: type[DoFn[Any]], config: Mapping[str, Json] | None = None) -> None:
        self.metrics = metrics.Recorded()
        metrics.install(self.metrics)
        self._runner = DoFnRunner(plugin, _config(config))
        self._memory = _Memory()

    @property
    def state(self) -> dict[_Slot, dict[str, Any]]:
        """The state held, decoded: cells by name, per (key as JSON text, window start,
        window end)."""
        decode = self._runner.codec.decode
        return {
            slot: {name: decode(data) for name, data in cells.items()}
            for slot, cells in self._memory.cells.items()
        }

    @property
    def timers(self) -> dict[tuple[_Slot, str], tuple[str, int]]:
        """The pending timers: (domain, time) per ((key, start, end), name)."""
        return dict(self._memory.timers)

    def process(self, elements: Iterable[Element[Any]]) -> Processed:
        """Processes one batch."""
        batch = list(elements)
        self._memory.batch = [
            (encode_json(e.key).decode(), e.window.start, e.window.end) for e in batch
        ]
        return _processed(self._runner.process(self._memory, *_columns(batch)))

    def advance_watermark(self, watermark: int) -> Processed:
        """Fires the event-time timers before ``watermark``."""
        return self._fire("event", watermark)

    def advance_processing_time(self, now: int) -> Processed:
        """Fires the processing-time timers before ``now``."""
        return self._fire("processing", now)

    def _fire(self, domain: str, bound: int) -> Processed:
        outputs: list[Record] = []
        errors: list[tuple[int, str]] = []
        for _ in range(self.max_rounds):
            due = self._memory.take_due(domain, bound)
            if not due:
                return Processed(outputs, errors)
            self._memory.batch = [slot for _, slot, _ in due]
            keys, key_ends = _blobs(slot[0].encode() for _, slot, _ in due)
            emitted = self._runner.on_timer(
                self._memory,
                keys,
                key_ends,
                [slot[1] for _, slot, _ in due],
                [slot[2] for _, slot, _ in due],
                [name for _, _, name in due],
                [time for time, _, _ in due],
            )
            fired = _processed(emitted)
            outputs.extend(fired.outputs)
            errors.extend(fired.errors)
        raise RuntimeError(
            f"timers kept setting timers that were already due, {self.max_rounds} rounds"
        )


class CombineHarness:
    """Runs a :class:`CombineFn` as a ``combine`` step would: accumulators pass through
    their codec between every call."""

    def __init__(
        self, plugin: type[CombineFn[Any, Any, Any]], config: Mapping[str, Json] | None = None
    ) -> None:
        self._runner = CombineRunner(plugin, _config(config))

    @property
    def accumulator_format(self) -> str:
        """The format the host sees, and compares on a hot swap."""
        return self._runner.accumulator_format

    def create(self) -> bytes:
        """A fresh accumulator, encoded."""
        return self._runner.create_accumulator()

    def add(
        self, accumulator: bytes, inputs: Sequence[Json], *, retract: bool = False
    ) -> tuple[bytes, list[tuple[int, str]]]:
        """The accumulator with ``inputs`` added (or taken back), and the rejected inputs."""
        values, value_ends = _blobs(encode_json(value) for value in inputs)
        out, rejected = self._runner.add(
            accumulator, [len(accumulator)], values, value_ends, [len(inputs)], retract=retract
        )
        return bytes(out.data), rejected

    def merge(self, accumulators: Sequence[bytes]) -> bytes:
        """One accumulator merging ``accumulators``."""
        data, ends = _blobs(accumulators)
        return bytes(self._runner.merge(data, ends, [len(accumulators)]).data)

    def extract(self, accumulator: bytes) -> Json:
        """The output of ``accumulator``."""
        return JSON.decode(bytes(self._runner.extract(accumulator, [len(accumulator)]).data))

    def combine(self, inputs: Sequence[Json]) -> Json:
        """The output for ``inputs``, which must all be accepted."""
        accumulator, rejected = self.add(self.create(), inputs)
        if rejected:
            raise AssertionError(f"inputs were rejected: {rejected}")
        return self.extract(accumulator)


class WindowHarness:
    """Runs a :class:`WindowFn` as a ``window: {custom: …}`` step would."""

    def __init__(
        self, plugin: type[WindowFn[Any]], config: Mapping[str, Json] | None = None
    ) -> None:
        self._runner = WindowRunner(plugin, _config(config))

    def assign(self, elements: Sequence[Element[Any]]) -> list[list[Window]]:
        """The windows of each element."""
        starts, ends, sources = self._runner.assign(*_columns(elements))
        windows: list[list[Window]] = [[] for _ in elements]
        for start, end, source in zip(starts, ends, sources):
            windows[source].append(Window(start, end))
        return windows

    def merge(self, windows: Sequence[Window]) -> list[tuple[list[int], Window]]:
        """The merges among one key's ``windows``: member indexes and the result."""
        starts, ends, members, member_ends = self._runner.merge(
            [w.start for w in windows], [w.end for w in windows], [len(windows)]
        )
        groups = [members[a:b] for a, b in zip((0, *member_ends), member_ends)]
        return [(group, Window(s, e)) for group, s, e in zip(groups, starts, ends)]


class TriggerHarness:
    """Runs a data-driven :class:`Trigger`, keeping its state per window between calls."""

    def __init__(
        self, plugin: type[Trigger[Any, Any]], config: Mapping[str, Json] | None = None
    ) -> None:
        self._runner = TriggerRunner(plugin, _config(config))
        self._states: dict[Window, bytes] = {}

    def state(self, window: Window = Window.GLOBAL) -> Any:
        """The window's state, decoded (``None`` before it saw anything)."""
        data = self._states.get(window)
        return None if data is None else self._runner.codec.decode(data)

    def on_elements(self, values: Sequence[Json], window: Window = Window.GLOBAL) -> bool:
        """New values arrived in ``window``: whether it fires."""
        state = self._states.get(window, b"")
        elements = [Element(value, window=window) for value in values]
        states, fire = self._runner.on_elements(
            state, [len(state)], [len(elements)], *_columns(elements)
        )
        self._states[window] = bytes(states.data)
        return fire[0]
