/**
 * `npm run bench:size`: does enrollment or the portal's per-request work slow down as the
 * database grows? The same CA is measured on a database seeded with few and with many users,
 * each with a used passcode and an issued certificate, on SQLite and on PostgreSQL:
 *   - enrollment: EnrollmentService.simpleEnroll (CSR check, signing, durable record);
 *   - login, store part: what a login costs besides the argon2id check (which does not depend
 *     on the database): certificate + user by fingerprint, the lockout reservation, the success,
 *     the session;
 *   - a logged-in page: certificate + user by fingerprint and the session.
 * Seeding is done by the database itself (generate_series / a recursive CTE), so a million rows
 * take seconds, not hours; its time is reported. The hot lookups' EXPLAIN plans go in the report.
 *
 * Settings: BENCH_SIZES (default "1000,1000000"), BENCH_SIZE_DIALECTS ("sqlite,postgres"),
 * BENCH_SIZE_N (operations measured per size, default 1000), SHOMEI_TEST_PG (the PostgreSQL URL),
 * BENCH_OUT (default: the section between markers in docs/benchmarks.md).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import pg from "pg";
import type { KyselyStore } from "../src/store/kysely_store.js";
import { openCa, type CaServices } from "../src/server/services.js";
import { createCa, makeUsers, registerUsers, UserIds, type BenchUser } from "./fixtures.js";
import { runItems, type RunResult } from "./measure.js";

const OUT = process.env.BENCH_OUT ?? fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
const BEGIN = "<!-- size-bench:begin (bench/size_bench.ts writes between these markers) -->";
const END = "<!-- size-bench:end -->";
const PG_URL = process.env.SHOMEI_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

const sizes = (process.env.BENCH_SIZES ?? "1000,1000000").split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
const dialects = (process.env.BENCH_SIZE_DIALECTS ?? "sqlite,postgres").split(",").map((s) => s.trim()).filter((d) => d === "sqlite" || d === "postgres");
const N = Number(process.env.BENCH_SIZE_N ?? 1000);

interface Row {
  readonly dialect: string;
  readonly size: number;
  readonly seedSeconds: number;
  readonly enroll: RunResult;
  readonly enroll16: RunResult;
  readonly login: RunResult;
  readonly page: RunResult;
  readonly plans: { query: string; plan: string[] }[];
}

const DAY = 86_400_000;

/** `size` users (s0000001…), each with a used passcode and a valid client certificate, written by the database itself. */
async function seed(store: KyselyStore, size: number): Promise<void> {
  const now = new Date();
  const at = now.toISOString();
  const later = new Date(now.getTime() + 365 * DAY).toISOString();
  const db = store.db;
  // i = 1..size as a row source, in each dialect's own way.
  const n = sql.raw(String(Math.floor(size)));
  const series = store.dialect === "postgres"
    ? sql`(select i from generate_series(1, ${n}) as g(i))`
    : sql`(with recursive n(i) as (select 1 union all select i + 1 from n where i < ${n}) select i from n)`;
  const id = store.dialect === "postgres" ? sql`'s' || lpad(i::text, 7, '0')` : sql`'s' || printf('%07d', i)`;
  const fp = store.dialect === "postgres" ? sql`'SEED:' || lpad(i::text, 90, '0')` : sql`'SEED:' || printf('%090d', i)`;
  const serial = store.dialect === "postgres" ? sql`'5e' || lpad(to_hex(i), 30, '0')` : sql`'5e' || printf('%030x', i)`;
  const der = store.dialect === "postgres" ? sql`decode(repeat(md5(i::text), 16), 'hex')` : sql`randomblob(256)`;
  await store.write(async (t) => {
    await sql`insert into users (user_id, email, name, organization, lang, role, status, password_hash, password_initial,
      password_set_at, password_expires_at, created_at, updated_at, failed_logins, locked_at, last_login_at, login_pending, login_pending_at)
      select ${id}, ${id} || '@seed.invalid', 'Seed ' || ${id}, 'Shomei Bench', 'en', 'user', 'active', '$argon2id$seed', 0,
      ${at}, null, ${at}, ${at}, 0, null, null, 0, null from ${series} as s`.execute(t);
    await sql`insert into passcodes (user_id, hash, issued_at, expires_at, failed_attempts, status, used_at, csr_hash, certificate_serial)
      select ${id}, 'seed', ${at}, ${later}, 0, 'used', ${at}, null, ${serial} from ${series} as s`.execute(t);
    await sql`insert into certificates (serial, user_id, kind, subject, not_before, not_after, fingerprint, der, status, csr_hash, created_at, revoked_at, revocation_reason)
      select ${serial}, ${id}, 'client', 'CN=' || ${id}, ${at}, ${later}, ${fp}, ${der}, 'valid', null, ${at}, null, null from ${series} as s`.execute(t);
  });
  // Fresh statistics, as a database that grew over time would have.
  await sql`analyze`.execute(db);
}

const seededFp = (i: number): string => `SEED:${String(i).padStart(90, "0")}`;

