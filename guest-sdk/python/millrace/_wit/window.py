"""The ``window-plugin`` world: exports ``millrace:plugin/window-fn``."""

from __future__ import annotations

from wit_world import exports
from wit_world.exports import window_fn as wit
from wit_world.imports import types

from millrace._glue import WindowRunner
from millrace._wit._host import guarded, start
from millrace.functions import exported

_runner: WindowRunner | None = None


def _started() -> WindowRunner:
    if _runner is None:
        raise RuntimeError("the plugin was not initialized")
    return _runner


class WindowFn(exports.WindowFn):
    """The export: hands batches and windows to the plugin's WindowFn."""

    @guarded()
    def init(self) -> wit.Info:
        global _runner
        _runner = WindowRunner(exported(), start())
        return wit.Info(merging=_runner.merging)

    @guarded()
    def assign(self, input: types.Elements) -> wit.Assignment:
        return wit.Assignment(
            *_started().assign(
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
    def merge(self, starts: list[int], ends: list[int], key_ends: list[int]) -> wit.Merges:
        return wit.Merges(*_started().merge(starts, ends, key_ends))
