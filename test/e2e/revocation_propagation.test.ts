/**
 * A revocation made by another process reaches a running `shomei-ca serve` with its DEFAULT
 * settings (no shortened check interval): `shomei-ca cert revoke` writes the database, the
 * supervisor notices (status change check; NOTIFY on PostgreSQL), re-signs the OCSP answer and
 * the certificate's CRL shard, and the workers serve the new bytes: OCSP says revoked and the
 * shard from the certificate's CRL distribution point lists it. On SQLite and on PostgreSQL.
 * How fast is for bench:revocation; the bound here is only "eventually".
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { crlShardUrlFor, addUser, initCa, serve, type Served, type TestCa } from "../helpers/ca.js";
import { enroll, makeCsr } from "../helpers/est.js";
import { shomeiCa } from "../helpers/run.js";
import { needs, testSchema } from "../helpers/tools.js";
import { fromPem } from "../../src/pki/pem.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { readCrl } from "../../src/pki/crl.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";

/** Generous: the default settings take well under a second (bench:revocation); this only says "eventually". */
const EVENTUALLY_MS = 30_000;

async function enrolled(ca: TestCa, srv: Served, userId: string): Promise<{ der: Buffer; serial: string }> {
  const { passcode } = await addUser(ca.dir, userId);
  const r = await enroll(srv.estUrl, ca.rootPem, userId, passcode, (await makeCsr(userId)).base64);
  assert.equal(r.status, 200, r.body);
  const der = readCertsOnly(Buffer.from(r.body.replace(/\s/g, ""), "base64"))[0] ?? assert.fail("no certificate");
  return { der, serial: readCertificate(der).serialHex };
}

async function ocspStatus(srv: Served, certDer: Buffer, issuingDer: Buffer): Promise<string> {
  const r = await fetch(srv.ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: buildOcspRequest(certDer, issuingDer) });
  assert.equal(r.status, 200);
  return readOcspResponse(Buffer.from(await r.arrayBuffer()), certDer, issuingDer, { now: new Date() }).status;
}

async function listed(url: string, serial: string): Promise<boolean> {
  const r = await fetch(url);
  assert.equal(r.status, 200, `${url}: ${r.status}`);
  return readCrl(Buffer.from(await r.arrayBuffer())).entries.some((e) => e.serialHex === serial);
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    assert.ok(Date.now() - t0 < EVENTUALLY_MS, `${what} (not within ${EVENTUALLY_MS / 1000} s)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function revokedElsewhere(t: TestContext, db: string | undefined): Promise<void> {
  const ca = await initCa(db ? ["--db", db] : []);
  t.after(() => ca.cleanup());
  const config = JSON.parse(readFileSync(`${ca.dir}/shomei.json`, "utf8")) as { revocation?: unknown; crl?: { shards?: number } };
  assert.ok((config.crl?.shards ?? 1) > 1, "init gives sharded CRLs");
  const srv = await serve(ca.dir);
  t.after(() => srv.stop());
  const issuingDer = fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE");
  const cert = await enrolled(ca, srv, "a0000001");
  const shard = crlShardUrlFor(srv.crlUrl, cert.serial);
  assert.equal(await ocspStatus(srv, cert.der, issuingDer), "good");
  await eventually("the shard is served", async () => (await fetch(shard)).status === 200);
  assert.equal(await listed(shard, cert.serial), false);

  const r = await shomeiCa(["cert", "revoke", cert.serial, "--reason", "keyCompromise", "--data", ca.dir, ...(db ? ["--db", db] : [])]);
  assert.equal(r.code, 0, r.stderr);
  const [ocspMs, crlMs] = await Promise.all([
    eventually("OCSP says revoked", async () => (await ocspStatus(srv, cert.der, issuingDer)) === "revoked"),
    eventually("the certificate's CRL shard lists it", () => listed(shard, cert.serial)),
  ]);
  t.diagnostic(`revoked by the CLI: OCSP after ${ocspMs} ms, CRL shard after ${crlMs} ms (not asserted)`);
}

test("default settings, SQLite: a `shomei-ca cert revoke` in another process makes OCSP say revoked and the shard list it", { timeout: 120_000 }, async (t) => {
  await revokedElsewhere(t, undefined);
});

const pgSchema = testSchema("shomei_propagation");
test("default settings, PostgreSQL: the same", { timeout: 120_000 }, async (t) => {
  t.after(() => pgSchema.drop());
  const db = await pgSchema.url();
  if (db === false) return void (await needs(t, "postgres"));
  await revokedElsewhere(t, db);
});
