// Types of `sluice-sdk/testing` (`src/testing.js`).

import type { Config, Data, Level, OutRecord, Plugin } from "./index.js";

export { Failed } from "./index.js";

/** An input record for `run`; absent fields are `null`. */
export interface TestRecord {
  value?: Data | null;
  key?: Data | null;
  headers?: [string, Data][];
  timestamp?: number | bigint | null;
  stream?: string;
  partition?: number;
  /** Default: the record's index in the batch. */
  offset?: number | bigint;
}

/** One output: its route (`null` for the default one) and the record, its fields as
 * bytes and its timestamp as a bigint. */
export class Emitted {
  constructor(route: string | null, record: OutRecord);
  readonly route: string | null;
  readonly record: OutRecord;
  valueString(): string | null;
  json(): unknown;
}

/** A rejected record, with the reason the host dead-letters it with. */
export class Rejected {
  constructor(reason: string);
  readonly reason: string;
}

export type Outcome = Emitted[] | Rejected;

/** The outputs of an outcome; throws if the record was rejected. */
export function outputs(outcome: Outcome): Emitted[];

/** The rejection reason of an outcome; throws if the record was not rejected. */
export function reason(outcome: Outcome): string;

/** Builds `plugin` from `config` and runs it over `records` as one batch, through the
 * real encoding; one outcome per record. A failed `init` or `process` throws `Failed`. */
export function run(
  plugin: new (config: Config) => Plugin,
  config: { [key: string]: unknown } | [string, unknown][],
  records: TestRecord[],
  source?: string,
): Outcome[];

/** What a plugin run natively asked of the host, cleared by each `run`. */
export const captured: {
  logs: { level: Level; message: string; fields: { [name: string]: string } }[];
  counters: Map<string, bigint>;
  gauges: Map<string, number>;
};
