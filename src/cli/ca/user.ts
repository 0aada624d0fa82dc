/** `shomei-ca user add|list|show` and `shomei-ca passcode reissue`. */
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { CA_MESSAGES as M } from "../../i18n/ca_messages.js";
import { formatTime } from "../../i18n/format.js";
import { isLang } from "../../i18n/lang.js";
import type { DeliveryOutcome } from "../../registration/ports.js";
import { openDesk, type DeskServices } from "../../server/services.js";
import { flag, parse, required, str, int } from "../common.js";
import { COMMON_OPTIONS, dataDir, openOptions, operatorActor, out } from "./shared.js";

export const USAGE: Record<Lang, string> = {
  ja: `使い方:
  shomei-ca user add ユーザID --email アドレス --name 氏名 [--org 組織名] [--lang ja|en] [--data フォルダ]
      利用者を登録し、パスコードのメールと初期パスワードのメールを送ります（SMTP 未設定時は outbox フォルダに .eml で保存）。
  shomei-ca user list [--json] [--limit N] [--data フォルダ]
  shomei-ca user show ユーザID [--json] [--data フォルダ]
  shomei-ca passcode reissue ユーザID [--data フォルダ]
      新しいパスコードを発行してメールで送ります。以前のパスコードは使えなくなります。
ユーザID の形式は設定ファイルの userIdPattern（既定: a と 7 桁の数字、例 a0000001）。
例: shomei-ca user add a0000001 --email taro@example.jp --name "山田 太郎" --org "例株式会社"
終了コード: 0 成功、1 対処が必要、2 指定の誤り、3 内部エラー`,
  en: `Usage:
  shomei-ca user add USERID --email ADDR --name NAME [--org ORG] [--lang ja|en] [--data DIR]
      Registers a user and sends the passcode e-mail and the initial-password e-mail (written as .eml
      files to the outbox folder when no SMTP server is configured).
  shomei-ca user list [--json] [--limit N] [--data DIR]
  shomei-ca user show USERID [--json] [--data DIR]
  shomei-ca passcode reissue USERID [--data DIR]
      Issues a new passcode and mails it; the earlier one stops working.
User IDs follow userIdPattern in the config (default: "a" and 7 digits, e.g. a0000001).
Example: shomei-ca user add a0000001 --email taro@example.com --name "Taro Yamada" --lang en
Exit codes: 0 done, 1 you must act, 2 wrong usage, 3 internal error`,
};

const OPTIONS = {
  ...COMMON_OPTIONS,
  email: { type: "string" },
  name: { type: "string" },
  org: { type: "string" },
  json: { type: "boolean" },
  limit: { type: "string" },
} as const;

async function withDesk<T>(dir: string, p: ReturnType<typeof parse>, fn: (d: DeskServices) => Promise<T>): Promise<T> {
  const desk = await openDesk(dir, openOptions(p));
  try {
    return await fn(desk);
  } finally {
    await desk.close();
  }
}

/** Where a mail went, or that it is queued and why (the user is registered either way). */
function mailLine(m: DeliveryOutcome, lang: Lang): string {
  if (m.delivered) return M.mailWritten[lang](m.delivered);
  return (m.status === "failed" ? M.mailRefused : M.mailQueued)[lang](m.kind, m.error ?? "-");
}

/** "npx " when run through npm (npm start), where the commands are not on PATH. */
function npxPrefix(): string {
  return process.env.npm_lifecycle_event ? "npx " : "";
}

function positionalUser(p: ReturnType<typeof parse>, index: number): string {
  const id = p.positionals[index];
  if (!id) throw new ShomeiError("INPUT_REQUIRED", { what: "USERID" });
  return id;
}

