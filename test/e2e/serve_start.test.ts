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
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
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
import { shardScope } from "../../src/status/crl_publisher.js";
import { openStore } from "../../src/store/open.js";

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
  try {
    const shards = (JSON.parse(readFileSync(join(ca.dir, "shomei.json"), "utf8")) as { crl: { shards: number } }).crl.shards;
    for (let i = 0; !storedAnswer || !storedShard; i++) {
      assert.ok(i < 600, "no pre-signed answer or shard stored");
      storedAnswer = (await store.getOcspResponse(serial))?.sha1;
      storedShard = (await store.loadCrl(shardScope(crlShardOf(serial, shards))))?.der;
      if (!storedAnswer || !storedShard) await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    await store.close();
  }
  await first.stop();

  // The restart, with the unwrap held back.
  const child = spawn(process.execPath, [SHOMEI_CA, "serve", "--data", ca.dir, "--host", "127.0.0.1", "--port", "0", "--portal-port", "0", "--http-port", String(httpPort)], {
    env: { ...process.env, LANG: "en_US.UTF-8", SHOMEI_FAULT_UNWRAP_DELAY_MS: String(UNWRAP_DELAY_MS) }, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString("utf8"); });
  child.stderr.on("data", (d: Buffer) => { out += d.toString("utf8"); });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  });
  const started = Date.now();
  const shardUrl = crlShardUrlFor(`http://127.0.0.1:${httpPort}/crl/issuing.crl`, serial);
  let shard: Buffer | undefined;
  while (!shard) {
    assert.equal(child.exitCode, null, `serve exited: ${out}`);
    assert.ok(Date.now() - started < UNWRAP_DELAY_MS, `the publication listener did not answer before the keys were unwrapped: ${out}`);
    try {
      const res = await fetch(shardUrl);
      if (res.status === 200) shard = Buffer.from(await res.arrayBuffer());
    } catch {
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  const ocsp = await fetch(`http://127.0.0.1:${httpPort}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: buildOcspRequest(certDer, issuingDer) });
  const answer = Buffer.from(await ocsp.arrayBuffer());
  // Still within the window: serve has not opened EST (it needs the TLS key), so it has printed no EST line.
  assert.doesNotMatch(out, /^EST: /m, "the keys were unwrapped already: the window was missed");
  assert.ok(Date.now() - started < UNWRAP_DELAY_MS);
  assert.deepEqual(shard, storedShard, "the shard as stored");
  assert.deepEqual(answer, storedAnswer, "the OCSP answer as stored (pre-signed, not signed now)");
  assert.equal(readOcspResponse(answer, certDer, issuingDer, { now: new Date() }).status, "good");

  // Once the keys are there, everything else opens as always.
  for (let i = 0; !/^EST: https:\/\/\S+$/m.test(out); i++) {
    assert.equal(child.exitCode, null, `serve exited: ${out}`);
    assert.ok(i < 1200, `serve did not finish starting: ${out}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(Date.now() - started >= UNWRAP_DELAY_MS, "EST opened only after the keys were unwrapped");
  assert.match(out, /^Workers: \d+ \(PID [\d, ]+\)$/m);
});
