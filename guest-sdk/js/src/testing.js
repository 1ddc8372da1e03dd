// Run plugins natively, through the same batch code a component runs.
//
// Each harness builds the plugin from a configuration, feeds it batches laid out as
// the host lays them out (JSON bytes, one column per field) and reads back what it
// returned, so a test exercises the encoding of values, accumulators and state too.
// The harnesses keep what the host would keep between calls: a DoFn's keyed state
// and timers, a trigger's per-window state.
//
//     import { test } from "node:test";
//     import assert from "node:assert/strict";
//     import { CombineHarness } from "millrace/testing";
//     import Sum from "./plugin.js";
//
//     test("sums", () => {
//       assert.equal(new CombineHarness(Sum).combine([5, 7, 3]), 15);
//     });

import { Window } from "./core.js";
import { Element } from "./functions.js";
import { Recorded, flush, install } from "./host.js";
import { parseJson, stringify } from "./json.js";
import { CombineRunner, DoFnRunner, TriggerRunner, WindowRunner, readConfig } from "./glue.js";
import { decodeItems, encodeItems, joinBytes, splitBytes } from "./utf8.js";

function configOf(config) {
  return readConfig(stringify(config ?? {}));
}

function elementOf(item) {
  if (item instanceof Element) return item;
  if (item !== null && typeof item === "object" && "value" in item) return new Element(item.value, item);
  return new Element(item);
}

/** A batch's element columns: key bytes and ends, value bytes and ends, times,
 * window starts and ends. */
function columns(elements) {
  const keys = encodeItems(elements.map((e) => stringify(e.key)));
  const values = encodeItems(elements.map((e) => stringify(e.value)));
  return [
    keys.bytes,
    keys.ends,
    values.bytes,
    values.ends,
    elements.map((e) => e.timestamp),
    elements.map((e) => e.window.start),
    elements.map((e) => e.window.end),
  ];
}

/** What a DoFn call gave back: `outputs` (records {key, value, timestamp, source,
 * to}) and `errors` ([index, message] pairs, as dead-lettered). */
export class Processed {
  constructor(outputs, errors) {
    this.outputs = outputs;
    this.errors = errors;
  }

  /** The emitted values, in order. */
  get values() {
    return this.outputs.map((record) => record.value);
  }
}

function processed(emitted) {
  const output = emitted.toOutput();
  const keys = decodeItems(output.keys.bytes, output.keys.ends).map(parseJson);
  const values = decodeItems(output.values.bytes, output.values.ends).map(parseJson);
  const tags = decodeItems(output.tags.bytes, output.tags.ends);
  const records = values.map((value, i) => ({
    key: keys[i],
    value,
    timestamp: output.timestamps[i],
    source: output.sources[i],
    to: tags[i] ?? "",
  }));
  return new Processed(
    records,
    output.errors.map((e) => [e.index, e.message]),
  );
}

function slotName(key, window) {
  return JSON.stringify([key, window.start, window.end]);
}

/** Keyed state and timers in memory, as the host keeps them; a call's indexes name
 * the slots of the current batch. */
class Memory {
  constructor() {
    this.cells = new Map(); // slot -> Map(name -> bytes)
    this.timers = new Map(); // slot + name -> {slot, keyText, window, name, domain, time}
    this.batch = []; // index -> {slot, keyText, window}
  }

  get(index, name) {
    return this.cells.get(this.batch[index].slot)?.get(name);
  }

  set(index, name, value) {
    const { slot } = this.batch[index];
    if (!this.cells.has(slot)) this.cells.set(slot, new Map());
    this.cells.get(slot).set(name, new Uint8Array(value));
  }

  clear(index, name) {
    const { slot } = this.batch[index];
    const cells = this.cells.get(slot);
    if (cells === undefined) return;
    cells.delete(name);
    if (cells.size === 0) this.cells.delete(slot);
  }

  _timer(index, name, domain, time) {
    const at = this.batch[index];
    this.timers.set(JSON.stringify([at.slot, name]), { ...at, name, domain, time });
  }

