import assert from "node:assert/strict";
import { test } from "node:test";

import { outputs, reason, run } from "sluice-sdk/testing";

import { Uppercase } from "./index.js";

test("upper-cases text and keeps the rest of the record", () => {
  const [out] = outputs(run(Uppercase, {}, [{ value: "héllo", key: "k", headers: [["h", "v"]] }])[0]);
  assert.equal(out.valueString(), "HÉLLO");
  assert.deepEqual(out.record.key, new TextEncoder().encode("k"));
  assert.equal(out.record.headers.length, 1);
});

test("rejects values that are not text", () => {
  const [notText, absent] = run(Uppercase, {}, [{ value: new Uint8Array([0xff]) }, {}]);
  assert.match(reason(notText), /^value is not UTF-8/);
  assert.equal(reason(absent), "record has no value");
});
