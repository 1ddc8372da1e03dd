// Between the host's column-by-column batches and a plugin's methods.
//
// Every runner here takes and returns plain columns (a flat byte buffer with the end
// offset of each item, arrays of numbers), so the same code runs in a component
// (behind src/wit/) and natively (behind millrace/testing).

import { JSON_CODEC } from "./codec.js";
import { Config, Inversion, MAX_TIME, MIN_TIME, PluginError, Window, describe } from "./core.js";
import { Element, Output, SAME_KEY, Timer, DETACHED } from "./functions.js";
import { Unreadable, parseItems, parseTexts, stringify } from "./json.js";
import { decodeItems, encodeItems, joinBytes, splitBytes } from "./utf8.js";

const EMPTY_BLOBS = Object.freeze({ bytes: new Uint8Array(0), ends: [] });

/** The step's configuration from the host's JSON text. */
export function readConfig(text) {
  const settings = text ? JSON.parse(text) : {};
  if (settings === null || typeof settings !== "object" || Array.isArray(settings)) {
    throw new PluginError(`config must be a map, not ${text}`);
  }
  return new Config(settings);
}

/** An output's (or a window's) time: an integer number of milliseconds. */
export function checkedTime(time, what = "an output's timestamp") {
  if (typeof time === "bigint") time = Number(time);
  if (!Number.isInteger(time) || time < MIN_TIME || time > MAX_TIME) {
    throw new TypeError(`${what} is an integer number of milliseconds, not ${describeValue(time)}`);
  }
  return time;
}

function describeValue(value) {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "object") return `a ${value.constructor?.name ?? "object"}`;
  return String(value);
}

/** One window per element, each distinct window built once. */
function windowsOf(starts, ends) {
  const count = starts.length;
  const windows = new Array(count);
  let last = null;
  let seen = null;
  for (let i = 0; i < count; i++) {
    const start = starts[i];
    const end = ends[i];
    if (last === null || last.start !== start || last.end !== end) {
      if (start <= MIN_TIME && end >= MAX_TIME) {
        last = Window.GLOBAL;
      } else {
        seen ??= new Map();
        const bounds = start + ":" + end;
        last = seen.get(bounds);
        if (last === undefined) {
          last = new Window(start, end);
          seen.set(bounds, last);
        }
      }
    }
    windows[i] = last;
  }
  return windows;
}

function keysOf(texts) {
  const { values, clean } = parseTexts(texts);
  if (!clean) {
    for (let i = 0; i < values.length; i++) if (values[i] instanceof Unreadable) values[i] = null;
  }
  return values;
}

function* range(start, end) {
  for (let i = start; i < end; i++) yield i;
}

/** Calls `f` for each item of what a plugin method returned: an array, any iterable
 * (a generator), or nothing (undefined or null). */
function forEachResult(results, what, f) {
  if (results === undefined || results === null) return;
  if (Array.isArray(results)) {
    for (let i = 0; i < results.length; i++) f(results[i]);
    return;
  }
  if (typeof results === "string" || typeof results[Symbol.iterator] !== "function") {
    throw new TypeError(`${what} returns or yields what it emits (an array or a generator), not ${describeValue(results)}`);
  }
  for (const item of results) f(item);
}

// -- DoFn ---------------------------------------------------------------------------

/** What a DoFn call emits, column by column, and the inputs it could not handle. */
export class Emitted {
  constructor() {
    this.keys = [];
    this.values = [];
    this.timestamps = [];
    this.sources = [];
    /** The side output of each output that goes to one, by output index. */
    this.side = null;
    this.errors = [];
  }

  push(source, key, value, timestamp, to) {
    if (to) (this.side ??= new Map()).set(this.timestamps.length, to);
    this.keys.push(key);
    this.values.push(value);
    this.timestamps.push(timestamp);
    this.sources.push(source);
  }

