/** The service's minimum client version (published in /.well-known/shomei.json), checked before enrolling or renewing. */
import { ShomeiError } from "../i18n/errors.js";

/** Compares dotted versions numerically (1.10.0 > 1.9.3); a pre-release suffix counts as older. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): { nums: number[]; pre: boolean } => {
    const [core = "", pre] = v.trim().split("-", 2);
    return { nums: core.split(".").map((x) => Number.parseInt(x, 10) || 0), pre: pre !== undefined };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return x.pre === y.pre ? 0 : x.pre ? -1 : 1;
}

/** CLIENT_TOO_OLD when `own` is older than the service's minimum (no minimum published: fine). */
export function checkClientVersion(own: string, minimum: string | undefined): void {
  if (minimum !== undefined && compareVersions(own, minimum) < 0) throw new ShomeiError("CLIENT_TOO_OLD", { version: own, minimum });
}
