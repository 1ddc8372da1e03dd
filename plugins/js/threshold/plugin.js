// A data-driven trigger for anomalies (paper §3.3.6): fires when a value crosses a
// threshold from below, and re-arms once a value falls below it again.
//
// The JavaScript twin of plugins/threshold, with the same configuration:
//
//     trigger: { repeatedly: { plugin: threshold.wasm, config: { threshold: 100, field: latency } } }
//
// `field` picks a number out of object values; without it the value itself is read.
// The per-window state, whether the last value seen was at or above the threshold, is
// a postcard bool as in the Rust plugin.

import { Trigger, postcard } from "millrace";

/** The threshold trigger; its state is whether the last reading was above. */
export default class Threshold extends Trigger {
  static stateCodec = postcard.BOOL;

  constructor(config) {
    super(config);
    this.threshold = config.require("threshold", "number");
    this.field = config.optional("field", "string");
  }

  /** The number `value` holds, or undefined. */
  reading(value) {
    if (this.field !== undefined) {
      const holds =
        value !== null && typeof value === "object" && !Array.isArray(value) && Object.hasOwn(value, this.field);
      value = holds ? value[this.field] : undefined;
    }
    return typeof value === "number" || typeof value === "bigint" ? Number(value) : undefined;
  }

  initialState() {
    return false;
  }

  onElements(above, window, elements) {
    let fire = false;
    for (const element of elements) {
      const reading = this.reading(element.value);
      if (reading === undefined) continue;
      const nowAbove = reading >= this.threshold;
      fire ||= nowAbove && !above;
      above = nowAbove;
    }
    return [fire, above];
  }
}
