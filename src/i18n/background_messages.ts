/**
 * What `serve`'s background work (CRL publisher, OCSP responder and pre-signer, the status change
 * watch, a worker reading stored CRLs, the mail worker) tells the operator on stderr: one line per
 * event with a stable code, the message in the operator's language and what to do. None of these
 * stops the service; each line says what it does meanwhile.
 *
 * The language is `--lang` of `serve` (handed to its workers in SHOMEI_LOG_LANG), else the locale.
 */
import { REMEDY_LABEL, type CodedTexts, type Lang } from "./errors.js";
import { isLang, langFromEnv } from "./lang.js";

interface BackgroundMessage extends CodedTexts {
  /** "error": something failed and is retried or worked around; "notice": a normal event worth a line. */
  readonly level: "error" | "notice";
}

const DB_JA = "繰り返し出る場合は、データベースへの接続とディスクの空きを確認してください。";
const DB_EN = "If it repeats, check the database connection and free disk space.";
const NOTHING_JA = "不要です。";
const NOTHING_EN = "Nothing.";

export const BACKGROUND = {
  CRL_REFRESH_FAILED: {
    level: "error",
    ja: "CRL の更新（署名または読み込み）に失敗しました。",
    en: "Refreshing the CRLs (signing or reading them) failed.",
    remedyJa: `前回の CRL を配信し続け、次の確認（revocation.checkSeconds ごと）でやり直します。${DB_JA}`,
    remedyEn: `The previous CRLs are still served; it is tried again at the next check (every revocation.checkSeconds). ${DB_EN}`,
  },
  CRL_LEASE_RELEASE_FAILED: {
    level: "error",
    ja: "停止時に CRL 署名の担当（リース）を返せませんでした。",
    en: "The CRL signing lease could not be released at stop.",
    remedyJa: "不要です。リースの期限が切れると、同じデータベースを使う別のプロセスが署名を引き継ぎます。",
    remedyEn: "Nothing; when the lease expires, another process on the same database takes over the signing.",
  },
  CRL_HANDOVER_FAILED: {
    level: "error",
    ja: "新しい CRL をワーカーに知らせられませんでした。",
    en: "The workers could not be told about the new CRLs.",
    remedyJa: "ワーカーは前の CRL を配信しています。繰り返し出る場合は shomei-ca serve を再起動してください。",
    remedyEn: "The workers still serve the previous CRLs. If it repeats, restart shomei-ca serve.",
  },
  CRL_LEASE_LOST: {
    level: "notice",
    ja: "CRL 署名の担当（リース）が同じデータベースを使う別のプロセスに移りました。このプロセスは保存された CRL を配信します。",
    en: "The CRL signing lease went to another process on the same database; this process serves the stored CRLs.",
    remedyJa: "複数のインスタンスを動かしているなら正常です。そうでなければ、同じデータベースを使う別の shomei-ca serve が動いていないか確認してください。",
    remedyEn: "Normal when several instances run; otherwise check for another shomei-ca serve on the same database.",
  },
  CRL_LEASE_TAKEN: {
    level: "notice",
    ja: "このプロセスが CRL の署名を担当します。",
    en: "This process now signs the CRLs.",
    remedyJa: NOTHING_JA,
    remedyEn: NOTHING_EN,
  },
  CRL_FOLLOWING: {
    level: "notice",
    ja: "別のプロセスが同時に CRL を署名しました。このプロセスはその CRL に従います。",
    en: "Another process signed a CRL at the same moment; this process follows it.",
    remedyJa: NOTHING_JA,
    remedyEn: NOTHING_EN,
  },
  ARL_UNREADABLE: {
    level: "error",
    ja: "ルート CA の ARL ファイルを読めません。前に読んだ ARL を配信し続けます。",
    en: "The root CA's ARL file cannot be read; the ARL read before is still served.",
    remedyJa: "ルート CA の鍵を用意して shomei-ca ca sign-arl で ARL を作り直してください。",
    remedyEn: "With the root CA key at hand, make the ARL again with: shomei-ca ca sign-arl",
  },
  OCSP_PRESIGN_FAILED: {
    level: "error",
    ja: "OCSP 応答の事前署名に失敗しました。",
    en: "Pre-signing OCSP answers failed.",
    remedyJa: `OCSP には要求のたびに署名して答え続け、次の確認でやり直します。${DB_JA}`,
    remedyEn: `OCSP requests are still answered, signed on demand; it is tried again at the next check. ${DB_EN}`,
  },
  OCSP_PRESIGNED_UNREADABLE: {
    level: "error",
    ja: "事前署名済みの OCSP 応答を読み出せませんでした。",
    en: "A pre-signed OCSP answer could not be read.",
    remedyJa: `その要求にはその場で署名して答えました。${DB_JA}`,
    remedyEn: `That request was answered with an answer signed on demand. ${DB_EN}`,
  },
  OCSP_REQUEST_UNREADABLE: {
    level: "error",
    ja: "OCSP 要求の解析中に想定外のエラーが起きました。",
    en: "An unexpected error occurred while reading an OCSP request.",
    remedyJa: "要求者には internalError を返しました。繰り返し出る場合は、このログを添えて開発元に連絡してください。",
    remedyEn: "The client got internalError. If it repeats, report it to the developers with this log.",
  },
  OCSP_ANSWER_FAILED: {
    level: "error",
    ja: "OCSP 応答を作れませんでした。",
    en: "An OCSP answer could not be made.",
    remedyJa: `要求者には internalError を返しました。${DB_JA}`,
    remedyEn: `The client got internalError. ${DB_EN}`,
  },
  STATUS_NOTIFY_LOST: {
    level: "error",
    ja: "PostgreSQL からの失効の通知（LISTEN）が途切れました。以後は定期確認で失効を見つけます。",
    en: "PostgreSQL's revocation notifications (LISTEN) stopped; revocations are now found by polling.",
    remedyJa: "失効は引き続き 1 秒以内に反映されます。繰り返し出る場合は、データベースへの接続を確認してください。",
    remedyEn: "Revocations still show within a second. If it repeats, check the database connection.",
  },
  STATUS_NOTIFY_UNAVAILABLE: {
    level: "error",
    ja: "PostgreSQL からの失効の通知（LISTEN）を受け取れません。定期確認で失効を見つけます。",
    en: "PostgreSQL's revocation notifications (LISTEN) are not available; revocations are found by polling.",
    remedyJa: "失効は引き続き 1 秒以内に反映されます。データベースへの接続を確認してください。",
    remedyEn: "Revocations still show within a second. Check the database connection.",
  },
  STATUS_CHECK_FAILED: {
    level: "error",
    ja: "失効状態の変更を確認できませんでした（データベースに届きません）。",
    en: "Checking for revocation changes failed (the database cannot be reached).",
    remedyJa: "データベースへの接続を確認してください。つながれば自動で確認を再開します（この行は障害ごとに 1 回だけ出ます）。",
    remedyEn: "Check the database connection; the checks resume by themselves once it answers (this line is written once per outage).",
  },
  STATUS_HANDOVER_FAILED: {
    level: "error",
    ja: "失効状態の変更を CRL と OCSP の更新に伝えられませんでした。",
    en: "A revocation change could not be handed to the CRL and OCSP updates.",
    remedyJa: "次の定期確認（revocation.checkSeconds ごと）で反映されます。繰り返し出る場合は shomei-ca serve を再起動してください。",
    remedyEn: "It shows at the next periodic check (every revocation.checkSeconds). If it repeats, restart shomei-ca serve.",
  },
  WORKER_CRL_READ_FAILED: {
    level: "error",
    ja: "ワーカーが保存された CRL を読めませんでした。",
    en: "A worker could not read the stored CRLs.",
    remedyJa: `ワーカーは前に読んだ CRL を配信し続け、次の CRL の公開で読み直します。${DB_JA}`,
    remedyEn: `The worker still serves the CRLs read before and reads them again at the next publication. ${DB_EN}`,
  },
  MAIL_TICK_FAILED: {
    level: "error",
    ja: "メールの送信処理に失敗しました。",
    en: "Sending the queued mail failed.",
    remedyJa: "送れなかったメールはキューに残り、次の周期で送り直します。設定ファイルの mail（SMTP サーバー、ポート、認証）と接続を確認してください。",
    remedyEn: "Unsent mail stays queued and is tried again at the next round. Check mail in the configuration file (SMTP server, port, credentials) and the connection.",
  },
} as const satisfies Record<string, BackgroundMessage>;

export type BackgroundCode = keyof typeof BACKGROUND;

/** How background work reports: a code and, where there is one, the error or a detail. */
export type BackgroundLog = (code: BackgroundCode, detail?: unknown) => void;

/** The language of background lines: SHOMEI_LOG_LANG (set by serve from --lang), else the locale. */
export function backgroundLang(env: NodeJS.ProcessEnv = process.env): Lang {
  const v = env.SHOMEI_LOG_LANG;
  return isLang(v) ? v : langFromEnv(env);
}

/** One line: `[CODE] message (detail) 対処: remedy`. */
export function backgroundLine(code: BackgroundCode, detail: unknown, lang: Lang): string {
  const m: BackgroundMessage = BACKGROUND[code];
  const d = detail === undefined ? "" : detail instanceof Error ? detail.message : typeof detail === "string" ? detail : JSON.stringify(detail) ?? "";
  const said = lang === "ja" ? m.ja : m.en;
  return `[${code}] ${said}${d ? ` (${d})` : ""} ${REMEDY_LABEL[lang]}: ${lang === "ja" ? m.remedyJa : m.remedyEn}`;
}
