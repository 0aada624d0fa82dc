/**
 * The one schema and migration set, for SQLite and PostgreSQL alike. Migrations are code
 * (no files to ship) and append-only: never edit a released one, add the next.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";

export type Dialect = "sqlite" | "postgres";

function migrationsFor(dialect: Dialect): Record<string, Migration> {
  const bytes = dialect === "postgres" ? "bytea" : "blob";
  return {
    "0001_foundation": {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable("users")
          .addColumn("user_id", "text", (c) => c.primaryKey())
          .addColumn("email", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("organization", "text", (c) => c.notNull())
          .addColumn("lang", "text", (c) => c.notNull())
          .addColumn("role", "text", (c) => c.notNull().defaultTo("user"))
          .addColumn("status", "text", (c) => c.notNull().defaultTo("active"))
          .addColumn("password_hash", "text")
          .addColumn("password_initial", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("password_set_at", "text")
          .addColumn("password_expires_at", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createTable("passcodes")
          .addColumn("user_id", "text", (c) => c.primaryKey().references("users.user_id").onDelete("cascade"))
          .addColumn("hash", "text", (c) => c.notNull())
          .addColumn("issued_at", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .addColumn("failed_attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("used_at", "text")
          .addColumn("csr_hash", "text")
          .addColumn("certificate_serial", "text")
          .execute();
        await db.schema.createTable("certificates")
          .addColumn("serial", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) => c.references("users.user_id"))
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("subject", "text", (c) => c.notNull())
          .addColumn("not_before", "text", (c) => c.notNull())
          .addColumn("not_after", "text", (c) => c.notNull())
          .addColumn("fingerprint", "text", (c) => c.notNull().unique())
          .addColumn("der", bytes, (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("csr_hash", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("revoked_at", "text")
          .addColumn("revocation_reason", "text")
          .execute();
        await db.schema.createIndex("certificates_user").on("certificates").columns(["user_id", "not_after"]).execute();
        await db.schema.createIndex("certificates_not_after").on("certificates").column("not_after").execute();
        await db.schema.createTable("audit_log")
          .addColumn("id", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn("at", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("event", "text", (c) => c.notNull())
          .addColumn("user_id", "text")
          .addColumn("outcome", "text", (c) => c.notNull())
          .addColumn("detail", "text", (c) => c.notNull().defaultTo(sql`'{}'`))
          .execute();
        await db.schema.createIndex("audit_user_at").on("audit_log").columns(["user_id", "at"]).execute();
        await db.schema.createIndex("audit_event_at").on("audit_log").columns(["event", "at"]).execute();
      },
    },
    "0002_portal": {
      async up(db: Kysely<unknown>) {
        // Login lockout and the last login, on the user.
        await db.schema.alterTable("users").addColumn("failed_logins", "integer", (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable("users").addColumn("locked_at", "text").execute();
        await db.schema.alterTable("users").addColumn("last_login_at", "text").execute();
        // Earlier password hashes, for "not one of the last N".
        await db.schema.createTable("password_history")
          .addColumn("user_id", "text", (c) => c.notNull().references("users.user_id").onDelete("cascade"))
          .addColumn("hash", "text", (c) => c.notNull())
          .addColumn("set_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("password_history_user").on("password_history").columns(["user_id", "set_at"]).execute();
        // Server-side sessions: the id is stored only as a SHA-256 hash; bound to a certificate.
        await db.schema.createTable("sessions")
          .addColumn("id_hash", "text", (c) => c.primaryKey())
          .addColumn("user_id", "text", (c) => c.notNull().references("users.user_id").onDelete("cascade"))
          .addColumn("cert_fingerprint", "text", (c) => c.notNull())
          .addColumn("stage", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("last_seen_at", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();
      },
    },
    "0003_publication_mail": {
      async up(db: Kysely<unknown>) {
        const serialId = (t: string) => db.schema.createTable(t)
          .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()));
        // One row per revocation, in commit order: the CRL publisher reads only what is new
        // since its last look (several instances and the CLI revoke into the same database).
        await serialId("revocations")
          .addColumn("serial", "text", (c) => c.notNull().unique())
          .addColumn("revoked_at", "text", (c) => c.notNull())
          .addColumn("reason", "text", (c) => c.notNull())
          .execute();
        await sql`insert into revocations (serial, revoked_at, reason)
          select serial, revoked_at, coalesce(revocation_reason, 'unspecified') from certificates
          where status = 'revoked' and revoked_at is not null order by revoked_at`.execute(db);
        // Outgoing mail, queued in the same transaction as what caused it; a worker delivers it.
        // The body (it may hold an initial password) is encrypted and dropped once sent.
        await serialId("mail_queue")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("user_id", "text")
          .addColumn("recipient", "text", (c) => c.notNull())
          .addColumn("subject", "text", (c) => c.notNull())
          .addColumn("body", bytes)
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("next_attempt_at", "text", (c) => c.notNull())
          .addColumn("lease_until", "text")
          .addColumn("last_error", "text")
          .addColumn("sent_at", "text")
          .execute();
        await db.schema.createIndex("mail_queue_due").on("mail_queue").columns(["status", "next_attempt_at"]).execute();
        // A reminder is sent once: its key (kind, subject, threshold) can be inserted only once,
        // whichever instance gets there first.
        await db.schema.createTable("reminders_sent")
          .addColumn("reminder_key", "text", (c) => c.primaryKey())
          .addColumn("sent_at", "text", (c) => c.notNull())
          .addColumn("mail_seq", "integer")
          .execute();
      },
    },
    "0004_lockout_attempts": {
      async up(db: Kysely<unknown>) {
        // Password checks under way for a user: reserved before the (slow) check, so parallel
        // requests cannot all pass the lock test first. The time lets reservations that a
        // crashed process never settled expire.
        await db.schema.alterTable("users").addColumn("login_pending", "integer", (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable("users").addColumn("login_pending_at", "text").execute();
        // Authentication failures per client address, shared by every listener, process and
        // instance: failures counted in the window that began at window_start, plus the
        // attempts reserved and not yet settled.
        await db.schema.createTable("address_failures")
          .addColumn("address", "text", (c) => c.primaryKey())
          .addColumn("window_start", "text", (c) => c.notNull())
          .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("pending", "integer", (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createIndex("address_failures_window").on("address_failures").column("window_start").execute();
      },
    },
    "0004_audit_repeats": {
      async up(db: Kysely<unknown>) {
        // Identical events repeated within a window (a CSR replayed in a burst) are one row:
        // how often, and when last. The key is a hash of the event and its time bucket; the
        // unique index lets every writer (any process) add to the row in one upsert.
        await db.schema.alterTable("audit_log").addColumn("count", "integer", (c) => c.notNull().defaultTo(1)).execute();
        await db.schema.alterTable("audit_log").addColumn("last_at", "text").execute();
        await db.schema.alterTable("audit_log").addColumn("repeat_key", "text").execute();
        await db.schema.createIndex("audit_repeat_key").on("audit_log").column("repeat_key").unique().execute();
      },
    },
    "0005_ocsp_responses": {
      async up(db: Kysely<unknown>) {
        // Pre-signed OCSP responses (RFC 5019 profile), one row per certificate: the same answer
        // with a SHA-1 and with a SHA-256 CertID, as signed. Workers and other instances serve
        // them as they are; cert_status is the certificate's status they say (valid/revoked),
        // so a row that no longer agrees with its certificate is found and signed again.
        await db.schema.createTable("ocsp_responses")
          .addColumn("serial", "text", (c) => c.primaryKey())
          .addColumn("cert_status", "text", (c) => c.notNull())
          .addColumn("sha1_der", bytes, (c) => c.notNull())
          .addColumn("sha256_der", bytes, (c) => c.notNull())
          .addColumn("this_update", "text", (c) => c.notNull())
          .addColumn("next_update", "text", (c) => c.notNull())
          .addColumn("refresh_at", "text", (c) => c.notNull())
          .execute();
        // The refresher takes the rows due, oldest first.
        await db.schema.createIndex("ocsp_responses_refresh").on("ocsp_responses").column("refresh_at").execute();
        // New certificates are found by their creation time (a short look-back), not by a scan:
        // through the index on certificates(created_at, serial) of 0006_certificates_created.
      },
    },
    "0006_certificates_created": {
      async up(db: Kysely<unknown>) {
        // The operator's list of issued certificates is the newest first (listAllCertificates):
        // without an index on created_at it sorted the whole table on every look (a million
        // rows: seconds). Every other hot lookup already has its index (hotQueryPlans).
        await db.schema.createIndex("certificates_created").on("certificates").columns(["created_at", "serial"]).execute();
      },
    },
    "0007_crl_store": {
      async up(db: Kysely<unknown>) {
        // Signed CRLs, one row per scope (a shard, the full CRL, the ARL): `serve` answers from
        // these bytes at once after a start, every worker and instance serves the same ones, and
        // a revocation re-signs one shard from its previous bytes. crl_number is decimal text
        // (up to 159 bits); max_seq the highest revocation seq the CRL was built from.
        await db.schema.createTable("crls")
          .addColumn("scope", "text", (c) => c.primaryKey())
          .addColumn("crl_number", "text", (c) => c.notNull())
          .addColumn("this_update", "text", (c) => c.notNull())
          .addColumn("next_update", "text", (c) => c.notNull())
          .addColumn("der", bytes, (c) => c.notNull())
          .addColumn("entries", "integer", (c) => c.notNull())
          .addColumn("max_seq", "integer", (c) => c.notNull())
          .addColumn("url", "text", (c) => c.notNull())
          .addColumn("signed_by", "text", (c) => c.notNull())
          .execute();
        // Named leases (the CRL signer): held by whoever updated the row last, until expires_at.
        await db.schema.createTable("leases")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("holder", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .execute();
        // A CRL shard's revocations by the serial's last two hex digits (pki/crl_shard.ts).
        await sql`create index revocations_crl_shard on revocations (${dialect === "postgres" ? sql`(right(serial, 2))` : sql`substr(serial, -2)`})`.execute(db);
      },
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrationsFor(dialect)) };
}
