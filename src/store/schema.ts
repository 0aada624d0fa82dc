/** Table types for Kysely. Times are ISO 8601 UTC text (sortable, the same on SQLite and PostgreSQL). */
import type { Generated } from "kysely";

export interface UsersTable {
  user_id: string;
  email: string;
  name: string;
  organization: string;
  lang: string;
  role: string;
  status: string;
  password_hash: string | null;
  password_initial: number;
  password_set_at: string | null;
  password_expires_at: string | null;
  created_at: string;
  updated_at: string;
  failed_logins: Generated<number>;
  locked_at: string | null;
  last_login_at: string | null;
  /** Password checks reserved and not yet settled (see reserveLoginAttempt). */
  login_pending: Generated<number>;
  login_pending_at: string | null;
}

export interface PasswordHistoryTable {
  user_id: string;
  hash: string;
  set_at: string;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  cert_fingerprint: string;
  stage: string;
  created_at: string;
  last_seen_at: string;
}

export interface PasscodesTable {
  user_id: string;
  hash: string;
  issued_at: string;
  expires_at: string;
  failed_attempts: number;
  status: string;
  used_at: string | null;
  csr_hash: string | null;
  certificate_serial: string | null;
}

export interface CertificatesTable {
  serial: string;
  user_id: string | null;
  kind: string;
  subject: string;
  not_before: string;
  not_after: string;
  fingerprint: string;
  der: Buffer;
  status: string;
  csr_hash: string | null;
  created_at: string;
  revoked_at: string | null;
  revocation_reason: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  event: string;
  user_id: string | null;
  outcome: string;
  detail: string;
  /** How many identical events this row stands for (0004). */
  count: Generated<number>;
  /** When the last of them happened; null on rows from before 0004 (then `at`). */
  last_at: string | null;
  /** Hash of the event and its time bucket; null on rows from before 0004. */
  repeat_key: string | null;
}

export interface RevocationsTable {
  seq: Generated<number>;
  serial: string;
  revoked_at: string;
  reason: string;
}

export interface MailQueueTable {
  seq: Generated<number>;
  created_at: string;
  kind: string;
  user_id: string | null;
  recipient: string;
  subject: string;
  body: Buffer | null;
  status: string;
  attempts: Generated<number>;
  next_attempt_at: string;
  lease_until: string | null;
  last_error: string | null;
  sent_at: string | null;
}

export interface RemindersSentTable {
  reminder_key: string;
  sent_at: string;
  mail_seq: number | null;
}

export interface AddressFailuresTable {
  address: string;
  window_start: string;
  failures: number;
  pending: number;
}

/** A pre-signed OCSP response (0005). */
export interface OcspResponsesTable {
  serial: string;
  cert_status: string;
  sha1_der: Buffer;
  sha256_der: Buffer;
  this_update: string;
  next_update: string;
  refresh_at: string;
}

/** A signed CRL as published (0005). */
export interface CrlsTable {
  scope: string;
  crl_number: string;
  this_update: string;
  next_update: string;
  der: Buffer;
  entries: number;
  max_seq: number;
  url: string;
  signed_by: string;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: string;
}

export interface Database {
  users: UsersTable;
  passcodes: PasscodesTable;
  certificates: CertificatesTable;
  audit_log: AuditTable;
  password_history: PasswordHistoryTable;
  sessions: SessionsTable;
  revocations: RevocationsTable;
  mail_queue: MailQueueTable;
  reminders_sent: RemindersSentTable;
  address_failures: AddressFailuresTable;
  ocsp_responses: OcspResponsesTable;
  crls: CrlsTable;
  leases: LeasesTable;
}
