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
  prune    古い証明書（置き換え済み・期限切れ）を削除する。現在使う証明書は残す
  root     ルート証明書の状態を確認する・インストールする・信頼を取り消す
  export   証明書と秘密鍵をパスワード付きファイル（.p12）にバックアップする
  import   バックアップ（.p12 / .pfx）から証明書と秘密鍵を読み込む
  login-check  保存されている証明書とパスワードでポータルにログインできるか確かめる
  renew    有効期限が近づいた証明書を、今の証明書を使って更新する
  doctor   うまくいかないときに原因を調べ、対処方法を表示する（問い合わせ用の診断結果も作れます）
  help     コマンドの使い方を表示する（例: shomei help enroll）

共通オプション:
  --proxy URL    サーバーへの接続に使うプロキシ（例: http://利用者名:パスワード@proxy.example.jp:8080）。
                 指定しなければ環境変数 HTTPS_PROXY と NO_PROXY に従います（enroll, renew, login-check）
  --store nss:DIR
                 NSS データベース（Chromium・Chrome が使う ~/.pki/nssdb など）を証明書ストアにする。
                 ブラウザが証明書と秘密鍵をそのまま使えます（certutil と pk12util が必要: libnss3-tools）
  --store DIR    フォルダ（PEM ファイル）を証明書ストアにする
                 既定: $SHOMEI_STORE。なければ、~/.pki/nssdb があればそれ（nss:~/.pki/nssdb）。
                 なければ $XDG_CONFIG_HOME/shomei、それもなければ ~/.config/shomei
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
  "usage.list": `使い方: shomei list [--user ユーザID] [--store DIR] [--check-revocation] [--json] [--lang ja|en]

証明書ストアにある証明書を、ユーザID ごとに有効期限の遅い順で表示します。
「*」の付いた証明書が、そのユーザID で現在使う証明書（有効期限が最も遅い有効な証明書）です。
状態:
  有効          現在使う証明書
  期限間近      現在使う証明書で、有効期限まで {expiringDays} 日以内（shomei renew で更新してください）
  置き換え済み  まだ有効期限内だが、同じユーザID のより新しい証明書がある（shomei prune で削除できる）
  期限切れ      有効期限を過ぎた（ログインには使えない）
  失効          認証局が失効させた（--check-revocation のときだけ分かる。新しいパスコードで取得し直してください）

オプション:
  --user ID      このユーザID の証明書だけを表示する
  --check-revocation  認証局の OCSP に失効していないか問い合わせる（ネットワークを使う。プロキシは HTTPS_PROXY / HTTP_PROXY）
  --json         JSON で出力する（証明書ごとに userId, serial, notBefore, notAfter, daysLeft, status,
                 current, fingerprint, issuer, server, certPath, keyPath, chainPath）
  --store DIR    証明書ストアの場所
  --lang ja|en   表示言語

例:
  shomei list
  shomei list --user a0000001
  shomei list --json

終了コード:
  0  一覧を表示した（証明書がない場合も含む）
  1  証明書ストアを読めない
  2  コマンドの指定誤り
  3  内部エラー
`,
  "usage.doctor": `使い方: shomei doctor [--server URL] [--user ユーザID] [--store DIR] [--proxy URL] [--report FILE [--force]] [--json] [--lang ja|en]

証明書やログインがうまくいかないときに、原因を順番に調べて対処方法を表示します。
調べる内容: サーバー名の解決、接続、プロキシ（認証が必要か）、TLS（通信を差し替えるプロキシがないか）、
時計のずれ、アプリケーションのバージョン、証明書ストア、ルート証明書、証明書の有無・有効期限・失効・秘密鍵、
同じユーザID の古い証明書。前の確認で問題が見つかり意味のない確認は「省略」と表示します。

オプション:
  --server URL    確認するサーバー（既定: 証明書を取得したときのサーバー）
  --user ID       確認するユーザID（ストアに複数のユーザID があるときに指定）
  --store DIR     証明書ストアの場所（nss:DIR で NSS データベース）
  --proxy URL     使うプロキシ（既定: 環境変数 HTTPS_PROXY と NO_PROXY）
  --report FILE   問い合わせに添付する診断結果をファイルに書き出す（秘密鍵・パスワード・パスコードは含みません）
  --force         --report のファイルがすでにあっても上書きする
  --json          結果を JSON で表示する

例:
  shomei doctor
  shomei doctor --report shomei-report.txt

終了コード:
  0  問題なし（「注意」はあってもよい）
  1  問題あり（表示される「対処」に従ってください）
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
  "login.portalFound": "{server} はポータルではありません。サービスの案内（/.well-known/shomei.json）にあるポータル {portal} に接続します。",
  "login.passwordPrompt": "パスワード（入力した文字は表示されません）: ",
  "user.chooseHeader": "このパソコンには複数のユーザIDの証明書があります:",
  "user.chooseItem": "  {n}) {userId}  {name}  有効期限 {notAfter}",
  "user.choosePrompt": "使うユーザIDの番号 (1-{max}): ",
  "login.ok": "ログインできます（ユーザID {userId}）。",
  "login.changeDue": "ただし初期パスワードのままです。ブラウザで最初にログインしたとき、新しいパスワードへの変更を求められます（初期パスワードの期限: {expires}）。",
  "login.noChangeDue": "パスワードの変更は必要ありません。",
  "usage.renew": `使い方: shomei renew [--server URL] [--user ユーザID] [--key 種類] [--store DIR] [--lang ja|en]

