/**
 * The online system's rules, without HTTP: who the presented certificate belongs to, login
 * with user ID + password, the password lifecycle, sessions bound to the certificate, and the
 * operator's actions. Every outcome is audited.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { CertificateListEntry, CertificateRecord, CertificateRow } from "../ca/ports.js";
import { ShomeiError } from "../i18n/errors.js";
import { isSignedBy, readCertificate } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import { parseUserCsv, type CsvRowError } from "../registration/csv.js";
import { hashPassword, verifyPassword } from "../registration/password.js";
import type { AuditEvent, AuditQuery, AuditRecord, UserRecord } from "../registration/ports.js";
import type { NewUserInput, RegistrationResult, RegistrationService, ResendResult } from "../registration/service.js";
import type { PortalStore, SessionRecord, SessionStage } from "./ports.js";
import { revokeCertificate } from "./revocation.js";

const MIN = 60_000;
const DAY = 86_400_000;
/**
 * A password check reserved this long ago and never settled (its process died) no longer
 * counts toward the checks under way. Far longer than any argon2 check takes.
 */
const RESERVATION_STALE_MS = 5 * MIN;
/** argon2 work is bounded: longer input is refused before hashing. */
export const PASSWORD_MAX = 256;

export interface PortalPolicy {
  readonly maxFailedLogins: number;
  readonly autoUnlockMinutes: number;
  readonly idleMinutes: number;
  readonly passwordMinLength: number;
  readonly passwordHistory: number;
  readonly expiryNoticeDays: number;
}

export interface PortalDeps {
  readonly store: PortalStore;
  readonly registration: RegistrationService;
  readonly issuingDer: Uint8Array;
  /** Server secret; CSRF tokens use a key derived from it. */
  readonly secret: Uint8Array;
  readonly clock: () => Date;
  readonly policy: PortalPolicy;
  /** Called after each revocation made here (the CRL publisher re-reads at once). */
  readonly onRevoked?: (serial: string) => void;
  /** The service's zone (config `timeZone`), for the times in its messages. */
  readonly timeZone?: string;
}

/** A certificate the portal accepted, and its user. */
export interface Identity {
  readonly cert: CertificateRecord;
  readonly user: UserRecord;
  /**
   * The session a cookie named, read with the certificate in the same indexed read
   * (identify's `sessionToken`): `resume` with that token uses it instead of a read of its own.
   */
  readonly session?: { readonly token: string; readonly record: SessionRecord | undefined };
}

export interface OpenSession {
  /** The cookie value; only its hash is stored. */
  readonly token: string;
  readonly record: SessionRecord;
}

export interface LoginResult {
  readonly user: UserRecord;
  /** True while the password is the initial one: the user must choose a new one first. */
  readonly passwordChangeDue: boolean;
  readonly session?: OpenSession;
}

export interface BulkRowResult {
  readonly line: number;
  readonly userId: string;
  readonly outcome: "registered" | "valid" | "rejected";
  readonly code?: string;
  readonly message?: string;
  readonly messageJa?: string;
}

export interface BulkResult {
  readonly encoding: string;
  readonly dryRun: boolean;
  readonly rows: readonly BulkRowResult[];
  readonly registered: number;
  readonly rejected: number;
}

/**
 * The session id stored for a session token: its SHA-256 (hex). Not kept here by token (a map
 * of the tokens seen lately held live sessions' secrets for the whole process): the portal
 * keeps a connection's last token and hash on that connection.
 */
