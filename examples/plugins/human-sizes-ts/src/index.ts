// human-sizes-ts: adds a human-readable `size` to JSON records with a `bytes` field, with
// the `pretty-bytes` package from npm (a dependency in package.json, bundled into the
// component by `sluice plugin build`). Records without a whole number of bytes are
// rejected.

import prettyBytes from "pretty-bytes";
import * as sluice from "sluice-sdk";

export class HumanSizes extends sluice.Plugin {
  process(record: sluice.Record, out: sluice.Output): void {
    const value = record.json() as { bytes?: unknown; size?: string } | null;
    const bytes = typeof value === "object" && value !== null ? value.bytes : undefined;
    if (typeof bytes !== "number" || !Number.isInteger(bytes)) throw new sluice.Reject("no whole number of `bytes`");
    value!.size = prettyBytes(bytes, { binary: true });
    out.emitValue(JSON.stringify(value));
  }
}

export const transform = sluice.transform(HumanSizes);
