/**
 * `shomei prune`: removes old certificates (superseded, expired) of the same user ID, never
 * the current one; shows what and why, then asks (or --yes).
 * Usage, examples and exit codes: usage.prune in src/i18n/client_messages.ts.
 */
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { openCertificateStore } from "../../client/open_store.js";
import { describeCertificates, type CertificateRow } from "../../client/listing.js";
import { executePrune, planPrune } from "../../client/prune.js";
import { isYes } from "../../client/root_trust.js";
import { flag, parse, str, type Options } from "../common.js";
import { checkArgs, optionalUserId } from "./args.js";
import { askLine } from "./terminal.js";
import { formatLocalDateTime } from "./format.js";

const OPTIONS = {
  user: { type: "string" },
  store: { type: "string" },
  yes: { type: "boolean", short: "y" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
} satisfies Options;

function out(text: string): void {
  process.stdout.write(text + "\n");
}

function keepLine(lang: Lang, r: CertificateRow): string {
  return msg(lang, "prune.keep", { userId: r.userId, serial: r.serial, notAfter: formatLocalDateTime(r.notAfter) });
}

/** Runs `shomei prune`; returns the exit code. */
export async function pruneCommand(args: readonly string[], lang: Lang, now: Date = new Date()): Promise<number> {
  const p = parse(args, OPTIONS);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.prune"));
    return 0;
  }
  checkArgs(p, lang);
  const userId = optionalUserId(p);

  const store = openCertificateStore(str(p, "store"));
  const stored = await store.listCertificates();
  const rows = describeCertificates(stored, now);
  out(msg(lang, "list.store", { store: store.location }));
  if (!rows.some((r) => userId === undefined || r.userId === userId)) {
    out(userId === undefined ? msg(lang, "list.empty", { store: store.location }) : msg(lang, "list.emptyUser", { store: store.location, userId }));
    return 0;
  }
  const plan = planPrune(rows, userId === undefined ? {} : { userId });
  for (const k of plan.keptWithoutCurrent) out(msg(lang, "prune.keptNoValid", { userId: k.userId, count: k.rows.length }));
  if (plan.remove.length === 0) {
    out(msg(lang, "prune.nothing"));
    for (const r of plan.current) out(keepLine(lang, r));
    return 0;
  }

  out(msg(lang, "prune.header"));
  for (const item of plan.remove) {
    out(msg(lang, "prune.item", {
      userId: item.row.userId, serial: item.row.serial, notAfter: formatLocalDateTime(item.row.notAfter), reason: msg(lang, `prune.reason.${item.reason}`),
    }));
  }
  for (const r of plan.current) out(keepLine(lang, r));

  if (!flag(p, "yes")) {
    if (!process.stdin.isTTY) throw new ShomeiError("CONFIRMATION_REQUIRED", { action: msg(lang, "prune.action") });
    if (!isYes(await askLine(msg(lang, "prune.confirm", { count: plan.remove.length })))) throw new ShomeiError("CANCELLED");
  }
  await executePrune(store, stored, plan, (item) => out(msg(lang, "prune.removed", { userId: item.row.userId, serial: item.row.serial })));
  out(msg(lang, "prune.done", { count: plan.remove.length }));
  return 0;
}
