/**
 * Opening the database named by a URL: `sqlite:PATH` (or a plain path) for the embedded
 * default, `postgres://…` for production. `?schema=NAME` on a PostgreSQL URL keeps one
 * instance's tables in its own schema, so several instances can share one server.
 * Migrations run on open.
 */
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase } from "kysely";
import BetterSqlite3 from "better-sqlite3";
import type PgDriver from "pg";
import type { ClientConfig } from "pg";
import { ShomeiError } from "../i18n/errors.js";
import { migrationProvider, type Dialect } from "./migrations.js";
import { KyselyStore, type StatusListen } from "./kysely_store.js";
import { DirectReads } from "./direct_reads.js";
import type { Database } from "./schema.js";

export interface DbTarget {
  readonly dialect: Dialect;
  /** File path (SQLite) or connection string without the schema parameter (PostgreSQL). */
  readonly location: string;
  readonly schema?: string;
}

export function parseDbUrl(url: string): DbTarget {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const u = new URL(url);
    const schema = u.searchParams.get("schema") ?? undefined;
    u.searchParams.delete("schema");
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new ShomeiError("FIELD_INVALID", { field: "schema", reason: schema });
    }
    return { dialect: "postgres", location: u.toString(), ...(schema ? { schema } : {}) };
  }
  return { dialect: "sqlite", location: url.replace(/^sqlite:(\/\/)?/, "") };
}

/** A URL safe to print: the password is hidden. */
export function redactDbUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}

function sqlite(path: string): { db: Kysely<Database>; direct: DirectReads } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // The database holds password hashes: readable by its owner only (SQLite gives its
  // -wal and -shm files the same mode).
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
  const database = new BetterSqlite3(path);
  // WAL lets readers and one writer work at once (the CLI beside a running server);
  // synchronous=FULL makes every commit durable; busy_timeout waits for another process's write.
  database.pragma("journal_mode = WAL");
  database.pragma("synchronous = FULL");
  database.pragma("busy_timeout = 10000");
  database.pragma("foreign_keys = ON");
  // Savepoints (one per write in a group commit) copy the pages they touch to a statement
  // journal; in memory instead of a temporary file, which cost a write() per page. Only for
  // rolling back one savepoint: durability is the WAL's (synchronous=FULL) either way.
  database.pragma("temp_store = MEMORY");
  // The portal's every-request reads go past Kysely on the same connection (direct_reads.ts).
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) }), direct: new DirectReads(database) };
}

/**
 * Kysely's SQLite driver prepares every query anew; the same few statements run for every
 * enrollment, so keep them prepared (better-sqlite3 statements are reusable, and SQLite
 * re-prepares one by itself if the schema changes under it).
 */
function withStatementCache(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        if (cache.size >= 512) cache.clear();
        stmt = db.prepare(sql);
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

/** The PostgreSQL driver, loaded only when a PostgreSQL database is opened (SQLite needs none of it). */
async function pgDriver(): Promise<typeof PgDriver> {
  return (await import("pg")).default;
}

function pgConfig(t: DbTarget): ClientConfig {
  return { connectionString: t.location, ...(t.schema ? { options: `-c search_path=${t.schema}` } : {}) };
}

async function postgres(t: DbTarget): Promise<Kysely<Database>> {
  const pg = await pgDriver();
  const pool = new pg.Pool({ ...pgConfig(t), max: 10 });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * LISTEN on a connection of its own (not the pool's: it stays open while the service runs),
 * passing on only the notifications whose payload is this connection's schema (the writer's
 * current_schema(); several instances may share one server, each in its schema).
 */
function pgListen(t: DbTarget): StatusListen {
  return async (channel, onChange, lost) => {
    const pg = await pgDriver();
    const client = new pg.Client(pgConfig(t));
    let stopped = false;
    client.on("error", (e) => {
      if (!stopped) lost(e);
    });
    await client.connect();
    try {
      const r = await client.query<{ s: string }>("select current_schema() as s");
      const schema = r.rows[0]?.s;
      client.on("notification", (n) => {
        if (n.channel === channel && n.payload === schema) onChange();
      });
      await client.query(`listen ${client.escapeIdentifier(channel)}`);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    return async () => {
      stopped = true;
      await client.end().catch(() => undefined);
    };
  };
}

export async function openStore(url: string): Promise<KyselyStore> {
  const target = parseDbUrl(url);
  let db: Kysely<Database>;
  let direct: DirectReads | undefined;
  try {
    if (target.dialect === "sqlite") ({ db, direct } = sqlite(target.location));
    else db = await postgres(target);
    if (target.schema) await db.schema.createSchema(target.schema).ifNotExists().execute();
    // The migration bookkeeping tables are looked up in this schema by name: without it, Kysely
    // finds another instance's kysely_migration_lock in a neighbouring schema and never creates its own.
    const { error } = await new Migrator({
      db, provider: migrationProvider(target.dialect), ...(target.schema ? { migrationTableSchema: target.schema } : {}),
    }).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error("migration failed", { cause: error });
  } catch (e) {
    if (e instanceof ShomeiError) throw e;
    throw new ShomeiError("DB_UNAVAILABLE", { reason: e instanceof Error ? e.message : String(e) }, { cause: e });
  }
  return new KyselyStore(db, target.dialect, target.dialect === "postgres" ? pgListen(target) : undefined, direct);
}
