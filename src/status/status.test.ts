/** The OCSP responder over a real SQLite store: a cache that never hides a revocation (the CRL publisher: crl_publisher.test.ts). */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { keyObjectSigner, generateKeyPair } from "../pki/keys.js";
import { buildOcspRequest, readOcspResponse } from "../pki/ocsp.js";
import { readCertificate } from "../pki/certificate.js";
import type { CertificateRecord } from "../ca/ports.js";
import { makeTestCa, issueClientCert, DAY } from "../../test/helpers/client_pki.js";
import { tempDir } from "../../test/helpers/ca.js";
import { needs } from "../../test/helpers/tools.js";
import { run } from "../../test/helpers/run.js";
import { toPem } from "../pki/pem.js";
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

test("followers (serve's workers) answer with the responder handed to them", async () => {
  const { ca, s, der, serial } = await oneCertificateOnRecord();
  const clock = { now: new Date() };
  const signer = keyObjectSigner(ca.issuingKey.privateKey);
  await s.revokeCertificate(serial, "keyCompromise", new Date(), []);

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
