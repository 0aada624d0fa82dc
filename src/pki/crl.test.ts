/** CRLs: round trip, canonical DER, and what OpenSSL makes of them (parse, signature, revocation checks). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { verify as nodeVerify } from "node:crypto";
import { writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList, TBSCertList } from "@peculiar/asn1-x509";
import { buildCrl, buildCrlFromEncoded, encodeCrlEntry, readCrl, type CrlEntry } from "./crl.js";
import { readCertificate, certificateSubject, encode } from "./certificate.js";
import { generateKeyPair, keyObjectSigner } from "./keys.js";
import { toPem } from "./pem.js";
import { randomSerial, serialHex } from "./serial.js";
import { nameToString } from "./names.js";
import { ShomeiError } from "../i18n/errors.js";
import { makeTestCa, issueClientCert, DAY, type TestCa } from "../../test/helpers/client_pki.js";
import { needs } from "../../test/helpers/tools.js";
import { run } from "../../test/helpers/run.js";
import { tempDir } from "../../test/helpers/ca.js";

const MINUTE = 60_000;

let caPromise: Promise<TestCa> | undefined;
const testCa = (): Promise<TestCa> => (caPromise ??= makeTestCa());

function header(ca: TestCa, now = new Date()): { issuerDer: Buffer; signer: ReturnType<typeof keyObjectSigner>; thisUpdate: Date; nextUpdate: Date; crlNumber: bigint } {
  return {
    issuerDer: ca.issuingDer,
    signer: keyObjectSigner(ca.issuingKey.privateKey),
    thisUpdate: new Date(now.getTime() - MINUTE),
    nextUpdate: new Date(now.getTime() + 7 * DAY),
    crlNumber: 42n,
  };
}

/** The tbsCertList bytes of a CRL (its first element). */
function tbsOf(der: Buffer): Buffer {
  const lengthOf = (at: number): { start: number; length: number } => {
    const first = der[at + 1] ?? 0;
    if (first < 0x80) return { start: at + 2, length: first };
    const n = first & 0x7f;
    return { start: at + 2 + n, length: der.subarray(at + 2, at + 2 + n).reduce((a, b) => a * 256 + b, 0) };
  };
  const tbs = lengthOf(lengthOf(0).start);
  return der.subarray(lengthOf(0).start, tbs.start + tbs.length);
}

test("buildCrl / readCrl round trip, canonical DER, issuer byte-identical, signature verifies", async () => {
  const ca = await testCa();
  const h = header(ca, new Date("2026-03-01T10:00:00.500Z"));
  const entries: CrlEntry[] = [
    { serialHex: "4a1b2c3d4e5f60718293a4b5c6d7e8f9", revokedAt: new Date("2026-02-01T00:00:00.999Z"), reason: "keyCompromise" },
    { serialHex: "01", revokedAt: new Date("2026-02-02T00:00:00Z") },
    { serialHex: "ff", revokedAt: new Date("2026-02-03T00:00:00Z"), reason: "unspecified" },
    { serialHex: "0080", revokedAt: new Date("2050-01-01T00:00:00Z"), reason: "superseded" },
    { serialHex: "abc", revokedAt: new Date("2026-02-04T00:00:00Z"), reason: "aACompromise" },
  ];
  const der = await buildCrl({ ...h, crlNumber: (1n << 100n) + 7n, entries });
  const info = readCrl(der);

  assert.equal(info.issuer, nameToString(certificateSubject(ca.issuingDer)));
  assert.equal(info.thisUpdate.toISOString(), "2026-03-01T09:59:00.000Z");
  assert.equal(info.nextUpdate?.toISOString(), new Date(Math.floor(h.nextUpdate.getTime() / 1000) * 1000).toISOString());
  assert.equal(info.crlNumber, (1n << 100n) + 7n);
  assert.deepEqual(info.entries.map((e) => ({ ...e, revokedAt: e.revokedAt.toISOString() })), [
    { serialHex: "4a1b2c3d4e5f60718293a4b5c6d7e8f9", revokedAt: "2026-02-01T00:00:00.000Z", reason: "keyCompromise" },
    { serialHex: "01", revokedAt: "2026-02-02T00:00:00.000Z" },
    { serialHex: "ff", revokedAt: "2026-02-03T00:00:00.000Z" },
    { serialHex: "80", revokedAt: "2050-01-01T00:00:00.000Z", reason: "superseded" },
    { serialHex: "0abc", revokedAt: "2026-02-04T00:00:00.000Z", reason: "aACompromise" },
  ]);

  // v2, issuer bytes = the CA's subject bytes, and asn1-schema re-encodes the TBS identically.
  const tbs = tbsOf(der);
  const parsed = AsnConvert.parse(tbs, TBSCertList);
  assert.equal(parsed.version, 1);
  assert.deepEqual(encode(parsed.issuer), encode(certificateSubject(ca.issuingDer)));
  assert.deepEqual(Buffer.from(AsnConvert.serialize(parsed)), tbs);
  const whole = AsnConvert.parse(der, CertificateList);
  assert.deepEqual(Buffer.from(AsnConvert.serialize(new CertificateList({ tbsCertList: parsed, signatureAlgorithm: whole.signatureAlgorithm, signature: whole.signature }))), der);
  assert.ok(nodeVerify("sha256", tbs, { key: ca.issuingKey.publicKey, dsaEncoding: "der" }, Buffer.from(whole.signature)));

  // Pre-encoded entries give the same bytes (ECDSA signatures differ, so compare the TBS).
  const again = await buildCrlFromEncoded({ ...h, crlNumber: (1n << 100n) + 7n }, entries.map(encodeCrlEntry));
  assert.deepEqual(tbsOf(again), tbs);
});

