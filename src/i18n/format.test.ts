/** The one time format people read: local date and time with the zone, the same in every command. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTime, formatTimeNow } from "./format.js";

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

test("formatTime: the zone name kept per quarter hour changes exactly at DST, whatever was asked before", () => {
  // New York: EST until 2026-03-08 07:00 UTC, EDT from then until 2026-11-01 06:00 UTC.
  const at = (iso: string): string => formatTime(new Date(iso), "America/New_York");
  for (let round = 0; round < 2; round++) {
    assert.equal(at("2026-03-08T06:50:00Z"), "2026-03-08 01:50 EST");
    assert.equal(at("2026-03-08T06:59:59Z"), "2026-03-08 01:59 EST");
    assert.equal(at("2026-03-08T07:00:00Z"), "2026-03-08 03:00 EDT");
    assert.equal(at("2026-11-01T05:59:00Z"), "2026-11-01 01:59 EDT");
    assert.equal(at("2026-11-01T06:00:00Z"), "2026-11-01 01:00 EST");
  }
  // Lord Howe Island moves by half an hour, at 15:00 UTC (+11:00 -> +10:30) in 2026.
  assert.equal(formatTime(new Date("2026-04-04T14:59:00Z"), "Australia/Lord_Howe"), "2026-04-05 01:59 +11:00");
  assert.equal(formatTime(new Date("2026-04-04T15:00:00Z"), "Australia/Lord_Howe"), "2026-04-05 01:30 +10:30");
});

test("formatTime kept per zone and second gives what formatting each time gives (milliseconds, DST edges, asked twice)", () => {
  const zones = ["Asia/Tokyo", "UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Asia/Kathmandu"];
  const moments: Date[] = [];
  for (let i = 0; i < 200; i++) moments.push(new Date(Date.UTC(2021, 0, 1) + i * 3_456_789_123 + (i % 1000)));
  // Around New York's and Lord Howe's changes, to the millisecond.
  for (const edge of ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z", "2026-04-04T15:00:00Z"]) {
    for (const ms of [-60_001, -1001, -1, 0, 1, 999, 1000, 59_999]) moments.push(new Date(Date.parse(edge) + ms));
  }
  for (let round = 0; round < 2; round++) {
    for (const d of moments) for (const tz of zones) assert.equal(formatTime(d, tz), formatTimeNow(d, tz), `${d.toISOString()} ${tz}`);
  }
  assert.throws(() => formatTime(new Date(Number.NaN), "Asia/Tokyo"), RangeError);
});
