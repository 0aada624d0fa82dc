#!/usr/bin/env node
// Makes the commands named in package.json "bin" executable (0755) after `tsc`. tsc writes a
// fresh dist/ with mode 0644, and then `npx shomei` fails with "Permission denied". Every npm
// script that runs tsc runs this right after it. Refuses (exit 1) a bin file that is missing or
// does not start with "#!/usr/bin/env node", since the shell could not run it either.
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const bins = typeof pkg.bin === "string" ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});
let failed = false;
for (const [name, rel] of Object.entries(bins)) {
  const file = join(root, rel);
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    process.stderr.write(`bin-mode: ${name}: ${rel} is missing (did tsc run?)\n`);
    failed = true;
    continue;
  }
  if (!text.startsWith("#!/usr/bin/env node\n")) {
    process.stderr.write(`bin-mode: ${name}: ${rel} does not start with "#!/usr/bin/env node"\n`);
    failed = true;
    continue;
  }
  chmodSync(file, 0o755);
}
process.exit(failed ? 1 : 0);