有効期限が近づいた証明書を、今の証明書を使って更新します（パスコードは不要です）。
新しい鍵ペアをこの PC で作り、新しい証明書を保存します。古い証明書は残るので、
新しい証明書でログインできることを確かめてから shomei prune で削除してください。
更新は有効期限の一定日数前（通常 30 日前。運用者の設定）から受け付けます。期限切れや失効した証明書は更新できません
（その場合は運用担当者にパスコードの再発行を依頼し、shomei enroll で取得し直します）。

オプション:
  --server URL   証明書を取得したサーバー（既定: 証明書を取得したときのサーバー。分からないときは端末で尋ねます）
  --user ID      ユーザID（ストアに複数のユーザID があるときに指定）
  --key KIND     新しい鍵の種類（既定: 今の鍵と同じ。ec-p256, ec-p384, rsa-2048, rsa-3072）
  --store DIR    証明書ストアの場所

例:
  shomei renew

終了コード:
  0  更新した証明書を保存した
  1  対処が必要（まだ更新期間前、期限切れ、失効、接続できない など）
  2  コマンドの指定誤り
  3  内部エラー
`,
  "renew.current": "ユーザID {userId} の証明書（シリアル {serial}、有効期限 {notAfter}）を更新します。",
  "renew.sending": "{url} に更新を申請しています…",
  "renew.serverUnknown": "ユーザID {userId} の証明書をどのサーバーで更新するかが記録されていません（--server なしでバックアップから読み込んだ証明書です）。サーバーのアドレスはパスコードのメールに記載されています。",
  "renew.serverPrompt": "サーバーのアドレス (https://…): ",
  "renew.done": "新しい証明書（シリアル {serial}、有効期限 {notAfter}）を保存しました: 証明書 {cert}、秘密鍵 {key}",
  "renew.next": "ブラウザを再起動して新しい証明書でログインできることを確かめたら、古い証明書（シリアル {previous}）を shomei prune で削除できます。",
  "usage.export": `使い方: shomei export --out ファイル [--user ユーザID] [--profile modern|compatible] [--password-stdin] [--force] [--store DIR] [--lang ja|en]

今使っている証明書を、秘密鍵と認証局の証明書と一緒に、パスワード付きのファイル（PKCS#12: .p12 / .pfx）に書き出します。
別の PC、USB メモリ、クラウドなどに保管し、shomei import や Windows・macOS・Firefox で読み込めます。
パスワードは 2 回尋ねます（--password-stdin なら標準入力の 1 行目）。このパスワードを忘れるとバックアップは開けません。

オプション:
  --out FILE           書き出すファイル（既にあれば上書きしません）
  --profile modern     既定。AES-256 で暗号化（Windows 10 1709 以降、macOS 13 以降、OpenSSL 3、Firefox）
  --profile compatible 古い環境向け（Windows Server 2016 以前、macOS 12 以前は AES のファイルを読めません）
  --force              既存のファイルを置き換える
  --user ID            ユーザID（ストアに複数あるとき）

例:
  shomei export --out ~/a0000001.p12
  shomei export --out a0000001-old-windows.pfx --profile compatible

Windows では .p12 / .pfx ファイルをダブルクリックすると「証明書のインポート ウィザード」が開きます（現在のユーザー）。
macOS では「キーチェーンアクセス」にドラッグします。

終了コード: 0 書き出した、1 対処が必要、2 指定の誤り、3 内部エラー
`,
  "usage.import": `使い方: shomei import ファイル [--server URL] [--password-stdin] [--root-fingerprint FP | --yes] [--store DIR] [--lang ja|en]

バックアップ（PKCS#12: .p12 / .pfx、OpenSSL・NSS・Windows で作ったものも）から証明書と秘密鍵を読み込みます。
ファイルの中のルート証明書をまだ信頼していない場合は、発行者の名前と SHA-256 フィンガープリントを表示し、
信頼してよいかを尋ねます。運用担当者から案内されたフィンガープリントと一致することを確認してください。

オプション:
  --server URL       証明書を取得したサーバー（更新に使います。省略すると、ストアが知らなければ shomei renew のときに尋ねます）
  --password-stdin   ファイルのパスワードを標準入力から読む
  --root-fingerprint FP  案内されたルート証明書のフィンガープリント（一致すれば信頼する）
  --yes              ルート証明書の確認に「はい」と答える（内容を確認済みのときだけ）

