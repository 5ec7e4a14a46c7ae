// What a plugin author extends (`Plugin`, or the shortcuts `MapValues` and `Filter`),
// the configuration it is built from, and `transform`, which turns a plugin class into
// the component's `transform` export.

import * as batch from "./batch.js";
import { inComponent } from "./host.js";
import { mapFrame } from "./sourcemap.js";

/** Throw from the constructor when the configuration is unusable: the host does not
 * start the plugin and shows the message. (Any other exception does the same.) */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The plugin's configuration: the key/value table of its pipeline config. Values are
 * strings; numbers and booleans arrive in their TOML spelling. */
export class Config {
  constructor(entries = []) {
    this._entries = new Map(entries);
  }

  /** The value of `key`, or `fallback` when unset. */
  get(key, fallback = null) {
    return this._entries.has(key) ? this._entries.get(key) : fallback;
  }

  /** The value of `key`, or a `ConfigError` naming the missing key. */
  require(key) {
    if (!this._entries.has(key)) throw new ConfigError(`missing required config key \`${key}\``);
    return this._entries.get(key);
  }

  /** The value of `key` converted by `convert` (which may throw), or `fallback` when
   * unset; a `ConfigError` names the key and the value that did not convert. */
  parse(key, convert, fallback = null) {
    if (!this._entries.has(key)) return fallback;
    const raw = this._entries.get(key);
    try {
      return convert(raw);
    } catch (e) {
      throw new ConfigError(`config key \`${key}\` = ${JSON.stringify(raw)}: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** The value of `key` as a number, or `fallback` when unset; a `ConfigError` if it is
   * not one. */
  number(key, fallback = null) {
    return this.parse(
      key,
      (raw) => {
        const n = raw.trim() === "" ? NaN : Number(raw);
        if (Number.isNaN(n)) throw new Error("not a number");
        return n;
      },
      fallback,
    );
  }

  /** The value of `key` as a whole number (a safe integer), or `fallback` when unset; a
   * `ConfigError` if it is not one. */
  int(key, fallback = null) {
    return this.parse(
      key,
      (raw) => {
        const n = /^[+-]?\d+$/.test(raw) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(n)) throw new Error("not an integer");
        return n;
      },
      fallback,
    );
  }

  /** The value of `key` as `true` or `false` (TOML's spelling, nothing else), or
   * `fallback` when unset; a `ConfigError` if it is neither. */
  bool(key, fallback = null) {
    return this.parse(
      key,
      (raw) => {
        if (raw !== "true" && raw !== "false") throw new Error("not true or false");
        return raw === "true";
      },
      fallback,
    );
  }

  has(key) {
    return this._entries.has(key);
  }

  /** `[key, value]` pairs, in the order the host gave them. */
  entries() {
    return this._entries.entries();
  }
}

/** A transformation plugin. The host builds one instance per pipeline from its config,
 * then calls `process` for every record, in order, batch after batch. The instance lives
 * until the host replaces it (a new version, or after a failure), so it may keep state
 * across records, but must expect a fresh instance at any batch. */
export class Plugin {
  constructor(config) {}

  /** Handles one record: emit zero or more outputs through `out`, or throw `Reject`.
   * Emitting nothing drops the record. The default forwards every record. */
  process(record, out) {
    out.forward();
  }
}

/** A plugin that replaces each record's value by `mapValue(value)` and keeps its key,
 * headers and timestamp. `value` is a `Uint8Array` (or `null` when absent); return a
 * string, a `Uint8Array` or `null`, or throw `Reject`. */
export class MapValues extends Plugin {
  mapValue(value) {
    throw new Error("MapValues plugins define mapValue(value)");
  }

  process(record, out) {
    out.emitValue(this.mapValue(record.value));
  }
}

/** A plugin that forwards the records for which `keep(record)` is true, unchanged, and
 * drops the others. */
export class Filter extends Plugin {
  keep(record) {
    throw new Error("Filter plugins define keep(record)");
  }

  process(record, out) {
    if (this.keep(record)) out.forward();
  }
}

/** How the batch loop drives `plugin`: the shortcuts' own loops when their `process` is
 * not overridden (no `Output` calls per record; a plain `Plugin` forwards a record
 * without building a `Record`), else `process(record, out)` per record. */
export function loopOf(plugin) {
  const process = plugin.process;
  if (process === Plugin.prototype.process) return [batch.FORWARD, null];
  if (process === MapValues.prototype.process) return [batch.MAP, plugin.mapValue.bind(plugin)];
  if (process === Filter.prototype.process) return [batch.FILTER, plugin.keep.bind(plugin)];
  return [batch.EACH, plugin.process.bind(plugin)];
}

/** Runs `plugin` over one encoded batch and returns the encoded result. */
export function processBatch(plugin, bytes) {
  const [mode, handle] = loopOf(plugin);
  return batch.run(bytes, mode, handle);
}

/** An exception as the host will show it: its type, message and where it was thrown
 * (the innermost frame of its stack, in the author's sources when the build left a
 * source map). */
export function describe(error) {
  if (!(error instanceof Error)) return String(error);
  const message = error.message ? `${error.name}: ${error.message}` : error.name;
  const frame = mapFrame(topFrame(error.stack));
  return frame ? `${message} (at ${frame})` : message;
}

/** The innermost frame of a stack, in V8's (`    at f (file:1:2)`) or SpiderMonkey's
 * and QuickJS's (`f@file:1:2`, `    at f (file:1)`) spelling. */
function topFrame(stack) {
  if (typeof stack !== "string") return null;
  for (const line of stack.split("\n")) {
    const v8 = /^\s+at (.+)$/.exec(line);
    if (v8) return v8[1];
    const sm = /^(.*)@(.+)$/.exec(line);
    if (sm) return sm[1] ? `${sm[1]} (${sm[2]})` : sm[2];
  }
  return null;
}

/** A failed `init` or `process` when the plugin runs natively, outside a component,
 * where the host would see an `err` result with this message. */
export class Failed extends Error {
  constructor(message) {
    super(message);
    this.name = "Failed";
  }
}

/** The `err` of a call: a string inside a component (each engine turns a thrown string
 * into the `err` payload), a `Failed` natively. */
function failure(message) {
  return inComponent() ? message : new Failed(message);
}

/** Returns the component's `transform` export for `PluginClass`. Export it under that
 * name from the plugin's module:
 *
 *     export const transform = sluice.transform(Uppercase);
 */
export function transform(PluginClass) {
  // How this instance runs its plugin: `loopOf(plugin)`, once `init` has built it.
  let loop = null;
  return {
    init(config) {
      try {
        loop = loopOf(new PluginClass(new Config(config)));
      } catch (e) {
        throw failure(e instanceof ConfigError ? e.message : describe(e));
      }
    },
    process(bytes) {
      if (loop === null) throw failure("process called before init");
      try {
        return batch.run(bytes, loop[0], loop[1]);
      } catch (e) {
        throw failure(describe(e));
      }
    },
  };
}
