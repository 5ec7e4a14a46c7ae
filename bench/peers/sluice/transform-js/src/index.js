// The benchmark's transform as a Sluice plugin in JavaScript: parse the JSON value, drop
// records whose `level` is "debug", add "pipeline": "bench", write compact JSON.

import * as sluice from "sluice-sdk";

export class BenchTransform extends sluice.Plugin {
  process(record, out) {
    const event = JSON.parse(record.valueString());
    if (event.level === "debug") return;
    event.pipeline = "bench";
    out.emitValue(JSON.stringify(event));
  }
}

export const transform = sluice.transform(BenchTransform);
