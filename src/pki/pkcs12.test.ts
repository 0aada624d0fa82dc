/** PKCS#12 files and RC2, without external tools (test/interop/pkcs12.test.ts has those). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, createCipheriv, generateKeyPairSync, pbkdf2Sync, randomBytes } from "node:crypto";
import * as asn1js from "asn1js";
import { decodePkcs12, encodePkcs12, iterateDigest, pkcs12Kdf, MAX_ITERATIONS, type Pkcs12Contents } from "./pkcs12.js";
import { rc2CbcDecrypt, rc2CbcEncrypt, rc2DecryptBlock, rc2EncryptBlock, rc2ExpandKey } from "./rc2.js";
import { spkiDer, type KeyPair } from "./keys.js";
import { isShomeiError } from "../i18n/errors.js";
import { twoClients } from "../../test/helpers/client_pki.js";
import { readTlv, tlv } from "./der.js";

const code = (c: string) => (e: unknown): boolean => isShomeiError(e) && e.code === c;
const hex = (s: string): Buffer => Buffer.from(s, "hex");
/** Low, so the whole file runs in well under a second; real exports use the defaults. */
const ITER = 16;

const { ca, ecKey, rsaKey, ecCert, rsaCert, chain } = await twoClients();
const sha1 = (b: Uint8Array): Buffer => createHash("sha1").update(b).digest();

function checkContents(c: Pkcs12Contents, key: KeyPair, leaf: Buffer, friendlyName?: string): void {
  assert.ok(c.privateKey, "the key is there");
  assert.deepEqual(spkiDer(c.privateKey), spkiDer(key.publicKey));
  assert.deepEqual(c.privateKey.export({ format: "der", type: "pkcs8" }), key.privateKey.export({ format: "der", type: "pkcs8" }));
  assert.deepEqual(c.certificates.map((b) => b.der), [leaf, ...chain]);
  assert.deepEqual(c.keyLocalKeyId, sha1(leaf));
  assert.deepEqual(c.certificates[0]?.localKeyId, sha1(leaf));
  assert.equal(c.keyFriendlyName, friendlyName);
  assert.equal(c.certificates[0]?.friendlyName, friendlyName);
  for (const ca of c.certificates.slice(1)) {
    assert.equal(ca.localKeyId, undefined);
    assert.equal(ca.friendlyName, undefined);
  }
}

// ---- RC2 and the PKCS#12 KDF: known answers -------------------------------------------------

test("RC2 gives the RFC 2268 section 5 test vectors, both ways", () => {
  const vectors: [string, number, string, string][] = [
    ["0000000000000000", 63, "0000000000000000", "ebb773f993278eff"],
    ["ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"],
    ["3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"],
    ["88", 64, "0000000000000000", "61a8a244adacccf0"],
    ["88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"],
    ["88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"],
    ["88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"],
    ["88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", 129, "0000000000000000", "5b78d3a43dfff1f1"],
  ];
  for (const [key, bits, plain, cipher] of vectors) {
    const k = rc2ExpandKey(hex(key), bits);
    assert.equal(rc2EncryptBlock(k, hex(plain)).toString("hex"), cipher, `${key}/${bits}`);
    assert.equal(rc2DecryptBlock(k, hex(cipher)).toString("hex"), plain, `${key}/${bits}`);
  }
});

test("RC2-CBC (40 and 128 effective bits) round-trips with PKCS#7 padding and refuses bad padding", () => {
  const iv = hex("0102030405060708");
  for (const [key, bits] of [[hex("0011223344"), 40], [hex("00112233445566778899aabbccddeeff"), 128]] as const) {
    for (const len of [0, 1, 7, 8, 9, 100]) {
      const plain = Buffer.alloc(len, 0x5a);
      const c = rc2CbcEncrypt(key, bits, iv, plain);
      assert.equal(c.length, (Math.floor(len / 8) + 1) * 8);
      assert.deepEqual(rc2CbcDecrypt(key, bits, iv, c), plain);
    }
    // The second block depends on the first (chaining), and a wrong key fails the padding.
    const c = rc2CbcEncrypt(key, bits, iv, Buffer.alloc(16));
    assert.notDeepEqual(c.subarray(0, 8), c.subarray(8, 16));
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      try { rc2CbcDecrypt(Buffer.from([i, ...key.subarray(1)]), bits, iv, rc2CbcEncrypt(key, bits, iv, Buffer.from("abc"))); } catch { refused++; }
    }
    assert.ok(refused >= 18);
  }
  assert.throws(() => rc2CbcDecrypt(hex("0011223344"), 40, iv, Buffer.alloc(7)));
});

