"""Between the host's column-by-column batches and a plugin's methods.

Every function here takes and returns plain columns (a flat byte buffer with the end
offset of each item, lists of numbers), so the same code runs in a component (behind
the generated bindings, ``millrace._wit``) and natively (behind ``millrace.testing``).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from millrace._core import Config, Json, PluginError, Window, describe
from millrace.codec import Codec, encode_json
from millrace.functions import (
    SAME_KEY,
    CombineFn,
    DoFn,
    Element,
    Inversion,
    Output,
    Timer,
    Trigger,
    WindowFn,
)

In = TypeVar("In")


def split(data: bytes, ends: Sequence[int]) -> list[bytes]:
    """The items of a blobs buffer: item ``i`` is ``data[ends[i-1]:ends[i]]``."""
    return [data[start:end] for start, end in zip((0, *ends), ends)]


def ranges(ends: Sequence[int]) -> list[range]:
    """The groups ``range(ends[g-1], ends[g])``."""
    return [range(start, end) for start, end in zip((0, *ends), ends)]


class Blobs:
    """Builds a blobs buffer: the items' bytes laid end to end, and where each ends."""

    __slots__ = ("data", "ends")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends: list[int] = []

    def push(self, item: bytes) -> None:
        """Appends one item."""
        self.data += item
        self.ends.append(len(self.data))


class Unreadable:
    """An item that is not JSON, and why."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def decode_json(items: list[bytes]) -> tuple[list[Any], bool]:
    """Each item's JSON value, or an :class:`Unreadable` for one that is not JSON; and
    whether all were JSON.

    The host sends valid JSON, so the whole batch is read in one call to the JSON
    parser; only if that fails is each item read alone.
    """
    try:
        values = json.loads(b"[" + b",".join(items) + b"]")
        if len(values) == len(items):
            return values, True
    except ValueError:
        pass
    decoded: list[Any] = []
    for item in items:
        try:
            decoded.append(json.loads(item))
        except ValueError as err:
            decoded.append(Unreadable(f"cannot read the value: {err}"))
    return decoded, False


def read_config(text: str) -> Config:
    """The step's configuration from the host's JSON text."""
    settings = json.loads(text) if text else {}
    if not isinstance(settings, dict):
        raise PluginError(f"config must be a map, not {text}")
    return Config(settings)


def _windows(starts: Sequence[int], ends: Sequence[int]) -> list[Window]:
    """One window per element, each distinct window built once."""
    seen: dict[tuple[int, int], Window] = {}
    windows = []
    for bounds in zip(starts, ends):
        window = seen.get(bounds)
        if window is None:
            window = seen[bounds] = Window(*bounds)
        windows.append(window)
    return windows


# -- DoFn ---------------------------------------------------------------------------


class Emitted:
    """What a DoFn call emits, column by column, and the inputs it could not handle."""

    __slots__ = ("keys", "values", "timestamps", "sources", "side", "errors")

    def __init__(self) -> None:
        self.keys = Blobs()
        self.values = Blobs()
        self.timestamps: list[int] = []
        self.sources: list[int] = []
        # The side output of each output that goes to one, by output index: most
        # outputs go to the main output, so this stays small.
        self.side: dict[int, str] = {}
        self.errors: list[tuple[int, str]] = []

    def push(self, source: int, key: bytes, value: bytes, timestamp: int, to: str = "") -> None:
        """Emits one element, from input ``source``, to side output ``to`` ("": main)."""
        if to:
            self.side[len(self.timestamps)] = to
        self.keys.push(key)
        self.values.push(value)
        self.timestamps.append(timestamp)
        self.sources.append(source)

    def tags(self) -> Blobs:
        """Each output's side output ("" for the main one), or none if all go to the
        main output."""
        tags = Blobs()
        if self.side:
            for index in range(len(self.timestamps)):
                tags.push(self.side.get(index, "").encode())
        return tags

    def mark(self) -> tuple[int, int, int]:
        """Where the output stands, for :meth:`rollback`."""
        return len(self.keys.data), len(self.values.data), len(self.timestamps)

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Takes back what was emitted since ``mark``."""
        key_mark, value_mark, count = mark
        del self.keys.data[key_mark:], self.values.data[value_mark:]
        del self.keys.ends[count:], self.values.ends[count:]
        del self.timestamps[count:], self.sources[count:]
        for index in [index for index in self.side if index >= count]:
            del self.side[index]

    def drop(self, sources: Container[int], since: tuple[int, int, int]) -> None:
        """Takes back what the inputs ``sources`` emitted since ``since``."""
        kept = [
            (key, value, timestamp, source, self.side.get(index, ""))
            for index, key, value, timestamp, source in zip(
                range(since[2], len(self.timestamps)),
                split(bytes(self.keys.data), self.keys.ends)[since[2] :],
                split(bytes(self.values.data), self.values.ends)[since[2] :],
                self.timestamps[since[2] :],
                self.sources[since[2] :],
            )
            if source not in sources
        ]
        self.rollback(since)
        for key, value, timestamp, source, to in kept:
            self.push(source, key, value, timestamp, to)

    def emit_all(
        self, results: Iterable[Any] | None, source: int, key: bytes, timestamp: int
    ) -> None:
        """Emits what a call of the plugin returned for input ``source``, or nothing if
        iterating it raises (the exception propagates)."""
        if results is None:
            return
        if isinstance(results, (str, bytes, dict)) or not hasattr(results, "__iter__"):
            raise TypeError(
                "a DoFn yields the values it emits (or returns an iterable of them), "
                f"not a {type(results).__name__}"
            )
        keys, key_ends = self.keys.data, self.keys.ends
        values, value_ends = self.values.data, self.values.ends
        mark = self.mark()
        try:
            for item in results:
                if type(item) is Output:
                    if item.to:
                        self.side[len(self.timestamps)] = item.to
                    keys += key if item.key is SAME_KEY else encode_json(item.key)
                    values += encode_json(item.value)
                    self.timestamps.append(
                        timestamp if item.timestamp is None else _time(item.timestamp)
                    )
                else:
                    values += encode_json(item)
                    keys += key
                    self.timestamps.append(timestamp)
                key_ends.append(len(keys))
                value_ends.append(len(values))
                self.sources.append(source)
        except BaseException:
            # Take back what this input emitted before it failed.
            self.rollback(mark)
            raise


