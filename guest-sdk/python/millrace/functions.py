"""The four kinds of plugin — DoFn, CombineFn, WindowFn, Trigger — and what they see.

Subclass one of them, decorate the class with :func:`export`, and build the module
into a component (``guest-sdk/python/build.sh``). The SDK hands your methods native
Python values (keys, values and configuration are JSON values, as ``json.loads``
gives them) and turns what they return back into the host's column-by-column batches.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, get_args

from millrace._core import Config, Json, PluginError, Window
from millrace.codec import PICKLE, Codec

if TYPE_CHECKING:
    from millrace._glue import Batch

__all__ = [
    "CombineFn",
    "DoFn",
    "Element",
    "Inversion",
    "Output",
    "State",
    "Timer",
    "Timers",
    "Trigger",
    "WindowFn",
    "export",
]

In = TypeVar("In")
Acc = TypeVar("Acc")
Out = TypeVar("Out")
S = TypeVar("S")


class Scope(Protocol):
    """Where the keyed state and timers of a batch's elements live (the host, or a test
    harness). Each call names the element of the current batch by its index."""

    codec: Codec[Any]

    def get(self, index: int, name: str) -> bytes | None: ...
    def set(self, index: int, name: str, value: bytes) -> None: ...
    def clear(self, index: int, name: str) -> None: ...
    def set_event_timer(self, index: int, name: str, time: int) -> None: ...
    def set_processing_timer(self, index: int, name: str, time: int) -> None: ...
    def clear_timer(self, index: int, name: str) -> None: ...


class _Detached:
    """The scope of an element built by hand: it has no state or timers."""

    codec: Codec[Any] = PICKLE

    def _refuse(self, *_: object) -> Any:
        raise RuntimeError(
            "this element belongs to no batch: run it through millrace.testing.DoFnHarness "
            "to use state and timers"
        )

    get = set = clear = set_event_timer = set_processing_timer = clear_timer = _refuse


DETACHED: Scope = _Detached()


class State:
    """The keyed state of one element's (or timer's) key and window: cells by name.

    Use it like a dict of the cells (``state["seen"] = ts``, ``state.get("seen")``,
    ``"seen" in state``, ``del state["seen"]``); it cannot list its cells. Values are
    encoded with the DoFn's ``state_codec``. Writes of a call take effect only if the
    call succeeds.
    """

    __slots__ = ("_scope", "_index")

    def __init__(self, scope: Scope, index: int) -> None:
        self._scope = scope
        self._index = index

    def get(self, name: str, default: Any = None) -> Any:
        """The value of cell ``name``, or ``default`` when it holds none."""
        data = self._scope.get(self._index, name)
        return default if data is None else self._scope.codec.decode(data)

    def __getitem__(self, name: str) -> Any:
        data = self._scope.get(self._index, name)
        if data is None:
            raise KeyError(name)
        return self._scope.codec.decode(data)

    def __setitem__(self, name: str, value: Any) -> None:
        self._scope.set(self._index, name, self._scope.codec.encode(value))

    def __delitem__(self, name: str) -> None:
        """Empties cell ``name`` (whether or not it held a value)."""
        self._scope.clear(self._index, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._scope.get(self._index, name) is not None


class Timers:
    """The timers of one element's (or timer's) key and window, by name.

    Setting a timer again moves it. When it fires, the DoFn's ``on_timer`` is called
    with a :class:`Timer` of the same key, window and name.
    """

    __slots__ = ("_scope", "_index")

    def __init__(self, scope: Scope, index: int) -> None:
        self._scope = scope
        self._index = index

    def set_event(self, name: str, time: int) -> None:
        """Fires ``name`` once the watermark passes ``time`` (event time, ms)."""
        self._scope.set_event_timer(self._index, name, time)

    def set_processing(self, name: str, time: int) -> None:
        """Fires ``name`` once the processing clock passes ``time`` (ms)."""
        self._scope.set_processing_timer(self._index, name, time)

    def clear(self, name: str) -> None:
        """Cancels ``name``."""
        self._scope.clear_timer(self._index, name)


class _Keyed:
    """What an element and a fired timer share: the keyed state and timers of their
    key and window, in the call they belong to."""

    __slots__ = ("_scope", "_index")

    _scope: Scope
    _index: int

    @property
    def state(self) -> State:
        """The keyed state of this key and window."""
        return State(self._scope, self._index)

    @property
    def timers(self) -> Timers:
        """The timers of this key and window."""
        return Timers(self._scope, self._index)


class Element(_Keyed, Generic[In]):
    """An element handed to a plugin: its key, value, event time and window.

    ``state`` and ``timers`` reach the keyed state and timers of the element's key and
    window (DoFns only).
    """

    __slots__ = ("key", "value", "timestamp", "window")

    def __init__(
        self,
        value: In,
        key: Json = None,
        timestamp: int = 0,
        window: Window = Window.GLOBAL,
        *,
        scope: Scope = DETACHED,
        index: int = 0,
    ) -> None:
        self.value = value
        """The element's value."""
        self.key = key
        """The element's key (``None`` when it has none)."""
        self.timestamp = timestamp
        """The element's event time, in milliseconds since the epoch."""
        self.window = window
        """The element's window."""
        self._scope = scope
        self._index = index

    def __repr__(self) -> str:
        return (
            f"Element(value={self.value!r}, key={self.key!r}, "
            f"timestamp={self.timestamp}, window={self.window!r})"
        )