test("the KDF's JavaScript SHA-1 / SHA-256 loop gives what node:crypto gives", () => {
  for (const [name, size] of [["sha1", 20], ["sha256", 32], ["sha384", 48]] as const) {
    for (const times of [0, 1, 2, 3, 64, 1000]) {
      const first = randomBytes(size);
      let want = first;
      for (let i = 0; i < times; i++) want = createHash(name).update(want).digest();
      assert.deepEqual(iterateDigest(name, first, times), want, `${name} × ${times}`);
    }
  }
});

test("the PKCS#12 KDF gives OpenSSL's answers (SHA-1 key, IV, several blocks; SHA-256 MAC key)", () => {
  const smeg = hex("0073006d006500670000"); // "smeg" as a BMPString with its terminator
  const queeg = hex("007100750065006500670000");
  assert.equal(pkcs12Kdf("sha1", smeg, hex("0a58cf64530d823f"), 1, 1, 24).toString("hex"), "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3");
  assert.equal(pkcs12Kdf("sha1", smeg, hex("0a58cf64530d823f"), 1, 2, 8).toString("hex"), "79993dfe048d3b76");
  assert.equal(pkcs12Kdf("sha1", queeg, hex("1682c0fc5b3f7ec5"), 1000, 1, 24).toString("hex"), "483dd6e919d7de2e8e648ba8f862f3fbfbdc2bcb2c02957f");
  assert.equal(
    pkcs12Kdf("sha1", queeg, hex("05dec959acff72f7"), 3, 1, 70).toString("hex"),
    "ae3949f39609edafbf150d315636987478185cf986f044e79bc6d0c2757708ac4726c710115d3923c7053c1a7361be6215e8dcfc561df64c6295174b450fc372a4a5fa5080e8",
  );
  assert.equal(pkcs12Kdf("sha256", queeg, hex("05dec959acff72f7"), 1000, 3, 32).toString("hex"), "64bd552bb4ecec8224b888d4fa1dc49c6ff894bfc59b10402d83ad46c0d8da4b");
});

// ---- our own files -----------------------------------------------------------------------------

for (const profile of ["modern", "compatible"] as const) {
  test(`${profile}: EC P-256 and RSA 2048 round-trip with a chain of 2`, () => {
    for (const [key, leaf] of [[ecKey, ecCert], [rsaKey, rsaCert]] as const) {
      const p12 = encodePkcs12({ privateKey: key.privateKey, certificate: leaf, chain, password: "correct horse", profile, friendlyName: "a0000001 の証明書", iterations: ITER });
      const c = decodePkcs12(p12, "correct horse");
      checkContents(c, key, leaf, "a0000001 の証明書");
      if (profile === "modern") {
        assert.deepEqual(c.algorithms, ["PBES2/AES-256-CBC/PBKDF2-SHA256"]);
        assert.equal(c.macAlgorithm, "HMAC-SHA256");
      } else {
        assert.deepEqual(c.algorithms, ["PBE-SHA1-3DES"]);
        assert.equal(c.macAlgorithm, "HMAC-SHA1");
      }
    }
  });

  test(`${profile}: a Japanese password works, a near miss is PKCS12_PASSWORD_WRONG`, () => {
    const password = "証明書のパスワード２０２５";
    const p12 = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password, profile, iterations: ITER });
    checkContents(decodePkcs12(p12, password), ecKey, ecCert);
    assert.throws(() => decodePkcs12(p12, "証明書のパスワード2025"), code("PKCS12_PASSWORD_WRONG"));
    assert.throws(() => decodePkcs12(p12, ""), code("PKCS12_PASSWORD_WRONG"));
  });

  test(`${profile}: a wrong password is PKCS12_PASSWORD_WRONG, never garbage; an empty one round-trips`, () => {
    const p12 = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain: [], password: "secret", profile, iterations: ITER });
    for (const wrong of ["Secret", "secret ", "", "x".repeat(200)]) {
      assert.throws(() => decodePkcs12(p12, wrong), code("PKCS12_PASSWORD_WRONG"));
    }
    const empty = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain: [], password: "", profile, iterations: ITER });
    assert.ok(decodePkcs12(empty, "").privateKey);
    assert.throws(() => decodePkcs12(empty, "x"), code("PKCS12_PASSWORD_WRONG"));
  });
}

