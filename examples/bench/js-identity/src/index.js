// An identity plugin written with the JavaScript SDK: `sluice.Plugin`'s default `process`
// forwards every record unchanged. `host/benches/languages.rs` measures it on both
// engines (scripts/bench-languages builds a copy with `"sluice": { "engine": "quickjs" }`)
// next to the Rust SDK's identity (`plugins/rust/passthrough`).

import * as sluice from "sluice-sdk";

export const transform = sluice.transform(sluice.Plugin);
