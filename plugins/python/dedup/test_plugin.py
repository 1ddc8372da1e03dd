"""The dedup plugin, natively: ``python3 -m unittest`` in this folder."""

import sys
import unittest
from pathlib import Path

# The repository's SDK (elsewhere: pip install -e guest-sdk/python).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from millrace import Element, PluginError  # noqa: E402
from millrace.testing import DoFnHarness  # noqa: E402
from plugin import Dedup  # noqa: E402


def record(key, event_id, n, ts):
    return Element({"event_id": event_id, "n": n}, key=key, timestamp=ts)


class DedupTest(unittest.TestCase):
    def test_remembers_ids_per_key_until_the_horizon_passes(self) -> None:
        dedup = DoFnHarness(Dedup, {"id": "event_id", "horizon": 10000})
        passed = dedup.process(
            [record("a", 1, 1, 1000), record("a", 1, 2, 2000), record("b", 1, 3, 3000)]
        )
        self.assertEqual([(r.key, r.value["n"]) for r in passed.outputs], [("a", 1), ("b", 3)])
        self.assertEqual(dedup.metrics.counters, {"duplicates": 1})
        self.assertEqual(dedup.process([record("a", 1, 4, 5000)]).outputs, [], "still remembered")
        self.assertEqual(dedup.advance_watermark(11000).outputs, [])
        self.assertEqual(len(dedup.state), 2, "the timer at 11000 is not before 11000")
        dedup.advance_watermark(20000)
        self.assertEqual(dedup.state, {}, "forgotten")
        again = dedup.process(
            [record("a", 1, 5, 20000), record("a", 2, 6, 20001), record("a", 2, 7, 20002)]
        )
        self.assertEqual([r.value["n"] for r in again.outputs], [5, 6])

    def test_state_is_the_rust_plugins_bytes(self) -> None:
        dedup = DoFnHarness(Dedup, {"horizon": 5})
        dedup.process([Element("x", key="k", timestamp=-2)])
        [(slot, cells)] = dedup.state.items()
        self.assertEqual(cells, {'seen:"x"': -2})
        self.assertEqual(Dedup.state_codec.encode(-2), bytes([3]), "zigzag varint")
        self.assertEqual(dedup.timers, {(slot, 'seen:"x"'): ("event", 3)})

    def test_records_without_the_id_are_dead_lettered(self) -> None:
        dedup = DoFnHarness(Dedup, {"id": "event_id", "horizon": 10})
        out = dedup.process([Element({"other": 1}), Element(7)])
        self.assertEqual(
            out.errors,
            [(0, 'missing the id field "event_id"'), (1, 'missing the id field "event_id"')],
        )
        self.assertEqual(dedup.state, {})

    def test_the_horizon_must_be_positive(self) -> None:
        with self.assertRaisesRegex(PluginError, '"horizon" must be a positive number'):
            DoFnHarness(Dedup, {"horizon": -5})
        with self.assertRaisesRegex(PluginError, 'config "horizon" is required'):
            DoFnHarness(Dedup, {})


if __name__ == "__main__":
    unittest.main()
