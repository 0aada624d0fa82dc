/** `shomei-ca cert list|revoke`: the operator's view of issued certificates, and revocation. */
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { formatTime } from "../../i18n/format.js";
import { REVOCATION_REASONS } from "../../portal/ports.js";
import { revokeCertificate } from "../../portal/revocation.js";
import { openDesk } from "../../server/services.js";
import { flag, int, parse, required, str } from "../common.js";
import { COMMON_OPTIONS, dataDir, openOptions, operatorActor, out } from "./shared.js";

export const USAGE: Record<Lang, string> = {
  ja: `使い方:
  shomei-ca cert list [--user ユーザID] [--json] [--limit N] [--data フォルダ]
      発行した証明書（シリアル番号、ユーザID、有効期間、状態、失効理由）を新しい順に表示します。
  shomei-ca cert revoke シリアル番号 --reason 理由 [--data フォルダ]
      証明書を失効させます。オンラインシステム（ポータル）と更新はすぐに拒否します。
      シリアル番号は 16 進数（コロンの有無、大文字小文字は問いません）。
      理由（RFC 5280）: ${REVOCATION_REASONS.join(", ")}
例: shomei-ca cert revoke 7B:62:BA:D7:B9:5C:35:FC --reason keyCompromise
終了コード: 0 成功、1 対処が必要、2 指定の誤り、3 内部エラー`,
  en: `Usage:
  shomei-ca cert list [--user ID] [--json] [--limit N] [--data DIR]
      Lists issued certificates (serial, user ID, validity, status, revocation reason), newest first.
  shomei-ca cert revoke SERIAL --reason REASON [--data DIR]
      Revokes a certificate; the online system (portal) and renewal refuse it at once.
      SERIAL in hexadecimal, with or without colons, any case.
      REASON (RFC 5280): ${REVOCATION_REASONS.join(", ")}
Example: shomei-ca cert revoke 7B:62:BA:D7:B9:5C:35:FC --reason keyCompromise
Exit codes: 0 done, 1 you must act, 2 wrong usage, 3 internal error`,
};

const OPTIONS = { ...COMMON_OPTIONS, user: { type: "string" }, reason: { type: "string" }, json: { type: "boolean" }, limit: { type: "string" } } as const;

export async function run(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS, true);
  const sub = p.positionals[0];
  if (flag(p, "help") || !sub) return (out(USAGE[lang]), flag(p, "help") ? 0 : 2);
  if (sub !== "list" && sub !== "revoke") throw new ShomeiError("USAGE", { reason: `cert ${sub}` });
  const desk = await openDesk(dataDir(p), openOptions(p));
  try {
    const tz = desk.config.timeZone;
    const when = (d: Date | null | undefined): string => (d ? formatTime(d, tz) : "-");
    if (sub === "revoke") {
      const serial = p.positionals[1];
      if (!serial) throw new ShomeiError("INPUT_REQUIRED", { what: "SERIAL" });
      const c = await revokeCertificate(desk.store, operatorActor(), serial, required(p, "reason"), new Date());
      out(lang === "ja"
        ? `証明書 ${c.serial}（ユーザID ${c.userId ?? "-"}）を失効させました（理由: ${c.revocationReason ?? "-"}、${when(c.revokedAt)}）。`
        : `Revoked certificate ${c.serial} (user ID ${c.userId ?? "-"}), reason ${c.revocationReason ?? "-"}, at ${when(c.revokedAt)}.`);
      return 0;
    }
    const user = str(p, "user");
    const certs = await desk.store.listAllCertificates({ ...(user ? { userId: user } : {}), limit: int(p, "limit", 1000) });
    if (flag(p, "json")) {
      out(JSON.stringify(certs.map((c) => ({
        serial: c.serial, userId: c.userId, kind: c.kind, subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter,
        status: c.status, revokedAt: c.revokedAt ?? null, revocationReason: c.revocationReason ?? null, fingerprint: c.fingerprint,
      })), null, 2));
      return 0;
    }
    out(["SERIAL", "USERID", "NOT_AFTER", "STATUS", "REASON"].join("\t"));
    for (const c of certs) out([c.serial, c.userId ?? `(${c.kind})`, when(c.notAfter), c.status, c.revocationReason ?? ""].join("\t"));
    return 0;
  } finally {
    await desk.close();
  }
}
