/**
 * Revocation status as relying parties see it, with the real CLIs as child processes: a
 * certificate from `shomei enroll` names the OCSP and CRL URLs of `shomei-ca serve`'s plain-HTTP
 * listener; `openssl ocsp` says good, then — after `shomei-ca cert revoke` in another process —
 * revoked with its reason; the CRL from the certificate's distribution point makes
 * `openssl verify -crl_check` reject it while another user's certificate still verifies; the
 * portal refuses it. Malformed requests get malformedRequest and the service keeps serving.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type AddressInfo } from "node:net";
import { editConfig, initCa, serve, tempDir, type Served, type TestCa } from "../helpers/ca.js";
import { enrollUser, type Enrolled } from "../helpers/enrolled.js";
import { run, shomeiCa } from "../helpers/run.js";
import { needs } from "../helpers/tools.js";
import { Browserish } from "../helpers/portal.js";
import { fromPem } from "../../src/pki/pem.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { makeTestCa, issueClientCert, DAY } from "../helpers/client_pki.js";
import { generateKeyPair } from "../../src/pki/keys.js";
import { crlShardOf } from "../../src/pki/crl_shard.js";
import { INIT_CRL_SHARDS } from "../../src/server/config.js";

let ca: TestCa | undefined;
let srv: Served | undefined;
const work = tempDir();

before(async () => {
  ca = await initCa();
  // Revocations made by another process are picked up every second (the default is five), and the full CRL follows the shards a second later.
  editConfig(ca.dir, (config) => ({
    revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 1, ocspCacheSeconds: 300 },
    crl: { ...(config.crl as object), fullCrlSeconds: 1 },
  }));
  srv = await serve(ca.dir);
});
after(async () => {
  await srv?.stop();
  ca?.cleanup();
});

function enroll(userId: string): Promise<Enrolled> {
  assert.ok(ca && srv);
  return enrollUser(ca, srv.url, work, userId);
}

/** openssl ocsp against the URL the certificate itself names; its stdout and stderr. */
async function ocsp(u: Enrolled, url: string, extra: readonly string[] = []): Promise<string> {
  assert.ok(ca);
  const r = await run("openssl", ["ocsp", "-issuer", ca.issuingPem, "-cert", u.certPath, "-url", url, "-CAfile", ca.rootPem, "-verify_other", ca.issuingPem, ...extra]);
  return r.stdout + r.stderr;
}

async function certText(path: string): Promise<string> {
  return (await run("openssl", ["x509", "-in", path, "-noout", "-text"])).stdout;
}