test("the key bag and the leaf share SHA-1(leaf) as localKeyId; without a friendlyName there is none", () => {
  const c = decodePkcs12(encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: ITER }), "pw");
  checkContents(c, ecKey, ecCert, undefined);
});

test("each export is different (fresh salts and IVs) and the default iteration count is written", () => {
  const a = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: ITER });
  const b = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: ITER });
  assert.notDeepEqual(a, b);
  assert.throws(() => encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: 0 }), RangeError);
  assert.throws(() => encodePkcs12({ privateKey: ecKey.publicKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: ITER }), RangeError);
});

// ---- damaged and foreign input ---------------------------------------------------------------

test("truncated, garbage and non-PKCS#12 input is PKCS12_MALFORMED", () => {
  const p12 = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: ITER });
  for (const cut of [0, 1, 2, 10, 100, p12.length >> 1, p12.length - 40, p12.length - 1]) {
    assert.throws(() => decodePkcs12(p12.subarray(0, cut), "pw"), code("PKCS12_MALFORMED"), `cut at ${cut}`);
  }
  assert.throws(() => decodePkcs12(Buffer.concat([p12, Buffer.from([0])]), "pw"), code("PKCS12_MALFORMED"));
  assert.throws(() => decodePkcs12(Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), "pw"), code("PKCS12_MALFORMED"));
  assert.throws(() => decodePkcs12(ecCert, "pw"), code("PKCS12_MALFORMED"));
  assert.throws(() => decodePkcs12(ecKey.privateKey.export({ format: "der", type: "pkcs8" }), "pw"), code("PKCS12_MALFORMED"));
  for (let i = 0; i < 50; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + i * 7 }, (_, j) => (j * 131 + i * 17) & 0xff));
    assert.throws(() => decodePkcs12(junk, "pw"), code("PKCS12_MALFORMED"));
  }
});

test("a changed byte anywhere under the MAC is caught by the MAC before anything is decrypted", () => {
  const p12 = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "compatible", iterations: ITER });
  let caught = 0;
  for (let at = 40; at < p12.length - 60; at += 97) {
    const bad = Buffer.from(p12);
    bad[at]! ^= 0x01;
    assert.throws(() => decodePkcs12(bad, "pw"), (e: unknown) => isShomeiError(e) && (e.code === "PKCS12_PASSWORD_WRONG" || e.code === "PKCS12_MALFORMED"));
    caught++;
  }
  assert.ok(caught > 5);
});

// ---- files put together here: other shapes other programs write ---------------------------------

type Block = asn1js.BaseBlock;
const seq = (...value: Block[]): Block => new asn1js.Sequence({ value });
const set = (...value: Block[]): Block => new asn1js.Set({ value });
const oid = (value: string): Block => new asn1js.ObjectIdentifier({ value });
const octets = (b: Uint8Array): Block => new asn1js.OctetString({ valueHex: b });
const int = (value: number): Block => new asn1js.Integer({ value });
const ctx0 = (inner: Block): Block => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [inner] });
const der = (b: Block): Buffer => Buffer.from(b.toBER(false));
const bmp = (s: string): Buffer => Buffer.from(s + "\u0000", "utf16le").swap16();
/** An element already encoded. */
const encoded = (b: Uint8Array): Block => asn1js.fromBER(b).result;

