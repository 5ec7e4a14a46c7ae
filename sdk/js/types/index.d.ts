// Types of the Sluice SDK for JavaScript and TypeScript (`src/index.js`).

/** A record's key, value or header value: bytes, or a string written as UTF-8. */
export type Data = Uint8Array | string;

/** Throw from `process` to reject the record: the host sends it to the pipeline's
 * dead-letter sink with this reason, and nothing emitted for it is kept. */
export class Reject extends Error {
  constructor(reason: string);
  readonly reason: string;
}

/** Throw from the constructor when the configuration is unusable: the host does not
 * start the plugin and shows the message. */
export class ConfigError extends Error {
  constructor(message: string);
}

/** A buffer that does not follow the encoding; the host never sends one. */
export class WireError extends Error {}

/** A failed `init` or `process` when the plugin runs natively (in tests). */
export class Failed extends Error {}

/** The plugin's configuration: the key/value table of its pipeline config. Values are
 * strings; numbers and booleans arrive in their TOML spelling. */
export class Config {
  constructor(entries?: Iterable<[string, string]>);
  /** The value of `key`, or `fallback` (default `null`) when unset. */
  get(key: string): string | null;
  get<T>(key: string, fallback: T): string | T;
  /** The value of `key`, or a `ConfigError` naming the missing key. */
  require(key: string): string;
  /** The value of `key` converted by `convert` (which may throw), or `fallback` when
   * unset; a `ConfigError` names the key and the value that did not convert. */
  parse<T>(key: string, convert: (raw: string) => T): T | null;
  parse<T, F>(key: string, convert: (raw: string) => T, fallback: F): T | F;
  /** The value of `key` as a number, or `fallback` when unset. */
  number(key: string): number | null;
  number<F>(key: string, fallback: F): number | F;
  /** The value of `key` as a whole number (a safe integer), or `fallback` when unset. */
  int(key: string): number | null;
  int<F>(key: string, fallback: F): number | F;
  /** The value of `key` as `true` or `false` (nothing else), or `fallback` when unset. */
  bool(key: string): boolean | null;
  bool<F>(key: string, fallback: F): boolean | F;
  has(key: string): boolean;
  /** `[key, value]` pairs, in the order the host gave them. */
  entries(): IterableIterator<[string, string]>;
}

/** One input record, read in place from the batch. Valid during its `process` call. */
export interface Record {
  /** The key, or `null` when absent (which is not the same as empty). */
  readonly key: Uint8Array | null;
  /** The value, or `null` when absent (which is not the same as empty). */
  readonly value: Uint8Array | null;
  /** `[name, value]` pairs in their order, names possibly repeated. */
  readonly headers: [string, Uint8Array][];
  /** Milliseconds since the Unix epoch, or `null` if the source gave none. */
  readonly timestamp: bigint | null;
  /** The name of the pipeline's source. */
  readonly source: string;
  /** The topic, stream, subject or file the record came from. */
  readonly stream: string;
  readonly partition: number;
  readonly offset: bigint;
  /** The value of the first header called `name`, or `null`. */
  header(name: string): Uint8Array | null;
  /** The value as text; rejects records without a value or whose value is not UTF-8. */
  valueString(): string;
  /** The value parsed as JSON; rejects records whose value does not parse. */
  json(): unknown;
  /** The field at `path` (`a.b`, or a JSON pointer `/a/0`) of the JSON value, or
   * `fallback` (default `null`) when missing; rejects records whose value is not JSON. */
  jsonField(path: string): unknown;
  jsonField<F>(path: string, fallback: F): unknown | F;
  /** A copy of this record, to change and emit. */
  toOutput(): OutRecord;
}

/** The fields of a record a plugin builds; absent ones are `null`. */
export interface OutFields {
  value?: Data | null;
  key?: Data | null;
  headers?: [string, Data][];
  /** Milliseconds since the Unix epoch. */
  timestamp?: number | bigint | null;
}

/** A record built by the plugin. */
export class OutRecord {
  constructor(fields?: OutFields);
  value: Data | null;
  key: Data | null;
  headers: [string, Data][];
  timestamp: number | bigint | null;
}

/** Where a plugin puts the outputs of the record it is processing. Each call emits one
 * output: call several times to fan out, none to drop the record. `route` names a route
 * of the pipeline's `routes` table; `null` (or none) is the default route. */
export interface Output {
  /** Emits the input record unchanged: key, value and headers in one copy. */
  forward(route?: string | null): void;
  /** Emits the input record with a new value; its key, headers and timestamp are kept. */
  emitValue(value: Data | null, route?: string | null): void;
  /** Emits a record built by the plugin. */
  emit(record: OutRecord | OutFields, route?: string | null): void;
}

/** A transformation plugin: built once per instance from its config, then `process` is
 * called for every record, in order, batch after batch. The default forwards every
 * record. */
export class Plugin {
  constructor(config: Config);
  /** Handles one record: emit zero or more outputs through `out`, or throw `Reject`.
   * Any other exception fails the batch; the host then dead-letters the record that
   * throws it, with its message. */
  process(record: Record, out: Output): void;
}

/** A plugin that replaces each record's value and keeps its key, headers and timestamp. */
export abstract class MapValues extends Plugin {
  /** The new value for `value` (`null` when absent), or throw `Reject`. */
  abstract mapValue(value: Uint8Array | null): Data | null;
}

/** A plugin that forwards the records `keep` is true of, unchanged, and drops the others. */
export abstract class Filter extends Plugin {
  abstract keep(record: Record): boolean;
}

/** The component's `transform` export. */
export interface Transform {
  init(config: [string, string][]): void;
  process(batch: Uint8Array): Uint8Array;
}

/** The component's `transform` export for a plugin class: `export const transform =
 * sluice.transform(MyPlugin);` */
export function transform(plugin: new (config: Config) => Plugin): Transform;

export type Level = "trace" | "debug" | "info" | "warn" | "error";

/** Writes a line to the host's log, tagged with the plugin's name and version. */
export function log(level: Level, message: string, fields?: { [name: string]: unknown }): void;
/** Adds `delta` (default 1) to the counter `name`, labelled with plugin and pipeline. */
export function counterAdd(name: string, delta?: number | bigint): void;
/** Sets the gauge `name` to `value`, labelled with plugin and pipeline. */
export function gaugeSet(name: string, value: number): void;

/** Connects the SDK to the component's host imports; the build's entry module calls it. */
export function connectHost(imports: {
  log(level: Level, message: string, fields: [string, string][]): void;
  counterAdd(name: string, delta: bigint): void;
  gaugeSet(name: string, value: number): void;
}): void;

/** Reading fields out of JSON values, as the Rust and Python SDKs do. */
export namespace json {
  /** What `field` returns for a missing field when asked to, distinct from `null`. */
  const MISSING: unique symbol;
  /** The value at `path` (a JSON pointer `/a/0`, or dotted names `a.b`), or `fallback`. */
  function field(value: unknown, path: string): unknown;
  function field<F>(value: unknown, path: string, fallback: F): unknown | F;
  /** A field's value as text: strings as they are, anything else as compact JSON. */
  function text(value: unknown): string;
}
