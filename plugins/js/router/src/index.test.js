import assert from "node:assert/strict";
import { test } from "node:test";

import { run } from "sluice-sdk/testing";

import { Router } from "./index.js";

const CONFIG = { field: "level", "map.error": "errors, alerts", "map.warn": "alerts" };
const routesOf = (value) => run(Router, CONFIG, [{ value }])[0].map((o) => o.route);

test("fans out to every mapped route", () => {
  assert.deepEqual(routesOf('{"level":"error"}'), ["errors", "alerts"]);
  assert.deepEqual(routesOf('{"level":"warn"}'), ["alerts"]);
});

test("unmapped or missing values take the default route", () => {
  assert.deepEqual(routesOf('{"level":"info"}'), [null]);
  assert.deepEqual(routesOf('{"other":1}'), [null]);
});

test("a config without routes is refused", () => {
  assert.throws(() => run(Router, { field: "level" }, []), { name: "Failed", message: /no `map.<value>` entries/ });
  assert.throws(() => run(Router, { field: "level", "mapp.x": "y" }, []), {
    name: "Failed",
    message: /unknown config key `mapp.x`/,
  });
});
