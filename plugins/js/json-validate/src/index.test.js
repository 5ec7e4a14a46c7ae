import assert from "node:assert/strict";
import { test } from "node:test";

import { Rejected, run } from "sluice-sdk/testing";

import { JsonValidate } from "./index.js";

test("forwards valid JSON and rejects the rest with the reason", () => {
  const records = ['{"id":1}', "{", '{"other":2}', "[1]"].map((value) => ({ value }));
  const [valid, broken, missing, array] = run(JsonValidate, { require: "id" }, records);
  assert.equal(valid[0].valueString(), '{"id":1}');
  assert.match(broken.reason, /^value is not valid JSON/);
  assert.deepEqual(missing, new Rejected("missing required field `id`"));
  assert.deepEqual(array, new Rejected("missing required field `id`"));
});

test("without required fields any JSON passes", () => {
  assert.deepEqual(
    run(JsonValidate, {}, [{ value: "1" }, { value: "null" }]).map((o) => o.length),
    [1, 1],
  );
});
