import assert from "node:assert/strict";
import { test } from "node:test";

import { outputs, reason, run } from "sluice-sdk/testing";

import { JsonValidate } from "./index.js";

test("forwards valid JSON and rejects the rest with the reason", () => {
  const records = ['{"id":1}', "{", '{"other":2}', "[1]"].map((value) => ({ value }));
  const [valid, broken, missing, array] = run(JsonValidate, { require: "id" }, records);
  assert.equal(outputs(valid)[0].valueString(), '{"id":1}');
  assert.match(reason(broken), /^value is not valid JSON/);
  assert.equal(reason(missing), "missing required field `id`");
  assert.equal(reason(array), "missing required field `id`");
});

test("without required fields any JSON passes", () => {
  const outcomes = run(JsonValidate, {}, [{ value: "1" }, { value: "null" }]);
  assert.deepEqual(
    outcomes.map((o) => outputs(o).length),
    [1, 1],
  );
});
