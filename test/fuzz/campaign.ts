/**
 * Running a fuzz target: case n of seed s is always the same input (caseRng(s, n) picks the
 * sample and the mutations). The verdict is always the same: the input is accepted, or refused
 * with a ShomeiError whose code is in the catalog (and is not INTERNAL); anything else, a plain
 * Error, a RangeError from a library, a hang the caller notices, is a failure printed with its
 * seed, case number and input (base64) so it can be replayed. After the cases every sample
 * must still be accepted.
 */
import { writeSync } from "node:fs";
import { ERRORS, ShomeiError } from "../../src/i18n/errors.js";
import { caseRng, mutate, type Mutator } from "./mutate.js";

export interface CampaignTarget {
  readonly name: string;
  readonly samples: readonly Buffer[];
  readonly mutators: readonly string[];
  run(input: Buffer): unknown;
}

export interface Failure {
  readonly target: string;
  readonly seed: number;
  /** -1: a valid sample was refused after the cases. */
  readonly caseNo: number;
  readonly mutators: readonly string[];
  readonly input: string;
  readonly error: string;
}

export interface CampaignResult {
  readonly target: string;
  readonly cases: number;
  readonly accepted: number;
  /** How often each code answered (to see that the mutations reach past the first check). */
  readonly codes: Readonly<Record<string, number>>;
  readonly failures: readonly Failure[];
}

/** A per-target seed, so that targets sharing the campaign seed do not mutate in lockstep. */
export function targetSeed(seed: number, name: string): number {
  let h = seed >>> 0;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Undefined when `e` is a coded refusal, else why it is not. */
export function notCoded(e: unknown): string | undefined {
  if (e instanceof ShomeiError && Object.hasOwn(ERRORS, e.code) && e.code !== "INTERNAL") return undefined;
  if (e instanceof ShomeiError) return `ShomeiError ${e.code}: ${e.message}; cause: ${String((e.cause as Error | undefined)?.stack ?? e.cause)}`;
  return e instanceof Error ? (e.stack ?? String(e)).split("\n").slice(0, 6).join("\n") : `thrown ${typeof e}: ${String(e)}`;
}

export interface CampaignOptions {
  readonly seed: number;
  readonly cases: number;
  /** First case number (to replay one case: first = n, cases = 1). */
  readonly first?: number;
  /** Extra mutators by name (text formats). */
  readonly extra?: Readonly<Record<string, Mutator>>;
  /**
   * A file descriptor that gets the case about to run (target, seed, number, base64 input),
   * overwritten each time, so that if the process dies in native code its parent can say which.
   */
  readonly progressFd?: number;
}

export async function runCampaign(t: CampaignTarget, o: CampaignOptions): Promise<CampaignResult> {
  const seed = targetSeed(o.seed, t.name);
  const failures: Failure[] = [];
  const codes: Record<string, number> = {};
  let accepted = 0;
  const first = o.first ?? 0;
  for (let caseNo = first; caseNo < first + o.cases; caseNo++) {
    const rng = caseRng(seed, caseNo);
    const { input, applied } = mutate(rng.pick(t.samples), rng, t.mutators, o.extra);
    if (o.progressFd !== undefined) {
      // What this child has seen so far goes along, so a parent counts the cases before a crash.
      const line = Buffer.from(`${JSON.stringify({ target: t.name, seed: o.seed, caseNo, mutators: applied, input: input.toString("base64"), accepted, codes, failures })}\n`);
      writeSync(o.progressFd, line, 0, line.length, 0);
    }
    try {
      await t.run(input);
      accepted++;
    } catch (e) {
      const why = notCoded(e);
      if (why === undefined) codes[(e as ShomeiError).code] = (codes[(e as ShomeiError).code] ?? 0) + 1;
      else failures.push({ target: t.name, seed: o.seed, caseNo, mutators: applied, input: input.toString("base64"), error: why });
    }
  }
  for (const s of t.samples) {
    try {
      await t.run(s);
    } catch (e) {
      failures.push({ target: t.name, seed: o.seed, caseNo: -1, mutators: [], input: s.toString("base64"), error: `a valid sample was refused afterwards: ${String(e)}` });
    }
  }
  return { target: t.name, cases: o.cases, accepted, codes, failures };
}

/** One failure as the report prints it: enough to replay (npm run fuzz -- --target T --seed S --case N). */
export function describeFailure(f: Failure): string {
  const input = f.input.length > 4000 ? `${f.input.slice(0, 4000)}… (${f.input.length} base64 characters)` : f.input;
  return `${f.target} seed=${f.seed} case=${f.caseNo} mutators=${f.mutators.join("+") || "-"}\n  input (base64): ${input}\n  ${f.error.replace(/\n/g, "\n  ")}`;
}
