/**
 * `serve` answers revocation status before its CA keys are unwrapped: its workers open the
 * publication listener from what is stored (signed CRLs, pre-signed OCSP answers, the CA
 * certificates) first, and EST and the portal once the supervisor hands the keys over.
 *
 * To show it without depending on how fast the machine is, the unwrap is held back: a FAULT
 * INJECTION (SHOMEI_FAULT_UNWRAP_DELAY_MS, tests only) delays the end of each key's unwrap by
 * many seconds. Within that window the stored shard CRL and the stored OCSP answer are served,
 * byte for byte, while `serve` has not printed its EST line (it prints it once every listener,
 * EST's included, which needs the TLS key, is open); afterwards it starts completely.
 *
 * A worker listens before it has read the stored CRLs and reads the one asked for: a second
 * FAULT INJECTION (SHOMEI_FAULT_FULL_CRL_READ_DELAY_MS) holds every read of the full CRL back,
 * and a shard is served, as stored, while a request for the full CRL still waits.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { addUser, crlShardUrlFor, initCa, serve } from "../helpers/ca.js";
import { enroll, makeCsr } from "../helpers/est.js";
import { SHOMEI_CA } from "../helpers/run.js";
import { freePort } from "../helpers/ports.js";
import { fromPem } from "../../src/pki/pem.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { crlShardOf } from "../../src/pki/crl_shard.js";
import { FULL, shardScope } from "../../src/status/crl_publisher.js";
import { openStore } from "../../src/store/open.js";
import Database from "better-sqlite3";

/** `serve` in a child process (stopped after the test), with what it prints on both streams. */
function spawnServe(t: TestContext, dir: string, httpPort: number, args: readonly string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [SHOMEI_CA, "serve", "--data", dir, "--host", "127.0.0.1", "--port", "0", "--portal-port", "0", "--http-port", String(httpPort), ...args], {
    env: { ...process.env, LANG: "en_US.UTF-8", ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString("utf8"); });
  child.stderr.on("data", (d: Buffer) => { out += d.toString("utf8"); });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  });
  return { child, output: () => out };
}

/** Far longer than the publication listener takes to open, even on a loaded machine. */
const UNWRAP_DELAY_MS = 20_000;