class Timer(_Keyed):
    """A timer that fired: the key and window it was set for, its name and time."""

    __slots__ = ("key", "window", "name", "time")

    def __init__(
        self, key: Json, window: Window, name: str, time: int, *, scope: Scope, index: int
    ) -> None:
        self.key = key
        """The key it was set for."""
        self.window = window
        """The window it was set for."""
        self.name = name
        """Its name."""
        self.time = time
        """The time it was set for."""
        self._scope = scope
        self._index = index

    def __repr__(self) -> str:
        return (
            f"Timer(key={self.key!r}, window={self.window!r}, name={self.name!r}, time={self.time})"
        )


class _SameKey:
    """The marker for "the input's key" (``None`` is the null key)."""

    def __repr__(self) -> str:
        return "SAME_KEY"


SAME_KEY: Any = _SameKey()


class Output:
    """An element a DoFn emits under another key or at another time than its input.

    ``yield value`` emits with the input's key and time; ``yield Output(value,
    key="ann", timestamp=ts)`` re-keys or re-times it, and ``to="rejects"`` sends it
    to a side output the step declares (``pardo: {plugin: …, outputs: [rejects]}``).
    Outputs always take the input's window.
    """

    __slots__ = ("value", "key", "timestamp", "to")

    def __init__(
        self,
        value: Json,
        *,
        key: Json = SAME_KEY,
        timestamp: int | None = None,
        to: str = "",
    ) -> None:
        self.value = value
        self.key = key
        self.timestamp = timestamp
        self.to = to

    def __repr__(self) -> str:
        return (
            f"Output({self.value!r}, key={self.key!r}, timestamp={self.timestamp!r}, "
            f"to={self.to!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Output) and (self.value, self.key, self.timestamp, self.to) == (
            other.value,
            other.key,
            other.timestamp,
            other.to,
        )


class DoFn(Generic[In]):
    """Turns each element into zero or more elements (``pardo`` steps).

    Override :meth:`process`, a generator that yields what to emit (or, for the bulk
    path, :meth:`process_batch`). Raising for an element dead-letters it (with
    :func:`millrace._core.describe`'s message) and takes back what it emitted and its
    state and timer writes; the rest of the batch carries on.
    """

    state_codec: ClassVar[Codec[Any]] = PICKLE
    """How state cells are stored."""

    def __init__(self, config: Config) -> None:
        """Builds the function from the step's configuration; raise
        :class:`PluginError` to refuse it (the spec is then refused)."""

    def process(self, element: Element[In]) -> Iterable[Any] | None:
        """Handles one element: yields values (or :class:`Output`) to emit."""
        raise NotImplementedError

    def process_batch(self, batch: Batch[In]) -> None:
        """The bulk path: handles a whole batch at once, emitting with
        ``batch.emit(index, value)`` and refusing with ``batch.reject(index, reason)``.

        Override it instead of :meth:`process` when a loop over the batch's lists is
        cheaper than a call per element. If it raises, the batch is taken back and each
        element is run again in a batch of its own, so that only the elements that
        raise are dead-lettered. Unless it is overridden, :meth:`process` is called for
        each element.
        """
        raise NotImplementedError

    def on_timer(self, timer: Timer) -> Iterable[Any] | None:
        """Handles a timer this function set; what it yields takes the timer's key,
        window and time unless an :class:`Output` says otherwise. Nothing by default."""
        return None


class Inversion(enum.Enum):
    """How a CombineFn takes a retracted input back out of an accumulator."""

    SUBTRACT = "subtract"
    """``uncombine`` subtracts any input, even one the accumulator never held (sums)."""
    REMOVE = "remove"
    """``uncombine`` removes an input the accumulator holds (collections)."""
    NONE = "none"
    """Inputs cannot be taken back; the host recomputes from the window's inputs."""


def _type_name(kind: Any) -> str:
    if isinstance(kind, type):
        if kind.__module__ == "builtins":
            return kind.__qualname__
        return f"{kind.__module__}.{kind.__qualname__}"
    return str(kind)


