/**
 * The one error catalog. Every error a user or operator can meet has a stable code here,
 * an HTTP status (used only by the HTTP edges), a Japanese and an English message, and a
 * remedy in both languages. Codes never change once released; the text may.
 *
 * Messages may contain `{name}` placeholders filled from the error's params.
 * docs/troubleshooting.md is generated from this file (`npm run docs:errors`).
 */

export type Lang = "ja" | "en";

export interface CatalogEntry {
  /** HTTP status the HTTP edges answer with. */
  readonly status: number;
  /** Exit code the CLI ends with: 1 = the user must act, 2 = bad invocation, 3 = our bug/environment. */
  readonly exit: 1 | 2 | 3;
  readonly ja: string;
  readonly en: string;
  readonly remedyJa: string;
  readonly remedyEn: string;
}

const ASK_OPERATOR_PASSCODE_JA = "運用担当者（ヘルプデスク）に連絡し、パスコードの再発行を依頼してください。";
const ASK_OPERATOR_PASSCODE_EN = "Contact the operator (helpdesk) and ask for a new passcode.";

export const ERRORS = {
  // ---- input formats -------------------------------------------------------------------
  BAD_BASE64: {
    status: 400, exit: 1,
    ja: "送信されたデータが正しい base64 ではありません。",
    en: "The data sent is not valid base64.",
    remedyJa: "CSR を DER 形式で base64 符号化して送ってください（RFC 7030）。",
    remedyEn: "Send the CSR as base64-encoded DER (RFC 7030).",
  },
  BAD_DER: {
    status: 400, exit: 1,
    ja: "{what} の形式が正しくありません（DER として読めません）。",
    en: "The {what} is malformed (it cannot be read as DER).",
    remedyJa: "ファイルが壊れていないか、種類が正しいかを確認してください。",
    remedyEn: "Check that the file is complete and of the right kind.",
  },
  BAD_PEM: {
    status: 400, exit: 1,
    ja: "PEM 形式のデータに「{label}」が見つかりません。",
    en: "No \"{label}\" block was found in the PEM data.",
    remedyJa: "-----BEGIN {label}----- で始まるファイルを指定してください。",
    remedyEn: "Give a file that contains -----BEGIN {label}-----.",
  },
  CSR_SIGNATURE_INVALID: {
    status: 400, exit: 1,
    ja: "CSR の署名を検証できません（鍵の所持が確認できません）。",
    en: "The CSR's signature does not verify (proof of possession failed).",
    remedyJa: "証明書発行アプリケーションで作り直してください。自作の場合は CSR を同じ鍵で署名してください。",
    remedyEn: "Create the request again with the issuance application, or sign the CSR with its own key.",
  },
  KEY_TOO_SMALL: {
    status: 400, exit: 1,
    ja: "RSA 鍵が短すぎます（{bits} ビット）。2048 ビット以上が必要です。",
    en: "The RSA key is too short ({bits} bits); at least 2048 bits are required.",
    remedyJa: "ECDSA P-256（推奨）または RSA 2048/3072 ビットの鍵で作り直してください。",
    remedyEn: "Create a new key: ECDSA P-256 (recommended) or RSA 2048/3072.",
  },
  KEY_UNSUPPORTED: {
    status: 400, exit: 1,
    ja: "この鍵の種類には対応していません（{kind}）。",
    en: "This kind of key is not supported ({kind}).",
    remedyJa: "ECDSA P-256（推奨）、P-384、または RSA 2048/3072 ビットの鍵を使ってください。",
    remedyEn: "Use ECDSA P-256 (recommended), P-384, or RSA 2048/3072.",
  },
  SIGNATURE_ALGORITHM_UNSUPPORTED: {
    status: 400, exit: 1,
    ja: "この署名アルゴリズムには対応していません（{oid}）。",
    en: "This signature algorithm is not supported ({oid}).",
    remedyJa: "SHA-256 以上の ECDSA または RSA PKCS#1 v1.5 署名を使ってください。",
    remedyEn: "Sign with ECDSA or RSA PKCS#1 v1.5 using SHA-256 or stronger.",
  },
  BODY_TOO_LARGE: {
    status: 413, exit: 1,
    ja: "送信されたデータが大きすぎます（上限 {limit} バイト）。",
    en: "The request body is too large (limit {limit} bytes).",
    remedyJa: "CSR だけを送ってください。",
    remedyEn: "Send only the CSR.",
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415, exit: 1,
    ja: "Content-Type「{type}」には対応していません。",
    en: "Content-Type \"{type}\" is not supported.",
    remedyJa: "Content-Type: application/pkcs10 で送ってください。",
    remedyEn: "Send with Content-Type: application/pkcs10.",
  },

  // ---- enrollment ------------------------------------------------------------------------
  PASSCODE_REJECTED: {
    status: 401, exit: 1,
    ja: "ユーザID またはパスコードが正しくないか、パスコードが有効期限切れ・使用済み・無効です。",
    en: "The user ID or passcode is wrong, or the passcode has expired, been used, or been voided.",
    remedyJa: "メールのユーザID とパスコードを確認してもう一度入力してください。それでも失敗する場合は" + ASK_OPERATOR_PASSCODE_JA,
    remedyEn: "Check the user ID and passcode from the e-mail and try again. If it still fails: " + ASK_OPERATOR_PASSCODE_EN,
  },
  AUTH_REQUIRED: {
    status: 401, exit: 1,
    ja: "認証情報（ユーザID とパスコード）がありません。",
    en: "No credentials (user ID and passcode) were sent.",
    remedyJa: "HTTP Basic 認証でユーザID とパスコードを送ってください。",
    remedyEn: "Send the user ID and passcode with HTTP Basic authentication.",
  },
  TOO_MANY_ATTEMPTS: {
    status: 429, exit: 1,
    ja: "失敗が続いたため、この接続元からの受付を一時的に止めています。",
    en: "Too many failed attempts from this address: requests are paused for a while.",
    remedyJa: "{minutes} 分ほど待ってから、メールのユーザID とパスコードを確かめてやり直してください。",
    remedyEn: "Wait about {minutes} min., check the user ID and passcode from the e-mail, and try again.",
  },
  USER_SUSPENDED: {
    status: 403, exit: 1,
    ja: "このユーザID は利用停止中です。",
    en: "This user ID is suspended.",
    remedyJa: "運用担当者（ヘルプデスク）に連絡してください。",
    remedyEn: "Contact the operator (helpdesk).",
  },

  // ---- registration (operator) -----------------------------------------------------------
  USER_ID_INVALID: {
    status: 400, exit: 2,
    ja: "ユーザID「{userId}」は形式に合いません（形式: {pattern}）。",
    en: "User ID \"{userId}\" does not match the required pattern ({pattern}).",
    remedyJa: "例: a0000001 のように、設定された形式で指定してください。",
    remedyEn: "Give a user ID in the configured pattern, e.g. a0000001.",
  },
  USER_EXISTS: {
    status: 409, exit: 1,
    ja: "ユーザID「{userId}」は既に登録されています。",
    en: "User ID \"{userId}\" is already registered.",
    remedyJa: "別のユーザID を指定するか、shomei-ca user show {userId} で内容を確認してください。",
    remedyEn: "Choose another user ID, or look at it with: shomei-ca user show {userId}",
  },
  USER_NOT_FOUND: {
    status: 404, exit: 1,
    ja: "ユーザID「{userId}」は登録されていません。",
    en: "User ID \"{userId}\" is not registered.",
    remedyJa: "shomei-ca user list で登録済みのユーザID を確認してください。",
    remedyEn: "List the registered user IDs with: shomei-ca user list",
  },
  EMAIL_INVALID: {
    status: 400, exit: 2,
    ja: "メールアドレス「{email}」の形式が正しくありません。",
    en: "The e-mail address \"{email}\" is not valid.",
    remedyJa: "name@example.jp の形式で指定してください。",
    remedyEn: "Give an address such as name@example.com.",
  },
  FIELD_INVALID: {
    status: 400, exit: 2,
    ja: "{field} の値が正しくありません: {reason}",
    en: "The value of {field} is not valid: {reason}",
    remedyJa: "値を確認して、もう一度実行してください。",
    remedyEn: "Check the value and run the command again.",
  },
  MAIL_FAILED: {
    status: 500, exit: 3,
    ja: "メールを送れませんでした: {reason}",
    en: "The e-mail could not be sent: {reason}",
    remedyJa: "メール設定（送信先フォルダまたは SMTP）を確認し、shomei-ca passcode reissue で再送してください。",
    remedyEn: "Check the mail settings (outbox folder or SMTP), then send again with: shomei-ca passcode reissue",
  },

  // ---- CA set-up and service -------------------------------------------------------------
  CA_EXISTS: {
    status: 409, exit: 1,
    ja: "フォルダ {dir} には既に認証局があります。上書きはしません。",
    en: "There is already a CA in {dir}; it will not be overwritten.",
    remedyJa: "既存の認証局を使う場合は shomei-ca serve --data {dir} を実行してください。新しく作る場合は別のフォルダを指定してください。",
    remedyEn: "To use it, run: shomei-ca serve --data {dir}. To create a new CA, give another folder.",
  },
  CA_INCOMPLETE: {
    status: 500, exit: 1,
    ja: "フォルダ {dir} の認証局は作成途中で中断されています（設定ファイルがありません）。",
    en: "The CA in {dir} is incomplete: creating it was interrupted (there is no configuration file).",
    remedyJa: "このフォルダを別名に移すか削除してから、shomei-ca init をやり直してください。",
    remedyEn: "Move this folder aside or delete it, then run shomei-ca init again.",
  },
  CA_NOT_INITIALISED: {
    status: 500, exit: 1,
    ja: "フォルダ {dir} に認証局がありません。",
    en: "There is no CA in {dir}.",
    remedyJa: "shomei-ca init --data {dir} --org 組織名 --hostname ホスト名 で作成してください。",
    remedyEn: "Create one with: shomei-ca init --data {dir} --org NAME --hostname HOST",
  },
  CONFIG_INVALID: {
    status: 500, exit: 1,
    ja: "設定ファイル {file} が正しくありません: {reason}",
    en: "The configuration file {file} is not valid: {reason}",
    remedyJa: "設定ファイルを修正してから、もう一度実行してください。",
    remedyEn: "Correct the configuration file and run the command again.",
  },
  CA_KEY_LOCKED: {
    status: 500, exit: 1,
    ja: "認証局の秘密鍵を読み出せません（パスフレーズが違うか、ファイルが壊れています）。",
    en: "The CA private key cannot be opened (wrong passphrase, or the file is damaged).",
    remedyJa: "環境変数 SHOMEI_CA_PASSPHRASE、または secrets フォルダのパスフレーズファイルを確認してください。",
    remedyEn: "Check SHOMEI_CA_PASSPHRASE or the passphrase file in the secrets folder.",
  },
  DB_UNAVAILABLE: {
    status: 503, exit: 3,
    ja: "データベースに接続できません: {reason}",
    en: "The database cannot be reached: {reason}",
    remedyJa: "データベースの URL と、データベースが起動しているかを確認してください。",
    remedyEn: "Check the database URL and that the database is running.",
  },
  PORT_IN_USE: {
    status: 500, exit: 1,
    ja: "ポート {port} は既に使われています。",
    en: "Port {port} is already in use.",
    remedyJa: "--port で別のポートを指定するか、--port 0 で空いているポートを使ってください。",
    remedyEn: "Give another port with --port, or --port 0 to pick a free one.",
  },

  // ---- the issuance application (client) ------------------------------------------------
  SERVER_UNREACHABLE: {
    status: 502, exit: 1,
    ja: "サーバー {server} に接続できません: {reason}",
    en: "Cannot connect to the server {server}: {reason}",
    remedyJa: "URL、ネットワーク、プロキシ設定を確認してください（shomei doctor で確認できます）。",
    remedyEn: "Check the URL, the network and the proxy settings (shomei doctor helps).",
  },
  SERVER_TLS_UNTRUSTED: {
    status: 502, exit: 1,
    ja: "サーバーの TLS 証明書が確認したルート証明書につながりません: {reason}",
    en: "The server's TLS certificate does not chain to the confirmed root certificate: {reason}",
    remedyJa: "TLS を中継・検査するプロキシがある可能性があります。パソコンの管理者に相談してください。",
    remedyEn: "A proxy may be intercepting TLS. Ask your PC administrator.",
  },
  SERVER_BAD_RESPONSE: {
    status: 502, exit: 1,
    ja: "サーバーの応答が正しくありません: {reason}",
    en: "The server's answer is not valid: {reason}",
    remedyJa: "--server の URL が正しいか確認してください。解決しない場合はヘルプデスクに連絡してください。",
    remedyEn: "Check the --server URL. If that does not help, contact the helpdesk.",
  },
  ROOT_FINGERPRINT_MISMATCH: {
    status: 400, exit: 1,
    ja: "サーバーのルート証明書のフィンガープリントが指定された値と一致しません。登録を中止しました。",
    en: "The server's root certificate fingerprint does not match the one given. Enrollment stopped.",
    remedyJa: "メールに記載のフィンガープリントと比べてください。一致しない場合は接続先が正しくない可能性があります。ヘルプデスクに連絡してください。",
    remedyEn: "Compare with the fingerprint in the e-mail. If they differ you may be talking to the wrong server; contact the helpdesk.",
  },
  ROOT_NOT_CONFIRMED: {
    status: 400, exit: 1,
    ja: "ルート証明書が確認されなかったため、登録を中止しました。",
    en: "The root certificate was not confirmed, so enrollment stopped.",
    remedyJa: "メールに記載のフィンガープリントと一致することを確認してから「y」と答えるか、--root-fingerprint で指定してください。",
    remedyEn: "Answer \"y\" after checking the fingerprint against the e-mail, or give it with --root-fingerprint.",
  },
  FINGERPRINT_INVALID: {
    status: 400, exit: 2,
    ja: "フィンガープリント「{value}」の形式が正しくありません。",
    en: "The fingerprint \"{value}\" is not valid.",
    remedyJa: "SHA-256 のフィンガープリント（AB:CD:… の 32 組）を指定してください。",
    remedyEn: "Give a SHA-256 fingerprint (32 pairs such as AB:CD:…).",
  },
  ISSUED_CERT_MISMATCH: {
    status: 502, exit: 1,
    ja: "受け取った証明書が検証できません: {reason}",
    en: "The certificate received cannot be verified: {reason}",
    remedyJa: "証明書は保存していません。ヘルプデスクに連絡してください。",
    remedyEn: "Nothing was stored. Contact the helpdesk.",
  },
  STORE_UNREADABLE: {
    status: 500, exit: 1,
    ja: "証明書ストア {store} を読み書きできません: {reason}",
    en: "The certificate store {store} cannot be read or written: {reason}",
    remedyJa: "フォルダの場所と権限を確認してください。",
    remedyEn: "Check the folder's location and permissions.",
  },
  INPUT_REQUIRED: {
    status: 400, exit: 2,
    ja: "{what} が必要です。",
    en: "{what} is required.",
    remedyJa: "コマンドの使い方は --help で確認できます。",
    remedyEn: "See --help for how to use the command.",
  },
  USAGE: {
    status: 400, exit: 2,
    ja: "コマンドの指定が正しくありません: {reason}",
    en: "The command is not used correctly: {reason}",
    remedyJa: "--help で使い方を確認してください。",
    remedyEn: "See --help for how to use the command.",
  },

  PROXY_AUTH_REQUIRED: {
    status: 502, exit: 1,
    ja: "プロキシ {proxy} が認証を求めています（407）。",
    en: "The proxy {proxy} requires authentication (407).",
    remedyJa: "プロキシの利用者名とパスワードを HTTPS_PROXY=http://利用者名:パスワード@プロキシ:ポート の形で設定してください（運用担当者ではなく、パソコンの管理者に確認してください）。",
    remedyEn: "Set the proxy's user name and password as HTTPS_PROXY=http://USER:PASSWORD@PROXY:PORT (ask your PC administrator, not the operator).",
  },
  PROXY_REFUSED: {
    status: 502, exit: 1,
    ja: "プロキシ {proxy} が {target} への接続を中継しませんでした: {reason}",
    en: "The proxy {proxy} did not open a connection to {target}: {reason}",
    remedyJa: "HTTPS_PROXY の設定と、プロキシがこの接続先を許可しているかをパソコンの管理者に確認してください。",
    remedyEn: "Ask your PC administrator to check HTTPS_PROXY and whether the proxy allows this destination.",
  },

  // ---- catch-all -------------------------------------------------------------------------
  INTERNAL: {
    status: 500, exit: 3,
    ja: "内部エラーが発生しました。",
    en: "An internal error occurred.",
    remedyJa: "時間をおいて再度お試しください。解決しない場合はヘルプデスクに連絡してください。",
    remedyEn: "Try again later. If it persists, contact the helpdesk.",
  },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorParams = Readonly<Record<string, string | number>>;

function fill(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

/** The one error type Shomei throws on purpose. */
export class ShomeiError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(fill(ERRORS[code].en, params), options);
    this.name = "ShomeiError";
    this.code = code;
    this.params = params;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get exitCode(): number {
    return ERRORS[this.code].exit;
  }

  /** The message in the given language. */
  text(lang: Lang): string {
    const e = ERRORS[this.code];
    return fill(lang === "ja" ? e.ja : e.en, this.params);
  }

  /** What to do next, in the given language. */
  remedy(lang: Lang): string {
    const e = ERRORS[this.code];
    return fill(lang === "ja" ? e.remedyJa : e.remedyEn, this.params);
  }
}

export function isShomeiError(e: unknown): e is ShomeiError {
  return e instanceof ShomeiError;
}

/** Word for "what to do" in each language, shared by the CLI and the HTTP edges. */
export const REMEDY_LABEL: Record<Lang, string> = { ja: "対処", en: "What to do" };