  setEventTimer(index, name, time) {
    this._timer(index, name, "event", time);
  }

  setProcessingTimer(index, name, time) {
    this._timer(index, name, "processing", time);
  }

  clearTimer(index, name) {
    this.timers.delete(JSON.stringify([this.batch[index].slot, name]));
  }

  /** Removes the timers of `domain` strictly before `bound`, in time order. */
  takeDue(domain, bound) {
    const due = [...this.timers.entries()]
      .filter(([, timer]) => timer.domain === domain && timer.time < bound)
      .sort(([a, x], [b, y]) => x.time - y.time || (a < b ? -1 : a > b ? 1 : 0));
    for (const [id] of due) this.timers.delete(id);
    return due.map(([, timer]) => timer);
  }
}

/**
 * Runs a DoFn as a `pardo` step would, with keyed state and timers. `process` takes
 * one batch (Elements, or `{value, key, timestamp, window}` objects, or bare values);
 * `advanceWatermark` and `advanceProcessingTime` fire the timers that become due,
 * round after round, as the host does. `metrics` holds the counters, gauges and logs.
 */
export class DoFnHarness {
  constructor(Plugin, config) {
    this.metrics = install(new Recorded());
    this.maxRounds = 1000;
    this._runner = new DoFnRunner(Plugin, configOf(config));
    this._memory = new Memory();
  }

  /** The state held, decoded: `{slot: {name: value}}`, where a slot is the JSON text
   * of [key, window start, window end]. */
  get state() {
    const state = {};
    for (const [slot, cells] of this._memory.cells) {
      state[slot] = {};
      for (const [name, bytes] of cells) state[slot][name] = this._runner.codec.decode(bytes);
    }
    return state;
  }

  /** The pending timers: `[{key, window, name, domain, time}]`. */
  get timers() {
    return [...this._memory.timers.values()].map(({ key, window, name, domain, time }) => ({
      key,
      window,
      name,
      domain,
      time,
    }));
  }

  /** Processes one batch; returns a Processed. */
  process(items) {
    const elements = [...items].map(elementOf);
    this._memory.batch = elements.map((e) => ({ slot: slotName(e.key, e.window), key: e.key, window: e.window }));
    const result = processed(this._runner.process(this._memory, ...columns(elements)));
    flush();
    return result;
  }

  /** Fires the event-time timers before `watermark`. */
  advanceWatermark(watermark) {
    return this._fire("event", watermark);
  }

  /** Fires the processing-time timers before `now`. */
  advanceProcessingTime(now) {
    return this._fire("processing", now);
  }

  _fire(domain, bound) {
    const outputs = [];
    const errors = [];
    for (let round = 0; round < this.maxRounds; round++) {
      const due = this._memory.takeDue(domain, bound);
      if (due.length === 0) return new Processed(outputs, errors);
      this._memory.batch = due.map(({ slot, key, window }) => ({ slot, key, window }));
      const keys = encodeItems(due.map((t) => stringify(t.key)));
      const fired = processed(
        this._runner.onTimer(
          this._memory,
          keys.bytes,
          keys.ends,
          due.map((t) => t.window.start),
          due.map((t) => t.window.end),
          due.map((t) => t.name),
          due.map((t) => t.time),
        ),
      );
      flush();
      outputs.push(...fired.outputs);
      errors.push(...fired.errors);
    }
    throw new Error(`timers kept setting timers that were already due, ${this.maxRounds} rounds`);
  }
}

/** Runs a CombineFn as a `combine` step would: accumulators pass through their codec
 * between every call. */
export class CombineHarness {
  constructor(Plugin, config) {
    this.metrics = install(new Recorded());
    this._runner = new CombineRunner(Plugin, configOf(config));
  }

  /** The format the host sees, and compares on a hot swap. */
  get accumulatorFormat() {
    return this._runner.accumulatorFormat;
  }

  /** The inversion the host sees. */
  get inversion() {
    return this._runner.inversion;
  }

