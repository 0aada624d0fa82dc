/**
 * Chromium's AutoSelectCertificateForUrls policy for one origin (shared/docs/browser-testing.md,
 * Way B): a machine-wide file in /etc/chromium/policies/managed/ (root only), with a unique
 * name, removed by `remove()`. Without it headless Chromium waits for a certificate choice nobody
 * makes. `problem` says why the file could not be written (the test then skips, or fails under CI).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const POLICY_DIR = "/etc/chromium/policies/managed";

export interface AutoSelectPolicy {
  readonly problem?: string;
  remove(): void;
}

export function autoSelectCertificate(origin: string, label: string): AutoSelectPolicy {
  const created: string[] = [];
  let file: string | undefined;
  try {
    let dir = "/";
    for (const part of POLICY_DIR.split("/").filter(Boolean)) {
      dir = join(dir, part);
      if (!existsSync(dir)) {
        mkdirSync(dir);
        created.unshift(dir);
      }
    }
    const f = join(POLICY_DIR, `shomei-test-${label}-${process.pid}-${randomBytes(4).toString("hex")}.json`);
    writeFileSync(f, JSON.stringify({ AutoSelectCertificateForUrls: [JSON.stringify({ pattern: origin, filter: {} })] }) + "\n", { flag: "wx" });
    file = f;
  } catch (e) {
    return {
      problem: `cannot write the Chromium policy in ${POLICY_DIR} (machine-wide, root only): ${e instanceof Error ? e.message : String(e)}`,
      remove: () => undefined,
    };
  }
  return {
    remove() {
      if (file) rmSync(file, { force: true });
      for (const d of created) {
        try {
          if (readdirSync(d).length === 0) rmdirSync(d);
        } catch {
          // left for whoever else put something there
        }
      }
    },
  };
}
