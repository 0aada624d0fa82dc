/**
 * The DER checks that run before node:crypto sees a key from outside (issue 10): broken EC
 * points and RSA numbers are refused with a code, good keys made by node:crypto pass.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { checkPkcs8, checkSpki, privateKeyFromPkcs8, publicKeyFromSpki, publicKeyFromSpkiAsync } from "./spki.js";
import { keyKindOf } from "./keys.js";
import { isShomeiError } from "../i18n/errors.js";
import { tlv } from "./der.js";
import { ecPoint, hex, NULL, OID, p256Spki, rsaModulus, rsaSpki, spkiOf } from "../../test/helpers/csr_craft.js";

const code = (c: string) => (e: unknown): boolean => isShomeiError(e) && e.code === c;
const spki = (k: KeyObject): Buffer => createPublicKey(k).export({ format: "der", type: "spki" });
const ec = (curve: string): KeyObject => generateKeyPairSync("ec", { namedCurve: curve }).privateKey;
const p256 = ec("prime256v1");
const point = ecPoint(createPublicKey(p256));
const rsa2048 = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const rsa3072 = generateKeyPairSync("rsa", { modulusLength: 3072 }).privateKey;
const E65537 = hex("010001");
const P256_P = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

/** An odd modulus of exactly `bits` bits (top bit set), with the leading 00 an INTEGER needs. */
const modulusOf = (bits: number): Buffer => {
  const m = Buffer.alloc(bits / 8, 0xa5);
  m[0] = 0xc5;
  m[m.length - 1] = 0x01;
  return Buffer.concat([Buffer.from([0]), m]);
};

test("good keys made by node:crypto pass and load: P-256, P-384, RSA 2048 and 3072", () => {
  assert.equal(checkSpki(spki(p256)), "ec-p256");
  assert.equal(checkSpki(spki(ec("secp384r1"))), "ec-p384");
  assert.equal(checkSpki(spki(rsa2048)), "rsa-2048");
  assert.equal(checkSpki(spki(rsa3072)), "rsa-3072");
  const { publicKey, kind } = publicKeyFromSpki(spki(rsa3072));
  assert.equal(kind, "rsa-3072");
  assert.equal(publicKey.asymmetricKeyType, "rsa");
});

test("publicKeyFromSpki loads the very key it was given (EC through JWK coordinates): same SPKI DER back, same verify answers", () => {
  for (const curve of ["prime256v1", "secp384r1"]) {
    for (let i = 0; i < 20; i++) {
      const pair = generateKeyPairSync("ec", { namedCurve: curve });
      const der = spki(pair.privateKey);
      const { publicKey } = publicKeyFromSpki(der);
      assert.equal(publicKey.export({ format: "der", type: "spki" }).toString("hex"), der.toString("hex"));
      const msg = Buffer.from(`message ${i}`);
      const sig = sign("sha256", msg, pair.privateKey);
      const reference = createPublicKey({ key: der, format: "der", type: "spki" });
      assert.equal(verify("sha256", msg, publicKey, sig), verify("sha256", msg, reference, sig));
      assert.equal(verify("sha256", msg, publicKey, sig), true);
      const other = Buffer.from("another message");
      assert.equal(verify("sha256", other, publicKey, sig), false);
    }
  }
  // A key inside a larger buffer (a CSR's SPKI is a view into the request).
  const der = spki(p256);
  const framed = Buffer.concat([Buffer.alloc(7, 0xee), der, Buffer.alloc(5, 0xee)]).subarray(7, 7 + der.length);
  assert.equal(publicKeyFromSpki(framed).publicKey.export({ format: "der", type: "spki" }).toString("hex"), der.toString("hex"));
});

