"""The faulty plugin, natively: the faults that stay exceptions (``python3 -m unittest``
in this folder). The others — exit, loop, bomb, flood — are for the host to contain."""

import sys
import unittest
from pathlib import Path

# The repository's SDK (elsewhere: pip install -e guest-sdk/python).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from millrace import Element  # noqa: E402
from millrace.testing import DoFnHarness  # noqa: E402
from plugin import Faulty  # noqa: E402


class FaultyTest(unittest.TestCase):
    def test_only_the_poison_elements_are_dead_lettered(self) -> None:
        out = DoFnHarness(Faulty).process(
            [
                Element(1),
                Element({"fault": "error"}),
                Element(2),
                Element({"fault": "panic"}),
                Element(3),
            ]
        )
        self.assertEqual(out.values, [1, 2, 3])
        self.assertEqual([r.source for r in out.outputs], [0, 2, 4])
        (first, refused), (second, raised) = out.errors
        self.assertEqual((first, refused), (1, "this record is refused on purpose"))
        self.assertEqual(second, 3)
        self.assertRegex(
            raised, r"^RuntimeError: boom: a deliberate exception \(at plugin.py:\d+ in process\)$"
        )

    def test_a_flood_is_emitted_in_full(self) -> None:
        out = DoFnHarness(Faulty).process([Element({"fault": "flood"})])
        self.assertEqual(sum(len(v) for v in out.values), 8 << 20)

    def test_runaway_recursion_is_the_elements_fault_natively(self) -> None:
        [(index, reason)] = DoFnHarness(Faulty).process([Element({"fault": "recurse"})]).errors
        self.assertEqual(index, 0)
        self.assertTrue(
            reason.startswith("RecursionError: maximum recursion depth exceeded"), reason
        )

    def test_an_exit_is_not_caught(self) -> None:
        with self.assertRaises(SystemExit):
            DoFnHarness(Faulty).process([Element({"fault": "exit"})])


if __name__ == "__main__":
    unittest.main()
