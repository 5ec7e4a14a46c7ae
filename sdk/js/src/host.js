// What a plugin may ask of the host: log lines and metrics. Inside a component these
// are the `host` imports of `wit/plugin.wit`, which the entry module `sluice plugin
// build` writes connects with `connectHost` (each JavaScript engine spells the imports
// its own way, so the SDK never imports them itself). Run natively (in tests), they are
// recorded in `captured` instead.

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** What a plugin run natively asked of the host, in order. */
export const captured = {
  /** `{ level, message, fields }`, fields as an object of strings. */
  logs: [],
  /** name → total, as a `bigint`. */
  counters: new Map(),
  /** name → last value. */
  gauges: new Map(),
  clear() {
    this.logs = [];
    this.counters = new Map();
    this.gauges = new Map();
  },
};

let host = null;

/** Connects the SDK to the component's host imports: `{ log(level, message, fields),
 * counterAdd(name, delta), gaugeSet(name, value) }` with `delta` a `bigint`. Called by
 * the entry module of the build, once. */
export function connectHost(imports) {
  host = imports;
}

/** Whether the SDK runs inside a component (the host is connected), not natively. */
export function inComponent() {
  return host !== null;
}

/** Writes a line to the host's log, tagged with the plugin's name and version. `level`
 * is one of "trace", "debug", "info", "warn", "error"; `fields` (an object) are shown
 * alongside the message, their values as text. */
export function log(level, message, fields = {}) {
  if (!LEVELS.includes(level)) {
    throw new RangeError(`unknown log level ${JSON.stringify(level)} (expected one of ${LEVELS.join(", ")})`);
  }
  const pairs = Object.entries(fields).map(([k, v]) => [k, String(v)]);
  if (host === null) captured.logs.push({ level, message: String(message), fields: Object.fromEntries(pairs) });
  else host.log(level, String(message), pairs);
}

/** Adds `delta` (a non-negative integer, number or bigint) to the counter `name`,
 * labelled by the host with the plugin and pipeline. */
export function counterAdd(name, delta = 1) {
  const amount = BigInt(delta);
  if (amount < 0n || amount >= 2n ** 64n) throw new RangeError(`counter delta ${delta} is not a u64`);
  if (host === null) captured.counters.set(name, (captured.counters.get(name) ?? 0n) + amount);
  else host.counterAdd(name, amount);
}

/** Sets the gauge `name` to `value`, labelled by the host with the plugin and pipeline. */
export function gaugeSet(name, value) {
  if (host === null) captured.gauges.set(name, Number(value));
  else host.gaugeSet(name, Number(value));
}
