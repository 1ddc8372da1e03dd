"""The SDK's batch code, natively, through the test harnesses."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import millrace  # noqa: E402
from millrace import Element, Output, PluginError, Window  # noqa: E402
from millrace._glue import decode_json  # noqa: E402
from millrace.testing import CombineHarness, DoFnHarness, TriggerHarness, WindowHarness  # noqa: E402


class Doubler(millrace.DoFn[int]):
    def process(self, element):
        element.state["last"] = element.value
        yield element.value * 2
        if element.value < 0:
            raise ValueError("negative")
        yield Output(element.value, key="copy", timestamp=element.timestamp + 1)


class BulkDoubler(millrace.DoFn[int]):
    """Takes the bulk path: rejects negatives, and raises (failing the batch) on 13."""

    batches: list[int] = []

    def process_batch(self, batch):
        BulkDoubler.batches.append(len(batch))
        for index, value in enumerate(batch.values):
            batch.element(index).state["seen"] = value
            if value == 13:
                raise ValueError("unlucky")
            batch.emit(index, value * 2)
            if value < 0:
                batch.reject(index, "negative")
            else:
                batch.emit(index, value, key="copy", timestamp=batch.timestamps[index] + 1)


class Splitter(millrace.DoFn[int]):
    """Odd values to the side output "odd", even ones to the main output; fails on 7
    after emitting."""

    def process(self, element):
        yield Output(element.value, to="odd" if element.value % 2 else "")
        if element.value == 7:
            raise ValueError("seven")


class BulkSplitter(millrace.DoFn[int]):
    """As Splitter, on the bulk path: rejects 7 after emitting it."""

    def process_batch(self, batch):
        for index, value in enumerate(batch.values):
            batch.emit(index, value, to="odd" if value % 2 else "")
            if value == 7:
                batch.reject(index, "seven")


class Reminder(millrace.DoFn[str]):
    """Emits each value again once the processing clock passes 100 ms after it."""

    def process(self, element):
        element.state["value"] = element.value
        element.timers.set_processing("remind", 100)
        return ()

    def on_timer(self, timer):
        yield f"{timer.state['value']} at {timer.time}"
        del timer.state["value"]


class Collect(millrace.CombineFn[int, list, list]):
    """Mutates its accumulator in place, and fails on 13 after mutating."""

    inversion = millrace.Inversion.REMOVE

    def create_accumulator(self):
        return []

    def add_input(self, values, value):
        values.append(value)
        if value == 13:
            raise PluginError("unlucky")
        return values

    def merge_accumulators(self, lists):
        return sorted(v for values in lists for v in values)

    def extract_output(self, values):
        return sorted(values)

    def uncombine(self, values, value):
        values.remove(value)
        return values


class Bulk(Collect):
    accumulator_format = "bulk/2"
    bulk_calls = 0

    def add_inputs(self, values, inputs):
        Bulk.bulk_calls += 1
        if 13 in inputs:
            raise PluginError("unlucky")
        return values + inputs


class Sessions(millrace.WindowFn[int]):
    merging = True

    def assign(self, element):
        yield Window(element.timestamp, element.timestamp + 10)

    def merge(self, windows):
        order = sorted(range(len(windows)), key=lambda i: windows[i].start)
        group = [order[0]]
        end = windows[order[0]].end
        for i in order[1:]:
            if windows[i].start < end:
                group.append(i)
                end = max(end, windows[i].end)
        if len(group) > 1:
            yield group, Window(min(windows[i].start for i in group), end)


class Every(millrace.Trigger[int, int]):
    def __init__(self, config):
        self.n = config.require("n", int)

    def initial_state(self):
        return 0

    def on_elements(self, count, window, elements):
        count += len(elements)
        return (True, 0) if count >= self.n else (False, count)


class DoFnTest(unittest.TestCase):
    def test_a_failing_element_takes_back_its_outputs_and_state(self) -> None:
        harness = DoFnHarness(Doubler)
        out = harness.process(
            [Element(1, key="a", timestamp=10), Element(-1, key="b"), Element(2, key="a")]
        )
        self.assertEqual(
            [(r.key, r.value, r.timestamp, r.source) for r in out.outputs],
            [("a", 2, 10, 0), ("copy", 1, 11, 0), ("a", 4, 0, 2), ("copy", 2, 1, 2)],
        )
        [(index, message)] = out.errors
        self.assertEqual(index, 1)
        self.assertRegex(message, r"^ValueError: negative \(at test_sdk.py:\d+ in process\)$")
        self.assertEqual(
            harness.state, {('"a"', Window.GLOBAL.start, Window.GLOBAL.end): {"last": 2}}
        )

    def test_side_outputs_are_named_per_output_and_taken_back_with_a_failed_element(
        self,
    ) -> None:
        for dofn in (Splitter, BulkSplitter):
            out = DoFnHarness(dofn).process([Element(v, key="k") for v in (1, 2, 7, 3)])
            self.assertEqual(
                [(r.value, r.to, r.source) for r in out.outputs],
                [(1, "odd", 0), (2, "", 1), (3, "odd", 3)],
                dofn.__name__,
            )
            self.assertEqual([index for index, _ in out.errors], [2], dofn.__name__)

    def test_outputs_carry_no_tags_unless_one_goes_to_a_side_output(self) -> None:
        from millrace._glue import Emitted

        main = Emitted()
        main.push(0, b"null", b"1", 5)
        self.assertEqual(main.tags().ends, [])
        mixed = Emitted()
        mixed.push(0, b"null", b"1", 5)
        mixed.push(0, b"null", b"2", 5, to="odd")
        self.assertEqual((bytes(mixed.tags().data), mixed.tags().ends), (b"odd", [0, 3]))

    def test_the_bulk_path_takes_back_what_rejected_elements_did(self) -> None:
        harness = DoFnHarness(BulkDoubler)
        BulkDoubler.batches.clear()
        out = harness.process([Element(1, key="a"), Element(-1, key="b"), Element(2, key="c")])
        self.assertEqual(
            [(r.key, r.value, r.source) for r in out.outputs],
            [("a", 2, 0), ("copy", 1, 0), ("c", 4, 2), ("copy", 2, 2)],
        )
        self.assertEqual(out.errors, [(1, "negative")])
        self.assertEqual(sorted(slot[0] for slot in harness.state), ['"a"', '"c"'])
        self.assertEqual(BulkDoubler.batches, [3])

    def test_a_bulk_batch_that_raises_is_run_again_element_by_element(self) -> None:
        harness = DoFnHarness(BulkDoubler)
        BulkDoubler.batches.clear()
        out = harness.process(
            [Element(1, key="a"), Element(13, key="b"), Element(-1, key="c"), Element(2, key="d")]
        )
        self.assertEqual(
            [(r.value, r.source) for r in out.outputs], [(2, 0), (1, 0), (4, 3), (2, 3)]
        )
        self.assertEqual(out.errors[0][0], 1)
        self.assertTrue(out.errors[0][1].startswith("ValueError: unlucky (at test_sdk.py:"))
        self.assertEqual(out.errors[1], (2, "negative"))
        self.assertEqual(BulkDoubler.batches, [4, 1, 1, 1, 1])
        self.assertEqual(sorted(slot[0] for slot in harness.state), ['"a"', '"d"'])

    def test_processing_time_timers_fire_with_their_state(self) -> None:
        harness = DoFnHarness(Reminder)
        harness.process([Element("tea", key="a", window=Window(0, 1000))])
        self.assertEqual(harness.advance_processing_time(100).outputs, [])
        [fired] = harness.advance_processing_time(101).outputs
        self.assertEqual((fired.key, fired.value, fired.timestamp), ("a", "tea at 100", 100))
        self.assertEqual((harness.state, harness.timers), ({}, {}))

    def test_a_dofn_must_yield(self) -> None:
        class Returns(millrace.DoFn[int]):
            def process(self, element):
                return {"x": 1}

        [(_, message)] = DoFnHarness(Returns).process([Element(1)]).errors
        self.assertIn("not a dict", message)

    def test_state_needs_a_batch(self) -> None:
        with self.assertRaisesRegex(RuntimeError, "belongs to no batch"):
            Element(1).state["x"] = 1


class CombineTest(unittest.TestCase):
    def test_a_rejected_input_is_as_if_never_given_even_after_mutating(self) -> None:
        combine = CombineHarness(Collect)
        total, rejected = combine.add(combine.create(), [3, 13, 4])
        self.assertEqual(rejected, [(1, "unlucky")])
        self.assertEqual(combine.extract(total), [3, 4])
        total, _ = combine.add(total, [3], retract=True)
        self.assertEqual(combine.extract(total), [4])
        self.assertEqual(combine.extract(combine.merge([total, total])), [4, 4])

    def test_the_bulk_path_falls_back_input_by_input(self) -> None:
        combine = CombineHarness(Bulk)
        total, rejected = combine.add(combine.create(), [1, 2])
        self.assertEqual((combine.extract(total), rejected, Bulk.bulk_calls), ([1, 2], [], 1))
        total, rejected = combine.add(total, [13, 5])
        self.assertEqual((combine.extract(total), rejected), ([1, 2, 5], [(0, "unlucky")]))
        self.assertEqual(Bulk.bulk_calls, 2)

    def test_combine_runs_create_add_and_extract(self) -> None:
        self.assertEqual(CombineHarness(Collect).combine([3, 1]), [1, 3])
        with self.assertRaisesRegex(AssertionError, "rejected"):
            CombineHarness(Collect).combine([13])

    def test_the_accumulator_format_names_the_codec_and_the_type(self) -> None:
        self.assertEqual(CombineHarness(Collect).accumulator_format, "pickle/list/1")
        self.assertEqual(CombineHarness(Bulk).accumulator_format, "pickle/bulk/2")


class WindowTest(unittest.TestCase):
    def test_assigns_and_merges(self) -> None:
        windows = WindowHarness(Sessions)
        self.assertEqual(
            windows.assign([Element(1, timestamp=0), Element(1, timestamp=5)]),
            [[Window(0, 10)], [Window(5, 15)]],
        )
        self.assertEqual(
            windows.merge([Window(20, 30), Window(0, 10), Window(5, 15)]), [([1, 2], Window(0, 15))]
        )


class TriggerTest(unittest.TestCase):
    def test_keeps_state_per_window(self) -> None:
        trigger = TriggerHarness(Every, {"n": 3})
        self.assertEqual(
            [trigger.on_elements([1, 1]), trigger.on_elements([1]), trigger.on_elements([1])],
            [False, True, False],
        )
        self.assertEqual(trigger.state(), 1)


class BatchTest(unittest.TestCase):
    def test_values_are_read_in_one_go_or_one_by_one(self) -> None:
        self.assertEqual(decode_json([b"1", b'"a"', b"[2]"]), ([1, "a", [2]], True))
        decoded, clean = decode_json([b"1", b"{oops", b"3"])
        self.assertEqual((decoded[0], decoded[2], clean), (1, 3, False))
        self.assertTrue(decoded[1].message.startswith("cannot read the value"))

    def test_windows(self) -> None:
        self.assertTrue(Window.GLOBAL.is_global)
        self.assertEqual((Window(0, 10).is_global, Window(0, 10).max_timestamp), (False, 9))

    def test_config_checks_types(self) -> None:
        config = millrace.Config({"n": 3, "flag": True, "ratio": 2})
        self.assertEqual(config.require("ratio", float), 2.0)
        with self.assertRaisesRegex(
            PluginError, 'config "flag": expected an integer, got a boolean'
        ):
            config.require("flag", int)
        self.assertEqual(config.optional("missing", str, "x"), "x")


if __name__ == "__main__":
    unittest.main()