test("entry times match toISOString from 1950 to 9999 (UTCTime until 2049, GeneralizedTime after)", () => {
  const expected = (d: Date): string => {
    const iso = new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString();
    const rest = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + "Z";
    return d.getUTCFullYear() <= 2049 ? `17 ${iso.slice(2, 4)}${rest}` : `18 ${iso.slice(0, 4)}${rest}`;
  };
  const dates = ["1950-01-01T00:00:00Z", "1999-12-31T23:59:59.999Z", "2000-02-29T12:00:00Z", "2049-12-31T23:59:59Z", "2050-01-01T00:00:00Z", "2100-03-01T00:00:00Z", "9999-12-31T23:59:59Z"].map((s) => new Date(s));
  for (let i = 0; i < 20_000; i++) dates.push(new Date(-631_152_000_000 + Math.floor(Math.random() * (253_402_300_800_000 + 631_152_000_000))));
  for (const d of dates) {
    const der = encodeCrlEntry({ serialHex: "01", revokedAt: d });
    const time = der.subarray(5); // 30 len 02 01 01 | tag len text
    assert.equal(`${time.subarray(0, 1).toString("hex")} ${time.subarray(2).toString("latin1")}`, expected(d), d.toISOString());
    assert.equal(time[1], time.length - 2);
  }
  assert.throws(() => encodeCrlEntry({ serialHex: "01", revokedAt: new Date("1949-12-31T23:59:59Z") }), (e) => e instanceof ShomeiError && e.code === "FIELD_INVALID");
});

test("an empty CRL leaves revokedCertificates out", async () => {
  const ca = await testCa();
  const der = await buildCrl({ ...header(ca), entries: [] });
  const parsed = AsnConvert.parse(tbsOf(der), TBSCertList);
  assert.equal(parsed.revokedCertificates, undefined);
  assert.deepEqual(readCrl(der).entries, []);
  assert.equal(readCrl(der).crlNumber, 42n);
});

test("bad input is refused", async () => {
  const ca = await testCa();
  const h = header(ca);
  assert.throws(() => encodeCrlEntry({ serialHex: "xyz", revokedAt: new Date() }), (e) => e instanceof ShomeiError && e.code === "FIELD_INVALID");
  assert.throws(() => encodeCrlEntry({ serialHex: "01", revokedAt: new Date(Number.NaN) }), (e) => e instanceof ShomeiError && e.code === "FIELD_INVALID");
  assert.throws(() => encodeCrlEntry({ serialHex: "01", revokedAt: new Date(), reason: "removeFromCRL" as never }), (e) => e instanceof ShomeiError && e.code === "REASON_INVALID");
  await assert.rejects(buildCrl({ ...h, crlNumber: -1n, entries: [] }), (e) => e instanceof ShomeiError && e.code === "FIELD_INVALID");
  await assert.rejects(buildCrl({ ...h, crlNumber: 1n << 159n, entries: [] }), (e) => e instanceof ShomeiError && e.code === "FIELD_INVALID");
  await assert.rejects(buildCrl({ ...h, nextUpdate: h.thisUpdate, entries: [] }), (e) => e instanceof ShomeiError && e.code === "FIELD_INVALID");
  assert.throws(() => readCrl(Buffer.from("not a crl")), (e) => e instanceof ShomeiError && e.code === "BAD_DER");
});

