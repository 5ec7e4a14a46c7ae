// The JavaScript plugins of `host/benches/languages.rs`, run natively by Node (V8, with
// its JIT) through the SDK's own batch loop with the same records, for the "native"
// column of BENCHMARKS.md. Run by `scripts/bench-languages`:
//
//     node examples/bench/js-native.mjs target/bench-projects/json-js

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("../../", import.meta.url);
const sluice = await import(new URL("sdk/js/src/index.js", root));
const { processBatch } = await import(new URL("sdk/js/src/plugin.js", root));
const { encodeBatch } = await import(new URL("sdk/js/src/wire.js", root));
const { Tag } = await import(pathToFileURL(resolve(process.argv[2], "src/index.js")));

const LEVELS = ["info", "warn", "error", "debug"];
const bytes = (text) => new TextEncoder().encode(text);

/** The records of `languages.rs`: ~100-byte JSON log lines, a key, one header. */
function records(n) {
  return Array.from({ length: n }, (_, i) => ({
    value: bytes(
      `{"id":${String(i + 1).padStart(8)},"level":"${LEVELS[i % 4]}","msg":"request served in 12 ms","path":"/api/v1/orders"}`,
    ),
    key: bytes(`host-${String(i % 1000).padStart(4, "0")}`),
    headers: [["trace-id", bytes("0123456789abcdef")]],
    timestamp: 1_700_000_000_000 + i,
    stream: "logs",
    partition: 0,
    offset: i,
  }));
}

const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const plugins = { identity: new sluice.Plugin(new sluice.Config()), json: new Tag(new sluice.Config()) };
for (const [name, plugin] of Object.entries(plugins)) {
  for (const n of [1, 100, 1000]) {
    const batch = encodeBatch("bench", records(n));
    const calls = Math.max(1, Math.floor(200_000 / n));
    const samples = [];
    for (let round = 0; round < 7; round++) {
      const start = process.hrtime.bigint();
      for (let c = 0; c < calls; c++) processBatch(plugin, batch);
      samples.push(Number(process.hrtime.bigint() - start) / 1000 / calls / n);
    }
    console.log(`native ${name}-js/${n}: ${median(samples).toFixed(2)} µs/record (Node ${process.versions.node})`);
  }
}
