#!/usr/bin/env node
// Writes docs/troubleshooting.md from the error catalog (run after `tsc`: `npm run docs:errors`).
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const { renderTroubleshooting } = await import(join(root, "dist/src/i18n/troubleshooting.js"));
writeFileSync(join(root, "docs", "troubleshooting.md"), renderTroubleshooting());
process.stdout.write("wrote docs/troubleshooting.md\n");
