// Upper-cases each record's value (a map). Values that are not UTF-8 are rejected.

import * as sluice from "sluice-sdk";

export class Uppercase extends sluice.Plugin {
  process(record, out) {
    out.emitValue(record.valueString().toUpperCase());
  }
}

export const transform = sluice.transform(Uppercase);