async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("good, then revoked by `shomei-ca cert revoke` in another process: OCSP (GET and POST, nonce or not), the CRL, openssl verify, the portal", async (t) => {
  if (!(await needs(t, "openssl")) || !(await needs(t, "curl"))) return;
  assert.ok(ca && srv);
  const alice = await enroll("a0000961");
  const bob = await enroll("a0000962");

  // The certificate names the publication listener: AIA OCSP + caIssuers, CRL distribution point.
  const text = await certText(alice.certPath);
  const ocspUrl = /OCSP - URI:(\S+)/.exec(text)?.[1];
  const crlUrl = /URI:(\S+\.crl)/.exec(text)?.[1];
  const caIssuers = /CA Issuers - URI:(\S+)/.exec(text)?.[1];
  assert.equal(ocspUrl, srv.ocspUrl);
  // A new CA has 16 CRL shards: the certificate names its own (the serial's last octet mod 16).
  assert.equal(crlUrl, srv.crlUrl.replace(/\.crl$/, `-${crlShardOf(alice.serial, INIT_CRL_SHARDS)}.crl`));
  assert.ok(caIssuers);
  const issuing = await run("curl", ["-sf", caIssuers]);
  assert.equal(issuing.code, 0);

  // Good, with a nonce (openssl's default) and without; openssl POSTs, the GET form is checked below.
  // With a nonce the pre-signed answer comes back without it (RFC 8954 2.1): OpenSSL warns and accepts.
  const good = await until("the pre-signed answer", async () => {
    const out = await ocsp(alice, ocspUrl);
    return /WARNING: no nonce in response/.test(out) ? out : undefined;
  });
  assert.match(good, /Response verify OK/, good);
  assert.match(good, /cert\.pem: good/, good);
  const goodNoNonce = await ocsp(alice, ocspUrl, ["-no_nonce"]);
  assert.match(goodNoNonce, /cert\.pem: good/, goodNoNonce);

  // Portal: the certificate logs in.
  const portalUrl = /^Portal: (\S+?)\/?$/m.exec(srv.output())?.[1];
  assert.ok(portalUrl);
  const rootPem = readFileSync(ca.rootPem, "utf8");
  const tab = new Browserish(portalUrl, rootPem, { certPem: readFileSync(alice.certPath, "utf8"), keyPem: readFileSync(alice.keyPath, "utf8") });
  assert.equal((await tab.login(alice.userId, alice.password)).status, 303);

  // Revoked by the operator's command, a process of its own.
  const r = await shomeiCa(["cert", "revoke", alice.serial, "--reason", "keyCompromise", "--data", ca.dir]);
  assert.equal(r.code, 0, r.stderr);

  // OCSP reflects it within revocation.checkSeconds (1 s here: the supervisor signs the answer
  // again), with and without nonce, by POST and by GET.
  const revoked = await until("OCSP to say revoked", async () => {
    const out = await ocsp(alice, ocspUrl);
    return /cert\.pem: revoked/.test(out) ? out : undefined;
  });
  assert.match(revoked, /Response verify OK/, revoked);
  assert.match(revoked, /cert\.pem: revoked/, revoked);
  assert.match(revoked, /Reason: keyCompromise/, revoked);
  assert.match(await ocsp(alice, ocspUrl, ["-no_nonce"]), /cert\.pem: revoked/);
  const req = buildOcspRequest(fromPem(readFileSync(alice.certPath, "utf8"), "CERTIFICATE"), fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE"));
  const get = await fetch(`${ocspUrl}/${encodeURIComponent(req.toString("base64"))}`);
  assert.equal(get.headers.get("content-type"), "application/ocsp-response");
  const answer = readOcspResponse(Buffer.from(await get.arrayBuffer()), fromPem(readFileSync(alice.certPath, "utf8"), "CERTIFICATE"),
    fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE"), { now: new Date() });
  assert.deepEqual([answer.status, answer.reason], ["revoked", "keyCompromise"]);
  assert.match(await ocsp(bob, ocspUrl), /cert\.pem: good/);

  // The CRL shard at the certificate's distribution point lists it once the publisher has read it.
  const fetchCrl = async (url: string, name: string): Promise<{ der: string; pem: string; text: string }> => {
    const der = join(work, `${name}.crl`);
    const pem = join(work, `${name}.pem`);
    const c = await run("curl", ["-sf", "-o", der, url]);
    assert.equal(c.code, 0, c.stderr);
    const text = (await run("openssl", ["crl", "-inform", "DER", "-in", der, "-noout", "-text"])).stdout;
    assert.equal((await run("openssl", ["crl", "-inform", "DER", "-in", der, "-out", pem])).code, 0);
    return { der, pem, text };
  };
  const listed = (text: string, serial: string): boolean => text.toUpperCase().includes(serial.toUpperCase());
  const shard = await until("the CRL shard to list the revocation", async () => {
    const c = await fetchCrl(crlUrl, "alice-shard");
    return listed(c.text, alice.serial) ? c : undefined;
  });
  assert.match(shard.text, /Issuing Distribution Point: critical/, shard.text);
  assert.match(shard.text, new RegExp(`URI:${crlUrl.replace(/[.?*+^$[\]\\(){}|-]/g, "\\$&")}`), shard.text);
  assert.match(shard.text, /Only User Certificates/, shard.text);
  const chain = join(work, "chain.pem");
  writeFileSync(chain, readFileSync(ca.rootPem, "utf8") + readFileSync(ca.issuingPem, "utf8"));
  const rejected = await run("openssl", ["verify", "-crl_check", "-CRLfile", shard.pem, "-CAfile", chain, alice.certPath]);
  assert.notEqual(rejected.code, 0);
  assert.match(rejected.stdout + rejected.stderr, /certificate revoked/);
  // Bob's certificate, with the shard its own distribution point names: accepted.
  const bobUrl = /URI:(\S+\.crl)/.exec(await certText(bob.certPath))?.[1];
  assert.ok(bobUrl);
  const bobShard = await fetchCrl(bobUrl, "bob-shard");
  const accepted = await run("openssl", ["verify", "-crl_check", "-CRLfile", bobShard.pem, "-CAfile", chain, bob.certPath]);
  assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);

  // The full CRL at the old URL lists it too (re-signed after fullCrlSeconds, a second here), and has no distribution point of its own.
  const full = await until("the full CRL to list the revocation", async () => {
    const c = await fetchCrl(srv?.crlUrl ?? "", "full");
    return listed(c.text, alice.serial) ? c : undefined;
  });
  assert.doesNotMatch(full.text, /Issuing Distribution Point/);
  const fullRejects = await run("openssl", ["verify", "-crl_check", "-CRLfile", full.pem, "-CAfile", chain, alice.certPath]);
  assert.match(fullRejects.stdout + fullRejects.stderr, /certificate revoked/);
  const fullAccepts = await run("openssl", ["verify", "-crl_check", "-CRLfile", full.pem, "-CAfile", chain, bob.certPath]);
  assert.equal(fullAccepts.code, 0, fullAccepts.stdout + fullAccepts.stderr);

  // The portal refuses the revoked certificate at the next login.
  const next = new Browserish(portalUrl, rootPem, { certPem: readFileSync(alice.certPath, "utf8"), keyPem: readFileSync(alice.keyPath, "utf8") });
  assert.equal(Browserish.errorCode(await next.get("/")), "CERT_REVOKED");
});

test("malformed requests get malformedRequest and the service keeps serving; another issuer or an unknown serial: unknown", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  assert.ok(ca && srv);
  const ocspUrl = srv.ocspUrl;
  const malformed = "30030a0101";
  const garbage = await fetch(ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: "not DER at all" });
  assert.equal(garbage.status, 200);
  assert.equal(Buffer.from(await garbage.arrayBuffer()).toString("hex"), malformed);
  const badB64 = await fetch(`${ocspUrl}/${encodeURIComponent("%%%not base64!!")}`);
  assert.equal(Buffer.from(await badB64.arrayBuffer()).toString("hex"), malformed);
  const empty = await fetch(`${ocspUrl}/`);
  assert.equal(Buffer.from(await empty.arrayBuffer()).toString("hex"), malformed);
  const tooBig = await fetch(ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: Buffer.alloc(100_000, 0x30) });
  assert.equal(Buffer.from(await tooBig.arrayBuffer()).toString("hex"), malformed);
  const wrongType = await fetch(ocspUrl, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
  assert.equal(Buffer.from(await wrongType.arrayBuffer()).toString("hex"), malformed);

  // Another CA's certificate, and a serial this CA never issued.
  const other = await makeTestCa();
  const stranger = await issueClientCert(other, { publicKey: (await generateKeyPair()).publicKey, commonName: "x", notBefore: new Date(), notAfter: new Date(Date.now() + DAY) });
  const issuingDer = fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE");
  const ask = async (certDer: Buffer, issuerDer: Buffer): Promise<Buffer> => {
    const r = await fetch(ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: buildOcspRequest(certDer, issuerDer) });
    return Buffer.from(await r.arrayBuffer());
  };
  // Asked about the other issuer: the answer (signed by our responder) says unknown; our client
  // half refuses it since it is not signed for that issuer, so read it with openssl.
  const foreign = await ask(stranger, other.issuingDer);
  writeFileSync(join(work, "foreign.der"), foreign);
  const shown = await run("openssl", ["ocsp", "-respin", join(work, "foreign.der"), "-resp_text", "-noverify"]);
  assert.match(shown.stdout, /Cert Status: unknown/, shown.stdout + shown.stderr);
  // Same issuer name hash but a serial we never issued (a certificate signed with our hashes).
  const unknownSerial = await issueClientCert(other, { publicKey: (await generateKeyPair()).publicKey, commonName: "y", notBefore: new Date(), notAfter: new Date(Date.now() + DAY) });
  const reqUnknown = buildOcspRequest(unknownSerial, issuingDer);
  const u = await fetch(ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: reqUnknown });
  assert.equal(readOcspResponse(Buffer.from(await u.arrayBuffer()), unknownSerial, issuingDer, { now: new Date() }).status, "unknown");

  // Still serving.
  const crl = await fetch(srv.crlUrl);
  assert.equal(crl.status, 200);
  assert.equal(crl.headers.get("content-type"), "application/pkix-crl");
});

test("the publication port in use: serve stops with PORT_IN_USE naming --http-port and publication.port", async () => {
  assert.ok(ca);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  try {
    const taken = (blocker.address() as AddressInfo).port;
    const r = await shomeiCa(["serve", "--data", ca.dir, "--port", "0", "--http-port", String(taken)], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /\[PORT_IN_USE\]/);
    assert.match(r.stderr, new RegExp(`Port ${taken} is already in use`));
    assert.match(r.stderr, /--http-port/);
    assert.match(r.stderr, /publication\.port/);
    assert.doesNotMatch(r.stdout, /^OCSP: /m, "nothing is announced that does not listen");
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});