const O = {
  data: "1.2.840.113549.1.7.1", encryptedData: "1.2.840.113549.1.7.6", keyBag: "1.2.840.113549.1.12.10.1.1",
  certBag: "1.2.840.113549.1.12.10.1.3", safeContentsBag: "1.2.840.113549.1.12.10.1.6", x509: "1.2.840.113549.1.9.22.1",
  localKeyId: "1.2.840.113549.1.9.21", rc2_40: "1.2.840.113549.1.12.1.6", rc4_128: "1.2.840.113549.1.12.1.1",
  pbes2: "1.2.840.113549.1.5.13", pbkdf2: "1.2.840.113549.1.5.12", pbmac1: "1.2.840.113549.1.5.14",
  hmacSha256: "1.2.840.113549.2.9", sha1: "1.3.14.3.2.26", aes256: "2.16.840.1.101.3.4.1.42", md5des: "1.2.840.113549.1.5.3",
};

const certBag = (c: Uint8Array, localKeyId?: Buffer): Block =>
  seq(oid(O.certBag), ctx0(seq(oid(O.x509), ctx0(octets(c)))), ...(localKeyId ? [set(seq(oid(O.localKeyId), set(octets(localKeyId))))] : []));
const plainKeyBag = (k: KeyPair, localKeyId?: Buffer): Block =>
  seq(oid(O.keyBag), ctx0(encoded(k.privateKey.export({ format: "der", type: "pkcs8" }))), ...(localKeyId ? [set(seq(oid(O.localKeyId), set(octets(localKeyId))))] : []));
const dataInfo = (safeContents: Uint8Array): Block => seq(oid(O.data), ctx0(octets(safeContents)));
const encryptedInfo = (algorithm: Block, ciphertext: Buffer): Block =>
  seq(oid(O.encryptedData), ctx0(seq(int(0), seq(oid(O.data), algorithm, new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: ciphertext })))));

/** pbeWithSHAAnd40BitRC2-CBC, as `openssl pkcs12 -export -legacy` protects certificates. */
function rc2Info(plain: Uint8Array, password: string, iterations: number): Block {
  const salt = hex("0102030405060708");
  const key = pkcs12Kdf("sha1", bmp(password), salt, iterations, 1, 5);
  const iv = pkcs12Kdf("sha1", bmp(password), salt, iterations, 2, 8);
  return encryptedInfo(seq(oid(O.rc2_40), seq(octets(salt), int(iterations))), rc2CbcEncrypt(key, 40, iv, plain));
}

function pbes2Info(plain: Uint8Array, password: string, iterations: number): Block {
  const salt = hex("00112233445566778899aabbccddeeff");
  const iv = hex("0f0e0d0c0b0a09080706050403020100");
  const key = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const c = createCipheriv("aes-256-cbc", key, iv);
  const alg = seq(oid(O.pbes2), seq(seq(oid(O.pbkdf2), seq(octets(salt), int(iterations), seq(oid(O.hmacSha256), new asn1js.Null()))), seq(oid(O.aes256), octets(iv))));
  return encryptedInfo(alg, Buffer.concat([c.update(plain), c.final()]));
}

type Mac = "sha1" | "pbmac1" | "none" | { iterations: number };

/** A PFX around AuthenticatedSafe bytes, with an HMAC-SHA-1 MAC, a PBMAC1 one, or none. */
function pfx(authSafe: Buffer, password: string, mac: Mac = "sha1"): Buffer {
  const salt = hex("a1a2a3a4a5a6a7a8");
  let macData: Block[] = [];
  if (mac === "sha1" || typeof mac === "object") {
    const iterations = typeof mac === "object" ? mac.iterations : ITER;
    // A count the reader must refuse is written with a MAC nobody could check.
    const value = iterations > MAX_ITERATIONS ? Buffer.alloc(20) : createHmac("sha1", pkcs12Kdf("sha1", bmp(password), salt, iterations, 3, 20)).update(authSafe).digest();
    macData = [seq(seq(seq(oid(O.sha1), new asn1js.Null()), octets(value)), octets(salt), int(iterations))];
  } else if (mac === "pbmac1") {
    const key = pbkdf2Sync(Buffer.from(password, "utf8"), salt, ITER, 32, "sha256");
    const params = seq(seq(oid(O.pbkdf2), seq(octets(salt), int(ITER), int(32), seq(oid(O.hmacSha256), new asn1js.Null()))), seq(oid(O.hmacSha256), new asn1js.Null()));
    const value = createHmac("sha256", key).update(authSafe).digest();
    macData = [seq(seq(seq(oid(O.pbmac1), params), octets(value)), octets(Buffer.from("NOT USED")), int(1))];
  }
  return der(seq(int(3), dataInfo(authSafe), ...macData));
}

