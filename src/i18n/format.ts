/** Dates as people read them, in the operator's time zone (Asia/Tokyo by default). */

const pad2 = (n: number): string => String(n).padStart(2, "0");

type FormatKind = "parts" | "short-en" | "short-ja" | "offset";

const FORMATS: Readonly<Record<FormatKind, { readonly locale: string; readonly options: Intl.DateTimeFormatOptions }>> = {
  parts: { locale: "en-US", options: { hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" } },
  "short-en": { locale: "en-US", options: { timeZoneName: "short" } },
  "short-ja": { locale: "ja-JP", options: { timeZoneName: "short" } },
  offset: { locale: "en-US", options: { timeZoneName: "longOffset" } },
};

/**
 * Formatters for a named zone, made once: building an Intl.DateTimeFormat costs tens of
 * microseconds and formatTime needs up to four (a page with a few dates spent most of its own
 * time here); formatting with one is cheap. The PC's own zone (undefined) is not kept: it may change.
 */
const made = new Map<string, Intl.DateTimeFormat>();

function formatter(kind: FormatKind, timeZone: string | undefined): Intl.DateTimeFormat {
  const { locale, options } = FORMATS[kind];
  if (timeZone === undefined) return new Intl.DateTimeFormat(locale, options);
  const key = `${kind} ${timeZone}`;
  let f = made.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { timeZone, ...options });
    if (made.size < 256) made.set(key, f);
  }
  return f;
}

/**
 * Zone names already found, per named zone and quarter hour: since 1972 every zone changes its
 * offset or name only at a quarter hour in UTC (DST, and the rare change of standard time), so a name found for
 * one moment holds for its whole quarter. A page with a few dates asked Intl two or three
 * times per date (13 % of a logged-in page's CPU); now once per zone and quarter.
 */
const QUARTER_HOUR_MS = 900_000;
const names = new Map<string, string>();

/** The zone's short name where one is common (JST, UTC, EDT), else its offset (+01:00). */
function zoneName(d: Date, timeZone: string | undefined): string {
  if (timeZone === undefined) return findZoneName(d, undefined);
  const key = `${timeZone} ${Math.floor(d.getTime() / QUARTER_HOUR_MS)}`;
  let name = names.get(key);
  if (name === undefined) {
    name = findZoneName(d, timeZone);
    if (names.size >= 4096) names.clear();
    names.set(key, name);
  }
  return name;
}

function findZoneName(d: Date, timeZone: string | undefined): string {
  for (const kind of ["short-en", "short-ja"] as const) {
    const name = formatter(kind, timeZone).formatToParts(d).find((p) => p.type === "timeZoneName")?.value;
    if (name !== undefined && /^[A-Z]{2,5}$/.test(name)) return name;
  }
  const offset = formatter("offset", timeZone).formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? "";
  const m = /^GMT([+-]\d{2}:\d{2})$/.exec(offset);
  return m?.[1] ?? "+00:00";
}

/**
 * The one format for a time people read: `2027-11-05 01:58 JST`, the date and
 * time in `timeZone` (the PC's own zone when undefined) followed by that zone. Both `shomei`
 * (the PC's zone) and `shomei-ca` (the configured `timeZone`) print times this way, and so do
 * the service's mails, web pages and error texts (its `timeZone`); `--json` output and JSON
 * APIs keep ISO 8601.
 */
export function formatTime(d: Date, timeZone?: string): string {
  if (timeZone === undefined) return formatTimeNow(d, undefined);
  // The text depends only on the zone and the whole second (zone offsets are whole seconds):
  // a page shows the same few times (its certificates' validity) on every request.
  const key = `${timeZone} ${Math.floor(d.getTime() / 1000)}`;
  let text = formatted.get(key);
  if (text === undefined) {
    text = formatTimeNow(d, timeZone);
    if (formatted.size >= 4096) formatted.clear();
    formatted.set(key, text);
  }
  return text;
}

/** Texts formatTime made, per named zone and second. */
const formatted = new Map<string, string>();

/** formatTime without its cache (what the cache holds; the tests compare the two). */
export function formatTimeNow(d: Date, timeZone?: string): string {
  const parts = formatter("parts", timeZone).formatToParts(d);
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value);
  return `${get("year")}-${pad2(get("month"))}-${pad2(get("day"))} ${pad2(get("hour"))}:${pad2(get("minute"))} ${zoneName(d, timeZone)}`;
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
