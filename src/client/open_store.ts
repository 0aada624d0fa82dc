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
import { NssStore } from "./nss_store.js";
import type { CertificateStore } from "./store.js";

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
    // Nothing runs yet: a missing database or missing NSS tools are reported by the first operation.
    return new NssStore(spec.slice(4), { env });
  }
  return new FileStore(spec.startsWith("file:") ? spec.slice(5) : spec);
}