/**
 * The same bytes as BER the way NSS writes it: every constructed element with an indefinite
 * length and OCTET STRINGs longer than 64 bytes split into a constructed OCTET STRING. It does
 * not look inside OCTET STRINGs (what is under a MAC stays as it is).
 */
function toBer(bytes: Uint8Array): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const tag = bytes[at]!;
    let len = bytes[at + 1]!;
    let head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + bytes[at + 2 + i]!;
      head = 2 + n;
    }
    const body = bytes.subarray(at + head, at + head + len);
    if (tag & 0x20) {
      out.push(Buffer.from([tag, 0x80]), toBer(body), Buffer.from([0, 0]));
    } else if (tag === 0x04 && body.length > 64) {
      const parts = [];
      for (let i = 0; i < body.length; i += 64) parts.push(der(octets(body.subarray(i, i + 64))));
      out.push(Buffer.from([0x24, 0x80]), ...parts, Buffer.from([0, 0]));
    } else {
      out.push(Buffer.from(bytes.subarray(at, at + head + len)));
    }
    at += head + len;
  }
  return Buffer.concat(out);
}

test("a file with only certificates, unencrypted (openssl pkcs12 -nokeys -certpbe NONE), decodes", () => {
  const authSafe = der(seq(dataInfo(der(seq(certBag(ecCert), certBag(ca.issuingDer))))));
  const c = decodePkcs12(pfx(authSafe, "pw"), "pw");
  assert.equal(c.privateKey, undefined);
  assert.deepEqual(c.certificates.map((b) => b.der), [ecCert, ca.issuingDer]);
  assert.deepEqual(c.algorithms, []);
  assert.equal(c.macAlgorithm, "HMAC-SHA1");
  assert.throws(() => decodePkcs12(pfx(authSafe, "pw"), "pw2"), code("PKCS12_PASSWORD_WRONG"));
});

test("a file with only a key (plain keyBag, key first) decodes; so does one without a MAC", () => {
  const authSafe = der(seq(dataInfo(der(seq(plainKeyBag(rsaKey, sha1(rsaCert)))))));
  const c = decodePkcs12(pfx(authSafe, "pw"), "pw");
  assert.deepEqual(spkiDer(c.privateKey!), spkiDer(rsaKey.publicKey));
  assert.deepEqual(c.keyLocalKeyId, sha1(rsaCert));
  assert.deepEqual(c.certificates, []);
  const noMac = decodePkcs12(pfx(authSafe, "", "none"), "anything");
  assert.equal(noMac.macAlgorithm, undefined);
  assert.ok(noMac.privateKey);
});

test("our key-only and certificates-only halves decode (the command decides what is missing)", () => {
  const p12 = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "modern", iterations: ITER });
  const authSafe = readAuthSafe(p12);
  const [certsInfo, keyInfo] = (asn1js.fromBER(authSafe).result as asn1js.Sequence).valueBlock.value;
  const keyOnly = decodePkcs12(pfx(der(seq(keyInfo!)), "pw"), "pw");
  assert.ok(keyOnly.privateKey);
  assert.equal(keyOnly.certificates.length, 0);
  const certsOnly = decodePkcs12(pfx(der(seq(certsInfo!)), "pw"), "pw");
  assert.equal(certsOnly.privateKey, undefined);
  assert.equal(certsOnly.certificates.length, 3);
});

function readAuthSafe(p12: Buffer): Buffer {
  const pfxSeq = asn1js.fromBER(p12).result as asn1js.Sequence;
  const info = pfxSeq.valueBlock.value[1] as asn1js.Sequence;
  const wrapped = info.valueBlock.value[1] as asn1js.Constructed;
  return Buffer.from((wrapped.valueBlock.value[0] as asn1js.OctetString).valueBlock.valueHexView);
}

