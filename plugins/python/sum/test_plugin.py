"""The sum plugin, natively: ``python3 -m unittest`` in this folder."""

import sys
import unittest
from pathlib import Path

# The repository's SDK (elsewhere: pip install -e guest-sdk/python).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from millrace.testing import CombineHarness  # noqa: E402
from plugin import Sum, Total  # noqa: E402


class SumTest(unittest.TestCase):
    def setUp(self) -> None:
        self.sum = CombineHarness(Sum)

    def test_sums_integers_exactly_and_takes_retractions_back(self) -> None:
        total, rejected = self.sum.add(self.sum.create(), [5, 7, 3])
        self.assertEqual(rejected, [])
        total, _ = self.sum.add(total, [3], retract=True)
        self.assertEqual(self.sum.extract(total), 12)
        total, _ = self.sum.add(total, [0.5])
        self.assertEqual(self.sum.extract(total), 12.5)

    def test_an_input_that_would_overflow_is_refused(self) -> None:
        big, _ = self.sum.add(self.sum.create(), [1e308])
        total, rejected = self.sum.add(big, [1e308])
        self.assertEqual(rejected, [(0, "sum overflows a 64-bit float")])
        self.assertEqual(self.sum.extract(total), 1e308)
        ints, rejected = self.sum.add(self.sum.create(), [2**63 - 1, 1, -5])
        self.assertEqual(rejected, [(1, "sum overflows a 64-bit integer")])
        self.assertEqual(self.sum.extract(ints), 2**63 - 6, "the bad input is as if never given")

    def test_the_bulk_path_keeps_the_checks_of_each_input(self) -> None:
        near = 2**63 - 10
        total, rejected = self.sum.add(self.sum.create(), [near, 5, 20, -7])
        self.assertEqual(rejected, [(2, "sum overflows a 64-bit integer")])
        self.assertEqual(self.sum.extract(total), near - 2)
        total, rejected = self.sum.add(self.sum.create(), list(range(1000)))
        self.assertEqual((self.sum.extract(total), rejected), (499500, []))

    def test_values_that_are_not_numbers_are_rejected(self) -> None:
        total, rejected = self.sum.add(self.sum.create(), [1, "lots", True, None, 2])
        self.assertEqual([index for index, _ in rejected], [1, 2, 3])
        self.assertEqual(rejected[0][1], "expected a JSON number")
        self.assertEqual(self.sum.extract(total), 3)

    def test_merges_sessions(self) -> None:
        parts = [self.sum.add(self.sum.create(), inputs)[0] for inputs in ([1, 2], [0.25], [])]
        self.assertEqual(self.sum.extract(self.sum.merge(parts)), 3.25)

    def test_accumulators_are_the_rust_plugins_bytes(self) -> None:
        self.assertEqual(self.sum.accumulator_format, "postcard/sum::Total/1")
        self.assertEqual(self.sum.create(), bytes(10))
        total, _ = self.sum.add(self.sum.create(), [-3, 1.5])
        # int -3: zigzag 5; float 1.5 little-endian; fractional 1: zigzag 2.
        self.assertEqual(total, bytes([5]) + bytes.fromhex("000000000000f83f") + bytes([2]))
        self.assertEqual(Sum.accumulator_codec.decode(total), Total(-3, 1.5, 1))


if __name__ == "__main__":
    unittest.main()
