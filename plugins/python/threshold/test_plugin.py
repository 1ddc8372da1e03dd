"""The threshold plugin, natively: ``python3 -m unittest`` in this folder."""

import sys
import unittest
from pathlib import Path

# The repository's SDK (elsewhere: pip install -e guest-sdk/python).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from millrace import PluginError, Window  # noqa: E402
from millrace.testing import TriggerHarness  # noqa: E402
from plugin import Threshold  # noqa: E402


class ThresholdTest(unittest.TestCase):
    def test_fires_on_each_crossing_from_below(self) -> None:
        trigger = TriggerHarness(Threshold, {"threshold": 10})
        self.assertFalse(trigger.on_elements([3, 9]))
        self.assertTrue(trigger.on_elements([12]))
        self.assertFalse(trigger.on_elements([15]), "still above")
        self.assertTrue(trigger.on_elements([2, 11]))
        self.assertIs(trigger.state(), True)

    def test_reads_a_field_and_skips_what_is_no_number(self) -> None:
        trigger = TriggerHarness(Threshold, {"threshold": 100, "field": "latency"})
        window = Window(0, 60000)
        self.assertFalse(
            trigger.on_elements([{"latency": 50}, {"other": 500}, {"latency": True}], window)
        )
        self.assertTrue(trigger.on_elements([{"latency": 150}], window))
        self.assertTrue(trigger.on_elements([{"latency": 150}]), "each window has its own state")
        self.assertIs(trigger.state(window), True)

    def test_state_is_the_rust_plugins_bytes(self) -> None:
        self.assertEqual(Threshold.state_codec.encode(True), b"\x01")

    def test_the_threshold_is_required(self) -> None:
        with self.assertRaisesRegex(PluginError, 'config "threshold" is required'):
            TriggerHarness(Threshold, {})


if __name__ == "__main__":
    unittest.main()
