/**
 * Server-rendered HTML without a template engine: the `html` tag escapes every interpolated
 * value unless it is already `Html` (made by this tag or by `raw`). Names with `<script>` in
 * them are therefore text everywhere, by construction.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const SPECIAL = /[&<>"']/;
const SPECIALS = /[&<>"']/g;

export function escapeHtml(s: string): string {
  // Most values (IDs, serials, dates, tokens) have nothing to escape: no new string for them.
  return SPECIAL.test(s) ? s.replace(SPECIALS, (c) => ENTITIES[c] ?? c) : s;
}

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return (v as readonly Interpolation[]).map(render).join("");
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

/** For markup built here from constants only (never user input). */
export function raw(s: string): Html {
  return new Html(s);
}
