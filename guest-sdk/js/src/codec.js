// How accumulators and state become bytes.
//
// The host stores a CombineFn's accumulators, a DoFn's state cells and a trigger's
// per-window state as opaque bytes. A codec turns the plugin's value into those bytes
// and back: `{format, encode(value) -> Uint8Array, decode(bytes) -> value}`. Pick one
// per plugin class (`static accumulatorCodec`, `static stateCodec`):
//
// - JSON (the default): JSON values (BigInts too); readable by any language.
// - BYTES: the bytes as they are (a Uint8Array).
// - the codecs of `postcard` ("millrace/postcard"): the byte layout of the Rust SDK,
//   so that a JavaScript plugin can take over the accumulators and state of its Rust
//   twin.
//
// For a CombineFn the host sees `format` (with the class's accumulatorFormat) and
// refuses to hot-swap in a version whose format differs.

import { parseJson, stringify } from "./json.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

/** JSON values, as compact UTF-8 JSON text. */
export const JSON_CODEC = Object.freeze({
  format: "json",
  encode(value) {
    return encodeUtf8(stringify(value));
  },
  decode(bytes) {
    return parseJson(decodeUtf8(bytes));
  },
});

/** Bytes as they are: values are Uint8Arrays. */
export const BYTES = Object.freeze({
  format: "bytes",
  encode(value) {
    if (!(value instanceof Uint8Array)) throw new TypeError("the BYTES codec stores Uint8Arrays");
    return value;
  },
  decode(bytes) {
    return bytes;
  },
});