test("publicKeyFromSpkiAsync (WebCrypto raw EC import) loads the same key as publicKeyFromSpki: same SPKI DER, same verify answers; refusals the same", async () => {
  for (const curve of ["prime256v1", "secp384r1"]) {
    for (let i = 0; i < 20; i++) {
      const pair = generateKeyPairSync("ec", { namedCurve: curve });
      const der = spki(pair.privateKey);
      const { publicKey, kind } = await publicKeyFromSpkiAsync(der);
      const sync = publicKeyFromSpki(der);
      assert.equal(kind, sync.kind);
      assert.equal(publicKey.asymmetricKeyType, "ec");
      assert.equal(publicKey.export({ format: "der", type: "spki" }).toString("hex"), der.toString("hex"));
      const msg = Buffer.from(`message ${i}`);
      const sig = sign("sha256", msg, pair.privateKey);
      assert.equal(verify("sha256", msg, publicKey, sig), true);
      assert.equal(verify("sha256", Buffer.from("another message"), publicKey, sig), false);
    }
  }
  const rsa = await publicKeyFromSpkiAsync(spki(rsa3072));
  assert.equal(rsa.kind, "rsa-3072");
  assert.equal(rsa.publicKey.export({ format: "der", type: "spki" }).toString("hex"), spki(rsa3072).toString("hex"));
  // Inside a larger buffer, as a CSR's SPKI is.
  const der = spki(p256);
  const framed = Buffer.concat([Buffer.alloc(7, 0xee), der, Buffer.alloc(5, 0xee)]).subarray(7, 7 + der.length);
  assert.equal((await publicKeyFromSpkiAsync(framed)).publicKey.export({ format: "der", type: "spki" }).toString("hex"), der.toString("hex"));
  // What checkSpki refuses is refused before WebCrypto sees it, with the same code.
  const offCurve = p256Spki(Buffer.concat([hex("04"), Buffer.alloc(64, 7)]));
  const codeOf = async (f: () => unknown): Promise<string> => {
    try {
      await f();
      return "ok";
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  };
  assert.equal(await codeOf(() => publicKeyFromSpkiAsync(offCurve)), await codeOf(() => publicKeyFromSpki(offCurve)));
  assert.equal(await codeOf(() => publicKeyFromSpkiAsync(offCurve)), "KEY_INVALID");
});

test("EC points that are empty, at infinity, short, long, compressed or hybrid are refused as KEY_INVALID", () => {
  const cases: Record<string, Buffer> = {
    "empty (BIT STRING 00)": Buffer.alloc(0),
    "at infinity (BIT STRING 00 00, the issue's key)": hex("00"),
    "short": point.subarray(0, 33),
    "one byte short": point.subarray(0, 64),
    "one byte long": Buffer.concat([point, hex("00")]),
    "compressed": Buffer.concat([Buffer.from([2 + ((point[64] ?? 0) & 1)]), point.subarray(1, 33)]),
    "hybrid": Buffer.concat([Buffer.from([6 + ((point[64] ?? 0) & 1)]), point.subarray(1)]),
    "unknown form": Buffer.concat([hex("05"), point.subarray(1)]),
  };
  for (const [name, p] of Object.entries(cases)) {
    assert.throws(() => checkSpki(p256Spki(p)), code("KEY_INVALID"), name);
    assert.throws(() => publicKeyFromSpki(p256Spki(p)), code("KEY_INVALID"), name);
  }
});

test("EC points off the curve or with a coordinate not below p are refused as KEY_INVALID", () => {
  const offCurve = Buffer.from(point);
  offCurve[64] = (offCurve[64] ?? 0) ^ 1;
  assert.throws(() => checkSpki(p256Spki(offCurve)), code("KEY_INVALID"));
  // X = p is X = 0 modulo p: still refused, the coordinate must be reduced.
  const xIsP = Buffer.concat([hex("04"), P256_P, point.subarray(33)]);
  assert.throws(() => checkSpki(p256Spki(xIsP)), (e) => code("KEY_INVALID")(e) && /below the field prime/.test(String((e as Error).message)));
  const yIsP = Buffer.concat([point.subarray(0, 33), P256_P]);
  assert.throws(() => checkSpki(p256Spki(yIsP)), code("KEY_INVALID"));
  // A valid P-256 point under the P-384 OID is the wrong length for that curve.
  assert.throws(() => checkSpki(spkiOf(OID.ecPublicKey, OID.p384, point)), code("KEY_INVALID"));
});

test("explicit curve parameters, other named curves and missing parameters are refused", () => {
  const explicit = tlv(0x30, hex("020101"), tlv(0x30, hex("06072a8648ce3d0101"), tlv(0x02, P256_P)));
  assert.throws(() => checkSpki(spkiOf(OID.ecPublicKey, explicit, point)), code("KEY_UNSUPPORTED"));
  assert.throws(() => checkSpki(spki(ec("secp521r1"))), (e) => code("KEY_UNSUPPORTED")(e) && /P-521/.test(String((e as Error).message)));
  assert.throws(() => checkSpki(spki(ec("secp256k1"))), (e) => code("KEY_UNSUPPORTED")(e) && /secp256k1/.test(String((e as Error).message)));
  assert.throws(() => checkSpki(spkiOf(OID.ecPublicKey, NULL, point)), code("KEY_UNSUPPORTED"));
  assert.throws(() => checkSpki(spkiOf(OID.ecPublicKey, undefined, point)), code("KEY_INVALID"));
  assert.throws(() => checkSpki(spki(generateKeyPairSync("ed25519").privateKey)), (e) => code("KEY_UNSUPPORTED")(e) && /Ed25519/.test(String((e as Error).message)));
});

test("RSA sizes other than 2048 and 3072 bits are refused: 1024 too small, 4096 and 8192 unsupported", () => {
  assert.throws(() => checkSpki(rsaSpki(modulusOf(1024), E65537)), code("KEY_TOO_SMALL"));
  assert.throws(() => checkSpki(rsaSpki(modulusOf(2040), E65537)), code("KEY_TOO_SMALL"));
  assert.throws(() => checkSpki(rsaSpki(modulusOf(4096), E65537)), (e) => code("KEY_UNSUPPORTED")(e) && /RSA 4096/.test(String((e as Error).message)));
  assert.throws(() => checkSpki(rsaSpki(modulusOf(8192), E65537)), (e) => code("KEY_UNSUPPORTED")(e) && /RSA 8192/.test(String((e as Error).message)));
  assert.equal(checkSpki(rsaSpki(modulusOf(2048), E65537)), "rsa-2048");
});

test("RSA exponents other than 65537 are refused with KEY_RSA_EXPONENT", () => {
  const n = rsaModulus(createPublicKey(rsa2048));
  for (const e of [hex("03"), hex("010003"), hex("0100000001"), hex("01"), Buffer.alloc(64, 0x7f)]) {
    assert.throws(() => checkSpki(rsaSpki(n, e)), code("KEY_RSA_EXPONENT"), e.toString("hex"));
  }
  const e3 = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).privateKey;
  assert.throws(() => checkSpki(spki(e3)), (e) => code("KEY_RSA_EXPONENT")(e) && /exponent 3 /.test(String((e as Error).message)));
});

