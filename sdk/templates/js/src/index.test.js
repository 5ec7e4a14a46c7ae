import assert from "node:assert/strict";
import { test } from "node:test";

import { Rejected, run } from "sluice-sdk/testing";

import { Tag } from "./index.js";

test("tags, drops and rejects", () => {
  const [tagged, dropped, rejected] = run(Tag, { tag: "t" }, [
    { value: '{"level":"info"}' },
    { value: '{"level":"debug"}' },
    { value: "[1]" },
  ]);
  assert.ok(Array.isArray(tagged) && Array.isArray(dropped));
  assert.equal(tagged[0].valueString(), '{"level":"info","tag":"t"}');
  assert.deepEqual(dropped, []);
  assert.deepEqual(rejected, new Rejected("value is not a JSON object"));
});
