/** Dates as people read them, in the operator's time zone (Asia/Tokyo by default). */
import type { Lang } from "./errors.js";

export function formatDateTime(d: Date, lang: Lang, timeZone: string): string {
  if (lang === "ja") {
    const f = new Intl.DateTimeFormat("ja-JP", { timeZone, year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
    return `${f.format(d)}（${timeZone === "Asia/Tokyo" ? "日本時間" : timeZone}）`;
  }
  const f = new Intl.DateTimeFormat("en-GB", { timeZone, year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short" });
  return f.format(d);
}
