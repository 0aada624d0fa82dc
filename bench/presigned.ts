/**
 * The OCSP pre-signing an enrollment causes, inside the window that caused it. `serve`'s supervisor
 * signs an answer for each new certificate on its own clock (`revocation.checkSeconds`, 5 s by
 * default), so without this a window of a few seconds holds the pre-signing of none, some or all of
 * its certificates, and sometimes of the previous window's too: the "of it: supervisor" column read
 * 0.000–0.157 ms per enrollment between windows of one run. A window that waits for the answers
 * before reading the server's CPU holds the signing of exactly its own certificates, once; its rate
 * is still taken over the enrollments alone.
 */
import BetterSqlite3 from "better-sqlite3";
import { cpSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { loadConfig } from "../src/server/config.js";
import { DataDir } from "../src/server/data_dir.js";

/** The SQLite file of a data folder (its shomei.json's `database`, read as `serve` reads it). */
export function sqliteFileOf(root: string): string {
  const dir = new DataDir(root);
  const url = dir.databaseUrl(loadConfig(dir.config).database);
  if (!url.startsWith("sqlite:")) throw new Error(`${root}: the benchmark needs the SQLite store, not ${url}`);
  return url.slice("sqlite:".length);
}

/**
 * Copies a data folder that a running `serve` may be writing: the files as they are, the SQLite
 * database through SQLite's online backup (one consistent snapshot, its WAL folded in). Two
 * instances measured side by side each get their own store this way, so neither pre-signs, nor
 * checkpoints, the other's certificates.
 */
export async function copyDataFolder(root: string, dest: string): Promise<void> {
  const db = sqliteFileOf(root);
  const rel = relative(root, db);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) throw new Error(`${db} is outside ${root}: a copy would share it`);
  cpSync(root, dest, { recursive: true, filter: (src) => ![db, `${db}-wal`, `${db}-shm`].includes(src) });
  const from = new BetterSqlite3(db, { readonly: true, fileMustExist: true });
  try {
    await from.backup(join(dest, rel));
  } finally {
    from.close();
  }
}

/**
 * Certificates on record, not expired, without a stored OCSP answer giving their status: what the
 * pre-signer has still to sign (the condition of the store's `ocspMissing`, without its look-back).
 */
export function unsignedCertificates(dbFile: string, now = new Date()): number {
  const db = new BetterSqlite3(dbFile, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare(`SELECT count(*) AS n FROM certificates c LEFT JOIN ocsp_responses r ON r.serial = c.serial
      WHERE c.not_after > ? AND (r.serial IS NULL OR r.cert_status <> c.status)`).get(now.toISOString()) as { n: number };
    return Number(row.n);
  } finally {
    db.close();
  }
}

/**
 * Waits until the pre-signer has signed every certificate on record (polled every 50 ms); fails
 * after `maxSeconds`, naming how many are left, rather than measure a window without them.
 */
export async function waitPresigned(dbFile: string, maxSeconds = 60): Promise<void> {
  const end = Date.now() + maxSeconds * 1000;
  for (;;) {
    const left = unsignedCertificates(dbFile);
    if (left === 0) return;
    if (Date.now() > end) throw new Error(`${left} certificates still had no pre-signed OCSP answer ${maxSeconds} s after the window (${dbFile})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
