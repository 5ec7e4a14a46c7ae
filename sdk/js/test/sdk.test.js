// The SDK's API, run natively through the real encoding with `sluice-sdk/testing`.

import assert from "node:assert/strict";
import { test } from "node:test";

import * as sluice from "../src/index.js";
import { Emitted, Failed, Rejected, captured, run } from "../src/testing.js";
import { decodeInJs, encodeInJs, maxBytes } from "../src/utf8.js";

const bytes = (text) => new TextEncoder().encode(text);
const out = (value, { key = null, headers = [], timestamp = null, route = null } = {}) =>
  new Emitted(route, new sluice.OutRecord({ value, key, headers, timestamp }));

class Inspect extends sluice.Plugin {
  process(record, out) {
    const show = (v) => (v instanceof Uint8Array ? `b:${new TextDecoder().decode(v)}` : String(v));
    const fields = [record.source, record.stream, record.partition, record.offset, record.timestamp, record.key];
    const headers = record.headers.map(([n, v]) => `${n}=${show(v)}`);
    out.emitValue([...fields.map(show), show(record.header("trace")), show(record.header("missing")), ...headers].join("|"));
  }
}

test("a record shows every field", () => {
  const record = {
    value: "v",
    key: "k",
    headers: [["trace", "t1"], ["trace", "t2"]],
    timestamp: -5,
    stream: "orders",
    partition: 2,
    offset: 9,
  };
  const [[emitted]] = run(Inspect, {}, [record], "src");
  assert.equal(emitted.valueString(), "src|orders|2|9|-5|b:k|b:t1|null|trace=b:t1|trace=b:t2");
});

/** Each way of emitting, chosen by the record's value. */
class Everything extends sluice.Plugin {
  process(record, out) {
    switch (record.valueString()) {
      case "forward":
        out.forward();
        break;
      case "routed":
        out.forward("audit");
        out.emitValue("copy", "copies");
        break;
      case "built":
        out.emit(new sluice.OutRecord({ value: "new", key: bytes("nk"), headers: [["a", "1"], ["b", new Uint8Array([0xff])]], timestamp: 7 }));
        break;
      case "absent":
        out.emit(new sluice.OutRecord());
        break;
      case "half-then-reject":
        out.forward();
        throw new sluice.Reject("changed my mind");
      case "bytes":
        out.emitValue(new Uint8Array([0, 0xff]));
        break;
    }
  }
}

test("every way of emitting", () => {
  const kinds = ["forward", "routed", "built", "absent", "half-then-reject", "bytes", "drop"];
  const records = kinds.map((value) => ({ value, key: "k", headers: [["h", "x"]], timestamp: 1 }));
  const [forward, routed, built, absent, rejected, raw, dropped] = run(Everything, {}, records);
  const kept = { key: bytes("k"), headers: [["h", bytes("x")]], timestamp: 1n };
  assert.deepEqual(forward, [out(bytes("forward"), kept)]);
  assert.deepEqual(routed, [
    out(bytes("routed"), { ...kept, route: "audit" }),
    out(bytes("copy"), { ...kept, route: "copies" }),
  ]);
  assert.deepEqual(built, [
    out(bytes("new"), { key: bytes("nk"), headers: [["a", bytes("1")], ["b", new Uint8Array([0xff])]], timestamp: 7n }),
  ]);
  assert.deepEqual(absent, [out(null)]);
  assert.deepEqual(rejected, new Rejected("changed my mind"));
  assert.deepEqual(raw, [out(new Uint8Array([0, 0xff]), kept)]);
  assert.deepEqual(dropped, []);
});

test("absent is not empty", () => {
  class Show extends sluice.Plugin {
    process(record, out) {
      out.emitValue(`${record.key?.length ?? "absent"} ${record.value?.length ?? "absent"}`);
    }
  }
  const outcomes = run(Show, {}, [{}, { value: "", key: "" }]);
  assert.deepEqual(
    outcomes.map((o) => o[0].valueString()),
    ["absent absent", "0 0"],
  );
});

test("an exception fails the batch with its type, message and place", () => {
  class Failing extends sluice.Plugin {
    process(record) {
      return record.no.such;
    }
  }
  assert.throws(() => run(Failing, {}, [{ value: "x" }]), {
    name: "Failed",
    message: /^TypeError: Cannot read properties of undefined \(reading 'such'\) \(at .*sdk\.test\.js:\d+:\d+\)\)?$/,
  });
  class ThrowsAString extends sluice.Plugin {
    process() {
      throw "plain";
    }
  }
  assert.throws(() => run(ThrowsAString, {}, [{ value: "x" }]), { name: "Failed", message: "plain" });
});

