/** Small formatting helpers shared by the `shomei` commands. */
import { formatTime } from "../../i18n/format.js";

/** A time in the PC's own zone with that zone (`2027-11-05 01:58 JST`), the way users read an expiry. */
export function formatLocalDateTime(d: Date): string {
  return formatTime(d);
}

const WIDE = /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/u;

/** Terminal columns a string takes (CJK and full-width characters count two). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += WIDE.test(ch) ? 2 : 1;
  return w;
}

/** Lines of a table with columns aligned by display width. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, displayWidth(cell)); });
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - displayWidth(cell)))).join("  ").trimEnd());
}
