/**
 * The portal's every-request reads on SQLite straight through better-sqlite3, in its raw mode
 * (each row an array of the selected columns, no object with a key per column). Through
 * Kysely's driver the joined certificate + user + session read cost ≈ 20 µs and the list of a
 * user's certificates ≈ 8 µs on this machine; here ≈ 7 and ≈ 4 µs: Kysely's executor (its
 * connection mutex and promise chain per query) and better-sqlite3 naming every column were
 * most of it.
 *
 * The SQL is what the Kysely builder of the same query compiles to (the caller passes it, from
 * its Prepared), so the two paths read the same rows; the store tests compare the answers
 * (verifyPrepared). Only reads go this way, and only while the connection is outside a
 * transaction: a group commit of this process runs its statements between awaits, and a read
 * in between would see its uncommitted rows. Then `row` answers BUSY and the caller reads
 * through Kysely, which waits for the connection's mutex as before.
 */
import type BetterSqlite3 from "better-sqlite3";

/** `row`/`rows` could not read now (a transaction is open on the connection): read through Kysely. */
export const BUSY: unique symbol = Symbol("connection busy");

export type RawRow = readonly unknown[];

export class DirectReads {
  private readonly statements = new Map<string, BetterSqlite3.Statement<unknown[], RawRow>>();

  constructor(private readonly db: BetterSqlite3.Database) {}

  /** The raw-mode statement of `sql`; its columns must be `columns`, in this order (checked once). */
  private statement(sql: string, columns: readonly string[]): BetterSqlite3.Statement<unknown[], RawRow> {
    let s = this.statements.get(sql);
    if (!s) {
      const prepared = this.db.prepare<unknown[], RawRow>(sql);
      const names = prepared.columns().map((c) => c.name);
      if (names.join("\u0000") !== columns.join("\u0000")) throw new Error(`direct read: columns ${names.join(",")} are not ${columns.join(",")}`);
      s = prepared.raw(true);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** The first row, undefined when none, BUSY inside a transaction. */
  row(sql: string, columns: readonly string[], parameters: readonly unknown[]): RawRow | undefined | typeof BUSY {
    if (this.db.inTransaction) return BUSY;
    return this.statement(sql, columns).get(...parameters);
  }

  /** Every row, BUSY inside a transaction. */
  rows(sql: string, columns: readonly string[], parameters: readonly unknown[]): RawRow[] | typeof BUSY {
    if (this.db.inTransaction) return BUSY;
    return this.statement(sql, columns).all(...parameters);
  }
}