test("RSA moduli that are even, negative, zero or not minimally encoded are refused as KEY_INVALID", () => {
  const n = rsaModulus(createPublicKey(rsa2048));
  const even = Buffer.from(n);
  even[even.length - 1] = (even[even.length - 1] ?? 0) & 0xfe;
  assert.throws(() => checkSpki(rsaSpki(even, E65537)), (e) => code("KEY_INVALID")(e) && /even/.test(String((e as Error).message)));
  assert.throws(() => checkSpki(rsaSpki(n.subarray(1), E65537)), (e) => code("KEY_INVALID")(e) && /negative/.test(String((e as Error).message)));
  assert.throws(() => checkSpki(rsaSpki(Buffer.concat([hex("00"), n]), E65537)), (e) => code("KEY_INVALID")(e) && /minimal/.test(String((e as Error).message)));
  assert.throws(() => checkSpki(rsaSpki(hex("00"), E65537)), code("KEY_INVALID"));
  assert.throws(() => checkSpki(rsaSpki(n, hex("ff"))), code("KEY_INVALID"));
});

test("rsaEncryption parameters must be exactly NULL", () => {
  const n = rsaModulus(createPublicKey(rsa2048));
  assert.throws(() => checkSpki(rsaSpki(n, E65537, null)), code("KEY_INVALID"));
  assert.throws(() => checkSpki(rsaSpki(n, E65537, hex("050100"))), code("KEY_INVALID"));
  assert.throws(() => checkSpki(rsaSpki(n, E65537, OID.p256)), code("KEY_INVALID"));
  assert.equal(checkSpki(rsaSpki(n, E65537)), "rsa-2048");
});

