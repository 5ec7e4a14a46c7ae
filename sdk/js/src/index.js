// Write Sluice transformation plugins in JavaScript or TypeScript.
//
// Extend `Plugin` (or the shortcuts `MapValues` and `Filter`) and export the result of
// `transform` under the name `transform` from the plugin's module:
//
//     import * as sluice from "sluice-sdk";
//
//     class Uppercase extends sluice.Plugin {
//       process(record, out) {
//         out.emitValue(record.valueString().toUpperCase());
//       }
//     }
//
//     export const transform = sluice.transform(Uppercase);
//
// `sluice plugin build` bundles the module and this SDK into a component. Records are
// read in place from the batch the host sends and outputs are written straight into the
// result; the encoding (`sdk/SPEC.md`) never shows. `sluice-sdk/testing` drives the same
// plugin natively, through the same bytes, for unit tests.

export { connectHost, counterAdd, gaugeSet, log } from "./host.js";
export * as json from "./json.js";
export { Config, ConfigError, Failed, Filter, MapValues, Plugin, transform } from "./plugin.js";
export { OutRecord, Output, Record, Reject } from "./record.js";
export { WireError } from "./wire.js";
