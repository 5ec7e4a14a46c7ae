// Records as a plugin sees them: `Record`, a view into the batch the host sent;
// `OutRecord`, a record the plugin builds; and `Output`, where the plugin puts what it
// emits for the record at hand.
//
// Nothing is decoded until it is asked for: a plugin that forwards a record unchanged
// copies its key, value and headers as one block of the batch, and never builds them.

import * as json from "./json.js";
import { decode, encodeInto, maxBytes } from "./utf8.js";
import { ABSENT, DEFAULT_ROUTE, NO_TIMESTAMP, OUTPUT_FIXED, WireError, toBytes, writeHeaders } from "./wire.js";

/** Throw from `process` to reject the record: the host sends it to the pipeline's
 * dead-letter sink with this reason, and nothing emitted for it is kept. */
export class Reject extends Error {
  constructor(reason) {
    super(String(reason));
    this.name = "Reject";
    this.reason = String(reason);
  }
}

/** One input record, read in place from the batch. Built by the batch loop only. */
export class Record {
  // batch: the batch's bytes and view; pos: where the record's fixed part starts; at:
  // where its key starts (value, then headers following); keyEnd, headersAt, end: where
  // its key, value and headers end (its stream name starting at end); source: the
  // pipeline's source.
  constructor(batch, view, pos, at, keyEnd, headersAt, end, source) {
    this._batch = batch;
    this._view = view;
    this._pos = pos;
    this._at = at;
    this._keyEnd = keyEnd;
    this._headersAt = headersAt;
    this._end = end;
    this.source = source;
  }

  /** The key, or `null` when absent (which is not the same as empty). */
  get key() {
    return this._view.getUint32(this._pos + 20, true) === ABSENT ? null : this._batch.subarray(this._at, this._keyEnd);
  }

  /** The value, or `null` when absent (which is not the same as empty). */
  get value() {
    if (this._view.getUint32(this._pos + 24, true) === ABSENT) return null;
    return this._batch.subarray(this._keyEnd, this._headersAt);
  }

  /** Milliseconds since the Unix epoch as a `bigint`, or `null` if the source gave none. */
  get timestamp() {
    const timestamp = this._view.getBigInt64(this._pos + 12, true);
    return timestamp === NO_TIMESTAMP ? null : timestamp;
  }

  /** The record's position in its stream, as a `bigint`. */
  get offset() {
    return this._view.getBigUint64(this._pos, true);
  }

  get partition() {
    return this._view.getUint32(this._pos + 8, true);
  }

  /** The topic, stream, subject or file the record came from. */
  get stream() {
    return text(this._batch, this._end, this._end + this._view.getUint16(this._pos + 28, true), "stream name");
  }

  /** `[name, value]` pairs in their order, names as strings (possibly repeated) and
   * values as bytes. */
  get headers() {
    const batch = this._batch;
    const view = this._view;
    const headers = [];
    let pos = this._headersAt;
    for (let h = view.getUint16(this._pos + 30, true); h > 0; h--) {
      const nameEnd = pos + 2 + view.getUint16(pos, true);
      const valueEnd = nameEnd + 4 + view.getUint32(nameEnd, true);
      headers.push([text(batch, pos + 2, nameEnd, "header name"), batch.subarray(nameEnd + 4, valueEnd)]);
      pos = valueEnd;
    }
    return headers;
  }

  /** The value of the first header called `name`, or `null`. */
  header(name) {
    for (const [n, v] of this.headers) if (n === name) return v;
    return null;
  }

  /** The value as text; rejects records without a value or whose value is not UTF-8. */
  valueString() {
    if (this._view.getUint32(this._pos + 24, true) === ABSENT) throw new Reject("record has no value");
    try {
      return decode(this._batch, this._keyEnd, this._headersAt);
    } catch (e) {
      throw new Reject(`value is not UTF-8: ${e.message}`);
    }
  }

  /** The value parsed as JSON; rejects records whose value does not parse. */
  json() {
    if (this._view.getUint32(this._pos + 24, true) === ABSENT) throw new Reject("record has no value");
    try {
      return JSON.parse(decode(this._batch, this._keyEnd, this._headersAt));
    } catch (e) {
      throw new Reject(`value is not valid JSON: ${e.message}`);
    }
  }

  /** The field at `path` of the JSON value (see `json.field`), or `fallback` when it is
   * missing; rejects records whose value is not JSON. */
  jsonField(path, fallback = null) {
    return json.field(this.json(), path, fallback);
  }

  /** A copy of this record, to change and emit. */
  toOutput() {
    return new OutRecord({ key: this.key, value: this.value, headers: this.headers, timestamp: this.timestamp });
  }
}

function text(bytes, start, end, what) {
  try {
    return decode(bytes, start, end);
  } catch (e) {
    throw new WireError(`${what} is not UTF-8: ${e.message}`);
  }
}

