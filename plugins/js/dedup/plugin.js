// Drops repeats: a record whose id was already seen for the same key within the
// horizon (in event time) is not passed on. Each id is remembered in keyed state and
// forgotten by an event-time timer once the watermark passes `ts + horizon`.
//
// The JavaScript twin of plugins/dedup, with the same configuration and the same
// state (each id's cell holds its first time as a postcard i64, as the Rust plugin's
// does):
//
//     config:
//       id: event_id     # the field of the value that identifies a record (else the whole value)
//       horizon: 600000  # how long an id is remembered, in milliseconds of event time

import { DoFn, MAX_TIME, PluginError, counterAdd, postcard, stringify } from "millrace";

/** The dedup DoFn. */
export default class Dedup extends DoFn {
  static stateCodec = postcard.I64;

  constructor(config) {
    super(config);
    this.horizon = Number(config.require("horizon", "integer"));
    if (this.horizon <= 0) throw new PluginError('config "horizon" must be a positive number of milliseconds');
    this.id = config.optional("id", "string");
  }

  process(element) {
    const { value } = element;
    let identity = value;
    if (this.id !== undefined) {
      if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, this.id)) {
        throw new PluginError(`missing the id field ${JSON.stringify(this.id)}`);
      }
      identity = value[this.id];
    }
    // The cell (and timer) name holds the id's compact JSON text, as the twins write it.
    const name = `seen:${stringify(identity)}`;
    const { state } = element;
    if (state.has(name)) {
      counterAdd("duplicates");
      return [];
    }
    state.set(name, element.timestamp);
    element.timers.setEvent(name, Math.min(element.timestamp + this.horizon, MAX_TIME));
    return [value];
  }

  onTimer(timer) {
    // The horizon has passed: forget the id.
    timer.state.delete(timer.name);
  }
}
