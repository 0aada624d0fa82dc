/** Dates as people read them, in the operator's time zone (Asia/Tokyo by default). */
import type { Lang } from "./errors.js";

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** The zone's short name where one is common (JST, UTC, EDT), else its offset (+01:00). */
function zoneName(d: Date, timeZone: string | undefined): string {
  for (const locale of ["en-US", "ja-JP"]) {
    const name = new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value;
    if (name !== undefined && /^[A-Z]{2,5}$/.test(name)) return name;
  }
  const offset = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? "";
  const m = /^GMT([+-]\d{2}:\d{2})$/.exec(offset);
  return m?.[1] ?? "+00:00";
}

/**
 * The one format for a time people read in a terminal: `2027-11-05 01:58 JST`, the date and
 * time in `timeZone` (the PC's own zone when undefined) followed by that zone. Both `shomei`
 * (the PC's zone) and `shomei-ca` (the configured `timeZone`) print times this way; `--json`
 * output keeps ISO 8601.
 */
export function formatTime(d: Date, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
    .formatToParts(d);
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value);
  return `${get("year")}-${pad2(get("month"))}-${pad2(get("day"))} ${pad2(get("hour"))}:${pad2(get("minute"))} ${zoneName(d, timeZone)}`;
}

/** The options formatDateTime formats with, per language. */
export const DATE_TIME_OPTIONS: Readonly<Record<Lang, { readonly locale: string; readonly options: Intl.DateTimeFormatOptions }>> = {
  ja: { locale: "ja-JP", options: { year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false } },
  en: { locale: "en-GB", options: { year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short" } },
};

/**
 * Made once per language and zone: building an Intl.DateTimeFormat costs tens of microseconds
 * (the largest share of a portal page's own work when made per date); formatting with one is cheap.
 */
const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();

function dateTimeFormat(lang: Lang, timeZone: string): Intl.DateTimeFormat {
  const key = `${lang} ${timeZone}`;
  let f = dateTimeFormats.get(key);
  if (!f) {
    const { locale, options } = DATE_TIME_OPTIONS[lang];
    f = new Intl.DateTimeFormat(locale, { timeZone, ...options });
    if (dateTimeFormats.size < 64) dateTimeFormats.set(key, f);
  }
  return f;
}

export function formatDateTime(d: Date, lang: Lang, timeZone: string): string {
  const text = dateTimeFormat(lang, timeZone).format(d);
  return lang === "ja" ? `${text}（${timeZone === "Asia/Tokyo" ? "日本時間" : timeZone}）` : text;
}

/**
 * Reads `YYYY-MM-DDTHH:mm` (an HTML datetime-local value) as a time in `timeZone`; undefined
 * when empty or not in that form.
 */
export function parseLocalDateTime(s: string, timeZone: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(s.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  if (Number.isNaN(asUtc)) return undefined;
  // The zone's offset at that moment, read back through Intl (no time-zone library needed).
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
    .formatToParts(new Date(asUtc));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value);
  const shown = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
  return new Date(asUtc - (shown - asUtc));
}
