/**
 * The hot path's OCSP request reader (ocsp_quick.ts) reads what the full parser reads: on real
 * requests (OpenSSL's, ours; SHA-1 and SHA-256 CertIDs; with and without nonce), and on
 * thousands of mutations of them — whenever it accepts one, parseOcspRequest() accepts it too
 * and sees the same CertID and nonce; what it declines is left to parseOcspRequest().
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { makeTestCa, issueClientCert, DAY } from "../../test/helpers/client_pki.js";
import { needs } from "../../test/helpers/tools.js";
import { run } from "../../test/helpers/run.js";
import { tempDir } from "../../test/helpers/ca.js";
import { generateKeyPair } from "./keys.js";
import { buildOcspRequest, certIdFor, issuerHashes, parseOcspRequest, PRESIGNED_HASHES } from "./ocsp.js";
import { readOcspRequestQuick } from "./ocsp_quick.js";
import { toPem } from "./pem.js";
import { tlv } from "./der.js";

/** Asserts the quick reader either declines `der` or reads exactly what parseOcspRequest() reads. */
function agrees(der: Uint8Array, what: string): "read" | "declined" {
  const quick = readOcspRequestQuick(der);
  if (!quick) return "declined";
  let full: ReturnType<typeof parseOcspRequest>;
  try {
    full = parseOcspRequest(der);
  } catch (e) {
    assert.fail(`${what}: the quick reader accepted what parseOcspRequest refuses (${e instanceof Error ? e.message : String(e)}): ${Buffer.from(der).toString("hex")}`);
  }
  assert.equal(full.certIds.length, 1, what);
  const id = full.certIds[0] ?? assert.fail("no CertID");
  assert.equal(id.hashAlgorithm, PRESIGNED_HASHES[quick.hash], what);
  assert.deepEqual(id.issuerNameHash, quick.issuerNameHash, what);
  assert.deepEqual(id.issuerKeyHash, quick.issuerKeyHash, what);
  assert.equal(id.serialHex, quick.serialHex, what);
  assert.deepEqual(full.nonce, quick.nonce, what);
  return "read";
}

async function fixture(): Promise<{ issuingDer: Buffer; userDer: Buffer; rootDer: Buffer }> {
  const ca = await makeTestCa();
  const now = new Date();
  const userDer = await issueClientCert(ca, { publicKey: (await generateKeyPair()).publicKey, commonName: "u", notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  return { issuingDer: ca.issuingDer, userDer, rootDer: ca.rootDer };
}

/** A request with one CertID (SHA-1 or SHA-256, as our pre-signer writes them) and optionally a nonce extension. */
function sha256Request(issuingDer: Buffer, serialHex: string, nonce?: Buffer): Buffer {
  const certId = certIdFor(issuerHashes(issuingDer), "sha256", serialHex).der;
  const nonceOid = Buffer.from("06092b0601050507300102", "hex");
  const exts = nonce ? [tlv(0xa2, tlv(0x30, tlv(0x30, nonceOid, tlv(0x04, tlv(0x04, nonce)))))] : [];
  return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certId)), ...exts));
}

test("OpenSSL's requests (SHA-1 and SHA-256 CertIDs, with and without nonce) and ours read the same as with the full parser", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const f = await fixture();
  const dir = tempDir();
  try {
    const p = (n: string): string => join(dir, n);
    writeFileSync(p("issuing.pem"), toPem(f.issuingDer, "CERTIFICATE"));
    writeFileSync(p("user.pem"), toPem(f.userDer, "CERTIFICATE"));
    const samples: [string, Buffer][] = [];
    for (const hash of ["-sha1", "-sha256"]) {
      for (const nonce of [true, false]) {
        const r = await run("openssl", ["ocsp", hash, "-issuer", p("issuing.pem"), "-cert", p("user.pem"), "-reqout", p("req.der"), ...(nonce ? [] : ["-no_nonce"])]);
        assert.equal(r.code, 0, r.stderr);
        samples.push([`openssl ${hash} nonce=${String(nonce)}`, readFileSync(p("req.der"))]);
      }
    }
    samples.push(["ours", buildOcspRequest(f.userDer, f.issuingDer)], ["ours with nonce", buildOcspRequest(f.userDer, f.issuingDer, { nonce: randomBytes(16) })]);
    for (const [what, der] of samples) {
      assert.equal(agrees(der, what), "read", `${what}: the quick reader declined a common request`);
      const q = readOcspRequestQuick(der) ?? assert.fail(what);
      assert.equal(q.hash, what.includes("sha256") ? "sha256" : "sha1", what);
      assert.equal(q.nonce !== undefined, what.includes("nonce=true") || what === "ours with nonce", what);
    }
    // Two certificates in one request: declined (the full path answers several).
    const two = await run("openssl", ["ocsp", "-issuer", p("issuing.pem"), "-cert", p("user.pem"), "-cert", p("user.pem"), "-reqout", p("two.der")]);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(agrees(readFileSync(p("two.der")), "two CertIDs"), "declined");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("on mutations of real requests the quick reader never reads anything the full parser reads otherwise or refuses", async () => {
  const f = await fixture();
  const serial = "00c0ffee";
  const bases = [
    buildOcspRequest(f.userDer, f.issuingDer), buildOcspRequest(f.userDer, f.issuingDer, { nonce: randomBytes(16) }),
    sha256Request(f.issuingDer, "c0ffee"), sha256Request(f.issuingDer, "7f", randomBytes(32)), sha256Request(f.issuingDer, "80", randomBytes(40)),
  ];
  // Serials as the database holds them (no leading zero byte), also where DER needs one.
  assert.equal(readOcspRequestQuick(sha256Request(f.issuingDer, "80"))?.serialHex, "80");
  assert.equal(readOcspRequestQuick(sha256Request(f.issuingDer, serial))?.serialHex, "c0ffee");
  // Nonces over 32 octets are not echoed, as the full parser decides (RFC 8954 2.1).
  assert.equal(readOcspRequestQuick(sha256Request(f.issuingDer, "80", randomBytes(40)))?.nonce, undefined);
  let read = 0;
  let declined = 0;
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const base of bases) {
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(base);
      const kind = rand(4);
      if (kind === 0) m[rand(m.length)] = rand(256);
      else if (kind === 1) {
        const at = rand(m.length);
        m[at] = (m[at] ?? 0) ^ (1 << rand(8));
      } else if (kind === 2) {
        const at = rand(m.length);
        m[at] = (m[at] ?? 0) + (rand(2) ? 1 : -1);
      } else {
        const cut = rand(m.length);
        const out = Buffer.concat([m.subarray(0, cut), m.subarray(cut + 1)]);
        if (agrees(out, `deletion at ${cut}`) === "read") read++;
        else declined++;
        continue;
      }
      if (agrees(m, `mutation ${i}`) === "read") read++;
      else declined++;
    }
  }
  // Both outcomes happen (mutations of hash bytes and serials are read, broken structure is declined).
  assert.ok(read > 100 && declined > 100, `read ${read}, declined ${declined}`);
});
