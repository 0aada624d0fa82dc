/**
 * The store: Kysely implementations of the ports that ca/ and registration/ declare, over
 * SQLite (embedded default) or PostgreSQL. The only place that knows SQL.
 */
import { createHash } from "node:crypto";
import { CompiledQuery, sql, type Kysely, type Selectable, type Transaction } from "kysely";
import type { CertificateListEntry, CertificateRecord, CertificateRow } from "../ca/ports.js";
import { ShomeiError } from "../i18n/errors.js";
import type {
  AuditEvent, AuditQuery, AuditRecord, MailQueueStore, MailQueueSummary, MailStatus, NewMail, PasscodeRecord, QueuedMail,
  RedeemRequest, RedeemResult, RegistrationStore, UserRecord,
} from "../registration/ports.js";
import { boundAuditEvent } from "../registration/audit_input.js";
import type { CertificateReminderCandidate, PasswordReminderCandidate, ReminderStore } from "../registration/reminders.js";
import type { LoginReservation, PortalStore, RevocationReason, SessionRecord } from "../portal/ports.js";
import type { UserStatus } from "../registration/ports.js";
import type { AddressFailureStore, AddressReleases } from "../http/failure_limiter.js";
import type { Dialect } from "./migrations.js";
import type { AuditTable, CertificatesTable, Database, MailQueueTable, PasscodesTable, SessionsTable, UsersTable } from "./schema.js";
import type { Insertable, Updateable } from "kysely";
import type { OcspSubject, StoredCrl, StoredOcspResponse } from "../status/ports.js";
import { Prepared, prepared, verifyingPrepared } from "./prepared.js";
import { BUSY, type DirectReads, type RawRow } from "./direct_reads.js";
import { isDeepStrictEqual } from "node:util";

type Conn = Kysely<Database> | Transaction<Database>;

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);
const date = (s: string): Date => new Date(s);
const dateOrNull = (s: string | null): Date | null => (s === null ? null : new Date(s));

function toUser(r: Selectable<UsersTable>): UserRecord {
  return {
    userId: r.user_id, email: r.email, name: r.name, organization: r.organization,
    lang: r.lang === "en" ? "en" : "ja",
    role: r.role === "operator" ? "operator" : "user",
    status: r.status === "suspended" ? "suspended" : "active",
    passwordHash: r.password_hash, passwordInitial: Number(r.password_initial) === 1,
    passwordSetAt: dateOrNull(r.password_set_at), passwordExpiresAt: dateOrNull(r.password_expires_at),
    createdAt: date(r.created_at), failedLogins: Number(r.failed_logins), lockedAt: dateOrNull(r.locked_at),
    lastLoginAt: dateOrNull(r.last_login_at),
  };
}

function fromUser(u: UserRecord): Insertable<UsersTable> {
  return {
    user_id: u.userId, email: u.email, name: u.name, organization: u.organization, lang: u.lang, role: u.role,
    status: u.status, password_hash: u.passwordHash, password_initial: u.passwordInitial ? 1 : 0,
    password_set_at: isoOrNull(u.passwordSetAt), password_expires_at: isoOrNull(u.passwordExpiresAt),
    created_at: iso(u.createdAt), updated_at: iso(u.createdAt), failed_logins: u.failedLogins,
    locked_at: isoOrNull(u.lockedAt), last_login_at: isoOrNull(u.lastLoginAt),
  };
}

function toPasscode(r: Selectable<PasscodesTable>): PasscodeRecord {
  return {
    userId: r.user_id, hash: r.hash, issuedAt: date(r.issued_at), expiresAt: date(r.expires_at),
    failedAttempts: Number(r.failed_attempts),
    status: r.status === "used" ? "used" : r.status === "void" ? "void" : "active",
    usedAt: dateOrNull(r.used_at), csrHash: r.csr_hash, certificateSerial: r.certificate_serial,
  };
}

function fromPasscode(p: PasscodeRecord): PasscodesTable {
  return {
    user_id: p.userId, hash: p.hash, issued_at: iso(p.issuedAt), expires_at: iso(p.expiresAt),
    failed_attempts: p.failedAttempts, status: p.status, used_at: isoOrNull(p.usedAt), csr_hash: p.csrHash,
    certificate_serial: p.certificateSerial,
  };
}

/** toCertificate without the DER (rows read without the column). */
function toCertificateRow(r: Omit<Selectable<CertificatesTable>, "der">): CertificateRow {
  return {
    serial: r.serial, userId: r.user_id, kind: r.kind === "server" ? "server" : "client", subject: r.subject,
    notBefore: date(r.not_before), notAfter: date(r.not_after), fingerprint: r.fingerprint,
    status: r.status === "revoked" ? "revoked" : "valid", csrHash: r.csr_hash, createdAt: date(r.created_at),
    revokedAt: dateOrNull(r.revoked_at), revocationReason: r.revocation_reason,
  };
}

/** The columns of CertificateRow: every column of the table but the DER. */
const CERTIFICATE_ROW = [
  "c.serial", "c.user_id", "c.kind", "c.subject", "c.not_before", "c.not_after", "c.fingerprint", "c.status", "c.csr_hash",
  "c.created_at", "c.revoked_at", "c.revocation_reason",
] as const;

function toCertificate(r: Selectable<CertificatesTable>): CertificateRecord {
  return {
    serial: r.serial, userId: r.user_id, kind: r.kind === "server" ? "server" : "client", subject: r.subject,
    notBefore: date(r.not_before), notAfter: date(r.not_after), fingerprint: r.fingerprint, der: Buffer.from(r.der),
    status: r.status === "revoked" ? "revoked" : "valid", csrHash: r.csr_hash, createdAt: date(r.created_at),
    revokedAt: dateOrNull(r.revoked_at), revocationReason: r.revocation_reason,
  };
}

function fromCertificate(c: CertificateRecord): CertificatesTable {
  return {
    serial: c.serial, user_id: c.userId, kind: c.kind, subject: c.subject, not_before: iso(c.notBefore),
    not_after: iso(c.notAfter), fingerprint: c.fingerprint, der: c.der, status: c.status, csr_hash: c.csrHash,
    created_at: iso(c.createdAt), revoked_at: null, revocation_reason: null,
  };
}

function toAudit(r: Selectable<AuditTable>): AuditRecord {
  return {
    id: Number(r.id), at: date(r.at), actor: r.actor, event: r.event, userId: r.user_id,
    outcome: r.outcome === "failure" ? "failure" : "success",
    detail: JSON.parse(r.detail) as AuditRecord["detail"],
    count: Number(r.count), lastAt: date(r.last_at ?? r.at),
  };
}

/** Identical events within this window share one audit row (with a count). */
export const AUDIT_REPEAT_WINDOW_MS = 10 * 60_000;

/** The key of an (already bounded) event's row: a hash of what makes it identical, and its window. */
function auditRepeatKey(e: AuditEvent, detail: string): string {
  const bucket = Math.floor(e.at.getTime() / AUDIT_REPEAT_WINDOW_MS);
  return createHash("sha256").update(JSON.stringify([e.event, e.actor, e.userId, e.outcome, detail])).digest("hex").slice(0, 32) + `:${bucket}`;
}

function toQueuedMail(r: Selectable<MailQueueTable>): QueuedMail {
  const status: MailStatus = r.status === "sent" ? "sent" : r.status === "failed" ? "failed" : "pending";
  return {
    seq: Number(r.seq), createdAt: date(r.created_at), kind: r.kind, userId: r.user_id, recipient: r.recipient, subject: r.subject,
    body: r.body === null ? null : Buffer.from(r.body), status, attempts: Number(r.attempts), nextAttemptAt: date(r.next_attempt_at),
    leaseUntil: dateOrNull(r.lease_until), lastError: r.last_error, sentAt: dateOrNull(r.sent_at),
  };
}

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  return err?.code === "23505" || err?.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || err?.code === "SQLITE_CONSTRAINT_UNIQUE";
}

