/** The version of the installed `shomei`, from package.json. */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/** Looks upward from this file for Shomei's package.json and returns its version. */
export function shomeiVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "shomei" && typeof pkg.version === "string") return (cached = pkg.version);
    } catch {
      // no package.json here: look further up
    }
    const parent = dirname(dir);
    if (parent === dir) return (cached = "0.0.0-unknown");
    dir = parent;
  }
}
