"""The ``combine-plugin`` world: exports ``millrace:plugin/combine-fn``."""

from __future__ import annotations

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import combine_fn as wit
from wit_world.imports import types

from millrace._core import describe
from millrace._glue import Blobs, CombineRunner
from millrace._wit._host import guarded, start
from millrace.functions import Inversion, exported

_INVERSIONS = {
    Inversion.SUBTRACT: wit.Inversion.SUBTRACT,
    Inversion.REMOVE: wit.Inversion.REMOVE,
    Inversion.NONE: wit.Inversion.NONE,
}

_runner: CombineRunner | None = None


def _blobs(blobs: Blobs) -> types.Blobs:
    return types.Blobs(bytes(blobs.data), blobs.ends)


def _added(blobs: Blobs, rejected: list[tuple[int, str]]) -> wit.Added:
    return wit.Added(
        _blobs(blobs), [types.ElementError(index, message) for index, message in rejected]
    )


def _uncombine_error(error: Exception) -> Err[wit.UncombineError]:
    return Err(wit.UncombineError_Failed(types.Error(describe(error))))


def _started() -> CombineRunner:
    if _runner is None:
        raise RuntimeError("the plugin was not initialized")
    return _runner


class CombineFn(exports.CombineFn):
    """The export: hands groups of inputs and accumulators to the plugin's CombineFn."""

    @guarded()
    def init(self) -> wit.Info:
        global _runner
        _runner = CombineRunner(exported(), start())
        return wit.Info(_runner.accumulator_format, _INVERSIONS[_runner.inversion])

    def create_accumulator(self) -> bytes:
        # The interface has no error here: an exception traps the instance.
        return _started().create_accumulator()

    @guarded()
    def add_inputs(
        self, accumulators: types.Blobs, inputs: types.Blobs, group_ends: list[int]
    ) -> wit.Added:
        blobs, rejected = _started().add(
            accumulators.bytes, accumulators.ends, inputs.bytes, inputs.ends, group_ends
        )
        return _added(blobs, rejected)

    @guarded(_uncombine_error)
    def uncombine(
        self, accumulators: types.Blobs, inputs: types.Blobs, group_ends: list[int]
    ) -> wit.Added:
        runner = _started()
        if not runner.invertible:
            raise Err(wit.UncombineError_NotInvertible())
        blobs, rejected = runner.add(
            accumulators.bytes,
            accumulators.ends,
            inputs.bytes,
            inputs.ends,
            group_ends,
            retract=True,
        )
        return _added(blobs, rejected)

    @guarded()
    def merge_accumulators(self, accumulators: types.Blobs, group_ends: list[int]) -> types.Blobs:
        return _blobs(_started().merge(accumulators.bytes, accumulators.ends, group_ends))

    @guarded()
    def extract_outputs(self, accumulators: types.Blobs) -> types.Blobs:
        return _blobs(_started().extract(accumulators.bytes, accumulators.ends))
