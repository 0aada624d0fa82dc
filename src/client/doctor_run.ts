/**
 * The order and skip rules of `shomei doctor`, apart from what each check does: checks run in
 * the order given; a check whose prerequisite found a problem (or could not run) is reported
 * as skipped, naming that prerequisite, instead of as one more problem. Pure: the checks come in.
 */
import { isShomeiError, type Lang } from "../i18n/errors.js";
import { dmsg } from "../i18n/doctor_messages.js";

export const CHECK_IDS = [
  "dns", "tcp", "proxy", "tls", "clock", "version",
  "store", "root", "certificate", "expiry", "revocation", "key", "duplicates",
] as const;

export type CheckId = (typeof CHECK_IDS)[number];
export type CheckStatus = "ok" | "warning" | "problem" | "skipped";
export type Details = Readonly<Record<string, string | number | boolean>>;

/** One check's result as shown and as printed by --json. */
export interface CheckResult {
  readonly id: CheckId;
  readonly title: string;
  readonly status: CheckStatus;
  /** One line: what was found. */
  readonly finding: string;
  /** What to do (empty when nothing needs doing). */
  readonly remedy: string;
  readonly details: Details;
}

/** What a check found. */
export interface Outcome {
  readonly status: "ok" | "warning" | "problem";
  readonly finding: string;
  readonly remedy?: string;
  readonly details?: Details;
}

/** A check that cannot run for a reason of its own (no server known, no certificate …). */
export interface Skip {
  readonly status: "skipped";
  /** Why, as a phrase ("no server is known to check"). */
  readonly because: string;
  readonly remedy?: string;
  readonly details?: Details;
}

export interface CheckDefinition {
  readonly id: CheckId;
  /** Checks that must have passed (ok or warning) for this one to mean anything. */
  readonly needs: readonly CheckId[];
  run(): Promise<Outcome | Skip>;
}

export interface RunHooks {
  /** Called before a check runs (for a progress line). */
  readonly starting?: (id: CheckId, title: string) => void;
  /** Called with each result as soon as it is known. */
  readonly finished?: (r: CheckResult) => void;
}

export function checkTitle(lang: Lang, id: CheckId): string {
  return dmsg(lang, `title.${id}`);
}

/** The result for a check that did not run, from the reason phrase. */
export function skipped(lang: Lang, id: CheckId, because: string, remedy = "", details: Details = {}): CheckResult {
  return { id, title: checkTitle(lang, id), status: "skipped", finding: dmsg(lang, "skipped", { because }), remedy, details };
}

/**
 * Runs the checks in order. An exception from a check is its problem (a ShomeiError with its
 * own text and remedy); it never stops the checks after it.
 */
export async function runChecks(defs: readonly CheckDefinition[], lang: Lang, hooks: RunHooks = {}): Promise<CheckResult[]> {
  const done = new Map<CheckId, CheckResult>();
  const out: CheckResult[] = [];
  for (const def of defs) {
    const title = checkTitle(lang, def.id);
    let result: CheckResult | undefined;
    for (const need of def.needs) {
      const r = done.get(need);
      if (r === undefined) continue; // not part of this run
      if (r.status === "problem" || r.status === "skipped") {
        const because = dmsg(lang, r.status === "problem" ? "because.failed" : "because.skipped", { title: r.title });
        result = skipped(lang, def.id, because);
        break;
      }
    }
    if (result === undefined) {
      hooks.starting?.(def.id, title);
      let o: Outcome | Skip;
      try {
        o = await def.run();
      } catch (e) {
        o = isShomeiError(e)
          ? { status: "problem", finding: e.text(lang), remedy: e.remedy(lang), details: { code: e.code } }
          : { status: "problem", finding: e instanceof Error ? e.message : String(e), details: { code: "INTERNAL" } };
      }
      result = o.status === "skipped"
        ? skipped(lang, def.id, o.because, o.remedy ?? "", o.details ?? {})
        : { id: def.id, title, status: o.status, finding: o.finding, remedy: o.remedy ?? "", details: o.details ?? {} };
    }
    done.set(def.id, result);
    out.push(result);
    hooks.finished?.(result);
  }
  return out;
}

/** 0 when nothing is a problem (warnings and skipped checks allowed), else 1. */
export function exitCodeOf(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === "problem") ? 1 : 0;
}
