// The threshold plugin, natively: `node --test` in this folder (or guest-sdk/js/test.sh).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Window } from "millrace";
import { TriggerHarness } from "millrace/testing";
import Threshold from "./plugin.js";

test("fires on each crossing from below", () => {
  const trigger = new TriggerHarness(Threshold, { threshold: 10 });
  assert.equal(trigger.onElements([3, 9]), false);
  assert.equal(trigger.onElements([12]), true);
  assert.equal(trigger.onElements([15]), false, "still above");
  assert.equal(trigger.onElements([2, 11]), true);
  assert.equal(trigger.state(), true);
});

test("reads a field and skips what is no number", () => {
  const trigger = new TriggerHarness(Threshold, { threshold: 100, field: "latency" });
  const window = new Window(0, 60000);
  assert.equal(trigger.onElements([{ latency: 50 }, { other: 500 }, { latency: true }], window), false);
  assert.equal(trigger.onElements([{ latency: 150 }], window), true);
  assert.equal(trigger.onElements([{ latency: 150 }]), true, "each window has its own state");
  assert.equal(trigger.state(window), true);
});

test("state is the Rust plugin's bytes", () => {
  assert.deepEqual(Threshold.stateCodec.encode(true), Uint8Array.from([1]));
});

test("the threshold is required", () => {
  assert.throws(() => new TriggerHarness(Threshold, {}), {
    name: "PluginError",
    message: 'config "threshold" is required',
  });
});