test("a restart serves the stored CRL shard and OCSP answer while the CA keys are still being unwrapped (fault injection: the unwrap held back)", { timeout: 180_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const httpPort = await freePort();
  const issuingDer = fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE");

  // A first run: one certificate, its pre-signed answer and the signed CRLs stored.
  const first = await serve(ca.dir, ["--http-port", String(httpPort)]);
  const { passcode } = await addUser(ca.dir, "a0000001");
  const r = await enroll(first.estUrl, ca.rootPem, "a0000001", passcode, (await makeCsr("a0000001")).base64);
  assert.equal(r.status, 200, r.body);
  const certDer = readCertsOnly(Buffer.from(r.body.replace(/\s/g, ""), "base64"))[0] ?? assert.fail("no certificate");
  const serial = readCertificate(certDer).serialHex;
  const store = await openStore(`sqlite:${join(ca.dir, "shomei.db")}`);
  let storedAnswer: Buffer | undefined;
  let storedShard: Buffer | undefined;
  let storedFull: Buffer | undefined;
  try {
    const shards = (JSON.parse(readFileSync(join(ca.dir, "shomei.json"), "utf8")) as { crl: { shards: number } }).crl.shards;
    for (let i = 0; !storedAnswer || !storedShard || !storedFull; i++) {
      assert.ok(i < 600, "no pre-signed answer or shard stored");
      storedAnswer = (await store.getOcspResponse(serial))?.sha1;
      storedShard = (await store.loadCrl(shardScope(crlShardOf(serial, shards))))?.der;
      storedFull = (await store.loadCrl(FULL))?.der;
      if (!storedAnswer || !storedShard || !storedFull) await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    await store.close();
  }
  await first.stop();

  // The restart, with the unwrap held back.
  const { child, output } = spawnServe(t, ca.dir, httpPort, [], { SHOMEI_FAULT_UNWRAP_DELAY_MS: String(UNWRAP_DELAY_MS), SHOMEI_FAULT_FULL_CRL_READ_DELAY_MS: String(UNWRAP_DELAY_MS) });
  const started = Date.now();
  const shardUrl = crlShardUrlFor(`http://127.0.0.1:${httpPort}/crl/issuing.crl`, serial);
  let shard: Buffer | undefined;
  while (!shard) {
    assert.equal(child.exitCode, null, `serve exited: ${output()}`);
    assert.ok(Date.now() - started < UNWRAP_DELAY_MS, `the publication listener did not answer before the keys were unwrapped: ${output()}`);
    try {
      const res = await fetch(shardUrl);
      if (res.status === 200) shard = Buffer.from(await res.arrayBuffer());
    } catch {
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  // The full CRL asked for (its read held back), then the shard again: served without waiting for it.
  let fullSettled = false;
  const full = fetch(`http://127.0.0.1:${httpPort}/crl/issuing.crl`).then(async (res) => ({ status: res.status, der: Buffer.from(await res.arrayBuffer()) }))
    .finally(() => { fullSettled = true; });
  await new Promise((res) => setTimeout(res, 300));
  const again = await fetch(shardUrl);
  assert.equal(again.status, 200);
  assert.deepEqual(Buffer.from(await again.arrayBuffer()), storedShard, "the shard as stored, while the full CRL is still being read");
  assert.equal(fullSettled, false, "the full CRL's read was not held back: the window was missed");
  const ocsp = await fetch(`http://127.0.0.1:${httpPort}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: buildOcspRequest(certDer, issuingDer) });
  const answer = Buffer.from(await ocsp.arrayBuffer());
  // Still within the window: serve has not opened EST (it needs the TLS key), so it has printed no EST line.
  assert.doesNotMatch(output(), /^EST: /m, "the keys were unwrapped already: the window was missed");
  assert.ok(Date.now() - started < UNWRAP_DELAY_MS);
  assert.deepEqual(shard, storedShard, "the shard as stored");
  assert.deepEqual(answer, storedAnswer, "the OCSP answer as stored (pre-signed, not signed now)");
  assert.equal(readOcspResponse(answer, certDer, issuingDer, { now: new Date() }).status, "good");

  // Once the keys are there, everything else opens as always.
  for (let i = 0; !/^EST: https:\/\/\S+$/m.test(output()); i++) {
    assert.equal(child.exitCode, null, `serve exited: ${output()}`);
    assert.ok(i < 1200, `serve did not finish starting: ${output()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(Date.now() - started >= UNWRAP_DELAY_MS, "EST opened only after the keys were unwrapped");
  const fullAnswer = await full;
  assert.equal(fullAnswer.status, 200);
  assert.deepEqual(fullAnswer.der, storedFull, "the full CRL as stored, once read");
  assert.match(output(), /^Workers: \d+ \(PID [\d, ]+\)$/m);
});

test("the first start after an upgrade: the first worker migrates the database before the second starts, and serve comes up on the new schema", { timeout: 180_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  // The database as the version before the stored CRLs (migration 0007) left it.
  const db = new Database(join(ca.dir, "shomei.db"));
  try {
    db.exec("drop table crls; drop table leases; drop index revocations_crl_shard; delete from kysely_migration where name = '0007_crl_store'");
  } finally {
    db.close();
  }
  const httpPort = await freePort();
  const { child, output } = spawnServe(t, ca.dir, httpPort, ["--workers", "2"], { SHOMEI_STARTUP_TRACE: "1" });
  for (let i = 0; !/^Workers: \d+ \(PID [\d, ]+\)$/m.test(output()); i++) {
    assert.equal(child.exitCode, null, `serve exited: ${output()}`);
    assert.ok(i < 1200, `serve did not finish starting: ${output()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const marks = output().split("\n").map((l) => /^startup-trace (\S+) \d+ (\S+) (\S+)$/.exec(l)).filter((m) => m !== null).map((m) => ({ at: Number(m[1]), role: m[2] ?? "", phase: m[3] ?? "" }));
  const firstServes = marks.find((m) => m.phase === "publication-listening");
  const secondStarts = marks.filter((m) => m.role !== firstServes?.role && m.role.startsWith("worker-") && m.phase === "process-start");
  assert.ok(firstServes, `no worker reported serving: ${output()}`);
  assert.equal(secondStarts.length, 1, `the second worker's start: ${output()}`);
  assert.ok((secondStarts[0]?.at ?? 0) >= firstServes.at, "the second worker started only once the first had opened (and migrated) the store");

  const res = await fetch(`http://127.0.0.1:${httpPort}/crl/issuing.crl`);
  assert.equal(res.status, 200, "the stored CRLs of the new schema are served");
  const after = new Database(join(ca.dir, "shomei.db"), { readonly: true });
  try {
    assert.deepEqual(after.prepare("select count(*) as n from kysely_migration where name = '0007_crl_store'").get(), { n: 1 });
  } finally {
    after.close();
  }
});
