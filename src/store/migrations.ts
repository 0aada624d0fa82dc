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
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrationsFor(dialect)) };
}
