/**
 * Renewal (RFC 7030 simplereenroll), the server's side: the holder of a current, valid
 * certificate gets a new one for the same user ID, always for a new key (rekey), from a
 * configurable window before expiry. Expired or revoked certificates never renew (the portal's
 * certificate check refuses them first, with the remedy: a new passcode).
 */
import type { CertificateRecord } from "../ca/ports.js";
import type { Issuer } from "../ca/issuer.js";
import { ShomeiError } from "../i18n/errors.js";
import { certificateSpki } from "../pki/certificate.js";
import type { CsrPolicy } from "../pki/csr.js";
import { sha256 } from "../pki/fingerprint.js";
import { checkedCsr } from "./csr_check.js";
import type { AuditEvent, RegistrationStore, UserRecord } from "./ports.js";

const DAY = 86_400_000;

export interface RenewalDeps {
  readonly store: RegistrationStore;
  readonly issuer: Issuer;
  readonly clock: () => Date;
  /** Renewal opens this many days before the current certificate expires. */
  readonly renewWindowDays: number;
  /** What requests must be beyond what Shomei accepts at all (default: every key kind). */
  readonly csrPolicy?: CsrPolicy;
  /** The service's zone (config `timeZone`), for the times in its messages. */
  readonly timeZone?: string;
}

export interface RenewRequest {
  /** The certificate presented in the TLS handshake, already checked (ours, valid, not revoked). */
  readonly current: CertificateRecord;
  readonly user: UserRecord;
  readonly csrDer: Uint8Array;
  readonly remote?: string;
}

export class RenewalService {
  constructor(private readonly d: RenewalDeps) {}

  /** When renewal opens for a certificate. */
  opensAt(cert: CertificateRecord): Date {
    return new Date(cert.notAfter.getTime() - this.d.renewWindowDays * DAY);
  }

  async simpleReenroll(req: RenewRequest): Promise<CertificateRecord> {
    const { store } = this.d;
    const now = this.d.clock();
    const userId = req.user.userId;
    const csrHash = sha256(req.csrDer).toString("hex");
    const ev = (event: string, outcome: AuditEvent["outcome"], detail: Record<string, string | number>): AuditEvent =>
      ({ at: now, actor: `user:${userId}`, event, userId, outcome, detail: { previous: req.current.serial, ...detail, ...(req.remote ? { remote: req.remote } : {}) } });

    // Parsing is safe on any bytes (keys are checked before node:crypto sees them), so it may
    // come before the window check; a refusal is audited with its code.
    const csr = await checkedCsr(req.csrDer, this.d.csrPolicy, (reason) => store.audit([ev("certificate.renew", "failure", { reason })]));
    // A retry of the same request (a dropped connection) gets the certificate already made.
    const earlier = await store.findCertificateByCsr(userId, csrHash);
    if (earlier && earlier.status === "valid") {
      await store.audit([ev("renew.replay", "success", { serial: earlier.serial })]);
      return earlier;
    }
    if (Buffer.from(csr.spki).equals(certificateSpki(req.current.der))) {
      await store.audit([ev("certificate.renew", "failure", { reason: "same-key" })]);
      throw new ShomeiError("RENEW_SAME_KEY");
    }
    const opens = this.opensAt(req.current);
    if (now < opens) {
      await store.audit([ev("certificate.renew", "failure", { reason: "too-early" })]);
      // Times people read in the service's zone; JSON answers carry them as ISO 8601 (isoTimes).
      throw new ShomeiError("RENEW_TOO_EARLY", { opensAt: opens, notAfter: req.current.notAfter }, this.d.timeZone === undefined ? {} : { timeZone: this.d.timeZone });
    }
    const cert = await this.d.issuer.issueClient(csr, { userId, organization: req.user.organization, email: req.user.email }, now, csrHash);
    await store.insertCertificate(cert, [
      { ...ev("certificate.renew", "success", { serial: cert.serial, notAfter: cert.notAfter.toISOString(), requestedSubject: csr.requestedSubject }), once: true },
    ]);
    return cert;
  }
}
