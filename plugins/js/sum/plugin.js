// Sums numbers. Integers stay integers (as the built-in `sum` does); retractions are
// subtracted, so the plugin works downstream of retracting steps.
//
// The JavaScript twin of plugins/sum: the same outputs, and the same accumulator
// bytes and format ("postcard/sum::Total/1"), so the host may hot-swap one for the
// other.

import { CombineFn, Inversion, PluginError, float, postcard } from "millrace";

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const I128_MIN = -(2n ** 127n);
const I128_MAX = 2n ** 127n - 1n;

// The Rust plugin's accumulator, byte for byte: `struct Total { int: i128, float: f64,
// fractional: i64 }` in postcard, named as the Rust SDK names it. `int` is the sum of
// the integer inputs, `float` that of the fractional ones, `fractional` the net number
// of fractional inputs (the output is an integer when it is zero).
const TOTAL = postcard.struct("sum::Total", {
  int: postcard.I128,
  float: postcard.F64,
  fractional: postcard.I64,
});

function isI64(value) {
  return typeof value === "bigint" ? value >= I64_MIN && value <= I64_MAX : Number.isSafeInteger(value);
}

/** `total` plus `sign × value`; refuses (a PluginError) a total that would no longer be
 * a 64-bit number: an overflow is the element's fault, never a silent 0 or null. */
function add(total, value, sign) {
  let { int, float: approx, fractional } = total;
  if (isI64(value)) {
    int = BigInt(int) + BigInt(sign) * BigInt(value);
  } else if (typeof value === "number" || typeof value === "bigint") {
    // A number beyond ±(2^53 − 1) arrives as a BigInt when its text is an integer, so
    // an unsafe number here was written as a float (1e20), as are fractions.
    approx += sign * Number(value);
    fractional += sign;
  } else {
    throw new PluginError("expected a JSON number");
  }
  if (fractional === 0) {
    if (int < I64_MIN || int > I64_MAX) throw new PluginError("sum overflows a 64-bit integer");
  } else if (!Number.isFinite(Number(int) + approx)) {
    throw new PluginError("sum overflows a 64-bit float");
  }
  return { int, float: approx, fractional };
}

/** The sum combiner. */
export default class Sum extends CombineFn {
  static inversion = Inversion.SUBTRACT;
  static accumulatorCodec = TOTAL;
  static accumulatorFormat = "1";

  createAccumulator() {
    return { int: 0, float: 0, fractional: 0 };
  }

  addInput(total, value) {
    return add(total, value, 1);
  }

  addInputs(total, values) {
    // The bulk path: safe integers whose magnitudes add up to a safe integer are
    // summed as plain numbers (every partial sum is exact); anything else goes input
    // by input.
    if (total.fractional === 0 && Number.isSafeInteger(total.int)) {
      let sum = total.int;
      let magnitude = Math.abs(sum);
      let i = 0;
      for (; i < values.length && Number.isSafeInteger(values[i]); i++) {
        sum += values[i];
        magnitude += Math.abs(values[i]);
      }
      if (i === values.length && magnitude <= Number.MAX_SAFE_INTEGER) return { ...total, int: sum };
    }
    return super.addInputs(total, values);
  }

  mergeAccumulators(totals) {
    let int = 0n;
    let approx = 0;
    let fractional = 0;
    for (const total of totals) {
      int += BigInt(total.int);
      approx += total.float;
      fractional += total.fractional;
    }
    int = int < I128_MIN ? I128_MIN : int > I128_MAX ? I128_MAX : int;
    return { int, float: approx, fractional };
  }

  extractOutput(total) {
    if (total.fractional === 0 && isI64(total.int)) return total.int;
    // Only merged windows can pass 64 bits (each input was checked); they saturate at
    // the largest float.
    const result = Math.min(Math.max(Number(total.int) + total.float, -Number.MAX_VALUE), Number.MAX_VALUE);
    return Number.isNaN(result) ? 0 : float(result);
  }

  uncombine(total, value) {
    return add(total, value, -1);
  }
}