/** A record built by the plugin. `value` and `key` may be strings (written as UTF-8),
 * `Uint8Array`s or `null`; `headers` are `[name, value]` pairs; `timestamp` is
 * milliseconds since the Unix epoch (a number or a bigint) or `null`. */
export class OutRecord {
  constructor({ value = null, key = null, headers = [], timestamp = null } = {}) {
    this.value = value;
    this.key = key;
    this.headers = headers;
    this.timestamp = timestamp;
  }
}

/** Where a plugin puts the outputs of the record it is processing.
 *
 * Each call emits one output: call several times to fan out, none to drop the record.
 * `route` names a route of the pipeline's `routes` table; `null` (or none) is the
 * default route. */
export class Output {
  constructor(writer) {
    this._w = writer;
    this._record = null;
    this._count = 0;
    this._routes = new Map();
  }

  /** A route name's bytes, encoded once per name; `null` for the default route. */
  _route(route) {
    if (route === null || route === undefined) return null;
    let encoded = this._routes.get(route);
    if (encoded === undefined) {
      encoded = toBytes(String(route));
      if (encoded.length >= DEFAULT_ROUTE) throw new RangeError(`route name of ${encoded.length} bytes (at most 65534)`);
      this._routes.set(route, encoded);
    }
    return encoded;
  }

  /** Emits the input record unchanged: key, value and headers in one copy. */
  forward(route = null) {
    const r = this._record;
    const name = this._route(route);
    const w = this._w;
    w.reserve(OUTPUT_FIXED + (r._end - r._at) + (name === null ? 0 : name.length));
    const o = w.pos;
    // The input's bytes 12..32 are the output's fixed part but for the route length
    // (where the input has its stream's), and its key, value and headers follow.
    w.bytes.set(r._batch.subarray(r._pos + 12, r._end), o);
    w.view.setUint16(o + 16, name === null ? DEFAULT_ROUTE : name.length, true);
    w.pos = o + OUTPUT_FIXED + (r._end - r._at);
    if (name !== null) w.copy(name);
    this._count++;
  }

  /** Emits the input record with a new value (a string, a `Uint8Array` or `null`); its
   * key, headers and timestamp are kept. */
  emitValue(value, route = null) {
    const r = this._record;
    writeWithValue(this._w, r._batch, r._view, r._pos, r._at, r._keyEnd, r._headersAt, r._end, value, this._route(route));
    this._count++;
  }

  /** Emits a record built by the plugin (an `OutRecord`, or an object of its fields). */
  emit(record, route = null) {
    const name = this._route(route);
    const w = this._w;
    const key = toBytes(record.key ?? null);
    const value = toBytes(record.value ?? null);
    const headers = record.headers ?? [];
    w.i64(record.timestamp ?? NO_TIMESTAMP);
    w.u32(key === null ? ABSENT : key.length);
    w.u32(value === null ? ABSENT : value.length);
    w.u16(name === null ? DEFAULT_ROUTE : name.length);
    if (headers.length > 0xffff) throw new RangeError(`${headers.length} headers on one record (at most 65535)`);
    w.u16(headers.length);
    if (key !== null) w.copy(key);
    if (value !== null) w.copy(value);
    writeHeaders(w, headers);
    if (name !== null) w.copy(name);
    this._count++;
  }
}

/** Writes the input record whose fields are at `start` (key at `at`, headers from
 * `headersAt` to `end`) with `value` (a string, a `Uint8Array` or `null`) instead of its
 * own, on the route `name` (bytes, or `null` for the default one). Shared by
 * `Output.emitValue` and the batch loop of `MapValues`, which has no `Record` to read. */
export function writeWithValue(w, batch, view, start, at, keyEnd, headersAt, end, value, name) {
  const isText = typeof value === "string";
  if (!isText && value !== null && !(value instanceof Uint8Array)) value = toBytes(value);
  const valueRoom = isText ? maxBytes(value) : value === null ? 0 : value.length;
  const headersLen = end - headersAt;
  w.reserve(OUTPUT_FIXED + (keyEnd - at) + valueRoom + headersLen + (name === null ? 0 : name.length));
  const bytes = w.bytes;
  const out = w.view;
  const o = w.pos;
  bytes.set(batch.subarray(start + 12, start + 24), o); // timestamp, key-len
  out.setUint16(o + 16, name === null ? DEFAULT_ROUTE : name.length, true);
  out.setUint16(o + 18, view.getUint16(start + 30, true), true);
  let p = o + OUTPUT_FIXED;
  bytes.set(batch.subarray(at, keyEnd), p);
  p += keyEnd - at;
  let valueLen;
  if (isText) {
    const valueEnd = encodeInto(value, bytes, p);
    valueLen = valueEnd - p;
    p = valueEnd;
  } else if (value === null) {
    valueLen = ABSENT;
  } else {
    bytes.set(value, p);
    valueLen = value.length;
    p += valueLen;
  }
  out.setUint32(o + 12, valueLen, true);
  bytes.set(batch.subarray(headersAt, end), p);
  w.pos = p + headersLen;
  if (name !== null) w.copy(name);
}
