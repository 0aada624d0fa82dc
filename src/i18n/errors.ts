/**
 * The one error catalog. Every error a user or operator can meet has a stable code here,
 * an HTTP status (used only by the HTTP edges), a Japanese and an English message, and a
 * remedy in both languages. Codes never change once released; the text may.
 *
 * Messages may contain `{name}` placeholders filled from the error's params.
 * docs/troubleshooting.md is generated from this file (`npm run docs:errors`).
 */

import { formatTime } from "./format.js";

export type Lang = "ja" | "en";

/** What a coded message says, and what to do, in both languages. */
export interface CodedTexts {
  readonly ja: string;
  readonly en: string;
  readonly remedyJa: string;
  readonly remedyEn: string;
}

export interface CatalogEntry extends CodedTexts {
  /** HTTP status the HTTP edges answer with. */
  readonly status: number;
  /** Exit code the CLI ends with: 1 = the user must act, 2 = bad invocation, 3 = our bug/environment. */
  readonly exit: 1 | 2 | 3;
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
  CSR_VERSION_UNSUPPORTED: {
    status: 400, exit: 1,
    ja: "CSR のバージョンが正しくありません（バージョン 1、値 0 だけを受け付けます）。",
    en: "The CSR's version is not accepted (only version 1, encoded as 0).",
    remedyJa: "証明書発行アプリケーションまたは openssl req で作り直してください。",
    remedyEn: "Create the request again with the issuance application or openssl req.",
  },
  CSR_SIGNATURE_PARAMS_INVALID: {
    status: 400, exit: 1,
    ja: "CSR の署名アルゴリズムのパラメーターが正しくありません（{reason}）。",
    en: "The CSR's signature algorithm parameters are not valid ({reason}).",
    remedyJa: "ECDSA ではパラメーターなし、RSA では NULL にしてください。証明書発行アプリケーションまたは openssl req で作り直してください。",
    remedyEn: "ECDSA takes no parameters and RSA takes NULL: create the request again with the issuance application or openssl req.",
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
  KEY_INVALID: {
    status: 400, exit: 1,
    ja: "鍵が正しくありません（{reason}）。",
    en: "The key is not valid ({reason}).",
    remedyJa: "鍵が壊れています。証明書発行アプリケーションで新しい鍵を作ってください（ECDSA P-256 推奨）。",
    remedyEn: "The key is damaged: create a new key with the issuance application (ECDSA P-256 recommended).",
  },
  KEY_RSA_EXPONENT: {
    status: 400, exit: 1,
    ja: "RSA 鍵の公開指数 {exponent} には対応していません（65537 だけを受け付けます）。",
    en: "The RSA public exponent {exponent} is not accepted (only 65537).",
    remedyJa: "公開指数 65537 の RSA 鍵、または ECDSA P-256（推奨）の鍵で作り直してください。",
    remedyEn: "Create a new key: RSA with exponent 65537, or ECDSA P-256 (recommended).",
  },
  KEY_NOT_ALLOWED: {
    status: 400, exit: 1,
    ja: "この認証局では {kind} の鍵は受け付けていません（受け付ける鍵: {allowed}）。",
    en: "This CA does not accept {kind} keys (accepted: {allowed}).",
    remedyJa: "受け付けている種類の鍵で作り直してください。",
    remedyEn: "Create the request again with a key of an accepted kind.",
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
  BAD_JSON: {
    status: 400, exit: 1,
    ja: "送信された JSON が正しくありません（空か、JSON として読めません）。",
    en: "The JSON sent is not valid (it is empty or cannot be read as JSON).",
    remedyJa: "本文を正しい JSON で送るか、この URL が受け付ける形式（フォームや application/pkcs10）で送ってください。",
    remedyEn: "Send a valid JSON body, or the format this URL takes (a form or application/pkcs10).",
  },
  REQUEST_MALFORMED: {
    status: 400, exit: 1,
    ja: "要求の形式が正しくありません（URL、ヘッダーまたは本文が読めません）。",
    en: "The request is malformed (its URL, headers or body cannot be read).",
    remedyJa: "ブラウザや証明書発行アプリケーションから送り直してください。自作のクライアントの場合は URL の % 符号化と、Content-Type、Content-Length と本文が一致しているかを確認してください。",
    remedyEn: "Send the request again from the browser or the issuance application. With your own client, check the URL's %-encoding and that Content-Type, Content-Length and the body agree.",
  },

  // ---- enrollment ------------------------------------------------------------------------
  PASSCODE_REJECTED: {
    status: 401, exit: 1,
    ja: "ユーザID またはパスコードが正しくないか、パスコードが有効期限切れ・使用済み・無効です。",
    en: "The user ID or passcode is wrong, or the passcode has expired, been used, or been voided.",
    remedyJa: "メールのユーザID とパスコードを確認してもう一度入力してください。それでも失敗する場合は" + ASK_OPERATOR_PASSCODE_JA,
    remedyEn: "Check the user ID and passcode from the e-mail and try again. If it still fails: " + ASK_OPERATOR_PASSCODE_EN,
  },
  PASSCODE_WRONG: {
    status: 401, exit: 1,
    ja: "パスコードが違います。あと {triesLeft} 回間違えるとパスコードは無効になります。",
    en: "The passcode is wrong. {triesLeft} more wrong tries and the passcode is voided.",
    remedyJa: "メールのパスコードをよく見て（コピーして貼り付けるのが確実です）もう一度入力してください。無効になったら" + ASK_OPERATOR_PASSCODE_JA,
    remedyEn: "Look at the passcode in the e-mail again (copying and pasting it is safest) and try again. Once it is voided: " + ASK_OPERATOR_PASSCODE_EN,
  },
  PASSCODE_CHARS_INVALID: {
    status: 400, exit: 2,
    ja: "入力したパスコードには、パスコードに使われない文字があります: {charsJa}。サーバーには送っていません（試行回数は減っていません）。",
    en: "The passcode you typed has characters that passcodes never use: {charsEn}. It was not sent (no try was used).",
    remedyJa: "パスコードは英大文字（I, L, O を除く）と数字 2〜9 の 16 文字です（0 と 1 もありません）。メールからコピーして貼り付けてください。",
    remedyEn: "Passcodes are 16 characters: capital letters except I, L and O, and the digits 2 to 9 (never 0 or 1). Copy and paste it from the e-mail.",
  },
  PASSCODE_LENGTH_WRONG: {
    status: 400, exit: 2,
    ja: "入力したパスコードは {length} 文字です（16 文字のはずです）。サーバーには送っていません（試行回数は減っていません）。",
    en: "The passcode you typed has {length} characters instead of 16. It was not sent (no try was used).",
    remedyJa: "メールのパスコード（XXXX-XXXX-XXXX-XXXX の形、ハイフンは省略可）をすべて入力してください。",
    remedyEn: "Type the whole passcode from the e-mail (XXXX-XXXX-XXXX-XXXX; the hyphens may be left out).",
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
  USER_ID_FORMAT: {
    status: 400, exit: 2,
    ja: "ユーザID「{userId}」はこのサービスのユーザID の形（{formatJa}）に合いません。サーバーには送っていません。",
    en: "User ID \"{userId}\" cannot be one of this service's user IDs ({formatEn}). It was not sent.",
    remedyJa: "メールに書かれたユーザID をそのまま指定してください。",
    remedyEn: "Give the user ID exactly as the e-mail shows it.",
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
  ISSUING_KEY_MISMATCH: {
    status: 500, exit: 1,
    ja: "発行 CA の秘密鍵（{key}）が発行 CA 証明書（{cert}）の公開鍵と一致しません。",
    en: "The issuing CA private key ({key}) does not match the public key of the issuing CA certificate ({cert}).",
    remedyJa: "データフォルダのファイルが入れ替わっていないか確認してください（バックアップから ca/issuing.pem と private/issuing.key.pem を組で戻します）。",
    remedyEn: "Check that no file in the data folder was swapped (restore ca/issuing.pem and private/issuing.key.pem together from a backup).",
  },
  ROOT_KEY_OFFLINE: {
    status: 500, exit: 1,
    ja: "ルート CA の秘密鍵がデータフォルダにありません（{file}）。この操作にはルート CA の鍵が必要です。",
    en: "The root CA private key is not in the data folder ({file}); this needs the root CA key.",
    remedyJa: "別の場所に保管しているルート CA の鍵ファイルを一時的に {file} に戻して（パスフレーズは同じ）もう一度実行し、終わったら再び取り外してください。",
    remedyEn: "Put the root CA key file kept elsewhere back at {file} for a moment (same passphrase), run the command again, then take it away again.",
  },
  ROOT_CA_EXPIRED: {
    status: 500, exit: 1,
    ja: "ルート CA 証明書の有効期限（{notAfter}）が過ぎているため、その下で証明書を発行し直せません。",
    en: "The root CA certificate expired ({notAfter}), so nothing can be reissued under it.",
    remedyJa: "新しい認証局を作成し（shomei-ca init）、利用者に新しいルート CA を配布してください。",
    remedyEn: "Create a new CA (shomei-ca init) and give users its new root CA.",
  },
  KEY_REWRAP_FAILED: {
    status: 500, exit: 3,
    ja: "秘密鍵 {file} を新しい方式で暗号化し直した結果が元の鍵と一致しないため、ファイルは変更していません。",
    en: "Re-encrypting the private key {file} did not give back the same key, so the file was left unchanged.",
    remedyJa: "鍵ファイルはそのまま使えます。不具合として報告し、報告の際はこのメッセージを添えてください。",
    remedyEn: "The key file is still usable as it is. Report this as a bug, with this message.",
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
    remedyJa: "{option} で別のポートを指定するか（設定ファイル shomei.json の {setting} でも変えられます）、--port 0 ですべて空いているポートを使ってください。",
    remedyEn: "Give another port with {option} (or change {setting} in shomei.json), or use --port 0 to pick free ports for all.",
  },
  LISTEN_FAILED: {
    status: 500, exit: 1,
    ja: "{address} で待ち受けられません（{reason}）。",
    en: "Cannot listen on {address} ({reason}).",
    remedyJa: "--host（設定ファイル shomei.json の listen.host）には、このコンピューターのアドレス（127.0.0.1、すべてのアドレスなら 0.0.0.0）か、それに解決される名前を指定してください。1024 未満のポートには管理者権限が必要です。",
    remedyEn: "Give --host (listen.host in shomei.json) an address of this computer (127.0.0.1, or 0.0.0.0 for all) or a name that resolves to one. Ports below 1024 need administrator rights.",
  },
  WORKER_DIED: {
    status: 500, exit: 3,
    ja: "ワーカー {worker}（PID {pid}）が停止しました（{how}）。{delay} 秒後に新しいワーカーを起動します。",
    en: "Worker {worker} (PID {pid}) stopped ({how}). A new worker starts in {delay} s.",
    remedyJa: "一度だけなら対処は不要です（他のワーカーは応答を続け、停止したワーカーは置き換えられます）。繰り返す場合は、この行の前のログを添えて不具合として報告してください（攻撃の可能性もあります）。",
    remedyEn: "Nothing to do if it happens once (the other workers kept serving and this one is replaced). If it repeats, report it as a bug with the log lines before this one (it may be an attack).",
  },
  WORKER_NOT_DRAINED: {
    status: 500, exit: 3,
    ja: "ワーカー {worker}（PID {pid}）が {seconds} 秒以内に処理中のリクエストを終えなかったため、強制終了しました。",
    en: "Worker {worker} (PID {pid}) did not finish its requests in flight within {seconds} s and was killed.",
    remedyJa: "対処は不要です。繰り返す場合は、応答しないクライアントやデータベースの遅延がないか確認してください。",
    remedyEn: "Nothing to do. If it repeats, look for clients that stall their connections or a slow database.",
  },

  // ---- the issuance application (client) ------------------------------------------------
  SERVER_UNREACHABLE: {
    status: 502, exit: 1,
    ja: "サーバー {server} に接続できません: {reason}",
    en: "Cannot connect to the server {server}: {reason}",
    remedyJa: "URL、ネットワーク、プロキシ設定を確認してください（shomei doctor で確認できます）。",
    remedyEn: "Check the URL, the network and the proxy settings (shomei doctor helps).",
  },
  BROWSER_NO_WEBCRYPTO: {
    status: 400, exit: 1,
    ja: "このブラウザーでは暗号機能（WebCrypto）または保存領域（IndexedDB）が使えないため、証明書を取得できません。",
    en: "This browser offers no cryptography (WebCrypto) or storage (IndexedDB), so it cannot obtain the certificate.",
    remedyJa: "最新の Microsoft Edge、Google Chrome、Firefox または Safari で、メールに書かれた https:// の URL を開いてください（プライベートウィンドウでは保存できないことがあります）。コマンドラインを使える場合は shomei enroll でも取得できます。",
    remedyEn: "Open the https:// URL from the e-mail in a current Microsoft Edge, Google Chrome, Firefox or Safari (a private window may not allow storage). With a command line, shomei enroll also works.",
  },
  BROWSER_CONNECTION_LOST: {
    status: 502, exit: 1,
    ja: "サービスに接続できないか、応答の途中で接続が切れました: {reason}",
    en: "The service cannot be reached, or the connection dropped before its answer arrived: {reason}",
    remedyJa: "ネットワークを確認して、もう一度同じボタンを押してください。鍵と要求はこのブラウザーに残してあるので、10 分以内なら同じ証明書を受け取れ、パスコードが無駄になることはありません。続く場合はヘルプデスクに連絡してください。",
    remedyEn: "Check the network and press the same button again. The key and the request are kept in this browser, so within 10 minutes you get the same certificate and the passcode is not used up. If it persists, contact the helpdesk.",
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
  LOGIN_NOT_PORTAL: {
    status: 502, exit: 1,
    ja: "{server} はオンラインシステム（ポータル）ではありません（HTTP {status}）。",
    en: "{server} is not the online system (portal) (HTTP {status}).",
    remedyJa: "ポータルの URL を --server に指定してください（運用担当者からのメールに書かれたオンラインシステムの URL。証明書の取得に使った URL とはポートが違うことがあります）。",
    remedyEn: "Give the portal's URL with --server (the online system's URL in the operator's e-mail; its port may differ from the URL used to obtain the certificate).",
  },
  ROOT_FINGERPRINT_MISMATCH: {
    status: 400, exit: 1,
    ja: "ルート証明書のフィンガープリントが指定された値と一致しません。何も信頼・保存していません。",
    en: "The root certificate's fingerprint does not match the one given. Nothing was trusted or stored.",
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
  USER_AMBIGUOUS: {
    status: 400, exit: 2,
    ja: "このパソコンには複数のユーザIDの証明書があります（{userIds}）。どのユーザIDで行うか指定してください。",
    en: "This PC holds certificates of several user IDs ({userIds}); say which one to use.",
    remedyJa: "--user を付けて実行し直してください（例: --user {example}）。",
    remedyEn: "Run the command again with --user, for example --user {example}.",
  },

  PROXY_AUTH_REQUIRED: {
    status: 502, exit: 1,
    ja: "プロキシ {proxy} が認証を求めています（HTTP {status}: プロキシの利用者名・パスワードがないか、正しくありません）。",
    en: "The proxy {proxy} requires authentication (HTTP {status}: its user name and password are missing or wrong).",
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

  // ---- portal: the certificate presented -----------------------------------------------
  CERT_REQUIRED: {
    status: 403, exit: 1,
    ja: "クライアント証明書が提示されていません。",
    en: "No client certificate was presented.",
    remedyJa: "証明書発行アプリケーション（shomei enroll）で証明書を取得し、ブラウザで開き直して証明書を選んでください。選択画面が出ない場合はブラウザを再起動してください。",
    remedyEn: "Get your certificate with the issuance application (shomei enroll), then reopen the page and choose the certificate. If no choice appears, restart the browser.",
  },
  CERT_OTHER_CA: {
    status: 403, exit: 1,
    ja: "提示された証明書は、このサービスの認証局が発行したものではありません（発行者: {issuer}）。",
    en: "The certificate presented was not issued by this service's CA (issuer: {issuer}).",
    remedyJa: "ブラウザを再起動し、証明書の選択画面でユーザID（a で始まる名前）の証明書を選んでください。持っていない場合は shomei enroll で取得してください。",
    remedyEn: "Restart the browser and, when asked, choose the certificate named after your user ID. If you have none, get one with shomei enroll.",
  },
  CERT_UNKNOWN: {
    status: 403, exit: 1,
    ja: "提示された証明書（シリアル番号 {serial}）はこのサービスの記録にありません。",
    en: "The certificate presented (serial {serial}) is not in this service's records.",
    remedyJa: "別の証明書を選ぶか、shomei list で証明書を確認してください。解決しない場合はヘルプデスクに連絡してください。",
    remedyEn: "Choose another certificate or check them with shomei list. If that does not help, contact the helpdesk.",
  },
  CERT_EXPIRED: {
    status: 403, exit: 1,
    ja: "提示された証明書は有効期限が切れています（期限: {notAfter}）。",
    en: "The certificate presented has expired (valid until {notAfter}).",
    remedyJa: "新しい証明書が必要です。運用担当者（ヘルプデスク）にパスコードの再発行を依頼し、shomei enroll で取得してください。新しい証明書がある場合はブラウザを再起動して選び直してください。",
    remedyEn: "You need a new certificate: ask the operator (helpdesk) for a new passcode and get it with shomei enroll. If you already have a newer one, restart the browser and choose it.",
  },
  CERT_NOT_YET_VALID: {
    status: 403, exit: 1,
    ja: "提示された証明書はまだ有効期間が始まっていません（開始: {notBefore}）。",
    en: "The certificate presented is not valid yet (valid from {notBefore}).",
    remedyJa: "パソコンの時計が正しいか確認してください。",
    remedyEn: "Check that your computer's clock is right.",
  },
  CERT_REVOKED: {
    status: 403, exit: 1,
    ja: "提示された証明書は失効しています（{revokedAt}）。",
    en: "The certificate presented has been revoked ({revokedAt}).",
    remedyJa: "この証明書は使えません。運用担当者（ヘルプデスク）にパスコードの再発行を依頼し、shomei enroll で新しい証明書を取得してください。",
    remedyEn: "This certificate can no longer be used. Ask the operator (helpdesk) for a new passcode and get a new certificate with shomei enroll.",
  },

  CLIENT_TOO_OLD: {
    status: 400, exit: 1,
    ja: "この証明書発行アプリケーション（shomei {version}）は古いため使えません。このサービスでは {minimum} 以降が必要です。",
    en: "This issuance application (shomei {version}) is too old for this service, which needs {minimum} or later.",
    remedyJa: "新しいバージョンに更新してください（npm で入れた場合: npm install -g shomei@latest。配布ファイルの場合は運用担当者の案内に従ってください）。分からない場合はヘルプデスクに連絡してください。",
    remedyEn: "Upgrade to the new version (installed with npm: npm install -g shomei@latest; otherwise follow the operator's instructions), or ask the helpdesk.",
  },

  // ---- renewal ---------------------------------------------------------------------------
  RENEW_TOO_EARLY: {
    status: 403, exit: 1,
    ja: "まだ更新できません。更新は {opensAt} から受け付けます（現在の証明書の有効期限: {notAfter}）。",
    en: "It is too early to renew: renewal opens on {opensAt} (the current certificate is valid until {notAfter}).",
    remedyJa: "更新できる期間になってから、もう一度 shomei renew を実行してください。今の証明書はそのまま使えます。",
    remedyEn: "Run shomei renew again once renewal is open. The current certificate keeps working until then.",
  },
  RENEW_SAME_KEY: {
    status: 400, exit: 1,
    ja: "更新の申請が、今の証明書と同じ鍵で作られています。更新には新しい鍵が必要です。",
    en: "The renewal request uses the same key as the current certificate; renewal needs a new key.",
    remedyJa: "shomei renew を使ってください（新しい鍵をこの PC で作ります）。",
    remedyEn: "Use shomei renew (it makes a new key on this PC).",
  },

  // ---- portal: login and passwords ------------------------------------------------------
  LOGIN_USER_MISMATCH: {
    status: 403, exit: 1,
    ja: "入力されたユーザID「{typed}」は、提示された証明書のユーザID「{certUser}」と一致しません。",
    en: "The user ID you typed (\"{typed}\") is not the one in the certificate presented (\"{certUser}\").",
    remedyJa: "ご自分のユーザID の証明書を選んでください（ブラウザを再起動すると選び直せます）。",
    remedyEn: "Use the certificate of your own user ID (restart the browser to choose again).",
  },
  LOGIN_FAILED: {
    status: 401, exit: 1,
    ja: "ユーザID またはパスワードが正しくありません（あと {remaining} 回失敗するとロックされます）。",
    en: "The user ID or password is wrong ({remaining} more failures will lock the account).",
    remedyJa: "パスワードは大文字・小文字を区別します。初めての場合はメールの初期パスワードを入力してください。",
    remedyEn: "Passwords are case-sensitive. On your first login, type the initial password from the e-mail.",
  },
  ACCOUNT_LOCKED: {
    status: 403, exit: 1,
    ja: "パスワードを続けて間違えたため、このユーザID はロックされています。",
    en: "This user ID is locked after too many wrong passwords.",
    remedyJa: "運用担当者（ヘルプデスク）にロックの解除を依頼してください。",
    remedyEn: "Ask the operator (helpdesk) to unlock it.",
  },
  ACCOUNT_LOCKED_TEMPORARILY: {
    status: 403, exit: 1,
    ja: "パスワードを続けて間違えたため、このユーザID は一時的にロックされています。",
    en: "This user ID is locked for a while after too many wrong passwords.",
    remedyJa: "ロックから {minutes} 分経つと自動で解除されます。急ぐ場合は運用担当者（ヘルプデスク）に解除を依頼してください。",
    remedyEn: "The lock lifts by itself {minutes} minutes after it was set; if it is urgent, ask the operator (helpdesk) to unlock it.",
  },
  INITIAL_PASSWORD_EXPIRED: {
    status: 403, exit: 1,
    ja: "初期パスワードの有効期限（{expiredAt}）が過ぎています。",
    en: "The initial password expired on {expiredAt}.",
    remedyJa: "運用担当者（ヘルプデスク）にパスワードの再設定を依頼してください。新しい初期パスワードがメールで届きます。",
    remedyEn: "Ask the operator (helpdesk) to reset your password; a new initial password will arrive by e-mail.",
  },
  PASSWORD_TOO_SHORT: {
    status: 400, exit: 1,
    ja: "新しいパスワードが短すぎます（{min} 文字以上）。",
    en: "The new password is too short (at least {min} characters).",
    remedyJa: "{min} 文字以上のパスワードを入力してください。",
    remedyEn: "Choose a password of at least {min} characters.",
  },
  PASSWORD_TOO_LONG: {
    status: 400, exit: 1,
    ja: "新しいパスワードが長すぎます（{max} 文字まで）。",
    en: "The new password is too long (at most {max} characters).",
    remedyJa: "{max} 文字以内のパスワードを入力してください。",
    remedyEn: "Choose a password of at most {max} characters.",
  },
  PASSWORD_CONTAINS_USER_ID: {
    status: 400, exit: 1,
    ja: "新しいパスワードにユーザID が含まれています。",
    en: "The new password contains your user ID.",
    remedyJa: "ユーザID を含まないパスワードにしてください。",
    remedyEn: "Choose a password that does not contain your user ID.",
  },
  PASSWORD_REUSED: {
    status: 400, exit: 1,
    ja: "新しいパスワードが、現在または直近 {count} 回のパスワードと同じです。",
    en: "The new password is the same as the current one or one of the last {count}.",
    remedyJa: "これまでに使っていないパスワードにしてください。",
    remedyEn: "Choose a password you have not used recently.",
  },
  PASSWORD_CONFIRM_MISMATCH: {
    status: 400, exit: 1,
    ja: "確認のために入力したパスワードが一致しません。",
    en: "The confirmation does not match the new password.",
    remedyJa: "新しいパスワードを 2 回、同じように入力してください。",
    remedyEn: "Type the new password twice, the same way.",
  },
  CURRENT_PASSWORD_WRONG: {
    status: 400, exit: 1,
    ja: "現在のパスワードが正しくありません（あと {remaining} 回失敗するとロックされます）。",
    en: "The current password is wrong ({remaining} more failures will lock the account).",
    remedyJa: "ログインに使ったパスワード（初回はメールの初期パスワード）を入力してください。",
    remedyEn: "Type the password you logged in with (the first time: the initial password from the e-mail).",
  },
  CSRF_INVALID: {
    status: 403, exit: 1,
    ja: "フォームの有効期限が切れたか、別の画面から送信されました。",
    en: "The form has expired or was sent from another page.",
    remedyJa: "画面を開き直して、もう一度操作してください。",
    remedyEn: "Reopen the page and try again.",
  },
  SESSION_ENDED: {
    status: 401, exit: 1,
    ja: "ログインしていないか、操作がないまま時間が経ったためログアウトしました。",
    en: "You are not logged in, or you were logged out after a period without activity.",
    remedyJa: "もう一度ログインしてください。",
    remedyEn: "Please log in again.",
  },
  SESSION_CERT_MISMATCH: {
    status: 401, exit: 1,
    ja: "このログインは別の証明書で始められたため、使えません。",
    en: "This login was started with another certificate and cannot be used with this one.",
    remedyJa: "今の証明書でもう一度ログインしてください。",
    remedyEn: "Log in again with the certificate you are using now.",
  },
  OPERATOR_ONLY: {
    status: 403, exit: 1,
    ja: "この画面は運用担当者だけが使えます。",
    en: "Only operators can use this page.",
    remedyJa: "利用者の方はマイページをお使いください。",
    remedyEn: "Users: please use your own page.",
  },
  NOT_FOUND: {
    status: 404, exit: 1,
    ja: "ページ {path} は見つかりません。",
    en: "The page {path} does not exist.",
    remedyJa: "トップページから開き直してください。",
    remedyEn: "Start again from the top page.",
  },
  REVOKE_NOT_POSSIBLE: {
    status: 409, exit: 1,
    ja: "証明書（シリアル番号 {serial}）を失効できません: {reason}",
    en: "The certificate (serial {serial}) cannot be revoked: {reason}",
    remedyJa: "シリアル番号を確認してください。失効済みの証明書はそのままです。",
    remedyEn: "Check the serial number. A certificate already revoked stays revoked.",
  },
  REASON_INVALID: {
    status: 400, exit: 2,
    ja: "失効理由「{reason}」は使えません（{allowed}）。",
    en: "\"{reason}\" is not a revocation reason ({allowed}).",
    remedyJa: "一覧から失効理由を選んでください。",
    remedyEn: "Choose one of the listed reasons.",
  },

  // ---- bulk registration (CSV) ---------------------------------------------------------
  CSV_ENCODING: {
    status: 400, exit: 1,
    ja: "CSV ファイルの文字コードを判別できません（UTF-8 と Shift_JIS のどちらでもありません）。",
    en: "The CSV file's character encoding is neither UTF-8 nor Shift_JIS.",
    remedyJa: "Excel では「CSV UTF-8（コンマ区切り）」または「CSV（コンマ区切り）」で保存し直してください。",
    remedyEn: "Save it again from Excel as \"CSV UTF-8 (Comma delimited)\" or \"CSV (Comma delimited)\".",
  },
  CSV_MALFORMED: {
    status: 400, exit: 1,
    ja: "CSV ファイルの {line} 行目で、引用符（\"）の使い方が正しくありません。",
    en: "The CSV file is malformed at line {line}: a double quote (\") is not closed or is out of place.",
    remedyJa: "\" で始めた値が \" で閉じられているか、値の途中に \" がないかを確認してください（値の中の \" は \"\" と書きます）。何も登録していません。",
    remedyEn: "Check that every value opened with \" is closed with \", and write \"\" for a quote inside a value. Nothing was registered.",
  },
  CSV_HEADER: {
    status: 400, exit: 1,
    ja: "CSV ファイルの見出し行（1 行目）の列が足りないか重複しています: {missing}",
    en: "The CSV file's header row (first line) lacks required columns or repeats one: {missing}",
    remedyJa: "1 行目を「ユーザID,メールアドレス,氏名,組織名,言語」（または user_id,email,name,organization,lang）にしてください。",
    remedyEn: "Make the first line \"user_id,email,name,organization,lang\" (Japanese headings work too).",
  },
  CSV_TOO_MANY_ROWS: {
    status: 400, exit: 1,
    ja: "CSV ファイルの行数が多すぎます（{max} 行まで）。",
    en: "The CSV file has too many rows (at most {max}).",
    remedyJa: "{max} 行以下のファイルに分けて登録してください。",
    remedyEn: "Split it into files of at most {max} rows.",
  },

  // ---- issuance application: login check -------------------------------------------------
  ROOT_UNKNOWN_FOR_SERVER: {
    status: 400, exit: 1,
    ja: "証明書ストア {store} には、{server} を確かめるためのルート証明書がありません。",
    en: "The certificate store {store} holds no root certificate to check {server} with.",
    remedyJa: "shomei enroll で証明書を取得したときのストアを --store で指定してください。",
    remedyEn: "Give the store you enrolled with in --store.",
  },
  NO_CERTIFICATE_IN_STORE: {
    status: 400, exit: 1,
    ja: "証明書ストア {store} にユーザ {userId} の有効な証明書がありません。",
    en: "The certificate store {store} holds no valid certificate for {userId}.",
    remedyJa: "shomei enroll で証明書を取得してください（shomei list で中身を確認できます）。",
    remedyEn: "Get a certificate with shomei enroll (shomei list shows what the store holds).",
  },

  // ---- PKCS#12 ---------------------------------------------------------------------------
  PKCS12_PASSWORD_WRONG: {
    status: 400, exit: 1,
    ja: "証明書ファイル（.p12 / .pfx）のパスワードが正しくありません。",
    en: "The password for the certificate file (.p12 / .pfx) is wrong.",
    remedyJa: "ファイルを書き出したときに決めたパスワードを入力してください。大文字・小文字、全角・半角も区別されます。パスワードが正しいのに失敗する場合は、ファイルが壊れている可能性があります。元のファイルをもう一度コピーしてください。",
    remedyEn: "Type the password that was chosen when the file was exported; upper and lower case (and full-width and half-width characters) count. If the password is surely right, the file may be damaged: copy the original again.",
  },
  PKCS12_MALFORMED: {
    status: 400, exit: 1,
    ja: "指定されたファイルは証明書ファイル（.p12 / .pfx）ではないか、壊れています（{reason}）。",
    en: "The file given is not a certificate file (.p12 / .pfx), or it is damaged ({reason}).",
    remedyJa: "ファイルの種類を確認してください。メールやUSBメモリでコピーした場合は、元のファイルをもう一度コピーしてください。",
    remedyEn: "Check that it is the right file. If it was copied by e-mail or on a USB stick, copy the original again.",
  },
  PKCS12_UNSUPPORTED: {
    status: 400, exit: 1,
    ja: "この証明書ファイル（.p12 / .pfx）は、対応していない方式（{algorithm}）で保護されています。",
    en: "This certificate file (.p12 / .pfx) is protected in a way that is not supported ({algorithm}).",
    remedyJa: "書き出したパソコンで、暗号化方式に「AES256-SHA256」（古い機器では「TripleDES-SHA1」）を選んで書き出し直してください。分からない場合はヘルプデスクに連絡してください。",
    remedyEn: "Export it again on the computer it came from, choosing \"AES256-SHA256\" encryption (\"TripleDES-SHA1\" on older systems). If unsure, contact the helpdesk.",
  },

  // ---- certificate store (list, prune, root) ----
  CONFIRMATION_REQUIRED: {
    status: 400, exit: 2,
    ja: "確認のための端末がないため、{action}を行いませんでした。何も変更していません。",
    en: "There is no terminal to ask before {action}, so nothing was changed.",
    remedyJa: "まず端末で実行して内容を確認するか、内容を確認したうえで --yes を付けて実行してください。",
    remedyEn: "Run it on a terminal to see what it will do, or add --yes once you have checked.",
  },
  CANCELLED: {
    status: 400, exit: 1,
    ja: "「y」と答えなかったため、何も変更していません。",
    en: "Nothing was changed: the answer was not \"y\".",
    remedyJa: "内容を確認し、実行する場合はもう一度実行して「y」と答えてください。",
    remedyEn: "Check what it will do, then run it again and answer \"y\" to go ahead.",
  },
  ROOT_INSTALL_NOT_CONFIRMED: {
    status: 400, exit: 1,
    ja: "ルート証明書が確認されなかったため、信頼しませんでした。何も保存していません。",
    en: "The root certificate was not confirmed, so it was not trusted. Nothing was stored.",
    remedyJa: "表示されたフィンガープリントが運用担当者から案内されたものと 1 文字ずつ一致することを確かめてから端末で「y」と答えるか、--root-fingerprint で指定してください（--yes ではこの確認を省略できません）。",
    remedyEn: "Check that the fingerprint shown matches, character by character, the one the operator gave you and answer \"y\" on a terminal, or give it with --root-fingerprint (--yes does not skip this check).",
  },
  ROOT_FILE_INVALID: {
    status: 400, exit: 1,
    ja: "ファイル {file} からルート証明書を読み取れません: {reason}",
    en: "No root certificate can be read from {file}: {reason}",
    remedyJa: "運用担当者が案内したルート証明書のファイル（PEM または DER 形式で、自己署名の CA 証明書を 1 つ含むもの）を指定してください。",
    remedyEn: "Give the root certificate file the operator published (PEM or DER, holding one self-signed CA certificate).",
  },

  // ---- backup (export / import) ------------------------------------------------------------
  BACKUP_PASSWORD_WEAK: {
    status: 400, exit: 1,
    ja: "バックアップ用のパスワードが弱すぎます（{reason}）。",
    en: "The backup password is too weak ({reason}).",
    remedyJa: "{min} 文字以上で、英大文字・小文字・数字・記号を混ぜたパスワードにしてください。このパスワードを忘れるとバックアップは開けません。",
    remedyEn: "Use at least {min} characters mixing capitals, small letters, digits or symbols. Without this password nobody can open the backup.",
  },
  BACKUP_FILE_EXISTS: {
    status: 400, exit: 1,
    ja: "ファイル {file} は既にあります。上書きしませんでした。",
    en: "The file {file} already exists; it was not overwritten.",
    remedyJa: "別のファイル名を --out で指定してください。置き換えてよい場合だけ --force を付けてください。",
    remedyEn: "Give another name with --out, or add --force only if it may be replaced.",
  },
  BACKUP_WRITE_FAILED: {
    status: 500, exit: 1,
    ja: "バックアップファイル {file} を書けませんでした: {reason}",
    en: "The backup file {file} could not be written: {reason}",
    remedyJa: "保存先のフォルダがあるか、書き込めるか、空き容量があるかを確認してください。",
    remedyEn: "Check that the folder exists, is writable and has free space.",
  },
  BACKUP_READ_FAILED: {
    status: 400, exit: 1,
    ja: "ファイル {file} を読めませんでした: {reason}",
    en: "The file {file} could not be read: {reason}",
    remedyJa: "ファイルの場所と名前を確認してください。",
    remedyEn: "Check the file's location and name.",
  },
  PKCS12_NO_KEY: {
    status: 400, exit: 1,
    ja: "ファイル {file} に秘密鍵が入っていません（証明書だけのファイルです）。",
    en: "The file {file} holds no private key (certificates only).",
    remedyJa: "エクスポートするときに「秘密鍵をエクスポートする」を選んだファイル（.p12 / .pfx）を指定してください。",
    remedyEn: "Use a file exported together with its private key (.p12 / .pfx).",
  },
  PKCS12_NO_CERTIFICATE: {
    status: 400, exit: 1,
    ja: "ファイル {file} に証明書が入っていません。",
    en: "The file {file} holds no certificate.",
    remedyJa: "証明書と秘密鍵を一緒にエクスポートしたファイルを指定してください。",
    remedyEn: "Use a file exported with both the certificate and its private key.",
  },
  PKCS12_KEY_MISMATCH: {
    status: 400, exit: 1,
    ja: "ファイル {file} の秘密鍵に対応する利用者の証明書がありません。",
    en: "The file {file} holds no user certificate for its private key.",
    remedyJa: "ファイルが壊れているか、別の証明書のファイルです。元のバックアップを使ってください。何も保存していません。",
    remedyEn: "The file is damaged or belongs to another certificate; use the original backup. Nothing was stored.",
  },
  PKCS12_CA_CERTIFICATE: {
    status: 400, exit: 1,
    ja: "ファイル {file} の証明書は認証局（CA）の証明書で、利用者の証明書ではありません。",
    en: "The file {file} holds a CA certificate, not a user certificate.",
    remedyJa: "認証局の鍵のファイルは読み込めません。shomei export で書き出した、ご自分の証明書のバックアップを指定してください。何も保存していません。",
    remedyEn: "A certificate authority's key file cannot be imported; give the backup of your own certificate (written by shomei export). Nothing was stored.",
  },
  PKCS12_CHAIN_BROKEN: {
    status: 400, exit: 1,
    ja: "ファイル {file} の証明書は、一緒に入っている認証局の証明書で検証できません（{reason}）。",
    en: "The certificate in {file} does not verify against the CA certificates in the same file ({reason}).",
    remedyJa: "ファイルが壊れているか、改ざんされています。元のバックアップを使うか、ヘルプデスクに連絡してください。何も保存していません。",
    remedyEn: "The file is damaged or altered: use the original backup or contact the helpdesk. Nothing was stored.",
  },
  IMPORT_NOT_CONFIRMED: {
    status: 400, exit: 1,
    ja: "ファイルのルート証明書を信頼することが確認されなかったため、読み込みを中止しました。何も保存していません。",
    en: "Trusting the root certificate in the file was not confirmed, so the import stopped. Nothing was stored.",
    remedyJa: "表示されたフィンガープリントが運用担当者から案内されたものと一致することを確かめてから、端末で「y」と答えるか、--root-fingerprint で指定してください（確認済みなら --yes でも進めます）。",
    remedyEn: "Check that the fingerprint shown matches the one the operator gave you, then answer \"y\" on a terminal or give it with --root-fingerprint (--yes also proceeds once you have checked).",
  },
  RENEW_SERVER_UNKNOWN: {
    status: 400, exit: 2,
    ja: "ユーザID {userId} の証明書をどのサーバーで更新するかが分かりません（--server なしでバックアップから読み込んだ証明書です）。",
    en: "Which server renews the certificate of user ID {userId} is not known (it was imported from a backup without --server).",
    remedyJa: "証明書を取得したサーバーのアドレス（パスコードのメールに記載）を指定してください: shomei renew --server https://…（端末で実行すれば尋ねます）。一度更新すれば記録されます。",
    remedyEn: "Give the address of the server you got the certificate from (in the passcode e-mail): shomei renew --server https://… (run at a terminal, it asks). Once renewed, it is recorded.",
  },

  // ---- NSS store ----
  NSS_TOOLS_MISSING: {
    status: 500, exit: 1,
    ja: "NSS のツール {tool} が見つかりません。NSS データベース（--store nss:DIR）を使うには certutil と pk12util が必要です。",
    en: "The NSS tool {tool} was not found. An NSS database (--store nss:DIR) needs certutil and pk12util.",
    remedyJa: "NSS のツールをインストールしてください（Debian / Ubuntu: sudo apt install libnss3-tools、Fedora / RHEL: sudo dnf install nss-tools）。または --store でファイルのストア（フォルダ）を指定してください。",
    remedyEn: "Install the NSS tools (Debian / Ubuntu: sudo apt install libnss3-tools; Fedora / RHEL: sudo dnf install nss-tools), or give a file store (a folder) with --store.",
  },
  NSS_DB_MISSING: {
    status: 500, exit: 1,
    ja: "NSS データベース {dir} がありません（{reason}）。",
    en: "There is no NSS database in {dir} ({reason}).",
    remedyJa: "--store の場所を確認してください。ブラウザ（Chromium / Chrome）を一度起動すると ~/.pki/nssdb が作られます。自分で作る場合: mkdir -p {dir} && certutil -N -d sql:{dir} --empty-password",
    remedyEn: "Check the --store location. Starting the browser (Chromium / Chrome) once creates ~/.pki/nssdb; to create one yourself: mkdir -p {dir} && certutil -N -d sql:{dir} --empty-password",
  },
  NSS_DB_UNREADABLE: {
    status: 500, exit: 1,
    ja: "NSS データベース {dir} を読み書きできません: {reason}",
    en: "The NSS database {dir} cannot be read or written: {reason}",
    remedyJa: "データベースの持ち主で（sudo を付けずに）実行してください。フォルダとファイルの持ち主と権限を ls -l {dir} で確認してください。",
    remedyEn: "Run shomei as the user who owns the database (without sudo). Check the owner and permissions of the folder and its files with ls -l {dir}.",
  },
  NSS_DB_LOCKED: {
    status: 503, exit: 1,
    ja: "NSS データベース {dir} は他のプログラムが使用中のため使えません: {reason}",
    en: "The NSS database {dir} is in use by another program: {reason}",
    remedyJa: "ブラウザ（Chromium / Chrome / Firefox）や他の shomei を終了してから、もう一度実行してください。それでも失敗する場合はデータベースが壊れている可能性があります: certutil -L -d sql:{dir} で確認してください。",
    remedyEn: "Close the browser (Chromium / Chrome / Firefox) and any other shomei, then try again. If it still fails the database may be damaged: check it with certutil -L -d sql:{dir}.",
  },
  NSS_DB_PASSWORD: {
    status: 500, exit: 1,
    ja: "NSS データベース {dir} にはパスワード（主パスワード）が設定されています。shomei はパスワードのないデータベースだけを扱えます。",
    en: "The NSS database {dir} is protected by a password (primary password). shomei works only with databases without a password.",
    remedyJa: "パスワードを外す場合: certutil -W -d sql:{dir}（今のパスワードを入力し、新しいパスワードは空のまま Enter）。外したくない場合は --store でファイルのストア（フォルダ）を指定し、証明書は shomei export で書き出してからブラウザで読み込んでください。",
    remedyEn: "To remove the password: certutil -W -d sql:{dir} (type the current password, then press Enter for an empty new one). To keep it, use a file store (a folder) with --store and bring the certificate into the browser with shomei export and the browser's import.",
  },
  NSS_KEY_MISSING: {
    status: 500, exit: 1,
    ja: "NSS データベース {dir} に証明書 {nickname}（シリアル {serial}）の秘密鍵がありません。",
    en: "The NSS database {dir} holds no private key for the certificate {nickname} (serial {serial}).",
    remedyJa: "ブラウザの証明書マネージャーで秘密鍵が削除された可能性があります。バックアップがあれば shomei import で読み込み、なければ運用担当者（ヘルプデスク）にパスコードの再発行を依頼して shomei enroll で取得し直してください。",
    remedyEn: "The key may have been deleted in the browser's certificate manager. Restore a backup with shomei import, or ask the operator (helpdesk) for a new passcode and run shomei enroll again.",
  },
  NSS_TOOL_FAILED: {
    status: 500, exit: 1,
    ja: "NSS データベース {dir} の操作（{tool}）に失敗しました: {reason}",
    en: "Working on the NSS database {dir} ({tool}) failed: {reason}",
    remedyJa: "データベースの状態を certutil -L -d sql:{dir} と certutil -K -d sql:{dir} で確認し、もう一度実行してください。解決しない場合はこの表示をヘルプデスクに伝えてください。",
    remedyEn: "Check the database with certutil -L -d sql:{dir} and certutil -K -d sql:{dir}, then try again. If it persists, send this message to the helpdesk.",
  },

  // ---- mail delivery (queue, SMTP) ----------------------------------------------------------
  MAIL_REJECTED: {
    status: 502, exit: 1,
    ja: "メールサーバーがこのメールを受け付けませんでした（再送しません）: {reason}",
    en: "The mail server refused this e-mail for good (it will not be retried): {reason}",
    remedyJa: "宛先のメールアドレスが正しいか確認してください。誤っていれば利用者の登録を確認し、正しければ shomei-ca mail retry 番号 で再送できます。",
    remedyEn: "Check the recipient's e-mail address. If it is right, send again with: shomei-ca mail retry SEQ",
  },
  MAIL_BODY_UNREADABLE: {
    status: 500, exit: 1,
    ja: "送信待ちメールの本文を復号できません: {reason}",
    en: "A queued e-mail's body cannot be decrypted: {reason}",
    remedyJa: "データフォルダの secrets/hmac.key が作成時のものか確認してください。変わっている場合、このメールは送れません。パスコードの再発行（shomei-ca passcode reissue）で送り直してください。",
    remedyEn: "Check that secrets/hmac.key in the data folder is the original one. If it changed, this e-mail cannot be sent: issue a new passcode (shomei-ca passcode reissue) instead.",
  },
  SMTP_PASSWORD_MISSING: {
    status: 500, exit: 1,
    ja: "SMTP のパスワードがありません（環境変数 {env}、ファイル {file}）。",
    en: "The SMTP password is missing (environment variable {env}, file {file}).",
    remedyJa: "環境変数 {env} にパスワードを設定するか、設定ファイルの mail.smtp.passwordFile に指定したファイル（所有者のみ読み取り可）に書いてください。shomei.json にパスワードは書きません。",
    remedyEn: "Set the environment variable {env} to the password, or write it to the file named by mail.smtp.passwordFile (readable by its owner only). The password never goes in shomei.json.",
  },
  MAIL_OUTBOX_EMPTY: {
    status: 404, exit: 1,
    ja: "outbox フォルダ（{dir}）にメールはまだありません。",
    en: "There is no mail in the outbox folder ({dir}) yet.",
    remedyJa: "メールは shomei-ca init と shomei-ca user add（SMTP 未設定時）で書かれます。SMTP を設定している場合、メールは送信済みです（shomei-ca mail status で確認）。",
    remedyEn: "Mails are written by shomei-ca init and shomei-ca user add (when no SMTP server is configured). With SMTP configured, mails are sent instead (see shomei-ca mail status).",
  },
  MAIL_NONE_FOR_USER: {
    status: 404, exit: 1,
    ja: "outbox フォルダ（{dir}）にユーザID {userId} のメールはありません。",
    en: "The outbox folder ({dir}) has no mail for user ID {userId}.",
    remedyJa: "ユーザID を確認してください（shomei-ca user list）。ユーザID を付けない shomei-ca mail show --all ですべてのメールを表示できます。",
    remedyEn: "Check the user ID (shomei-ca user list). shomei-ca mail show --all, without a user ID, shows every mail.",
  },
  MAIL_NOT_RETRYABLE: {
    status: 404, exit: 1,
    ja: "番号 {seq} の送信失敗メールはありません。",
    en: "There is no failed e-mail with number {seq}.",
    remedyJa: "shomei-ca mail status で送信失敗（failed）のメールの番号を確認してください。",
    remedyEn: "Look up the numbers of failed e-mails with: shomei-ca mail status",
  },

  // ---- revocation status (OCSP, CRL) ---------------------------------------------------
  OCSP_REQUEST_MALFORMED: {
    status: 400, exit: 1,
    ja: "OCSP 要求の形式が正しくありません: {reason}",
    en: "The OCSP request is malformed: {reason}",
    remedyJa: "OCSP クライアント（openssl ocsp、ブラウザなど）が RFC 6960 の DER 形式で要求を送っているか確認してください。GET の場合は base64 を URL エンコードしてください。",
    remedyEn: "Check that the OCSP client (openssl ocsp, a browser, …) sends a DER request as RFC 6960 defines it; with GET, URL-encode the base64.",
  },
  OCSP_RESPONSE_INVALID: {
    status: 502, exit: 1,
    ja: "OCSP 応答を信頼できません: {reason}",
    en: "The OCSP response cannot be trusted: {reason}",
    remedyJa: "このコンピューターの時計が正しいか確認し、もう一度実行してください。解決しない場合は、この表示と OCSP の URL をヘルプデスク（運用担当者）に伝えてください。",
    remedyEn: "Check this computer's clock and try again. If it persists, send this message and the OCSP URL to the helpdesk (operator).",
  },

  // ---- doctor (shomei doctor --report) ----
  REPORT_FILE_EXISTS: {
    status: 400, exit: 1,
    ja: "ファイル {file} はすでにあります。診断結果は書き出していません。",
    en: "The file {file} already exists. The report was not written.",
    remedyJa: "別のファイル名を指定するか、上書きしてよければ --force を付けてください。",
    remedyEn: "Give another file name, or add --force to replace it.",
  },
  REPORT_WRITE_FAILED: {
    status: 500, exit: 1,
    ja: "診断結果を {file} に書き出せません: {reason}",
    en: "The report cannot be written to {file}: {reason}",
    remedyJa: "書き込めるフォルダ（例: デスクトップやホームフォルダ）のファイル名を指定してください。",
    remedyEn: "Give a file name in a folder you can write to (your desktop or home folder, for example).",
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
/**
 * Values filled into the messages. A Date is a time people read: the message shows it as
 * `2027-11-05 01:58 JST` in the error's timeZone (the service's configured zone on the
 * server, the PC's own zone when none is given); JSON answers carry it as ISO 8601 (isoTimes).
 */
export type ErrorParams = Readonly<Record<string, string | number | Date>>;

function fill(template: string, params: ErrorParams, timeZone: string | undefined): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (!Object.hasOwn(params, name)) return whole;
    const v = params[name];
    return v instanceof Date ? formatTime(v, timeZone) : String(v);
  });
}

/** The one error type Shomei throws on purpose. */
export class ShomeiError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  /** The zone the message shows its times in (undefined: the zone of the machine showing it). */
  readonly timeZone: string | undefined;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown; timeZone?: string }) {
    super(fill(ERRORS[code].en, params, options?.timeZone), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ShomeiError";
    this.code = code;
    this.params = params;
    this.timeZone = options?.timeZone;
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
    return fill(lang === "ja" ? e.ja : e.en, this.params, this.timeZone);
  }

  /** What to do next, in the given language. */
  remedy(lang: Lang): string {
    const e = ERRORS[this.code];
    return fill(lang === "ja" ? e.remedyJa : e.remedyEn, this.params, this.timeZone);
  }
}

/** The times among an error's params as ISO 8601, for JSON answers (undefined when it has none). */
export function isoTimes(e: ShomeiError): Record<string, string> | undefined {
  const out = Object.entries(e.params).filter((kv): kv is [string, Date] => kv[1] instanceof Date).map(([k, d]) => [k, d.toISOString()] as const);
  return out.length === 0 ? undefined : Object.fromEntries(out);
}

export function isShomeiError(e: unknown): e is ShomeiError {
  return e instanceof ShomeiError;
}

/** Word for "what to do" in each language, shared by the CLI and the HTTP edges. */
export const REMEDY_LABEL: Record<Lang, string> = { ja: "対処", en: "What to do" };
