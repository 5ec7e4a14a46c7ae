// Run a plugin natively, in unit tests, through the real batch encoding: records are
// encoded as the host encodes them, the plugin's exported `process` runs on the bytes,
// and the result is decoded as the host decodes it.
//
//     import { run } from "sluice-sdk/testing";
//
//     const [outcome] = run(Uppercase, {}, [{ value: "héllo" }]);
//     assert.equal(outcome[0].valueString(), "HÉLLO");

import { captured } from "./host.js";
import { Failed, transform } from "./plugin.js";
import { OutRecord } from "./record.js";
import { decodeResult, encodeBatch, toBytes } from "./wire.js";
import { decode } from "./utf8.js";

export { captured, Failed };

/** One output: its route (`null` for the default one) and the record. */
export class Emitted {
  constructor(route, record) {
    this.route = route;
    this.record = record;
  }

  /** The output's value as text. */
  valueString() {
    return this.record.value === null ? null : decode(this.record.value, 0, this.record.value.length);
  }

  /** The output's value parsed as JSON. */
  json() {
    return JSON.parse(this.valueString());
  }
}

/** A rejected record, with the reason the host dead-letters it with. */
export class Rejected {
  constructor(reason) {
    this.reason = reason;
  }
}

/** The outputs of an outcome; throws if the record was rejected. */
export function outputs(outcome) {
  if (outcome instanceof Rejected) throw new Error(`the record was rejected: ${outcome.reason}`);
  return outcome;
}

/** The rejection reason of an outcome; throws if the record was not rejected. */
export function reason(outcome) {
  if (!(outcome instanceof Rejected)) throw new Error(`the record was not rejected: ${outcome.length} outputs`);
  return outcome.reason;
}

/** Builds `PluginClass` from `config` (an object or `[key, value]` pairs) and runs it
 * over `records` as one batch. A record is an object with any of `value`, `key` (strings
 * or `Uint8Array`s), `headers` (`[name, value]` pairs), `timestamp`, `stream`,
 * `partition` and `offset` (its index in the batch by default). Returns one outcome per
 * record: an array of `Emitted`, or a `Rejected`. A failed `init` or `process` throws
 * `Failed` with the message the host would show. What the plugin logged and counted is
 * in `captured`, cleared here. */
export function run(PluginClass, config, records, source = "test") {
  captured.clear();
  const exported = transform(PluginClass);
  const entries = Array.isArray(config) ? config : Object.entries(config ?? {});
  exported.init(entries.map(([k, v]) => [k, String(v)]));
  const prepared = records.map((r, index) => ({
    value: toBytes(r.value ?? null),
    key: toBytes(r.key ?? null),
    headers: (r.headers ?? []).map(([name, value]) => [name, toBytes(value)]),
    timestamp: r.timestamp ?? null,
    stream: r.stream ?? "test",
    partition: r.partition ?? 0,
    offset: r.offset ?? index,
  }));
  // A copy: the result is a view of a buffer the next batch reuses.
  const result = exported.process(encodeBatch(source, prepared)).slice();
  return decodeResult(result, records.length).map((outcome) =>
    typeof outcome === "string"
      ? new Rejected(outcome)
      : outcome.map((o) => new Emitted(o.route, new OutRecord(o))),
  );
}
