/**
 * Pre-signed OCSP over a real SQLite store: the pre-signer signs an answer for every
 * certificate (SHA-1 and SHA-256 CertIDs) in batches, a worker answers from the store and its
 * bounded cache without signing, a revocation is signed again and the workers told, answers
 * due are renewed, expired certificates' answers dropped; requireNonce answers nonces afresh.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { keyObjectSigner, generateKeyPair } from "../pki/keys.js";
import { buildOcspRequest, readOcspResponse } from "../pki/ocsp.js";
import { readCertificate } from "../pki/certificate.js";
import { makeTestCa, issueClientCert, DAY } from "../../test/helpers/client_pki.js";
import { tempDir } from "../../test/helpers/ca.js";
import { needs, testSchema } from "../../test/helpers/tools.js";
import { OcspResponder } from "./ocsp_responder.js";
import { OcspPresigner, type PresignProgress } from "./ocsp_presigner.js";

const HOUR = 3_600_000;
const dirs: string[] = [];
const stores: KyselyStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup(count: number, shortLived: number, url?: string) {
  const ca = await makeTestCa();
  const dir = tempDir();
  dirs.push(dir);
  const s = await openStore(url ?? `sqlite:${join(dir, "shomei.db")}`);
  stores.push(s);
  const now = new Date();
  const certs: { der: Buffer; serial: string }[] = [];
  for (let i = 0; i < count; i++) {
    // The last `shortLived` expire within two hours.
    const notAfter = new Date(now.getTime() + (i >= count - shortLived ? 2 * HOUR : 30 * DAY));
    const der = await issueClientCert(ca, { publicKey: (await generateKeyPair()).publicKey, commonName: `u${i}`, notBefore: new Date(now.getTime() - DAY), notAfter });
    const c = readCertificate(der);
    await s.insertCertificate({
      serial: c.serialHex, userId: null, kind: "client", subject: `CN=u${i}`, notBefore: c.notBefore, notAfter: c.notAfter,
      fingerprint: c.fingerprint, der, status: "valid", csrHash: null, createdAt: now,
    }, []);
    certs.push({ der, serial: c.serialHex });
  }
  const clock = { now };
  const issuingSigner = keyObjectSigner(ca.issuingKey.privateKey);
  const supervisor = new OcspResponder({ store: s, issuingDer: ca.issuingDer, issuingSigner, clock: () => clock.now, cacheSeconds: 300 });
  const changed: string[] = [];
  const progress: PresignProgress[] = [];
  const presigner = new OcspPresigner({
    store: s, responder: supervisor, clock: () => clock.now, validityHours: 4, checkSeconds: 3600, batch: 2, cpuShare: 1, random: () => 0,
    onChanged: (serials) => changed.push(...serials), onProgress: (p) => progress.push(p),
  });
  const worker = (o: { cacheEntries?: number; requireNonce?: boolean } = {}): OcspResponder =>
    new OcspResponder({ store: s, issuingDer: ca.issuingDer, issuingSigner, clock: () => clock.now, cacheSeconds: 300, ...o });
  return { ca, s, certs, clock, supervisor, presigner, changed, progress, worker };
}

test("every certificate gets a pre-signed answer; a worker serves it (SHA-1 and SHA-256, nonce or not) from the store and a bounded cache without signing", async () => {
  const { ca, s, certs, clock, supervisor, presigner, changed, progress, worker } = await setup(5, 0);
  await presigner.run();
  assert.equal(presigner.stats.signed, 5);
  assert.deepEqual(new Set(changed), new Set(certs.map((c) => c.serial)));
  // Three batches of two: progress reported, the last one done.
  assert.deepEqual(progress.at(-1), { phase: "missing", signed: 5, perSecond: progress.at(-1)?.perSecond, done: true });

  const w = worker({ cacheEntries: 2 });
  w.useResponder(await supervisor.exportResponder());
  for (const c of certs) {
    const row = await s.getOcspResponse(c.serial) ?? assert.fail("no stored answer");
    for (const hash of ["sha1", "sha256"] as const) {
      const nonce = Buffer.from("0123456789abcdef");
      for (const req of [buildOcspRequest(c.der, ca.issuingDer, { hash }), buildOcspRequest(c.der, ca.issuingDer, { hash, nonce })]) {
        const r = await w.answer(req);
        // The stored bytes, as signed by the pre-signer: no nonce echoed (RFC 8954 2.1).
        assert.deepEqual(r.body, hash === "sha1" ? row.sha1 : row.sha256);
        const a = readOcspResponse(r.body, c.der, ca.issuingDer, { now: clock.now, nonce, nonceOptional: true });
        assert.equal(a.status, "good");
        assert.equal(a.nextUpdate?.getTime(), a.thisUpdate.getTime() + 4 * HOUR);
        assert.deepEqual(r.cacheable?.nextUpdate, a.nextUpdate);
      }
    }
  }
  assert.equal(w.stats.signed, 0, "the worker signed");
  assert.ok(w.presignedInMemory <= 2, `${w.presignedInMemory} certificates' answers in memory`);
  // The one most recently asked about is answered from memory, without a promise.
  const last = certs[certs.length - 1] ?? assert.fail();
  assert.ok(w.answerFromMemory(buildOcspRequest(last.der, ca.issuingDer)));

  // With ocsp.requireNonce a nonce is answered afresh and echoed; without one, pre-signed.
  const strict = worker({ requireNonce: true });
  strict.useResponder(await supervisor.exportResponder());
  const nonce = Buffer.from("fedcba9876543210");
  const fresh = await strict.answer(buildOcspRequest(last.der, ca.issuingDer, { nonce }));
  assert.equal(readOcspResponse(fresh.body, last.der, ca.issuingDer, { now: clock.now, nonce }).status, "good");
  assert.equal(fresh.cacheable, undefined);
  assert.equal(strict.stats.signed, 1);
  await strict.answer(buildOcspRequest(last.der, ca.issuingDer));
  assert.equal(strict.stats.signed, 1);
});

test("a revocation is signed again and the workers told; answers due are renewed; expired certificates' answers are dropped", async () => {
  await revocationAndRenewal();
});

test("the same on PostgreSQL (the store's queries and its upsert that never undoes a revocation)", async (t) => {
  if (!(await needs(t, "postgres"))) return;
  const schema = testSchema("shomei_ocsp");
  t.after(() => schema.drop());
  const url = await schema.url();
  if (url === false) return assert.fail("PostgreSQL not reachable");
  await revocationAndRenewal(url);
});

async function revocationAndRenewal(url?: string): Promise<void> {
  const { ca, s, certs, clock, supervisor, presigner, changed, worker } = await setup(4, 1, url);
  await presigner.run();
  const w = worker();
  w.useResponder(await supervisor.exportResponder());
  const [alice, bob] = certs;
  if (!alice || !bob) return assert.fail();
  const status = async (der: Buffer): Promise<string> => readOcspResponse((await w.answer(buildOcspRequest(der, ca.issuingDer))).body, der, ca.issuingDer, { now: clock.now }).status;
  assert.equal(await status(alice.der), "good");

  // Revoked by another process: the worker's cached answer stands until the pre-signer re-signs and says so.
  await s.revokeCertificate(alice.serial, "keyCompromise", clock.now, []);
  changed.length = 0;
  await presigner.run();
  assert.deepEqual(changed, [alice.serial]);
  w.invalidate(changed);
  const revoked = readOcspResponse((await w.answer(buildOcspRequest(alice.der, ca.issuingDer, { hash: "sha256" }))).body, alice.der, ca.issuingDer, { now: clock.now });
  assert.deepEqual([revoked.status, revoked.reason], ["revoked", "keyCompromise"]);
  assert.equal(w.stats.signed, 0);
  // A stale answer saying good never replaces the one saying revoked (another instance signing from an older read).
  const stale = await supervisor.presign({ serial: alice.serial, status: "valid", revokedAt: null, reason: null, notAfter: new Date(clock.now.getTime() + DAY), createdAt: clock.now }, clock.now, 4 * HOUR, clock.now);
  await s.putOcspResponses([stale]);
  assert.equal((await s.getOcspResponse(alice.serial))?.certStatus, "revoked");

  // Revoked in the worker's own process: forget() answers from the database at once.
  await s.revokeCertificate(bob.serial, "superseded", clock.now, []);
  w.forget(bob.serial);
  assert.equal(await status(bob.der), "revoked");
  assert.equal(w.stats.signed, 1);

  // Three hours on (refresh half-way through four): renewed, except the certificate now expired, whose answer is dropped.
  const signedBefore = presigner.stats.signed;
  const before = await s.getOcspResponse(alice.serial) ?? assert.fail();
  clock.now = new Date(clock.now.getTime() + 3 * HOUR);
  await presigner.run();
  assert.equal(presigner.stats.dropped, 1);
  assert.equal(presigner.stats.signed - signedBefore, 3);
  const renewed = await s.getOcspResponse(alice.serial) ?? assert.fail();
  assert.equal(renewed.thisUpdate.getTime() - before.thisUpdate.getTime(), Math.floor(clock.now.getTime() / 1000) * 1000 - before.thisUpdate.getTime());
  assert.equal(renewed.certStatus, "revoked");
  const expired = certs[3] ?? assert.fail();
  assert.equal(await s.getOcspResponse(expired.serial), undefined);
}

test("new certificates are looked for 10 s before the last run at every run, and 120 s before once a minute (a late commit from another instance's clock)", async () => {
  const { ca, s, clock, presigner } = await setup(1, 0);
  const t0 = clock.now.getTime();
  const at = async (seconds: number): Promise<void> => {
    clock.now = new Date(t0 + seconds * 1000);
    await presigner.run();
  };
  await at(0); // the first run signs everything and looks back 120 s next time
  await at(5); // looks back 120 s; next time 10 s
  // Recorded now by another instance whose clock is 30 s behind.
  const der = await issueClientCert(ca, { publicKey: (await generateKeyPair()).publicKey, commonName: "late", notBefore: new Date(t0 - DAY), notAfter: new Date(t0 + 30 * DAY) });
  const c = readCertificate(der);
  await s.insertCertificate({
    serial: c.serialHex, userId: null, kind: "client", subject: "CN=late", notBefore: c.notBefore, notAfter: c.notAfter,
    fingerprint: c.fingerprint, der, status: "valid", csrHash: null, createdAt: new Date(t0 - 30_000),
  }, []);
  await at(10);
  assert.equal(await s.getOcspResponse(c.serialHex), undefined, "a run in between reads only the last seconds again");
  await at(61); // a minute after the last full look-back: the next run looks back 120 s
  await at(62);
  assert.equal((await s.getOcspResponse(c.serialHex))?.certStatus, "valid", "signed by the run that looks back two minutes");
});
