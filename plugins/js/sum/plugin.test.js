// The sum plugin, natively: `node --test` in this folder (or guest-sdk/js/test.sh).

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { CombineHarness } from "millrace/testing";
import Sum from "./plugin.js";

let sum;
beforeEach(() => {
  sum = new CombineHarness(Sum);
});

test("sums integers exactly and takes retractions back", () => {
  let [total, rejected] = sum.add(sum.create(), [5, 7, 3]);
  assert.deepEqual(rejected, []);
  [total] = sum.add(total, [3], { retract: true });
  assert.equal(sum.extractText(total), "12");
  [total] = sum.add(total, [0.5]);
  assert.equal(sum.extractText(total), "12.5");
  [total] = sum.add(total, [0.5]);
  assert.equal(sum.extractText(total), "13.0", "a float, as the Rust plugin writes it");
});

test("an input that would overflow is refused", () => {
  const [big] = sum.add(sum.create(), [1e308]);
  const [total, rejected] = sum.add(big, [1e308]);
  assert.deepEqual(rejected, [[0, "sum overflows a 64-bit float"]]);
  assert.equal(sum.extract(total), 1e308);
  const [ints, refused] = sum.add(sum.create(), [2n ** 63n - 1n, 1, -5]);
  assert.deepEqual(refused, [[1, "sum overflows a 64-bit integer"]]);
  assert.equal(sum.extract(ints), 2n ** 63n - 6n, "the bad input is as if never given");
});

test("the bulk path keeps the checks of each input", () => {
  const near = 2n ** 63n - 10n;
  let [total, rejected] = sum.add(sum.create(), [near, 5, 20, -7]);
  assert.deepEqual(rejected, [[2, "sum overflows a 64-bit integer"]]);
  assert.equal(sum.extract(total), near - 2n);
  [total, rejected] = sum.add(sum.create(), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual([sum.extract(total), rejected], [499500, []]);
  [total] = sum.add(sum.create(), [2 ** 52, 2 ** 52, 5]);
  assert.equal(sum.extract(total), 2n ** 53n + 5n, "exact past 2^53");
});

test("values that are not numbers are rejected", () => {
  const [total, rejected] = sum.add(sum.create(), [1, "lots", true, null, 2]);
  assert.deepEqual(
    rejected.map(([index]) => index),
    [1, 2, 3],
  );
  assert.equal(rejected[0][1], "expected a JSON number");
  assert.equal(sum.extract(total), 3);
});

test("merges sessions", () => {
  const parts = [[1, 2], [0.25], []].map((inputs) => sum.add(sum.create(), inputs)[0]);
  assert.equal(sum.extract(sum.merge(parts)), 3.25);
});

test("accumulators are the Rust plugin's bytes", () => {
  assert.equal(sum.accumulatorFormat, "postcard/sum::Total/1");
  assert.equal(sum.inversion, "subtract");
  assert.deepEqual(sum.create(), new Uint8Array(10));
  const [total] = sum.add(sum.create(), [-3, 1.5]);
  // int -3: zigzag 5; float 1.5 little-endian; fractional 1: zigzag 2.
  assert.deepEqual(total, Uint8Array.from([5, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 2]));
  assert.deepEqual(sum.decode(total), { int: -3, float: 1.5, fractional: 1 });
});
