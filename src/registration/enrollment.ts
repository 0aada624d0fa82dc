/**
 * Enrollment with a one-time passcode: who may receive a certificate, decided here; the
 * certificate itself is made by the CA's Issuer. Every refusal looks the same from outside
 * (PASSCODE_REJECTED), whether or not the user exists.
 */
import type { Issuer } from "../ca/issuer.js";
import type { CertificateRecord } from "../ca/ports.js";
import { ShomeiError } from "../i18n/errors.js";
import type { CsrPolicy } from "../pki/csr.js";
import { sha256 } from "../pki/fingerprint.js";
import { auditUserId } from "./audit_input.js";
import { checkedCsr } from "./csr_check.js";
import { passcodeHash, sameHash } from "./passcode.js";
import type { AuditEvent, RegistrationStore } from "./ports.js";

export interface EnrollmentPolicy {
  /** Wrong passcodes before the passcode is void (default 5). */
  readonly maxAttempts: number;
  /** A retry of the same CSR within this time gets the same certificate (default 10 minutes). */
  readonly replayWindowMs: number;
  /**
   * The configured user ID pattern (config.userIdPattern). A user ID from the Basic header that
   * does not match it and names no user is audited as `invalid:HASH`, never as typed.
   */
  readonly userIdPattern?: string;
}

export interface EnrollRequest {
  readonly userId: string;
  readonly passcode: string;
  readonly csrDer: Uint8Array;
  /** Client address, for the audit log. */
  readonly remote?: string;
}

export interface EnrollmentDeps {
  readonly store: RegistrationStore;
  readonly issuer: Issuer;
  readonly secret: Uint8Array;
  readonly clock: () => Date;
  readonly policy: EnrollmentPolicy;
  /** What requests must be beyond what Shomei accepts at all (default: every key kind). */
  readonly csrPolicy?: CsrPolicy;
}

export class EnrollmentService {
  private readonly userIdRe: RegExp | undefined;

  constructor(private readonly d: EnrollmentDeps) {
    this.userIdRe = d.policy.userIdPattern ? new RegExp(d.policy.userIdPattern) : undefined;
  }

  /** RFC 7030 simpleenroll: returns the issued (or, for a retry, the earlier) certificate. */
  async simpleEnroll(req: EnrollRequest): Promise<CertificateRecord> {
    const { store, policy } = this.d;
    const now = this.d.clock();
    const userId = req.userId;
    const given = passcodeHash(this.d.secret, userId, req.passcode);
    const csrHash = sha256(req.csrDer).toString("hex");
    const { user, passcode: pc } = await store.getUserWithPasscode(userId);
    // Until a user is found, the ID is only what the client typed: audited as such only if it has the configured form.
    const audited = user ? userId : auditUserId(userId, this.userIdRe);
    const actor = `user:${audited}`;
    const ev = (event: string, outcome: AuditEvent["outcome"], detail: Record<string, string | number> = {}): AuditEvent =>
      ({ at: now, actor, event, userId: audited, outcome, detail: { ...detail, ...(req.remote ? { remote: req.remote } : {}) } });
    const reject = async (reason: string, extra: Record<string, string | number> = {}): Promise<never> => {
      await store.audit([ev("passcode.failure", "failure", { reason, ...extra })]);
      throw new ShomeiError("PASSCODE_REJECTED");
    };

    if (!user || !pc) return reject(user ? "no-passcode" : "unknown-user");
    if (!sameHash(pc.hash, given)) {
      if (pc.status !== "active") return reject(`wrong-passcode-${pc.status}`);
      const { attempts, voided } = await store.recordPasscodeFailure(userId, policy.maxAttempts, [
        ev("passcode.failure", "failure", { reason: "wrong-passcode" }),
      ]);
      if (voided) await store.audit([ev("passcode.void", "success", { attempts })]);
      // The user may know how many tries are left (the limiter per address still caps guessing).
      throw new ShomeiError("PASSCODE_REJECTED", voided ? {} : { triesLeft: Math.max(0, policy.maxAttempts - attempts) });
    }
    if (pc.status === "void") return reject("void");
    if (pc.status === "used") {
      const replay = pc.csrHash === csrHash && pc.usedAt !== null && now.getTime() - pc.usedAt.getTime() <= policy.replayWindowMs;
      const cert = replay && pc.certificateSerial ? await store.getCertificate(pc.certificateSerial) : undefined;
      if (!cert) return reject("used");
      await store.audit([ev("enroll.replay", "success", { serial: cert.serial })]);
      return cert;
    }
    if (pc.expiresAt.getTime() <= now.getTime()) return reject("expired");
    if (user.status !== "active") {
      await store.audit([ev("enroll.refused", "failure", { reason: "suspended" })]);
      throw new ShomeiError("USER_SUSPENDED");
    }

    // A refused request leaves the passcode as it was: the user can send a good one.
    const csr = await checkedCsr(req.csrDer, this.d.csrPolicy, (reason) => store.audit([ev("enroll.refused", "failure", { reason })]));
    const cert = await this.d.issuer.issueClient(csr, { userId, organization: user.organization, email: user.email }, now, csrHash);
    const result = await store.redeemPasscode({
      userId, passcodeHash: given, csrHash, now, replayWindowMs: policy.replayWindowMs, certificate: cert,
      // Both name the new certificate's serial: nothing else can be identical to them (once).
      audit: [
        { ...ev("passcode.use", "success", { serial: cert.serial }), once: true },
        { ...ev("certificate.issue", "success", { serial: cert.serial, requestedSubject: csr.requestedSubject, notAfter: cert.notAfter.toISOString() }), once: true },
      ],
    });
    if (result.outcome === "rejected") return reject("lost-race");
    if (result.outcome === "replay") await store.audit([ev("enroll.replay", "success", { serial: result.certificate.serial })]);
    return result.certificate;
  }
}