test("bytes that are not a SubjectPublicKeyInfo are BAD_DER, never an exception of another kind", () => {
  const good = spki(p256);
  for (const b of [Buffer.alloc(0), hex("30"), hex("3000"), good.subarray(0, good.length - 1), Buffer.concat([good, hex("00")]), hex("3084ffffffff")]) {
    assert.throws(() => checkSpki(b), (e) => isShomeiError(e), b.toString("hex"));
  }
  for (let i = 0; i < good.length; i++) {
    const cut = good.subarray(0, i);
    assert.throws(() => checkSpki(cut), (e) => isShomeiError(e));
  }
});

test("keyKindOf refuses the issue's empty-point key with a code instead of aborting the process", () => {
  // Run in a child: before the fix this aborted Node in native code (the test would see the abort).
  const keys = new URL("./keys.js", import.meta.url).href;
  const script = `
    import { createPublicKey } from "node:crypto";
    const { keyKindOf } = await import(${JSON.stringify(keys)});
    const key = createPublicKey({ key: Buffer.from("3019301306072a8648ce3d020106082a8648ce3d030107030200 00".replace(/ /g, ""), "hex"), format: "der", type: "spki" });
    try { keyKindOf(key); console.log("accepted"); } catch (e) { console.log(e.code); }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.stdout.trim(), "KEY_INVALID", r.stderr);
});

test("keyKindOf on keys made here: the four kinds, and RSA 4096 refused", () => {
  assert.equal(keyKindOf(p256), "ec-p256");
  assert.equal(keyKindOf(createPublicKey(rsa2048)), "rsa-2048");
  assert.equal(keyKindOf(rsa3072), "rsa-3072");
  assert.throws(() => keyKindOf(generateKeyPairSync("rsa", { modulusLength: 4096 }).publicKey), code("KEY_UNSUPPORTED"));
});

test("PKCS#8 private keys: good ones load; a zero or too large EC scalar, a wrong curve or an off-curve public point are refused", () => {
  const pk8 = (k: KeyObject): Buffer => k.export({ format: "der", type: "pkcs8" });
  assert.equal(checkPkcs8(pk8(p256)), "ec-p256");
  assert.equal(checkPkcs8(pk8(ec("secp384r1"))), "ec-p384");
  assert.equal(checkPkcs8(pk8(rsa2048)), "rsa-2048");
  assert.equal(privateKeyFromPkcs8(pk8(rsa3072)).kind, "rsa-3072");
  assert.throws(() => checkPkcs8(pk8(ec("secp521r1"))), code("KEY_UNSUPPORTED"));
  assert.throws(() => checkPkcs8(pk8(generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).privateKey)), code("KEY_RSA_EXPONENT"));

  /** A P-256 PKCS#8 with the given scalar and optional [1] public point. */
  const ecPkcs8 = (scalar: Buffer, pub?: Buffer, curve: Buffer = OID.p256): Buffer => tlv(0x30,
    hex("020100"),
    tlv(0x30, OID.ecPublicKey, curve),
    tlv(0x04, tlv(0x30, hex("020101"), tlv(0x04, scalar), ...(pub ? [tlv(0xa1, tlv(0x03, hex("00"), pub))] : []))));
  const n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(Buffer.alloc(32))), code("KEY_INVALID"));
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(n)), code("KEY_INVALID"));
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(Buffer.alloc(32, 0xff))), code("KEY_INVALID"));
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(Buffer.alloc(33, 1))), code("KEY_INVALID"));
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(Buffer.alloc(32, 1), hex("00"))), code("KEY_INVALID"));
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(Buffer.alloc(32, 1), Buffer.alloc(0))), code("KEY_INVALID"));
  assert.throws(() => privateKeyFromPkcs8(ecPkcs8(Buffer.alloc(32, 1), undefined, OID.secp256k1)), code("KEY_UNSUPPORTED"));
  const one = Buffer.alloc(32);
  one[31] = 1;
  assert.equal(privateKeyFromPkcs8(ecPkcs8(one)).kind, "ec-p256");
});