class Batch(Generic[In]):
    """A whole batch of elements, one list per field, for :meth:`DoFn.process_batch`.

    ``batch.values[i]`` is element ``i``'s value (``keys``, ``timestamps`` and
    ``windows`` alike); :meth:`emit` emits for element ``i``, :meth:`reject`
    dead-letters it, :meth:`element` gives it whole, with its state and timers.
    """

    __slots__ = ("keys", "values", "timestamps", "windows", "_sources", "_run", "rejected")

    def __init__(
        self,
        keys: list[Json],
        values: list[In],
        timestamps: Sequence[int],
        windows: list[Window],
        sources: Sequence[int],
        run: _BatchRun,
    ) -> None:
        self.keys = keys
        """Each element's key."""
        self.values = values
        """Each element's value."""
        self.timestamps = timestamps
        """Each element's event time."""
        self.windows = windows
        """Each element's window."""
        self._sources = sources
        self._run = run
        self.rejected: dict[int, str] = {}
        """The elements :meth:`reject` refused, by index into the call's inputs."""

    def __len__(self) -> int:
        return len(self.values)

    def _source(self, index: int) -> int:
        if index < 0:
            raise IndexError(f"no element {index} in a batch of {len(self.values)}")
        return self._sources[index]

    def emit(
        self,
        index: int,
        value: Json,
        *,
        key: Json = SAME_KEY,
        timestamp: int | None = None,
        to: str = "",
    ) -> None:
        """Emits ``value`` for element ``index``: with its key and event time unless
        ``key`` or ``timestamp`` say otherwise, in its window, to the main output or
        the side output ``to``."""
        if index < 0:
            raise IndexError(f"no element {index} in a batch of {len(self.values)}")
        source = self._sources[index]
        run = self._run
        keys, values = run.out.keys, run.out.values
        if to:
            run.out.side[len(run.out.timestamps)] = to
        # Emitted.push, written out: this runs once per output.
        keys.data += run.raw_keys[source] if key is SAME_KEY else encode_json(key)
        keys.ends.append(len(keys.data))
        values.data += encode_json(value)
        values.ends.append(len(values.data))
        run.out.timestamps.append(run.timestamps[source] if timestamp is None else _time(timestamp))
        run.out.sources.append(source)

    def reject(self, index: int, message: str) -> None:
        """Dead-letters element ``index`` with ``message``; what it emitted, and its
        state and timer writes, are taken back."""
        self.rejected[self._source(index)] = message

    def element(self, index: int) -> Element[In]:
        """Element ``index``, whose ``state`` and ``timers`` are its key's and window's."""
        return Element(
            self.values[index],
            self.keys[index],
            self.timestamps[index],
            self.windows[index],
            scope=self._run.staged,
            index=self._source(index),
        )


