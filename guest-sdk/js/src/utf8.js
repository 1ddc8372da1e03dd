// UTF-8 between the host's byte buffers and JavaScript strings.
//
// Node.js and most engines have TextEncoder and TextDecoder; QuickJS, which runs
// plugins in the component, has neither, but it has native base64 (btoa, atob,
// Uint8Array.fromBase64 and toBase64) and the legacy escape/unescape, which together
// convert without a JavaScript loop over the bytes. A batch is converted in one piece
// and then cut at the items' ends; only a batch with non-ASCII text is converted item
// by item, since byte offsets are then not string offsets.

const hasTextCodec = typeof TextDecoder === "function" && typeof TextEncoder === "function";
const decoder = hasTextCodec ? new TextDecoder("utf-8", { fatal: true }) : null;
const encoder = hasTextCodec ? new TextEncoder() : null;
const NON_ASCII = /[^\x00-\x7f]/;
const EMPTY = new Uint8Array(0);
/** Characters of binary text turned into bytes at a time, without TextEncoder. */
const CHUNK = 1 << 16;

/** The bytes as a "binary string": one character per byte. */
function binary(bytes) {
  return bytes.length === 0 ? "" : atob(bytes.toBase64());
}

/** The bytes of a binary string (every character below 256). */
function fromBinary(text) {
  return text.length === 0 ? new Uint8Array(0) : Uint8Array.fromBase64(btoa(text));
}

/** The text of UTF-8 `bytes`. */
export function decodeUtf8(bytes) {
  if (decoder !== null) return decoder.decode(bytes);
  const text = binary(bytes);
  return NON_ASCII.test(text) ? decodeURIComponent(escape(text)) : text;
}

/** The UTF-8 bytes of `text`. */
export function encodeUtf8(text) {
  if (encoder !== null) return encoder.encode(text);
  return fromBinary(NON_ASCII.test(text) ? unescape(encodeURIComponent(text)) : text);
}

/** The items of a blobs buffer as strings: item i is `bytes[ends[i-1]..ends[i]]`. */
export function decodeItems(bytes, ends) {
  const count = ends.length;
  const items = new Array(count);
  if (count === 0) return items;
  let text;
  let ascii;
  if (decoder !== null) {
    text = decoder.decode(bytes);
    ascii = text.length === bytes.length;
  } else {
    text = binary(bytes);
    ascii = !NON_ASCII.test(text);
  }
  let start = 0;
  if (ascii) {
    for (let i = 0; i < count; i++) {
      const end = ends[i];
      items[i] = text.slice(start, end);
      start = end;
    }
    return items;
  }
  for (let i = 0; i < count; i++) {
    const end = ends[i];
    items[i] =
      decoder !== null
        ? decoder.decode(bytes.subarray(start, end))
        : decodeURIComponent(escape(text.slice(start, end)));
    start = end;
  }
  return items;
}

/** A blobs buffer `{bytes, ends}` holding the UTF-8 of each of `texts`. */
export function encodeItems(texts) {
  const count = texts.length;
  const ends = new Array(count);
  if (count === 0) return { bytes: EMPTY, ends };
  if (encoder !== null) {
    const joined = texts.join("");
    const whole = encoder.encode(joined);
    if (whole.length === joined.length) {
      let end = 0;
      for (let i = 0; i < count; i++) ends[i] = end += texts[i].length;
      return { bytes: whole, ends };
    }
    const parts = new Array(count);
    let end = 0;
    for (let i = 0; i < count; i++) {
      parts[i] = encoder.encode(texts[i]);
      ends[i] = end += parts[i].length;
    }
    return { bytes: concatBytes(parts, end), ends };
  }
  // Without TextEncoder (QuickJS): items are taken in groups of about CHUNK
  // characters (a larger item alone). A group is tested for non-ASCII text once,
  // and only a group that has some is converted item by item. Each group's binary
  // string then goes into one buffer a piece at a time, so that a large output is
  // held about twice while it is encoded (as text and as bytes), not four times
  // (also joined and as base64).
  const groups = [];
  let total = 0;
  let first = 0;
  let length = 0;
  for (let i = 0; i < count; i++) {
    if (texts[i].length >= CHUNK && i > first) {
      total = binaryGroup(texts, first, i, ends, total, groups);
      first = i;
      length = 0;
    }
    length += texts[i].length;
    if (length >= CHUNK || i === count - 1) {
      total = binaryGroup(texts, first, i + 1, ends, total, groups);
      first = i + 1;
      length = 0;
    }
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const binary of groups) {
    for (let start = 0; start < binary.length; start += CHUNK) {
      bytes.set(fromBinary(binary.slice(start, start + CHUNK)), offset + start);
    }
    offset += binary.length;
  }
  return { bytes, ends };
}

/** Appends to `groups` the UTF-8 of texts[first..end) as one binary string and
 * sets their `ends`, counting from `total` bytes; returns the new total. */
function binaryGroup(texts, first, end, ends, total, groups) {
  const joined = end - first === 1 ? texts[first] : texts.slice(first, end).join("");
  if (!NON_ASCII.test(joined)) {
    for (let i = first; i < end; i++) ends[i] = total += texts[i].length;
    groups.push(joined);
    return total;
  }
  const parts = new Array(end - first);
  for (let i = first; i < end; i++) {
    const text = texts[i];
    parts[i - first] = NON_ASCII.test(text) ? unescape(encodeURIComponent(text)) : text;
    ends[i] = total += parts[i - first].length;
  }
  groups.push(parts.join(""));
  return total;
}

/** `parts` (byte arrays) laid end to end; `total` is the sum of their lengths. */
export function concatBytes(parts, total) {
  if (total === undefined) {
    total = 0;
    for (const part of parts) total += part.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The items of a blobs buffer as byte arrays (views, not copies). */
export function splitBytes(bytes, ends) {
  const count = ends.length;
  const items = new Array(count);
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = ends[i];
    items[i] = bytes.subarray(start, end);
    start = end;
  }
  return items;
}

/** A blobs buffer `{bytes, ends}` holding each of `parts` (byte arrays). */
export function joinBytes(parts) {
  const ends = new Array(parts.length);
  let end = 0;
  for (let i = 0; i < parts.length; i++) ends[i] = end += parts[i].length;
  return { bytes: concatBytes(parts, end), ends };
}