export function sessionIdHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class PortalService {
  private readonly csrfKey: Buffer;
  /** Tokens csrfToken made, by subject (a pure function of the subject and the key). */
  private readonly csrfTokens = new Map<string, string>();

  constructor(private readonly d: PortalDeps) {
    this.csrfKey = createHmac("sha256", d.secret).update("shomei portal csrf v1").digest();
  }

  /** Error options that show the error's times in the service's zone. */
  private zoned(): { timeZone?: string } {
    return this.d.timeZone === undefined ? {} : { timeZone: this.d.timeZone };
  }

  get policy(): PortalPolicy {
    return this.d.policy;
  }

  now(): Date {
    return this.d.clock();
  }

  // ---- the certificate ----------------------------------------------------------------------

  /**
   * Decides whether the presented certificate lets its holder use the portal. The TLS layer
   * only asks for it; every rule (our CA, on record, not revoked, in its validity period, the
   * user active) is checked here, with the service's clock, on every call (a revocation or a
   * suspension counts from the next request, whichever process made it). `fp` is the DER's
   * fingerprint when the caller has it already (the portal keeps it per TLS connection).
   * With `sessionToken` (a session cookie's value) the session it names is read in the same
   * statement and handed to `resume` in the identity: one read per request instead of two.
   * `idHash` is its sessionIdHash when the caller has it already.
   */
  async identify(der: Uint8Array | undefined, fp?: string, sessionToken?: string, idHash = sessionToken ? sessionIdHash(sessionToken) : undefined): Promise<Identity> {
    if (!der || der.length === 0) throw new ShomeiError("CERT_REQUIRED");
    // One indexed read by the fingerprint (the SHA-256 of the DER, no parsing): every
    // certificate on record is one this CA issued, so only a miss needs the DER read to say why.
    const found: { cert: CertificateRow; user: UserRecord | undefined; session?: SessionRecord | undefined } | undefined = idHash === undefined
      ? await this.d.store.getCertificateAndUser(fp ?? fingerprint(der))
      : await this.d.store.getCertificateUserAndSession(fp ?? fingerprint(der), idHash);
    if (!found) {
      let info;
      try {
        info = readCertificate(der);
      } catch {
        throw new ShomeiError("CERT_OTHER_CA", { issuer: "?" });
      }
      if (await isSignedBy(der, this.d.issuingDer)) throw new ShomeiError("CERT_UNKNOWN", { serial: info.serialHex });
      throw new ShomeiError("CERT_OTHER_CA", { issuer: info.issuer });
    }
    // The row was found by the SHA-256 of these bytes, so they are the DER on record: not read again.
    // Written out rather than spread (one object shape; the spread and the added field cost a map transition per request).
    const c = found.cert;
    const cert: CertificateRecord = {
      serial: c.serial, userId: c.userId, kind: c.kind, subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter, fingerprint: c.fingerprint,
      der: Buffer.isBuffer(der) ? der : Buffer.from(der), status: c.status, csrHash: c.csrHash, createdAt: c.createdAt, revokedAt: c.revokedAt,
      revocationReason: c.revocationReason,
    };
    const user = found.user;
    if (cert.kind !== "client" || !cert.userId) throw new ShomeiError("CERT_UNKNOWN", { serial: cert.serial });
    const now = this.d.clock();
    // Times people read in the service's zone; JSON answers carry them as ISO 8601 (isoTimes).
    if (cert.status === "revoked") throw new ShomeiError("CERT_REVOKED", { revokedAt: cert.revokedAt ?? now, serial: cert.serial }, this.zoned());
    if (now < cert.notBefore) throw new ShomeiError("CERT_NOT_YET_VALID", { notBefore: cert.notBefore }, this.zoned());
    if (now >= cert.notAfter) throw new ShomeiError("CERT_EXPIRED", { notAfter: cert.notAfter }, this.zoned());
    if (!user) throw new ShomeiError("CERT_UNKNOWN", { serial: cert.serial });
    if (user.status === "suspended") throw new ShomeiError("USER_SUSPENDED");
    return idHash === undefined ? { cert, user } : { cert, user, session: { token: sessionToken ?? "", record: found.session } };
  }

  // ---- login --------------------------------------------------------------------------------

  /**
   * User ID + password with a certificate. `open` creates a session (the browser); without it
   * the credentials are only checked (the login check of the issuance application).
   */
  async login(id: Identity, typedUserId: string, password: string, channel: "web" | "api", open: boolean): Promise<LoginResult> {
    const now = this.d.clock();
    const userId = id.user.userId;
    const typed = typedUserId.normalize("NFKC").trim();
    const fail = (reason: string, extra: Record<string, string | number> = {}): AuditEvent =>
      ({ at: now, actor: `user:${userId}`, event: "login", userId, outcome: "failure", detail: { channel, reason, serial: id.cert.serial, ...extra } });
    if (typed !== userId) {
      await this.d.store.audit([fail("user-mismatch", { typed: typed.slice(0, 64) })]);
      throw new ShomeiError("LOGIN_USER_MISMATCH", { typed: typed.slice(0, 64), certUser: userId });
    }
    // The lock test, and the count of checks allowed, are one conditional update made before the
    // (slow) password check: parallel requests cannot all pass the test first.
    await this.reserveCheck(userId, now, fail("locked"));
    let settled = false;
    try {
      const user = (await this.d.store.getUser(userId)) ?? id.user;
      const ok = user.passwordHash !== null && password.length <= PASSWORD_MAX && await verifyPassword(user.passwordHash, password);
      if (!ok) {
        settled = true;
        throw await this.countFailure(userId, fail("wrong-password"), "LOGIN_FAILED");
      }
      if (user.passwordInitial && user.passwordExpiresAt && now >= user.passwordExpiresAt) {
        settled = true;
        await this.d.store.releaseLoginAttempt(userId);
        await this.d.store.audit([fail("initial-password-expired")]);
        throw new ShomeiError("INITIAL_PASSWORD_EXPIRED", { expiredAt: user.passwordExpiresAt }, this.zoned());
      }
      settled = true;
      const counted = await this.d.store.recordLoginSuccess(userId, now, [
        { at: now, actor: `user:${userId}`, event: "login", userId, outcome: "success", detail: { channel, serial: id.cert.serial, passwordChangeDue: user.passwordInitial } },
      ]);
      if (!counted) {
        // Locked while this password was being checked: the right password no longer opens it.
        await this.d.store.audit([fail("locked")]);
        throw this.lockedError();
      }
      const session = open ? await this.openSession(user, id.cert, user.passwordInitial ? "change-password" : "full") : undefined;
      return { user, passwordChangeDue: user.passwordInitial, ...(session ? { session } : {}) };
    } finally {
      if (!settled) await this.d.store.releaseLoginAttempt(userId);
    }
  }

  /**
   * Reserves one password check for the user (see PortalStore.reserveLoginAttempt); when the
   * account is locked, or `maxFailedLogins` checks are already under way, audits `refused` and
   * throws the lock error without any password being looked at.
   */
  private async reserveCheck(userId: string, now: Date, refused: AuditEvent): Promise<void> {
    const auto = this.d.policy.autoUnlockMinutes;
    const r = await this.d.store.reserveLoginAttempt(userId, this.d.policy.maxFailedLogins, now, {
      staleBefore: new Date(now.getTime() - RESERVATION_STALE_MS),
      ...(auto > 0 ? { autoUnlockBefore: new Date(now.getTime() - auto * MIN) } : {}),
    });
    if (r === "reserved") return;
    await this.d.store.audit([r === "busy" ? { ...refused, detail: { ...refused.detail, reason: "checks-in-flight" } } : refused]);
    throw this.lockedError();
  }

  private lockedError(): ShomeiError {
    const minutes = this.d.policy.autoUnlockMinutes;
    return minutes > 0 ? new ShomeiError("ACCOUNT_LOCKED_TEMPORARILY", { minutes }) : new ShomeiError("ACCOUNT_LOCKED");
  }

  /** Counts a wrong password; returns the error to throw (LOCKED when this one locked the account). */
  private async countFailure(userId: string, event: AuditEvent, code: "LOGIN_FAILED" | "CURRENT_PASSWORD_WRONG"): Promise<ShomeiError> {
    const max = this.d.policy.maxFailedLogins;
    const r = await this.d.store.recordLoginFailure(userId, max, event.at, [event]);
    if (r.locked || r.failures >= max) {
      await this.d.store.deleteUserSessions(userId);
      return this.lockedError();
    }
    return new ShomeiError(code, { remaining: max - r.failures });
  }

  // ---- sessions -----------------------------------------------------------------------------

  private async openSession(user: UserRecord, cert: CertificateRecord, stage: SessionStage, audit: readonly AuditEvent[] = []): Promise<OpenSession> {
    const now = this.d.clock();
    const token = randomBytes(32).toString("base64url");
    const record: SessionRecord = { idHash: sessionIdHash(token), userId: user.userId, certFingerprint: cert.fingerprint, stage, createdAt: now, lastSeenAt: now };
    await this.d.store.createSession(record, audit);
    return { token, record };
  }

  /**
   * The session a cookie names, if it is still good for this certificate. Throws
   * SESSION_CERT_MISMATCH when it was opened with another certificate (the cookie alone is
   * worth nothing) and SESSION_ENDED when it is unknown or idle too long.
   */
  async resume(token: string, id: Identity): Promise<SessionRecord> {
    // Read with the certificate in this request when identify was given the same token.
    const s = id.session?.token === token ? id.session.record : await this.d.store.getSession(sessionIdHash(token));
    if (!s) throw new ShomeiError("SESSION_ENDED");
    if (!sameText(s.certFingerprint, id.cert.fingerprint) || s.userId !== id.user.userId) throw new ShomeiError("SESSION_CERT_MISMATCH");
    const now = this.d.clock();
    if (now.getTime() - s.lastSeenAt.getTime() > this.d.policy.idleMinutes * MIN) {
      await this.d.store.deleteSession(s.idHash, [{ at: now, actor: "system", event: "session.expire", userId: s.userId, outcome: "success" }]);
      throw new ShomeiError("SESSION_ENDED");
    }
    // One write a minute at most keeps the idle clock right without a write per request.
    if (now.getTime() - s.lastSeenAt.getTime() > MIN) await this.d.store.touchSession(s.idHash, now);
    return s;
  }

  async logout(session: SessionRecord): Promise<void> {
    const now = this.d.clock();
    await this.d.store.deleteSession(session.idHash, [{ at: now, actor: `user:${session.userId}`, event: "logout", userId: session.userId, outcome: "success" }]);
  }

  /** CSRF token for a form: tied to the session, or before login to the certificate. */
  csrfToken(bound: { session: SessionRecord } | { identity: Identity }): string {
    const subject = "session" in bound ? `s:${bound.session.idHash}` : `c:${bound.identity.cert.fingerprint}`;
    // A certificate's login form has the same token on every new connection: kept for the subjects seen lately.
    let token = this.csrfTokens.get(subject);
    if (token === undefined) {
      token = createHmac("sha256", this.csrfKey).update(subject).digest("base64url");
      if (this.csrfTokens.size >= 4096) this.csrfTokens.clear();
      this.csrfTokens.set(subject, token);
    }
    return token;
  }

  checkCsrf(bound: { session: SessionRecord } | { identity: Identity }, token: unknown): void {
    if (typeof token !== "string" || !sameText(token, this.csrfToken(bound))) throw new ShomeiError("CSRF_INVALID");
  }

  // ---- passwords ----------------------------------------------------------------------------

  /** Checks the rules that need no hashing; throws the code of the first rule broken. */
  checkPolicy(userId: string, next: string, confirm: string): void {
    if (next !== confirm) throw new ShomeiError("PASSWORD_CONFIRM_MISMATCH");
    const min = this.d.policy.passwordMinLength;
    if ([...next].length < min) throw new ShomeiError("PASSWORD_TOO_SHORT", { min });
    if (next.length > PASSWORD_MAX) throw new ShomeiError("PASSWORD_TOO_LONG", { max: PASSWORD_MAX });
    if (next.toLowerCase().includes(userId.toLowerCase())) throw new ShomeiError("PASSWORD_CONTAINS_USER_ID");
  }

  /**
   * Changes the password (current one required) and replaces the session with a new, full one.
   * A wrong current password counts toward the lock like a failed login.
   */
  async changePassword(id: Identity, session: SessionRecord, current: string, next: string, confirm: string): Promise<OpenSession> {
    const now = this.d.clock();
    const userId = id.user.userId;
    this.checkPolicy(userId, next, confirm);
    const wrong = (reason: string): AuditEvent => ({ at: now, actor: `user:${userId}`, event: "password.change", userId, outcome: "failure", detail: { reason } });
    // A wrong current password counts toward the lock: reserved like a login's check.
    await this.reserveCheck(userId, now, wrong("locked"));
    let user: UserRecord & { readonly passwordHash: string };
    let settled = false;
    try {
      const found = await this.d.store.getUser(userId);
      if (!found?.passwordHash) throw new ShomeiError("USER_NOT_FOUND", { userId });
      user = { ...found, passwordHash: found.passwordHash };
      const ok = current.length <= PASSWORD_MAX && await verifyPassword(user.passwordHash, current);
      settled = true;
      if (!ok) throw await this.countFailure(userId, wrong("current-password-wrong"), "CURRENT_PASSWORD_WRONG");
      await this.d.store.releaseLoginAttempt(userId);
    } finally {
      if (!settled) await this.d.store.releaseLoginAttempt(userId);
    }
    const n = this.d.policy.passwordHistory;
    const earlier = [user.passwordHash, ...await this.d.store.passwordHistory(userId, Math.max(n - 1, 0))].slice(0, n);
    for (const h of earlier) {
      if (await verifyPassword(h, next)) {
        await this.d.store.audit([{ at: now, actor: `user:${userId}`, event: "password.change", userId, outcome: "failure", detail: { reason: "reused" } }]);
        throw new ShomeiError("PASSWORD_REUSED", { count: n });
      }
    }
    await this.d.store.changePassword(userId, await hashPassword(next), now, Math.max(n - 1, 0), [
      { at: now, actor: `user:${userId}`, event: "password.change", userId, outcome: "success", detail: { wasInitial: user.passwordInitial } },
    ]);
    await this.d.store.deleteSession(session.idHash, []);
    return this.openSession({ ...user, passwordInitial: false }, id.cert, "full");
  }

  // ---- what the user's page shows ------------------------------------------------------------

  async overview(id: Identity): Promise<{ user: UserRecord; certificates: CertificateListEntry[]; expiringSoon: boolean; passwordAgeDays: number | null }> {
    const now = this.d.clock();
    // id.user was read in this request, with the certificate (getCertificateAndUser): no second read.
    const user = id.user;
    const certificates = await this.d.store.listCertificateEntries(user.userId);
    const expiringSoon = id.cert.notAfter.getTime() - now.getTime() <= this.d.policy.expiryNoticeDays * DAY;
    const passwordAgeDays = user.passwordSetAt ? Math.floor((now.getTime() - user.passwordSetAt.getTime()) / DAY) : null;
    return { user, certificates, expiringSoon, passwordAgeDays };
  }

  // ---- the operator's actions ---------------------------------------------------------------

  /** The operator acting, for the audit log. */
  static actor(operator: UserRecord): string {
    return `operator:${operator.userId}`;
  }

  requireOperator(user: UserRecord): void {
    if (user.role !== "operator") throw new ShomeiError("OPERATOR_ONLY");
  }

  registerUser(operator: UserRecord, input: NewUserInput): Promise<RegistrationResult> {
    return this.d.registration.addUser(input, PortalService.actor(operator));
  }

  /**
   * Registers the users in a CSV file. Each row is checked in full first; a bad row is reported
   * and nothing of it is written, the good rows are registered one by one (each with its two
   * e-mails). With `dryRun`, only the checks run.
   */
  async bulkRegister(operator: UserRecord, bytes: Uint8Array, dryRun: boolean): Promise<BulkResult> {
    const parsed = parseUserCsv(bytes);
    const rows: BulkRowResult[] = [];
    const fromRowError = (e: CsvRowError, userId: string): BulkRowResult => ({
      line: e.line, userId, outcome: "rejected", code: "FIELD_INVALID",
      message: new ShomeiError("FIELD_INVALID", { field: e.field, reason: e.reason }).text("en"),
      messageJa: new ShomeiError("FIELD_INVALID", { field: e.field, reason: e.reason }).text("ja"),
    });
    const rejected = (line: number, userId: string, e: unknown): BulkRowResult => {
      const err = e instanceof ShomeiError ? e : new ShomeiError("INTERNAL", {}, { cause: e });
      return { line, userId, outcome: "rejected", code: err.code, message: err.text("en"), messageJa: err.text("ja") };
    };
    for (const e of parsed.errors) rows.push(fromRowError(e, ""));
    for (const r of parsed.rows) {
      const input: NewUserInput = {
        userId: r.userId, email: r.email, name: r.name,
        ...(r.organization ? { organization: r.organization } : {}), ...(r.lang ? { lang: r.lang } : {}),
      };
      try {
        this.d.registration.validate(input);
        if (await this.d.store.getUser(r.userId)) throw new ShomeiError("USER_EXISTS", { userId: r.userId });
        if (dryRun) {
          rows.push({ line: r.line, userId: r.userId, outcome: "valid" });
          continue;
        }
        await this.d.registration.addUser(input, PortalService.actor(operator));
        rows.push({ line: r.line, userId: r.userId, outcome: "registered" });
      } catch (e) {
        // A mail that could not be sent stays queued (the worker retries): the row is registered all the same.
        rows.push(rejected(r.line, r.userId, e));
      }
    }
    rows.sort((a, b) => a.line - b.line);
    const registered = rows.filter((r) => r.outcome === "registered").length;
    const bad = rows.filter((r) => r.outcome === "rejected").length;
    await this.d.store.audit([{
      at: this.d.clock(), actor: PortalService.actor(operator), event: "user.bulk-register", userId: null,
      outcome: bad === 0 ? "success" : "failure", detail: { encoding: parsed.encoding, dryRun, registered, rejected: bad },
    }]);
    return { encoding: parsed.encoding, dryRun, rows, registered, rejected: bad };
  }

  reissuePasscode(operator: UserRecord, userId: string): Promise<ResendResult> {
    return this.d.registration.reissuePasscode(userId, PortalService.actor(operator));
  }

  resetPassword(operator: UserRecord, userId: string): Promise<ResendResult> {
    return this.d.registration.resetPassword(userId, PortalService.actor(operator));
  }

  async unlock(operator: UserRecord, userId: string): Promise<void> {
    const now = this.d.clock();
    await this.d.store.unlock(userId, now, [{ at: now, actor: PortalService.actor(operator), event: "login.unlock", userId, outcome: "success" }]);
  }

  async setSuspended(operator: UserRecord, userId: string, suspended: boolean): Promise<void> {
    if (suspended && userId === operator.userId) throw new ShomeiError("FIELD_INVALID", { field: "userId", reason: "an operator cannot suspend themselves" });
    const now = this.d.clock();
    await this.d.store.setStatus(userId, suspended ? "suspended" : "active", now, [
      { at: now, actor: PortalService.actor(operator), event: suspended ? "user.suspend" : "user.resume", userId, outcome: "success" },
    ]);
  }

  async revoke(operator: UserRecord, serial: string, reason: string): Promise<CertificateRecord> {
    const cert = await revokeCertificate(this.d.store, PortalService.actor(operator), serial, reason, this.d.clock());
    this.d.onRevoked?.(cert.serial);
    return cert;
  }

  getUser(userId: string): Promise<UserRecord | undefined> {
    return this.d.store.getUser(userId);
  }

  listCertificates(userId: string): Promise<CertificateRecord[]> {
    return this.d.store.listCertificates(userId);
  }

  searchUsers(text: string | undefined, limit = 100, offset = 0): Promise<UserRecord[]> {
    return this.d.store.searchUsers({ ...(text ? { text } : {}), limit, offset });
  }

  queryAudit(q: AuditQuery): Promise<AuditRecord[]> {
    return this.d.store.queryAudit(q);
  }
}