class _BatchRun:
    """What a batch's emissions need: the output, the inputs' raw keys and times, and
    the state writes held back."""

    __slots__ = ("out", "raw_keys", "timestamps", "staged")

    def __init__(
        self, out: Emitted, raw_keys: list[bytes], timestamps: Sequence[int], staged: Staged
    ) -> None:
        self.out = out
        self.raw_keys = raw_keys
        self.timestamps = timestamps
        self.staged = staged


def _time(timestamp: Any) -> int:
    if type(timestamp) is not int:
        raise TypeError(f"an output's timestamp is an int of milliseconds, not {timestamp!r}")
    return timestamp


class Keyed(Protocol):
    """The keyed state and timers the host (or a test harness) keeps: each call names
    the element (or fired timer) of the current batch by its index."""

    def get(self, index: int, name: str) -> bytes | None: ...
    def set(self, index: int, name: str, value: bytes) -> None: ...
    def clear(self, index: int, name: str) -> None: ...
    def set_event_timer(self, index: int, name: str, time: int) -> None: ...
    def set_processing_timer(self, index: int, name: str, time: int) -> None: ...
    def clear_timer(self, index: int, name: str) -> None: ...


class Staged:
    """The :class:`Scope` of a batch's elements: holds back the state and timer writes
    of the element being handled until it succeeds, so that an element that raises
    leaves no trace; reads see its own writes."""

    def __init__(self, scope: Keyed, codec: Codec[Any]) -> None:
        self._scope = scope
        self.codec = codec
        self._cells: dict[tuple[int, str], bytes | None] = {}
        self._timers: dict[tuple[int, str], tuple[str, int]] = {}

    def get(self, index: int, name: str) -> bytes | None:
        cell = (index, name)
        if cell in self._cells:
            return self._cells[cell]
        return self._scope.get(index, name)

    def set(self, index: int, name: str, value: bytes) -> None:
        self._cells[(index, name)] = value

    def clear(self, index: int, name: str) -> None:
        self._cells[(index, name)] = None

    def set_event_timer(self, index: int, name: str, time: int) -> None:
        self._timers[(index, name)] = ("event", time)

    def set_processing_timer(self, index: int, name: str, time: int) -> None:
        self._timers[(index, name)] = ("processing", time)

    def clear_timer(self, index: int, name: str) -> None:
        self._timers[(index, name)] = ("clear", 0)

    def commit(self) -> None:
        """Passes the writes held back on to the scope."""
        if self._cells:
            for (index, name), value in self._cells.items():
                if value is None:
                    self._scope.clear(index, name)
                else:
                    self._scope.set(index, name, value)
            self._cells.clear()
        if self._timers:
            for (index, name), (domain, time) in self._timers.items():
                if domain == "event":
                    self._scope.set_event_timer(index, name, time)
                elif domain == "processing":
                    self._scope.set_processing_timer(index, name, time)
                else:
                    self._scope.clear_timer(index, name)
            self._timers.clear()

    def discard(self) -> None:
        """Forgets the writes held back."""
        self._cells.clear()
        self._timers.clear()

    def discard_elements(self, indexes: Container[int]) -> None:
        """Forgets the writes held back for the elements ``indexes``."""
        self._cells = {cell: v for cell, v in self._cells.items() if cell[0] not in indexes}
        self._timers = {cell: v for cell, v in self._timers.items() if cell[0] not in indexes}


