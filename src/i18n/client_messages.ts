/**
 * Text the issuance application (`shomei`) shows, in Japanese and English. Errors are not
 * here (see errors.ts); this is usage, prompts, progress and results.
 * Templates may contain `{name}` placeholders.
 */
import type { Lang } from "./errors.js";

const ja = {
  "usage.main": `shomei — 証明書発行アプリケーション（バージョン {version}）

使い方: shomei <コマンド> [オプション]

コマンド:
  enroll   メールで届いたユーザID とパスコードでクライアント証明書を取得する
  list     保存されている証明書を一覧表示する
  login-check  保存されている証明書とパスワードでポータルにログインできるか確かめる
  help     コマンドの使い方を表示する（例: shomei help enroll）

共通オプション:
  --store DIR    証明書ストアの場所（既定: $SHOMEI_STORE、なければ $XDG_CONFIG_HOME/shomei、なければ ~/.config/shomei）
  --lang ja|en   表示言語（既定: 環境の言語設定。日本語以外の設定なら英語）
  -h, --help     使い方を表示する
  --version      バージョンを表示する

例:
  shomei enroll --server https://ca.example.jp --user a0000001
  shomei list

終了コード:
  0  成功
  1  利用者の対処が必要（表示される「対処」に従ってください）
  2  コマンドの指定誤り
  3  内部エラー（不具合として報告してください）
`,
  "usage.enroll": `使い方: shomei enroll --server URL --user ユーザID [オプション]

メールで届いたユーザID と一回限りのパスコードで、クライアント証明書を取得します。
鍵ペアはこの PC で生成され、秘密鍵が外部に送られることはありません。
最初にサーバーのルート証明書とフィンガープリントを表示します。案内されたフィンガープリントと
一致することを確認してから信頼してください。

オプション:
  --server URL            認証局（EST サーバー）の URL（例: https://ca.example.jp）
  --user ID               ユーザID（例: a0000001）
  --passcode-stdin        パスコードを標準入力から読む（指定しなければ端末で入力）
  --root-fingerprint FP   ルート証明書の SHA-256 フィンガープリント。一致すれば確認を省略し、
                          一致しなければ何も保存せずに中止する
  --key KIND              鍵の種類: ec-p256（既定）、ec-p384、rsa-2048、rsa-3072
  --store DIR             証明書ストアの場所
  --lang ja|en            表示言語

例:
  shomei enroll --server https://ca.example.jp --user a0000001
  printf '%s\\n' 'ABCD-EFGH-JKMN-PQRS' | shomei enroll --server https://ca.example.jp \\
      --user a0000001 --passcode-stdin --root-fingerprint 'AB:CD:…:EF'

接続が途中で切れたときは、10 分以内に同じコマンドをもう一度実行してください。同じ申請を
再送するので、パスコードが無駄になることはありません。
プロキシは環境変数 HTTPS_PROXY（例: http://利用者名:パスワード@proxy.example.co.jp:8080）と
NO_PROXY で指定します。

終了コード:
  0  証明書を取得して保存した
  1  対処が必要（パスコードの誤り、ルート証明書の不一致、接続できない など）
  2  コマンドの指定誤り
  3  内部エラー
`,
  "usage.list": `使い方: shomei list [--store DIR] [--json] [--lang ja|en]

証明書ストアにある証明書を、ユーザID ごとに有効期限の遅い順で表示します。
状態は「有効」「期限間近」（残り {expiringDays} 日以内）「期限切れ」のいずれかです。
「*」の付いた証明書が、そのユーザID で現在使う証明書（有効期限が最も遅い有効な証明書）です。

オプション:
  --json         JSON で出力する（証明書ごとに userId, serial, notAfter, status, current, fingerprint など）
  --store DIR    証明書ストアの場所
  --lang ja|en   表示言語

例:
  shomei list
  shomei list --json

終了コード:
  0  一覧を表示した（証明書がない場合も含む）
  1  証明書ストアを読めない
  2  コマンドの指定誤り
  3  内部エラー
`,
  "usage.loginCheck": `使い方: shomei login-check --server URL [--user ユーザID] [--store DIR] [--password-stdin] [--lang ja|en]

保存されている証明書とパスワードで、オンラインシステム（ポータル）に実際にログインできるかを確かめます。
パスワードは表示されない入力欄で尋ねます（--password-stdin なら標準入力の 1 行目）。
確認のためのログインなので、パスワードの変更はしません。間違ったパスワードはロックの回数に数えられます。

オプション:
  --server URL       ポータルのアドレス（例: https://ca.example.jp:8444、shomei-ca serve の "Portal:" の行）
  --user ID          ユーザID（ストアに複数のユーザID があるときに指定）
  --password-stdin   パスワードを標準入力から読む
  --store DIR        証明書ストアの場所

例:
  shomei login-check --server https://ca.example.jp:8444

終了コード:
  0  ログインできる（初期パスワードのままなら、その旨と変更期限を表示）
  1  ログインできない（理由と対処を表示）
  2  コマンドの指定誤り
  3  内部エラー
`,
  "login.using": "ユーザID {userId} の証明書（シリアル {serial}、有効期限 {notAfter}）で {server} に接続します。",
  "login.passwordPrompt": "パスワード（入力した文字は表示されません）: ",
  "login.ok": "ログインできます（ユーザID {userId}）。",
  "login.changeDue": "ただし初期パスワードのままです。ブラウザで最初にログインしたとき、新しいパスワードへの変更を求められます（初期パスワードの期限: {expires}）。",
  "login.noChangeDue": "パスワードの変更は必要ありません。",
  "enroll.fetchingRoot": "{server} からルート証明書を取得しています…",
  "enroll.rootOffered": `サーバーのルート証明書:
  名前:     {subject}
  有効期限: {notAfter}
  SHA-256 フィンガープリント:
    {fingerprint}`,
  "enroll.rootChanged": "注意: このサーバーについて以前信頼したルート証明書とは異なります（以前のフィンガープリント: {previous}）。",
  "enroll.checkFingerprint": "運用担当者から案内されたフィンガープリントと 1 文字ずつ一致することを確認してください。",
  "enroll.trustPrompt": "このルート証明書を信頼しますか? [y/N] ",
  "enroll.rootTrusted.fingerprint-given": "ルート証明書のフィンガープリントが指定された値と一致しました。",
  "enroll.rootTrusted.already-trusted": "このサーバーのルート証明書は信頼済みです。",
  "enroll.rootTrusted.confirmed": "ルート証明書を信頼しました。",
  "enroll.passcodePrompt": "パスコード（メールに記載。入力した文字は表示されません）: ",
  "enroll.resuming": "中断した申請（{time} に作成）を同じ鍵と CSR で再送します。",
  "enroll.generatingKey": "この PC で鍵ペア（{keyKind}）を生成しています…",
  "enroll.sending": "証明書を申請しています…",
  "enroll.done": "ユーザID {userId} の証明書（シリアル {serial}、有効期限 {notAfter}）を保存しました: 証明書 {cert}、秘密鍵 {key}、チェーン {chain}",
  "enroll.rootSaved": "ルート証明書を保存しました: {root}",
  "enroll.next": "次に: ブラウザを再起動し、オンラインシステムにこの証明書とメールの初期パスワードでログインしてください。保存した証明書は shomei list で確認できます。",
  "list.store": "証明書ストア: {store}",
  "list.empty": "証明書ストア {store} に証明書はありません。\n取得するには: shomei enroll --server URL --user ユーザID",
  "list.col.userId": "ユーザID",
  "list.col.serial": "シリアル番号",
  "list.col.notAfter": "有効期限",
  "list.col.daysLeft": "残り日数",
  "list.col.status": "状態",
  "list.status.valid": "有効",
  "list.status.expiring": "期限間近",
  "list.status.expired": "期限切れ",
  "list.legend": "* = そのユーザID で現在使う証明書（有効期限が最も遅い有効な証明書）",
  "cli.unknownCommand": "「{command}」というコマンドはありません",
  "cli.unexpectedArgument": "余分な引数「{arg}」があります",
} as const;

