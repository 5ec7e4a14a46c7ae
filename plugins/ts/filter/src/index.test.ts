import assert from "node:assert/strict";
import { test } from "node:test";

import { Failed, outputs, reason, run } from "sluice-sdk/testing";

import { FieldEquals } from "./index.js";

test("keeps the records whose field equals the value, as text", () => {
  const records = ['{"level":"error"}', '{"level":"info"}', '{"n":7}', '{"n":"7"}', "{}"].map((value) => ({ value }));
  const kept = (config: { [key: string]: string }) =>
    run(FieldEquals, config, records).map((o) => outputs(o).length);
  assert.deepEqual(kept({ field: "level", equals: "error" }), [1, 0, 0, 0, 0]);
  assert.deepEqual(kept({ field: "n", equals: "7" }), [0, 0, 1, 1, 0]);
});

test("rejects what is not JSON and refuses a config without its keys", () => {
  const [rejected] = run(FieldEquals, { field: "a", equals: "b" }, [{ value: "{" }]);
  assert.match(reason(rejected), /^value is not valid JSON/);
  assert.throws(() => run(FieldEquals, { field: "a" }, []), new Failed("missing required config key `equals`"));
});