class DoFnRunner:
    """Runs a :class:`DoFn` over batches."""

    def __init__(self, plugin: type[DoFn[Any]], config: Config) -> None:
        self.function = plugin(config)
        self.codec = plugin.state_codec
        self.bulk = plugin.process_batch is not DoFn.process_batch

    def process(
        self,
        scope: Keyed,
        keys: bytes,
        key_ends: Sequence[int],
        values: bytes,
        value_ends: Sequence[int],
        timestamps: Sequence[int],
        window_starts: Sequence[int],
        window_ends: Sequence[int],
    ) -> Emitted:
        """Processes a batch of elements."""
        raw_keys = split(keys, key_ends)
        decoded_keys, _ = decode_json(raw_keys)
        decoded_values, clean = decode_json(split(values, value_ends))
        windows = _windows(window_starts, window_ends)
        out = Emitted()
        staged = Staged(scope, self.codec)
        if self.bulk:
            run = _BatchRun(out, raw_keys, timestamps, staged)
            whole = Batch(
                decoded_keys, decoded_values, timestamps, windows, range(len(windows)), run
            )
            if clean and (self._attempt(whole) or len(whole) == 1):
                return out
            # The batch failed as a whole: find the elements that fail, one by one.
            for index, value in enumerate(decoded_values):
                if type(value) is Unreadable:
                    out.errors.append((index, value.message))
                    continue
                one = [decoded_keys[index]], [value], [timestamps[index]], [windows[index]]
                self._attempt(Batch(*one, [index], run))
            return out
        process = self.function.process
        for index, value in enumerate(decoded_values):
            if type(value) is Unreadable:
                out.errors.append((index, value.message))
                continue
            timestamp = timestamps[index]
            element = Element(
                value, decoded_keys[index], timestamp, windows[index], scope=staged, index=index
            )
            try:
                out.emit_all(process(element), index, raw_keys[index], timestamp)
            except MemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - the element's fault, reported
                staged.discard()
                out.errors.append((index, describe(error)))
            else:
                staged.commit()
        return out

    def _attempt(self, batch: Batch[Any]) -> bool:
        """Runs ``process_batch`` over ``batch``; whether it returned. A batch of one
        element that raises is that element's error; a bigger one leaves no trace."""
        run = batch._run
        mark = run.out.mark()
        try:
            self.function.process_batch(batch)
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001 - the element's fault, reported
            run.out.rollback(mark)
            run.staged.discard()
            if len(batch) == 1:
                run.out.errors.append((batch._sources[0], describe(error)))
            return False
        if batch.rejected:
            run.out.drop(batch.rejected, mark)
            run.staged.discard_elements(batch.rejected)
            run.out.errors.extend(batch.rejected.items())
        run.staged.commit()
        return True

    def on_timer(
        self,
        scope: Keyed,
        keys: bytes,
        key_ends: Sequence[int],
        window_starts: Sequence[int],
        window_ends: Sequence[int],
        names: Sequence[str],
        times: Sequence[int],
    ) -> Emitted:
        """Handles timers that fired."""
        raw_keys = split(keys, key_ends)
        decoded_keys, _ = decode_json(raw_keys)
        windows = _windows(window_starts, window_ends)
        out = Emitted()
        staged = Staged(scope, self.codec)
        for index, key in enumerate(decoded_keys):
            timer = Timer(
                key, windows[index], names[index], times[index], scope=staged, index=index
            )
            try:
                out.emit_all(self.function.on_timer(timer), index, raw_keys[index], times[index])
            except MemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - the timer's fault, reported
                staged.discard()
                out.errors.append((index, describe(error)))
            else:
                staged.commit()
        return out


