/**
 * Asking the CA about the certificates in the store (`shomei list --check-revocation`): one
 * OCSP question per certificate that has not expired, to the responder its AIA names, answer
 * verified (src/client/ocsp_check.ts). Nothing offline can know a revocation, so a list without
 * this never shows "revoked".
 */
import { readCertificate } from "../pki/certificate.js";
import { askOcsp } from "./ocsp_check.js";
import type { CertificateStore, StoredCertificate } from "./store.js";

/** What the responder said about one certificate, or why it could not be asked. */
export type RevocationAnswer =
  | { readonly status: "good" | "revoked" | "unknown"; readonly revokedAt?: Date; readonly reason?: string }
  | { readonly status: "not-checked"; readonly why: "expired" | "no-issuer" | "no-responder" | "failed"; readonly error?: unknown };

export interface RevocationReport {
  /** SHA-256 fingerprints (AB:CD:…) the responder says are revoked. */
  readonly revoked: ReadonlySet<string>;
  /** Every certificate asked about (or not), by fingerprint. */
  readonly answers: ReadonlyMap<string, RevocationAnswer>;
}

export async function checkRevocation(
  store: Pick<CertificateStore, "loadChain">, certs: readonly StoredCertificate[], o: { now: Date; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RevocationReport> {
  const revoked = new Set<string>();
  const answers = new Map<string, RevocationAnswer>();
  for (const c of certs) {
    const leaf = readCertificate(c.certDer);
    if (leaf.notAfter.getTime() <= o.now.getTime()) {
      answers.set(leaf.fingerprint, { status: "not-checked", why: "expired" }); // no responder has to know it any more
      continue;
    }
    let answer: RevocationAnswer;
    try {
      const issuer = (await store.loadChain(c)).find((d) => readCertificate(d).subject === leaf.issuer);
      if (!issuer) {
        answer = { status: "not-checked", why: "no-issuer" };
      } else {
        const r = await askOcsp({ certDer: c.certDer, issuerDer: issuer, env: o.env ?? process.env, now: o.now, timeoutMs: o.timeoutMs ?? 10_000 });
        answer = r.status === "good" || r.status === "revoked" || r.status === "unknown"
          ? { status: r.status, ...(r.revokedAt ? { revokedAt: r.revokedAt } : {}), ...(r.reason ? { reason: r.reason } : {}) }
          : { status: "not-checked", why: "no-responder" };
      }
    } catch (e) {
      answer = { status: "not-checked", why: "failed", error: e };
    }
    if (answer.status === "revoked") revoked.add(leaf.fingerprint);
    answers.set(leaf.fingerprint, answer);
  }
  return { revoked, answers };
}
