/** File writing that never leaves half a file behind, with the modes secrets need. */
import { mkdirSync, writeFileSync, renameSync, linkSync, openSync, fsyncSync, closeSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join, basename } from "node:path";

export interface WriteOptions {
  /** File mode; 0o600 for anything secret. */
  readonly mode?: number;
  /** Refuse to replace an existing file. */
  readonly exclusive?: boolean;
}

/** Writes to a temporary file beside the target, fsyncs it, then renames it into place. */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, data, { mode: opts.mode ?? 0o644, flag: "wx" });
    const fd = openSync(tmp, "r");
    try { fsyncSync(fd); } finally { closeSync(fd); }
    if (opts.exclusive) {
      // link() fails if the target exists, unlike rename(), and is just as atomic.
      linkSync(tmp, path);
      rmSync(tmp, { force: true });
    } else {
      renameSync(tmp, path);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = openSync(dir, "r");
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch {
    // Some file systems do not allow fsync on a directory; the rename is still atomic.
  }
}
