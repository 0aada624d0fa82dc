/**
 * One URL for one server (issue 11, item 7, in part): the enroll command `init` prints for the
 * operator and the one `serve` prints for users name the same server URL, so a PC that enrolls
 * both ends up with one server entry in its store, not `localhost` for one and `127.0.0.1` for
 * the other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { serve, tempDir } from "../helpers/ca.js";
import { shomeiCa } from "../helpers/run.js";
import { freePort } from "../helpers/ports.js";

const enrollServer = (text: string): string[] => [...text.matchAll(/shomei enroll --server (\S+)/g)].map((m) => m[1] ?? "");

test("init's operator line and serve's user line name one server URL", { timeout: 120_000 }, async () => {
  const base = tempDir();
  const dir = join(base, "ca");
  const port = await freePort();
  const init = await shomeiCa(["init", "--data", dir, "--org", "テスト株式会社", "--hostname", "localhost,127.0.0.1", "--port", String(port)]);
  assert.equal(init.code, 0, init.stderr);
  const srv = await serve(dir, ["--port", String(port), "--portal-port", "0", "--http-port", "0"]);
  try {
    const operator = enrollServer(init.stdout);
    assert.deepEqual(operator, [`https://localhost:${port}`], init.stdout);
    // The lines after the endpoints come right after the lines serve() waits for.
    for (let i = 0; i < 100 && enrollServer(srv.output()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(enrollServer(srv.output()), operator, srv.output());
  } finally {
    await srv.stop();
    rmSync(base, { recursive: true, force: true });
  }
});
