/**
 * Certificates the client reads carry keys from outside too (issue 10, "validate before use"):
 * a certificate whose key is the empty EC point is refused with a code wherever its key would
 * be used (reading it, chain checks, key matching, the NSS key ID, OCSP), never loaded.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { generateKeyPair, keyObjectSigner, spkiDer, type KeyPair } from "./keys.js";
import { encode, isSignedBy, readCertificate, signCertificate, signEncoded } from "./certificate.js";
import { keyMatchesCertificate, sameSpki } from "./key_match.js";
import { buildName } from "./names.js";
import { buildOcspRequest, buildOcspResponse, parseOcspRequest, readOcspResponse } from "./ocsp.js";
import { berToDer, tlv } from "./der.js";
import { isShomeiError } from "../i18n/errors.js";
import { hex, nameWith, p256Spki } from "../../test/helpers/csr_craft.js";

const code = (c: string) => (e: unknown): boolean => isShomeiError(e) && e.code === c;
const now = new Date("2026-12-01T00:00:00Z");

/** A self-signed-looking certificate carrying `spki`, signed by `signer`. */
function certWith(spki: Buffer, signer: KeyPair, cn = "a0000001"): Promise<Buffer> {
  return signCertificate({
    serial: hex("01"), subject: buildName({ commonName: cn }), issuer: buildName({ commonName: "Other CA" }),
    notBefore: now, notAfter: new Date("2027-12-01T00:00:00Z"), spki, extensions: [],
  }, keyObjectSigner(signer.privateKey));
}

const signer = await generateKeyPair();
const emptyPoint = p256Spki(hex("00"));
const bad = await certWith(emptyPoint, signer);
const good = await certWith(spkiDer(signer.publicKey), signer);

test("readCertificate refuses a certificate whose key is the empty EC point (KEY_INVALID)", async () => {
  assert.throws(() => readCertificate(bad), code("KEY_INVALID"));
  const info = readCertificate(good);
  assert.equal(info.keyKind, "ec-p256");
  assert.equal(info.commonName, "a0000001");
  // A certificate of another CA with a well-formed key Shomei does not use is still read (to be named).
  const p521 = generateKeyPairSync("ec", { namedCurve: "secp521r1" }).publicKey;
  const other = readCertificate(await certWith(p521.export({ format: "der", type: "spki" }), signer, "other"));
  assert.equal(other.keyKind, undefined);
  assert.equal(other.commonName, "other");
});

test("a certificate whose subject has an odd-length BMPString is BAD_DER, not a RangeError", async () => {
  const odd = await signEncoded({
    serial: hex("02"), issuer: encode(buildName({ commonName: "Other CA" })), subject: nameWith(tlv(0x1e, hex("006100"))),
    notBefore: now, notAfter: new Date("2027-12-01T00:00:00Z"), spki: spkiDer(signer.publicKey), extensions: [],
  }, keyObjectSigner(signer.privateKey));
  assert.throws(() => readCertificate(odd), code("BAD_DER"));
});

test("a certificate whose subject value is a UTCTime that does not parse is BAD_DER (found by the fuzz suite: the self-signed check re-encoded the name outside the try)", async () => {
  const odd = await signEncoded({
    serial: hex("03"), issuer: encode(buildName({ commonName: "Other CA" })), subject: nameWith(tlv(0x17, Buffer.from("a0000001"))),
    notBefore: now, notAfter: new Date("2027-12-01T00:00:00Z"), spki: spkiDer(signer.publicKey), extensions: [],
  }, keyObjectSigner(signer.privateKey));
  assert.throws(() => readCertificate(odd), code("BAD_DER"));
});

test("isSignedBy, key matching and OCSP treat the broken key as unusable, with no exception of another kind", async () => {
  const child = await certWith(spkiDer(signer.publicKey), signer);
  assert.equal(await isSignedBy(child, bad), false);
  assert.equal(await isSignedBy(child, good), true);
  assert.equal(keyMatchesCertificate(signer.privateKey, bad), false);
  assert.equal(sameSpki(emptyPoint, emptyPoint), false);
  // An OCSP response "signed" by the issuer whose key is the empty point: its key is refused before any use.
  const req = parseOcspRequest(buildOcspRequest(child, bad));
  const resp = await buildOcspResponse({
    signer: keyObjectSigner(signer.privateKey), responderCertDer: bad, includeResponderCert: false, producedAt: now,
    responses: req.certIds.map((certId) => ({ certId, status: "good" as const, thisUpdate: now })),
  });
  assert.throws(() => readOcspResponse(resp, child, bad, { now }), (e) => code("OCSP_RESPONSE_INVALID")(e) && /key is not acceptable/.test(String((e as Error).message)));
});

test("the NSS key ID of a certificate with the empty point is KEY_INVALID instead of aborting the process", () => {
  // In a child: before the fix the JWK export of this key aborted Node in native code.
  const nss = new URL("../client/nss_store.js", import.meta.url).href;
  const script = `
    const { nssKeyId } = await import(${JSON.stringify(nss)});
    try { nssKeyId(Buffer.from(${JSON.stringify(bad.toString("base64"))}, "base64")); console.log("accepted"); } catch (e) { console.log(e.code); }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.stdout.trim(), "KEY_INVALID", r.stderr);
});

test("berToDer: indefinite lengths and constructed OCTET STRINGs become DER; garbage is BAD_DER", () => {
  const der = tlv(0x30, tlv(0x02, hex("01")), tlv(0x04, hex("aabbcc")));
  const ber = Buffer.concat([hex("3080"), hex("020101"), hex("2480"), hex("0401aa"), hex("0402bbcc"), hex("0000"), hex("0000")]);
  assert.deepEqual(berToDer(ber, "x"), der);
  assert.deepEqual(berToDer(der, "x"), der);
  for (const b of [hex("3080020101"), hex("0480"), hex("2480020101 0000".replace(" ", "")), Buffer.concat([der, hex("00")]), hex("3085ffffffffff")]) {
    assert.throws(() => berToDer(b, "x"), code("BAD_DER"), b.toString("hex"));
  }
  let deep = hex("0500");
  for (let i = 0; i < 40; i++) deep = tlv(0x30, deep);
  assert.throws(() => berToDer(deep, "x"), code("BAD_DER"));
});
