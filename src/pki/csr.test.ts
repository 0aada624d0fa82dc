/**
 * CSR policy (issue 10, items 1, 3 and 6): version 0 encoded exactly, ECDSA without and RSA
 * with NULL signature parameters, only the key kinds Shomei and the CA's policy accept, and
 * subject strings asn1js cannot decode refused with a code instead of a RangeError.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { buildCsr, parseCsr, parseCsrAsync, parseCsrDer, parseCsrTree, SUBJECT_MAX, type CsrPolicy, type ParsedCsr } from "./csr.js";
import { keyObjectSigner } from "./keys.js";
import { tlv } from "./der.js";
import { isShomeiError } from "../i18n/errors.js";
import { craftCsr, EMPTY_POINT_CSR_B64, hex, nameWith, NULL, OID, p256Spki, rsaSpki } from "../../test/helpers/csr_craft.js";

const code = (c: string) => (e: unknown): boolean => isShomeiError(e) && e.code === c;
const p256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey;
const rsa2048 = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;

test("a well-formed request of each accepted kind parses, with its key kind", () => {
  assert.equal(parseCsr(craftCsr({ key: p256 })).keyKind, "ec-p256");
  assert.equal(parseCsr(craftCsr({ key: p384 })).keyKind, "ec-p384");
  const rsa = parseCsr(craftCsr({ key: rsa2048 }));
  assert.equal(rsa.keyKind, "rsa-2048");
  assert.equal(rsa.requestedSubject, "CN=a0000001");
});

test("the issue's empty-point CSR is refused as KEY_INVALID (it used to abort the process)", () => {
  assert.throws(() => parseCsr(Buffer.from(EMPTY_POINT_CSR_B64, "base64")), code("KEY_INVALID"));
  // The same empty point in a request that is otherwise fine.
  assert.throws(() => parseCsr(craftCsr({ key: p256, spki: p256Spki(hex("00")) })), code("KEY_INVALID"));
  assert.throws(() => parseCsr(craftCsr({ key: p256, spki: p256Spki(Buffer.alloc(0)) })), code("KEY_INVALID"));
});

test("only version 0, encoded exactly 02 01 00, is accepted", () => {
  const versions: Record<string, Buffer> = {
    "version 1": hex("020101"),
    "version 2": hex("020102"),
    "-1": hex("0201ff"),
    "0 in two bytes": hex("02020000"),
    "a 100-byte version": tlv(0x02, Buffer.alloc(100)),
    "a 100-byte version ending in 1": tlv(0x02, Buffer.concat([Buffer.alloc(99), hex("01")])),
  };
  for (const [name, version] of Object.entries(versions)) {
    assert.throws(() => parseCsr(craftCsr({ key: p256, version })), code("CSR_VERSION_UNSUPPORTED"), name);
  }
  assert.throws(() => parseCsr(craftCsr({ key: p256, version: hex("0500") })), code("BAD_DER"));
});

test("signature algorithm parameters: none for ECDSA, NULL for RSA", () => {
  assert.throws(() => parseCsr(craftCsr({ key: p256, algorithm: tlv(0x30, OID.ecdsaSha256, NULL) })), code("CSR_SIGNATURE_PARAMS_INVALID"));
  assert.throws(() => parseCsr(craftCsr({ key: p256, algorithm: tlv(0x30, OID.ecdsaSha256, OID.p256) })), code("CSR_SIGNATURE_PARAMS_INVALID"));
  assert.throws(() => parseCsr(craftCsr({ key: rsa2048, algorithm: tlv(0x30, OID.sha256WithRsa) })), code("CSR_SIGNATURE_PARAMS_INVALID"));
  assert.throws(() => parseCsr(craftCsr({ key: rsa2048, algorithm: tlv(0x30, OID.sha256WithRsa, hex("0401ff")) })), code("CSR_SIGNATURE_PARAMS_INVALID"));
});

test("keys Shomei does not accept: RSA exponent 3, RSA 4096 and 8192, P-521", () => {
  const e3 = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).privateKey;
  assert.throws(() => parseCsr(craftCsr({ key: e3 })), code("KEY_RSA_EXPONENT"));
  for (const bits of [4096, 8192]) {
    const n = Buffer.concat([hex("00c5"), Buffer.alloc(bits / 8 - 2, 0xa5), hex("01")]);
    assert.throws(() => parseCsr(craftCsr({ key: p256, spki: rsaSpki(n, hex("010001")) })), (e) => code("KEY_UNSUPPORTED")(e) && new RegExp(`RSA ${bits}`).test(String((e as Error).message)));
  }
  const p521 = generateKeyPairSync("ec", { namedCurve: "secp521r1" }).privateKey;
  assert.throws(() => parseCsr(craftCsr({ key: p521 })), code("KEY_UNSUPPORTED"));
});

test("the CA's policy narrows the key kinds: a P-384 or RSA request to a P-256-only CA is KEY_NOT_ALLOWED", () => {
  const policy = { allowedKeyKinds: ["ec-p256"] as const };
  assert.equal(parseCsr(craftCsr({ key: p256 }), policy).keyKind, "ec-p256");
  assert.throws(() => parseCsr(craftCsr({ key: p384 }), policy), code("KEY_NOT_ALLOWED"));
  assert.throws(() => parseCsr(craftCsr({ key: rsa2048 }), policy), code("KEY_NOT_ALLOWED"));
});

test("subject strings asn1js cannot decode are BAD_DER, not a RangeError", () => {
  const bmpOdd = nameWith(tlv(0x1e, hex("006100")));
  const universal5 = nameWith(tlv(0x1c, hex("0000006100")));
  const universal6 = nameWith(tlv(0x1c, hex("000000610000")));
  for (const [name, subject] of Object.entries({ bmpOdd, universal5, universal6 })) {
    assert.throws(() => parseCsr(craftCsr({ key: p256, subject })), code("BAD_DER"), name);
  }
  // Well-formed ones still read.
  assert.equal(parseCsr(craftCsr({ key: p256, subject: nameWith(tlv(0x1e, hex("00610062"))) })).requestedSubject, "CN=ab");
  assert.equal(parseCsr(craftCsr({ key: p256, subject: nameWith(tlv(0x1c, hex("0000006100000062"))) })).requestedSubject, "CN=ab");
});

test("a 40 KB requested subject is kept to SUBJECT_MAX characters (it goes into the audit log)", () => {
  const long = nameWith(tlv(0x0c, Buffer.from("x".repeat(40_000))));
  const subject = parseCsr(craftCsr({ key: p256, subject: long })).requestedSubject;
  assert.equal([...subject].length, SUBJECT_MAX);
  assert.ok(subject.startsWith("CN=xxx") && subject.endsWith("…"));
});

test("the DER fast path (sync and async key import) gives parseCsrTree's answer: well-formed, crafted and 3,000 mutated requests", async () => {
  const outcome = (f: () => ParsedCsr): string => {
    try {
      const r = f();
      return `ok ${r.der.toString("hex")} ${r.spki.toString("hex")} ${r.keyKind} ${r.requestedSubject} ${r.publicKey.export({ format: "der", type: "spki" }).toString("hex")}`;
    } catch (e) {
      return isShomeiError(e) ? `${e.code} ${JSON.stringify(e.params)}` : `other ${String(e)}`;
    }
  };
  let fast = 0;
  const outcomeAsync = async (f: () => Promise<ParsedCsr>): Promise<string> => {
    let r: ParsedCsr;
    try {
      r = await f();
    } catch (e) {
      return isShomeiError(e) ? `${e.code} ${JSON.stringify(e.params)}` : `other ${String(e)}`;
    }
    return outcome(() => r);
  };
  const same = async (der: Buffer, label: string, policy?: CsrPolicy): Promise<void> => {
    const tree = outcome(() => parseCsrTree(der, policy));
    assert.equal(outcome(() => parseCsr(der, policy)), tree, label);
    // The hot path's variant (WebCrypto raw key import) gives the same answer too.
    assert.equal(await outcomeAsync(() => parseCsrAsync(der, policy)), tree, `${label}: parseCsrAsync`);
    const d = parseCsrDer(der, policy);
    if (d) {
      fast += 1;
      assert.equal(outcome(() => d), tree, `${label}: the fast path's own answer`);
    }
  };
  const goods: Buffer[] = [];
  for (const key of [p256, p384, rsa2048]) {
    goods.push(craftCsr({ key }), await buildCsr({ publicKey: createPublicKey(key), signer: keyObjectSigner(key), commonName: "山田 a0000001" }));
  }
  for (const [i, der] of goods.entries()) {
    assert.ok(parseCsrDer(der), `well-formed request ${i} takes the fast path`);
    await same(der, `good ${i}`);
  }
  // A request with an attribute (challengePassword) goes the tree way, with the same answer.
  const info = tlv(0x30, hex("020100"), nameWith(tlv(0x0c, Buffer.from("a0000001"))), createPublicKey(p256).export({ format: "der", type: "spki" }),
    tlv(0xa0, tlv(0x30, hex("06092a864886f70d010907"), tlv(0x31, tlv(0x0c, Buffer.from("secret"))))));
  const withAttr = tlv(0x30, info, tlv(0x30, OID.ecdsaSha256), tlv(0x03, Buffer.from([0]), sign("sha256", info, { key: p256, dsaEncoding: "der" })));
  assert.equal(parseCsrDer(withAttr), undefined);
  assert.equal(parseCsr(withAttr).keyKind, "ec-p256");
  const crafted: [string, Buffer][] = [
    ["empty point", Buffer.from(EMPTY_POINT_CSR_B64, "base64")],
    ["version 1", craftCsr({ key: p256, version: hex("020101") })],
    ["ecdsa with NULL", craftCsr({ key: p256, algorithm: tlv(0x30, OID.ecdsaSha256, NULL) })],
    ["rsa without NULL", craftCsr({ key: rsa2048, algorithm: tlv(0x30, OID.sha256WithRsa) })],
    ["bmp odd subject", craftCsr({ key: p256, subject: nameWith(tlv(0x1e, hex("006100"))) })],
    ["long subject", craftCsr({ key: p256, subject: nameWith(tlv(0x0c, Buffer.from("x".repeat(5000)))) })],
    ["off-curve point", craftCsr({ key: p256, spki: p256Spki(Buffer.concat([hex("04"), Buffer.alloc(64, 7)])) })],
    ["attribute", withAttr],
  ];
  for (const [label, der] of [...crafted, ...goods.map((g, i): [string, Buffer] => [`good ${i}`, g])]) {
    await same(der, label);
    await same(der, `${label}, P-256 only`, { allowedKeyKinds: ["ec-p256"] });
  }
  // Mutations of good requests: a byte changed, cut short, or one more byte; both ways must agree on each.
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const m = Buffer.from(goods[rand(goods.length)]!);
    const kind = rand(3);
    if (kind === 0) m[rand(m.length)] = rand(256);
    const der = kind === 1 ? m.subarray(0, rand(m.length)) : kind === 2 ? Buffer.concat([m, Buffer.from([rand(256)])]) : m;
    await same(der, `mutation ${i} (${kind})`);
  }
  assert.ok(fast >= 2 * goods.length, "the fast path was taken");
});
