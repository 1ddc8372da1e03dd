// The four kinds of plugin — DoFn, CombineFn, WindowFn, Trigger — and what they see.
//
// Extend one of them and make the class the default export of `plugin.js`. The SDK
// hands your methods native values (keys, values and configuration are JSON values,
// as JSON.parse gives them) and turns what they return back into the host's
// column-by-column batches.

import { JSON_CODEC } from "./codec.js";
import { Inversion, PluginError, Window } from "./core.js";

function checkedTime(time, what) {
  if (typeof time === "bigint") time = Number(time);
  if (!Number.isInteger(time)) {
    throw new TypeError(`${what} is an integer number of milliseconds, not ${String(time)}`);
  }
  return time;
}

/** The scope of an element built by hand: it has no state or timers. */
const DETACHED = {
  codec: JSON_CODEC,
  refuse() {
    throw new Error(
      "this element belongs to no batch: run it through DoFnHarness (millrace/testing) to use state and timers",
    );
  },
  get() {
    return this.refuse();
  },
  set() {
    this.refuse();
  },
  clear() {
    this.refuse();
  },
  setEventTimer() {
    this.refuse();
  },
  setProcessingTimer() {
    this.refuse();
  },
  clearTimer() {
    this.refuse();
  },
};

export { DETACHED };

/**
 * The keyed state of one element's (or timer's) key and window: cells by name.
 *
 * `get`/`set` encode values with the DoFn's `stateCodec` (JSON by default);
 * `getBytes`/`setBytes` store bytes as they are. Writes of a call take effect only if
 * the call succeeds.
 */
export class State {
  constructor(scope, index) {
    this._scope = scope;
    this._index = index;
  }

  /** The value of cell `name`, or `fallback` (undefined) when it holds none. */
  get(name, fallback = undefined) {
    const bytes = this._scope.get(this._index, name);
    return bytes === undefined ? fallback : this._scope.codec.decode(bytes);
  }

  /** Stores `value` in cell `name`. */
  set(name, value) {
    this._scope.set(this._index, name, this._scope.codec.encode(value));
  }

  /** The bytes of cell `name`, or undefined. */
  getBytes(name) {
    return this._scope.get(this._index, name);
  }

  /** Stores `bytes` (a Uint8Array) in cell `name`. */
  setBytes(name, bytes) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("setBytes stores a Uint8Array");
    this._scope.set(this._index, name, bytes);
  }

  /** Whether cell `name` holds a value. */
  has(name) {
    return this._scope.get(this._index, name) !== undefined;
  }

  /** Empties cell `name` (whether or not it held a value). */
  delete(name) {
    this._scope.clear(this._index, name);
  }
}

/**
 * The timers of one element's (or timer's) key and window, by name. Setting a timer
 * again moves it; when it fires, the DoFn's `onTimer` is called with a Timer of the
 * same key, window and name.
 */
export class Timers {
  constructor(scope, index) {
    this._scope = scope;
    this._index = index;
  }

  /** Fires `name` once the watermark passes `time` (event time, ms). */
  setEvent(name, time) {
    this._scope.setEventTimer(this._index, name, checkedTime(time, "a timer's time"));
  }

  /** Fires `name` once the processing clock passes `time` (ms). */
  setProcessing(name, time) {
    this._scope.setProcessingTimer(this._index, name, checkedTime(time, "a timer's time"));
  }

  /** Cancels `name`. */
  clear(name) {
    this._scope.clearTimer(this._index, name);
  }
}

/**
 * An element handed to a plugin: its key, value, event time and window; `state` and
 * `timers` reach the keyed state and timers of its key and window (DoFns only).
 *
 * `new Element(value, {key, timestamp, window})` builds one for tests.
 */
export class Element {
  constructor(value, options) {
    /** The element's value. */
    this.value = value;
    /** The element's key (null when it has none). */
    this.key = null;
    /** The element's event time, in milliseconds since the epoch. */
    this.timestamp = 0;
    /** The element's window. */
    this.window = Window.GLOBAL;
    this._scope = DETACHED;
    this._index = 0;
    if (options !== undefined) {
      if (options.key !== undefined) this.key = options.key;
      if (options.timestamp !== undefined) this.timestamp = options.timestamp;
      if (options.window !== undefined) this.window = options.window;
    }
  }

  /** The keyed state of this element's key and window. */
  get state() {
    return new State(this._scope, this._index);
  }

  /** The timers of this element's key and window. */
  get timers() {
    return new Timers(this._scope, this._index);
  }
}

/** A timer that fired: the key and window it was set for, its name and time. */
export class Timer {
  constructor(key, window, name, time, scope, index) {
    /** The key it was set for. */
    this.key = key;
    /** The window it was set for. */
    this.window = window;
    /** Its name. */
    this.name = name;
    /** The time it was set for. */
    this.time = time;
    this._scope = scope;
    this._index = index;
  }

  /** The keyed state of the timer's key and window. */
  get state() {
    return new State(this._scope, this._index);
  }

  /** The timers of the timer's key and window. */
  get timers() {
    return new Timers(this._scope, this._index);
  }
}

/** The marker for "the input's key" (null is the null key). */
export const SAME_KEY = Symbol("SAME_KEY");

/**
 * An element a DoFn emits under another key or at another time than its input, or
 * to a side output: `yield new Output(value, {key: "ann", timestamp: ts})`,
 * `yield new Output(value, {to: "rejects"})` (the step declares
 * `outputs: [rejects]`). A plain `yield value` emits with the input's key and time.
 * Outputs always take the input's window.
 */
