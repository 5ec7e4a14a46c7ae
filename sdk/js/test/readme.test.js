// The README's complete example is real: its plugin and its unit test, as they are
// written there, pass under `node --test` against this SDK.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

test("the README's example and its test pass", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const [plugin, unitTest] = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(plugin && unitTest, "the README has a plugin and its test");
  const sdk = (path) => new URL(path, import.meta.url).href;
  const dir = mkdtempSync(join(tmpdir(), "sluice-readme-"));
  try {
    writeFileSync(join(dir, "index.js"), plugin.replace('"sluice-sdk"', JSON.stringify(sdk("../src/index.js"))));
    writeFileSync(
      join(dir, "index.test.js"),
      unitTest.replace('"sluice-sdk/testing"', JSON.stringify(sdk("../src/testing.js"))),
    );
    writeFileSync(join(dir, "package.json"), '{ "type": "module" }');
    // Without the variable that makes a nested run report to this one instead of stdout.
    const { NODE_TEST_CONTEXT, ...env } = process.env;
    const run = spawnSync(process.execPath, ["--test", join(dir, "index.test.js")], { encoding: "utf8", env });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /# pass 1\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
