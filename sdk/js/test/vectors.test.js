// The shared wire-format vectors (`sdk/vectors/`, specified in `sdk/SPEC.md`) through
// this SDK's own batch loop: every valid batch decodes to its records, every malformed
// one fails the call, and every valid result is written byte for byte.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import * as sluice from "../src/index.js";
import { processBatch } from "../src/plugin.js";
import { decodeResult, encodeBatch } from "../src/wire.js";

const VECTORS = new URL("../../vectors/", import.meta.url);

function load(kind) {
  const doc = JSON.parse(readFileSync(new URL(`${kind}.json`, VECTORS), "utf8"));
  assert.equal(doc.encoding, 1);
  return doc;
}

const file = (name) => new Uint8Array(readFileSync(new URL(name, VECTORS)));

/** A byte string of the vector JSON: text, {"base64"} or {"repeat", "count"}. */
function data(v) {
  if (v === null) return null;
  if (typeof v === "string") return new TextEncoder().encode(v);
  if ("base64" in v) return new Uint8Array(Buffer.from(v.base64, "base64"));
  return new TextEncoder().encode(v.repeat.repeat(v.count));
}

const text = (v) => (v === null ? null : new TextDecoder().decode(data(v)));

function headers(v) {
  if (!Array.isArray(v)) {
    const [name, value] = v.repeat;
    return Array.from({ length: v.count }, () => [text(name), data(value)]);
  }
  return v.map(([name, value]) => [text(name), data(value)]);
}

const int64 = (v) => (v === null ? null : BigInt(v));

/** Records what it sees and forwards every record. */
class Capture extends sluice.Plugin {
  seen = [];

  process(record, out) {
    this.seen.push({
      source: record.source,
      offset: record.offset,
      partition: record.partition,
      timestamp: record.timestamp,
      key: record.key,
      value: record.value,
      headers: record.headers,
      stream: record.stream,
    });
    out.forward();
  }
}

class Same extends sluice.MapValues {
  mapValue(value) {
    return value;
  }
}

class All extends sluice.Filter {
  keep() {
    return true;
  }
}

// Each loop of the SDK: forward (a plain Plugin), map, filter, and process per record.
const LOOPS = [sluice.Plugin, Same, All, Capture];
const run = (plugin, bytes) => processBatch(plugin, bytes).slice();

const BATCHES = load("batches");
const RESULTS = load("results");

describe("valid batches", () => {
  for (const c of BATCHES.valid) {
    test(`${c.name} decodes to its records`, () => {
      const plugin = new Capture();
      const result = run(plugin, file(c.file));
      const expected = c.records.map((r) => ({
        source: text(c.source),
        offset: BigInt(r.offset),
        partition: r.partition,
        timestamp: int64(r.timestamp),
        key: data(r.key),
        value: data(r.value),
        headers: headers(r.headers),
        stream: text(r.stream),
      }));
      assert.deepEqual(plugin.seen, expected);
      // Forwarding every record gives them back unchanged, on the default route.
      const forwarded = decodeResult(result, expected.length);
      assert.deepEqual(
        forwarded.map((o) => o.map(({ route, key, value, headers }) => ({ route, key, value, headers }))),
        expected.map(({ key, value, headers }) => [{ route: null, key, value, headers }]),
      );
    });

    test(`${c.name} is forwarded alike by every loop`, () => {
      const results = LOOPS.map((Loop) => Buffer.from(run(new Loop(), file(c.file))).toString("hex"));
      assert.equal(new Set(results).size, 1);
    });
  }
});

describe("malformed batches", () => {
  for (const c of BATCHES.malformed) {
    for (const Loop of LOOPS) {
      test(`${c.name} is refused by ${Loop.name}`, () => {
        assert.throws(() => run(new Loop(), data(c.bytes)), sluice.WireError);
      });
    }
  }
});

/** Emits, for the record at offset i, the i-th outcome of a result vector. */
class Replay extends sluice.Plugin {
  constructor(outcomes) {
    super();
    this.outcomes = outcomes;
  }

  process(record, out) {
    const outcome = this.outcomes[Number(record.offset)];
    if ("rejected" in outcome) throw new sluice.Reject(text(outcome.rejected));
    for (const o of outcome.outputs) {
      const emitted = new sluice.OutRecord({
        value: data(o.value),
        key: data(o.key),
        headers: headers(o.headers),
        timestamp: int64(o.timestamp),
      });
      out.emit(emitted, text(o.route));
    }
  }
}

describe("valid results", () => {
  for (const c of RESULTS.valid) {
    test(`${c.name} is written byte for byte`, () => {
      const inputs = c.outcomes.map((_, i) => ({
        offset: i,
        partition: 0,
        timestamp: null,
        key: null,
        value: data("x"),
        headers: [],
        stream: "test",
      }));
      const result = run(new Replay(c.outcomes), encodeBatch("s", inputs));
      assert.deepEqual(result, file(c.file));
    });
  }
});

describe("malformed results", () => {
  for (const c of RESULTS.malformed) {
    test(`${c.name} is refused by the test decoder`, () => {
      assert.throws(() => decodeResult(data(c.bytes), c.records), sluice.WireError);
    });
  }
});