export async function run(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS, true);
  const sub = p.positionals[0];
  if (flag(p, "help") || !sub) return (out(USAGE[lang]), flag(p, "help") ? 0 : 2);
  return withDesk(dataDir(p), p, async (d) => {
    const tz = d.config.timeZone;
    switch (sub) {
      case "add": {
        const userLang = str(p, "lang") ?? "ja";
        if (!isLang(userLang)) throw new ShomeiError("FIELD_INVALID", { field: "--lang", reason: userLang });
        const org = str(p, "org");
        const r = await d.registration.addUser({
          userId: positionalUser(p, 1), email: required(p, "email"), name: required(p, "name"),
          ...(org ? { organization: org } : {}), lang: userLang,
        }, operatorActor());
        out(M.userAdded[lang](r.user.userId, formatTime(r.passcodeExpiresAt, tz), formatTime(r.passwordExpiresAt, tz)));
        for (const m of r.mails) out(mailLine(m, lang));
        if (r.mails.some((m) => m.delivered?.endsWith(".eml"))) out(M.mailShowHint[lang](r.user.userId, d.dir.root, npxPrefix()));
        return 0;
      }
      case "list": {
        const users = await d.store.listUsers({ limit: int(p, "limit", 1000) });
        if (flag(p, "json")) return (out(JSON.stringify(users.map(({ passwordHash: _h, ...u }) => u), null, 2)), 0);
        if (users.length === 0) return (out(M.noUsers[lang]()), 0);
        out(["USERID", "STATUS", "ROLE", "EMAIL", "NAME", "ORGANIZATION"].join("\t"));
        for (const u of users) out([u.userId, u.status, u.role, u.email, u.name, u.organization].join("\t"));
        return 0;
      }
      case "show": {
        const id = positionalUser(p, 1);
        const user = await d.store.getUser(id);
        if (!user) throw new ShomeiError("USER_NOT_FOUND", { userId: id });
        const pc = await d.store.getPasscode(id);
        const certs = await d.store.listCertificates(id);
        const { passwordHash: _h, ...shown } = user;
        const passcode = pc ? { status: pc.status, issuedAt: pc.issuedAt, expiresAt: pc.expiresAt, failedAttempts: pc.failedAttempts, usedAt: pc.usedAt } : null;
        const certificates = certs.map((c) => ({ serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter, status: c.status, fingerprint: c.fingerprint }));
        if (flag(p, "json")) return (out(JSON.stringify({ ...shown, passcode, certificates }, null, 2)), 0);
        const f = (x: Date | null | undefined): string => (x ? formatTime(x, tz) : "-");
        out(`${lang === "ja" ? "ユーザID" : "User ID"}: ${user.userId}`);
        out(`${lang === "ja" ? "氏名" : "Name"}: ${user.name}`);
        out(`${lang === "ja" ? "メール" : "E-mail"}: ${user.email}`);
        out(`${lang === "ja" ? "組織" : "Organisation"}: ${user.organization}`);
        out(`${lang === "ja" ? "状態" : "Status"}: ${user.status} / ${user.role} / ${user.lang}`);
        out(`${lang === "ja" ? "パスワード有効期限" : "Password expires"}: ${f(user.passwordExpiresAt)}${user.passwordInitial ? (lang === "ja" ? "（初期パスワード）" : " (initial password)") : ""}`);
        out(`${lang === "ja" ? "パスコード" : "Passcode"}: ${pc ? `${pc.status}, ${lang === "ja" ? "有効期限" : "expires"} ${f(pc.expiresAt)}, ${lang === "ja" ? "失敗回数" : "failed tries"} ${pc.failedAttempts}` : "-"}`);
        out(`${lang === "ja" ? "証明書" : "Certificates"}: ${certs.length}`);
        for (const c of certs) out(`  ${c.serial}  ${c.status}  ${f(c.notBefore)} – ${f(c.notAfter)}`);
        return 0;
      }
      default:
        throw new ShomeiError("USAGE", { reason: `user ${sub}` });
    }
  });
}

export async function runPasscode(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS, true);
  if (flag(p, "help")) return (out(USAGE[lang]), 0);
  if (p.positionals[0] !== "reissue") throw new ShomeiError("USAGE", { reason: `passcode ${p.positionals[0] ?? ""}`.trim() });
  const id = positionalUser(p, 1);
  return withDesk(dataDir(p), p, async (d) => {
    const r = await d.registration.reissuePasscode(id, operatorActor());
    out(M.passcodeReissued[lang](id, formatTime(r.expiresAt, d.config.timeZone)));
    out(mailLine(r.mail, lang));
    if (r.mail.delivered?.endsWith(".eml")) out(M.mailShowHint[lang](id, d.dir.root, npxPrefix()));
    return 0;
  });
}
