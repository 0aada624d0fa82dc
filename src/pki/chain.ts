/** Path validation for Shomei's two-tier hierarchy: leaf <- issuing CA <- root. */
import { readCertificate, isSignedBy, type CertificateInfo } from "./certificate.js";

export type ChainProblem =
  | "not-yet-valid" | "expired" | "issuer-not-found" | "bad-signature" | "issuer-not-ca" | "root-not-self-signed";

export interface ChainResult {
  readonly ok: boolean;
  readonly problem?: ChainProblem;
  /** The certificate where the problem was found. */
  readonly at?: CertificateInfo;
  /** leaf first, root last, when ok. */
  readonly path: CertificateInfo[];
}

/**
 * Builds the path from the leaf through the intermediates to the trusted root, checking
 * names, signatures, CA flags and validity at `now`.
 */
export async function verifyChain(leafDer: Uint8Array, intermediates: readonly Uint8Array[], rootDer: Uint8Array, now: Date): Promise<ChainResult> {
  const root = readCertificate(rootDer);
  const pool = intermediates.map(readCertificate);
  const path: CertificateInfo[] = [];
  let current = readCertificate(leafDer);
  for (let depth = 0; depth < 8; depth++) {
    path.push(current);
    if (now < current.notBefore) return { ok: false, problem: "not-yet-valid", at: current, path };
    if (now > current.notAfter) return { ok: false, problem: "expired", at: current, path };
    if (current.fingerprint === root.fingerprint) {
      if (!(await isSignedBy(root.der, root.der))) return { ok: false, problem: "root-not-self-signed", at: root, path };
      return { ok: true, path };
    }
    const candidates = [root, ...pool].filter((c) => c.subject === current.issuer);
    let next: CertificateInfo | undefined;
    for (const c of candidates) {
      if (await isSignedBy(current.der, c.der)) { next = c; break; }
    }
    if (!next) return { ok: false, problem: candidates.length ? "bad-signature" : "issuer-not-found", at: current, path };
    if (!next.isCa) return { ok: false, problem: "issuer-not-ca", at: next, path };
    current = next;
  }
  return { ok: false, problem: "issuer-not-found", at: current, path };
}
