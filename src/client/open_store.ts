/**
 * Which certificate store a command works on: `--store nss:DIR` (an NSS database, what
 * Chromium and Firefox use on Linux), `--store DIR` (Shomei's file store), or by default
 * `$SHOMEI_STORE`, else the user's `~/.pki/nssdb` when it exists, else the file store in
 * `~/.config/shomei`.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { FileStore, defaultStoreDir } from "./file_store.js";
import type { CertificateStore } from "./store.js";

/** Opens an NSS database; set by nss_store.ts (kept apart so the file store works without NSS). */
export type NssOpener = (dir: string) => CertificateStore;
let openNss: NssOpener | undefined;

export function registerNssStore(opener: NssOpener): void {
  openNss = opener;
}

export function storeSpec(arg: string | undefined, env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (arg !== undefined && arg !== "") return arg;
  if (env.SHOMEI_STORE) return env.SHOMEI_STORE;
  const nssdb = join(home, ".pki", "nssdb");
  if (existsSync(join(nssdb, "cert9.db"))) return `nss:${nssdb}`;
  return defaultStoreDir(env, home);
}

export function openCertificateStore(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): CertificateStore {
  const spec = storeSpec(arg, env);
  if (spec.startsWith("nss:") || spec.startsWith("sql:")) {
    if (!openNss) throw new Error("the NSS store is not available in this build");
    return openNss(spec.slice(4));
  }
  return new FileStore(spec.startsWith("file:") ? spec.slice(5) : spec);
}