class CombineFn(Generic[In, Acc, Out]):
    """Folds the values of a (key, window) into an accumulator, and the accumulator into
    the pane's value (``combine`` steps).

    The host keeps the accumulators, encoded with ``accumulator_codec``, and names their
    format ``"<codec format>/<accumulator_format>"``; it refuses to hot-swap in a version
    whose format or ``inversion`` differs. ``accumulator_format`` defaults to
    ``"<accumulator type>/1"``, the type being the second parameter of ``CombineFn[…]``.
    """

    inversion: ClassVar[Inversion] = Inversion.NONE
    """Whether and how :meth:`uncombine` takes inputs back."""
    accumulator_codec: ClassVar[Codec[Any]] = PICKLE
    """How accumulators are stored."""
    accumulator_format: ClassVar[str]
    """Names the accumulator's shape; change it whenever the shape changes."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "accumulator_format" in cls.__dict__:
            return
        for base in cls.__dict__.get("__orig_bases__", ()):
            arguments = get_args(base)
            if len(arguments) == 3 and not isinstance(arguments[1], TypeVar):
                cls.accumulator_format = f"{_type_name(arguments[1])}/1"
                return
        if not hasattr(cls, "accumulator_format"):
            cls.accumulator_format = f"{_type_name(cls)}/1"

    def __init__(self, config: Config) -> None:
        """Builds the function from the step's configuration; raise
        :class:`PluginError` to refuse it."""

    def create_accumulator(self) -> Acc:
        """A fresh accumulator."""
        raise NotImplementedError

    def add_input(self, accumulator: Acc, input: In) -> Acc:
        """Adds one input; returns the new accumulator (or ``accumulator``, changed).

        Raising rejects the input (it is dead-lettered) and its group's accumulator is
        as if it had never been given.
        """
        raise NotImplementedError

    def add_inputs(self, accumulator: Acc, inputs: list[In]) -> Acc:
        """Adds a group's inputs at once: the bulk path, one call per (key, window) of a
        batch. Override it when a whole list is cheaper (``sum(inputs)``); when it
        raises, the inputs are added one by one with :meth:`add_input` instead, so that
        only the bad ones are rejected. By default it calls :meth:`add_input`."""
        for item in inputs:
            accumulator = self.add_input(accumulator, item)
        return accumulator

    def merge_accumulators(self, accumulators: list[Acc]) -> Acc:
        """One accumulator holding everything ``accumulators`` hold (merging windows)."""
        raise NotImplementedError

    def extract_output(self, accumulator: Acc) -> Out:
        """The pane's value (a JSON value)."""
        raise NotImplementedError

    def uncombine(self, accumulator: Acc, input: In) -> Acc:
        """Takes a retracted input back out; only called when :attr:`inversion` is not
        ``NONE``. Raising rejects it, as in :meth:`add_input`."""
        raise PluginError("this combine function cannot take inputs back")


class WindowFn(Generic[In]):
    """A custom window function (``window: {custom: …}``)."""

    merging: ClassVar[bool] = False
    """Whether windows can merge; if so, override :meth:`merge`."""

    def __init__(self, config: Config) -> None:
        """Builds the function from the step's configuration."""

    def assign(self, element: Element[In]) -> Iterable[Window]:
        """The windows of one element (none, one or several)."""
        raise NotImplementedError

    def merge(self, windows: list[Window]) -> Iterable[tuple[Sequence[int], Window]]:
        """Which of one key's windows merge: each merge is the indexes into ``windows``
        of its members, and the window they become. None by default."""
        return ()


class Trigger(Generic[In, S]):
    """A data-driven trigger: decides from arriving elements when a window fires.

    It keeps a state per window, encoded with ``state_codec``, which lives as long as
    the window, across firings: reset it when firing if it describes one pane.
    """

    state_codec: ClassVar[Codec[Any]] = PICKLE
    """How the per-window state is stored."""

    def __init__(self, config: Config) -> None:
        """Builds the trigger from the step's configuration."""

    def initial_state(self) -> S:
        """The state of a window that has seen nothing yet."""
        raise NotImplementedError

    def on_elements(self, state: S, window: Window, elements: list[Element[In]]) -> tuple[bool, S]:
        """New elements arrived in ``window``'s pane: whether it fires now, and the
        window's new state."""
        raise NotImplementedError


_KINDS: dict[type, str] = {
    DoFn: "dofn",
    CombineFn: "combine",
    WindowFn: "window",
    Trigger: "trigger",
}
_exported: list[type] = []

P = TypeVar("P", bound=type)


def kind_of(plugin: type) -> str:
    """``dofn``, ``combine``, ``window`` or ``trigger``: which kind ``plugin`` is."""
    for base, kind in _KINDS.items():
        if isinstance(plugin, type) and issubclass(plugin, base) and plugin is not base:
            return kind
    raise TypeError(f"{plugin!r} is not a DoFn, CombineFn, WindowFn or Trigger subclass")


def export(plugin: P) -> P:
    """Makes a class the module's plugin (a class decorator); one per component."""
    kind_of(plugin)
    if _exported and _exported[0] is not plugin:
        raise TypeError(
            f"{_exported[0].__qualname__} is exported already; a component has one plugin"
        )
    _exported[:] = [plugin]
    return plugin


def exported() -> type:
    """The class :func:`export` marked."""
    if not _exported:
        raise LookupError("no plugin class is exported: decorate it with @millrace.export")
    return _exported[0]
