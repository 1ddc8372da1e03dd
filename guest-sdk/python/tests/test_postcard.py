"""Postcard codecs write the bytes the Rust SDK (postcard 1.x) writes."""

import sys
import unittest
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from millrace import postcard  # noqa: E402


class Point(NamedTuple):
    x: int
    label: str
    tags: list
    note: object


POINT = postcard.Struct(
    "demo::Point",
    Point,
    x=postcard.I64,
    label=postcard.STR,
    tags=postcard.Seq(postcard.U64),
    note=postcard.Option(postcard.BOOL),
)


class PostcardTest(unittest.TestCase):
    def test_integers_are_zigzag_varints(self) -> None:
        cases = {
            0: "00",
            -1: "01",
            1: "02",
            63: "7e",
            -64: "7f",
            64: "8001",
            2**63 - 1: "feffffffffffffffff01",
        }
        for number, encoded in cases.items():
            self.assertEqual(postcard.I64.encode(number).hex(), encoded, number)
            self.assertEqual(postcard.I64.decode(bytes.fromhex(encoded)), number)
        self.assertEqual(postcard.U64.encode(300).hex(), "ac02")
        self.assertEqual(postcard.I128.decode(postcard.I128.encode(-(2**127))), -(2**127))

    def test_out_of_range_values_are_refused(self) -> None:
        for codec, value in [(postcard.I64, 2**63), (postcard.U64, -1), (postcard.I64, True)]:
            with self.assertRaises(ValueError):
                codec.encode(value)
        with self.assertRaisesRegex(ValueError, "runs past its width"):
            postcard.U64.decode(b"\xff" * 11)
        with self.assertRaisesRegex(ValueError, "end inside a varint"):
            postcard.U64.decode(b"\xff")
        with self.assertRaisesRegex(ValueError, "left over"):
            postcard.BOOL.decode(b"\x01\x00")

    def test_structs_are_their_fields_in_order(self) -> None:
        point = Point(-2, "né", [1, 300], None)
        data = POINT.encode(point)
        self.assertEqual(data.hex(), "03" + "036ec3a9" + "0201ac02" + "00")
        self.assertEqual(POINT.decode(data), point)
        self.assertEqual(POINT.format, "postcard/demo::Point")
        self.assertEqual(postcard.Option(postcard.BOOL).decode(b"\x01\x01"), True)

    def test_floats_are_little_endian(self) -> None:
        self.assertEqual(postcard.F64.encode(1.5).hex(), "000000000000f83f")
        self.assertEqual(postcard.F64.decode(bytes.fromhex("000000000000f83f")), 1.5)


if __name__ == "__main__":
    unittest.main()
