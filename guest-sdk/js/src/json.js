// JSON between the host's bytes and JavaScript values.
//
// Values are what JSON.parse gives, with one exception that keeps integers exact: a
// value (or key) that is an integer too big for a JavaScript number (beyond
// ±(2^53 − 1)) arrives as a BigInt. What a plugin returns is written with
// JSON.stringify, except that BigInts are written as integers and `float(x)` as a
// floating-point number ("18.0", as Rust's serde_json writes it).

import { decodeItems } from "./utf8.js";

const INTEGER = /^\s*-?\d+\s*$/;

/** An item of a batch that is not JSON, and why. */
export class Unreadable {
  constructor(message) {
    this.message = message;
  }
}

/** JSON.parse, with integers beyond ±(2^53 − 1) (the whole text) as BigInts. */
export function parseJson(text) {
  const value = JSON.parse(text);
  if (typeof value === "number" && !Number.isSafeInteger(value) && INTEGER.test(text)) {
    return BigInt(text);
  }
  return value;
}

/**
 * Each item's JSON value, or an Unreadable for one that is not JSON:
 * `{values, texts, clean}`, where `clean` says whether every item was JSON. The host
 * sends valid JSON, so the whole batch is read with one call of the parser; only if
 * that fails is each item read alone.
 */
export function parseItems(bytes, ends) {
  return parseTexts(decodeItems(bytes, ends));
}

/** As parseItems, for items that are strings already. */
export function parseTexts(texts) {
  const count = texts.length;
  let values;
  if (count > 0) {
    try {
      values = JSON.parse("[" + texts.join(",") + "]");
      if (values.length !== count) values = undefined;
    } catch {
      values = undefined;
    }
  } else {
    values = [];
  }
  let clean = true;
  if (values === undefined) {
    values = new Array(count);
    for (let i = 0; i < count; i++) {
      try {
        values[i] = JSON.parse(texts[i]);
      } catch (error) {
        values[i] = new Unreadable(`cannot read the value: ${error.message}`);
        clean = false;
      }
    }
  }
  for (let i = 0; i < count; i++) {
    const value = values[i];
    if (typeof value === "number" && !Number.isSafeInteger(value) && INTEGER.test(texts[i])) {
      values[i] = BigInt(texts[i].trim());
    }
  }
  return { values, texts, clean };
}

/** A number to write as a floating-point number: `float(18)` is written `18.0`. */
export class JsonFloat {
  constructor(value) {
    this.value = Number(value);
  }

  toJSON() {
    sawFloat = true;
    return this.value;
  }
}

/** `x` to be written as a floating-point number (`18.0`, not `18`), as Rust does. */
export function float(x) {
  return new JsonFloat(x);
}

let sawFloat = false;

/**
 * A float as Rust's serde_json writes it (the shortest digits that read back the same,
 * laid out as the `ryu` crate does): `18.0`, `0.5`, `1e16`, `1.5e-7`. NaN and the
 * infinities are `null`, as there.
 */
export function formatFloat(x) {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, exponent] = x.toExponential().split("e");
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const length = digits.length;
  const k = Number(exponent) - (length - 1); // x = digits × 10^k
  const kk = length + k; // 10^(kk-1) <= |x| < 10^kk
  let text;
  if (k >= 0 && kk <= 16) {
    text = digits + "0".repeat(k) + ".0";
  } else if (kk > 0 && kk <= 16) {
    text = digits.slice(0, kk) + "." + digits.slice(kk);
  } else if (kk > -5 && kk <= 0) {
    text = "0." + "0".repeat(-kk) + digits;
  } else if (length === 1) {
    text = digits + "e" + (kk - 1);
  } else {
    text = digits[0] + "." + digits.slice(1) + "e" + (kk - 1);
  }
  return negative ? "-" + text : text;
}

const MARK = "\u0000millrace:";
const MARKED = /"\\u0000millrace:([^"]*)"/g;

function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof JsonFloat) return MARK + formatFloat(raw.value);
  if (typeof value === "bigint") return MARK + value.toString();
  return value;
}

/**
 * The compact JSON text of `value`. Refuses what is not JSON: `undefined`, functions
 * and symbols (a TypeError).
 */
export function stringify(value) {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      throw new TypeError(`${describeType(value)} is not a JSON value`);
    default:
  }
  if (value === null) return "null";
  if (value instanceof JsonFloat) return formatFloat(value.value);
  let text;
  sawFloat = false;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError) || !containsBigInt(value, 0)) throw error;
    text = undefined;
    sawFloat = true;
  }
  if (sawFloat) {
    sawFloat = false;
    text = JSON.stringify(value, replacer).replace(MARKED, "$1");
  }
  if (text === undefined) throw new TypeError(`${describeType(value)} is not a JSON value`);
  return text;
}

function containsBigInt(value, depth) {
  if (typeof value === "bigint") return true;
  if (value === null || typeof value !== "object" || depth > 100) return false;
  for (const key in value) {
    if (containsBigInt(value[key], depth + 1)) return true;
  }
  return false;
}

function describeType(value) {
  return typeof value === "function" ? "a function" : typeof value === "symbol" ? "a symbol" : String(value);
}