例:
  shomei import ~/a0000001.p12 --server https://ca.example.jp:8443

終了コード: 0 読み込んだ（既にあった場合も）、1 対処が必要、2 指定の誤り、3 内部エラー
`,
  "export.passwordPrompt": "バックアップのパスワード（入力した文字は表示されません）: ",
  "export.passwordAgain": "もう一度入力してください: ",
  "export.warning": "注意: このパスワードを忘れると、バックアップは誰にも（運用担当者にも）開けません。パスワードはファイルとは別の安全な場所に控えてください。",
  "export.done": "ユーザID {userId} の証明書（シリアル {serial}、有効期限 {notAfter}）と秘密鍵、認証局の証明書 {chain} 枚を {file} に書き出しました（{profile}）。",
  "import.passwordPrompt": "ファイルのパスワード（入力した文字は表示されません）: ",
  "import.found": "ファイルの中身: ユーザID {userId} の証明書（シリアル {serial}、有効期限 {notAfter}、発行者 {issuer}）と秘密鍵。",
  "import.rootOffered": `ファイルに入っている認証局（ルート証明書）:
  名前（発行者）: {subject}
  SHA-256 フィンガープリント:
    {fingerprint}`,
  "import.otherCa": "警告: この証明書は、このストアが信頼している認証局とは別の認証局が発行したものです。これまでのサービスのオンラインシステムでは、この証明書ではログインできません。",
  "import.trustPrompt": "このルート証明書を信頼して、証明書を読み込みますか? [y/N] ",
  "import.rootSaved": "ルート証明書を {server} 用に信頼しました: {path}",
  "import.rootSavedNoServer": "ルート証明書を信頼しました（サーバーはまだ不明です）: {path}",
  "import.serverLater": "この証明書を更新するサーバーはまだ記録されていません。shomei renew のときに尋ねます（または shomei renew --server https://… と指定してください。アドレスはパスコードのメールに記載されています）。",
  "server.unknown": "このサービスのサーバー（まだ不明）",
  "import.already": "この証明書は既にストアにあります。新しく保存したものはありません。",
  "import.noRoot": "注意: ファイルにルート証明書が入っておらず、このストアはこの証明書の認証局のルート証明書をまだ信頼していません。このままでは login-check、renew、doctor でサーバーを確認できません。運用担当者に案内されたサーバーで次を実行してください: shomei root install --server URL",
  "import.done": "読み込みました: 証明書 {cert}、秘密鍵 {key}。ブラウザを再起動すると使えます。",
  "import.done.file": "読み込みました: 証明書 {cert}、秘密鍵 {key}（ファイルの証明書ストアです。ブラウザで使うには、ブラウザに .p12 ファイルを読み込むか、--store nss:$HOME/.pki/nssdb を指定して読み込んでください）。",
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
  "enroll.next.file": "次に: 証明書はファイルに保存しました（ブラウザはこのファイルを直接は使いません）。shomei export --out ファイル名.p12 で書き出してブラウザに読み込むか、ブラウザの証明書ストアに取得し直してください（shomei enroll … --store nss:$HOME/.pki/nssdb）。その後、オンラインシステムにこの証明書とメールの初期パスワードでログインしてください。保存した証明書は shomei list で確認できます。",
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
  "list.status.superseded": "置き換え済み",
  "list.status.revoked": "失効",
  "list.revocation.notChecked": "注意: 証明書 {serial} の失効は確認できませんでした: {reason}",
  "list.revocation.noIssuer": "発行元（中間認証局）の証明書が証明書ストアにありません",
  "list.revocation.noResponder": "証明書に OCSP の問い合わせ先がありません",
  "list.emptyUser": "証明書ストア {store} にユーザID {userId} の証明書はありません。",
  "list.pruneHint": "古い証明書（置き換え済み・期限切れ）が {count} 件あります。shomei prune で削除できます（現在使う証明書は残ります）。",
  "list.serverUnknown": "ユーザID {userId} の証明書は、更新に使うサーバーが不明です（--server なしで読み込んだため）。shomei renew のときに尋ねます（または shomei renew --server https://…）。",
  "usage.prune": `使い方: shomei prune [--user ユーザID] [--store DIR] [--yes] [--lang ja|en]

同じユーザID の古い証明書を、秘密鍵・チェーンとともに証明書ストアから削除します。
削除するのは、より新しい有効な証明書がある「置き換え済み」の証明書と、「期限切れ」の証明書です。
現在使う証明書（shomei list で「*」の付いたもの）は削除しません。
有効な証明書が 1 つもないユーザID の証明書は、期限切れでも削除しません。
削除する証明書と理由を表示してから「削除しますか? [y/N]」と確認します。

オプション:
  --user ID      このユーザID の証明書だけを対象にする
  --yes          確認せずに削除する（端末のないスクリプトから実行するときに必要）
  --store DIR    証明書ストアの場所
  --lang ja|en   表示言語

