/**
 * Writes test/fuzz/samples.ts: the valid inputs the fuzz suite mutates, made once with Shomei's
 * own code and then kept fixed, so that a seed and a case number name the same input on every
 * machine and every run. Run it again only when a format changes:
 *
 *   npx tsc -p tsconfig.json && node dist/test/fuzz/make_samples.js > test/fuzz/samples.ts
 */
import { randomBytes } from "node:crypto";
import { issueOcspResponderCert } from "../../src/ca/ocsp_responder_cert.js";
import { makeTestCa, issueClientCert, DAY } from "../helpers/client_pki.js";
import { generateKeyPair, keyObjectSigner } from "../../src/pki/keys.js";
import { buildCsr } from "../../src/pki/csr.js";
import { certsOnly } from "../../src/pki/pkcs7.js";
import { encodePkcs12 } from "../../src/pki/pkcs12.js";
import { buildOcspRequest, buildOcspResponse, parseOcspRequest } from "../../src/pki/ocsp.js";
import { buildCrl } from "../../src/pki/crl.js";

const NOW = new Date("2026-12-04T00:00:00Z");

const ca = await makeTestCa({ now: new Date(NOW.getTime() - DAY) });
const user = await generateKeyPair("ec-p256");
const userDer = await issueClientCert(ca, { publicKey: user.publicKey, commonName: "a0000001", notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + 365 * DAY) });
const rsaUser = await generateKeyPair("rsa-2048");
const rsaUserDer = await issueClientCert(ca, { publicKey: rsaUser.publicKey, commonName: "a0000002", notBefore: new Date(NOW.getTime() - DAY), notAfter: new Date(NOW.getTime() + 365 * DAY) });
const csr = async (kind: "ec-p256" | "ec-p384" | "rsa-2048"): Promise<Buffer> => {
  const k = await generateKeyPair(kind);
  return buildCsr({ publicKey: k.publicKey, signer: keyObjectSigner(k.privateKey), commonName: "a0000001" });
};
const responder = await generateKeyPair();
const responderDer = await issueOcspResponderCert({
  issuingCertDer: ca.issuingDer, issuingSigner: keyObjectSigner(ca.issuingKey.privateKey), publicKey: responder.publicKey, now: NOW, validityDays: 30,
});
const nonce = randomBytes(16);
const ocspRequest = buildOcspRequest(userDer, ca.issuingDer, { nonce });
const parsed = parseOcspRequest(ocspRequest);
const ocspResponse = await buildOcspResponse({
  signer: keyObjectSigner(responder.privateKey), responderCertDer: responderDer, includeResponderCert: true, producedAt: NOW,
  responses: parsed.certIds.map((certId) => ({ certId, status: "good" as const, thisUpdate: NOW, nextUpdate: new Date(NOW.getTime() + 3600_000) })),
  ...(parsed.nonce ? { nonce: parsed.nonce } : {}),
});
const crl = await buildCrl({
  issuerDer: ca.issuingDer, signer: keyObjectSigner(ca.issuingKey.privateKey), thisUpdate: NOW, nextUpdate: new Date(NOW.getTime() + 7 * DAY), crlNumber: 42n,
  entries: [
    { serialHex: "0a1b2c3d4e5f", revokedAt: new Date(NOW.getTime() - DAY), reason: "keyCompromise" },
    { serialHex: "7f", revokedAt: new Date(NOW.getTime() - 2 * DAY) },
  ],
});
// Few iterations: the suite decrypts thousands of mutants (the count is read from the file, so this is not a weaker reader).
const p12 = (profile: "modern" | "compatible"): Buffer => encodePkcs12({
  privateKey: user.privateKey, certificate: userDer, chain: [ca.issuingDer, ca.rootDer], password: "fuzz-パスワード", profile, friendlyName: "a0000001 の証明書", iterations: 2,
});

const samples: Record<string, Buffer> = {
  rootDer: ca.rootDer,
  issuingDer: ca.issuingDer,
  userDer,
  rsaUserDer,
  csrP256: await csr("ec-p256"),
  csrP384: await csr("ec-p384"),
  csrRsa2048: await csr("rsa-2048"),
  pkcs7: certsOnly([userDer, ca.issuingDer, ca.rootDer]),
  pkcs12Modern: p12("modern"),
  pkcs12Compatible: p12("compatible"),
  ocspRequest,
  ocspNonce: nonce,
  ocspResponse,
  crl,
};

const lines = [
  "/** Valid inputs the fuzz suite mutates, made by make_samples.ts (see there); base64 DER unless named otherwise. */",
  "// Generated: do not edit by hand.",
  `export const SAMPLES_NOW = new Date("${NOW.toISOString()}");`,
  "export const SAMPLES = {",
  ...Object.entries(samples).map(([k, v]) => `  ${k}: "${v.toString("base64")}",`),
  "} as const;",
  "",
];
process.stdout.write(lines.join("\n"));
