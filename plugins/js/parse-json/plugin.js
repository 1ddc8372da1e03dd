// Parses each value as JSON text (a string holding a JSON object, or an object), keeps
// the records that match a filter, and re-keys them by a field.
//
// The JavaScript twin of plugins/parse-json, with the same configuration (all
// optional):
//
//     config:
//       key: user              # field that becomes the key (dotted paths reach nested fields)
//       value: score           # field that becomes the value (else the whole object)
//       timestamp: ts          # field (integer ms) that becomes the event time
//       where: { type: score } # keep only records whose fields equal these values
//
// Text that is not JSON, or a record without the key or value field, goes to the
// dead-letter output with the reason. It takes the SDK's bulk path
// (DoFn.processBatch): one call per batch rather than per element.
//
// JSON numbers are JavaScript numbers, so `where` tells 1 from true and from "1",
// but not from 1.0 (the Rust and Python twins do).

import { DoFn, PluginError, parseJson } from "millrace";

const MISSING = Symbol("missing");
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The field at `path` (a dotted path, split) of `record`, or MISSING. */
function field(record, path) {
  let value = record;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    if (!isObject(value) || !Object.hasOwn(value, part)) return MISSING;
    value = value[part];
  }
  return value;
}

/** A dotted path, split once (the per-element lookups are the hot path). */
function pathOf(dotted) {
  return dotted === undefined ? undefined : dotted.split(".");
}

/** JSON equality: 1, "1" and true are three different values. */
function same(a, b) {
  if (typeof a !== typeof b) return false;
  if (a === null || b === null || typeof a !== "object") return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  const names = Object.keys(a);
  return (
    names.length === Object.keys(b).length && names.every((name) => Object.hasOwn(b, name) && same(a[name], b[name]))
  );
}

function isTime(value) {
  return typeof value === "bigint" ? value >= I64_MIN && value <= I64_MAX : Number.isSafeInteger(value);
}

/** The parse/filter/re-key DoFn. */
export default class ParseJson extends DoFn {
  constructor(config) {
    super(config);
    config.allowOnly("key", "value", "timestamp", "where");
    this.key = config.optional("key", "string");
    this.value = config.optional("value", "string");
    this.timestamp = config.optional("timestamp", "string");
    this.keyPath = pathOf(this.key);
    this.valuePath = pathOf(this.value);
    this.timestampPath = pathOf(this.timestamp);
    this.where = Object.entries(config.optional("where", "object", {})).map(([name, wanted]) => [
      pathOf(name),
      wanted,
    ]);
  }

  processBatch(batch) {
    // The bulk path: one call for the whole batch; a bad record is rejected by index
    // and the rest carry on.
    const { values } = batch;
    for (let i = 0; i < values.length; i++) {
      let parsed;
      try {
        parsed = this.parse(values[i]);
      } catch (error) {
        if (!(error instanceof PluginError)) throw error;
        batch.reject(i, error.message);
        continue;
      }
      if (parsed !== null) batch.emit(i, parsed.value, parsed);
    }
  }

  /** What to emit for an element's value: `{value, key, timestamp}`, where a key or
   * time left undefined is the element's own; or null when the filter drops it.
   * Throws a PluginError for a bad record. */
  parse(value) {
    let record = value;
    if (typeof record === "string") {
      try {
        record = parseJson(record);
      } catch (error) {
        throw new PluginError(`not valid JSON: ${error.message}`);
      }
    }
    if (!isObject(record)) throw new PluginError("expected a JSON object");
    for (let i = 0; i < this.where.length; i++) {
      if (!same(field(record, this.where[i][0]), this.where[i][1])) return null;
    }
    let key;
    if (this.key !== undefined) {
      key = field(record, this.keyPath);
      if (key === MISSING) throw new PluginError(`missing the key field ${JSON.stringify(this.key)}`);
    }
    let timestamp;
    if (this.timestamp !== undefined) {
      timestamp = field(record, this.timestampPath);
      if (!isTime(timestamp)) {
        throw new PluginError(`missing the integer time field ${JSON.stringify(this.timestamp)}`);
      }
    }
    if (this.value !== undefined) {
      record = field(record, this.valuePath);
      if (record === MISSING) throw new PluginError(`missing the value field ${JSON.stringify(this.value)}`);
    }
    return { value: record, key, timestamp };
  }
}
