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
