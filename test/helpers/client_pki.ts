/** Test PKI for the client's tests: a root, an issuing CA and a TLS certificate, and client certificates on demand. */
import type { KeyObject } from "node:crypto";
import { createHierarchy } from "../../src/ca/hierarchy.js";
import { signCertificate } from "../../src/pki/certificate.js";
import { generateKeyPair, keyKindOf, keyObjectSigner, spkiDer, exportPrivateKeyPem, type KeyPair } from "../../src/pki/keys.js";
import { buildName } from "../../src/pki/names.js";
import { clientExtensions, keyIdentifier } from "../../src/pki/profiles.js";
import { randomSerial } from "../../src/pki/serial.js";
import { toPem } from "../../src/pki/pem.js";
import { certificateSubject } from "../../src/pki/certificate.js";

export const DAY = 86_400_000;

export interface TestCa {
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
  readonly tlsDer: Buffer;
  readonly rootKey: KeyPair;
  readonly issuingKey: KeyPair;
  readonly tlsKey: KeyPair;
  /** PEM of the TLS key, and of the TLS certificate followed by the issuing CA (what the server sends). */
  readonly tlsKeyPem: string;
  readonly tlsChainPem: string;
}

/** A fresh two-tier hierarchy whose TLS certificate names `hostnames`. */
export async function makeTestCa(opts: { hostnames?: string[]; now?: Date; organization?: string } = {}): Promise<TestCa> {
  const [rootKey, issuingKey, tlsKey] = await Promise.all([generateKeyPair(), generateKeyPair(), generateKeyPair()]);
  const h = await createHierarchy({
    organization: opts.organization ?? "Shomei Test",
    hostnames: opts.hostnames ?? ["localhost", "127.0.0.1"],
    now: opts.now ?? new Date(),
    rootKey, issuingKey, tlsKey, urls: {},
  });
  return {
    ...h, rootKey, issuingKey, tlsKey,
    tlsKeyPem: exportPrivateKeyPem(tlsKey.privateKey),
    tlsChainPem: toPem(h.tlsDer, "CERTIFICATE") + toPem(h.issuingDer, "CERTIFICATE"),
  };
}

/** A client certificate for `publicKey`, issued by the test issuing CA, valid between the given dates. */
export async function issueClientCert(
  ca: TestCa,
  opts: { publicKey: KeyObject; commonName: string; notBefore: Date; notAfter: Date; serial?: Buffer; signedBy?: "issuing" | "root" },
): Promise<Buffer> {
  const spki = spkiDer(opts.publicKey);
  const issuerDer = opts.signedBy === "root" ? ca.rootDer : ca.issuingDer;
  const issuerKey = opts.signedBy === "root" ? ca.rootKey : ca.issuingKey;
  return signCertificate({
    serial: opts.serial ?? randomSerial(),
    subject: buildName({ organization: "Shomei Test", commonName: opts.commonName }),
    issuer: certificateSubject(issuerDer),
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    spki,
    extensions: clientExtensions({ spki, keyKind: keyKindOf(opts.publicKey), issuerKeyId: keyIdentifier(spkiDer(issuerKey.publicKey)), urls: {} }),
  }, keyObjectSigner(issuerKey.privateKey));
}

/** A CA with two users' certificates valid now (a0000001 on P-256, a0000002 on RSA 2048), and the chain above them. */
export interface TwoClients {
  readonly ca: TestCa;
  readonly ecKey: KeyPair;
  readonly rsaKey: KeyPair;
  readonly ecCert: Buffer;
  readonly rsaCert: Buffer;
  /** Issuing CA, then root (DER). */
  readonly chain: Buffer[];
}

export async function twoClients(): Promise<TwoClients> {
  const ca = await makeTestCa();
  const [ecKey, rsaKey] = await Promise.all([generateKeyPair("ec-p256"), generateKeyPair("rsa-2048")]);
  const now = Date.now();
  const issue = (k: KeyPair, cn: string): Promise<Buffer> =>
    issueClientCert(ca, { publicKey: k.publicKey, commonName: cn, notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY) });
  const [ecCert, rsaCert] = await Promise.all([issue(ecKey, "a0000001"), issue(rsaKey, "a0000002")]);
  return { ca, ecKey, rsaKey, ecCert, rsaCert, chain: [ca.issuingDer, ca.rootDer] };
}
