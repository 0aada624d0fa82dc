/** File writing that never leaves half a file behind, with the modes secrets need. */
import { open, rename, link, unlink, mkdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { dirname, join, basename } from "node:path";

export interface WriteOptions {
  /** File mode; 0o600 for anything secret (default 0o644). */
  readonly mode?: number;
  /** Refuse to replace an existing file (EEXIST). */
  readonly exclusive?: boolean;
}

/**
 * Writes to a temporary file beside the target, flushes it, then renames it into place (or,
 * with `exclusive`, links it: link() fails if the target exists and is just as atomic).
 * Missing folders are created with mode 0700.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o644;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.chmod(mode); // the umask may have taken bits away
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    if (opts.exclusive) {
      await link(tmp, path);
      await unlink(tmp);
    } else {
      await rename(tmp, path);
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