interface Queued {
  readonly fn: (trx: Conn) => Promise<unknown>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/** Settles one reservation (never below zero: a stale one may have been dropped already). */
const releaseOne = sql<number>`(case when login_pending > 0 then login_pending - 1 else 0 end)`;

/** Transaction control, compiled once (they run around every write). */
const TX = {
  beginImmediate: CompiledQuery.raw("begin immediate"),
  commit: CompiledQuery.raw("commit"),
  rollback: CompiledQuery.raw("rollback"),
  savepoint: CompiledQuery.raw("savepoint grouped"),
  rollbackTo: CompiledQuery.raw("rollback to grouped"),
  release: CompiledQuery.raw("release grouped"),
  // store/open.ts sets busy_timeout = 10000 on every SQLite connection; beginImmediate lowers it for one try.
  noBusyWait: CompiledQuery.raw("pragma busy_timeout = 0"),
  busyWait: CompiledQuery.raw("pragma busy_timeout = 10000"),
} as const;

/** How long a write asks for SQLite's write lock without blocking the thread before it waits in SQLite's busy handler. */
const BUSY_WAIT_MS = 5_000;

/**
 * BEGIN IMMEDIATE. Unless `patient`, without waiting for another connection's write lock:
 * false when it is held (SQLITE_BUSY), the connection's busy_timeout restored either way.
 */
async function beginImmediate(conn: Conn, patient: boolean): Promise<boolean> {
  if (patient) {
    await conn.executeQuery(TX.beginImmediate);
    return true;
  }
  await conn.executeQuery(TX.noBusyWait);
  try {
    await conn.executeQuery(TX.beginImmediate);
    return true;
  } catch (e) {
    if ((e as { code?: string } | null)?.code === "SQLITE_BUSY") return false;
    throw e;
  } finally {
    await conn.executeQuery(TX.busyWait);
  }
}

/** The passcode columns read with a user (prefixed, the two tables share column names). */
const PASSCODE_AS = [
  "p.user_id as p_user_id", "p.hash as p_hash", "p.issued_at as p_issued_at", "p.expires_at as p_expires_at",
  "p.failed_attempts as p_failed_attempts", "p.status as p_status", "p.used_at as p_used_at", "p.csr_hash as p_csr_hash",
  "p.certificate_serial as p_certificate_serial",
] as const;

/** The user columns read with a certificate: those of a UserRecord (toUser). */
const USER_AS = [
  "u.user_id as u_user_id", "u.email as u_email", "u.name as u_name", "u.organization as u_organization", "u.lang as u_lang",
  "u.role as u_role", "u.status as u_status", "u.password_hash as u_password_hash", "u.password_initial as u_password_initial",
  "u.password_set_at as u_password_set_at", "u.password_expires_at as u_password_expires_at", "u.created_at as u_created_at",
  "u.failed_logins as u_failed_logins", "u.locked_at as u_locked_at", "u.last_login_at as u_last_login_at",
] as const;

/** The session columns read with a certificate and its user (the portal's every request). */
const SESSION_AS = [
  "s.id_hash as s_id_hash", "s.user_id as s_user_id", "s.cert_fingerprint as s_cert_fingerprint", "s.stage as s_stage",
  "s.created_at as s_created_at", "s.last_seen_at as s_last_seen_at",
] as const;

/** The names of an `x.col as p_col` list without their prefix. */
const columnsOf = (list: readonly string[]): readonly string[] => list.map((a) => a.slice(a.indexOf(" as ") + 6));
/** The names of an `x.col as p_col` list as selected (`p_col`). */
const aliasesOf = (list: readonly string[]): readonly string[] => list.map((a) => a.slice(a.indexOf(" as ") + 4));
const USER_COLUMNS = columnsOf(USER_AS);
const PASSCODE_COLUMNS = columnsOf(PASSCODE_AS);
const SESSION_COLUMNS = columnsOf(SESSION_AS);

/**
 * The fields `columns` of a joined row, each under `prefix` + its name, without the prefix
 * (undefined when the join found nothing), without going over every field of the row.
 */
function picked<T>(row: Record<string, unknown>, prefix: string, columns: readonly string[]): T | undefined {
  if (row[prefix + columns[0]] === null || row[prefix + columns[0]] === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const c of columns) out[c] = row[prefix + c];
  return out as T;
}

/** A grouped write failed in a batch run without savepoints: the batch runs again with them. */
class GuardedRetry extends Error {
  constructor(readonly failure: unknown) {
    super("a grouped write failed; the batch runs again with a savepoint per write");
  }
}

/** At most this many queued writes share one commit. */
const GROUP_MAX = 64;
/**
 * While writers overlap (the last commit carried more than one write, less than
 * GROUP_OVERLAP_MS ago), the next commit waits up to GROUP_DELAY_MS for more writes, or until
 * GROUP_TARGET are queued: at a worker's EST rate its writes come one every 0.8 ms or so, a
 * commit blocks the thread for about 0.15 ms, and without the wait each commit carried one or
 * two writes (0.92 fsync and 13–20 WAL pages per enrollment; docs/benchmarks.md, fifth pass).
 * A writer alone (one write after another: the CLI, one enrollment at a time) never waits: its
 * commits carry one write each, which is not overlap. As PostgreSQL's commit_delay with
 * commit_siblings, but decided from the commits themselves.
 */
const GROUP_DELAY_MS = 2;
const GROUP_TARGET = 8;
const GROUP_OVERLAP_MS = 50;

function toSession(r: Selectable<SessionsTable>): SessionRecord {
  return {
    idHash: r.id_hash, userId: r.user_id, certFingerprint: r.cert_fingerprint,
    stage: r.stage === "full" ? "full" : "change-password", createdAt: date(r.created_at), lastSeenAt: date(r.last_seen_at),
  };
}

type EntryColumns = Pick<Selectable<CertificatesTable>, "serial" | "not_before" | "not_after" | "status" | "revocation_reason">;

function toCertificateEntry(r: EntryColumns): CertificateListEntry {
  return {
    serial: r.serial, notBefore: date(r.not_before), notAfter: date(r.not_after),
    status: r.status === "revoked" ? "revoked" : "valid", revocationReason: r.revocation_reason,
  };
}

/** The columns of the page's certificate list, in the order selected. */
const ENTRY_COLUMNS = ["serial", "not_before", "not_after", "status", "revocation_reason"] as const;

/**
 * The names SQLite gives the columns of the joined certificate + user + session read
 * (certificateUserSession), at the positions joinedFromRaw reads them: DirectReads refuses a
 * statement whose columns are not these, in this order.
 */
const JOINED_NAMES = [
  "serial", "user_id", "kind", "subject", "not_before", "not_after", "fingerprint", "status", "csr_hash", "created_at", "revoked_at",
  "revocation_reason",
  "u_user_id", "u_email", "u_name", "u_organization", "u_lang", "u_role", "u_status", "u_password_hash", "u_password_initial",
  "u_password_set_at", "u_password_expires_at", "u_created_at", "u_failed_logins", "u_locked_at", "u_last_login_at",
  "s_id_hash", "s_user_id", "s_cert_fingerprint", "s_stage", "s_created_at", "s_last_seen_at",
] as const;

/**
 * The names SQLite gives the columns of the enrollment read (userWithPasscode): the user's, then
 * the passcode's with their prefix, at the positions userWithPasscodeFromRaw reads them.
 */
const USER_PASSCODE_NAMES = [...aliasesOf(USER_AS), ...aliasesOf(PASSCODE_AS)];

/** The columns of the certificate + user read (certificateAndUser, the login page's): JOINED_NAMES without the session's. */
const CERTIFICATE_USER_NAMES = JOINED_NAMES.slice(0, 27);

type Joined = { cert: CertificateRow; user: UserRecord | undefined; session: SessionRecord | undefined };

/**
 * A joined row read in raw mode (its columns in JOINED_NAMES order, which DirectReads checks
 * against the statement), made into records by the functions the object row goes through:
 * each part's object is written out by position (one shape each, no loop over names).
 */
function joinedFromRaw(v: RawRow): Joined {
  const session = v[27] === null || v[27] === undefined ? undefined : {
    id_hash: v[27], user_id: v[28], cert_fingerprint: v[29], stage: v[30], created_at: v[31], last_seen_at: v[32],
  } as Selectable<SessionsTable>;
  const { cert, user } = certificateAndUserFromRaw(v);
  return { cert, user, session: session ? toSession(session) : undefined };
}

/** The certificate and user of a raw row whose first columns are CERTIFICATE_USER_NAMES. */
function certificateAndUserFromRaw(v: RawRow): { cert: CertificateRow; user: UserRecord | undefined } {
  const cert = {
    serial: v[0], user_id: v[1], kind: v[2], subject: v[3], not_before: v[4], not_after: v[5], fingerprint: v[6], status: v[7],
    csr_hash: v[8], created_at: v[9], revoked_at: v[10], revocation_reason: v[11],
  } as Omit<Selectable<CertificatesTable>, "der">;
  return { cert: toCertificateRow(cert), user: userFromRaw(v, 12) };
}

/** The user whose USER_AS columns begin at `at` in a raw row (undefined when the join found none). */
function userFromRaw(v: RawRow, at: number): UserRecord | undefined {
  if (v[at] === null || v[at] === undefined) return undefined;
  return toUser({
    user_id: v[at], email: v[at + 1], name: v[at + 2], organization: v[at + 3], lang: v[at + 4], role: v[at + 5], status: v[at + 6],
    password_hash: v[at + 7], password_initial: v[at + 8], password_set_at: v[at + 9], password_expires_at: v[at + 10],
    created_at: v[at + 11], failed_logins: v[at + 12], locked_at: v[at + 13], last_login_at: v[at + 14],
  } as Selectable<UsersTable>);
}

/** The user and passcode of a raw row in USER_PASSCODE_NAMES order (the passcode undefined when the join found none). */
function userWithPasscodeFromRaw(v: RawRow): { user: UserRecord | undefined; passcode: PasscodeRecord | undefined } {
  const passcode = v[15] === null || v[15] === undefined ? undefined : {
    user_id: v[15], hash: v[16], issued_at: v[17], expires_at: v[18], failed_attempts: v[19], status: v[20], used_at: v[21],
    csr_hash: v[22], certificate_serial: v[23],
  } as Selectable<PasscodesTable>;
  return { user: userFromRaw(v, 0), passcode: passcode ? toPasscode(passcode) : undefined };
}

/** A certificate list row read in raw mode (ENTRY_COLUMNS order). */
function entryFromRaw(v: RawRow): CertificateListEntry {
  return toCertificateEntry({ serial: v[0], not_before: v[1], not_after: v[2], status: v[3], revocation_reason: v[4] } as EntryColumns);
}

export interface RevocationRow {
  readonly seq: number;
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** The PostgreSQL NOTIFY channel of revocations and CRLs; the payload names the schema. */
export const STATUS_CHANNEL = "shomei_status";

/** LISTEN on `channel` for this store's schema: resolves with how to stop. */
export type StatusListen = (channel: string, onChange: () => void, lost: (e: unknown) => void) => Promise<() => Promise<void>>;

export class KyselyStore implements RegistrationStore, PortalStore, MailQueueStore, ReminderStore, AddressFailureStore {
  private readonly queue: Queued[] = [];
  private flushing = false;
  /** The wait for more writes before the next commit (see GROUP_DELAY_MS), while it runs. */
  private delayed: NodeJS.Timeout | undefined;
  /** How many writes the last commit carried, and when it ended (performance.now()). */
  private lastCommit = { writes: 0, at: Number.NEGATIVE_INFINITY };
  /** Group commit counters, for tests and diagnostics: commits, the writes they carried, and the commits that waited for more. */
  readonly groupStats = { commits: 0, writes: 0, delayed: 0 };

