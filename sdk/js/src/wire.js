// The batch encoding of `sdk/SPEC.md`: its layout, the growable buffer results are
// written into, and the two directions the SDK does not need at run time (writing
// batches and reading results), which `sluice-sdk/testing` uses to drive a plugin
// natively through the same bytes the host sends and reads.
//
// The hot directions (reading a batch, writing a result) live in `batch.js` and
// `record.js`, inlined into the per-record loop.

import { decode, encode, encodeInto, maxBytes } from "./utf8.js";

export const ABSENT = 0xffffffff;
export const DEFAULT_ROUTE = 0xffff;
export const NO_TIMESTAMP = -(2n ** 63n);
/** Bytes of an input record's fixed part: offset, partition, timestamp, key-len,
 * value-len, stream-len, header-count. */
export const INPUT_FIXED = 32;
/** Bytes of an output record's fixed part: timestamp, key-len, value-len, route-len,
 * header-count. Its first 16 are laid out as bytes 12..28 of an input record's. */
export const OUTPUT_FIXED = 20;
export const OUTPUTS = 0;
export const REJECTED = 1;

/** A buffer that does not follow the encoding. The host never sends one; a plugin that
 * receives one fails the call, which the host reports. */
export class WireError extends Error {
  constructor(message) {
    super(message);
    this.name = "WireError";
  }
}

/** A growable byte buffer, written front to back. The result of every batch is written
 * into the same one, so a long-running plugin allocates it once, not per batch. */
export class Writer {
  constructor(size = 1 << 16) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }

  /** Makes room for `n` more bytes. */
  reserve(n) {
    if (this.pos + n > this.bytes.length) this.grow(this.pos + n);
  }

  grow(need) {
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.bytes.subarray(0, this.pos));
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  u8(v) {
    this.reserve(1);
    this.bytes[this.pos++] = v;
  }

  u16(v) {
    this.reserve(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v) {
    this.reserve(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  u64(v) {
    this.reserve(8);
    this.view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
  }

  i64(v) {
    this.reserve(8);
    this.view.setBigInt64(this.pos, BigInt(v), true);
    this.pos += 8;
  }

  /** Copies `bytes[start, end)`. */
  copy(bytes, start = 0, end = bytes.length) {
    this.reserve(end - start);
    this.bytes.set(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), this.pos);
    this.pos += end - start;
  }

  /** Writes `text` as UTF-8 and returns its length in bytes. */
  text(text) {
    this.reserve(maxBytes(text));
    const start = this.pos;
    this.pos = encodeInto(text, this.bytes, start);
    return this.pos - start;
  }

  /** The bytes written so far: a view, valid until the next write. */
  written() {
    return this.bytes.subarray(0, this.pos);
  }
}

/** `data` (a string, written as UTF-8, or bytes) as bytes; `null` and `undefined` stay
 * `null`. */
export function toBytes(data) {
  if (data === null || data === undefined) return null;
  if (typeof data === "string") return encode(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError(`expected a string, a Uint8Array or null, not ${describeType(data)}`);
}

export function describeType(value) {
  return value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
}

/** Writes headers, `[name, value]` pairs, names as text and values as bytes or text. */
export function writeHeaders(w, headers) {
  if (headers.length > 0xffff) throw new RangeError(`${headers.length} headers on one record (at most 65535)`);
  for (const [name, value] of headers) {
    const at = w.pos;
    w.u16(0);
    const length = w.text(name);
    if (length > 0xffff) throw new RangeError(`header name of ${length} bytes (at most 65535)`);
    w.view.setUint16(at, length, true);
    const bytes = toBytes(value) ?? new Uint8Array(0);
    w.u32(bytes.length);
    w.copy(bytes);
  }
}

/** A batch, as the host writes it. `records` have `offset`, `partition`, `timestamp`,
 * `key`, `value` (bytes or `null`), `headers` and `stream`. */
export function encodeBatch(source, records) {
  const w = new Writer(1024);
  w.u32(records.length);
  const name = encode(source);
  w.u16(name.length);
  w.copy(name);
  for (const r of records) {
    const stream = encode(r.stream);
    w.u64(r.offset);
    w.u32(r.partition);
    w.i64(r.timestamp ?? NO_TIMESTAMP);
    w.u32(r.key === null ? ABSENT : r.key.length);
    w.u32(r.value === null ? ABSENT : r.value.length);
    w.u16(stream.length);
    w.u16(r.headers.length);
    if (r.key !== null) w.copy(r.key);
    if (r.value !== null) w.copy(r.value);
    writeHeaders(w, r.headers);
    w.copy(stream);
  }
  return w.written().slice();
}

/** A bounds-checked cursor, for results, which only tests read. */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.pos = 0;
  }

  take(n, what) {
    if (this.pos + n > this.bytes.length) throw new WireError(`${what} runs past the end at byte ${this.pos}`);
    const data = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return data;
  }

  fixed(n, what, read) {
    const at = this.pos;
    this.take(n, what);
    return read(this.view, at);
  }

  optional(n, what) {
    return n === ABSENT ? null : this.take(n, what);
  }

  text(n, what) {
    const data = this.take(n, what);
    try {
      return decode(data, 0, data.length);
    } catch (e) {
      throw new WireError(`${what} is not UTF-8: ${e.message}`);
    }
  }
}

/** A plugin's result, as the host reads it: for each input record, an array of outputs
 * `{ route, timestamp, key, value, headers }` or the rejection reason as a string. */
export function decodeResult(bytes, records) {
  const r = new Reader(bytes);
  const count = r.fixed(4, "outcome count", (v, at) => v.getUint32(at, true));
  if (count !== records) throw new WireError(`${count} outcomes for a batch of ${records} records`);
  const outcomes = [];
  for (let i = 0; i < count; i++) {
    const [tag, n] = r.fixed(5, "outcome", (v, at) => [v.getUint8(at), v.getUint32(at + 1, true)]);
    if (tag === REJECTED) {
      outcomes.push(r.text(n, "rejection reason"));
      continue;
    }
    if (tag !== OUTPUTS) throw new WireError(`unknown outcome tag ${tag}`);
    const outputs = [];
    for (let k = 0; k < n; k++) {
      const [timestamp, keyLen, valueLen, routeLen, headerCount] = r.fixed(OUTPUT_FIXED, "output record", (v, at) => [
        v.getBigInt64(at, true),
        v.getUint32(at + 8, true),
        v.getUint32(at + 12, true),
        v.getUint16(at + 16, true),
        v.getUint16(at + 18, true),
      ]);
      const key = r.optional(keyLen, "key");
      const value = r.optional(valueLen, "value");
      const headers = [];
      for (let h = 0; h < headerCount; h++) {
        const nameLen = r.fixed(2, "header name length", (v, at) => v.getUint16(at, true));
        const name = r.text(nameLen, "header name");
        const length = r.fixed(4, "header value length", (v, at) => v.getUint32(at, true));
        headers.push([name, r.take(length, "header value")]);
      }
      const route = routeLen === DEFAULT_ROUTE ? null : r.text(routeLen, "route");
      outputs.push({ route, timestamp: timestamp === NO_TIMESTAMP ? null : timestamp, key, value, headers });
    }
    outcomes.push(outputs);
  }
  if (r.pos !== bytes.length) throw new WireError(`${bytes.length - r.pos} bytes after the last outcome`);
  return outcomes;
}