  /** Emits one item a plugin returned for input `source` (of `key` text, at
   * `timestamp`). */
  emit(item, source, key, timestamp) {
    if (item instanceof Output) {
      const value = stringify(item.value);
      const outKey = item.key === SAME_KEY || item.key === undefined ? key : stringify(item.key);
      const time = item.timestamp === undefined ? timestamp : checkedTime(item.timestamp);
      this.push(source, outKey, value, time, item.to);
    } else {
      const value = stringify(item);
      this.keys.push(key);
      this.values.push(value);
      this.timestamps.push(timestamp);
      this.sources.push(source);
    }
  }

  /** Emits everything a call of the plugin returned for input `source`. */
  emitAll(results, source, key, timestamp) {
    if (results === undefined || results === null) return;
    if (Array.isArray(results)) {
      for (let i = 0; i < results.length; i++) this.emit(results[i], source, key, timestamp);
      return;
    }
    forEachResult(results, "a DoFn", (item) => this.emit(item, source, key, timestamp));
  }

  /** Where the output stands, for rollback. */
  mark() {
    return this.timestamps.length;
  }

  /** Takes back what was emitted since `mark`. */
  rollback(mark) {
    this.keys.length = mark;
    this.values.length = mark;
    this.timestamps.length = mark;
    this.sources.length = mark;
    if (this.side !== null) {
      for (const index of [...this.side.keys()]) if (index >= mark) this.side.delete(index);
    }
  }

  /** Takes back what the inputs `sources` (a Set) emitted since `since`. */
  drop(sources, since) {
    const kept = [];
    for (let i = since; i < this.timestamps.length; i++) {
      if (!sources.has(this.sources[i])) {
        kept.push([this.sources[i], this.keys[i], this.values[i], this.timestamps[i], this.side?.get(i) ?? ""]);
      }
    }
    this.rollback(since);
    for (const [source, key, value, timestamp, to] of kept) this.push(source, key, value, timestamp, to);
  }

  /** Each output's side output ("" for the main one), or none if all go to the main
   * output. */
  tags() {
    if (this.side === null || this.side.size === 0) return EMPTY_BLOBS;
    const tags = new Array(this.timestamps.length);
    for (let i = 0; i < tags.length; i++) tags[i] = this.side.get(i) ?? "";
    return encodeItems(tags);
  }

  /** The WIT `output` record. */
  toOutput() {
    return {
      keys: encodeItems(this.keys),
      values: encodeItems(this.values),
      timestamps: this.timestamps,
      sources: this.sources,
      tags: this.tags(),
      errors: this.errors,
    };
  }
}

/**
 * The scope a batch's elements see: holds back the state and timer writes of the
 * element being handled until it succeeds, so that an element that throws leaves no
 * trace; reads see its own writes.
 */
export class Staged {
  constructor(scope, codec) {
    this.scope = scope;
    this.codec = codec;
    this.cells = null;
    this.timers = null;
  }

  get(index, name) {
    if (this.cells !== null) {
      const cell = this.cells.get(index + "\u0000" + name);
      if (cell !== undefined) return cell[2] ?? undefined;
    }
    return this.scope.get(index, name);
  }

  set(index, name, value) {
    (this.cells ??= new Map()).set(index + "\u0000" + name, [index, name, value]);
  }

  clear(index, name) {
    (this.cells ??= new Map()).set(index + "\u0000" + name, [index, name, null]);
  }

  setEventTimer(index, name, time) {
    (this.timers ??= new Map()).set(index + "\u0000" + name, [index, name, "event", time]);
  }

  setProcessingTimer(index, name, time) {
    (this.timers ??= new Map()).set(index + "\u0000" + name, [index, name, "processing", time]);
  }

  clearTimer(index, name) {
    (this.timers ??= new Map()).set(index + "\u0000" + name, [index, name, "clear", 0]);
  }

