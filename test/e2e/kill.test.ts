/**
 * A killed server loses nothing and half-does nothing: enrollments in flight when `serve` is
 * killed with SIGKILL either completed (passcode used and certificate recorded) or did not
 * happen at all (passcode still active, no certificate), and the service starts again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addUser, initCa, serve } from "../helpers/ca.js";
import { enroll, makeCsr } from "../helpers/est.js";
import { needs } from "../helpers/tools.js";
import { shomeiCa } from "../helpers/run.js";

interface Shown { passcode: { status: string }; certificates: { serial: string }[] }

test("SIGKILL during enrollments leaves every user either fully enrolled or untouched", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const users: { id: string; passcode: string }[] = [];
  for (let i = 0; i < 12; i++) {
    const id = `a${String(3000 + i).padStart(7, "0")}`;
    users.push({ id, passcode: (await addUser(ca.dir, id)).passcode });
  }
  const csrs = await Promise.all(users.map((u) => makeCsr(u.id)));

  const srv = await serve(ca.dir);
  const inFlight = users.map((u, i) => enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, (csrs[i] ?? csrs[0])!.base64).catch(() => undefined));
  // Kill it the moment the first certificate is out: the others are somewhere in between.
  await Promise.race(inFlight.map((p) => p.then((a) => (a?.status === 200 ? undefined : new Promise(() => undefined)))));
  srv.process.kill("SIGKILL");
  const answers = await Promise.all(inFlight);
  assert.ok(answers.some((a) => a?.status === 200));

  for (const [i, u] of users.entries()) {
    const r = await shomeiCa(["user", "show", u.id, "--json", "--data", ca.dir]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Shown;
    if (s.passcode.status === "used") assert.equal(s.certificates.length, 1, `${u.id}: used passcode without its certificate`);
    else {
      assert.equal(s.passcode.status, "active", u.id);
      assert.equal(s.certificates.length, 0, `${u.id}: certificate without a used passcode`);
    }
    // A client that got an answer got a certificate the server recorded.
    if (answers[i]?.status === 200) assert.equal(s.passcode.status, "used", u.id);
  }

  // The service starts again on the same data, and every user can finish: a retry of the same
  // CSR gets the recorded certificate back, a user untouched by the crash enrolls normally.
  const again = await serve(ca.dir);
  t.after(() => again.stop());
  for (const [i, u] of users.entries()) {
    const r = await enroll(again.estUrl, ca.rootPem, u.id, u.passcode, (csrs[i] ?? csrs[0])!.base64);
    assert.equal(r.status, 200, `${u.id}: ${r.body}`);
  }
});
