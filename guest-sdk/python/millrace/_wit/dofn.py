"""The ``dofn-plugin`` world: exports ``millrace:plugin/dofn``."""

from __future__ import annotations

from wit_world import exports
from wit_world.exports import dofn as wit
from wit_world.imports import state, types

from millrace._glue import Blobs, DoFnRunner, Emitted
from millrace._wit._host import guarded, start
from millrace.functions import exported


class _HostState:
    """Keyed state and timers, kept by the host."""

    get = staticmethod(state.get)
    set = staticmethod(state.set)
    clear = staticmethod(state.clear)
    set_event_timer = staticmethod(state.set_event_timer)
    set_processing_timer = staticmethod(state.set_processing_timer)
    clear_timer = staticmethod(state.clear_timer)


_STATE = _HostState()
_runner: DoFnRunner | None = None


def _blobs(blobs: Blobs) -> types.Blobs:
    return types.Blobs(bytes(blobs.data), blobs.ends)


def _output(emitted: Emitted) -> wit.Output:
    return wit.Output(
        keys=types.Blobs(bytes(emitted.keys.data), emitted.keys.ends),
        values=types.Blobs(bytes(emitted.values.data), emitted.values.ends),
        timestamps=emitted.timestamps,
        sources=emitted.sources,
        tags=_blobs(emitted.tags()),
        errors=[types.ElementError(index, message) for index, message in emitted.errors],
    )


def _started() -> DoFnRunner:
    if _runner is None:
        raise RuntimeError("the plugin was not initialized")
    return _runner


class Dofn(exports.Dofn):
    """The export: hands batches to the plugin's DoFn."""

    @guarded()
    def init(self) -> None:
        global _runner
        _runner = DoFnRunner(exported(), start())

    @guarded()
    def process(self, input: types.Elements) -> wit.Output:
        return _output(
            _started().process(
                _STATE,
                input.keys.bytes,
                input.keys.ends,
                input.values.bytes,
                input.values.ends,
                input.timestamps,
                input.window_starts,
                input.window_ends,
            )
        )

    @guarded()
    def on_timer(self, timers: wit.FiredTimers) -> wit.Output:
        return _output(
            _started().on_timer(
                _STATE,
                timers.keys.bytes,
                timers.keys.ends,
                timers.window_starts,
                timers.window_ends,
                timers.names,
                timers.times,
            )
        )
