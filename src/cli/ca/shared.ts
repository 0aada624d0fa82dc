/** Options and helpers every `shomei-ca` command shares. */
import { userInfo } from "node:os";
import type { Options, Parsed } from "../common.js";
import { str } from "../common.js";
import { defaultDataDir } from "../../server/data_dir.js";
import type { OpenOptions } from "../../server/services.js";

export const COMMON_OPTIONS = {
  data: { type: "string" },
  db: { type: "string" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

export function dataDir(p: Parsed): string {
  return str(p, "data") ?? defaultDataDir();
}

export function openOptions(p: Parsed): OpenOptions {
  const db = str(p, "db");
  return db ? { database: db } : {};
}

/** Who is acting, for the audit log: the operating-system account running the command. */
export function operatorActor(): string {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    return "operator:unknown";
  }
}

export function out(line: string): void {
  process.stdout.write(line + "\n");
}
