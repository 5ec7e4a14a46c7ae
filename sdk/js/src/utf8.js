// UTF-8 between bytes and strings. StarlingMonkey and Node have TextDecoder and
// TextEncoder, implemented natively; QuickJS as componentize-qjs builds it has neither,
// so each direction falls back to a loop here, with a fast path for runs of ASCII (most
// of what JSON records hold). Both directions behave alike on every engine: decoding
// refuses what is not UTF-8 (with a TypeError), encoding writes a lone surrogate as
// U+FFFD, as TextEncoder does.

const nativeDecoder = typeof TextDecoder === "function" ? new TextDecoder("utf-8", { fatal: true }) : null;
const nativeEncoder = typeof TextEncoder === "function" ? new TextEncoder() : null;

/** The text of `bytes[start, end)`; a TypeError if it is not UTF-8. */
export function decode(bytes, start, end) {
  if (nativeDecoder !== null) return nativeDecoder.decode(bytes.subarray(start, end));
  return decodeInJs(bytes, start, end);
}

/** The fallback of `decode`, exported for the tests to run on every engine's path. */
export function decodeInJs(bytes, start, end) {
  let text = "";
  let i = start;
  while (i < end) {
    let run = i;
    while (run < end && bytes[run] < 0x80) run++;
    if (run > i) {
      // At most 8192 arguments at a time: engines limit how many a call may take.
      for (let at = i; at < run; at += 8192) {
        text += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(run, at + 8192)));
      }
      i = run;
      if (i === end) break;
    }
    const b = bytes[i];
    // The sequence's continuation bytes, its lead bits and the least code point it may
    // encode (a smaller one is an overlong form, which UTF-8 forbids).
    let need, point, min;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      point = b & 0x1f;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      point = b & 0x0f;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      point = b & 0x07;
      min = 0x10000;
    } else {
      throw new TypeError(`invalid UTF-8 byte 0x${b.toString(16)} at ${i - start}`);
    }
    if (i + need >= end) throw new TypeError(`truncated UTF-8 sequence at ${i - start}`);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) throw new TypeError(`invalid UTF-8 sequence at ${i - start}`);
      point = (point << 6) | (c & 0x3f);
    }
    if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
      throw new TypeError(`invalid UTF-8 sequence at ${i - start}`);
    }
    text += String.fromCodePoint(point);
    i += need + 1;
  }
  return text;
}

/** The most bytes `text` can take in UTF-8: three per UTF-16 unit. */
export function maxBytes(text) {
  return text.length * 3;
}

/** Writes `text` as UTF-8 into `out` at `at`, which has room for `maxBytes(text)`
 * bytes; returns where it ends. */
export function encodeInto(text, out, at) {
  if (nativeEncoder !== null) return at + nativeEncoder.encodeInto(text, out.subarray(at)).written;
  return encodeInJs(text, out, at);
}

/** The fallback of `encodeInto`. */
export function encodeInJs(text, out, at) {
  let o = at;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate, as TextEncoder writes it
      }
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
    } else if (c < 0x10000) {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
    } else {
      out[o++] = 0xf0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 0x3f);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
    }
    out[o++] = 0x80 | (c & 0x3f);
  }
  return o;
}

/** `text` as UTF-8 bytes (outside the hot path: names, reasons, test records). */
export function encode(text) {
  if (nativeEncoder !== null) return nativeEncoder.encode(text);
  const out = new Uint8Array(maxBytes(text));
  return out.subarray(0, encodeInJs(text, out, 0));
}
