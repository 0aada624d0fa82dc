/**
 * Creating the two-tier hierarchy at `shomei-ca init`: a root CA, an issuing CA signed by it,
 * and the service's TLS certificate signed by the issuing CA. Pure: keys and time come in.
 */
import { buildName } from "../pki/names.js";
import { keyObjectSigner, spkiDer, type KeyPair } from "../pki/keys.js";
import { caExtensions, keyIdentifier, serverExtensions, type PublicationUrls } from "../pki/profiles.js";
import { signCertificate } from "../pki/certificate.js";
import { randomSerial } from "../pki/serial.js";

const DAY = 86_400_000;

export interface HierarchyInput {
  readonly organization: string;
  readonly hostnames: readonly string[];
  readonly now: Date;
  readonly rootKey: KeyPair;
  readonly issuingKey: KeyPair;
  readonly tlsKey: KeyPair;
  readonly rootValidityDays?: number;
  readonly issuingValidityDays?: number;
  readonly tlsValidityDays?: number;
  readonly urls: PublicationUrls;
}

export interface Hierarchy {
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
  readonly tlsDer: Buffer;
}

/** Backdating tolerates clocks a few minutes behind the CA's. */
export const BACKDATE_MS = 5 * 60_000;

export async function createHierarchy(i: HierarchyInput): Promise<Hierarchy> {
  const notBefore = new Date(i.now.getTime() - BACKDATE_MS);
  const rootName = buildName({ organization: i.organization, commonName: `${i.organization} Root CA` });
  const issuingName = buildName({ organization: i.organization, commonName: `${i.organization} Issuing CA 1` });
  const rootSpki = spkiDer(i.rootKey.publicKey);
  const issuingSpki = spkiDer(i.issuingKey.publicKey);
  const tlsSpki = spkiDer(i.tlsKey.publicKey);
  const rootKeyId = keyIdentifier(rootSpki);
  const issuingKeyId = keyIdentifier(issuingSpki);

  const rootDer = await signCertificate({
    serial: randomSerial(), subject: rootName, issuer: rootName, notBefore,
    notAfter: new Date(i.now.getTime() + (i.rootValidityDays ?? 20 * 365) * DAY),
    spki: rootSpki, extensions: caExtensions({ spki: rootSpki }),
  }, keyObjectSigner(i.rootKey.privateKey));

  const issuingDer = await signCertificate({
    serial: randomSerial(), subject: issuingName, issuer: rootName, notBefore,
    notAfter: new Date(i.now.getTime() + (i.issuingValidityDays ?? 10 * 365) * DAY),
    spki: issuingSpki, extensions: caExtensions({ spki: issuingSpki, issuerKeyId: rootKeyId, pathLength: 0 }),
  }, keyObjectSigner(i.rootKey.privateKey));

  const tlsDer = await signCertificate({
    serial: randomSerial(),
    subject: buildName({ organization: i.organization, commonName: i.hostnames[0] ?? "localhost" }),
    issuer: issuingName, notBefore,
    notAfter: new Date(i.now.getTime() + (i.tlsValidityDays ?? 397) * DAY),
    spki: tlsSpki,
    extensions: serverExtensions({ spki: tlsSpki, keyKind: i.tlsKey.kind, issuerKeyId: issuingKeyId, hostnames: i.hostnames, urls: i.urls }),
  }, keyObjectSigner(i.issuingKey.privateKey));

  return { rootDer, issuingDer, tlsDer };
}
