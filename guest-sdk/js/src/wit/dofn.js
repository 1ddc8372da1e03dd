// The `dofn-plugin` world: exports millrace:plugin/dofn.

import state from "millrace:plugin/state@0.2.0";
import { DoFnRunner } from "../glue.js";
import { failure, flush, start, started } from "./host.js";

/** Keyed state and timers, kept by the host. */
const scope = {
  get(index, name) {
    const value = state.get(index, name);
    return value === null ? undefined : value;
  },
  set: (index, name, value) => state.set(index, name, value),
  clear: (index, name) => state.clear(index, name),
  setEventTimer: (index, name, time) => state.setEventTimer(index, name, time),
  setProcessingTimer: (index, name, time) => state.setProcessingTimer(index, name, time),
  clearTimer: (index, name) => state.clearTimer(index, name),
};

/** The `dofn` export for the DoFn class `Plugin`. */
export function bind(Plugin) {
  let runner = null;
  return {
    init() {
      try {
        runner = new DoFnRunner(Plugin, start());
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    process(input) {
      try {
        return started(runner)
          .process(
            scope,
            input.keys.bytes,
            input.keys.ends,
            input.values.bytes,
            input.values.ends,
            input.timestamps,
            input.windowStarts,
            input.windowEnds,
          )
          .toOutput();
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    onTimer(timers) {
      try {
        return started(runner)
          .onTimer(
            scope,
            timers.keys.bytes,
            timers.keys.ends,
            timers.windowStarts,
            timers.windowEnds,
            timers.names,
            timers.times,
          )
          .toOutput();
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
  };
}