  /** Passes the writes held back on to the scope. */
  commit() {
    const { scope } = this;
    if (this.cells !== null) {
      for (const [index, name, value] of this.cells.values()) {
        if (value === null) scope.clear(index, name);
        else scope.set(index, name, value);
      }
      this.cells = null;
    }
    if (this.timers !== null) {
      for (const [index, name, domain, time] of this.timers.values()) {
        if (domain === "event") scope.setEventTimer(index, name, time);
        else if (domain === "processing") scope.setProcessingTimer(index, name, time);
        else scope.clearTimer(index, name);
      }
      this.timers = null;
    }
  }

  /** Forgets the writes held back. */
  discard() {
    this.cells = null;
    this.timers = null;
  }

  /** Forgets the writes held back for the elements `indexes` (a Set). */
  discardElements(indexes) {
    for (const map of [this.cells, this.timers]) {
      if (map === null) continue;
      for (const [cell, entry] of [...map]) if (indexes.has(entry[0])) map.delete(cell);
    }
  }
}

/**
 * A whole batch of elements, one array per field, for `DoFn.processBatch`:
 * `batch.values[i]` is element i's value (`keys`, `timestamps` and `windows` alike);
 * `emit(i, value, {key, timestamp, to})` emits for element i, `reject(i, reason)`
 * dead-letters it, `element(i)` gives it whole, with its state and timers.
 */
export class Batch {
  constructor(keys, values, timestamps, windows, sources, run) {
    /** Each element's key. */
    this.keys = keys;
    /** Each element's value. */
    this.values = values;
    /** Each element's event time. */
    this.timestamps = timestamps;
    /** Each element's window. */
    this.windows = windows;
    this._sources = sources;
    this._run = run;
    /** The elements reject() refused: message by index into the call's inputs. */
    this.rejected = new Map();
  }

  /** How many elements the batch has. */
  get length() {
    return this.values.length;
  }

  _source(index) {
    const source = this._sources[index];
    if (source === undefined) throw new RangeError(`no element ${index} in a batch of ${this.values.length}`);
    return source;
  }

  /** Emits `value` for element `index`: with its key and event time unless `key` or
   * `timestamp` say otherwise, in its window, to the main output or the side output
   * `to`. */
  emit(index, value, options) {
    const source = this._source(index);
    const run = this._run;
    const text = stringify(value);
    let key = run.keyTexts[source];
    let timestamp = run.timestamps[source];
    let to = "";
    if (options !== undefined) {
      if (options.key !== undefined) key = stringify(options.key);
      if (options.timestamp !== undefined) timestamp = checkedTime(options.timestamp);
      if (options.to) to = String(options.to);
    }
    run.out.push(source, key, text, timestamp, to);
  }

  /** Dead-letters element `index` with `message`; what it emitted, and its state and
   * timer writes, are taken back. */
  reject(index, message) {
    this.rejected.set(this._source(index), String(message));
  }

  /** Element `index`, whose `state` and `timers` are its key's and window's. */
  element(index) {
    const source = this._source(index);
    const element = new Element(this.values[index]);
    element.key = this.keys[index];
    element.timestamp = this.timestamps[index];
    element.window = this.windows[index];
    element._scope = this._run.staged;
    element._index = source;
    return element;
  }
}

/** Runs a DoFn over batches. */
export class DoFnRunner {
  constructor(Plugin, config) {
    this.fn = new Plugin(config);
    this.codec = Plugin.stateCodec ?? JSON_CODEC;
    this.bulk = typeof this.fn.processBatch === "function";
  }