test("-legacy shape: certificates in PBE-SHA1-RC2-40, key after them, nested SafeContents bag", () => {
  const certs = der(seq(certBag(ecCert, sha1(ecCert)), certBag(ca.issuingDer)));
  const nested = der(seq(seq(oid(O.safeContentsBag), ctx0(seq(plainKeyBag(ecKey, sha1(ecCert)))))));
  const authSafe = der(seq(rc2Info(certs, "古い パスワード", ITER), dataInfo(nested)));
  const c = decodePkcs12(pfx(authSafe, "古い パスワード"), "古い パスワード");
  assert.deepEqual(c.algorithms, ["PBE-SHA1-RC2-40"]);
  assert.deepEqual(c.certificates.map((b) => b.der), [ecCert, ca.issuingDer]);
  assert.deepEqual(c.keyLocalKeyId, sha1(ecCert));
  assert.deepEqual(spkiDer(c.privateKey!), spkiDer(ecKey.publicKey));
  // Without a MAC, the decryption itself tells a wrong password.
  assert.throws(() => decodePkcs12(pfx(authSafe, "", "none"), "新しい パスワード"), code("PKCS12_PASSWORD_WRONG"));
  assert.equal(decodePkcs12(pfx(authSafe, "", "none"), "古い パスワード").certificates.length, 2);
});

test("BER with indefinite lengths and constructed OCTET STRINGs (as NSS writes) decodes", () => {
  const safe = toBer(der(seq(certBag(ecCert), certBag(ca.rootDer))));
  const authSafe = toBer(der(seq(pbes2Info(safe, "pw", ITER), dataInfo(toBer(der(seq(plainKeyBag(ecKey))))))));
  const file = toBer(pfx(authSafe, "pw"));
  assert.equal(file[1], 0x80, "indefinite length at the top");
  const c = decodePkcs12(file, "pw");
  assert.deepEqual(c.certificates.map((b) => b.der), [ecCert, ca.rootDer]);
  assert.ok(c.privateKey);
  assert.deepEqual(c.algorithms, ["PBES2/AES-256-CBC/PBKDF2-SHA256"]);
  // Our own output in BER form too.
  const ours = encodePkcs12({ privateKey: ecKey.privateKey, certificate: ecCert, chain, password: "pw", profile: "compatible", iterations: ITER });
  checkContents(decodePkcs12(toBer(ours), "pw"), ecKey, ecCert);
});

test("a key bag whose key is broken or not one Shomei accepts is refused with a code before node:crypto loads it", () => {
  const rawKeyBag = (pkcs8: Buffer): Block => seq(oid(O.keyBag), ctx0(encoded(pkcs8)));
  const file = (pkcs8: Buffer): Buffer => pfx(der(seq(dataInfo(der(seq(rawKeyBag(pkcs8)))))), "pw");
  const ecPkcs8 = (scalar: Buffer, publicKey?: Buffer): Buffer => der(seq(int(0), seq(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")),
    octets(der(seq(int(1), octets(scalar), ...(publicKey ? [new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: [new asn1js.BitString({ valueHex: publicKey })] })] : []))))));
  const n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  assert.throws(() => decodePkcs12(file(ecPkcs8(Buffer.alloc(32))), "pw"), code("KEY_INVALID"));
  assert.throws(() => decodePkcs12(file(ecPkcs8(n)), "pw"), code("KEY_INVALID"));
  assert.throws(() => decodePkcs12(file(ecPkcs8(Buffer.alloc(32, 1), Buffer.alloc(0))), "pw"), code("KEY_INVALID"));
  assert.throws(() => decodePkcs12(file(ecPkcs8(Buffer.alloc(32, 1), hex("00"))), "pw"), code("KEY_INVALID"));
  const p521 = generateKeyPairSync("ec", { namedCurve: "secp521r1" }).privateKey.export({ format: "der", type: "pkcs8" });
  assert.throws(() => decodePkcs12(file(p521), "pw"), (e: unknown) => code("PKCS12_UNSUPPORTED")(e) && /P-521/.test((e as Error).message));
  const e3 = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).privateKey.export({ format: "der", type: "pkcs8" });
  assert.throws(() => decodePkcs12(file(e3), "pw"), code("KEY_RSA_EXPONENT"));
  // The same shape with a good key decodes.
  assert.ok(decodePkcs12(file(ecKey.privateKey.export({ format: "der", type: "pkcs8" })), "pw").privateKey);
});

