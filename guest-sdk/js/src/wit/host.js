// What every world imports from the host: configuration, logging and metrics. These
// modules import the WIT interfaces ("millrace:plugin/…"), which exist only inside a
// component: build.sh bundles one world's module with the plugin.

import host from "millrace:plugin/host@0.2.0";
import { describe } from "../core.js";
import { readConfig } from "../glue.js";
import { flush, hostConsole, install } from "../host.js";

const sink = {
  log: (level, message) => host.log(level, message),
  counterAdd: (name, delta) => host.counterAdd(name, delta),
  gaugeSet: (name, value) => host.gaugeSet(name, value),
};

/** Connects logs and metrics (and a `console`) to the host; returns the step's
 * configuration. */
export function start() {
  install(sink);
  if (typeof globalThis.console === "undefined") globalThis.console = hostConsole;
  return readConfig(host.config());
}

/** The WIT `error` of a call that failed as a whole. */
export function failure(error) {
  return { message: describe(error) };
}

/** Hands the call's counters and gauges to the host. */
export { flush };

/** The runner `init` made, or the error of a call before it. */
export function started(runner) {
  if (runner === null) throw new Error("the plugin was not initialized");
  return runner;
}
