// Passes records whose value is valid JSON and rejects the rest, with the parser's
// reason, so that they land in the dead-letter sink.
//
// Config (optional): `require`, a comma-separated list of top-level fields that every
// record must have.

import * as sluice from "sluice-sdk";

export class JsonValidate extends sluice.Plugin {
  readonly required: string[];

  constructor(config: sluice.Config) {
    super(config);
    this.required = config
      .get("require", "")
      .split(",")
      .map((f) => f.trim())
      .filter((f) => f !== "");
  }

  process(record: sluice.Record, out: sluice.Output): void {
    const value = record.json();
    for (const name of this.required) {
      const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
      if (!isObject || !Object.hasOwn(value, name)) throw new sluice.Reject(`missing required field \`${name}\``);
    }
    out.forward();
  }
}

export const transform = sluice.transform(JsonValidate);