  /** Processes a batch of elements; returns an Emitted. */
  process(scope, keyBytes, keyEnds, valueBytes, valueEnds, timestamps, windowStarts, windowEnds) {
    const keyTexts = decodeItems(keyBytes, keyEnds);
    const keys = keysOf(keyTexts);
    const { values, clean } = parseItems(valueBytes, valueEnds);
    const windows = windowsOf(windowStarts, windowEnds);
    const out = new Emitted();
    const staged = new Staged(scope, this.codec);
    const count = values.length;
    if (this.bulk) {
      const run = { out, keyTexts, timestamps, staged };
      const all = new Array(count);
      for (let i = 0; i < count; i++) all[i] = i;
      const whole = new Batch(keys, values, timestamps, windows, all, run);
      if (clean && (this._attempt(whole) || count === 1)) return out;
      // The batch failed as a whole: find the elements that fail, one by one.
      for (let i = 0; i < count; i++) {
        if (values[i] instanceof Unreadable) {
          out.errors.push({ index: i, message: values[i].message });
          continue;
        }
        this._attempt(new Batch([keys[i]], [values[i]], [timestamps[i]], [windows[i]], [i], run));
      }
      return out;
    }
    const fn = this.fn;
    for (let i = 0; i < count; i++) {
      const value = values[i];
      if (value instanceof Unreadable) {
        out.errors.push({ index: i, message: value.message });
        continue;
      }
      const element = new Element(value);
      element.key = keys[i];
      element.timestamp = timestamps[i];
      element.window = windows[i];
      element._scope = staged;
      element._index = i;
      const mark = out.timestamps.length;
      try {
        out.emitAll(fn.process(element), i, keyTexts[i], timestamps[i]);
      } catch (error) {
        out.rollback(mark);
        staged.discard();
        out.errors.push({ index: i, message: describe(error) });
        continue;
      }
      staged.commit();
    }
    return out;
  }

  /** Runs processBatch over `batch`; whether it returned. A batch of one element that
   * throws is that element's error; a bigger one leaves no trace. */
  _attempt(batch) {
    const run = batch._run;
    const mark = run.out.mark();
    try {
      this.fn.processBatch(batch);
    } catch (error) {
      run.out.rollback(mark);
      run.staged.discard();
      if (batch.length === 1) run.out.errors.push({ index: batch._sources[0], message: describe(error) });
      return false;
    }
    if (batch.rejected.size > 0) {
      const rejected = new Set(batch.rejected.keys());
      run.out.drop(rejected, mark);
      run.staged.discardElements(rejected);
      for (const [index, message] of batch.rejected) run.out.errors.push({ index, message });
    }
    run.staged.commit();
    return true;
  }

  /** Handles timers that fired; returns an Emitted. */
  onTimer(scope, keyBytes, keyEnds, windowStarts, windowEnds, names, times) {
    const keyTexts = decodeItems(keyBytes, keyEnds);
    const keys = keysOf(keyTexts);
    const windows = windowsOf(windowStarts, windowEnds);
    const out = new Emitted();
    const staged = new Staged(scope, this.codec);
    const fn = this.fn;
    for (let i = 0; i < keys.length; i++) {
      const timer = new Timer(keys[i], windows[i], names[i], times[i], staged, i);
      const mark = out.timestamps.length;
      try {
        out.emitAll(fn.onTimer(timer), i, keyTexts[i], times[i]);
      } catch (error) {
        out.rollback(mark);
        staged.discard();
        out.errors.push({ index: i, message: describe(error) });
        continue;
      }
      staged.commit();
    }
    return out;
  }
}

// -- CombineFn ----------------------------------------------------------------------

const INVERSIONS = new Set(Object.values(Inversion));

/** Runs a CombineFn over many (key, window) groups per call. */
export class CombineRunner {
  constructor(Plugin, config) {
    this.fn = new Plugin(config);
    this.codec = Plugin.accumulatorCodec ?? JSON_CODEC;
    this.inversion = Plugin.inversion ?? Inversion.NONE;
    if (!INVERSIONS.has(this.inversion)) {
      throw new TypeError(`${Plugin.name}.inversion is ${String(this.inversion)}, not one of Inversion's`);
    }
    const version = Plugin.accumulatorFormat ?? `${Plugin.name}/1`;
    this.accumulatorFormat = `${this.codec.format}/${version}`;
  }

  /** Whether uncombine may be called. */
  get invertible() {
    return this.inversion !== Inversion.NONE;
  }

