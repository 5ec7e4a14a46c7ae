// {{name}}: a Sluice plugin. It drops debug-level records, tags the others with
// `"tag": "<config tag, or the plugin's name>"`, and rejects values that are not JSON
// objects, so that they land in the dead-letter sink with the reason.

import * as sluice from "sluice-sdk";

export class Tag extends sluice.Plugin {
  constructor(config) {
    super(config);
    this.tag = config.get("tag", "{{name}}");
  }

  process(record, out) {
    const value = record.json();
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new sluice.Reject("value is not a JSON object");
    }
    if (value.level === "debug") return; // dropped: no output
    value.tag = this.tag;
    out.emitValue(JSON.stringify(value));
  }
}

export const transform = sluice.transform(Tag);