type MessageKey = keyof typeof ja;

const en: Record<MessageKey, string> = {
  "usage.main": `shomei — the certificate issuance application (version {version})

Usage: shomei <command> [options]

Commands:
  enroll   obtain a client certificate with the user ID and passcode from the e-mail
  list     list the certificates in the store
  login-check  check that the stored certificate and your password log in to the portal
  help     show how to use a command (e.g. shomei help enroll)

Common options:
  --store DIR    where the certificate store is (default: $SHOMEI_STORE, else $XDG_CONFIG_HOME/shomei, else ~/.config/shomei)
  --lang ja|en   language (default: from the locale; Japanese unless it says otherwise)
  -h, --help     show usage
  --version      show the version

Examples:
  shomei enroll --server https://ca.example.com --user a0000001
  shomei list

Exit codes:
  0  success
  1  you need to act (follow "What to do" in the message)
  2  the command was not used correctly
  3  internal error (please report it as a bug)
`,
  "usage.enroll": `Usage: shomei enroll --server URL --user ID [options]

Obtains a client certificate with the user ID and one-time passcode sent to you by e-mail.
The key pair is made on this PC; the private key never leaves it.
First the server's root certificate and its fingerprint are shown: trust it only after checking
that the fingerprint matches the one you were given.

Options:
  --server URL            the certificate authority's (EST server's) URL, e.g. https://ca.example.com
  --user ID               your user ID, e.g. a0000001
  --passcode-stdin        read the passcode from standard input (otherwise it is asked on the terminal)
  --root-fingerprint FP   the root certificate's SHA-256 fingerprint: when it matches no question is
                          asked; when it does not, enrollment stops and nothing is stored
  --key KIND              key kind: ec-p256 (default), ec-p384, rsa-2048, rsa-3072
  --store DIR             where the certificate store is
  --lang ja|en            language

Examples:
  shomei enroll --server https://ca.example.com --user a0000001
  printf '%s\\n' 'ABCD-EFGH-JKMN-PQRS' | shomei enroll --server https://ca.example.com \\
      --user a0000001 --passcode-stdin --root-fingerprint 'AB:CD:…:EF'

If the connection drops, run the same command again within 10 minutes: it resends the same
request, so the passcode is not wasted.
A proxy is taken from HTTPS_PROXY (e.g. http://USER:PASSWORD@proxy.example.com:8080) and NO_PROXY.

Exit codes:
  0  the certificate was obtained and stored
  1  you need to act (wrong passcode, root fingerprint mismatch, server unreachable, ...)
  2  the command was not used correctly
  3  internal error
`,
  "usage.list": `Usage: shomei list [--store DIR] [--json] [--lang ja|en]

Lists the certificates in the store, per user ID, latest expiry first.
The status is "valid", "expiring" (within {expiringDays} days) or "expired".
"*" marks the certificate to use now for each user ID (the valid one that expires last).

Options:
  --json         print JSON (one object per certificate: userId, serial, notAfter, status, current, fingerprint, ...)
  --store DIR    where the certificate store is
  --lang ja|en   language

Examples:
  shomei list
  shomei list --json

Exit codes:
  0  listed (also when there are no certificates)
  1  the store cannot be read
  2  the command was not used correctly
  3  internal error
`,
  "usage.loginCheck": `Usage: shomei login-check --server URL [--user ID] [--store DIR] [--password-stdin] [--lang ja|en]

Checks that you can really log in to the online system (portal) with the stored certificate and your password.
The password is asked without echo (or read from the first line of stdin with --password-stdin).
It only checks: the password is not changed. A wrong password counts toward the lock like any login.

Options:
  --server URL       the portal's address (e.g. https://ca.example.com:8444; the "Portal:" line of shomei-ca serve)
  --user ID          the user ID (when the store holds more than one)
  --password-stdin   read the password from standard input
  --store DIR        where the certificate store is

Example:
  shomei login-check --server https://ca.example.com:8444

Exit codes:
  0  login works (when the password is still the initial one, says so and when it expires)
  1  login does not work (the reason and what to do are shown)
  2  wrong usage
  3  internal error
`,
  "login.using": "Connecting to {server} with the certificate of user ID {userId} (serial {serial}, expires {notAfter}).",
  "login.passwordPrompt": "Password (what you type is not shown): ",
  "login.ok": "Login works (user ID {userId}).",
  "login.changeDue": "But the password is still the initial one: the first login in the browser will ask you to choose a new one (the initial password expires {expires}).",
  "login.noChangeDue": "No password change is due.",
  "enroll.fetchingRoot": "Fetching the root certificate from {server} …",
  "enroll.rootOffered": `The server's root certificate:
  Name:      {subject}
  Expires:   {notAfter}
  SHA-256 fingerprint:
    {fingerprint}`,
  "enroll.rootChanged": "Warning: this is not the root certificate trusted for this server before (previous fingerprint: {previous}).",
  "enroll.checkFingerprint": "Check that it matches, character by character, the fingerprint the operator gave you.",
  "enroll.trustPrompt": "Trust this root certificate? [y/N] ",
  "enroll.rootTrusted.fingerprint-given": "The root certificate's fingerprint matches the one given.",
  "enroll.rootTrusted.already-trusted": "The root certificate for this server is already trusted.",
  "enroll.rootTrusted.confirmed": "The root certificate is now trusted.",
  "enroll.passcodePrompt": "Passcode (from the e-mail; what you type is not shown): ",
  "enroll.resuming": "Resending the interrupted request (made at {time}) with the same key and CSR.",
  "enroll.generatingKey": "Making a key pair ({keyKind}) on this PC …",
  "enroll.sending": "Requesting the certificate …",
  "enroll.done": "Stored the certificate for user ID {userId} (serial {serial}, expires {notAfter}): certificate {cert}, private key {key}, chain {chain}",
  "enroll.rootSaved": "Stored the root certificate: {root}",
  "enroll.next": "Next: restart the browser and log in to the online system with this certificate and the initial password from the e-mail. See the stored certificates with: shomei list",
  "list.store": "Certificate store: {store}",
  "list.empty": "There are no certificates in the store {store}.\nTo obtain one: shomei enroll --server URL --user ID",
  "list.col.userId": "User ID",
  "list.col.serial": "Serial",
  "list.col.notAfter": "Expires",
  "list.col.daysLeft": "Days left",
  "list.col.status": "Status",
  "list.status.valid": "valid",
  "list.status.expiring": "expiring",
  "list.status.expired": "expired",
  "list.legend": "* = the certificate to use now for the user ID (the valid one that expires last)",
  "cli.unknownCommand": "there is no command \"{command}\"",
  "cli.unexpectedArgument": "unexpected argument \"{arg}\"",
};

const CATALOG: Readonly<Record<Lang, Readonly<Record<MessageKey, string>>>> = { ja, en };

export type ClientMessageKey = MessageKey;

/** The message in the given language, with `{name}` placeholders filled. */
export function msg(lang: Lang, key: MessageKey, params: Readonly<Record<string, string | number>> = {}): string {
  return CATALOG[lang][key].replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}