  /** A fresh accumulator's bytes. */
  createAccumulator() {
    return this.codec.encode(this.fn.createAccumulator());
  }

  /** Adds (or, with `retract`, takes back) each group's inputs to its accumulator;
   * returns `{accumulators, rejected}` (the WIT `added` record). */
  add(accBytes, accEnds, inputBytes, inputEnds, groupEnds, retract = false) {
    const { values, clean } = parseItems(inputBytes, inputEnds);
    const accumulators = splitBytes(accBytes, accEnds);
    const parts = new Array(groupEnds.length);
    const rejected = [];
    let start = 0;
    for (let g = 0; g < groupEnds.length; g++) {
      const end = groupEnds[g];
      if (end > values.length || end < start) throw new PluginError("group ends past the inputs");
      if (accumulators[g] === undefined) throw new PluginError("more groups than accumulators");
      let readable = null;
      if (!clean) {
        readable = [];
        for (let i = start; i < end; i++) {
          if (values[i] instanceof Unreadable) rejected.push({ index: i, message: values[i].message });
          else readable.push(i);
        }
      }
      parts[g] = this.codec.encode(this._fold(accumulators[g], start, end, readable, values, rejected, retract));
      start = end;
    }
    return { accumulators: joinBytes(parts), rejected };
  }

  /** The accumulator `data` with the inputs [start, end) (or `readable`, indexes into
   * `values`) added, or taken back. */
  _fold(data, start, end, readable, values, rejected, retract) {
    const fn = this.fn;
    if (!retract) {
      const inputs = readable === null ? values.slice(start, end) : readable.map((i) => values[i]);
      try {
        return fn.addInputs(this.codec.decode(data), inputs);
      } catch {
        // Found input by input below.
      }
    }
    const indexes = readable ?? range(start, end);
    let accumulator = this.codec.decode(data);
    const taken = [];
    for (const index of indexes) {
      try {
        accumulator = retract ? fn.uncombine(accumulator, values[index]) : fn.addInput(accumulator, values[index]);
        taken.push(index);
      } catch (error) {
        rejected.push({ index, message: describe(error) });
        // The failed call may have changed the accumulator: start again from the
        // stored one with the inputs taken so far.
        accumulator = this.codec.decode(data);
        for (const done of taken) {
          accumulator = retract ? fn.uncombine(accumulator, values[done]) : fn.addInput(accumulator, values[done]);
        }
      }
    }
    return accumulator;
  }

  /** Merges each group of accumulators into one; returns blobs. */
  merge(accBytes, accEnds, groupEnds) {
    const items = splitBytes(accBytes, accEnds);
    const parts = new Array(groupEnds.length);
    let start = 0;
    for (let g = 0; g < groupEnds.length; g++) {
      const end = groupEnds[g];
      if (end > items.length || end < start) throw new PluginError("group ends past the accumulators");
      const group = new Array(end - start);
      for (let i = start; i < end; i++) group[i - start] = this.codec.decode(items[i]);
      parts[g] = this.codec.encode(this.fn.mergeAccumulators(group));
      start = end;
    }
    return joinBytes(parts);
  }

  /** The output value (JSON) of each accumulator; returns blobs. */
  extract(accBytes, accEnds) {
    const items = splitBytes(accBytes, accEnds);
    const texts = new Array(items.length);
    for (let i = 0; i < items.length; i++) texts[i] = stringify(this.fn.extractOutput(this.codec.decode(items[i])));
    return encodeItems(texts);
  }
}

// -- WindowFn -----------------------------------------------------------------------

/** The elements of a batch that has no state; a value that is not JSON fails it. */
function elementsOf(keyBytes, keyEnds, valueBytes, valueEnds, timestamps, windowStarts, windowEnds) {
  const keys = keysOf(decodeItems(keyBytes, keyEnds));
  const { values } = parseItems(valueBytes, valueEnds);
  const windows = windowsOf(windowStarts, windowEnds);
  const elements = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (values[i] instanceof Unreadable) throw new PluginError(`element ${i}: ${values[i].message}`);
    const element = new Element(values[i]);
    element.key = keys[i];
    element.timestamp = timestamps[i];
    element.window = windows[i];
    element._scope = DETACHED;
    element._index = i;
    elements[i] = element;
  }
  return elements;
}

