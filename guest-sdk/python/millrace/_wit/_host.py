"""What every world imports from the host: configuration, logging and metrics."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from componentize_py_types import Err
from wit_world.imports import host, types

from millrace import metrics
from millrace._core import Config, describe
from millrace._glue import read_config


def _level(levelno: int) -> host.Level:
    if levelno >= logging.ERROR:
        return host.Level.ERROR
    if levelno >= logging.WARNING:
        return host.Level.WARN
    if levelno >= logging.INFO:
        return host.Level.INFO
    if levelno >= logging.DEBUG:
        return host.Level.DEBUG
    return host.Level.TRACE


class HostLog(logging.Handler):
    """Sends log records to the host's log."""

    def emit(self, record: logging.LogRecord) -> None:
        host.log(_level(record.levelno), self.format(record))


class HostMetrics:
    """Sends counters and gauges to the host."""

    def counter_add(self, name: str, delta: int) -> None:
        host.counter_add(name, delta)

    def gauge_set(self, name: str, value: float) -> None:
        host.gauge_set(name, value)


def start() -> Config:
    """Connects logging (level INFO and up) and metrics to the host; returns the
    step's configuration."""
    metrics.install(HostMetrics())
    root = logging.getLogger()
    root.handlers[:] = [HostLog()]
    root.setLevel(logging.INFO)
    return read_config(host.config())


F = TypeVar("F", bound=Callable[..., Any])


def _error(error: Exception) -> Err[Any]:
    return Err(types.Error(describe(error)))


def guarded(to_error: Callable[[Exception], Err[Any]] = _error) -> Callable[[F], F]:
    """Makes an exported method's exceptions its error value (``to_error`` of it), so
    the call fails as a whole and the host carries on. A ``MemoryError`` escapes: it
    traps the instance, which the host re-creates."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def call(*args: Any) -> Any:
            try:
                return method(*args)
            except (Err, MemoryError):
                raise
            except Exception as error:  # noqa: BLE001 - reported to the host
                raise to_error(error) from None

        return cast(F, call)

    return wrap