class Configured extends sluice.Plugin {
  constructor(config) {
    super(config);
    this.n = config.number("n", 1);
    this.name = config.require("name");
  }

  process(record, out) {
    out.emitValue(`${this.name}:${this.n}`);
  }
}

test("config helpers name the key", () => {
  assert.equal(run(Configured, { name: "a", n: 3 }, [{ value: "" }])[0][0].valueString(), "a:3");
  assert.equal(run(Configured, { name: "a" }, [{ value: "" }])[0][0].valueString(), "a:1");
  assert.throws(() => run(Configured, {}, []), { name: "Failed", message: "missing required config key `name`" });
  assert.throws(() => run(Configured, { name: "a", n: "x" }, []), {
    name: "Failed",
    message: 'config key `n` = "x": not a number',
  });
  const config = new sluice.Config([["a", "1"], ["b", "2"]]);
  assert.deepEqual([...config.entries()], [["a", "1"], ["b", "2"]]);
  assert.equal(config.get("c", "none"), "none");
  assert.equal(config.parse("a", (raw) => raw + raw), "11");
});

test("config parses integers and booleans as every SDK does", () => {
  const config = new sluice.Config([["n", "42"], ["r", "0.5"], ["on", "true"], ["off", "false"], ["yes", "yes"]]);
  assert.equal(config.int("n"), 42);
  assert.equal(config.int("none", 7), 7);
  assert.throws(() => config.int("r"), { name: "ConfigError", message: 'config key `r` = "0.5": not an integer' });
  assert.equal(config.bool("on"), true);
  assert.equal(config.bool("off", true), false);
  assert.equal(config.bool("none", true), true);
  assert.throws(() => config.bool("yes"), { name: "ConfigError", message: 'config key `yes` = "yes": not true or false' });
});

test("an unexpected exception in the constructor names its type", () => {
  class Broken extends sluice.Plugin {
    constructor() {
      super();
      throw new RangeError("nope");
    }
  }
  assert.throws(() => run(Broken, {}, []), { name: "Failed", message: /^RangeError: nope/ });
});

test("the map-values and filter shortcuts", () => {
  class Reverse extends sluice.MapValues {
    mapValue(value) {
      return value.slice().reverse();
    }
  }
  class Short extends sluice.Filter {
    keep(record) {
      return record.value.length < 3;
    }
  }
  class Strict extends sluice.MapValues {
    mapValue(value) {
      if (value === null) throw new sluice.Reject("no value");
      return new TextDecoder().decode(value).toUpperCase(); // a string is written as UTF-8
    }
  }
  class Picky extends sluice.Filter {
    keep(record) {
      const value = record.valueString();
      if (value === "?") throw new sluice.Reject("undecided");
      return value === "yes";
    }
  }
  const headers = [["h", bytes("1")]];
  assert.deepEqual(run(Reverse, {}, [{ value: "abc", key: "k", headers, timestamp: 3 }]), [
    [out(bytes("cba"), { key: bytes("k"), headers, timestamp: 3n })],
  ]);
  assert.deepEqual(
    run(Short, {}, [{ value: "ab" }, { value: "abcd" }]).map((o) => o.length),
    [1, 0],
  );
  assert.deepEqual(run(Strict, {}, [{ value: "ab" }, {}]), [[out(bytes("AB"))], new Rejected("no value")]);
  assert.deepEqual(run(Picky, {}, [{ value: "yes" }, { value: "no" }, { value: "?" }]), [
    [out(bytes("yes"))],
    [],
    new Rejected("undecided"),
  ]);
});

test("json helpers", () => {
  const { MISSING, field, text } = sluice.json;
  class Fields extends sluice.Plugin {
    process(record, out) {
      out.emitValue(`${text(record.jsonField("user.age", "missing"))} ${text(record.jsonField("/tags/1"))}`);
    }
  }
  const outcomes = run(Fields, {}, [{ value: '{"user":{"age":7},"tags":["a","b"]}' }, { value: '{"x":NaN}' }, { value: "{" }, { value: new Uint8Array([0xff]) }]);
  assert.equal(outcomes[0][0].valueString(), "7 b");
  for (const rejected of outcomes.slice(1)) assert.match(rejected.reason, /^value is not valid JSON: ./);
  const doc = { a: null, l: [1] };
  assert.equal(field(doc, "a", MISSING), null);
  assert.equal(field(doc, "b", MISSING), MISSING);
  assert.equal(field(doc, "/l/0"), 1);
  assert.equal(field(doc, "/l/01"), null);
  assert.equal(field(doc, "l.0"), null);
  assert.equal(field({ "a/b": { "~": 2 } }, "/a~1b/~0"), 2);
  assert.equal(field({}, "toString", MISSING), MISSING, "inherited properties are not fields");
  assert.equal(text({ b: [1, "x"] }), '{"b":[1,"x"]}');
});

