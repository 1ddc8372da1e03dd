// The parse-json plugin, natively: `node --test` in this folder (or guest-sdk/js/test.sh).

import assert from "node:assert/strict";
import { test } from "node:test";
import { PluginError } from "millrace";
import { DoFnHarness } from "millrace/testing";
import ParseJson from "./plugin.js";

const CONFIG = { key: "user", value: "score", where: { type: "score" } };

function runOne(value, config = CONFIG) {
  return new DoFnHarness(ParseJson, config).process([{ value, timestamp: 5 }]);
}

test("parses, filters and re-keys", () => {
  const out = runOne('{"type":"score","user":"ann","score":3}');
  assert.deepEqual(
    out.outputs.map((r) => [r.key, r.value, r.timestamp]),
    [["ann", 3, 5]],
  );
  assert.deepEqual(runOne({ type: "login", user: "ann" }).outputs, [], "filtered out");
});

test("bad records are dead-lettered with the reason", () => {
  const [[index, reason]] = runOne("{oops").errors;
  assert.equal(index, 0);
  assert.match(reason, /^not valid JSON/);
  assert.deepEqual(runOne({ type: "score", score: 1 }).errors, [[0, 'missing the key field "user"']]);
  assert.deepEqual(runOne("[1]").errors, [[0, "expected a JSON object"]]);
  assert.match(runOne("NaN", {}).errors[0][1], /^not valid JSON: /);
  assert.deepEqual(runOne({ type: "score", user: "ann" }).errors, [[0, 'missing the value field "score"']]);
});

test("the filter compares JSON values strictly", () => {
  const config = { where: { n: 1 } };
  assert.equal(runOne({ n: 1 }, config).outputs.length, 1);
  assert.deepEqual(runOne({ n: true }, config).outputs, []);
  assert.deepEqual(runOne({ n: "1" }, config).outputs, []);
  assert.deepEqual(runOne({}, config).outputs, [], "a missing field matches nothing");
  const nested = { where: { "tags.main": ["a", { b: null }] } };
  assert.equal(runOne({ tags: { main: ["a", { b: null }] } }, nested).outputs.length, 1);
  assert.deepEqual(runOne({ tags: { main: ["a", { b: 0 }] } }, nested).outputs, []);
});

test("dotted paths and event times", () => {
  const config = { key: "who.name", timestamp: "at" };
  const out = runOne({ who: { name: "bo" }, at: 42 }, config);
  assert.deepEqual(
    out.outputs.map((r) => [r.key, r.timestamp]),
    [["bo", 42]],
  );
  const bad = runOne({ who: { name: "bo" }, at: 4.5 }, config);
  assert.deepEqual(bad.errors, [[0, 'missing the integer time field "at"']]);
});

test("only the bad records of a batch are dead-lettered", () => {
  const out = new DoFnHarness(ParseJson, CONFIG).process([
    { value: '{"type":"score","user":"ann","score":1}', key: "k" },
    { value: "{oops", key: "k" },
    { value: { type: "score", user: "bo", score: 2 }, key: "k" },
  ]);
  assert.deepEqual(
    out.outputs.map((r) => [r.key, r.value, r.source]),
    [
      ["ann", 1, 0],
      ["bo", 2, 2],
    ],
  );
  assert.deepEqual(
    out.errors.map(([index]) => index),
    [1],
  );
});

test("unknown settings are refused", () => {
  assert.throws(() => new DoFnHarness(ParseJson, { kee: "user" }), {
    name: "PluginError",
    message: /unknown setting "kee"/,
  });
  assert.throws(() => new DoFnHarness(ParseJson, { where: [1] }), PluginError);
});