# -- CombineFn ----------------------------------------------------------------------


class CombineRunner:
    """Runs a :class:`CombineFn` over many (key, window) groups per call."""

    def __init__(self, plugin: type[CombineFn[Any, Any, Any]], config: Config) -> None:
        self.function = plugin(config)
        self.codec = plugin.accumulator_codec
        self.inversion = plugin.inversion
        self.accumulator_format = f"{self.codec.format}/{plugin.accumulator_format}"

    def create_accumulator(self) -> bytes:
        """A fresh accumulator's bytes."""
        return self.codec.encode(self.function.create_accumulator())

    def add(
        self,
        accumulators: bytes,
        accumulator_ends: Sequence[int],
        inputs: bytes,
        input_ends: Sequence[int],
        group_ends: Sequence[int],
        *,
        retract: bool = False,
    ) -> tuple[Blobs, list[tuple[int, str]]]:
        """Adds (or, with ``retract``, takes back) each group's inputs to its
        accumulator; returns the new accumulators and the rejected inputs."""
        values, clean = decode_json(split(inputs, input_ends))
        out = Blobs()
        rejected: list[tuple[int, str]] = []
        for data, group in zip(split(accumulators, accumulator_ends), ranges(group_ends)):
            if group.stop > len(values):
                raise PluginError("group ends past the inputs")
            readable: Sequence[int] = group
            if not clean:
                readable = []
                for index in group:
                    if type(values[index]) is Unreadable:
                        rejected.append((index, values[index].message))
                    else:
                        readable.append(index)
            out.push(self.codec.encode(self._fold(data, readable, values, rejected, retract)))
        return out, rejected

    def _fold(
        self,
        data: bytes,
        readable: Sequence[int],
        values: list[Any],
        rejected: list[tuple[int, str]],
        retract: bool,
    ) -> Any:
        """The accumulator ``data`` with the inputs ``readable`` (indexes into
        ``values``) added, or taken back."""
        if not retract:
            if type(readable) is range:
                inputs = values[readable.start : readable.stop]
            else:
                inputs = [values[index] for index in readable]
            try:
                return self.function.add_inputs(self.codec.decode(data), inputs)
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001 - found input by input below
                pass
        step = self.function.uncombine if retract else self.function.add_input
        accumulator = self.codec.decode(data)
        taken: list[int] = []
        for index in readable:
            try:
                accumulator = step(accumulator, values[index])
                taken.append(index)
            except MemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - the input's fault, reported
                rejected.append((index, describe(error)))
                # The failed call may have changed the accumulator: start again from
                # the stored one with the inputs taken so far.
                accumulator = self.codec.decode(data)
                for done in taken:
                    accumulator = step(accumulator, values[done])
        return accumulator

    def merge(
        self, accumulators: bytes, accumulator_ends: Sequence[int], group_ends: Sequence[int]
    ) -> Blobs:
        """Merges each group of accumulators into one."""
        items = split(accumulators, accumulator_ends)
        out = Blobs()
        merge = self.function.merge_accumulators
        for group in ranges(group_ends):
            merged = merge([self.codec.decode(items[index]) for index in group])
            out.push(self.codec.encode(merged))
        return out

    def extract(self, accumulators: bytes, accumulator_ends: Sequence[int]) -> Blobs:
        """The output value (JSON) of each accumulator."""
        out = Blobs()
        extract = self.function.extract_output
        for data in split(accumulators, accumulator_ends):
            out.push(encode_json(extract(self.codec.decode(data))))
        return out

    @property
    def invertible(self) -> bool:
        """Whether ``uncombine`` may be called."""
        return self.inversion is not Inversion.NONE


