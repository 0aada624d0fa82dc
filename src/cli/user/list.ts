/**
 * `shomei list`: the certificates in the store, with status (valid, expiring, superseded,
 * expired) and the current one marked.
 * Usage, examples and exit codes: usage.list in src/i18n/client_messages.ts.
 */
import type { Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { openCertificateStore } from "../../client/open_store.js";
import { describeCertificates, EXPIRING_DAYS, type CertificateRow } from "../../client/listing.js";
import { planPrune } from "../../client/prune.js";
import { flag, parse, str, type Options } from "../common.js";
import { checkArgs, optionalUserId } from "./args.js";
import { formatLocalDateTime, table } from "./format.js";
import { checkRevocation, type RevocationAnswer } from "../../client/revocation_check.js";
import { isShomeiError } from "../../i18n/errors.js";

const OPTIONS = {
  user: { type: "string" },
  store: { type: "string" },
  json: { type: "boolean" },
  "check-revocation": { type: "boolean" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
} satisfies Options;

/** The JSON form of the OCSP answer (with --check-revocation). */
function answerToJson(a: RevocationAnswer | undefined): Record<string, unknown> | null {
  if (!a) return null;
  if (a.status === "not-checked") return { status: "not-checked", why: a.why };
  return { status: a.status, ...(a.revokedAt ? { revokedAt: a.revokedAt.toISOString() } : {}), ...(a.reason ? { reason: a.reason } : {}) };
}

/** The JSON form of one row (dates in ISO 8601). */
export function rowToJson(r: CertificateRow, answer?: RevocationAnswer): Record<string, unknown> {
  return {
    userId: r.userId, serial: r.serial, subject: r.subject, issuer: r.issuer,
    notBefore: r.notBefore.toISOString(), notAfter: r.notAfter.toISOString(), daysLeft: r.daysLeft,
    status: r.status, current: r.current, fingerprint: r.fingerprint, server: r.server ?? null,
    certPath: r.certPath, keyPath: r.keyPath, chainPath: r.chainPath,
    ...(answer !== undefined ? { revocation: answerToJson(answer) } : {}),
  };
}

/** Runs `shomei list`; returns the exit code. */
export async function listCommand(args: readonly string[], lang: Lang, now: Date = new Date()): Promise<number> {
  const p = parse(args, OPTIONS);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.list", { expiringDays: EXPIRING_DAYS }));
    return 0;
  }
  checkArgs(p, lang);

  const userId = optionalUserId(p);

  const store = openCertificateStore(str(p, "store"));
  const stored = (await store.listCertificates()).filter((c) => userId === undefined || c.userId === userId);
  // Only the CA knows a revocation: asked (OCSP) when the user wants it, never behind their back.
  const report = flag(p, "check-revocation") ? await checkRevocation(store, stored, { now }) : undefined;
  const rows = describeCertificates(stored, now, report ? { revoked: report.revoked } : {});
  const answerOf = (r: CertificateRow): RevocationAnswer | undefined => report?.answers.get(r.fingerprint);
  if (flag(p, "json")) {
    process.stdout.write(JSON.stringify(rows.map((r) => rowToJson(r, report ? answerOf(r) ?? { status: "not-checked", why: "expired" } : undefined)), null, 2) + "\n");
    return 0;
  }
  // Certificates that could not be asked about: said on stderr, the list still shown.
  for (const r of rows) {
    const a = answerOf(r);
    if (a?.status !== "not-checked" || a.why === "expired") continue;
    const reason = a.why === "failed"
      ? (isShomeiError(a.error) ? a.error.text(lang) : a.error instanceof Error ? a.error.message : String(a.error))
      : msg(lang, a.why === "no-issuer" ? "list.revocation.noIssuer" : "list.revocation.noResponder");
    process.stderr.write(msg(lang, "list.revocation.notChecked", { serial: r.serial, reason }) + "\n");
  }
  if (rows.length === 0) {
    const text = userId === undefined ? msg(lang, "list.empty", { store: store.location }) : msg(lang, "list.emptyUser", { store: store.location, userId });
    process.stdout.write(text + "\n");
    return 0;
  }
  const lines = table([
    ["", msg(lang, "list.col.userId"), msg(lang, "list.col.serial"), msg(lang, "list.col.notAfter"), msg(lang, "list.col.daysLeft"), msg(lang, "list.col.status")],
    ...rows.map((r) => [
      r.current ? "*" : "", r.userId, r.serial, formatLocalDateTime(r.notAfter), String(r.daysLeft), msg(lang, `list.status.${r.status}`),
    ]),
  ]);
  const old = planPrune(rows).remove.length;
  const hint = old > 0 ? [msg(lang, "list.pruneHint", { count: old })] : [];
  // A certificate imported without --server: renewal will have to ask where to go.
  for (const r of rows) if (r.current && r.server === undefined) hint.push(msg(lang, "list.serverUnknown", { userId: r.userId }));
  process.stdout.write([msg(lang, "list.store", { store: store.location }), "", ...lines, "", msg(lang, "list.legend"), ...hint].join("\n") + "\n");
  return 0;
}