/** Runs a WindowFn over batches. */
export class WindowRunner {
  constructor(Plugin, config) {
    this.fn = new Plugin(config);
    this.merging = Boolean(Plugin.merging);
  }

  /** Each element's windows: `{starts, ends, sources}` (the WIT `assignment`). */
  assign(...columns) {
    const elements = elementsOf(...columns);
    const starts = [];
    const ends = [];
    const sources = [];
    for (let i = 0; i < elements.length; i++) {
      try {
        forEachResult(this.fn.assign(elements[i]), "assign", (window) => {
          if (!(window instanceof Window)) throw new TypeError(`assign returns or yields Windows, not ${describeValue(window)}`);
          starts.push(checkedTime(window.start, "a window's start"));
          ends.push(checkedTime(window.end, "a window's end"));
          sources.push(i);
        });
      } catch (error) {
        throw new PluginError(`element ${i}: ${describe(error)}`);
      }
    }
    return { starts, ends, sources };
  }

  /** The merges among each key's windows: `{starts, ends, members, memberEnds}`. */
  merge(starts, ends, keyEnds) {
    const merged = { starts: [], ends: [], members: [], memberEnds: [] };
    let first = 0;
    for (const end of keyEnds) {
      const windows = [];
      for (let i = first; i < end; i++) windows.push(new Window(starts[i], ends[i]));
      forEachResult(this.fn.merge(windows), "merge", (result) => {
        if (!Array.isArray(result) || result.length !== 2 || !(result[1] instanceof Window)) {
          throw new TypeError(`merge returns or yields [memberIndexes, window] pairs, not ${describeValue(result)}`);
        }
        const [indexes, window] = result;
        merged.starts.push(checkedTime(window.start, "a window's start"));
        merged.ends.push(checkedTime(window.end, "a window's end"));
        for (const index of indexes) {
          if (!Number.isInteger(index) || index < 0 || index >= windows.length) {
            throw new PluginError(`merge names window ${index} of a key that has ${windows.length}`);
          }
          merged.members.push(first + index);
        }
        merged.memberEnds.push(merged.members.length);
      });
      first = end;
    }
    return merged;
  }
}

// -- Trigger ------------------------------------------------------------------------

/** Runs a Trigger over many windows per call. */
export class TriggerRunner {
  constructor(Plugin, config) {
    this.fn = new Plugin(config);
    this.codec = Plugin.stateCodec ?? JSON_CODEC;
  }

  /** Each window's new state and whether it fires: `{states, fire}` (the WIT
   * `decision`); `columns` are the batch's element columns. */
  onElements(stateBytes, stateEnds, elementEnds, ...columns) {
    const elements = elementsOf(...columns);
    const states = splitBytes(stateBytes, stateEnds);
    const parts = new Array(elementEnds.length);
    const fire = new Array(elementEnds.length);
    let start = 0;
    for (let w = 0; w < elementEnds.length; w++) {
      const end = elementEnds[w];
      const data = states[w];
      const state = data !== undefined && data.length > 0 ? this.codec.decode(data) : this.fn.initialState();
      const mine = elements.slice(start, end);
      const window = mine.length > 0 ? mine[0].window : Window.GLOBAL;
      const answer = this.fn.onElements(state, window, mine);
      if (!Array.isArray(answer) || answer.length !== 2) {
        throw new TypeError(`onElements returns [fire, state], not ${describeValue(answer)}`);
      }
      fire[w] = Boolean(answer[0]);
      parts[w] = this.codec.encode(answer[1]);
      start = end;
    }
    return { states: joinBytes(parts), fire };
  }
}
