import assert from "node:assert/strict";
import { test } from "node:test";

import { outputs, reason, run } from "sluice-sdk/testing";

import { Tag } from "./index.js";

test("tags, drops and rejects", () => {
  const [tagged, dropped, rejected] = run(Tag, { tag: "t" }, [
    { value: '{"level":"info"}' },
    { value: '{"level":"debug"}' },
    { value: "[1]" },
  ]);
  assert.equal(outputs(tagged)[0].valueString(), '{"level":"info","tag":"t"}');
  assert.deepEqual(outputs(dropped), []);
  assert.equal(reason(rejected), "value is not a JSON object");
});
