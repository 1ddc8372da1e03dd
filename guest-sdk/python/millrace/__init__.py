"""Write millrace plugins in Python.

A plugin is a WebAssembly component that gives a millrace pipeline one piece of user
logic. Subclass one of four classes and decorate it with :func:`export`:

- :class:`DoFn`: turns each element into zero or more elements (``pardo`` steps), with
  keyed state and timers when it needs them;
- :class:`CombineFn`: folds a window's values into one (``combine`` steps);
- :class:`WindowFn`: a custom window function (``window: {custom: …}``);
- :class:`Trigger`: a data-driven trigger that looks at arriving elements.

The host owns time, windows, triggers and state; the SDK hands your methods native
Python values and turns what they return into the host's batches. A complete sum::

    import millrace

    @millrace.export
    class Sum(millrace.CombineFn[int, int, int]):
        inversion = millrace.Inversion.SUBTRACT

        def create_accumulator(self) -> int:
            return 0

        def add_input(self, total: int, value: int) -> int:
            return total + value

        def merge_accumulators(self, totals: list[int]) -> int:
            return sum(totals)

        def extract_output(self, total: int) -> int:
            return total

        def uncombine(self, total: int, value: int) -> int:
            return total - value

Test it natively with :mod:`millrace.testing`; build it with
``guest-sdk/python/build.sh PLUGIN_DIR OUT.wasm`` (componentize-py 0.25.1).
"""

from millrace import codec, metrics, postcard
from millrace._core import Config, Json, PluginError, Window
from millrace._glue import Batch
from millrace.codec import JSON, PICKLE, Codec
from millrace.functions import (
    CombineFn,
    DoFn,
    Element,
    Inversion,
    Output,
    State,
    Timer,
    Timers,
    Trigger,
    WindowFn,
    export,
)
from millrace.metrics import counter_add, gauge_set

__all__ = [
    "JSON",
    "PICKLE",
    "Batch",
    "Codec",
    "CombineFn",
    "Config",
    "DoFn",
    "Element",
    "Inversion",
    "Json",
    "Output",
    "PluginError",
    "State",
    "Timer",
    "Timers",
    "Trigger",
    "Window",
    "WindowFn",
    "codec",
    "counter_add",
    "export",
    "gauge_set",
    "metrics",
    "postcard",
]
