/**
 * docs/benchmarks.md is written by two programs: `npm run bench` (bench/run.ts) writes the whole
 * file, `npm run bench:compare` (bench/compare.ts) only its own section, from the BEGIN marker on
 * (the section between the markers, and the hand-written reading of it after END). These helpers
 * let each keep the other's part.
 */
export const COMPARE_BEGIN = "<!-- bench:compare begin (written by npm run bench:compare) -->";
export const COMPARE_END = "<!-- bench:compare end -->";

/** Replaces the marked section of the doc (or appends it when the doc has none). */
export function spliceSection(doc: string, section: string): string {
  const a = doc.indexOf(COMPARE_BEGIN);
  const b = doc.indexOf(COMPARE_END);
  if (a >= 0 && b > a) return doc.slice(0, a) + section + doc.slice(b + COMPARE_END.length);
  return `${doc.replace(/\n*$/, "\n\n")}${section}\n`;
}

/** What `npm run bench` should keep at the end of the file it rewrites: bench:compare's part, or "". */
export function compareTail(doc: string): string {
  const a = doc.indexOf(COMPARE_BEGIN);
  return a >= 0 ? `\n${doc.slice(a)}` : "";
}
