// The `combine-plugin` world: exports millrace:plugin/combine-fn.

import { CombineRunner } from "../glue.js";
import { failure, flush, start, started } from "./host.js";

/** The `combineFn` export for the CombineFn class `Plugin`. */
export function bind(Plugin) {
  let runner = null;
  return {
    init() {
      try {
        runner = new CombineRunner(Plugin, start());
        return { accumulatorFormat: runner.accumulatorFormat, inversion: runner.inversion };
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    createAccumulator() {
      // The interface has no error here: an exception traps the instance.
      try {
        return started(runner).createAccumulator();
      } finally {
        flush();
      }
    },
    addInputs(accumulators, inputs, groupEnds) {
      try {
        return started(runner).add(accumulators.bytes, accumulators.ends, inputs.bytes, inputs.ends, groupEnds);
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    uncombine(accumulators, inputs, groupEnds) {
      const combiner = started(runner);
      if (!combiner.invertible) throw { tag: "not-invertible" };
      try {
        return combiner.add(accumulators.bytes, accumulators.ends, inputs.bytes, inputs.ends, groupEnds, true);
      } catch (error) {
        throw { tag: "failed", val: failure(error) };
      } finally {
        flush();
      }
    },
    mergeAccumulators(accumulators, groupEnds) {
      try {
        return started(runner).merge(accumulators.bytes, accumulators.ends, groupEnds);
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
    extractOutputs(accumulators) {
      try {
        return started(runner).extract(accumulators.bytes, accumulators.ends);
      } catch (error) {
        throw failure(error);
      } finally {
        flush();
      }
    },
  };
}