例:
  shomei prune
  shomei prune --user a0000001 --yes

終了コード:
  0  削除した（削除するものがなかった場合も含む）
  1  「y」と答えなかった（何も削除していない）、または証明書ストアを読み書きできない
  2  コマンドの指定誤り（端末がなく --yes もない場合を含む）
  3  内部エラー
`,
  "prune.nothing": "削除する証明書はありません。",
  "prune.header": "次の証明書を削除します（秘密鍵とチェーンも削除します）:",
  "prune.item": "  {userId}  シリアル {serial}  有効期限 {notAfter}  理由: {reason}",
  "prune.reason.superseded": "より新しい有効な証明書があるため（置き換え済み）",
  "prune.reason.expired": "有効期限が切れているため",
  "prune.reason.revoked": "失効しているため",
  "prune.keep": "残す証明書（現在使う証明書）: {userId}  シリアル {serial}  有効期限 {notAfter}",
  "prune.keptNoValid": "ユーザID {userId} の証明書 {count} 件は残します: 有効な証明書が 1 つもないため、期限切れの証明書も削除しません。新しい証明書は shomei enroll で取得してください。",
  "prune.confirm": "{count} 件の証明書を削除しますか? [y/N] ",
  "prune.action": "証明書の削除",
  "prune.removed": "削除しました: {userId}  シリアル {serial}",
  "prune.done": "{count} 件の証明書を削除しました。",
  "usage.root": `使い方: shomei root status [--server URL] [--store DIR] [--lang ja|en]
        shomei root install --server URL [--root-fingerprint FP] [--file PEM] [--store DIR] [--lang ja|en]
        shomei root remove [--server URL] [--yes] [--store DIR] [--lang ja|en]

サーバー（認証局）のルート証明書を、この証明書ストアで信頼するかどうかを管理します。
ルート証明書は、接続先が本物のサーバーかどうかを確かめるために使います（enroll、login-check、更新）。

  status   サーバーごとに、ルート証明書を信頼しているかと、その名前・有効期間・SHA-256 フィンガープリントを表示する
           （--server を省略すると、証明書ストアが知っているすべてのサーバー）
  install  ルート証明書をインストールして信頼する。サーバーから取得する（既定）か、--file のファイルを読む。
           信頼する前に名前と SHA-256 フィンガープリントを表示します。運用担当者から案内されたものと
           1 文字ずつ一致することを確認してから「y」と答えてください。--root-fingerprint を指定すると、
           一致したときは確認を省略し、一致しなければ何も信頼せずに中止します。
           --yes ではこの確認を省略できません。
  remove   サーバーのルート証明書の信頼を取り消す（確認を求める。--yes で省略）。証明書と秘密鍵は残ります。
           取り消した後は、login-check や更新の前にもう一度 install が必要です。

オプション:
  --server URL            サーバーの URL（例: https://ca.example.jp）
  --root-fingerprint FP   (install) 案内された SHA-256 フィンガープリント（AB:CD:… の形式）
  --file PEM              (install) ルート証明書のファイル（PEM または DER）。サーバーには接続しない
  --yes                   (remove) 確認せずに取り消す
  --store DIR             証明書ストアの場所
  --lang ja|en            表示言語

例:
  shomei root status
  shomei root install --server https://ca.example.jp --root-fingerprint 'AB:CD:…:EF'
  shomei root install --server https://ca.example.jp --file root.pem
  shomei root remove --server https://ca.example.jp

終了コード:
  0  status: 指定したサーバー（省略時はすべてのサーバー）のルート証明書を信頼している
     install: 信頼した（信頼済みだった場合も含む）。remove: 取り消した（信頼していなかった場合も含む）
  1  status: 信頼していないサーバーがある。install: フィンガープリントの不一致、確認されなかった、
     取得できない など。remove: 「y」と答えなかった
  2  コマンドの指定誤り（remove で端末がなく --yes もない場合を含む）
  3  内部エラー
`,
  "root.status.trusted": "{server}: ルート証明書を信頼しています",
  "root.status.expired": "{server}: 信頼しているルート証明書が有効期間外です（このサーバーの確認に使えません）",
  "root.status.damaged": "{server}: ルート証明書の記録はありますが、ファイルがないか変更されているため信頼していません（記録されたフィンガープリント: {fingerprint}）",
  "root.status.none": "{server}: ルート証明書を信頼していません",
  "root.status.withoutServer": "サーバー不明: バックアップの読み込みで信頼したルート証明書です（shomei renew でサーバーが分かると、そのサーバー用として記録します）",
  "root.details": `  名前:     {subject}
  発行者:   {issuer}
  有効期間: {notBefore} 〜 {notAfter}
  SHA-256 フィンガープリント:
    {fingerprint}`,
  "root.installHint": "  インストールするには: shomei root install --server {server}",
  "root.noServers": "証明書ストア {store} には、サーバーの記録がありません。\nルート証明書をインストールするには: shomei root install --server URL",
  "root.reading": "{file} からルート証明書を読み込んでいます…",
  "root.offered": "{server} 用のルート証明書:",
  "root.securityWarning": `セキュリティ警告: 認証局（ルート証明書）を信頼しようとしています。信頼すると、この認証局が