test("OpenSSL reads the CRL, verifies its signature and uses it to reject a revoked certificate", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const ca = await testCa();
  const dir = tempDir("shomei-crl-");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = new Date();
  const leafKey = await generateKeyPair();
  const issue = (serial: Buffer, commonName: string): Promise<Buffer> =>
    issueClientCert(ca, { publicKey: leafKey.publicKey, commonName, notBefore: new Date(now.getTime() - MINUTE), notAfter: new Date(now.getTime() + DAY), serial });
  const revokedSerial = randomSerial();
  const goodSerial = randomSerial();
  const revokedLeaf = await issue(revokedSerial, "revoked");
  const goodLeaf = await issue(goodSerial, "good");
  assert.equal(readCertificate(revokedLeaf).serialHex, serialHex(revokedSerial));

  const others: CrlEntry[] = [
    { serialHex: "1234", revokedAt: new Date(now.getTime() - DAY), reason: "superseded" },
    { serialHex: "5678", revokedAt: new Date(now.getTime() - DAY) },
  ];
  const crl = await buildCrl({ ...header(ca, now), entries: [{ serialHex: serialHex(revokedSerial), revokedAt: new Date(now.getTime() - MINUTE), reason: "keyCompromise" }, ...others] });
  const empty = await buildCrl({ ...header(ca, now), crlNumber: 43n, entries: [] });
  const f = (name: string): string => join(dir, name);
  writeFileSync(f("crl.der"), crl);
  writeFileSync(f("crl.pem"), toPem(crl, "X509 CRL"));
  writeFileSync(f("empty.der"), empty);
  writeFileSync(f("empty.pem"), toPem(empty, "X509 CRL"));
  writeFileSync(f("root.pem"), toPem(ca.rootDer, "CERTIFICATE"));
  writeFileSync(f("issuing.pem"), toPem(ca.issuingDer, "CERTIFICATE"));
  writeFileSync(f("revoked.pem"), toPem(revokedLeaf, "CERTIFICATE"));
  writeFileSync(f("good.pem"), toPem(goodLeaf, "CERTIFICATE"));

  const text = await run("openssl", ["crl", "-inform", "DER", "-in", f("crl.der"), "-noout", "-text"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Version 2 \(0x1\)/);
  assert.match(text.stdout, /X509v3 CRL Number:\s+42/);
  assert.match(text.stdout, /X509v3 Authority Key Identifier/);
  assert.match(text.stdout, new RegExp(`Serial Number: ${serialHex(revokedSerial).toUpperCase()}\\s+Revocation Date: [^\\n]+\\n\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Key Compromise`));
  assert.match(text.stdout, /Serial Number: 1234\s+Revocation Date: [^\n]+\n\s+CRL entry extensions:\s+X509v3 CRL Reason Code:\s+Superseded/);
  assert.match(text.stdout, /Serial Number: 5678\s+Revocation Date: [^\n]+\n(?!\s+CRL entry extensions)/);

  for (const name of ["crl.der", "empty.der"]) {
    const v = await run("openssl", ["crl", "-inform", "DER", "-in", f(name), "-CAfile", f("issuing.pem"), "-noout"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout + v.stderr, /verify OK/, name);
  }
  const emptyText = await run("openssl", ["crl", "-inform", "DER", "-in", f("empty.der"), "-noout", "-text"]);
  assert.match(emptyText.stdout, /No Revoked Certificates/);

  const check = (crlFile: string, leaf: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run("openssl", ["verify", "-crl_check", "-CRLfile", f(crlFile), "-CAfile", f("root.pem"), "-untrusted", f("issuing.pem"), f(leaf)]);
  const revoked = await check("crl.pem", "revoked.pem");
  assert.notEqual(revoked.code, 0);
  assert.match(revoked.stdout + revoked.stderr, /certificate revoked/);
  const good = await check("crl.pem", "good.pem");
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /good\.pem: OK/);
  const goodEmpty = await check("empty.pem", "revoked.pem");
  assert.equal(goodEmpty.code, 0, goodEmpty.stdout + goodEmpty.stderr);
});

test("100,000 entries (timing printed, not asserted)", async () => {
  const ca = await testCa();
  const h = header(ca);
  const base = Date.now() - 30 * DAY;
  const reasons = ["keyCompromise", "superseded", "cessationOfOperation", undefined, "affiliationChanged"] as const;
  const entries: CrlEntry[] = [];
  for (let i = 0; i < 100_000; i++) {
    entries.push({ serialHex: serialHex(randomSerial()), revokedAt: new Date(base + i * 1000), ...(reasons[i % 5] ? { reason: reasons[i % 5] } : {}) });
  }
  let t0 = performance.now();
  const der = await buildCrl({ ...h, entries });
  const full = performance.now() - t0;

  const encoded = entries.map(encodeCrlEntry);
  t0 = performance.now();
  const fromCache = await buildCrlFromEncoded(h, encoded);
  const cached = performance.now() - t0;

  t0 = performance.now();
  const info = readCrl(der);
  const read = performance.now() - t0;
  console.log(`CRL with 100,000 entries: ${der.length} bytes; buildCrl ${full.toFixed(0)} ms, buildCrlFromEncoded ${cached.toFixed(0)} ms, readCrl ${read.toFixed(0)} ms`);

  assert.equal(info.entries.length, 100_000);
  assert.equal(info.entries[99_999]?.serialHex, entries[99_999]?.serialHex);
  assert.equal(info.entries[2]?.reason, "cessationOfOperation");
  assert.equal(info.entries[3]?.reason, undefined);
  assert.deepEqual(tbsOf(fromCache), tbsOf(der));
});
