/** The one time format people read: local date and time with the zone, the same in every command. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTime } from "./format.js";

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

test("formatTime with its formatters made once gives what formatters made per call gave (named zones and the PC's own)", () => {
  // The code it replaces, as it was: new Intl.DateTimeFormat objects for every time shown.
  const zoneName = (d: Date, timeZone: string | undefined): string => {
    for (const locale of ["en-US", "ja-JP"]) {
      const name = new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value;
      if (name !== undefined && /^[A-Z]{2,5}$/.test(name)) return name;
    }
    const offset = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? "";
    return /^GMT([+-]\d{2}:\d{2})$/.exec(offset)?.[1] ?? "+00:00";
  };
  const old = (d: Date, timeZone?: string): string => {
    const parts = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(d);
    const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value);
    const pad2 = (n: number): string => String(n).padStart(2, "0");
    return `${get("year")}-${pad2(get("month"))}-${pad2(get("day"))} ${pad2(get("hour"))}:${pad2(get("minute"))} ${zoneName(d, timeZone)}`;
  };
  const zones = [undefined, "Asia/Tokyo", "UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Europe/Berlin"];
  for (let i = 0; i < 300; i++) {
    const d = new Date(Date.UTC(2020, 0, 1) + i * 7_654_321_987);
    for (const tz of zones) assert.equal(formatTime(d, tz), old(d, tz), `${d.toISOString()} ${tz ?? "(PC)"}`);
  }
});
