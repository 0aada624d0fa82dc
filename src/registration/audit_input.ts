/**
 * What may enter the audit log. Much of an audit event comes from a client that has not proved
 * anything yet (the user ID in a Basic header, the subject a CSR asks for), so every event is
 * bounded before it is written: a user ID that is not one is recorded as `invalid:` and a
 * short hash (searchable, never the attacker's text), free text is capped and its control and
 * bidi characters escaped, and the detail has a bounded number of keys. Pure: the store calls
 * `boundAuditEvent` on every event, the services call `auditUserId` where they know the
 * configured user ID pattern.
 */
import { createHash } from "node:crypto";
import { boundedText, isPlainText } from "../util/untrusted_text.js";
import type { AuditEvent } from "./ports.js";

/** Longest user ID kept as it is (the column the console searches by). */
export const AUDIT_USER_ID_MAX = 64;
/** Characters kept of each detail value, actor and event name. */
export const AUDIT_TEXT_MAX = 200;
/** Detail keys kept; the rest are counted under `…`. */
export const AUDIT_DETAIL_KEYS_MAX = 16;
const KEY_MAX = 40;
const ACTOR_MAX = 100;
const EVENT_MAX = 64;

/** Without a pattern, a user ID is plausible when it is printable ASCII without spaces. */
const PLAUSIBLE_USER_ID = /^[\x21-\x7E]+$/;

/** `invalid:` and the first 12 hex digits of the SHA-256 of the text: the same input, the same marker. */
export function invalidUserIdMarker(id: string): string {
  return `invalid:${createHash("sha256").update(id, "utf8").digest("hex").slice(0, 12)}`;
}

/** True for a marker `invalidUserIdMarker` made (it passes through unchanged). */
function isMarker(id: string): boolean {
  return /^invalid:[0-9a-f]{12}$/.test(id);
}

/**
 * The user ID as the audit log records it: as it is when it matches `pattern` (or, without one,
 * is plausible), otherwise the `invalid:` marker.
 */
export function auditUserId(id: string, pattern?: RegExp): string {
  if (isMarker(id)) return id;
  const ok = id.length > 0 && id.length <= AUDIT_USER_ID_MAX && (pattern ? pattern.test(id) : PLAUSIBLE_USER_ID.test(id));
  return ok ? id : invalidUserIdMarker(id);
}

/** `user:ID` actors carry a user ID; other actors (`operator:ID`, `system`) are bounded text. */
function auditActor(actor: string): string {
  if (actor.startsWith("user:")) return `user:${auditUserId(actor.slice(5))}`;
  return isPlainText(actor, ACTOR_MAX) ? actor : boundedText(actor, ACTOR_MAX);
}

type DetailValue = string | number | boolean | null;

/** Detail keys whose value is a user ID someone typed. */
const USER_ID_KEYS = new Set(["userId", "typed"]);

function auditDetail(detail: Readonly<Record<string, DetailValue>>): Record<string, DetailValue> {
  const out: Record<string, DetailValue> = {};
  const entries = Object.entries(detail);
  for (const [k, v] of entries.slice(0, AUDIT_DETAIL_KEYS_MAX)) {
    const key = boundedText(k, KEY_MAX);
    if (typeof v === "string") out[key] = USER_ID_KEYS.has(k) ? auditUserId(v) : boundedText(v, AUDIT_TEXT_MAX);
    else if (typeof v === "number") out[key] = Number.isFinite(v) ? v : String(v);
    else if (typeof v === "boolean" || v === null) out[key] = v;
    else out[key] = boundedText(JSON.stringify(v) ?? String(v), AUDIT_TEXT_MAX);
  }
  if (entries.length > AUDIT_DETAIL_KEYS_MAX) out["…"] = `+${entries.length - AUDIT_DETAIL_KEYS_MAX} keys`;
  return out;
}

/** The event as it may be stored: every text bounded and escaped, user IDs checked. */
export function boundAuditEvent(e: AuditEvent): AuditEvent {
  return {
    at: e.at,
    actor: auditActor(e.actor),
    event: isPlainText(e.event, EVENT_MAX) ? e.event : boundedText(e.event, EVENT_MAX),
    userId: e.userId === null ? null : auditUserId(e.userId),
    outcome: e.outcome === "failure" ? "failure" : "success",
    ...(e.detail ? { detail: auditDetail(e.detail) } : {}),
  };
}
