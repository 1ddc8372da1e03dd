// The dedup plugin, natively: `node --test` in this folder (or guest-sdk/js/test.sh).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Element } from "millrace";
import { DoFnHarness } from "millrace/testing";
import Dedup from "./plugin.js";

function record(key, eventId, n, timestamp) {
  return new Element({ event_id: eventId, n }, { key, timestamp });
}

test("remembers ids per key until the horizon passes", () => {
  const dedup = new DoFnHarness(Dedup, { id: "event_id", horizon: 10000 });
  const passed = dedup.process([record("a", 1, 1, 1000), record("a", 1, 2, 2000), record("b", 1, 3, 3000)]);
  assert.deepEqual(
    passed.outputs.map((r) => [r.key, r.value.n]),
    [
      ["a", 1],
      ["b", 3],
    ],
  );
  assert.deepEqual(dedup.metrics.counters, { duplicates: 1 });
  assert.deepEqual(dedup.process([record("a", 1, 4, 5000)]).outputs, [], "still remembered");
  assert.deepEqual(dedup.advanceWatermark(11000).outputs, []);
  assert.equal(Object.keys(dedup.state).length, 2, "the timer at 11000 is not before 11000");
  dedup.advanceWatermark(20000);
  assert.deepEqual(dedup.state, {}, "forgotten");
  const again = dedup.process([record("a", 1, 5, 20000), record("a", 2, 6, 20001), record("a", 2, 7, 20002)]);
  assert.deepEqual(
    again.outputs.map((r) => r.value.n),
    [5, 6],
  );
});

test("state is the Rust plugin's bytes", () => {
  const dedup = new DoFnHarness(Dedup, { horizon: 5 });
  dedup.process([new Element("x", { key: "k", timestamp: -2 })]);
  assert.deepEqual(Object.values(dedup.state), [{ 'seen:"x"': -2 }]);
  assert.deepEqual(Dedup.stateCodec.encode(-2), Uint8Array.from([3]), "zigzag varint");
  assert.deepEqual(
    dedup.timers.map((t) => [t.key, t.name, t.domain, t.time]),
    [["k", 'seen:"x"', "event", 3]],
  );
});

test("cell names are the id's compact JSON", () => {
  const dedup = new DoFnHarness(Dedup, { id: "id", horizon: 5 });
  dedup.process([{ value: { id: 7 } }, { value: { id: { a: [1, "é"] } } }, { value: { id: null } }]);
  assert.deepEqual(Object.keys(Object.values(dedup.state)[0]), ["seen:7", 'seen:{"a":[1,"é"]}', "seen:null"]);
});

test("a timer past the end of time is set at the end of time", () => {
  const dedup = new DoFnHarness(Dedup, { horizon: 5000 });
  dedup.process([new Element("x", { timestamp: 2 ** 63 - 1024 })]);
  assert.deepEqual(
    dedup.timers.map((t) => t.time),
    [2 ** 63],
  );
});

test("records without the id are dead-lettered", () => {
  const dedup = new DoFnHarness(Dedup, { id: "event_id", horizon: 10 });
  const out = dedup.process([new Element({ other: 1 }), new Element(7)]);
  assert.deepEqual(out.errors, [
    [0, 'missing the id field "event_id"'],
    [1, 'missing the id field "event_id"'],
  ]);
  assert.deepEqual(dedup.state, {});
});

test("the horizon must be positive", () => {
  assert.throws(() => new DoFnHarness(Dedup, { horizon: -5 }), { message: /"horizon" must be a positive number/ });
  assert.throws(() => new DoFnHarness(Dedup, {}), { name: "PluginError", message: 'config "horizon" is required' });
});