test("logs and metrics are captured natively", () => {
  class Noisy extends sluice.Plugin {
    process(record, out) {
      sluice.log("warn", "odd record", { offset: record.offset });
      sluice.counterAdd("seen");
      sluice.counterAdd("bytes", record.value.length);
      sluice.gaugeSet("last", 1.5);
      out.forward();
    }
  }
  run(Noisy, {}, [{ value: "ab" }, { value: "cde" }]);
  assert.deepEqual(captured.logs, [
    { level: "warn", message: "odd record", fields: { offset: "0" } },
    { level: "warn", message: "odd record", fields: { offset: "1" } },
  ]);
  assert.deepEqual(captured.counters, new Map([["seen", 2n], ["bytes", 5n]]));
  assert.deepEqual(captured.gauges, new Map([["last", 1.5]]));
  assert.throws(() => sluice.log("loud", "x"), { message: /^unknown log level "loud"/ });
  assert.throws(() => sluice.counterAdd("x", -1), RangeError);
});

test("process before init fails", () => {
  assert.throws(() => sluice.transform(sluice.Plugin).process(new Uint8Array()), {
    name: "Failed",
    message: "process called before init",
  });
});

test("the result buffer grows for outputs larger than the batch, and is reused", () => {
  class Big extends sluice.MapValues {
    mapValue(value) {
      return "é".repeat(200_000) + new TextDecoder().decode(value);
    }
  }
  const [[emitted]] = run(Big, {}, [{ value: "!" }]);
  assert.equal(emitted.valueString().length, 200_001);
  assert.deepEqual(run(sluice.Plugin, {}, [{ value: "small" }]), [[out(bytes("small"))]]);
});

test("the UTF-8 fallbacks of engines without TextDecoder agree with it", () => {
  const samples = ["", "ascii", "héllo", "日本語", "😀 emoji", "a".repeat(20_000) + "ü", "\u0000\u007f\u0080\u07ff\u0800\uffff"];
  for (const sample of samples) {
    const encoded = new TextEncoder().encode(sample);
    const room = new Uint8Array(maxBytes(sample));
    assert.deepEqual(room.subarray(0, encodeInJs(sample, room, 0)), encoded, sample);
    assert.equal(decodeInJs(encoded, 0, encoded.length), sample);
  }
  // Lone surrogates are written as U+FFFD, as TextEncoder writes them.
  const room = new Uint8Array(6);
  assert.deepEqual(room.subarray(0, encodeInJs("\ud800x", room, 0)), new TextEncoder().encode("\ud800x"));
  // What TextDecoder refuses with `fatal`, the fallback refuses.
  const invalid = [[0xff], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3], [0xe2, 0x82], [0x80]];
  for (const sequence of invalid) {
    const data = new Uint8Array(sequence);
    assert.throws(() => new TextDecoder("utf-8", { fatal: true }).decode(data), TypeError);
    assert.throws(() => decodeInJs(data, 0, data.length), TypeError, sequence.join(","));
  }
});

test("a frame of the bundle is shown where the author wrote it", async () => {
  const { mapFrame } = await import("../src/sourcemap.js");
  // Line 1 of plugin.js has no mapping; line 2, column 0 is src/index.ts 10:4, and
  // column 6 is src/index.ts 12:0 (all 0-based in a source map, 1-based in stacks).
  const map = { version: 3, file: "plugin.js", sources: ["src/index.ts"], mappings: ";AASI,MAEJ" };
  assert.equal(mapFrame("process (.sluice/build/plugin.js:2:3)", map), "process (src/index.ts:10:5)");
  assert.equal(mapFrame("process (.sluice/build/plugin.js:2:9)", map), "process (src/index.ts:12:1)");
  assert.equal(mapFrame(".sluice/build/plugin.js:2", map), "src/index.ts:10:5", "a line without a column");
  // From column 18 (0-based) of line 2 on is code no source is known for (a one-field segment).
  const unmapped = { ...map, mappings: ";AASI,MAEJ,M" };
  assert.equal(mapFrame("f (.sluice/build/plugin.js:2:20)", unmapped), "f (.sluice/build/plugin.js:2:20)");
  assert.equal(mapFrame("f (.sluice/build/plugin.js:2:9)", unmapped), "f (src/index.ts:12:1)");
  assert.equal(mapFrame("process (.sluice/build/plugin.js:9:1)", map), "process (.sluice/build/plugin.js:9:1)");
  assert.equal(mapFrame("f (other.js:2:3)", map), "f (other.js:2:3)", "not the bundle");
  assert.equal(mapFrame("f (src/index.ts:2:3)", undefined), "f (src/index.ts:2:3)", "natively, no map");
});
