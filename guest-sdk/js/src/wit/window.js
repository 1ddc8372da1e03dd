// The `window-plugin` world: exports millrace:plugin/window-fn.

import { WindowRunner } from "../glue.js";
import { failure, flush, start, started } from "./host.js";

/** The `windowFn` export for the WindowFn class `Plugin`. */
export function bind(Plugin) {
  let runner = null;
  return {
    init() {
      try {
        runner = new WindowRunner(Plugin, start());
        return { merging: runner.merging };
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    assign(input) {
      try {
        return started(runner).assign(
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
    merge(starts, ends, keyEnds) {
      try {
        return started(runner).merge(starts, ends, keyEnds);
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
  };
}