interface SeededDb {
  readonly s: CaServices;
  readonly size: number;
  readonly seedSeconds: number;
  readonly users: BenchUser[];
  used: number;
}

/** Seeds the database and registers the users the timed enrollments will use (rounds × (2N) of them). */
async function prepare(s: CaServices, dialect: string, size: number, rounds: number, ids: UserIds, log: (l: string) => void): Promise<SeededDb> {
  const t0 = performance.now();
  await seed(s.store, size);
  const seedSeconds = (performance.now() - t0) / 1000;
  log(`  ${dialect}, ${size.toLocaleString("en")} users and certificates seeded in ${seedSeconds.toFixed(1)} s`);
  const users: BenchUser[] = await makeUsers(ids, rounds * 2 * N + 200);
  await registerUsers(s.store, s.dir.hmacSecret(), s.config.organization, users);
  const enroll = async (u: BenchUser): Promise<void> => {
    await s.enrollment.simpleEnroll({ userId: u.userId, passcode: u.passcode, csrDer: u.csrDer });
  };
  await runItems(users.slice(0, 200), 1, enroll, 60); // warm-up
  return { s, size, seedSeconds, users, used: 200 };
}

interface Times {
  readonly enroll: RunResult;
  readonly enroll16: RunResult;
  readonly login: RunResult;
  readonly page: RunResult;
}

/** One round of the four measurements on a prepared database. */
async function measureOnce(p: SeededDb, round: number): Promise<Times> {
  const { s, size } = p;
  const take = (n: number): BenchUser[] => p.users.slice(p.used, (p.used += n));
  const enroll = async (u: BenchUser): Promise<void> => {
    await s.enrollment.simpleEnroll({ userId: u.userId, passcode: u.passcode, csrDer: u.csrDer });
  };
  const enroll1 = await runItems(take(N), 1, enroll, 60);
  const enroll16 = await runItems(take(N), 16, enroll, 60);
  // Seeded certificates spread over the whole table (no cache-friendly neighbours), other ones each round.
  const picks = Array.from({ length: N }, (_, i) => 1 + (Math.floor((((i * 7919) % N) + round * 0.5) * (size / N)) % size));
  const fakeDer = Buffer.from("30", "hex");
  const store = s.store;
  const login = await runItems(picks, 1, async (i) => {
    const id = await s.portal.identify(fakeDer, seededFp(i));
    const now = new Date();
    const r = await store.reserveLoginAttempt(id.user.userId, 5, now, { staleBefore: new Date(now.getTime() - 300_000) });
    if (r !== "reserved") throw new Error(`reserve ${id.user.userId}: ${r}`);
    await store.recordLoginSuccess(id.user.userId, now, [{ at: now, actor: `user:${id.user.userId}`, event: "login", userId: id.user.userId, outcome: "success", detail: { channel: "web" } }]);
    await store.createSession({ idHash: `bench-${round}-${i}`, userId: id.user.userId, certFingerprint: id.cert.fingerprint, stage: "full", createdAt: now, lastSeenAt: now }, []);
  }, 60);
  const page = await runItems(picks, 1, async (i) => {
    const id = await s.portal.identify(fakeDer, seededFp(i));
    await store.getSession(`missing-${id.user.userId}`);
  }, 60);
  return { enroll: enroll1, enroll16, login, page };
}

/** Of two runs, the one with less wall time per operation (the other had more interference). */
const better = (a: RunResult, b: RunResult | undefined): RunResult => (b && b.usPerOp < a.usPerOp ? b : a);

async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await c.end();
  }
}