  /**
   * The queries of the hot paths (enrollment, the portal's every request, the failure limit),
   * compiled once (store/prepared.ts). Each builder is the Kysely query it replaces.
   */
  private readonly q = {
    user: prepared((userId: string) => this.db.selectFrom("users").selectAll().where("user_id", "=", userId)),
    passcode: prepared((userId: string) => this.db.selectFrom("passcodes").selectAll().where("user_id", "=", userId)),
    userWithPasscode: prepared((userId: string) => this.db.selectFrom("users as u").leftJoin("passcodes as p", "p.user_id", "u.user_id")
      .select(USER_AS).select(PASSCODE_AS).where("u.user_id", "=", userId)),
    certificate: prepared((serial: string) => this.db.selectFrom("certificates").selectAll().where("serial", "=", serial)),
    certificateByFingerprint: prepared((fp: string) => this.db.selectFrom("certificates").selectAll().where("fingerprint", "=", fp)),
    certificateAndUser: prepared((fp: string) => this.db.selectFrom("certificates as c").leftJoin("users as u", "u.user_id", "c.user_id")
      .select(CERTIFICATE_ROW).select(USER_AS).where("c.fingerprint", "=", fp)),
    redeem: prepared((now: string, csrHash: string, serial: string, userId: string, hash: string) => this.db.updateTable("passcodes")
      .set({ status: "used", used_at: now, csr_hash: csrHash, certificate_serial: serial })
      .where("user_id", "=", userId).where("status", "=", "active").where("hash", "=", hash)
      .where("expires_at", ">", now)),
    insertCertificate: prepared((
      serial: string, userId: string | null, kind: string, subject: string, notBefore: string, notAfter: string, fp: string,
      der: Buffer, status: string, csrHash: string | null, createdAt: string, revokedAt: string | null, reason: string | null,
    ) => this.db.insertInto("certificates").values({
      serial, user_id: userId, kind, subject, not_before: notBefore, not_after: notAfter, fingerprint: fp, der, status,
      csr_hash: csrHash, created_at: createdAt, revoked_at: revokedAt, revocation_reason: reason,
    })),
    session: prepared((idHash: string) => this.db.selectFrom("sessions").selectAll().where("id_hash", "=", idHash)),
    // ---- the portal's every request (helper "portal", issue 12) ----
    certificateUserSession: prepared((idHash: string, fp: string) => this.db.selectFrom("certificates as c")
      .leftJoin("users as u", "u.user_id", "c.user_id")
      .leftJoin("sessions as s", (j) => j.on("s.id_hash", "=", idHash))
      .select(CERTIFICATE_ROW).select(USER_AS).select(SESSION_AS).where("c.fingerprint", "=", fp)),
    userCertificates: prepared((userId: string) => this.db.selectFrom("certificates").selectAll().where("user_id", "=", userId)
      .orderBy("not_after", "desc").orderBy("serial")),
    // The page's list: only the columns it shows (the DER and the rest cost more to turn into JS values than the read).
    userCertificateEntries: prepared((userId: string) => this.db.selectFrom("certificates")
      .select(["serial", "not_before", "not_after", "status", "revocation_reason"]).where("user_id", "=", userId)
      .orderBy("not_after", "desc").orderBy("serial")),
    touchSession: prepared((at: string, idHash: string) => this.db.updateTable("sessions").set({ last_seen_at: at }).where("id_hash", "=", idHash)),
    // `released` attempts of this process that ended without a failure in the window that began
    // at `releasedIn` are taken off the pending count in the same write (none when the window
    // is another by now: its pending count is not theirs).
    reserveAddress: prepared((address: string, at: string, over: string, max: number, releasedIn: string, released: number) => {
      const ended = sql<boolean>`address_failures.window_start <= ${over}`;
      const rel = sql<number>`(case when address_failures.window_start = ${releasedIn} then ${released} else 0 end)`;
      const left = sql<number>`(case when address_failures.pending - ${rel} > 0 then address_failures.pending - ${rel} else 0 end)`;
      return this.db.insertInto("address_failures").values({ address, window_start: at, failures: 0, pending: 1 })
        .onConflict((oc) => oc.column("address").doUpdateSet({
          window_start: sql`case when ${ended} then ${at} else address_failures.window_start end`,
          failures: sql`case when ${ended} then 0 else address_failures.failures end`,
          pending: sql`case when ${ended} then 1 else ${left} + 1 end`,
        }).where(sql<boolean>`${ended} or address_failures.failures + ${left} < ${max}`))
        .returning(["window_start", "failures", "pending"]);
    }),
    // Settles `settled` attempts reserved in the window that began at `windowStart`, `failed` of them failures.
    settleAddressIn: prepared((failed: number, settled: number, address: string, windowStart: string) => this.db.updateTable("address_failures").set({
      failures: sql`failures + ${failed}`,
      pending: sql`(case when pending - ${settled} > 0 then pending - ${settled} else 0 end)`,
    }).where("address", "=", address).where("window_start", "=", windowStart)),
  };

  /** What statusChangeMarker() read last (SQLite: skipped while data_version stays the same). */
  private readonly marker: { dataVersion: number; text: string | undefined } = { dataVersion: -1, text: undefined };

  /**
   * listen: PostgreSQL's LISTEN on a connection of its own (store/open.ts), filtered to this store's schema.
   * direct: on SQLite, the portal's every-request reads through better-sqlite3's raw mode (direct_reads.ts).
   */
  constructor(readonly db: Kysely<Database>, readonly dialect: Dialect, private readonly listen?: StatusListen, private readonly direct?: DirectReads) {}

  // ---- audit rows: one upsert statement for all the rows of a write (issue 12, EST hot path) ----

  /** The audit upserts by row count, compiled once each (an enrollment writes two rows in one statement). */
  private readonly auditUpserts = new Map<number, Prepared<readonly (string | number | null)[], unknown>>();

  /**
   * INSERT of `n` audit rows (9 values each: at, actor, event, user_id, outcome, detail,
   * repeat_key, count, last_at) in one statement; a row whose repeat_key is there already adds
   * its count to that row and widens its time span. The rows' keys are distinct (insertAudit
   * merges equal ones first), as PostgreSQL requires of one INSERT … ON CONFLICT.
   */
  private auditUpsert(n: number): Prepared<readonly (string | number | null)[], unknown> {
    let p = this.auditUpserts.get(n);
    if (!p) {
      const [earlier, later] = this.dialect === "postgres" ? ["least", "greatest"] : ["min", "max"];
      p = new Prepared((...a: readonly (string | number | null)[]) => this.db.insertInto("audit_log")
        .values(Array.from({ length: n }, (_, i) => ({
          at: a[9 * i] as string, actor: a[9 * i + 1] as string, event: a[9 * i + 2] as string, user_id: a[9 * i + 3] as string | null,
          outcome: a[9 * i + 4] as string, detail: a[9 * i + 5] as string, repeat_key: a[9 * i + 6] as string | null, count: a[9 * i + 7] as number,
          last_at: a[9 * i + 8] as string,
        })))
        .onConflict((oc) => oc.column("repeat_key").doUpdateSet({
          count: sql<number>`${sql.ref("audit_log.count")} + ${sql.ref("excluded.count")}`,
          at: sql<string>`${sql.raw(earlier)}(${sql.ref("audit_log.at")}, ${sql.ref("excluded.at")})`,
          last_at: sql<string>`${sql.raw(later)}(coalesce(${sql.ref("audit_log.last_at")}, ${sql.ref("audit_log.at")}), ${sql.ref("excluded.last_at")})`,
        })), 9 * n);
      if (this.auditUpserts.size < 16) this.auditUpserts.set(n, p);
    }
    return p;
  }

