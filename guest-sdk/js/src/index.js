// Write millrace plugins in JavaScript.
//
// A plugin is a WebAssembly component that gives a millrace pipeline one piece of
// user logic. Extend one of four classes and make it the default export of
// `plugin.js`:
//
// - DoFn: turns each element into zero or more elements (`pardo` steps), with keyed
//   state and timers when it needs them;
// - CombineFn: folds a window's values into one (`combine` steps);
// - WindowFn: a custom window function (`window: {custom: …}`);
// - Trigger: a data-driven trigger that looks at arriving elements.
//
// The host owns time, windows, triggers and state; the SDK hands your methods native
// values and turns what they return into the host's batches. A complete sum:
//
//     import { CombineFn, Inversion } from "millrace";
//
//     export default class Sum extends CombineFn {
//       static inversion = Inversion.SUBTRACT;
//       createAccumulator() { return 0; }
//       addInput(total, value) { return total + value; }
//       mergeAccumulators(totals) { return totals.reduce((a, b) => a + b, 0); }
//       extractOutput(total) { return total; }
//       uncombine(total, value) { return total - value; }
//     }
//
// Test it natively with millrace/testing and `node --test`; build it with
// `guest-sdk/js/build.sh PLUGIN_DIR OUT.wasm` (componentize-qjs 0.4.5, QuickJS).

export { BYTES, JSON_CODEC } from "./codec.js";
export { Config, Inversion, MAX_TIME, MIN_TIME, PluginError, Window, describe } from "./core.js";
export { CombineFn, DoFn, Element, Output, State, Timer, Timers, Trigger, WindowFn, kindOf } from "./functions.js";
export { Batch } from "./glue.js";
export { counterAdd, gaugeSet, log } from "./host.js";
export { float, parseJson, stringify } from "./json.js";
export * as postcard from "./postcard.js";
