// Misbehaves on demand, to test how the host contains faults of a JavaScript plugin
// (the twin of plugins/faulty). A record whose value is {"fault": KIND} makes it:
//
// - error: refuse the record (a PluginError),
// - panic: throw an unexpected exception (dead-lettered as "Error: boom: …"),
// - loop: loop forever,
// - bomb: allocate memory until it runs out (QuickJS throws "InternalError: out of
//   memory"; the host, which refused the memory, names its limit and drops the
//   instance),
// - flood: emit 8 MiB of output, more than a test allows.
//
// Anything else passes through unchanged.

import { DoFn, PluginError } from "millrace";

// Module-level, so that the loop is no work an engine may skip.
let spins = 0;

/** The misbehaving DoFn. */
export default class Faulty extends DoFn {
  process(element) {
    const { value } = element;
    const fault = value !== null && typeof value === "object" ? value.fault : undefined;
    switch (fault) {
      case "error":
        throw new PluginError("this record is refused on purpose");
      case "panic":
        throw new Error("boom: a deliberate exception");
      case "loop":
        for (;;) spins++;
      case "bomb": {
        // Local, so that even an instance that lived on would get its memory back.
        const hoard = [];
        for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
      }
      case "flood":
        return Array(8).fill("x".repeat(1 << 20));
      default:
        return [value];
    }
  }
}
