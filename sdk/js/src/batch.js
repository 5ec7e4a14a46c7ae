// The per-batch loop: reads each input record of a batch in place, hands it to the
// plugin, and writes the result, as `sdk/SPEC.md` specifies. This is the only code that
// runs per record besides the plugin's own, so it keeps to what every engine makes
// cheap: one DataView over the batch, typed-array copies of whole blocks, and one
// result buffer reused across batches.

import { Output, Record, Reject, writeWithValue } from "./record.js";
import { decode, encodeInto, maxBytes } from "./utf8.js";
import { ABSENT, DEFAULT_ROUTE, INPUT_FIXED, REJECTED, WireError, Writer } from "./wire.js";

// What the loop calls per record (see `plugin.js`, `loopOf`).
/** Nothing: every record is forwarded unchanged. */
export const FORWARD = 0;
/** `handle(value) -> new value`; key, headers and timestamp kept. */
export const MAP = 1;
/** `handle(record) -> keep?`; kept records are forwarded unchanged. */
export const FILTER = 2;
/** `handle(record, out)`: the general case. */
export const EACH = 3;

const writer = new Writer();
const output = new Output(writer);

function pastTheEnd(index, count) {
  return new WireError(`record ${index} of ${count} runs past the end of the batch`);
}

/** Runs one batch (a `Uint8Array`) through `handle` as `mode` says and returns the
 * encoded result: a view of the loop's own buffer, valid until the next batch. A
 * `Reject` rejects its record; any other exception fails the batch (the host then finds
 * which records fail alone). A batch that breaks the encoding throws a `WireError`
 * before its broken record reaches the plugin. */
export function run(batch, mode, handle) {
  const size = batch.length;
  const view = new DataView(batch.buffer, batch.byteOffset, size);
  if (size < 6) throw new WireError(`malformed batch header: ${size} bytes`);
  const count = view.getUint32(0, true);
  let pos = 6 + view.getUint16(4, true);
  if (pos > size) throw new WireError("the source name runs past the end");
  let source;
  try {
    source = decode(batch, 6, pos);
  } catch (e) {
    throw new WireError(`the source name is not UTF-8: ${e.message}`);
  }

  const w = writer;
  w.pos = 0;
  w.reserve(size + 64);
  w.view.setUint32(0, count, true);
  w.pos = 4;
  output._record = null;
  for (let index = 0; index < count; index++) {
    // The record's bounds, checked before the plugin sees it.
    const start = pos;
    if (start + INPUT_FIXED > size) throw pastTheEnd(index, count);
    const keyLen = view.getUint32(start + 20, true);
    const valueLen = view.getUint32(start + 24, true);
    const at = start + INPUT_FIXED;
    const keyEnd = at + (keyLen === ABSENT ? 0 : keyLen);
    const headersAt = keyEnd + (valueLen === ABSENT ? 0 : valueLen);
    let end = headersAt;
    for (let h = view.getUint16(start + 30, true); h > 0; h--) {
      if (end + 2 > size) throw pastTheEnd(index, count);
      end += 2 + view.getUint16(end, true);
      if (end + 4 > size) throw pastTheEnd(index, count);
      end += 4 + view.getUint32(end, true);
    }
    pos = end + view.getUint16(start + 28, true);
    if (pos > size) throw pastTheEnd(index, count);

    if (mode === FORWARD) {
      forward(w, batch, start, end);
      continue;
    }
    if (mode === MAP) {
      let value;
      try {
        value = handle(valueLen === ABSENT ? null : batch.subarray(keyEnd, headersAt));
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        reject(w, e);
        continue;
      }
      w.reserve(5);
      w.bytes[w.pos] = 0;
      w.view.setUint32(w.pos + 1, 1, true);
      w.pos += 5;
      writeWithValue(w, batch, view, start, at, keyEnd, headersAt, end, value === undefined ? null : value, null);
      continue;
    }
    const record = new Record(batch, view, start, at, keyEnd, headersAt, end, source);
    if (mode === FILTER) {
      let keep;
      try {
        keep = handle(record);
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        reject(w, e);
        continue;
      }
      if (keep) {
        forward(w, batch, start, end);
      } else {
        w.reserve(5);
        w.bytes[w.pos] = 0;
        w.view.setUint32(w.pos + 1, 0, true);
        w.pos += 5;
      }
      continue;
    }
    const mark = w.pos;
    w.reserve(5);
    w.bytes[mark] = 0;
    w.pos = mark + 5;
    output._record = record;
    output._count = 0;
    try {
      handle(record, output);
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      w.pos = mark;
      reject(w, e);
      continue;
    }
    w.view.setUint32(mark + 1, output._count, true);
  }
  output._record = null;
  if (pos !== size) throw new WireError(`${size - pos} bytes after the last record`);
  return w.written();
}

/** One outcome of one output: the input record unchanged, on the default route. An
 * output record's fixed part is laid out as bytes 12..32 of the input record's, but for
 * the route length where the input has its stream's, and its key, value and headers
 * follow as they do in the input: one copy of `[start + 12, end)` and one field set. */
function forward(w, batch, start, end) {
  w.reserve(5 + end - start);
  const o = w.pos;
  w.bytes[o] = 0;
  w.view.setUint32(o + 1, 1, true);
  w.bytes.set(batch.subarray(start + 12, end), o + 5);
  w.view.setUint16(o + 21, DEFAULT_ROUTE, true);
  w.pos = o + 5 + end - start - 12;
}

function reject(w, rejection) {
  const reason = rejection.reason;
  w.reserve(5 + maxBytes(reason));
  const o = w.pos;
  w.bytes[o] = REJECTED;
  const end = encodeInto(reason, w.bytes, o + 5);
  w.view.setUint32(o + 1, end - o - 5, true);
  w.pos = end;
}
