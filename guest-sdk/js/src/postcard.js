// Postcard, the byte layout the Rust SDK gives accumulators and state.
//
// A JavaScript plugin that declares its accumulator (or state) with these codecs
// writes the same bytes as the Rust plugin it replaces, so the host may hot-swap one
// for the other and resume either from the other's checkpoints. The layout follows
// postcard 1.x (https://postcard.jamesmunns.com/wire-format): integers are LEB128
// varints (signed ones zigzag-encoded first), floats little-endian, strings and
// sequences length-prefixed, options a 0/1 tag, a struct its fields in order.
//
// Integers read back as numbers when they fit one exactly (within ±(2^53 − 1)) and as
// BigInts beyond; either may be written.
//
// The Rust SDK names an accumulator format `postcard/<Rust type name>/<version>`, so a
// struct carries the Rust type's name:
//
//     const TOTAL = postcard.struct("sum::Total", {
//       int: postcard.I128, float: postcard.F64, fractional: postcard.I64,
//     });

import { decodeUtf8, encodeUtf8 } from "./utf8.js";

const SAFE = Number.MAX_SAFE_INTEGER;

/** A growing byte buffer. */
export class Writer {
  constructor(capacity = 32) {
    this.bytes = new Uint8Array(capacity);
    this.length = 0;
  }

