// Keeps records whose JSON field has a given value, and drops the others.
//
// Config: `field` (a field name, dotted path or JSON pointer) and `equals` (the value to
// keep, compared as text: "7" matches both 7 and "7"). Records that are not JSON are
// rejected, so that a schema change upstream shows up in the dead-letter sink instead of
// silently emptying the output.

import * as sluice from "sluice-sdk";

const { MISSING, text } = sluice.json;

export class FieldEquals extends sluice.Filter {
  readonly field: string;
  readonly equals: string;

  constructor(config: sluice.Config) {
    super(config);
    this.field = config.require("field");
    this.equals = config.require("equals");
  }

  keep(record: sluice.Record): boolean {
    const value = record.jsonField(this.field, MISSING);
    return value !== MISSING && text(value) === this.equals;
  }
}

export const transform = sluice.transform(FieldEquals);