発行した証明書を持つサーバーを {server} として信用します。上の名前（発行者）と SHA-256 フィンガープリントが、
運用担当者から案内されたものと 1 文字ずつ一致することを確認してください。一致しない場合は「n」と答え、
ヘルプデスクに連絡してください。`,
  "root.fingerprintMatched": "ルート証明書のフィンガープリントが指定された値と一致しました。",
  "root.installed": "{server} 用のルート証明書として信頼しました: {path}",
  "root.replaced": "以前信頼していたルート証明書（フィンガープリント {previous}）と置き換えました。",
  "root.alreadyTrusted": "このルート証明書は {server} 用に信頼済みです。変更はありません。",
  "root.removeWhat": "{server} 用のルート証明書の信頼を取り消します:",
  "root.removeWarning": "取り消すと、shomei login-check や証明書の更新で {server} を確認できなくなります。その前に shomei root install でもう一度インストールしてください。保存されている証明書と秘密鍵はそのまま残ります。",
  "root.removePrompt": "信頼を取り消しますか? [y/N] ",
  "root.removeAction": "ルート証明書の信頼の取り消し",
  "root.removed": "{server} 用のルート証明書の信頼を取り消しました。",
  "root.notTrusted": "{server} 用に信頼しているルート証明書はありません。変更はありません。",
  "root.noneTrusted": "証明書ストア {store} で信頼しているルート証明書はありません。変更はありません。",
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
  prune    remove old (superseded and expired) certificates; the current one stays
  root     check, install or remove the trusted root certificate
  export   back up the certificate and key to a password-protected file (.p12)
  import   read a certificate and key from a backup (.p12 / .pfx)
  login-check  check that the stored certificate and your password log in to the portal
  renew    renew a certificate close to expiry, using the current certificate
  doctor   find why something does not work and say what to do (also writes a report for the helpdesk)
  help     show how to use a command (e.g. shomei help enroll)

Common options:
  --proxy URL    the proxy for connections to the server (e.g. http://USER:PASSWORD@proxy.example.com:8080);
                 without it HTTPS_PROXY and NO_PROXY apply (enroll, renew, login-check)
  --store nss:DIR
                 use an NSS database as the certificate store (e.g. ~/.pki/nssdb, which Chromium and
                 Chrome use): the browser uses the certificate and key from there directly
                 (needs certutil and pk12util: libnss3-tools)
  --store DIR    use a folder (PEM files) as the certificate store
                 default: $SHOMEI_STORE, else nss:~/.pki/nssdb when ~/.pki/nssdb exists,
                 else $XDG_CONFIG_HOME/shomei, else ~/.config/shomei
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
  "usage.list": `Usage: shomei list [--user ID] [--store DIR] [--check-revocation] [--json] [--lang ja|en]

Lists the certificates in the store, per user ID, latest expiry first.
"*" marks the certificate to use now for each user ID (the valid one that expires last).
Status:
  valid       the current certificate
  expiring    the current certificate, within {expiringDays} days of its expiry (renew it with shomei renew)
  superseded  not expired yet, but a newer certificate for the same user ID exists (shomei prune removes it)
  expired     past its expiry (it cannot be used to log in)
  revoked     revoked by the CA (known only with --check-revocation; enroll again with a new passcode)

Options:
  --user ID      list only this user ID's certificates
  --check-revocation  ask the CA's OCSP responder whether each certificate is revoked (uses the network; proxy from HTTPS_PROXY / HTTP_PROXY)
  --json         print JSON (one object per certificate: userId, serial, notBefore, notAfter, daysLeft, status,
                 current, fingerprint, issuer, server, certPath, keyPath, chainPath)
  --store DIR    where the certificate store is
  --lang ja|en   language

Examples:
  shomei list
  shomei list --user a0000001
  shomei list --json

Exit codes:
  0  listed (also when there are no certificates)
  1  the store cannot be read
  2  the command was not used correctly
  3  internal error
`,
  "usage.doctor": `Usage: shomei doctor [--server URL] [--user ID] [--store DIR] [--proxy URL] [--report FILE [--force]] [--json] [--lang ja|en]

When getting a certificate or logging in does not work, finds the cause step by step and says what to do.
It checks: the server's name, the connection, the proxy (and whether it wants credentials), TLS (whether a
proxy replaces the server's certificate), the clock difference, the application's version, the certificate
store, the root certificate, the certificate (present, expiry, revocation, private key), and old certificates
of the same user ID. A check that an earlier problem makes meaningless is shown as "skipped".

