/** The CRL publisher and the OCSP responder over a real SQLite store: incremental reads, cache that never hides a revocation. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { readCrl } from "../pki/crl.js";
import { keyObjectSigner, generateKeyPair } from "../pki/keys.js";
import { buildOcspRequest, readOcspResponse } from "../pki/ocsp.js";
import { readCertificate } from "../pki/certificate.js";
import { randomSerial, serialHex } from "../pki/serial.js";
import type { CertificateRecord } from "../ca/ports.js";
import { makeTestCa, issueClientCert, DAY } from "../../test/helpers/client_pki.js";
import { tempDir } from "../../test/helpers/ca.js";
import { needs } from "../../test/helpers/tools.js";
import { run } from "../../test/helpers/run.js";
import { toPem } from "../pki/pem.js";
import { CrlPublisher } from "./crl_publisher.js";
import { OcspResponder } from "./ocsp_responder.js";

const dirs: string[] = [];
const stores: KyselyStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function store(): Promise<KyselyStore> {
  const dir = tempDir();
  dirs.push(dir);
  const s = await openStore(`sqlite:${join(dir, "shomei.db")}`);
  stores.push(s);
  return s;
}

function record(serial: string, der: Buffer = Buffer.from([0x30, 0])): CertificateRecord {
  const now = new Date();
  return {
    serial, userId: null, kind: "client", subject: `CN=${serial}`, notBefore: now, notAfter: new Date(now.getTime() + DAY),
    fingerprint: serial, der, status: "valid", csrHash: null, createdAt: now,
  };
}

test("the CRL publisher lists every revocation, reads only what is new, and signs again only on change or when due", async () => {
  const ca = await makeTestCa();
  const s = await store();
  const serials: string[] = [];
  for (let i = 0; i < 300; i++) {
    const serial = serialHex(randomSerial());
    serials.push(serial);
    await s.insertCertificate(record(serial), []);
  }
  const now = new Date();
  for (const serial of serials.slice(0, 250)) await s.revokeCertificate(serial, "keyCompromise", now, []);
  const clock = { now: new Date() };
  const pub = new CrlPublisher({
    store: s, issuingDer: ca.issuingDer, signer: keyObjectSigner(ca.issuingKey.privateKey), clock: () => clock.now,
    intervalMinutes: 60, validityHours: 24, checkSeconds: 3600, lookBack: 10,
  });
  await pub.start();
  try {
    const first = pub.current;
    assert.ok(first);
    const info = readCrl(first.der);
    assert.equal(info.entries.length, 250);
    assert.deepEqual(new Set(info.entries.map((e) => e.serialHex)), new Set(serials.slice(0, 250)));
    assert.ok(info.entries.every((e) => e.reason === "keyCompromise"));
    assert.equal(info.nextUpdate?.getTime(), first.thisUpdate.getTime() + 24 * 3_600_000);
    assert.equal(pub.stats.rowsRead, 250);
    assert.equal(pub.stats.builds, 1);

    // Nothing new: a read of the look-back window only, no new signature.
    await pub.refresh();
    assert.equal(pub.stats.rowsRead, 260);
    assert.equal(pub.stats.builds, 1);
    assert.equal(pub.current, first);

    // Five more: read incrementally (look-back + 5), all 255 listed, a higher CRL number.
    for (const serial of serials.slice(250, 255)) await s.revokeCertificate(serial, "superseded", now, []);
    await pub.refresh();
    assert.equal(pub.stats.rowsRead, 260 + 15);
    assert.equal(pub.stats.builds, 2);
    const second = pub.current;
    assert.ok(second);
    assert.equal(readCrl(second.der).entries.length, 255);
    assert.ok(second.crlNumber > first.crlNumber);

    // An hour later it is signed again even without revocations.
    clock.now = new Date(clock.now.getTime() + 61 * 60_000);
    await pub.refresh();
    assert.equal(pub.stats.builds, 3);
    assert.ok((pub.current?.crlNumber ?? 0n) > second.crlNumber);
  } finally {
    pub.stop();
  }
});

/** A test CA, a store, and one client certificate of that CA recorded in it (valid for a day either side of now). */
async function oneCertificateOnRecord(): Promise<{ ca: Awaited<ReturnType<typeof makeTestCa>>; s: KyselyStore; der: Buffer; serial: string }> {
  const ca = await makeTestCa();
  const s = await store();
  const key = await generateKeyPair();
  const der = await issueClientCert(ca, { publicKey: key.publicKey, commonName: "u", notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
  const serial = readCertificate(der).serialHex;
  await s.insertCertificate(record(serial, der), []);
  return { ca, s, der, serial };
}

test("the OCSP responder reuses a cached answer only while the database still says the same, and renews its certificate", async () => {
  const { ca, s, der, serial } = await oneCertificateOnRecord();
  const clock = { now: new Date() };
  const responder = new OcspResponder({ store: s, issuingDer: ca.issuingDer, issuingSigner: keyObjectSigner(ca.issuingKey.privateKey), clock: () => clock.now, cacheSeconds: 300 });
  const req = buildOcspRequest(der, ca.issuingDer);
  const ask = async (): Promise<string> => readOcspResponse(await responder.respond(req), der, ca.issuingDer, { now: clock.now }).status;

  assert.equal(await ask(), "good");
  assert.equal(await ask(), "good");
  assert.deepEqual({ signed: responder.stats.signed, cached: responder.stats.cached }, { signed: 1, cached: 1 });
  // Revoked by another process (straight in the database): never the cached "good".
  await s.revokeCertificate(serial, "keyCompromise", new Date(), []);
  assert.equal(await ask(), "revoked");
  assert.equal(responder.stats.signed, 2);

  // With a nonce: always signed afresh.
  const nonce = Buffer.from("0123456789abcdef");
  const withNonce = readOcspResponse(await responder.respond(buildOcspRequest(der, ca.issuingDer, { nonce })), der, ca.issuingDer, { nonce, now: clock.now });
  assert.equal(withNonce.status, "revoked");
  assert.equal(responder.stats.signed, 3);

  // The responder certificate is replaced before it ends; answers stay valid.
  const before = await responder.responderCertificate();
  clock.now = new Date(clock.now.getTime() + 25 * DAY);
  assert.equal(await ask(), "revoked");
  const later = await responder.responderCertificate();
  assert.notDeepEqual(later, before);
  assert.ok(readCertificate(later).notAfter.getTime() > clock.now.getTime() + 20 * DAY);
});

test("followers (serve's workers) serve the CRL and answer with the responder handed to them, and pass nudges on", async () => {
  const { ca, s, der, serial } = await oneCertificateOnRecord();
  const clock = { now: new Date() };
  const signer = keyObjectSigner(ca.issuingKey.privateKey);
  const options = { store: s, issuingDer: ca.issuingDer, signer, clock: () => clock.now, intervalMinutes: 60, validityHours: 24, checkSeconds: 3600 };
  const leader = new CrlPublisher(options);
  const follower = new CrlPublisher(options);
  leader.onPublish((crl) => follower.adopt(crl));
  let nudges = 0;
  follower.relayNudges(() => { nudges++; });
  await leader.start();
  try {
    assert.deepEqual(follower.current?.der, leader.current?.der);
    await s.revokeCertificate(serial, "keyCompromise", new Date(), []);
    // A revocation in the follower's process reaches the leader, which signs and hands the CRL back.
    follower.nudge();
    assert.equal(nudges, 1);
    assert.equal(follower.stats.builds, 0);
    await leader.refresh();
    assert.equal(readCrl(follower.current?.der ?? Buffer.alloc(0)).entries.length, 1);
    assert.deepEqual(follower.current?.der, leader.current?.der);
    // An older CRL arriving late does not replace a newer one.
    const newer = follower.current ?? assert.fail("no CRL");
    follower.adopt({ ...newer, crlNumber: newer.crlNumber - 1n, der: Buffer.from([0x30, 0]) });
    assert.equal(follower.current, newer);
  } finally {
    leader.stop();
  }

  const own = { store: s, issuingDer: ca.issuingDer, issuingSigner: signer, clock: () => clock.now, cacheSeconds: 0 };
  const maker = new OcspResponder(own);
  const worker = new OcspResponder(own);
  worker.useResponder(await maker.exportResponder());
  const answer = readOcspResponse(await worker.respond(buildOcspRequest(der, ca.issuingDer)), der, ca.issuingDer, { now: clock.now });
  assert.equal(answer.status, "revoked");
  // The worker never makes a responder of its own, even when the one it holds is due for renewal.
  const handed = await maker.responderCertificate();
  assert.deepEqual(await worker.responderCertificate(), handed);
  clock.now = new Date(clock.now.getTime() + 25 * DAY);
  assert.deepEqual(await worker.responderCertificate(), handed);
  // The maker renews; handed over again, the worker answers with the new one.
  const renewed = await maker.exportResponder();
  assert.notDeepEqual(renewed.der, handed);
  worker.useResponder(renewed);
  assert.deepEqual(await worker.responderCertificate(), renewed.der);
});

test("OCSP answers carry the responder certificate and the issuing CA, so a relying party trusting only the root verifies them (OpenSSL)", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const { ca, s, der } = await oneCertificateOnRecord();
  const responder = new OcspResponder({ store: s, issuingDer: ca.issuingDer, issuingSigner: keyObjectSigner(ca.issuingKey.privateKey), clock: () => new Date(), cacheSeconds: 300 });
  const answer = await responder.respond(buildOcspRequest(der, ca.issuingDer));
  // Our own client still reads it (it skips the extra certificate).
  assert.equal(readOcspResponse(answer, der, ca.issuingDer, { now: new Date() }).status, "good");

  const dir = tempDir();
  dirs.push(dir);
  writeFileSync(join(dir, "resp.der"), answer);
  writeFileSync(join(dir, "root.pem"), toPem(ca.rootDer, "CERTIFICATE"));
  writeFileSync(join(dir, "issuing.pem"), toPem(ca.issuingDer, "CERTIFICATE"));
  writeFileSync(join(dir, "user.pem"), toPem(der, "CERTIFICATE"));
  const r = await run("openssl", [
    "ocsp", "-respin", join(dir, "resp.der"), "-CAfile", join(dir, "root.pem"), "-issuer", join(dir, "issuing.pem"), "-cert", join(dir, "user.pem"), "-resp_text",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr + r.stdout, /Response verify OK/);
  assert.match(r.stdout, /: good/);
  // The certificates carried: the responder's, then the issuing CA's.
  const subjects = [...r.stdout.matchAll(/^\s*Subject: (.*)$/gm)].map((m) => m[1]);
  assert.equal(subjects.length, 2, r.stdout);
  assert.ok(subjects[1]?.endsWith(`CN=${readCertificate(ca.issuingDer).commonName ?? "?"}`), subjects.join(" | "));
});
