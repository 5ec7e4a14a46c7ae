// Where a place in the bundle was in the author's sources. `sluice plugin build` bundles a
// plugin into one file (`plugin.js`) and appends its source map to it, as the global
// `__sluiceSourceMap` (version 3, without the sources' contents); a frame of an error's
// stack that names the bundle is then shown as the author's `src/index.ts:LINE:COLUMN`.
// Natively (tests run by Node) there is no bundle and frames are left as they are.

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The segments of each generated line, decoded once: `[column, source, line, column]`,
 * all 0-based and absolute. */
let decoded = null;

/** `frame` (`f (.sluice/build/plugin.js:699:13)` or `.sluice/build/plugin.js:699`) with its
 * place in the bundle replaced by the author's; as it is if the map does not know it. */
export function mapFrame(frame, map = globalThis.__sluiceSourceMap) {
  if (!map || typeof frame !== "string") return frame;
  const at = /^(.*?)([^\s()]+?):(\d+)(?::(\d+))?(\)?)$/.exec(frame);
  if (!at || !at[2].endsWith(map.file)) return frame;
  const place = original(map, Number(at[3]), at[4] === undefined ? 1 : Number(at[4]));
  return place ? `${at[1]}${place}${at[5]}` : frame;
}

/** `source:line:column` (1-based, as stacks count) for the bundle's `line` and `column`
 * (1-based), or null. */
function original(map, line, column) {
  if (decoded === null || decoded.map !== map) decoded = { map, lines: decode(map.mappings) };
  const segments = decoded.lines[line - 1];
  if (!segments) return null;
  // The segment the column lies in: the last that starts at or before it. A segment
  // without a source is code the map does not know; a column before the first segment
  // is, too: then the frame stays as it is rather than point somewhere nearby.
  let found = null;
  for (const segment of segments) {
    if (segment[0] > column - 1) break;
    found = segment;
  }
  if (!found || found.length < 4) return null;
  return `${map.sources[found[1]]}:${found[2] + 1}:${found[3] + 1}`;
}

/** The mappings of a version 3 source map: Base64 VLQ, `;` between lines, `,` between
 * segments, every field but the first relative to the previous segment's. */
function decode(mappings) {
  const lines = [];
  let source = 0;
  let originalLine = 0;
  let originalColumn = 0;
  for (const text of mappings.split(";")) {
    const segments = [];
    let column = 0;
    for (const part of text.split(",")) {
      if (part === "") continue;
      const fields = vlq(part);
      column += fields[0];
      if (fields.length >= 4) {
        source += fields[1];
        originalLine += fields[2];
        originalColumn += fields[3];
        segments.push([column, source, originalLine, originalColumn]);
      } else {
        segments.push([column]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

/** The signed numbers of one segment. */
function vlq(text) {
  const values = [];
  let value = 0;
  let shift = 0;
  for (const char of text) {
    const digit = BASE64.indexOf(char);
    if (digit < 0) throw new Error(`not a source map segment: ${text}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}
