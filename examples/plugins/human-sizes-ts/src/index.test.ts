import assert from "node:assert/strict";
import { test } from "node:test";

import { outputs, reason, run } from "sluice-sdk/testing";

import { HumanSizes } from "./index.js";

test("adds the size, from the npm package", () => {
  const [sized, missing] = run(HumanSizes, {}, [{ value: '{"bytes":1536}' }, { value: '{"bytes":"1"}' }]);
  assert.deepEqual(outputs(sized)[0].json(), { bytes: 1536, size: "1.5 KiB" });
  assert.equal(reason(missing), "no whole number of `bytes`");
});
