// The UTF-8 path the component takes: QuickJS has no TextEncoder or TextDecoder,
// so these tests hide Node's before loading the module (node --test runs each file
// in a process of its own) and check its bytes against Node's encoder.

import assert from "node:assert/strict";
import { test } from "node:test";

const { TextEncoder: NodeEncoder } = globalThis;
delete globalThis.TextEncoder;
delete globalThis.TextDecoder;
// QuickJS has these; Node.js 20 has not yet.
Uint8Array.fromBase64 ??= (text) => new Uint8Array(Buffer.from(text, "base64"));
Uint8Array.prototype.toBase64 ??= function () {
  return Buffer.from(this).toString("base64");
};
const { decodeItems, encodeItems } = await import("../src/utf8.js");

function checkItems(texts) {
  const { bytes, ends } = encodeItems(texts);
  const encoder = new NodeEncoder();
  let start = 0;
  texts.forEach((text, i) => {
    assert.deepEqual(bytes.subarray(start, ends[i]), encoder.encode(text), `item ${i}`);
    start = ends[i];
  });
  assert.equal(bytes.length, start);
  assert.deepEqual(decodeItems(bytes, ends), texts);
}

test("ASCII items are encoded in groups", () => {
  checkItems(["plain", "", "ascii", '{"a":1}']);
});

test("a group with non-ASCII text is encoded item by item", () => {
  checkItems(["a", "é", "日本", "b", "emoji 🦀"]);
});

test("items longer than a chunk stand alone, between small ones", () => {
  checkItems(["a", "x".repeat(70000), "z", "ü".repeat(40000), "q", "y".repeat(1 << 20)]);
});
