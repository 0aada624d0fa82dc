/** `npm run tour` keeps working as features land: the whole user journey, end to end. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { run } from "../helpers/run.js";

const TOUR = fileURLToPath(new URL("../../tour/tour.js", import.meta.url));

test("the guided tour runs every step of the user's guide and ends well", async () => {
  const r = await run(process.execPath, [TOUR, "--lang", "en"], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const expected of [
    /Registered the first operator, a0000000/, /Stored the certificate for user ID a0000001/, /Login works \(user ID a0000001\)/,
    /Wrote the certificate of user ID a0000001/, /Imported: certificate/, /Stored the new certificate/, /Removed 1 certificate\(s\)\./,
    /That is the tour\./,
  ]) assert.match(r.stdout, expected);
  assert.doesNotMatch(r.stdout, /\/tmp\/shomei-tour-/, "paths are shown relative to the tour folder");
});
