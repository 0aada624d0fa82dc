/**
 * `npm ci` on the Node.js the project supports installs without an engine warning (issue 11,
 * item 15): no locked package asks for a newer Node.js than package.json's `engines` promises.
 * cookie@2 (through fastify's light-my-request) wanted Node 22; an override pins cookie 1.1,
 * which has the same stringifySetCookie and supports Node 18.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const root = new URL("../../../", import.meta.url);
const read = (name: string): unknown => JSON.parse(readFileSync(new URL(name, root), "utf8"));

/** The lowest major version a simple range (">=20", "^20.10.0", ">= 18 || >= 20") accepts, or undefined. */
function lowestMajor(range: string): number | undefined {
  const majors = range.split("||").map((part) => /(\d+)/.exec(part)?.[1]).filter((m): m is string => m !== undefined).map(Number);
  return majors.length ? Math.min(...majors) : undefined;
}

test("every locked package runs on the Node.js major package.json promises", () => {
  const pkg = read("package.json") as { engines: { node: string } };
  const ours = lowestMajor(pkg.engines.node);
  assert.equal(ours, 20);
  const lock = read("package-lock.json") as { packages: Record<string, { engines?: { node?: string } }> };
  const tooNew = Object.entries(lock.packages)
    .filter(([path, p]) => path !== "" && p.engines?.node !== undefined && (lowestMajor(p.engines.node) ?? 0) > (ours ?? 0))
    .map(([path, p]) => `${path} (${p.engines?.node ?? ""})`);
  assert.deepEqual(tooNew, []);
});
