/**
 * The child process of isolate.ts: runs cases of one parser target and prints the result as
 * one line of JSON. Arguments: --target NAME --seed S --first N --cases N --progress FILE.
 */
import { openSync, closeSync } from "node:fs";
import { parseArgs } from "node:util";
import { runCampaign } from "./campaign.js";
import { cleanupTargets, parserTargets, textMutators, type Target } from "./targets.js";

const { values } = parseArgs({
  options: {
    target: { type: "string" }, seed: { type: "string" }, first: { type: "string" }, cases: { type: "string" }, progress: { type: "string" },
  },
});
/** The harness's own check (mutate.test.ts): a target that aborts Node on an empty input, as a malformed key once did. */
const harnessAbort: Target = { name: "harness-abort", samples: [Buffer.from("ok")], mutators: ["bitFlip", "append", "insert", "byteSet", "bitFlip", "append", "insert", "empty"], run: (input) => (input.length === 0 ? process.abort() : input) };
const target = [...parserTargets(), harnessAbort].find((t) => t.name === values.target);
if (!target) throw new Error(`no target ${values.target}`);
const fd = values.progress ? openSync(values.progress, "w") : undefined;
const result = await runCampaign(target, {
  seed: Number(values.seed ?? 1), first: Number(values.first ?? 0), cases: Number(values.cases ?? 100), extra: textMutators,
  ...(fd === undefined ? {} : { progressFd: fd }),
});
if (fd !== undefined) closeSync(fd);
cleanupTargets();
process.stdout.write(`${JSON.stringify(result)}\n`);