  /** A fresh accumulator, encoded (a Uint8Array). */
  create() {
    return this._runner.createAccumulator();
  }

  /** `[accumulator, rejected]`: the accumulator with `inputs` added (or taken back,
   * with `{retract: true}`), and the rejected inputs as [index, message] pairs. */
  add(accumulator, inputs, { retract = false } = {}) {
    const values = encodeItems(inputs.map(stringify));
    const added = this._runner.add(accumulator, [accumulator.length], values.bytes, values.ends, [inputs.length], retract);
    flush();
    return [added.accumulators.bytes, added.rejected.map((e) => [e.index, e.message])];
  }

  /** One accumulator merging `accumulators`. */
  merge(accumulators) {
    const blobs = joinBytes(accumulators);
    return this._runner.merge(blobs.bytes, blobs.ends, [accumulators.length]).bytes;
  }

  /** The output of `accumulator`. */
  extract(accumulator) {
    const out = this._runner.extract(accumulator, [accumulator.length]);
    return parseJson(decodeItems(out.bytes, out.ends)[0]);
  }

  /** The output of `accumulator` as the JSON text the host gets. */
  extractText(accumulator) {
    const out = this._runner.extract(accumulator, [accumulator.length]);
    return decodeItems(out.bytes, out.ends)[0];
  }

  /** The accumulator, decoded. */
  decode(accumulator) {
    return this._runner.codec.decode(accumulator);
  }

  /** The output for `inputs`, which must all be accepted. */
  combine(inputs) {
    const [accumulator, rejected] = this.add(this.create(), inputs);
    if (rejected.length > 0) throw new Error(`inputs were rejected: ${JSON.stringify(rejected)}`);
    return this.extract(accumulator);
  }
}

/** Runs a WindowFn as a `window: {custom: …}` step would. */
export class WindowHarness {
  constructor(Plugin, config) {
    this.metrics = install(new Recorded());
    this._runner = new WindowRunner(Plugin, configOf(config));
  }

  /** Whether the function merges windows. */
  get merging() {
    return this._runner.merging;
  }

  /** The windows of each element (an array of Windows per element). */
  assign(items) {
    const elements = [...items].map(elementOf);
    const { starts, ends, sources } = this._runner.assign(...columns(elements));
    flush();
    const windows = elements.map(() => []);
    for (let i = 0; i < sources.length; i++) windows[sources[i]].push(new Window(starts[i], ends[i]));
    return windows;
  }

  /** The merges among one key's `windows`: `[memberIndexes, Window]` pairs. */
  merge(windows) {
    const merged = this._runner.merge(
      windows.map((w) => w.start),
      windows.map((w) => w.end),
      [windows.length],
    );
    flush();
    const result = [];
    let start = 0;
    for (let m = 0; m < merged.memberEnds.length; m++) {
      const end = merged.memberEnds[m];
      result.push([merged.members.slice(start, end), new Window(merged.starts[m], merged.ends[m])]);
      start = end;
    }
    return result;
  }
}

/** Runs a data-driven Trigger, keeping its state per window between calls. */
export class TriggerHarness {
  constructor(Plugin, config) {
    this.metrics = install(new Recorded());
    this._runner = new TriggerRunner(Plugin, configOf(config));
    this._states = new Map();
  }

  /** The window's state, decoded (undefined before it saw anything). */
  state(window = Window.GLOBAL) {
    const data = this._states.get(slotName(null, window));
    return data === undefined ? undefined : this._runner.codec.decode(data);
  }

  /** New values arrived in `window` (the global one by default): whether it fires. */
  onElements(values, window = Window.GLOBAL) {
    const slot = slotName(null, window);
    const state = this._states.get(slot) ?? new Uint8Array(0);
    const elements = values.map((value) => new Element(value, { window }));
    const decision = this._runner.onElements(state, [state.length], [elements.length], ...columns(elements));
    flush();
    this._states.set(slot, splitBytes(decision.states.bytes, decision.states.ends)[0]);
    return decision.fire[0];
  }
}

export { Element, Window };
