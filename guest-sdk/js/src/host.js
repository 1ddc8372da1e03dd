// What the host offers every plugin: its log, counters and gauges.
//
// Counters and gauges are kept in the plugin while a call runs and handed to the host
// once at the end of it (one host call per name and call, not per element). Outside a
// component (in tests) they are recorded in memory: see `recorded`.

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** Metrics and logs recorded outside a component (native tests read them). */
export class Recorded {
  constructor() {
    this.counters = {};
    this.gauges = {};
    this.logs = [];
  }

  log(level, message) {
    this.logs.push([level, message]);
  }

  counterAdd(name, delta) {
    this.counters[name] = (this.counters[name] ?? 0) + delta;
  }

  gaugeSet(name, value) {
    this.gauges[name] = value;
  }
}

let sink = new Recorded();
const counters = new Map();
const gauges = new Map();

/** Sends logs and metrics to `target` from now on; returns it. */
export function install(target) {
  flush();
  sink = target;
  return target;
}

/** Where logs and metrics go now. */
export function installed() {
  return sink;
}

/** Hands the counters and gauges of the call to the host. */
export function flush() {
  if (counters.size > 0) {
    for (const [name, delta] of counters) sink.counterAdd(name, delta);
    counters.clear();
  }
  if (gauges.size > 0) {
    for (const [name, value] of gauges) sink.gaugeSet(name, value);
    gauges.clear();
  }
}

/** Adds `delta` (a non-negative integer, 1 by default) to the step's counter `name`. */
export function counterAdd(name, delta = 1) {
  if (typeof delta === "bigint") delta = Number(delta);
  if (!Number.isSafeInteger(delta) || delta < 0) {
    throw new RangeError(`counter ${JSON.stringify(name)} adds a non-negative integer, not ${delta}`);
  }
  counters.set(name, (counters.get(name) ?? 0) + delta);
}

/** Sets the step's gauge `name` to the number `value`. */
export function gaugeSet(name, value) {
  gauges.set(name, Number(value));
}

/**
 * Writes `message` to the host's log, tagged with the step and the plugin:
 * `log("info", "…")`, or `log.info("…")` (also trace, debug, warn, error).
 */
export function log(level, message) {
  if (!LEVELS.includes(level)) throw new RangeError(`no log level ${JSON.stringify(level)}: ${LEVELS.join(", ")}`);
  sink.log(level, String(message));
}

for (const level of LEVELS) log[level] = (message) => log(level, message);

function format(values) {
  return values
    .map((value) => {
      if (typeof value === "string") return value;
      if (value instanceof Error) return `${value.name}: ${value.message}`;
      try {
        return JSON.stringify(value) ?? String(value);
      } catch {
        return String(value);
      }
    })
    .join(" ");
}

/** A `console` that writes to the host's log (the component has none of its own). */
export const hostConsole = {
  log: (...values) => log("info", format(values)),
  info: (...values) => log("info", format(values)),
  warn: (...values) => log("warn", format(values)),
  error: (...values) => log("error", format(values)),
  debug: (...values) => log("debug", format(values)),
  trace: (...values) => log("trace", format(values)),
};
