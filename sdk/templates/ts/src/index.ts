// {{name}}: a Sluice plugin. It drops debug-level records, tags the others with
// `"tag": "<config tag, or the plugin's name>"`, and rejects values that are not JSON
// objects, so that they land in the dead-letter sink with the reason.

import * as sluice from "sluice-sdk";

export class Tag extends sluice.Plugin {
  tag: string;

  constructor(config: sluice.Config) {
    super(config);
    this.tag = config.get("tag", "{{name}}");
  }

  process(record: sluice.Record, out: sluice.Output): void {
    const value = record.json();
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new sluice.Reject("value is not a JSON object");
    }
    const fields = value as { [field: string]: unknown };
    if (fields.level === "debug") return; // dropped: no output
    fields.tag = this.tag;
    out.emitValue(JSON.stringify(fields));
  }
}

export const transform = sluice.transform(Tag);
