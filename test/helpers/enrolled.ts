/** A user registered with `shomei-ca user add` and enrolled with the real `shomei enroll` into a file store of their own. */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { addUser, readOutbox, type TestCa } from "./ca.js";
import { shomei } from "./run.js";

export interface Enrolled {
  readonly userId: string;
  readonly serial: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** The initial password from the user's mail. */
  readonly password: string;
}

/** Registers `userId`, enrolls it at `estUrl` into `work/store-USERID`, and reads its initial password from the outbox. */
export async function enrollUser(ca: TestCa, estUrl: string, work: string, userId: string): Promise<Enrolled> {
  const { email, passcode } = await addUser(ca.dir, userId);
  const store = join(work, `store-${userId}`);
  const r = await shomei(["enroll", "--server", estUrl, "--user", userId, "--passcode-stdin", "--root-fingerprint", ca.rootFingerprint, "--store", store], { input: `${passcode}\n` });
  assert.equal(r.code, 0, r.stderr);
  const dir = join(store, "certs", userId);
  const serial = readdirSync(dir)[0] ?? "";
  const password = (await readOutbox(ca.dir)).filter((m) => m.to.includes(email)).map((m) => /^(?:初期パスワード|Initial password): (\S+)$/m.exec(m.body)?.[1]).find(Boolean);
  assert.ok(password, "initial password mail");
  return { userId, serial, certPath: join(dir, serial, "cert.pem"), keyPath: join(dir, serial, "key.pem"), password };
}