  reserve(extra) {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  push(byte) {
    if (this.length === this.bytes.length) this.reserve(1);
    this.bytes[this.length++] = byte;
  }

  append(bytes) {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The bytes written, as a new array. */
  finish() {
    return this.bytes.slice(0, this.length);
  }
}

const SHARED_WRITER = new Writer(256);

/** Where reading stands in a byte array. */
export class Reader {
  constructor(bytes, at = 0) {
    this.bytes = bytes;
    this.at = at;
  }

  byte(what) {
    if (this.at >= this.bytes.length) throw new RangeError(`the bytes end before ${what}`);
    return this.bytes[this.at++];
  }
}

/** One postcard type; also a codec of a whole byte string. */
export class Field {
  constructor(name) {
    this.name = name;
  }

  /** `postcard/<Rust type name>`. */
  get format() {
    return `postcard/${this.name}`;
  }

  write(_writer, _value) {
    throw new Error("not implemented");
  }

  read(_reader) {
    throw new Error("not implemented");
  }

  /** The bytes of `value`. */
  encode(value) {
    // One writer for every encoding (a write never encodes another value whole):
    // its buffer grows once, and only the result is a new array.
    const writer = SHARED_WRITER;
    writer.length = 0;
    this.write(writer, value);
    return writer.finish();
  }

  /** The value of `bytes`, which must hold exactly one. */
  decode(bytes) {
    const reader = new Reader(bytes);
    const value = this.read(reader);
    if (reader.at !== bytes.length) {
      throw new RangeError(`${bytes.length - reader.at} bytes left over after a ${this.name}`);
    }
    return value;
  }
}

function writeVarint(writer, number) {
  // number: a non-negative safe integer, or a non-negative BigInt
  if (typeof number === "number") {
    if (number < 0x80) {
      writer.push(number);
      return;
    }
    while (number >= 0x80) {
      writer.push((number % 0x80) | 0x80);
      number = Math.floor(number / 0x80);
    }
    writer.push(number);
    return;
  }
  while (number >= 0x80n) {
    writer.push(Number(number & 0x7fn) | 0x80);
    number >>= 7n;
  }
  writer.push(Number(number));
}

const SAFE_BIG = BigInt(SAFE);

/** A varint of at most `maxBytes` bytes: a number when it fits exactly, else a BigInt. */
function readVarint(reader, maxBytes, what) {
  const first = reader.byte(what);
  if (first < 0x80) return first;
  let number = first & 0x7f;
  let scale = 0x80;
  for (let count = 1; count < maxBytes; count++) {
    let byte = reader.byte(what);
    if (count < 7) {
      number += (byte & 0x7f) * scale;
      scale *= 0x80;
      if (byte < 0x80) return number;
      continue;
    }
    // Past 49 bits the number may not fit a double: go on as a BigInt.
    let big = BigInt(number);
    let shift = BigInt(7 * count);
    for (;;) {
      big |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return big <= SAFE_BIG ? Number(big) : big;
      shift += 7n;
      if (++count >= maxBytes) break;
      byte = reader.byte(what);
    }
    break;
  }
  throw new RangeError(`a varint runs past its width in ${what}`);
}

function integral(value, name) {
  if (typeof value === "bigint") return value;
  if (Number.isInteger(value)) return value;
  throw new TypeError(`${String(value)} is not an integer (${name})`);
}

class Unsigned extends Field {
  constructor(name, bits) {
    super(name);
    this.bits = bits;
    this.limit = 1n << BigInt(bits);
    this.numberLimit = 2 ** bits;
    this.maxBytes = Math.ceil(bits / 7);
    // Made once: a read is on the hot path of every accumulator.
    this.what = `a ${name}`;
  }

  write(writer, value) {
    value = integral(value, this.name);
    if (typeof value === "number" && value >= 0 && value <= SAFE) {
      writeVarint(writer, value);
      return;
    }
    const big = BigInt(value);
    if (big < 0n || big >= this.limit) throw new RangeError(`${String(value)} is not a ${this.name}`);
    writeVarint(writer, big);
  }

  read(reader) {
    const value = readVarint(reader, this.maxBytes, this.what);
    if (typeof value === "number" ? value >= this.numberLimit : value >= this.limit) {
      throw new RangeError(`${value} is out of range for a ${this.name}`);
    }
    return value;
  }
}

const HALF_SAFE = 2 ** 52;

class Signed extends Field {
  constructor(name, bits) {
    super(name);
    this.bits = BigInt(bits);
    this.low = -(1n << (this.bits - 1n));
    this.high = (1n << (this.bits - 1n)) - 1n;
    this.maxBytes = Math.ceil(bits / 7);
    this.what = `an ${name}`;
  }

  write(writer, value) {
    value = integral(value, this.name);
    if (typeof value === "number" && value >= -HALF_SAFE && value <= HALF_SAFE) {
      // Zigzag: 0, -1, 1, -2, … become 0, 1, 2, 3, …
      writeVarint(writer, value >= 0 ? value * 2 : -value * 2 - 1);
      return;
    }
    const big = BigInt(value);
    if (big < this.low || big > this.high) throw new RangeError(`${String(value)} is not an ${this.name}`);
    writeVarint(writer, big >= 0n ? big << 1n : (-big << 1n) - 1n);
  }

  read(reader) {
    const zigzag = readVarint(reader, this.maxBytes, this.what);
    if (typeof zigzag === "number") {
      return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
    }
    if (zigzag >> this.bits) throw new RangeError(`${zigzag} is out of range for a zigzag ${this.name}`);
    const value = zigzag & 1n ? -((zigzag + 1n) >> 1n) : zigzag >> 1n;
    return value >= -SAFE_BIG && value <= SAFE_BIG ? Number(value) : value;
  }
}

class Bool extends Field {
  write(writer, value) {
    writer.push(value ? 1 : 0);
  }

  read(reader) {
    const byte = reader.byte("a bool");
    if (byte > 1) throw new RangeError(`${byte} is not a bool`);
    return byte === 1;
  }
}

const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

class Float64 extends Field {
  write(writer, value) {
    scratch.setFloat64(0, Number(value), true);
    writer.append(scratchBytes);
  }

  read(reader) {
    if (reader.at + 8 > reader.bytes.length) throw new RangeError("the bytes end inside an f64");
    scratchBytes.set(reader.bytes.subarray(reader.at, reader.at + 8));
    reader.at += 8;
    return scratch.getFloat64(0, true);
  }
}

class Str extends Field {
  write(writer, value) {
    const bytes = encodeUtf8(String(value));
    writeVarint(writer, bytes.length);
    writer.append(bytes);
  }

  read(reader) {
    const length = readVarint(reader, 10, "a string");
    const end = reader.at + Number(length);
    if (end > reader.bytes.length) throw new RangeError("the bytes end inside a string");
    const text = decodeUtf8(reader.bytes.subarray(reader.at, end));
    reader.at = end;
    return text;
  }
}

class OptionField extends Field {
  constructor(inner) {
    super(`core::option::Option<${inner.name}>`);
    this.inner = inner;
  }

  write(writer, value) {
    if (value === null || value === undefined) {
      writer.push(0);
    } else {
      writer.push(1);
      this.inner.write(writer, value);
    }
  }

  read(reader) {
    return BOOL.read(reader) ? this.inner.read(reader) : null;
  }
}

class SeqField extends Field {
  constructor(inner) {
    super(`alloc::vec::Vec<${inner.name}>`);
    this.inner = inner;
  }

  write(writer, value) {
    writeVarint(writer, value.length);
    for (const item of value) this.inner.write(writer, item);
  }

  read(reader) {
    const length = Number(readVarint(reader, 10, "a sequence"));
    if (length > reader.bytes.length - reader.at) throw new RangeError("the bytes end inside a sequence");
    const items = new Array(length);
    for (let i = 0; i < length; i++) items[i] = this.inner.read(reader);
    return items;
  }
}

class StructField extends Field {
  constructor(name, fields) {
    super(name);
    this.names = Object.keys(fields);
    this.fields = Object.values(fields);
  }

  write(writer, value) {
    const { names, fields } = this;
    for (let i = 0; i < names.length; i++) fields[i].write(writer, value[names[i]]);
  }

  read(reader) {
    const { names, fields } = this;
    const value = {};
    for (let i = 0; i < names.length; i++) value[names[i]] = fields[i].read(reader);
    return value;
  }
}

class NewtypeField extends Field {
  constructor(name, inner) {
    super(name);
    this.inner = inner;
  }

  write(writer, value) {
    this.inner.write(writer, value);
  }

  read(reader) {
    return this.inner.read(reader);
  }
}

/** A Rust `bool` (a newtype around one, such as `struct Above(bool)`, is the same). */
export const BOOL = new Bool("bool");
/** A Rust `u8`. */
export const U8 = new Unsigned("u8", 8);
/** A Rust `u32`. */
export const U32 = new Unsigned("u32", 32);
/** A Rust `u64`. */
export const U64 = new Unsigned("u64", 64);
/** A Rust `i32`. */
export const I32 = new Signed("i32", 32);
/** A Rust `i64`. */
export const I64 = new Signed("i64", 64);
/** A Rust `i128`. */
export const I128 = new Signed("i128", 128);
/** A Rust `f64`. */
export const F64 = new Float64("f64");
/** A Rust `String`. */
export const STR = new Str("alloc::string::String");

/** A Rust `Option<T>`: null, or a value of `inner`. */
export function option(inner) {
  return new OptionField(inner);
}

/** A Rust `Vec<T>`: an array of `inner` values. */
export function seq(inner) {
  return new SeqField(inner);
}

/**
 * A Rust struct named `name` (as `std::any::type_name` gives it, e.g. "sum::Total"):
 * `fields` maps each field's name to its type, in the Rust declaration's order. It
 * reads into a plain object and writes each field from the value's property.
 */
export function struct(name, fields) {
  return new StructField(name, fields);
}

/** A Rust newtype struct `name(inner)`, such as `struct Above(bool)`: `inner`'s bytes. */
export function newtype(name, inner) {
  return new NewtypeField(name, inner);
}