  /**
   * Group commit for SQLite: writes that arrive while a commit is under way share the next
   * one (one fsync for many); one failure rolls back only itself (see flush). Each caller's
   * promise settles after the commit that made its write durable. PostgreSQL runs concurrent
   * transactions itself and gets a plain transaction.
   */
  private grouped<T>(fn: (trx: Conn) => Promise<T>): Promise<T> {
    if (this.dialect === "postgres") return this.write(fn);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        const overlap = this.lastCommit.writes > 1 && performance.now() - this.lastCommit.at < GROUP_OVERLAP_MS;
        if (overlap) {
          this.groupStats.delayed++;
          this.delayed = setTimeout(this.startFlush, GROUP_DELAY_MS);
        } else {
          setImmediate(this.startFlush);
        }
      } else if (this.delayed && this.queue.length >= GROUP_TARGET) {
        // Enough for one commit: no need to wait longer.
        clearTimeout(this.delayed);
        this.delayed = undefined;
        setImmediate(this.startFlush);
      }
    });
  }

  private readonly startFlush = (): void => {
    this.delayed = undefined;
    void this.flush();
  };

  /** Commits what is queued now (close() does not wait for a commit's delay). */
  private async drainGrouped(): Promise<void> {
    if (!this.delayed) return;
    clearTimeout(this.delayed);
    this.delayed = undefined;
    await this.flush();
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, GROUP_MAX);
      this.groupStats.commits++;
      this.groupStats.writes += batch.length;
      const outcomes: { ok: boolean; value: unknown }[] = [];
      try {
        // First without savepoints: the writes of a batch seldom fail (a lost race is an answer,
        // not an error), and a savepoint per write cost two statements and a copy of every page
        // it touched. If one write fails, the whole transaction is rolled back and the batch
        // runs again, each write in its savepoint, so the failure undoes only its own write.
        // Every grouped write is database work only, so running it twice is safe.
        const unguarded = await this.write(async (t) => {
          if (batch.length === 1 && batch[0]) {
            outcomes.push({ ok: true, value: await batch[0].fn(t) });
            return true;
          }
          for (const item of batch) {
            try {
              outcomes.push({ ok: true, value: await item.fn(t) });
            } catch (e) {
              throw new GuardedRetry(e);
            }
          }
          return true;
        }).catch((e: unknown) => {
          if (e instanceof GuardedRetry) return false;
          throw e;
        });
        if (!unguarded) {
          outcomes.length = 0;
          await this.write(async (t) => {
            for (const item of batch) {
              await t.executeQuery(TX.savepoint);
              try {
                outcomes.push({ ok: true, value: await item.fn(t) });
              } catch (e) {
                await t.executeQuery(TX.rollbackTo);
                outcomes.push({ ok: false, value: e });
              }
              await t.executeQuery(TX.release);
            }
          });
        }
      } catch (e) {
        for (const item of batch) item.reject(e);
        continue;
      }
      this.lastCommit = { writes: batch.length, at: performance.now() };
      batch.forEach((item, i) => {
        const o = outcomes[i];
        if (o?.ok) item.resolve(o.value);
        else item.reject(o?.value);
      });
    }
    this.flushing = false;
  }

  /**
   * A write transaction. SQLite gets BEGIN IMMEDIATE so that a transaction that reads and then
   * writes takes the write lock up front (no upgrade deadlock with another process).
   */
  async write<T>(fn: (trx: Conn) => Promise<T>): Promise<T> {
    if (this.dialect === "postgres") return this.db.transaction().execute(fn);
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      // While another process (a second worker, the CLI) holds the write lock, SQLite's busy
      // handler would sleep in this thread (1, 2, 5, 10… ms), stalling every request of this
      // worker, CPU work included. So the lock is asked for without waiting, and between tries
      // the thread goes on with other requests; after BUSY_WAIT_MS of tries the begin waits
      // the old way (busy_timeout).
      const patient = Date.now() - started >= BUSY_WAIT_MS;
      const r = await this.db.connection().execute(async (conn): Promise<{ value: T } | undefined> => {
        if (!(await beginImmediate(conn, patient))) return undefined;
        try {
          const value = await fn(conn);
          await conn.executeQuery(TX.commit);
          return { value };
        } catch (e) {
          await conn.executeQuery(TX.rollback);
          throw e;
        }
      });
      if (r) return r.value;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 8) / 4));
    }
  }

  /**
   * The plans (EXPLAIN) of the hot lookups: for the size benchmark's report and the test that
   * none of them reads a whole table. On SQLite the `detail` lines of EXPLAIN QUERY PLAN.
   */
  async hotQueryPlans(): Promise<{ query: string; plan: string[] }[]> {
    const { user, passcode, userWithPasscode, certificate, certificateByFingerprint, certificateAndUser, session, touchSession, redeem } = this.q;
    const lookups = { user, passcode, userWithPasscode, certificate, certificateByFingerprint, certificateAndUser, session, touchSession, redeem };
    const out: { query: string; plan: string[] }[] = [];
    for (const [query, p] of Object.entries(lookups)) {
      const c = p.sample();
      const rows = (await this.db.executeQuery(CompiledQuery.raw(`${this.dialect === "sqlite" ? "explain query plan" : "explain"} ${c.sql}`, [...c.parameters]))).rows as Record<string, unknown>[];
      out.push({ query, plan: rows.map((r) => { const line = r.detail ?? r["QUERY PLAN"]; return typeof line === "string" ? line : JSON.stringify(r); }) });
    }
    return out;
  }

  /**
   * Writes audit events, each bounded and escaped first (boundAuditEvent). An event identical to
   * one already written in the same window (same event, actor, user, outcome and detail) adds
   * to that row's count instead: one upsert on the row's key, so parallel writers in any
   * process add up exactly. An event marked `once` cannot be identical to another: its row
   * gets no key.
   */
  private async insertAudit(conn: Conn, events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const rows = new Map<string, { row: Insertable<AuditTable>; count: number; firstAt: string; lastAt: string }>();
    for (const [i, raw] of events.entries()) {
      const e = boundAuditEvent(raw);
      const detail = JSON.stringify(e.detail ?? {});
      const at = iso(e.at);
      // An event marked once has no repeat key (NULL, which a unique index never matches).
      const key = raw.once ? undefined : auditRepeatKey(e, detail);
      const seen = key === undefined ? undefined : rows.get(key);
      if (seen) {
        seen.count += 1;
        if (at > seen.lastAt) seen.lastAt = at;
        if (at < seen.firstAt) seen.firstAt = at;
        continue;
      }
      rows.set(key ?? `once:${i}`, { row: { at, actor: e.actor, event: e.event, user_id: e.userId, outcome: e.outcome, detail, repeat_key: key ?? null }, count: 1, firstAt: at, lastAt: at });
    }
    // One statement for every row (rows keep the events' order, so ids come out as before).
    const args: (string | number | null)[] = [];
    for (const r of rows.values()) {
      const w = r.row;
      args.push(r.firstAt, w.actor, w.event, w.user_id ?? null, w.outcome, w.detail ?? "{}", w.repeat_key ?? null, r.count, r.lastAt);
    }
    await this.auditUpsert(rows.size).execute(conn, ...args);
  }

  /** Queues mails inside a transaction; returns their sequence numbers. */
  private async insertMails(conn: Conn, mails: readonly NewMail[]): Promise<number[]> {
    const seqs: number[] = [];
    for (const m of mails) {
      const r = await conn.insertInto("mail_queue").values({
        created_at: iso(m.createdAt), kind: m.kind, user_id: m.userId, recipient: m.recipient, subject: m.subject, body: m.body,
        status: "pending", attempts: 0, next_attempt_at: iso(m.createdAt), lease_until: null, last_error: null, sent_at: null,
      }).returning("seq").executeTakeFirstOrThrow();
      seqs.push(Number(r.seq));
    }
    return seqs;
  }

  async registerUser(user: UserRecord, passcode: PasscodeRecord, audit: readonly AuditEvent[], mails: readonly NewMail[] = []): Promise<number[]> {
    try {
      return await this.write(async (t) => {
        await t.insertInto("users").values(fromUser(user)).execute();
        await t.insertInto("passcodes").values(fromPasscode(passcode)).execute();
        await this.insertAudit(t, audit);
        return this.insertMails(t, mails);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new ShomeiError("USER_EXISTS", { userId: user.userId }, { cause: e });
      throw e;
    }
  }

  async getUser(userId: string): Promise<UserRecord | undefined> {
    const r = await this.q.user.first(this.db, userId);
    return r ? toUser(r) : undefined;
  }

  async getUserWithPasscode(userId: string): Promise<{ user: UserRecord | undefined; passcode: PasscodeRecord | undefined }> {
    // The enrollment's read, on SQLite straight through better-sqlite3 as the portal's reads (direct_reads.ts).
    if (this.direct) {
      const q = this.q.userWithPasscode.compile(userId);
      const v = this.direct.row(q.sql, USER_PASSCODE_NAMES, q.parameters);
      if (v !== BUSY) {
        return this.verified(v === undefined ? { user: undefined, passcode: undefined } : userWithPasscodeFromRaw(v), () => this.userWithPasscodeViaKysely(userId));
      }
    }
    return this.userWithPasscodeViaKysely(userId);
  }

  private async userWithPasscodeViaKysely(userId: string): Promise<{ user: UserRecord | undefined; passcode: PasscodeRecord | undefined }> {
    const r = await this.q.userWithPasscode.first(this.db, userId) as Record<string, unknown> | undefined;
    if (!r) return { user: undefined, passcode: undefined };
    const u = picked<Selectable<UsersTable>>(r, "u_", USER_COLUMNS);
    const p = picked<Selectable<PasscodesTable>>(r, "p_", PASSCODE_COLUMNS);
    return { user: u ? toUser(u) : undefined, passcode: p ? toPasscode(p) : undefined };
  }

  async listUsers(opts: { limit?: number; offset?: number } = {}): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom("users").selectAll().orderBy("user_id")
      .limit(opts.limit ?? 1000).offset(opts.offset ?? 0).execute();
    return rows.map(toUser);
  }

  async replacePasscode(p: PasscodeRecord, audit: readonly AuditEvent[], mails: readonly NewMail[] = []): Promise<number[]> {
    return this.write(async (t) => {
      const row = fromPasscode(p);
      const { user_id: _id, ...rest } = row;
      const upd = await t.updateTable("passcodes").set(rest).where("user_id", "=", p.userId).executeTakeFirst();
      if (Number(upd.numUpdatedRows) === 0) await t.insertInto("passcodes").values(row).execute();
      await this.insertAudit(t, audit);
      return this.insertMails(t, mails);
    });
  }

  async setPassword(
    userId: string, hash: string, initial: boolean, setAt: Date, expiresAt: Date | null, audit: readonly AuditEvent[], mails: readonly NewMail[] = [],
  ): Promise<number[]> {
    return this.write(async (t) => {
      await this.updateUserIn(t, userId, {
        password_hash: hash, password_initial: initial ? 1 : 0, password_set_at: iso(setAt),
        password_expires_at: isoOrNull(expiresAt), updated_at: iso(setAt),
        // A new initial password (operator reset) also lifts a lock and ends open sessions.
        ...(initial ? { failed_logins: 0, locked_at: null } : {}),
      });
      if (initial) await t.deleteFrom("sessions").where("user_id", "=", userId).execute();
      await this.insertAudit(t, audit);
      return this.insertMails(t, mails);
    });
  }

  async getPasscode(userId: string): Promise<PasscodeRecord | undefined> {
    const r = await this.q.passcode.first(this.db, userId);
    return r ? toPasscode(r) : undefined;
  }

  async recordPasscodeFailure(userId: string, maxAttempts: number, audit: readonly AuditEvent[]): Promise<{ attempts: number; voided: boolean }> {
    return this.write(async (t) => {
      await t.updateTable("passcodes").set({
        failed_attempts: sql`failed_attempts + 1`,
        status: sql`case when failed_attempts + 1 >= ${maxAttempts} then 'void' else status end`,
      }).where("user_id", "=", userId).where("status", "=", "active").execute();
      const r = await t.selectFrom("passcodes").select(["failed_attempts", "status"]).where("user_id", "=", userId).executeTakeFirst();
      await this.insertAudit(t, audit);
      return { attempts: Number(r?.failed_attempts ?? 0), voided: r?.status === "void" };
    });
  }

  async redeemPasscode(req: RedeemRequest): Promise<RedeemResult> {
    return this.grouped(async (t): Promise<RedeemResult> => {
      const now = iso(req.now);
      const updated = await this.q.redeem.changed(t, now, req.csrHash, req.certificate.serial, req.userId, req.passcodeHash);
      if (updated === 1) {
        const c = fromCertificate(req.certificate);
        await this.q.insertCertificate.execute(t, c.serial, c.user_id, c.kind, c.subject, c.not_before, c.not_after, c.fingerprint, c.der,
          c.status, c.csr_hash, c.created_at, c.revoked_at, c.revocation_reason);
        await this.insertAudit(t, req.audit);
        return { outcome: "issued", certificate: req.certificate };
      }
      const pc = await t.selectFrom("passcodes").selectAll().where("user_id", "=", req.userId).executeTakeFirst();
      const within = pc?.used_at ? req.now.getTime() - Date.parse(pc.used_at) <= req.replayWindowMs : false;
      if (pc && pc.status === "used" && pc.hash === req.passcodeHash && pc.csr_hash === req.csrHash && within && pc.certificate_serial) {
        const cert = await t.selectFrom("certificates").selectAll().where("serial", "=", pc.certificate_serial).executeTakeFirst();
        if (cert) return { outcome: "replay", certificate: toCertificate(cert) };
      }
      return { outcome: "rejected" };
    });
  }

  async insertCertificate(cert: CertificateRecord, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await t.insertInto("certificates").values(fromCertificate(cert)).execute();
      await this.insertAudit(t, audit);
    });
  }

  async findCertificateByCsr(userId: string, csrHash: string): Promise<CertificateRecord | undefined> {
    const r = await this.db.selectFrom("certificates").selectAll().where("user_id", "=", userId).where("csr_hash", "=", csrHash)
      .orderBy("created_at", "desc").executeTakeFirst();
    return r ? toCertificate(r) : undefined;
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const r = await this.q.certificate.first(this.db, serial.toLowerCase());
    return r ? toCertificate(r) : undefined;
  }

  async listCertificates(userId: string): Promise<CertificateRecord[]> {
    return (await this.q.userCertificates.rows(this.db, userId)).map(toCertificate);
  }

  /** Issued certificates, newest first (the operator's list). */
  async listAllCertificates(q: { userId?: string; limit?: number } = {}): Promise<CertificateRecord[]> {
    let query = this.db.selectFrom("certificates").selectAll();
    if (q.userId !== undefined) query = query.where("user_id", "=", q.userId);
    const rows = await query.orderBy("created_at", "desc").orderBy("serial").limit(q.limit ?? 1000).execute();
    return rows.map(toCertificate);
  }

  async listExpiring(from: Date, to: Date): Promise<CertificateRecord[]> {
    const rows = await this.db.selectFrom("certificates").selectAll()
      .where("not_after", ">=", iso(from)).where("not_after", "<", iso(to)).where("status", "=", "valid")
      .orderBy("not_after").execute();
    return rows.map(toCertificate);
  }

  async audit(events: readonly AuditEvent[]): Promise<void> {
    await this.write((t) => this.insertAudit(t, events));
  }

  async queryAudit(q: AuditQuery): Promise<AuditRecord[]> {
    let query = this.db.selectFrom("audit_log").selectAll();
    if (q.userId !== undefined) query = query.where("user_id", "=", q.userId);
    if (q.event !== undefined) query = query.where("event", "=", q.event);
    // A row of repeated events is within the range when any of them is.
    if (q.since !== undefined) query = query.where((eb) => eb.fn.coalesce("last_at", "at"), ">=", iso(q.since));
    if (q.until !== undefined) query = query.where("at", "<", iso(q.until));
    const rows = await query.orderBy("id", "desc").limit(q.limit ?? 100).execute();
    return rows.map(toAudit);
  }

  // ---- portal ------------------------------------------------------------------------------

  async getCertificateByFingerprint(fingerprint: string): Promise<CertificateRecord | undefined> {
    const r = await this.q.certificateByFingerprint.first(this.db, fingerprint);
    return r ? toCertificate(r) : undefined;
  }

  async getCertificateAndUser(fingerprint: string): Promise<{ cert: CertificateRow; user: UserRecord | undefined } | undefined> {
    if (this.direct) {
      const q = this.q.certificateAndUser.compile(fingerprint);
      const v = this.direct.row(q.sql, CERTIFICATE_USER_NAMES, q.parameters);
      if (v !== BUSY) {
        return this.verified(v === undefined ? undefined : certificateAndUserFromRaw(v), () => this.certificateAndUserViaKysely(fingerprint));
      }
    }
    return this.certificateAndUserViaKysely(fingerprint);
  }

  private async certificateAndUserViaKysely(fingerprint: string): Promise<{ cert: CertificateRow; user: UserRecord | undefined } | undefined> {
    const r = await this.q.certificateAndUser.first(this.db, fingerprint) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    const u = picked<Selectable<UsersTable>>(r, "u_", USER_COLUMNS);
    return { cert: toCertificateRow(r as unknown as Selectable<CertificatesTable>), user: u ? toUser(u) : undefined };
  }

  async getCertificateUserAndSession(fingerprint: string, sessionIdHash: string): Promise<Joined | undefined> {
    if (this.direct) {
      const q = this.q.certificateUserSession.compile(sessionIdHash, fingerprint);
      const v = this.direct.row(q.sql, JOINED_NAMES, q.parameters);
      if (v !== BUSY) return this.verified(v === undefined ? undefined : joinedFromRaw(v), () => this.certificateUserSessionViaKysely(fingerprint, sessionIdHash));
    }
    return this.certificateUserSessionViaKysely(fingerprint, sessionIdHash);
  }

  private async certificateUserSessionViaKysely(fingerprint: string, sessionIdHash: string): Promise<Joined | undefined> {
    const r = await this.q.certificateUserSession.first(this.db, sessionIdHash, fingerprint) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    const u = picked<Selectable<UsersTable>>(r, "u_", USER_COLUMNS);
    const s = picked<Selectable<SessionsTable>>(r, "s_", SESSION_COLUMNS);
    return { cert: toCertificateRow(r as unknown as Selectable<CertificatesTable>), user: u ? toUser(u) : undefined, session: s ? toSession(s) : undefined };
  }

  async listCertificateEntries(userId: string): Promise<CertificateListEntry[]> {
    if (this.direct) {
      const q = this.q.userCertificateEntries.compile(userId);
      const rows = this.direct.rows(q.sql, ENTRY_COLUMNS, q.parameters);
      if (rows !== BUSY) {
        const entries = rows.map(entryFromRaw);
        return this.verified(entries, () => this.certificateEntriesViaKysely(userId));
      }
    }
    return this.certificateEntriesViaKysely(userId);
  }

  private async certificateEntriesViaKysely(userId: string): Promise<CertificateListEntry[]> {
    return (await this.q.userCertificateEntries.rows(this.db, userId)).map(toCertificateEntry);
  }

  /**
   * A direct read's answer; with verifyPrepared(true) (the store tests) it is also read through
   * Kysely and must be the same, deeply, or this throws.
   */
  private async verified<T>(answer: T, viaKysely: () => Promise<T>): Promise<T> {
    if (verifyingPrepared()) {
      const other = await viaKysely();
      if (!isDeepStrictEqual(answer, other)) throw new Error(`direct read differs from Kysely's:\n${JSON.stringify(answer)}\n${JSON.stringify(other)}`);
    }
    return answer;
  }

  async reserveLoginAttempt(userId: string, max: number, now: Date, o: { staleBefore: Date; autoUnlockBefore?: Date }): Promise<LoginReservation> {
    return this.write(async (t): Promise<LoginReservation> => {
      const at = iso(now);
      if (o.autoUnlockBefore) {
        // Conditional, so that of several requests arriving together only one lifts the lock and audits it.
        const u = await t.updateTable("users").set({ locked_at: null, failed_logins: 0, updated_at: at })
          .where("user_id", "=", userId).where("locked_at", "is not", null).where("locked_at", "<=", iso(o.autoUnlockBefore))
          .executeTakeFirst();
        if (Number(u.numUpdatedRows) === 1) {
          await this.insertAudit(t, [{ at: now, actor: "system", event: "login.unlock", userId, outcome: "success", detail: { automatic: true } }]);
        }
      }
      const live = sql<number>`(case when login_pending_at is null or login_pending_at < ${iso(o.staleBefore)} then 0 else login_pending end)`;
      const r = await t.updateTable("users").set({ login_pending: sql`${live} + 1`, login_pending_at: at })
        .where("user_id", "=", userId).where("locked_at", "is", null).where(sql<number>`failed_logins + ${live}`, "<", max)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return "reserved";
      const u = await t.selectFrom("users").select("locked_at").where("user_id", "=", userId).executeTakeFirst();
      return !u || u.locked_at !== null ? "locked" : "busy";
    });
  }

  async recordLoginFailure(userId: string, max: number, now: Date, audit: readonly AuditEvent[]): Promise<{ failures: number; locked: boolean }> {
    return this.write(async (t) => {
      const at = iso(now);
      // The failure that reaches `max` on an unlocked account locks it, and only that one audits
      // the lock. The row is held for the two statements below (SQLite's write transaction holds
      // the whole database already): otherwise two failures running at once on PostgreSQL could
      // each miss the threshold in the first and both count in the second, and none would lock.
      if (this.dialect === "postgres") await t.selectFrom("users").select("user_id").where("user_id", "=", userId).forUpdate().execute();
      const locking = await t.updateTable("users")
        .set({ failed_logins: sql`failed_logins + 1`, login_pending: releaseOne, locked_at: at, updated_at: at })
        .where("user_id", "=", userId).where("locked_at", "is", null).where(sql<number>`failed_logins + 1`, ">=", max)
        .returning("failed_logins").executeTakeFirst();
      if (locking) {
        const failures = Number(locking.failed_logins);
        await this.insertAudit(t, [...audit, { at: now, actor: "system", event: "login.lock", userId, outcome: "success", detail: { failures } }]);
        return { failures, locked: true };
      }
      const r = await t.updateTable("users").set({ failed_logins: sql`failed_logins + 1`, login_pending: releaseOne, updated_at: at })
        .where("user_id", "=", userId).returning("failed_logins").executeTakeFirst();
      await this.insertAudit(t, audit);
      return { failures: Number(r?.failed_logins ?? 0), locked: false };
    });
  }

  async recordLoginSuccess(userId: string, now: Date, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.write(async (t) => {
      const at = iso(now);
      const ok = await t.updateTable("users").set({ failed_logins: 0, login_pending: releaseOne, last_login_at: at, updated_at: at })
        .where("user_id", "=", userId).where("locked_at", "is", null).executeTakeFirst();
      if (Number(ok.numUpdatedRows) === 1) {
        await this.insertAudit(t, audit);
        return true;
      }
      await t.updateTable("users").set({ login_pending: releaseOne }).where("user_id", "=", userId).execute();
      return false;
    });
  }

  async releaseLoginAttempt(userId: string): Promise<void> {
    await this.write(async (t) => {
      await t.updateTable("users").set({ login_pending: releaseOne }).where("user_id", "=", userId).execute();
    });
  }

  async unlock(userId: string, now: Date, audit: readonly AuditEvent[]): Promise<void> {
    await this.updateUser(userId, { failed_logins: 0, locked_at: null, updated_at: iso(now) }, audit);
  }

  async setStatus(userId: string, status: UserStatus, now: Date, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await this.updateUserIn(t, userId, { status, updated_at: iso(now) });
      if (status === "suspended") await t.deleteFrom("sessions").where("user_id", "=", userId).execute();
      await this.insertAudit(t, audit);
    });
  }

  async changePassword(userId: string, hash: string, now: Date, keep: number, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      const old = await t.selectFrom("users").select("password_hash").where("user_id", "=", userId).executeTakeFirst();
      if (!old) throw new ShomeiError("USER_NOT_FOUND", { userId });
      if (old.password_hash) await t.insertInto("password_history").values({ user_id: userId, hash: old.password_hash, set_at: iso(now) }).execute();
      const kept = await t.selectFrom("password_history").select("set_at").where("user_id", "=", userId)
        .orderBy("set_at", "desc").limit(1).offset(Math.max(keep - 1, 0)).executeTakeFirst();
      if (kept) await t.deleteFrom("password_history").where("user_id", "=", userId).where("set_at", "<", kept.set_at).execute();
      await this.updateUserIn(t, userId, {
        password_hash: hash, password_initial: 0, password_set_at: iso(now), password_expires_at: null, updated_at: iso(now),
      });
      await this.insertAudit(t, audit);
    });
  }

  async passwordHistory(userId: string, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom("password_history").select("hash").where("user_id", "=", userId)
      .orderBy("set_at", "desc").limit(limit).execute();
    return rows.map((r) => r.hash);
  }

  async revokeCertificate(serial: string, reason: RevocationReason, now: Date, audit: readonly AuditEvent[]): Promise<CertificateRecord> {
    return this.write(async (t) => {
      const s = serial.toLowerCase();
      const upd = await t.updateTable("certificates").set({ status: "revoked", revoked_at: iso(now), revocation_reason: reason })
        .where("serial", "=", s).where("status", "=", "valid").executeTakeFirst();
      const r = await t.selectFrom("certificates").selectAll().where("serial", "=", s).executeTakeFirst();
      if (Number(upd.numUpdatedRows) !== 1 || !r) {
        throw new ShomeiError("REVOKE_NOT_POSSIBLE", { serial: s, reason: r ? "already revoked" : "unknown serial" });
      }
      await t.insertInto("revocations").values({ serial: s, revoked_at: iso(now), reason }).execute();
      await this.notifyStatus(t);
      await this.insertAudit(t, audit);
      return toCertificate(r);
    });
  }

  /**
   * Revocations recorded after sequence number `afterSeq` (0: all), in order. PostgreSQL may
   * commit sequence numbers out of order, so callers look back a little and skip serials they
   * already have.
   */
  async listRevocations(afterSeq: number, limit = 100_000): Promise<RevocationRow[]> {
    const rows = await this.db.selectFrom("revocations").selectAll().where("seq", ">", afterSeq)
      .orderBy("seq").limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), serial: r.serial, revokedAt: date(r.revoked_at), reason: r.reason as RevocationReason }));
  }

  /** The highest revocation sequence number (0 when nothing was ever revoked): a cheap change check. */
  async lastRevocationSeq(): Promise<number> {
    const r = await this.db.selectFrom("revocations").select((eb) => eb.fn.max("seq").as("m")).executeTakeFirst();
    return r?.m === null || r?.m === undefined ? 0 : Number(r.m);
  }

  /**
   * A short text that changes when a revocation or a stored CRL was committed (by any process):
   * what `serve`'s supervisor reads every few hundred milliseconds to learn of a revocation made
   * elsewhere (the CLI, another instance). On SQLite it first asks `PRAGMA data_version`, which
   * changes only when another connection committed something: while nothing happens that is all
   * it costs. The highest revocation sequence number and CRL number are read only after it changed
   * (and always on PostgreSQL: two index reads).
   */
  async statusChangeMarker(): Promise<string> {
    if (this.dialect === "sqlite") {
      const r = await sql<{ data_version: number }>`pragma data_version`.execute(this.db);
      const version = Number(r.rows[0]?.data_version ?? -1);
      if (version === this.marker.dataVersion && this.marker.text !== undefined) return this.marker.text;
      this.marker.dataVersion = version;
    }
    const r = await sql<{ r: number | string | null; c: string | null; n: number | string }>`select
      (select max(seq) from revocations) as r, (select max(crl_number) from crls) as c, (select count(*) from crls) as n`.execute(this.db);
    const row = r.rows[0];
    this.marker.text = `${row?.r ?? 0}/${row?.c ?? ""}/${row?.n ?? 0}`;
    return this.marker.text;
  }

  /**
   * PostgreSQL: calls `onChange` whenever a revocation or a CRL of this schema was committed
   * (NOTIFY from revokeCertificate and saveCrl), on a connection of its own; `lost` when that
   * connection broke (the caller's polling carries on). Undefined on SQLite, which has no such thing.
   */
  async listenForStatusChanges(onChange: () => void, lost: (e: unknown) => void): Promise<(() => Promise<void>) | undefined> {
    return this.listen?.(STATUS_CHANNEL, onChange, lost);
  }

  /** Tells listeners (PostgreSQL) that revocations or CRLs changed, when the transaction `t` commits. */
  private async notifyStatus(t: Conn): Promise<void> {
    if (this.dialect === "postgres") await sql`select pg_notify(${STATUS_CHANNEL}, current_schema())`.execute(t);
  }

  async createSession(s: SessionRecord, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await t.insertInto("sessions").values({
        id_hash: s.idHash, user_id: s.userId, cert_fingerprint: s.certFingerprint, stage: s.stage,
        created_at: iso(s.createdAt), last_seen_at: iso(s.lastSeenAt),
      }).execute();
      await this.insertAudit(t, audit);
    });
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const r = await this.q.session.first(this.db, idHash);
    return r ? toSession(r) : undefined;
  }

  async touchSession(idHash: string, now: Date): Promise<void> {
    await this.q.touchSession.execute(this.db, iso(now), idHash);
  }

  async deleteSession(idHash: string, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await t.deleteFrom("sessions").where("id_hash", "=", idHash).execute();
      await this.insertAudit(t, audit);
    });
  }

  async deleteUserSessions(userId: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("user_id", "=", userId).execute();
  }

  async searchUsers(q: { text?: string; limit?: number; offset?: number }): Promise<UserRecord[]> {
    let query = this.db.selectFrom("users").selectAll();
    const text = q.text?.trim();
    if (text) {
      const like = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where((eb) => eb.or([
        eb("user_id", "like", sql<string>`${like} escape '\\'`),
        eb("name", "like", sql<string>`${like} escape '\\'`),
        eb("email", "like", sql<string>`${like} escape '\\'`),
      ]));
    }
    const rows = await query.orderBy("user_id").limit(q.limit ?? 100).offset(q.offset ?? 0).execute();
    return rows.map(toUser);
  }

  private async updateUser(userId: string, set: Updateable<UsersTable>, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await this.updateUserIn(t, userId, set);
      await this.insertAudit(t, audit);
    });
  }

  private async updateUserIn(t: Conn, userId: string, set: Updateable<UsersTable>): Promise<void> {
    const upd = await t.updateTable("users").set(set).where("user_id", "=", userId).executeTakeFirst();
    if (Number(upd.numUpdatedRows) === 0) throw new ShomeiError("USER_NOT_FOUND", { userId });
  }

  // ---- mail queue -------------------------------------------------------------------------

  async enqueueMails(mails: readonly NewMail[], audit: readonly AuditEvent[]): Promise<number[]> {
    return this.write(async (t) => {
      await this.insertAudit(t, audit);
      return this.insertMails(t, mails);
    });
  }

  async claimMails(now: Date, leaseUntil: Date, limit: number, seqs?: readonly number[]): Promise<QueuedMail[]> {
    if (seqs?.length === 0) return [];
    const n = iso(now);
    let q = this.db.selectFrom("mail_queue").select("seq").where("status", "=", "pending").where("next_attempt_at", "<=", n)
      .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<", n)]));
    if (seqs) q = q.where("seq", "in", [...seqs]);
    const candidates = await q.orderBy("next_attempt_at").orderBy("seq").limit(limit).execute();
    const claimed: QueuedMail[] = [];
    for (const c of candidates) {
      // Compare-and-swap: the row is ours only if it is still pending and unleased when we write.
      const row = await this.write(async (t) => {
        const upd = await t.updateTable("mail_queue").set({ lease_until: iso(leaseUntil) })
          .where("seq", "=", c.seq).where("status", "=", "pending")
          .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<", n)]))
          .executeTakeFirst();
        if (Number(upd.numUpdatedRows) !== 1) return undefined;
        return t.selectFrom("mail_queue").selectAll().where("seq", "=", c.seq).executeTakeFirst();
      });
      if (row) claimed.push(toQueuedMail(row));
    }
    return claimed;
  }

  async markMailSent(seq: number, now: Date, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await t.updateTable("mail_queue").set({
        status: "sent", body: null, sent_at: iso(now), lease_until: null, attempts: sql`attempts + 1`, last_error: null,
      }).where("seq", "=", seq).execute();
      await this.insertAudit(t, audit);
    });
  }

  async markMailAttemptFailed(seq: number, error: string, nextAttemptAt: Date | null, audit: readonly AuditEvent[]): Promise<void> {
    await this.write(async (t) => {
      await t.updateTable("mail_queue").set({
        attempts: sql`attempts + 1`, last_error: error.slice(0, 1000), lease_until: null,
        ...(nextAttemptAt ? { next_attempt_at: iso(nextAttemptAt) } : { status: "failed" }),
      }).where("seq", "=", seq).where("status", "=", "pending").execute();
      await this.insertAudit(t, audit);
    });
  }

  async requeueMail(seq: number, now: Date, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.write(async (t) => {
      const upd = await t.updateTable("mail_queue").set({ status: "pending", attempts: 0, next_attempt_at: iso(now), lease_until: null })
        .where("seq", "=", seq).where("status", "=", "failed").where("body", "is not", null).executeTakeFirst();
      if (Number(upd.numUpdatedRows) !== 1) return false;
      await this.insertAudit(t, audit);
      return true;
    });
  }

  async getQueuedMail(seq: number): Promise<QueuedMail | undefined> {
    const r = await this.db.selectFrom("mail_queue").selectAll().where("seq", "=", seq).executeTakeFirst();
    return r ? toQueuedMail(r) : undefined;
  }

  async mailQueueSummary(limit = 100): Promise<MailQueueSummary> {
    const counts: Record<MailStatus, number> = { pending: 0, sent: 0, failed: 0 };
    const grouped = await this.db.selectFrom("mail_queue").select((eb) => ["status", eb.fn.countAll<string | number>().as("n")]).groupBy("status").execute();
    for (const g of grouped) if (g.status === "pending" || g.status === "sent" || g.status === "failed") counts[g.status] = Number(g.n);
    const agg = await this.db.selectFrom("mail_queue").where("status", "=", "pending")
      .select((eb) => [eb.fn.min("created_at").as("oldest"), eb.fn.min("next_attempt_at").as("next")]).executeTakeFirst();
    const rows = await this.db.selectFrom("mail_queue")
      .select(["seq", "created_at", "kind", "user_id", "recipient", "subject", "status", "attempts", "next_attempt_at", "lease_until", "last_error", "sent_at"])
      .where("status", "in", ["pending", "failed"]).orderBy("seq").limit(limit).execute();
    return {
      counts,
      oldestPending: agg?.oldest ? date(agg.oldest) : null,
      nextAttempt: agg?.next ? date(agg.next) : null,
      open: rows.map((r) => { const { body: _b, ...m } = toQueuedMail({ ...r, body: null }); return m; }),
    };
  }

  // ---- the per-address failure limit --------------------------------------------------------

  async reserveAddressAttempt(address: string, max: number, now: Date, windowMs: number, released?: AddressReleases): Promise<{ granted: boolean; windowStart: Date }> {
    return this.grouped(async (t) => {
      const at = iso(now);
      const over = iso(new Date(now.getTime() - windowMs));
      const releasedIn = released && released.count > 0 ? iso(released.windowStart) : "";
      const count = releasedIn ? released?.count ?? 0 : 0;
      // One upsert: a new address or an ended window starts afresh; otherwise a slot is taken
      // only while failures and reservations are below max (the database re-checks the
      // condition on the row it locks, so parallel requests cannot all slip through).
      const r = await this.q.reserveAddress.first(t, address, at, over, max, releasedIn, count);
      if (r) {
        // A window began (this write began it): the ended windows of every address go (at most once per address and window).
        if (r.window_start === at && Number(r.failures) === 0 && Number(r.pending) === 1) {
          await t.deleteFrom("address_failures").where("window_start", "<=", over).where("address", "!=", address).execute();
        }
        return { granted: true, windowStart: date(r.window_start) };
      }
      // Refused: the releases are written all the same.
      if (count > 0) await this.q.settleAddressIn.execute(t, 0, count, address, releasedIn);
      const row = await t.selectFrom("address_failures").select("window_start").where("address", "=", address).executeTakeFirst();
      return { granted: false, windowStart: row ? date(row.window_start) : now };
    });
  }

  async settleAddressAttempt(address: string, failed: boolean, settled: AddressReleases): Promise<void> {
    await this.grouped(async (t) => {
      await this.q.settleAddressIn.execute(t, failed ? 1 : 0, settled.count, address, iso(settled.windowStart));
    });
  }

  // ---- reminders ----------------------------------------------------------------------------

  async certificateReminderCandidates(now: Date, until: Date): Promise<CertificateReminderCandidate[]> {
    const rows = await this.db.selectFrom("certificates as c").innerJoin("users as u", "u.user_id", "c.user_id")
      .selectAll("c").select(["u.email", "u.name", "u.lang"])
      .where("c.kind", "=", "client").where("c.status", "=", "valid").where("u.status", "=", "active")
      .where("c.not_after", ">", iso(now)).where("c.not_after", "<=", iso(until))
      // Only the user's newest valid certificate: after a renewal the old one needs no reminder.
      .where((eb) => eb.not(eb.exists(eb.selectFrom("certificates as n").select("n.serial")
        .whereRef("n.user_id", "=", "c.user_id").where("n.kind", "=", "client").where("n.status", "=", "valid")
        .whereRef("n.not_after", ">", "c.not_after"))))
      .orderBy("c.not_after").execute();
    return rows.map((r) => {
      const { email, name, lang, ...c } = r;
      const cert = toCertificate(c);
      return { certificate: cert, user: { userId: cert.userId ?? "", email, name, lang: lang === "en" ? "en" : "ja" } };
    });
  }

  async passwordReminderCandidates(now: Date, until: Date): Promise<PasswordReminderCandidate[]> {
    const rows = await this.db.selectFrom("users").selectAll().where("status", "=", "active").where("password_initial", "=", 1)
      .where("last_login_at", "is", null).where("password_expires_at", ">", iso(now)).where("password_expires_at", "<=", iso(until))
      .orderBy("user_id").execute();
    return rows.map(toUser);
  }

  /**
   * Queues a reminder once: its key goes into reminders_sent in the same transaction; when the
   * key is there already (another run, another instance) nothing is queued and undefined returned.
   */
  async enqueueReminder(key: string, mail: NewMail, audit: readonly AuditEvent[]): Promise<number | undefined> {
    return this.write(async (t) => {
      const ins = await t.insertInto("reminders_sent").values({ reminder_key: key, sent_at: iso(mail.createdAt), mail_seq: null })
        .onConflict((oc) => oc.column("reminder_key").doNothing()).returning("reminder_key").executeTakeFirst();
      if (!ins) return undefined;
      const [seq] = await this.insertMails(t, [mail]);
      await t.updateTable("reminders_sent").set({ mail_seq: seq ?? null }).where("reminder_key", "=", key).execute();
      await this.insertAudit(t, audit);
      return seq;
    });
  }

  // ---- pre-signed OCSP responses (0005) ----------------------------------------------------

  async getOcspResponse(serial: string): Promise<StoredOcspResponse | undefined> {
    const r = await this.db.selectFrom("ocsp_responses").selectAll().where("serial", "=", serial).executeTakeFirst();
    return r ? {
      serial: r.serial, certStatus: r.cert_status === "revoked" ? "revoked" : "valid", sha1: Buffer.from(r.sha1_der), sha256: Buffer.from(r.sha256_der),
      thisUpdate: date(r.this_update), nextUpdate: date(r.next_update), refreshAt: date(r.refresh_at),
    } : undefined;
  }

  private ocspSubjectQuery() {
    return this.db.selectFrom("certificates as c")
      .select(["c.serial", "c.status", "c.revoked_at", "c.revocation_reason", "c.not_after", "c.created_at"]);
  }

  async ocspMissing(since: Date, now: Date, limit: number): Promise<OcspSubject[]> {
    const rows = await this.ocspSubjectQuery()
      .leftJoin("ocsp_responses as r", "r.serial", "c.serial")
      .where("c.created_at", ">=", iso(since)).where("c.not_after", ">", iso(now))
      .where((eb) => eb.or([eb("r.serial", "is", null), eb("r.cert_status", "<>", eb.ref("c.status"))]))
      .orderBy("c.created_at").limit(limit).execute();
    return rows.map(toOcspSubject);
  }

  async ocspDue(now: Date, limit: number): Promise<OcspSubject[]> {
    const rows = await this.ocspSubjectQuery()
      .innerJoin("ocsp_responses as r", "r.serial", "c.serial")
      .where("r.refresh_at", "<=", iso(now)).orderBy("r.refresh_at").limit(limit).execute();
    return rows.map(toOcspSubject);
  }

  async ocspSubjects(serials: readonly string[]): Promise<OcspSubject[]> {
    if (serials.length === 0) return [];
    const rows = await this.ocspSubjectQuery().where("c.serial", "in", [...serials]).execute();
    return rows.map(toOcspSubject);
  }

  async putOcspResponses(rows: readonly StoredOcspResponse[]): Promise<void> {
    if (rows.length === 0) return;
    await this.write(async (t) => {
      await t.insertInto("ocsp_responses").values(rows.map((r) => ({
        serial: r.serial, cert_status: r.certStatus, sha1_der: r.sha1, sha256_der: r.sha256,
        this_update: iso(r.thisUpdate), next_update: iso(r.nextUpdate), refresh_at: iso(r.refreshAt),
      }))).onConflict((oc) => oc.column("serial").doUpdateSet((eb) => ({
        cert_status: eb.ref("excluded.cert_status"), sha1_der: eb.ref("excluded.sha1_der"), sha256_der: eb.ref("excluded.sha256_der"),
        this_update: eb.ref("excluded.this_update"), next_update: eb.ref("excluded.next_update"), refresh_at: eb.ref("excluded.refresh_at"),
      // Revocation is for good: an answer signed from an older read (another instance) never undoes it.
      })).where((eb) => eb.or([eb("ocsp_responses.cert_status", "<>", "revoked"), eb("excluded.cert_status", "=", "revoked")]))).execute();
    });
  }

  async deleteOcspResponses(serials: readonly string[]): Promise<void> {
    if (serials.length === 0) return;
    await this.write(async (t) => {
      await t.deleteFrom("ocsp_responses").where("serial", "in", [...serials]).execute();
    });
  }

  // ---- CRL publishing (status/crl_publisher.ts): signed CRLs, the shards' revocations, the signer's lease ----

  /** The serial's last two hex digits, as the revocations_crl_shard index holds them. */
  private serialEnding() {
    return this.dialect === "postgres" ? sql<string>`right(serial, 2)` : sql<string>`substr(serial, -2)`;
  }

  /** Revocations whose serial ends in one of `endings` (all when undefined) with seq > afterSeq, in seq order, at most `limit`. */
  async revocationsEndingIn(endings: readonly string[] | undefined, afterSeq: number, limit: number): Promise<RevocationRow[]> {
    let q = this.db.selectFrom("revocations").selectAll().where("seq", ">", afterSeq);
    if (endings) q = q.where(this.serialEnding(), "in", endings);
    const rows = await q.orderBy("seq").limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), serial: r.serial, revokedAt: date(r.revoked_at), reason: r.reason as RevocationReason }));
  }

  /** How many revocations there are whose serial ends in one of `endings` (all when undefined). */
  async countRevocationsEndingIn(endings: readonly string[] | undefined): Promise<number> {
    let q = this.db.selectFrom("revocations").select((eb) => eb.fn.countAll().as("n"));
    if (endings) q = q.where(this.serialEnding(), "in", endings);
    const r = await q.executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Every stored CRL's scope and number: a cheap "has anything changed" read. */
  async crlVersions(): Promise<{ scope: string; crlNumber: bigint }[]> {
    const rows = await this.db.selectFrom("crls").select(["scope", "crl_number"]).execute();
    return rows.map((r) => ({ scope: r.scope, crlNumber: BigInt(r.crl_number) }));
  }

  /** The stored CRL of a scope; its bytes as the driver gave them (not copied: the full CRL is tens of MiB at a million revoked). */
  async loadCrl(scope: string): Promise<StoredCrl | undefined> {
    const r = await this.db.selectFrom("crls").selectAll().where("scope", "=", scope).executeTakeFirst();
    return r ? {
      scope: r.scope, crlNumber: BigInt(r.crl_number), thisUpdate: date(r.this_update), nextUpdate: date(r.next_update), der: Buffer.isBuffer(r.der) ? r.der : Buffer.from(r.der),
      entries: Number(r.entries), maxSeq: Number(r.max_seq), url: r.url, signedBy: r.signed_by,
    } : undefined;
  }

  /**
   * Stores a signed CRL if the stored one still has `previousNumber` (none stored: undefined):
   * false when another signer got there first, so a CRL number never goes back.
   */
  async saveCrl(c: StoredCrl, previousNumber: bigint | undefined): Promise<boolean> {
    const values = {
      crl_number: c.crlNumber.toString(), this_update: iso(c.thisUpdate), next_update: iso(c.nextUpdate), der: c.der,
      entries: c.entries, max_seq: c.maxSeq, url: c.url, signed_by: c.signedBy,
    };
    const saved = async (t: Conn): Promise<boolean> => {
      if (previousNumber === undefined) {
        const r = await t.insertInto("crls").values({ scope: c.scope, ...values })
          .onConflict((oc) => oc.column("scope").doNothing()).executeTakeFirst();
        return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
      }
      const r = await t.updateTable("crls").set(values).where("scope", "=", c.scope).where("crl_number", "=", previousNumber.toString()).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    };
    if (this.dialect !== "postgres") return saved(this.db);
    // Other instances' supervisors learn of it at once (LISTEN), not at their next check.
    return this.db.transaction().execute(async (t) => {
      const ok = await saved(t);
      if (ok) await this.notifyStatus(t);
      return ok;
    });
  }

  /**
   * Takes or renews the lease `name` for `holder` until `until`: one conditional update, which
   * succeeds when the holder has it already or it expired (at `now`). True when held now.
   */
  async acquireLease(name: string, holder: string, now: Date, until: Date): Promise<boolean> {
    await this.db.insertInto("leases").values({ name, holder: "", expires_at: iso(new Date(0)) })
      .onConflict((oc) => oc.column("name").doNothing()).execute();
    const r = await this.db.updateTable("leases").set({ holder, expires_at: iso(until) }).where("name", "=", name)
      .where((eb) => eb.or([eb("holder", "=", holder), eb("expires_at", "<=", iso(now))])).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Gives the lease up (a clean shutdown), so another process need not wait for it to expire. */
  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.updateTable("leases").set({ expires_at: iso(new Date(0)) }).where("name", "=", name).where("holder", "=", holder).execute();
  }

  async close(): Promise<void> {
    await this.drainGrouped();
    await this.db.destroy();
  }
}

function toOcspSubject(r: { serial: string; status: string; revoked_at: string | null; revocation_reason: string | null; not_after: string; created_at: string }): OcspSubject {
  return {
    serial: r.serial, status: r.status === "revoked" ? "revoked" : "valid", revokedAt: dateOrNull(r.revoked_at),
    reason: r.revocation_reason, notAfter: date(r.not_after), createdAt: date(r.created_at),
  };
}
