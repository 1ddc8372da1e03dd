// The faulty plugin, natively: the faults that stay exceptions (`node --test` in this
// folder, or guest-sdk/js/test.sh). The others — loop, bomb — are for the host to
// contain.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DoFnHarness } from "millrace/testing";
import Faulty from "./plugin.js";

test("only the poison elements are dead-lettered", () => {
  const out = new DoFnHarness(Faulty).process([1, { fault: "error" }, 2, { fault: "panic" }, 3]);
  assert.deepEqual(out.values, [1, 2, 3]);
  assert.deepEqual(
    out.outputs.map((r) => r.source),
    [0, 2, 4],
  );
  assert.deepEqual(out.errors, [
    [1, "this record is refused on purpose"],
    [3, "Error: boom: a deliberate exception"],
  ]);
});

test("a flood is emitted in full", () => {
  const out = new DoFnHarness(Faulty).process([{ fault: "flood" }]);
  assert.equal(
    out.values.reduce((total, value) => total + value.length, 0),
    8 << 20,
  );
});

test("other values pass through", () => {
  assert.deepEqual(new DoFnHarness(Faulty).process([{ fault: "none" }, null, [1]]).values, [{ fault: "none" }, null, [1]]);
});
