"""The parse-json plugin, natively: ``python3 -m unittest`` in this folder."""

import sys
import unittest
from pathlib import Path

# The repository's SDK (elsewhere: pip install -e guest-sdk/python).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from millrace import Element, PluginError  # noqa: E402
from millrace.testing import DoFnHarness  # noqa: E402
from plugin import ParseJson  # noqa: E402

CONFIG = {"key": "user", "value": "score", "where": {"type": "score"}}


class ParseJsonTest(unittest.TestCase):
    def run_one(self, value, config=CONFIG):
        return DoFnHarness(ParseJson, config).process([Element(value, timestamp=5)])

    def test_parses_filters_and_rekeys(self) -> None:
        out = self.run_one('{"type":"score","user":"ann","score":3}')
        self.assertEqual([(r.key, r.value, r.timestamp) for r in out.outputs], [("ann", 3, 5)])
        self.assertEqual(self.run_one({"type": "login", "user": "ann"}).outputs, [], "filtered out")

    def test_bad_records_are_dead_lettered_with_the_reason(self) -> None:
        [(index, reason)] = self.run_one("{oops").errors
        self.assertEqual(index, 0)
        self.assertTrue(reason.startswith("not valid JSON"), reason)
        self.assertEqual(
            self.run_one({"type": "score", "score": 1}).errors,
            [(0, 'missing the key field "user"')],
        )
        self.assertEqual(self.run_one("[1]").errors, [(0, "expected a JSON object")])
        self.assertEqual(self.run_one("NaN", {}).errors[0][1], "not valid JSON: NaN is not JSON")

    def test_the_filter_compares_json_values_strictly(self) -> None:
        config = {"where": {"n": 1}}
        self.assertEqual(len(self.run_one({"n": 1}, config).outputs), 1)
        self.assertEqual(self.run_one({"n": True}, config).outputs, [])
        self.assertEqual(self.run_one({"n": 1.0}, config).outputs, [])

    def test_dotted_paths_and_event_times(self) -> None:
        config = {"key": "who.name", "timestamp": "at"}
        out = self.run_one({"who": {"name": "bo"}, "at": 42}, config)
        self.assertEqual([(r.key, r.timestamp) for r in out.outputs], [("bo", 42)])
        bad = self.run_one({"who": {"name": "bo"}, "at": 4.5}, config)
        self.assertEqual(bad.errors, [(0, 'missing the integer time field "at"')])

    def test_unknown_settings_are_refused(self) -> None:
        with self.assertRaisesRegex(PluginError, 'unknown setting "kee"'):
            DoFnHarness(ParseJson, {"kee": "user"})


if __name__ == "__main__":
    unittest.main()
