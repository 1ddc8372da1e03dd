// The `trigger-plugin` world: exports millrace:plugin/trigger.

import { TriggerRunner } from "../glue.js";
import { failure, flush, start, started } from "./host.js";

/** The `trigger` export for the Trigger class `Plugin`. */
export function bind(Plugin) {
  let runner = null;
  return {
    init() {
      try {
        runner = new TriggerRunner(Plugin, start());
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    onElements(states, input, elementEnds) {
      try {
        return started(runner).onElements(
          states.bytes,
          states.ends,
          elementEnds,
          input.keys.bytes,
          input.keys.ends,
          input.values.bytes,
          input.values.ends,
          input.timestamps,
          input.windowStarts,
          input.windowEnds,
        );
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
  };
}
