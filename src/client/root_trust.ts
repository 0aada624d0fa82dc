/**
 * Deciding whether to trust the root certificate a server offered at bootstrap: by the
 * fingerprint the user was given, by the root already trusted for that server, or by asking.
 */
import { ShomeiError } from "../i18n/errors.js";
import { isSignedBy, readCertificate, type CertificateInfo } from "../pki/certificate.js";
import { fingerprint, normaliseFingerprint } from "../pki/fingerprint.js";

/** What /cacerts held: the one self-signed root and the other (issuing) CA certificates. */
export interface CaBundle {
  readonly root: CertificateInfo;
  readonly intermediates: readonly CertificateInfo[];
}

/** Finds the root (self-signed, CA, signature checks) among the certificates; order does not matter. */
export async function splitCaCerts(ders: readonly Uint8Array[]): Promise<CaBundle> {
  let infos: CertificateInfo[];
  try {
    infos = ders.map(readCertificate);
  } catch {
    throw new ShomeiError("SERVER_BAD_RESPONSE", { reason: "/cacerts holds something that is not a certificate" });
  }
  const roots: CertificateInfo[] = [];
  for (const c of infos) if (c.selfSigned && c.isCa && (await isSignedBy(c.der, c.der))) roots.push(c);
  const distinct = [...new Map(roots.map((r) => [r.fingerprint, r])).values()];
  if (distinct.length !== 1) {
    throw new ShomeiError("SERVER_BAD_RESPONSE", { reason: `/cacerts holds ${distinct.length} root certificates; exactly one was expected` });
  }
  const root = distinct[0] as CertificateInfo;
  return { root, intermediates: infos.filter((c) => c.fingerprint !== root.fingerprint) };
}

/** How the root came to be trusted, or that the user must be asked. */
export type TrustDecision =
  | { readonly action: "trust"; readonly because: "fingerprint-given" | "already-trusted" }
  | { readonly action: "ask"; /** Fingerprint of a different root trusted for this server before. */ readonly previous?: string };

/**
 * The decision for `root`: a fingerprint the user gave must match (else
 * ROOT_FINGERPRINT_MISMATCH); a root already trusted for this server that is the same one
 * needs no question; anything else is asked, noting a change of root.
 */
export function decideRootTrust(root: CertificateInfo, given: string | undefined, known: Uint8Array | undefined): TrustDecision {
  if (given !== undefined) {
    if (normaliseFingerprint(given) !== root.fingerprint) throw new ShomeiError("ROOT_FINGERPRINT_MISMATCH");
    return { action: "trust", because: "fingerprint-given" };
  }
  if (known === undefined) return { action: "ask" };
  const previous = fingerprint(known);
  return previous === root.fingerprint ? { action: "trust", because: "already-trusted" } : { action: "ask", previous };
}

/** A typed answer to "trust it? [y/N]": only y / yes (any case) mean yes. */
export function isYes(answer: string | undefined): boolean {
  return answer !== undefined && /^(y|yes|はい)$/i.test(answer.trim());
}