# -- WindowFn -----------------------------------------------------------------------


def _elements(
    keys: bytes,
    key_ends: Sequence[int],
    values: bytes,
    value_ends: Sequence[int],
    timestamps: Sequence[int],
    window_starts: Sequence[int],
    window_ends: Sequence[int],
) -> list[Element[Any]]:
    """The elements of a batch that has no state; a value that is not JSON fails it."""
    decoded_keys, _ = decode_json(split(keys, key_ends))
    decoded_values, _ = decode_json(split(values, value_ends))
    windows = _windows(window_starts, window_ends)
    elements = []
    for index, value in enumerate(decoded_values):
        if type(value) is Unreadable:
            raise PluginError(f"element {index}: {value.message}")
        elements.append(Element(value, decoded_keys[index], timestamps[index], windows[index]))
    return elements


class WindowRunner:
    """Runs a :class:`WindowFn` over batches."""

    def __init__(self, plugin: type[WindowFn[Any]], config: Config) -> None:
        self.function = plugin(config)
        self.merging = plugin.merging

    def assign(self, *columns: Any) -> tuple[list[int], list[int], list[int]]:
        """Each element's windows as (starts, ends, sources); ``columns`` are those of
        the batch, as :func:`_elements` takes them."""
        starts: list[int] = []
        ends: list[int] = []
        sources: list[int] = []
        for index, element in enumerate(_elements(*columns)):
            try:
                windows = list(self.function.assign(element))
                for window in windows:
                    if not isinstance(window, Window):
                        raise TypeError(f"assign yields Window objects, not {window!r}")
            except MemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - the call fails, naming the element
                raise PluginError(f"element {index}: {describe(error)}") from error
            for window in windows:
                starts.append(window.start)
                ends.append(window.end)
                sources.append(index)
        return starts, ends, sources

    def merge(
        self, starts: Sequence[int], ends: Sequence[int], key_ends: Sequence[int]
    ) -> tuple[list[int], list[int], list[int], list[int]]:
        """The merges among each key's windows, as (starts, ends, members, member ends)."""
        merged_starts: list[int] = []
        merged_ends: list[int] = []
        members: list[int] = []
        member_ends: list[int] = []
        for group in ranges(key_ends):
            windows = [Window(starts[i], ends[i]) for i in group]
            for indexes, result in self.function.merge(windows):
                merged_starts.append(result.start)
                merged_ends.append(result.end)
                for index in indexes:
                    if not 0 <= index < len(windows):
                        raise PluginError(
                            f"merge names window {index} of a key that has {len(windows)}"
                        )
                    members.append(group.start + index)
                member_ends.append(len(members))
        return merged_starts, merged_ends, members, member_ends


# -- Trigger ------------------------------------------------------------------------


class TriggerRunner:
    """Runs a :class:`Trigger` over many windows per call."""

    def __init__(self, plugin: type[Trigger[Any, Any]], config: Config) -> None:
        self.function = plugin(config)
        self.codec = plugin.state_codec

    def on_elements(
        self, states: bytes, state_ends: Sequence[int], element_ends: Sequence[int], *columns: Any
    ) -> tuple[Blobs, list[bool]]:
        """Each window's new state and whether it fires; ``columns`` are those of the
        batch's elements, as :func:`_elements` takes them."""
        elements = _elements(*columns)
        out = Blobs()
        fire: list[bool] = []
        for data, group in zip(split(states, state_ends), ranges(element_ends)):
            state = self.codec.decode(data) if data else self.function.initial_state()
            mine = elements[group.start : group.stop]
            window = mine[0].window if mine else Window.GLOBAL
            fires, state = self.function.on_elements(state, window, mine)
            fire.append(bool(fires))
            out.push(self.codec.encode(state))
        return out, fire
