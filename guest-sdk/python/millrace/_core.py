"""Values every kind of plugin uses: windows, configuration and errors."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Config", "Json", "PluginError", "Window", "describe"]

Json = None | bool | int | float | str | list[Any] | dict[str, Any]
"""A JSON value as Python holds it: keys, values and configuration are these."""

MIN_TIME = -(2**63)
MAX_TIME = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Window:
    """A window of event time: ``[start, end)`` in milliseconds since the epoch."""

    start: int
    """First instant in the window (``-2**63`` for the global window)."""
    end: int
    """First instant after the window (``2**63 - 1`` for the global window)."""

    GLOBAL: ClassVar[Window]
    """The global window, which covers all time."""

    @property
    def is_global(self) -> bool:
        """Whether this is the global window."""
        return self.start == MIN_TIME and self.end == MAX_TIME

    @property
    def max_timestamp(self) -> int:
        """The last instant in the window."""
        return self.end - 1


Window.GLOBAL = Window(MIN_TIME, MAX_TIME)


class PluginError(Exception):
    """Refuses an element (or a call) with this message, as it stands.

    Raise it for bad input: the host sends the element to the dead-letter output with
    the message. Any other exception is reported too, prefixed with its type and the
    line that raised it, since it is more likely a bug in the plugin. A
    ``MemoryError`` is not caught: it costs the plugin its instance, which the host
    re-creates, as for a runaway loop.
    """


def describe(error: BaseException) -> str:
    """What the dead-letter output says about ``error``."""
    if isinstance(error, PluginError):
        return str(error)
    text = str(error)
    name = type(error).__qualname__
    message = f"{name}: {text}" if text else name
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        frame = frames[-1]
        message += f" (at {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    return message


_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a map",
}


def _quote(name: str) -> str:
    """``name`` in double quotes, as the Rust SDK's messages quote it."""
    return json.dumps(name, ensure_ascii=False)


def _type_name(kind: type) -> str:
    return _TYPE_NAMES.get(kind, kind.__name__)


class Config(Mapping[str, Json]):
    """The step's configuration: the spec's ``config`` for the plugin, a read-only map.

    Read it like a dict (``config.get("field")``, ``config["k"]``), or with
    :meth:`require` and :meth:`optional`, which check the type and raise a
    :class:`PluginError` that names the setting.
    """

    def __init__(self, settings: Mapping[str, Json] | None = None) -> None:
        self._settings: dict[str, Json] = dict(settings or {})

    def __getitem__(self, name: str) -> Json:
        return self._settings[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._settings)

    def __len__(self) -> int:
        return len(self._settings)

    def __repr__(self) -> str:
        return f"Config({self._settings!r})"

    def require(self, name: str, kind: type[Any]) -> Any:
        """The setting ``name``, which must be present and of type ``kind``.

        ``float`` accepts integers too (converting them); ``int`` refuses booleans.
        """
        value = self.optional(name, kind)
        if value is None:
            raise PluginError(f"config {_quote(name)} is required")
        return value

    def optional(self, name: str, kind: type[Any], default: Any = None) -> Any:
        """The setting ``name`` of type ``kind``, or ``default`` when absent or null."""
        value = self._settings.get(name)
        if value is None:
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise PluginError(
                f"config {_quote(name)}: expected {_type_name(kind)}, got {_json_type(value)}"
            )
        return value

    def allow_only(self, *names: str) -> None:
        """Refuses settings other than ``names``, naming the first unknown one."""
        for name in self._settings:
            if name not in names:
                expected = ", ".join(_quote(n) for n in names)
                raise PluginError(
                    f"config: unknown setting {_quote(name)}, expected one of {expected}"
                )


def _json_type(value: Json) -> str:
    if value is None:
        return "null"
    return _type_name(type(value))
