/** The one time format people read: local date and time with the zone, the same in every command. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDateTime, formatTime } from "./format.js";

const AT = new Date("2027-11-04T16:58:10.000Z");

test("formatTime: the date and time in the zone, followed by the zone's name or offset", () => {
  assert.equal(formatTime(AT, "Asia/Tokyo"), "2027-11-05 01:58 JST");
  assert.equal(formatTime(AT, "UTC"), "2027-11-04 16:58 UTC");
  assert.equal(formatTime(AT, "America/New_York"), "2027-11-04 12:58 EDT");
  // A zone without a common abbreviation in either locale shows its offset.
  assert.equal(formatTime(AT, "Asia/Kolkata"), "2027-11-04 22:28 +05:30");
});

test("formatTime: midnight is 00:00, never 24:00", () => {
  assert.equal(formatTime(new Date("2027-01-01T15:00:00Z"), "Asia/Tokyo"), "2027-01-02 00:00 JST");
});

test("formatDateTime with its formatters made once gives what a formatter made per call gave (both languages, several zones)", () => {
  // The code it replaces, as it was: a new Intl.DateTimeFormat for every date.
  const old = (d: Date, lang: "ja" | "en", timeZone: string): string => {
    if (lang === "ja") {
      const f = new Intl.DateTimeFormat("ja-JP", { timeZone, year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
      return `${f.format(d)}（${timeZone === "Asia/Tokyo" ? "日本時間" : timeZone}）`;
    }
    return new Intl.DateTimeFormat("en-GB", { timeZone, year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short" }).format(d);
  };
  const zones = ["Asia/Tokyo", "UTC", "Europe/London", "America/New_York", "Asia/Kolkata"];
  for (let i = 0; i < 200; i++) {
    const d = new Date(Date.UTC(2020, 0, 1) + i * 7_654_321_987);
    for (const tz of zones) {
      for (const lang of ["ja", "en"] as const) assert.equal(formatDateTime(d, lang, tz), old(d, lang, tz), `${d.toISOString()} ${lang} ${tz}`);
    }
  }
});