function render(rows: readonly Row[], started: Date, loads: [number, number], seconds: number): string {
  const f = (n: number): string => Math.round(n).toLocaleString("en");
  const cpu = (r: RunResult): string => `CPU ${f((r.cpuSeconds / r.ops) * 1e6)}`;
  const lines = [
    BEGIN,
    "## Flat with size: 1,000 vs 1,000,000 users and certificates (bench/size_bench.ts)",
    "",
    `Written by \`npm run bench:size\` on ${started.toISOString()}; load average (1 min) ${loads[0].toFixed(2)} at start, ${loads[1].toFixed(2)} at end; ${f(seconds)} s in all.`,
    "Each database is seeded by the database itself (one INSERT … SELECT per table: users, used passcodes, valid certificates),",
    `then ${N.toLocaleString("en")} operations of each kind are timed: µs each, wall time, and in brackets this process's CPU µs each (for SQLite`,
    "the database's work too; PostgreSQL's own is in its server). The sizes are open at once and measured in turn (small, large, small, large);",
    "each figure is the better of its two rounds. One at a time unless said. \"Login, store part\" is a",
    "login without the argon2id check (its cost does not depend on the database): certificate and user by fingerprint, lockout",
    "reservation, success, session. \"Logged-in page\" is the portal's per-request reads: certificate and user by fingerprint, session.",
    "",
    "| database | users and certificates | seeding | enroll, 1 in flight | enroll, 16 in flight | login, store part | logged-in page |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.dialect} | ${f(r.size)} | ${r.seedSeconds.toFixed(1)} s | ${f(r.enroll.usPerOp)} (${cpu(r.enroll)}) | ${f(r.enroll16.usPerOp)} (${cpu(r.enroll16)}) | ${f(r.login.usPerOp)} (${cpu(r.login)}) | ${f(r.page.usPerOp)} (${cpu(r.page)}) |`),
    "",
  ];
  for (const d of new Set(rows.map((r) => r.dialect))) {
    const mine = rows.filter((r) => r.dialect === d);
    const small = mine[0];
    const big = mine[mine.length - 1];
    if (!small || !big || small === big) continue;
    const ratio = (a: RunResult, b: RunResult): string => `${((b.usPerOp / a.usPerOp) * 100).toFixed(0)} %`;
    lines.push(`${d}: at ${f(big.size)} the costs are ${ratio(small.enroll, big.enroll)} (enroll), ${ratio(small.enroll16, big.enroll16)} (enroll, 16 in flight), ` +
      `${ratio(small.login, big.login)} (login) and ${ratio(small.page, big.page)} (page) of those at ${f(small.size)}.`, "");
  }
  const largest = rows.filter((r) => r.size === Math.max(...rows.map((x) => x.size)));
  for (const r of largest) {
    lines.push(`Query plans of the hot lookups on ${r.dialect} with ${f(r.size)} rows (\`KyselyStore.hotQueryPlans\`):`, "", "```");
    for (const p of r.plans) lines.push(`${p.query}: ${p.plan.join(" / ")}`);
    lines.push("```", "");
  }
  lines.push(END);
  return lines.join("\n");
}

/** Replaces the section between the markers in `file` (or appends it). */
function writeSection(file: string, section: string): void {
  const old = existsSync(file) ? readFileSync(file, "utf8") : "";
  const a = old.indexOf(BEGIN);
  const b = old.indexOf(END);
  const next = a >= 0 && b > a ? old.slice(0, a) + section + old.slice(b + END.length) : `${old.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}

async function main(): Promise<number> {
  const log = (l: string): void => void process.stdout.write(`${l}\n`);
  const started = new Date();
  const load0 = loadavg()[0] ?? NaN;
  const t0 = performance.now();
  const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "shomei-size-"));
  const rows: Row[] = [];
  const ids = new UserIds();
  try {
    await createCa(root);
    const havePg = dialects.includes("postgres") && await pgAvailable();
    if (dialects.includes("postgres") && !havePg) log(`PostgreSQL not reachable at ${PG_URL.replace(/:[^:@/]*@/, ":***@")}: SQLite only`);
    const rounds = 2;
    for (const dialect of dialects) {
      if (dialect === "postgres" && !havePg) continue;
      // Every size open at once, measured in turn (small, large, small, large): the machine's
      // load then weighs on each alike; each row keeps the better of its rounds.
      const open: { p: SeededDb; schema: string; times: Times[] }[] = [];
      try {
        for (const size of sizes) {
          const schema = `shomei_bench_size_${size}_${process.pid}`;
          const url = dialect === "sqlite" ? `sqlite:${join(root, `size-${size}.db`)}` : `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
          const s = await openCa(root, { database: url });
          open.push({ p: { s, size, seedSeconds: 0, users: [], used: 0 }, schema, times: [] });
          const entry = open[open.length - 1]!;
          entry.p = await prepare(s, dialect, size, rounds, ids, log);
        }
        for (let round = 0; round < rounds; round++) {
          for (const o of open) {
            const t = await measureOnce(o.p, round);
            o.times.push(t);
            const us = (r: RunResult): string => `${Math.round(r.usPerOp)} µs (CPU ${Math.round((r.cpuSeconds / r.ops) * 1e6)})`;
            log(`    ${dialect} ${o.p.size.toLocaleString("en")}, round ${round + 1}: enroll ${us(t.enroll)}, 16 in flight ${us(t.enroll16)}, login store part ${us(t.login)}, logged-in page ${us(t.page)}`);
          }
        }
        for (const o of open) {
          const [a, b] = o.times as [Times, Times | undefined];
          rows.push({
            dialect, size: o.p.size, seedSeconds: o.p.seedSeconds,
            enroll: better(a.enroll, b?.enroll), enroll16: better(a.enroll16, b?.enroll16), login: better(a.login, b?.login), page: better(a.page, b?.page),
            plans: await o.p.s.store.hotQueryPlans(),
          });
        }
      } finally {
        for (const o of open) {
          await o.p.s.close();
          if (dialect === "postgres") await dropSchema(o.schema);
          else for (const f of ["", "-wal", "-shm"]) rmSync(join(root, `size-${o.p.size}.db${f}`), { force: true });
        }
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  mkdirSync(join(OUT, ".."), { recursive: true });
  writeSection(OUT, render(rows, started, [load0, loadavg()[0] ?? NaN], (performance.now() - t0) / 1000));
  log(`Wrote ${OUT}`);
  return 0;
}

process.exitCode = await main();
