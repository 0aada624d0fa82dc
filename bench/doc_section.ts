/** Benchmarks that share one document each write a section of their own, between markers, leaving the rest as it is. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export function writeSection(file: string, name: string, text: string): void {
  const begin = `<!-- bench:${name} begin -->`;
  const end = `<!-- bench:${name} end -->`;
  const section = `${begin}\n${text}\n${end}`;
  const old = existsSync(file) ? readFileSync(file, "utf8") : "";
  const b = old.indexOf(begin);
  const e = old.indexOf(end);
  writeFileSync(file, b >= 0 && e > b ? old.slice(0, b) + section + old.slice(e + end.length) : `${old.trimEnd()}\n\n${section}\n`);
}

/**
 * A document from its first marked section to its end: the sections other programs write and the
 * hand-written readings between and after them, kept when the head before them is written anew.
 * (Keeping only the marked sections dropped the readings that follow them.)
 */
export function fromFirstSection(file: string): string {
  if (!existsSync(file)) return "";
  const doc = readFileSync(file, "utf8");
  const at = doc.search(/<!-- bench:[\w-]+ begin -->/);
  return at < 0 ? "" : doc.slice(at).trimEnd();
}

/**
 * docs/benchmarks.md is written by two programs: `npm run bench` (bench/run.ts) writes the head of
 * the file and keeps everything from bench:compare's BEGIN marker (or the first other marked
 * section) on; `npm run bench:compare` (bench/compare.ts) replaces only its section between the
 * markers. The hand-written readings follow both.
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
