/** `shomei-ca init`: create a CA in a data folder. */
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { CA_MESSAGES as M } from "../../i18n/ca_messages.js";
import { isKeyKind } from "../../pki/keys.js";
import { DEFAULT_OPERATOR, initCa, registerFirstOperator, type InitResult } from "../../server/init.js";
import { flag, int, parse, required, str } from "../common.js";
import { COMMON_OPTIONS, dataDir, operatorActor, out } from "./shared.js";

export const USAGE: Record<Lang, string> = {
  ja: `使い方: shomei-ca init --org 組織名 --hostname ホスト名[,ホスト名…] [--data フォルダ] [オプション]

データフォルダに設定ファイル、データベース、ルート CA と発行 CA、サービスの TLS 証明書を作成します。
既に認証局があるフォルダは上書きしません。

オプション:
  --org NAME                    証明書に入る組織名 (O)
  --hostname NAME[,NAME…]       サービスのホスト名・IP アドレス（TLS 証明書に入ります）
  --data DIR                    データフォルダ（既定: $SHOMEI_DATA または ~/.local/share/shomei-ca）
  --port N                      利用者に案内するポート（既定: 8443）
  --db URL                      sqlite:ファイル（既定）または postgres://…[?schema=名前]
  --key ec-p256|ec-p384|rsa-2048|rsa-3072   CA の鍵（既定: ec-p256）
  --helpdesk TEXT               問い合わせ先（メールとエラー表示に使います）
  --client-validity-days N      クライアント証明書の有効日数（既定: 365）
  --renew-window-days N         有効期限の何日前から更新できるか（既定: 30）
  --portal-port N               オンラインシステム（ポータル）のポート（既定: 8444）
  --operator ID                 最初の運用担当者のユーザID（既定: a0000000）
  --operator-email ADDR         運用担当者のメールアドレス（パスコードと初期パスワードが届きます）
  --operator-name NAME          運用担当者の氏名（既定: 運用担当者）

運用担当者も利用者と同じく shomei enroll で証明書を取得し、ポータルにログインして運用コンソールを使います。

例: shomei-ca init --data /srv/shomei --org "例株式会社" --hostname ca.example.jp
終了コード: 0 成功、1 対処が必要、2 指定の誤り、3 内部エラー`,
  en: `Usage: shomei-ca init --org NAME --hostname NAME[,NAME…] [--data DIR] [options]

Creates, in the data folder, the configuration, database, root and issuing CA, and the
service's TLS certificate. A folder that already holds a CA is never overwritten.

Options:
  --org NAME                    organisation name (O) in certificates
  --hostname NAME[,NAME…]       the service's host names / IP addresses (in its TLS certificate)
  --data DIR                    data folder (default: $SHOMEI_DATA or ~/.local/share/shomei-ca)
  --port N                      port users are told to use (default: 8443)
  --db URL                      sqlite:FILE (default) or postgres://…[?schema=NAME]
  --key ec-p256|ec-p384|rsa-2048|rsa-3072   CA key (default: ec-p256)
  --helpdesk TEXT               helpdesk contact (shown in e-mails and errors)
  --client-validity-days N      client certificate validity in days (default: 365)
  --renew-window-days N         renewal opens this many days before expiry (default: 30)
  --portal-port N               port of the online system (portal) (default: 8444)
  --operator ID                 user ID of the first operator (default: a0000000)
  --operator-email ADDR         the operator's e-mail (the passcode and initial password go there)
  --operator-name NAME          the operator's name (default: Operator)

The operator gets a certificate with shomei enroll like any user, then logs in to the portal's console.

Example: shomei-ca init --data /srv/shomei --org "Example Corp" --hostname ca.example.com
Exit codes: 0 done, 1 you must act, 2 wrong usage, 3 internal error`,
};

const OPTIONS = {
  ...COMMON_OPTIONS,
  org: { type: "string" },
  hostname: { type: "string" },
  port: { type: "string" },
  key: { type: "string" },
  helpdesk: { type: "string" },
  "client-validity-days": { type: "string" },
  "renew-window-days": { type: "string" },
  "portal-port": { type: "string" },
  operator: { type: "string" },
  "operator-email": { type: "string" },
  "operator-name": { type: "string" },
} as const;

/** Runs init from parsed arguments and prints the result; shared with `start`. */
export async function initFromArgs(args: readonly string[], lang: Lang, defaults: { org?: string; hostnames?: string[] } = {}): Promise<InitResult> {
  const p = parse(args, OPTIONS, false);
  const org = str(p, "org") ?? defaults.org;
  if (!org) required(p, "org");
  const hostArg = str(p, "hostname");
  const hostnames = hostArg ? hostArg.split(",").map((h) => h.trim()).filter(Boolean) : defaults.hostnames;
  if (!hostnames || hostnames.length === 0) throw new ShomeiError("INPUT_REQUIRED", { what: "--hostname" });
  const key = str(p, "key") ?? "ec-p256";
  if (!isKeyKind(key)) throw new ShomeiError("FIELD_INVALID", { field: "--key", reason: key });
  const db = str(p, "db");
  const helpdesk = str(p, "helpdesk");
  const r = await initCa({
    dir: dataDir(p), organization: org ?? "", hostnames, port: int(p, "port", 8443), keyKind: key,
    ...(str(p, "portal-port") ? { portalPort: int(p, "portal-port", 8444) } : {}),
    clientValidityDays: int(p, "client-validity-days", 365), renewWindowDays: int(p, "renew-window-days", 30),
    ...(db ? { database: db } : {}), ...(helpdesk ? { helpdesk } : {}),
    now: new Date(), actor: operatorActor(),
  });
  out(M.initDone[lang](r.dir.root));
  out(`Root CA fingerprint (SHA-256): ${r.rootFingerprint}`);
  if (r.passphraseInFile) out(M.passphraseInFile[lang](r.dir.passphraseFile));
  const op = await registerFirstOperator(r.dir.root, {
    userId: str(p, "operator") ?? DEFAULT_OPERATOR.userId,
    email: str(p, "operator-email") ?? DEFAULT_OPERATOR.email,
    name: str(p, "operator-name") ?? (lang === "ja" ? "運用担当者" : "Operator"),
    lang,
  }, operatorActor());
  out(M.operatorCreated[lang](op.user.userId, op.delivered));
  if (op.delivered.some((f) => f.endsWith(".eml"))) out(M.mailShowHint[lang](op.user.userId, r.dir.root, process.env.npm_lifecycle_event ? "npx " : ""));
  out(M.operatorNext[lang](r.config.publicUrl, op.user.userId, r.rootFingerprint, process.env.npm_lifecycle_event ? "npx " : ""));
  return r;
}

export async function run(args: string[], lang: Lang): Promise<number> {
  if (flag(parse(args, OPTIONS, false), "help")) return (out(USAGE[lang]), 0);
  const r = await initFromArgs(args, lang);
  out(M.nextAfterInit[lang](r.dir.root));
  return 0;
}