test("a friendlyName BMPString of odd length or a UniversalString not a multiple of 4 is PKCS12_MALFORMED, not a RangeError", () => {
  // Raw bytes throughout: asn1js in this test would throw the same RangeError while building it.
  const bag = der(certBag(ecCert));
  const bagContent = bag.subarray(readTlv(bag, 0, "bag").start);
  const friendlyNameOid = hex("06092a864886f70d010914");
  for (const value of [hex("1e03006100"), hex("1c050000006100")]) {
    const withName = tlv(0x30, bagContent, tlv(0x31, tlv(0x30, friendlyNameOid, tlv(0x31, value))));
    const authSafe = der(seq(dataInfo(tlv(0x30, withName))));
    assert.throws(() => decodePkcs12(pfx(authSafe, "pw"), "pw"), code("PKCS12_MALFORMED"), value.toString("hex"));
  }
});

test("PBMAC1 (RFC 9579) is checked with PBKDF2 over the UTF-8 password", () => {
  const authSafe = der(seq(dataInfo(der(seq(certBag(ecCert))))));
  const c = decodePkcs12(pfx(authSafe, "パス", "pbmac1"), "パス");
  assert.equal(c.macAlgorithm, "PBMAC1/HMAC-SHA256/PBKDF2-SHA256");
  assert.throws(() => decodePkcs12(pfx(authSafe, "パス", "pbmac1"), "ぱす"), code("PKCS12_PASSWORD_WRONG"));
});

test("what we cannot decrypt is PKCS12_UNSUPPORTED and named; hostile iteration counts are refused at once", () => {
  const safe = der(seq(certBag(ecCert)));
  const rc4 = der(seq(encryptedInfo(seq(oid(O.rc4_128), seq(octets(Buffer.alloc(8)), int(1))), Buffer.alloc(16))));
  assert.throws(() => decodePkcs12(pfx(rc4, "pw"), "pw"), (e: unknown) => code("PKCS12_UNSUPPORTED")(e) && /PBE-SHA1-RC4-128/.test((e as Error).message));
  const pbes1 = der(seq(encryptedInfo(seq(oid(O.md5des), seq(octets(Buffer.alloc(8)), int(1))), Buffer.alloc(16))));
  assert.throws(() => decodePkcs12(pfx(pbes1, "pw"), "pw"), (e: unknown) => code("PKCS12_UNSUPPORTED")(e) && /PBES1\/MD5-DES/.test((e as Error).message));

  const started = Date.now();
  const hostileMac = pfx(der(seq(dataInfo(safe))), "pw", { iterations: MAX_ITERATIONS + 1 });
  assert.throws(() => decodePkcs12(hostileMac, "pw"), code("PKCS12_UNSUPPORTED"));
  const hostileBag = der(seq(encryptedInfo(seq(oid(O.rc2_40), seq(octets(Buffer.alloc(8)), new asn1js.Integer({ valueHex: hex("7fffffffffffffff") }))), Buffer.alloc(16))));
  assert.throws(() => decodePkcs12(pfx(hostileBag, "", "none"), "pw"), code("PKCS12_UNSUPPORTED"));
  // A count within the limit is still too much work when the cipher needs a key and an IV.
  const many = der(seq(...Array.from({ length: 8 }, () => encryptedInfo(seq(oid(O.rc2_40), seq(octets(Buffer.alloc(8)), int(MAX_ITERATIONS))), Buffer.alloc(16)))));
  assert.throws(() => decodePkcs12(pfx(many, "", "none"), "pw"), code("PKCS12_UNSUPPORTED"));
  assert.ok(Date.now() - started < 1000, "refused before any work");
});