Options:
  --server URL    the server to check (default: the one the certificate was obtained from)
  --user ID       the user ID to check (when the store holds more than one)
  --store DIR     where the certificate store is (nss:DIR for an NSS database)
  --proxy URL     the proxy to use (default: HTTPS_PROXY and NO_PROXY)
  --report FILE   write the results to a file to attach to your inquiry (no private key, password or passcode)
  --force         replace the --report file if it exists
  --json          print the results as JSON

Examples:
  shomei doctor
  shomei doctor --report shomei-report.txt

Exit codes:
  0  no problem (warnings allowed)
  1  problems found (follow "What to do")
  2  wrong usage
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
  "login.portalFound": "{server} is not the portal; connecting to the portal {portal} named in the service's description (/.well-known/shomei.json).",
  "login.passwordPrompt": "Password (what you type is not shown): ",
  "user.chooseHeader": "This PC holds certificates of several user IDs:",
  "user.chooseItem": "  {n}) {userId}  {name}  expires {notAfter}",
  "user.choosePrompt": "Number of the user ID to use (1-{max}): ",
  "login.ok": "Login works (user ID {userId}).",
  "login.changeDue": "But the password is still the initial one: the first login in the browser will ask you to choose a new one (the initial password expires {expires}).",
  "login.noChangeDue": "No password change is due.",
  "usage.renew": `Usage: shomei renew [--server URL] [--user ID] [--key KIND] [--store DIR] [--lang ja|en]

Renews a certificate that is close to expiry, authenticated by the current certificate (no passcode).
A new key pair is made on this PC and the new certificate is stored. The old certificate stays:
once the new one logs in, remove the old one with shomei prune.
Renewal opens some days before expiry (usually 30; the operator's setting). An expired or revoked
certificate cannot be renewed (ask the operator for a new passcode and run shomei enroll).

Options:
  --server URL   the server (default: the one the certificate came from; asked at a terminal when not known)
  --user ID      the user ID (when the store holds more than one)
  --key KIND     type of the new key (default: as the current one; ec-p256, ec-p384, rsa-2048, rsa-3072)
  --store DIR    where the certificate store is

Example:
  shomei renew

Exit codes:
  0  the renewed certificate is stored
  1  you must act (renewal not open yet, expired, revoked, server unreachable, …)
  2  wrong usage
  3  internal error
`,
  "renew.current": "Renewing the certificate of user ID {userId} (serial {serial}, expires {notAfter}).",
  "renew.sending": "Requesting the renewal from {url} …",
  "renew.serverUnknown": "The store does not record which server renews the certificate of user ID {userId} (it was imported from a backup without --server). The server's address is in the passcode e-mail.",
  "renew.serverPrompt": "Server address (https://…): ",
  "renew.done": "Stored the new certificate (serial {serial}, expires {notAfter}): certificate {cert}, private key {key}",
  "renew.next": "Restart the browser and check that the new certificate logs in; then the old one (serial {previous}) can be removed with shomei prune.",
  "usage.export": `Usage: shomei export --out FILE [--user ID] [--profile modern|compatible] [--password-stdin] [--force] [--store DIR] [--lang ja|en]

Writes the certificate in use, with its private key and the CA certificates, to a password-protected file
(PKCS#12: .p12 / .pfx). Keep it anywhere (another PC, a USB stick, the cloud) and read it back with
shomei import, or in Windows, macOS or Firefox. The password is asked twice (or read from the first line of
stdin with --password-stdin). Without this password nobody can open the backup.

Options:
  --out FILE           the file to write (an existing file is never overwritten)
  --profile modern     default: AES-256 (Windows 10 1709 and later, macOS 13 and later, OpenSSL 3, Firefox)
  --profile compatible for older systems (Windows Server 2016 and older, macOS 12 and older cannot read AES files)
  --force              replace an existing file
  --user ID            the user ID (when the store holds more than one)

Examples:
  shomei export --out ~/a0000001.p12
  shomei export --out a0000001-old-windows.pfx --profile compatible

On Windows, double-click the .p12 / .pfx file: the Certificate Import Wizard opens (choose Current User).
On macOS, drag it into Keychain Access.

Exit codes: 0 written, 1 you must act, 2 wrong usage, 3 internal error
`,
  "usage.import": `Usage: shomei import FILE [--server URL] [--password-stdin] [--root-fingerprint FP | --yes] [--store DIR] [--lang ja|en]

Reads a certificate and its private key from a backup (PKCS#12: .p12 / .pfx, also from OpenSSL, NSS or Windows).
When the root certificate in the file is not trusted yet, its issuer name and SHA-256 fingerprint are shown and
you are asked whether to trust it: check that they match what the operator gave you.

Options:
  --server URL       the server the certificate came from (used for renewal; when left out and the store does not know it, shomei renew asks)
  --password-stdin   read the file's password from standard input
  --root-fingerprint FP  the root fingerprint the operator gave you (trusted when it matches)
  --yes              answer "yes" to trusting the root (only when you have checked it)

Example:
  shomei import ~/a0000001.p12 --server https://ca.example.com:8443

Exit codes: 0 imported (or already there), 1 you must act, 2 wrong usage, 3 internal error
`,
  "export.passwordPrompt": "Backup password (what you type is not shown): ",
  "export.passwordAgain": "Type it again: ",
  "export.warning": "Note: if this password is lost, nobody (not the operator either) can open the backup. Keep it somewhere safe, apart from the file.",
  "export.done": "Wrote the certificate of user ID {userId} (serial {serial}, expires {notAfter}), its private key and {chain} CA certificate(s) to {file} ({profile}).",
  "import.passwordPrompt": "The file's password (what you type is not shown): ",
  "import.found": "In the file: the certificate of user ID {userId} (serial {serial}, expires {notAfter}, issuer {issuer}) and its private key.",
  "import.rootOffered": `Certificate authority (root certificate) in the file:
  Name (issuer): {subject}
  SHA-256 fingerprint:
    {fingerprint}`,
  "import.otherCa": "Warning: this certificate comes from another certificate authority than the one this store trusts. The online system of that service will not accept it for login.",
  "import.trustPrompt": "Trust this root certificate and import the certificate? [y/N] ",
  "import.rootSaved": "The root certificate is now trusted for {server}: {path}",
  "import.rootSavedNoServer": "The root certificate is now trusted (the server is not known yet): {path}",
  "import.serverLater": "The server this certificate renews with is not recorded yet: shomei renew asks for it (or give it: shomei renew --server https://…; the address is in the passcode e-mail).",
  "server.unknown": "this service's server (not known yet)",
  "import.already": "This certificate is already in the store. Nothing new was stored.",
  "import.noRoot": "Note: the file holds no root certificate, and this store does not yet trust the root of this certificate's authority, so login-check, renew and doctor cannot check the server. Run, with the server the operator gave you: shomei root install --server URL",
  "import.done": "Imported: certificate {cert}, private key {key}. Restart the browser to use it.",
  "import.done.file": "Imported: certificate {cert}, private key {key} (a file store: to use it in the browser, import the .p12 file into the browser, or import with --store nss:$HOME/.pki/nssdb).",
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
  "enroll.next.file": "Next: the certificate was stored in files, which the browser does not read by itself. Export it with shomei export --out FILE.p12 and import that file into the browser, or enroll into the browser's store instead (shomei enroll … --store nss:$HOME/.pki/nssdb). Then log in to the online system with this certificate and the initial password from the e-mail. See the stored certificates with: shomei list",
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
  "list.status.superseded": "superseded",
  "list.status.revoked": "revoked",
  "list.revocation.notChecked": "Note: whether certificate {serial} is revoked could not be checked: {reason}",
  "list.revocation.noIssuer": "the issuing CA's certificate is not in the store",
  "list.revocation.noResponder": "the certificate names no OCSP responder",
  "list.emptyUser": "There are no certificates for user ID {userId} in the store {store}.",
  "list.pruneHint": "Old (superseded or expired) certificates: {count}. shomei prune removes them (the current one stays).",
  "list.serverUnknown": "User ID {userId}: server unknown (imported without --server). shomei renew asks for it (or: shomei renew --server https://…).",
  "usage.prune": `Usage: shomei prune [--user ID] [--store DIR] [--yes] [--lang ja|en]

Removes old certificates of the same user ID from the store, with their private keys and chains:
"superseded" ones (a newer valid certificate exists) and "expired" ones.
The current certificate (marked "*" by shomei list) is never removed.
A user ID with no valid certificate at all keeps its certificates, expired or not.
It shows what it will remove and why, then asks "Remove …? [y/N]".

Options:
  --user ID      only this user ID's certificates
  --yes          remove without asking (needed when run from a script without a terminal)
  --store DIR    where the certificate store is
  --lang ja|en   language

Examples:
  shomei prune
  shomei prune --user a0000001 --yes

Exit codes:
  0  removed (also when there was nothing to remove)
  1  the answer was not "y" (nothing was removed), or the store cannot be read or written
  2  the command was not used correctly (also: no terminal to ask and no --yes)
  3  internal error
`,
  "prune.nothing": "There is nothing to remove.",
  "prune.header": "These certificates will be removed (with their private keys and chains):",
  "prune.item": "  {userId}  serial {serial}  expires {notAfter}  because: {reason}",
  "prune.reason.superseded": "a newer valid certificate exists (superseded)",
  "prune.reason.expired": "it has expired",
  "prune.reason.revoked": "it has been revoked",
  "prune.keep": "Kept (the current certificate): {userId}  serial {serial}  expires {notAfter}",
  "prune.keptNoValid": "Kept the {count} certificate(s) of user ID {userId}: it has no valid certificate, so expired ones are not removed either. Get a new one with shomei enroll.",
  "prune.confirm": "Remove {count} certificate(s)? [y/N] ",
  "prune.action": "removing certificates",
  "prune.removed": "Removed: {userId}  serial {serial}",
  "prune.done": "Removed {count} certificate(s).",
  "usage.root": `Usage: shomei root status [--server URL] [--store DIR] [--lang ja|en]
       shomei root install --server URL [--root-fingerprint FP] [--file PEM] [--store DIR] [--lang ja|en]
       shomei root remove [--server URL] [--yes] [--store DIR] [--lang ja|en]

Manages which root certificate this store trusts for each server (certificate authority).
The root is what proves the server is the real one (enroll, login-check, renewal).

  status   for each server, whether a root is trusted, with its name, validity and SHA-256 fingerprint
           (without --server: every server the store knows)
  install  install and trust a root: fetched from the server (default) or read from --file.
           Its name and SHA-256 fingerprint are shown first: answer "y" only after checking, character by
           character, that they match what the operator gave you. With --root-fingerprint no question is
           asked when it matches, and nothing is trusted when it does not. --yes does not skip this check.
  remove   remove the trust in the server's root (asks first; --yes does not ask). Certificates and keys
           stay; login-check and renewal need the root installed again afterwards.

Options:
  --server URL            the server's URL, e.g. https://ca.example.com
  --root-fingerprint FP   (install) the SHA-256 fingerprint you were given (AB:CD:…)
  --file PEM              (install) the root certificate file (PEM or DER); the server is not contacted
  --yes                   (remove) do not ask
  --store DIR             where the certificate store is
  --lang ja|en            language

Examples:
  shomei root status
  shomei root install --server https://ca.example.com --root-fingerprint 'AB:CD:…:EF'
  shomei root install --server https://ca.example.com --file root.pem
  shomei root remove --server https://ca.example.com

Exit codes:
  0  status: a root is trusted for the server given (without --server: for every server)
     install: trusted (also when it already was). remove: removed (also when none was trusted)
  1  status: some server has no trusted root. install: fingerprint mismatch, not confirmed, server
     unreachable, ... remove: the answer was not "y"
  2  the command was not used correctly (also: remove with no terminal to ask and no --yes)
  3  internal error
`,
  "root.status.trusted": "{server}: a root certificate is trusted",
  "root.status.expired": "{server}: the trusted root certificate is outside its validity period (it cannot check this server)",
  "root.status.damaged": "{server}: a root is recorded, but its file is missing or was changed, so it is not trusted (recorded fingerprint: {fingerprint})",
  "root.status.none": "{server}: no root certificate is trusted",
  "root.status.withoutServer": "server unknown: a root certificate trusted when a backup was imported (recorded for the server once shomei renew learns it)",
  "root.details": `  Name:      {subject}
  Issuer:    {issuer}
  Valid:     {notBefore} to {notAfter}
  SHA-256 fingerprint:
    {fingerprint}`,
  "root.installHint": "  To install it: shomei root install --server {server}",
  "root.noServers": "The store {store} knows no server.\nTo install a root certificate: shomei root install --server URL",
  "root.reading": "Reading the root certificate from {file} …",
  "root.offered": "The root certificate for {server}:",
  "root.securityWarning": `Security warning: you are about to trust a certificate authority (root certificate). Once trusted, any
server with a certificate from this authority is believed to be {server}. Check that the name (issuer) and
SHA-256 fingerprint above match, character by character, what the operator gave you. If they do not,
answer "n" and contact the helpdesk.`,
  "root.fingerprintMatched": "The root certificate's fingerprint matches the one given.",
  "root.installed": "The root certificate is now trusted for {server}: {path}",
  "root.replaced": "It replaces the root certificate trusted before (fingerprint {previous}).",
  "root.alreadyTrusted": "This root certificate is already trusted for {server}. Nothing was changed.",
  "root.removeWhat": "Removing the trust in the root certificate for {server}:",
  "root.removeWarning": "Afterwards shomei login-check and renewal cannot check {server} until the root is installed again with shomei root install. The stored certificates and private keys stay.",
  "root.removePrompt": "Remove the trust? [y/N] ",
  "root.removeAction": "removing the trust in the root certificate",
  "root.removed": "The root certificate for {server} is no longer trusted.",
  "root.notTrusted": "No root certificate is trusted for {server}. Nothing was changed.",
  "root.noneTrusted": "The store {store} trusts no root certificate. Nothing was changed.",
  "cli.unknownCommand": "there is no command \"{command}\"",
  "cli.unexpectedArgument": "unexpected argument \"{arg}\"",
};

const CATALOG: Readonly<Record<Lang, Readonly<Record<MessageKey, string>>>> = { ja, en };

export type ClientMessageKey = MessageKey;

/** The message in the given language, with `{name}` placeholders filled. */
export function msg(lang: Lang, key: MessageKey, params: Readonly<Record<string, string | number>> = {}): string {
  return CATALOG[lang][key].replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}
