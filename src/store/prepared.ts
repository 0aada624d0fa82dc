/**
 * Queries compiled once. Kysely builds an operation tree and compiles it to SQL on every call
 * (tens of microseconds, the largest share of a store call on the hot paths); a `Prepared`
 * runs its builder once with marker values in place of the arguments, keeps the SQL and where
 * each argument goes, and from then on only fills in the parameters. On SQLite the statement
 * cache of store/open.ts then finds the better-sqlite3 statement by its SQL; on PostgreSQL the
 * SQL goes to the server as it is.
 *
 * The builder must pass its arguments to Kysely as values only (no branching on them, no
 * sql.raw): preparing refuses a builder whose markers do not all come out as parameters.
 * With `verifyPrepared(true)` (the store tests) every execution also builds and compiles the
 * query the old way and throws unless the SQL and parameters are the same.
 */
import type { Compilable, CompiledQuery, QueryResult } from "kysely";

const MARK = "\u0000shomei-prepared-argument:";

interface Executor {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

let verifying = false;

/**
 * Makes every prepared execution compare itself with a fresh Kysely compile, and every direct
 * read (direct_reads.ts) its answer with the same read through Kysely (tests only).
 */
export function verifyPrepared(on: boolean): void {
  verifying = on;
}

/** Whether verifyPrepared(true) is in force. */
export function verifyingPrepared(): boolean {
  return verifying;
}

export class Prepared<A extends readonly unknown[], R> {
  private compiled: CompiledQuery<R> | undefined;
  /** For each parameter: the argument index, or -1 for a constant of the query. */
  private slots: number[] = [];

  constructor(private readonly build: (...args: A) => Compilable<R>, private readonly arity: number) {}

  private prepare(): CompiledQuery<R> {
    if (this.compiled) return this.compiled;
    const markers = Array.from({ length: this.arity }, (_, i) => `${MARK}${i}`);
    const c = this.build(...(markers as unknown as A)).compile();
    if (c.sql.includes(MARK)) throw new Error("prepared query: an argument was written into the SQL text");
    const slots = c.parameters.map((p) => (typeof p === "string" && p.startsWith(MARK) ? Number(p.slice(MARK.length)) : -1));
    for (let i = 0; i < this.arity; i++) if (!slots.includes(i)) throw new Error(`prepared query: argument ${i} is not a parameter`);
    this.slots = slots;
    this.compiled = c;
    return c;
  }

  /** The compiled query for these arguments (what `execute` runs). */
  compile(...args: A): CompiledQuery<R> {
    const c = this.prepare();
    const constants = c.parameters;
    const parameters = this.slots.map((s, i) => (s >= 0 ? args[s] : constants[i]));
    const q: CompiledQuery<R> = { query: c.query, queryId: c.queryId, sql: c.sql, parameters };
    if (verifying) {
      const fresh = this.build(...args).compile();
      if (fresh.sql !== q.sql || JSON.stringify(fresh.parameters) !== JSON.stringify(q.parameters)) {
        throw new Error(`prepared query differs from Kysely's compile:\n${q.sql}\n${fresh.sql}\n${JSON.stringify(q.parameters)}\n${JSON.stringify(fresh.parameters)}`);
      }
    }
    return q;
  }

  /** The query with every argument "x": for EXPLAIN, which needs values but reads no rows. */
  sample(): CompiledQuery<R> {
    return this.compile(...(Array.from({ length: this.arity }, () => "x") as unknown as A));
  }

  async execute(on: Executor, ...args: A): Promise<QueryResult<R>> {
    return on.executeQuery(this.compile(...args));
  }

  async rows(on: Executor, ...args: A): Promise<R[]> {
    return (await this.execute(on, ...args)).rows;
  }

  async first(on: Executor, ...args: A): Promise<R | undefined> {
    return (await this.execute(on, ...args)).rows[0];
  }

  /** Rows changed by an UPDATE, INSERT or DELETE. */
  async changed(on: Executor, ...args: A): Promise<number> {
    return Number((await this.execute(on, ...args)).numAffectedRows ?? 0);
  }
}

/** A query compiled on first use; `build` must take exactly the arguments it uses as values. */
export function prepared<A extends readonly unknown[], R>(build: (...args: A) => Compilable<R>): Prepared<A, R> {
  return new Prepared(build, build.length);
}
