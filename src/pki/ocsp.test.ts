/** OCSP: our requests and answers round-trip, the client half refuses what it must, and OpenSSL agrees. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { issueOcspResponderCert } from "../ca/ocsp_responder_cert.js";
import { ShomeiError } from "../i18n/errors.js";
import { makeTestCa, issueClientCert, DAY, type TestCa } from "../../test/helpers/client_pki.js";
import { needs } from "../../test/helpers/tools.js";
import { run } from "../../test/helpers/run.js";
import { tempDir } from "../../test/helpers/ca.js";
import { generateKeyPair, keyObjectSigner } from "./keys.js";
import {
  buildOcspRequest, buildOcspResponse, buildOcspResponseFast, certIdFor, certIdIssuedBy, issuerHashes, ocspErrorResponse, parseOcspRequest,
  readOcspResponse, responderTemplate, type OcspCertStatus, type OcspSingleStatus, type ParsedOcspRequest,
} from "./ocsp.js";
import { toPem } from "./pem.js";
import { readCertificate, signEncoded, encode, certificateSubject, certificateSpki } from "./certificate.js";
import { buildName } from "./names.js";
import { keyIdentifier, clientExtensions } from "./profiles.js";
import { randomSerial } from "./serial.js";
import { spkiDer } from "./keys.js";

const NOW = new Date();

interface Fixture {
  readonly ca: TestCa;
  readonly userDer: Buffer;
  readonly responderDer: Buffer;
  readonly responderSigner: ReturnType<typeof keyObjectSigner>;
}

let fixture: Promise<Fixture> | undefined;
function setup(): Promise<Fixture> {
  return (fixture ??= (async () => {
    const ca = await makeTestCa();
    const user = await generateKeyPair();
    const userDer = await issueClientCert(ca, { publicKey: user.publicKey, commonName: "u1", notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + 30 * DAY) });
    const responder = await generateKeyPair();
    const responderDer = await issueOcspResponderCert({
      issuingCertDer: ca.issuingDer, issuingSigner: keyObjectSigner(ca.issuingKey.privateKey), publicKey: responder.publicKey, now: NOW, validityDays: 30,
    });
    return { ca, userDer, responderDer, responderSigner: keyObjectSigner(responder.privateKey) };
  })());
}

async function answer(f: Fixture, req: ParsedOcspRequest, status: OcspCertStatus, o: { delegated?: boolean; reason?: string; thisUpdate?: Date; nonce?: boolean } = {}): Promise<Buffer> {
  const delegated = o.delegated ?? true;
  return buildOcspResponse({
    signer: delegated ? f.responderSigner : keyObjectSigner(f.ca.issuingKey.privateKey),
    responderCertDer: delegated ? f.responderDer : f.ca.issuingDer,
    includeResponderCert: delegated,
    producedAt: o.thisUpdate ?? NOW,
    responses: req.certIds.map((certId) => ({
      certId, status, thisUpdate: o.thisUpdate ?? NOW, nextUpdate: new Date((o.thisUpdate ?? NOW).getTime() + 300_000),
      ...(status === "revoked" ? { revokedAt: new Date("2026-01-02T03:04:05Z"), ...(o.reason ? { reason: o.reason } : {}) } : {}),
    })),
    ...(o.nonce === false || !req.nonce ? {} : { nonce: req.nonce }),
  });
}

const code = (c: string) => (e: unknown): boolean => e instanceof ShomeiError && e.code === c;

test("a request whose CertID cannot be encoded again is OCSP_REQUEST_MALFORMED, not a plain Error (the responder answered internalError)", () => {
  // Found by the fuzz suite (seed 777, case 1686): the hash algorithm's NULL parameters turned into an empty UTCTime.
  const der = Buffer.from("MHYwdDBNMEswSTAJBgUrDgMCGhcABBTAOTdgTfRexQHMQeekLyQQwQTAnQQUf2LgUl5yOFZrvQRzB3xEOS3m8TgCEGWULn/S3HRSFFNe+PYbGz+iIzAhMB8GCSsGAQUFBzABAgQSBBDRT07iD+aFBxISURDqE+WM", "base64");
  assert.throws(() => parseOcspRequest(der), code("OCSP_REQUEST_MALFORMED"));
});

test("request round trip: SHA-1 CertID of our issuer, the serial as the database holds it, the nonce", async () => {
  const f = await setup();
  const nonce = randomBytes(16);
  const req = parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer, { nonce }));
  assert.equal(req.certIds.length, 1);
  const id = req.certIds[0];
  assert.ok(id);
  assert.equal(id.hashAlgorithm, "1.3.14.3.2.26");
  assert.equal(id.serialHex, readCertificate(f.userDer).serialHex);
  assert.ok(certIdIssuedBy(id, f.ca.issuingDer));
  assert.ok(!certIdIssuedBy(id, f.ca.rootDer));
  assert.equal(req.nonce?.subarray(2).toString("hex"), nonce.toString("hex"));
  assert.equal(parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer)).nonce, undefined);
});

test("answers read back: good by the CA itself, revoked with reason by a delegated responder, unknown", async () => {
  const f = await setup();
  const nonce = randomBytes(16);
  const req = parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer, { nonce }));
  const good = readOcspResponse(await answer(f, req, "good", { delegated: false }), f.userDer, f.ca.issuingDer, { nonce, now: NOW });
  assert.equal(good.status, "good");
  assert.equal(good.thisUpdate.getTime(), Math.floor(NOW.getTime() / 1000) * 1000);
  assert.ok(good.nextUpdate);
  const revoked = readOcspResponse(await answer(f, req, "revoked", { reason: "keyCompromise" }), f.userDer, f.ca.issuingDer, { nonce, now: NOW });
  assert.deepEqual({ status: revoked.status, reason: revoked.reason, at: revoked.revokedAt?.toISOString() }, { status: "revoked", reason: "keyCompromise", at: "2026-01-02T03:04:05.000Z" });
  const plain = readOcspResponse(await answer(f, req, "revoked"), f.userDer, f.ca.issuingDer, { nonce, now: NOW });
  assert.equal(plain.reason, undefined);
  assert.equal(readOcspResponse(await answer(f, req, "unknown"), f.userDer, f.ca.issuingDer, { nonce, now: NOW }).status, "unknown");
});

test("the client half refuses wrong nonce, missing nonce, stale answers, other certificates, unauthorised signers, errors", async () => {
  const f = await setup();
  const nonce = randomBytes(16);
  const req = parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer, { nonce }));
  const resp = await answer(f, req, "good");
  assert.throws(() => readOcspResponse(resp, f.userDer, f.ca.issuingDer, { nonce: randomBytes(16), now: NOW }), code("OCSP_RESPONSE_INVALID"));
  const noNonce = await answer(f, req, "good", { nonce: false });
  assert.throws(() => readOcspResponse(noNonce, f.userDer, f.ca.issuingDer, { nonce, now: NOW }), code("OCSP_RESPONSE_INVALID"));
  // A pre-signed answer carries no nonce (RFC 8954 2.1): accepted when the caller allows it; another nonce never is.
  assert.equal(readOcspResponse(noNonce, f.userDer, f.ca.issuingDer, { nonce, now: NOW, nonceOptional: true }).status, "good");
  assert.throws(() => readOcspResponse(resp, f.userDer, f.ca.issuingDer, { nonce: randomBytes(16), now: NOW, nonceOptional: true }), code("OCSP_RESPONSE_INVALID"));
  // Without a nonce of ours, the same answer is fine; a week later it is stale.
  assert.equal(readOcspResponse(resp, f.userDer, f.ca.issuingDer, { now: NOW }).status, "good");
  assert.throws(() => readOcspResponse(resp, f.userDer, f.ca.issuingDer, { now: new Date(NOW.getTime() + 7 * DAY) }), code("OCSP_RESPONSE_INVALID"));
  assert.throws(() => readOcspResponse(resp, f.userDer, f.ca.issuingDer, { now: new Date(NOW.getTime() - DAY) }), code("OCSP_RESPONSE_INVALID"));

  // An answer about another certificate.
  const other = await issueClientCert(f.ca, { publicKey: (await generateKeyPair()).publicKey, commonName: "u2", notBefore: NOW, notAfter: new Date(NOW.getTime() + DAY) });
  assert.throws(() => readOcspResponse(resp, other, f.ca.issuingDer, { now: NOW }), code("OCSP_RESPONSE_INVALID"));

  // A responder certificate without id-kp-OCSPSigning (a client certificate of the same CA).
  const key = await generateKeyPair();
  const spki = spkiDer(key.publicKey);
  const notOcsp = await signEncoded({
    serial: randomSerial(), subject: encode(buildName({ commonName: "not a responder" })), issuer: encode(certificateSubject(f.ca.issuingDer)),
    notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + DAY), spki,
    extensions: clientExtensions({ spki, keyKind: key.kind, issuerKeyId: keyIdentifier(certificateSpki(f.ca.issuingDer)), urls: {} }).map(encode),
  }, keyObjectSigner(f.ca.issuingKey.privateKey));
  const forged = await buildOcspResponse({
    signer: keyObjectSigner(key.privateKey), responderCertDer: notOcsp, includeResponderCert: true, producedAt: NOW,
    responses: req.certIds.map((certId) => ({ certId, status: "good", thisUpdate: NOW })),
  });
  assert.throws(() => readOcspResponse(forged, f.userDer, f.ca.issuingDer, { now: NOW }), code("OCSP_RESPONSE_INVALID"));
  // A responder certificate from another CA.
  const otherCa = await makeTestCa();
  const stranger = await generateKeyPair();
  const strangerDer = await issueOcspResponderCert({ issuingCertDer: otherCa.issuingDer, issuingSigner: keyObjectSigner(otherCa.issuingKey.privateKey), publicKey: stranger.publicKey, now: NOW, validityDays: 30 });
  const foreign = await buildOcspResponse({
    signer: keyObjectSigner(stranger.privateKey), responderCertDer: strangerDer, includeResponderCert: true, producedAt: NOW,
    responses: req.certIds.map((certId) => ({ certId, status: "good", thisUpdate: NOW })),
  });
  assert.throws(() => readOcspResponse(foreign, f.userDer, f.ca.issuingDer, { now: NOW }), code("OCSP_RESPONSE_INVALID"));
  // A tampered answer.
  const tampered = Buffer.from(resp);
  tampered[tampered.length - 5] = (tampered[tampered.length - 5] ?? 0) ^ 1;
  assert.throws(() => readOcspResponse(tampered, f.userDer, f.ca.issuingDer, { now: NOW }), code("OCSP_RESPONSE_INVALID"));
  // Unsuccessful statuses and garbage.
  assert.throws(() => readOcspResponse(ocspErrorResponse("tryLater"), f.userDer, f.ca.issuingDer, { now: NOW }), /tryLater/);
  assert.throws(() => readOcspResponse(Buffer.from("garbage"), f.userDer, f.ca.issuingDer, { now: NOW }), code("OCSP_RESPONSE_INVALID"));
});

test("malformed requests are OCSP_REQUEST_MALFORMED; error responses are the RFC 6960 bytes", () => {
  for (const bad of [Buffer.alloc(0), Buffer.from("GET / HTTP/1.1"), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), Buffer.from([0x30, 0x80]), randomBytes(200)]) {
    assert.throws(() => parseOcspRequest(bad), code("OCSP_REQUEST_MALFORMED"), bad.toString("hex"));
  }
  assert.equal(ocspErrorResponse("malformedRequest").toString("hex"), "30030a0101");
  assert.equal(ocspErrorResponse("internalError").toString("hex"), "30030a0102");
  assert.equal(ocspErrorResponse("tryLater").toString("hex"), "30030a0103");
  assert.equal(ocspErrorResponse("unauthorized").toString("hex"), "30030a0106");
});

test("OpenSSL: its requests parse (with and without nonce), it accepts our answers (delegated and by the CA)", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const f = await setup();
  const dir = tempDir();
  try {
    const p = (n: string): string => join(dir, n);
    writeFileSync(p("issuing.pem"), toPem(f.ca.issuingDer, "CERTIFICATE"));
    writeFileSync(p("root.pem"), toPem(f.ca.rootDer, "CERTIFICATE"));
    writeFileSync(p("user.pem"), toPem(f.userDer, "CERTIFICATE"));
    for (const nonce of [true, false]) {
      const r = await run("openssl", ["ocsp", "-issuer", p("issuing.pem"), "-cert", p("user.pem"), "-reqout", p("req.der"), ...(nonce ? [] : ["-no_nonce"])]);
      assert.equal(r.code, 0, r.stderr);
      const req = parseOcspRequest(readFileSync(p("req.der")));
      assert.equal(req.certIds[0]?.serialHex, readCertificate(f.userDer).serialHex);
      assert.equal(req.nonce !== undefined, nonce);
      for (const [status, delegated] of [["good", true], ["revoked", true], ["good", false], ["unknown", false]] as const) {
        writeFileSync(p("resp.der"), await answer(f, req, status, { delegated, reason: "keyCompromise" }));
        // With -reqin openssl checks the nonce against that request (given -cert it would make a new one).
        const v = await run("openssl", ["ocsp", "-reqin", p("req.der"), "-respin", p("resp.der"), "-resp_text", "-CAfile", p("root.pem"), "-verify_other", p("issuing.pem")]);
        const outText = v.stdout + v.stderr;
        assert.match(outText, /Response verify OK/, outText);
        assert.match(outText, new RegExp(`Cert Status: ${status}`), outText);
        if (status === "revoked") assert.match(outText, /Revocation Reason: keyCompromise/, outText);
        if (nonce) assert.match(outText, /OCSP Nonce/, outText);
        // With -cert it prints the status line relying parties read.
        const c = await run("openssl", ["ocsp", "-no_nonce", "-respin", p("resp.der"), "-issuer", p("issuing.pem"), "-cert", p("user.pem"), "-CAfile", p("root.pem"), "-verify_other", p("issuing.pem")]);
        assert.match(c.stdout, new RegExp(`user\\.pem: ${status}`), c.stdout + c.stderr);
        assert.doesNotMatch(outText, /nonce verify error/i, outText);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a nonce longer than 32 octets is not echoed (RFC 8954 2.1): the request is answered without it", async () => {
  const f = await setup();
  const req = parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer, { nonce: randomBytes(64) }));
  assert.equal(req.certIds.length, 1);
  assert.equal(req.nonce, undefined);
  assert.equal(parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer, { nonce: randomBytes(32) })).nonce?.length, 34);
});

test("the responder certificate copies the issuing CA's subject (an organisation with a comma too), CN ending in OCSP Responder", async () => {
  const ca = await makeTestCa({ organization: "Example, Inc. 例株式会社" });
  const responder = await generateKeyPair();
  const der = await issueOcspResponderCert({
    issuingCertDer: ca.issuingDer, issuingSigner: keyObjectSigner(ca.issuingKey.privateKey), publicKey: responder.publicKey, now: NOW, validityDays: 30,
  });
  const subject = certificateSubject(der);
  const values = (oid: string): string[] => [...subject].flatMap((rdn) => [...rdn].filter((a) => a.type === oid).map((a) => a.value.toString()));
  assert.deepEqual(values("2.5.4.10"), ["Example, Inc. 例株式会社"]);
  const cn = values("2.5.4.3");
  assert.equal(cn.length, 1);
  assert.match(cn[0] ?? "", / OCSP Responder$/);
  assert.equal(readCertificate(der).commonName, cn[0]);
});

test("the pre-signer's direct DER encoding gives the same bytes as buildOcspResponse (good, revoked with and without reason, unknown; SHA-1, SHA-256; serials with a leading zero byte)", async () => {
  const f = await setup();
  // A signer whose signature is fixed, so whole responses compare byte for byte.
  const signer = { ...f.responderSigner, sign: (data: Uint8Array) => Promise.resolve(createHash("sha256").update(data).digest()) };
  const input = { signer, responderCertDer: f.responderDer, includeResponderCert: true, extraCerts: [f.ca.issuingDer] };
  const t = responderTemplate(input);
  const hashes = issuerHashes(f.ca.issuingDer);
  const thisUpdate = new Date("2026-12-04T21:00:00.789Z");
  const nextUpdate = new Date(thisUpdate.getTime() + 96 * 3_600_000);
  for (const serial of ["7b62bad7b95c35fc", "80", "01", "ff00ff00ff00ff00ff00ff00ff00ff00"]) {
    for (const hash of ["sha1", "sha256"] as const) {
      const certId = certIdFor(hashes, hash, serial);
      const cases: OcspSingleStatus[] = [
        { certId, status: "good", thisUpdate, nextUpdate },
        { certId, status: "revoked", revokedAt: new Date("2026-01-02T03:04:05.678Z"), reason: "keyCompromise", thisUpdate, nextUpdate },
        { certId, status: "revoked", revokedAt: new Date("2026-01-02T03:04:05Z"), thisUpdate, nextUpdate },
        { certId, status: "revoked", revokedAt: new Date("2026-01-02T03:04:05Z"), reason: "aACompromise", thisUpdate },
        { certId, status: "unknown", thisUpdate, nextUpdate },
      ];
      for (const r of cases) {
        const slow = await buildOcspResponse({ ...input, producedAt: thisUpdate, responses: [r] });
        assert.deepEqual(await buildOcspResponseFast(t, thisUpdate, r), slow, `${serial} ${hash} ${r.status} ${r.reason ?? ""}`);
      }
      // And it is read back as asked.
      assert.equal(parseOcspRequest(buildOcspRequest(f.userDer, f.ca.issuingDer, { hash })).certIds[0]?.hashAlgorithm, certIdFor(hashes, hash, "01").hashAlgorithm);
    }
  }
  assert.deepEqual(t.notAfter, readCertificate(f.responderDer).notAfter);
});
