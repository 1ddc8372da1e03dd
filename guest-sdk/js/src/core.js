// Values every kind of plugin uses: windows, configuration, errors.

/** The first instant of event time, -2^63 ms: where the global window starts. */
export const MIN_TIME = -(2 ** 63);
/**
 * The last instant of event time, 2^63 − 1 ms: where the global window ends. A
 * JavaScript number cannot hold it exactly and rounds it to 2^63; the component's
 * runtime turns that back into 2^63 − 1, so the global window round-trips exactly.
 */
export const MAX_TIME = 2 ** 63;

/** A window of event time: `[start, end)` in milliseconds since the epoch. */
export class Window {
  constructor(start, end) {
    /** First instant in the window (MIN_TIME for the global window). */
    this.start = start;
    /** First instant after the window (MAX_TIME for the global window). */
    this.end = end;
  }

  /** Whether this is the global window. */
  get isGlobal() {
    return this.start <= MIN_TIME && this.end >= MAX_TIME;
  }

  /** The last instant in the window. */
  get maxTimestamp() {
    return this.end - 1;
  }

  toString() {
    return this.isGlobal ? "Window.GLOBAL" : `Window(${this.start}, ${this.end})`;
  }
}

/** The global window, which covers all time. */
Window.GLOBAL = Object.freeze(new Window(MIN_TIME, MAX_TIME));

/** How a CombineFn takes a retracted input back out of an accumulator. */
export const Inversion = Object.freeze({
  /** `uncombine` subtracts any input, even one the accumulator never held (sums). */
  SUBTRACT: "subtract",
  /** `uncombine` removes an input the accumulator holds (collections). */
  REMOVE: "remove",
  /** Inputs cannot be taken back; the host recomputes from the window's inputs. */
  NONE: "none",
});

/**
 * Refuses an element (or a call) with this message, as it stands.
 *
 * Throw it for bad input: the host sends the element to the dead-letter output with
 * the message. Anything else thrown is reported too, as "Name: message" (e.g.
 * "TypeError: cannot read property 'x' of undefined"), since it is more likely a bug.
 */
export class PluginError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "PluginError";
  }
}

/** What the dead-letter output says about `error`, a thrown value. */
export function describe(error) {
  if (error instanceof PluginError) return error.message;
  if (error instanceof Error) {
    const name = error.name || error.constructor?.name || "Error";
    return error.message ? `${name}: ${error.message}` : name;
  }
  let text;
  try {
    text = typeof error === "string" ? JSON.stringify(error) : String(error);
  } catch {
    text = Object.prototype.toString.call(error);
  }
  return `uncaught ${text}`;
}

const TYPE_NAMES = {
  string: "a string",
  number: "a number",
  integer: "an integer",
  boolean: "a boolean",
  object: "a map",
  array: "a list",
};

function quote(name) {
  return JSON.stringify(name);
}

function jsonType(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "bigint") return "an integer";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  return TYPE_NAMES[typeof value] ?? typeof value;
}

function matches(value, type) {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" || typeof value === "bigint";
    case "integer":
      return Number.isSafeInteger(value) || typeof value === "bigint";
    case "boolean":
      return typeof value === "boolean";
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
    case "any":
      return true;
    default:
      throw new TypeError(`no config type ${quote(type)}: ${Object.keys(TYPE_NAMES).join(", ")} or any`);
  }
}

/**
 * The step's configuration: the spec's `config` for the plugin, read-only.
 *
 * Read it with `get(name)`, or with `require(name, type)` and `optional(name, type,
 * default)`, which check the type and throw a PluginError that names the setting.
 * Types: "string", "number" (integers too), "integer", "boolean", "object", "array"
 * or "any".
 */
export class Config {
  constructor(settings = {}) {
    this._settings = settings;
  }

  /** The whole configuration, a plain object. */
  get value() {
    return this._settings;
  }

  /** The setting `name` as it is (undefined when absent). */
  get(name) {
    return Object.prototype.hasOwnProperty.call(this._settings, name) ? this._settings[name] : undefined;
  }

  /** Whether the setting `name` is given (and not null). */
  has(name) {
    const value = this.get(name);
    return value !== undefined && value !== null;
  }

  /** The names of the settings given. */
  keys() {
    return Object.keys(this._settings);
  }

  /** The setting `name`, which must be given and of `type`. */
  require(name, type = "any") {
    const value = this.optional(name, type);
    if (value === undefined) throw new PluginError(`config ${quote(name)} is required`);
    return value;
  }

  /** The setting `name` of `type`, or `fallback` when it is absent or null. */
  optional(name, type = "any", fallback = undefined) {
    const value = this.get(name);
    if (value === undefined || value === null) return fallback;
    if (!matches(value, type)) {
      throw new PluginError(`config ${quote(name)}: expected ${TYPE_NAMES[type]}, got ${jsonType(value)}`);
    }
    return type === "number" && typeof value === "bigint" ? Number(value) : value;
  }

  /** Refuses settings other than `names`, naming the first unknown one. */
  allowOnly(...names) {
    for (const name of Object.keys(this._settings)) {
      if (!names.includes(name)) {
        throw new PluginError(
          `config: unknown setting ${quote(name)}, expected one of ${names.map(quote).join(", ")}`,
        );
      }
    }
  }
}
