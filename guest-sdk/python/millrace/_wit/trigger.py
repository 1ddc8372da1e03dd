"""The ``trigger-plugin`` world: exports ``millrace:plugin/trigger``."""

from __future__ import annotations

from wit_world import exports
from wit_world.exports import trigger as wit
from wit_world.imports import types

from millrace._glue import TriggerRunner
from millrace._wit._host import guarded, start
from millrace.functions import exported

_runner: TriggerRunner | None = None


def _started() -> TriggerRunner:
    if _runner is None:
        raise RuntimeError("the plugin was not initialized")
    return _runner


class Trigger(exports.Trigger):
    """The export: hands each window's new elements to the plugin's Trigger."""

    @guarded()
    def init(self) -> None:
        global _runner
        _runner = TriggerRunner(exported(), start())

    @guarded()
    def on_elements(
        self, states: types.Blobs, input: types.Elements, element_ends: list[int]
    ) -> wit.Decision:
        blobs, fire = _started().on_elements(
            states.bytes,
            states.ends,
            element_ends,
            input.keys.bytes,
            input.keys.ends,
            input.values.bytes,
            input.values.ends,
            input.timestamps,
            input.window_starts,
            input.window_ends,
        )
        return wit.Decision(types.Blobs(bytes(blobs.data), blobs.ends), fire)