export class Output {
  constructor(value, options) {
    this.value = value;
    this.key = SAME_KEY;
    this.timestamp = undefined;
    this.to = "";
    if (options !== undefined) {
      if ("key" in options) this.key = options.key;
      if (options.timestamp !== undefined) this.timestamp = options.timestamp;
      if (options.to !== undefined) this.to = String(options.to);
    }
  }
}

/**
 * Turns each element into zero or more elements (`pardo` steps).
 *
 * Override `process(element)`, which returns (or, as a generator, yields) what to
 * emit; or, for the bulk path, `processBatch(batch)`. Throwing for an element
 * dead-letters it and takes back what it emitted and its state and timer writes; the
 * rest of the batch carries on.
 */
export class DoFn {
  /** How state cells are stored (State.get/set). */
  static stateCodec = JSON_CODEC;

  /** Builds the function from the step's configuration (a Config); throw a
   * PluginError to refuse it (the spec is then refused). */
  constructor(config) {
    this.config = config;
  }

  /** Handles one element: returns or yields values (or Outputs) to emit. */
  process(_element) {
    throw new Error(`${this.constructor.name} overrides neither process(element) nor processBatch(batch)`);
  }

  /** Handles a timer this function set; what it emits takes the timer's key, window
   * and time unless an Output says otherwise. Nothing by default. */
  onTimer(_timer) {
    return undefined;
  }
}

/**
 * Folds the values of a (key, window) into an accumulator, and the accumulator into
 * the pane's value (`combine` steps).
 *
 * The host keeps the accumulators, encoded with `accumulatorCodec`, and names their
 * format "<codec format>/<accumulatorFormat>"; it refuses to hot-swap in a version
 * whose format or `inversion` differs. `accumulatorFormat` defaults to
 * "<class name>/1".
 */
export class CombineFn {
  /** Whether and how `uncombine` takes inputs back. */
  static inversion = Inversion.NONE;
  /** How accumulators are stored. */
  static accumulatorCodec = JSON_CODEC;

  constructor(config) {
    this.config = config;
  }

  /** A fresh accumulator. */
  createAccumulator() {
    throw new Error(`${this.constructor.name} does not override createAccumulator()`);
  }

  /** Adds one input; returns the new accumulator (or `accumulator`, changed). Throwing
   * rejects the input, and its group's accumulator is as if it had never been given. */
  addInput(_accumulator, _input) {
    throw new Error(`${this.constructor.name} does not override addInput(accumulator, input)`);
  }

  /** Adds a group's inputs at once: the bulk path, one call per (key, window) of a
   * batch. When it throws, the inputs are added one by one with addInput instead, so
   * that only the bad ones are rejected. By default it calls addInput for each. */
  addInputs(accumulator, inputs) {
    for (let i = 0; i < inputs.length; i++) accumulator = this.addInput(accumulator, inputs[i]);
    return accumulator;
  }

  /** One accumulator holding everything `accumulators` (an array) hold. */
  mergeAccumulators(_accumulators) {
    throw new Error(`${this.constructor.name} does not override mergeAccumulators(accumulators)`);
  }

  /** The pane's value (a JSON value). */
  extractOutput(_accumulator) {
    throw new Error(`${this.constructor.name} does not override extractOutput(accumulator)`);
  }

  /** Takes a retracted input back out; only called when `inversion` is not NONE.
   * Throwing rejects it, as in addInput. */
  uncombine(_accumulator, _input) {
    throw new PluginError("this combine function cannot take inputs back");
  }
}

/** A custom window function (`window: {custom: …}`). */
export class WindowFn {
  /** Whether windows can merge; if so, override `merge`. */
  static merging = false;

  constructor(config) {
    this.config = config;
  }

  /** The windows of one element: returns or yields Window objects (none, one or
   * several). */
  assign(_element) {
    throw new Error(`${this.constructor.name} does not override assign(element)`);
  }

  /** Which of one key's windows (an array) merge: returns or yields
   * `[memberIndexes, window]` pairs. None by default. */
  merge(_windows) {
    return [];
  }
}

/**
 * A data-driven trigger: decides from arriving elements when a window fires. It keeps
 * a state per window, encoded with `stateCodec`, which lives as long as the window,
 * across firings: reset it when firing if it describes one pane.
 */
export class Trigger {
  /** How the per-window state is stored. */
  static stateCodec = JSON_CODEC;

  constructor(config) {
    this.config = config;
  }

  /** The state of a window that has seen nothing yet. */
  initialState() {
    return null;
  }

  /** New elements (an array) arrived in `window`'s pane: returns
   * `[fire, newState]`, whether it fires now and the window's new state. */
  onElements(_state, _window, _elements) {
    throw new Error(`${this.constructor.name} does not override onElements(state, window, elements)`);
  }
}

const KINDS = [
  [DoFn, "dofn"],
  [CombineFn, "combine"],
  [WindowFn, "window"],
  [Trigger, "trigger"],
];

/** "dofn", "combine", "window" or "trigger": which kind the class `plugin` is. */
export function kindOf(plugin) {
  if (typeof plugin === "function") {
    for (const [base, kind] of KINDS) {
      if (plugin !== base && plugin.prototype instanceof base) return kind;
    }
  }
  throw new TypeError(
    `${typeof plugin === "function" ? plugin.name || "the class" : String(plugin)} is not a DoFn, CombineFn, WindowFn or Trigger subclass`,
  );
}
