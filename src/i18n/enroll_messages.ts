/**
 * Every word of the browser enrollment page (/enroll on the EST listener) and the renewal page
 * (/me/renew on the portal), Japanese first. The server renders most of it; the page's script
 * (src/web/browser/) imports the same entries for what it says while the user types and works.
 * Errors come from the error catalog. Pure: bundled for the browser too.
 */
import type { Lang } from "./errors.js";

type Text = Readonly<Record<Lang, string>>;
const t = (ja: string, en: string): Text => ({ ja, en });

export type SystemId = "windows" | "macos" | "linux";
export const SYSTEMS: readonly SystemId[] = ["windows", "macos", "linux"];

export const E = {
  enrollTitle: t("証明書の取得", "Get your certificate"),
  renewTitle: t("証明書の更新", "Renew your certificate"),
  enrollIntro: t(
    "メールで届いたユーザID とパスコードを入力し、バックアップファイル用のパスワードを決めてください。鍵はこのブラウザーの中で作られ、暗号化されたファイル（.p12）の中でだけパソコンに保存されます。インストールは不要です。",
    "Enter the user ID and the passcode from the e-mail, and choose a password for the backup file. The key is made inside this browser and leaves it only inside the encrypted file (.p12) you download. Nothing to install.",
  ),
  renewIntro: t(
    "新しい鍵をこのブラウザーの中で作り、いま使っている証明書で本人確認をして新しい証明書を受け取ります。新しいファイル（.p12）用のパスワードを決めてください。",
    "A new key is made inside this browser and the certificate you are using now proves who you are. Choose a password for the new file (.p12).",
  ),
  noScript: t(
    "この画面は JavaScript を使います（鍵をこのブラウザーの中で作るためです）。ブラウザーの設定で JavaScript を有効にするか、最新の Microsoft Edge、Google Chrome、Firefox または Safari で開いてください。コマンドラインを使える方は shomei enroll でも取得できます。",
    "This page needs JavaScript (the key is made inside this browser). Turn JavaScript on in the browser's settings, or open the page in a current Microsoft Edge, Google Chrome, Firefox or Safari. With a command line, shomei enroll also works.",
  ),
  userId: t("ユーザID", "User ID"),
  passcode: t("パスコード（証明書取得用）", "Enrollment passcode"),
  passcodeHelp: t(
    "メールの XXXX-XXXX-XXXX-XXXX。大文字・小文字、ハイフンの有無、全角は問いません。",
    "XXXX-XXXX-XXXX-XXXX from the e-mail; any case, with or without hyphens, full-width is fine.",
  ),
  password: t("バックアップファイルのパスワード", "Password for the backup file"),
  passwordHelp: {
    ja: (min: number): string => `${min} 文字以上。英大文字・小文字・数字・記号を混ぜてください。このパスワードを忘れるとファイルは開けません。`,
    en: (min: number): string => `At least ${min} characters, mixing capitals, small letters, digits or symbols. Without this password nobody can open the file.`,
  },
  passwordConfirm: t("パスワード（確認）", "Password again"),
  profile: t("ファイルの形式", "File format"),
  profileModern: t("標準（AES、推奨）", "Standard (AES, recommended)"),
  profileCompatible: t(
    "互換（3DES）: Windows Server 2016 / macOS 12 以前で読み込めない場合だけ",
    "Compatible (3DES): only if Windows Server 2016 / macOS 12 or older cannot open the standard file",
  ),
  enrollButton: t("証明書を取得する", "Get the certificate"),
  renewButton: t("証明書を更新する", "Renew the certificate"),
  // What the script says while the user types and while it works.
  ok: t("形式は正しいです。", "The format is right."),
  strength: t("強さ", "Strength"),
  strengthWeak: t("弱い（使えません）", "weak (not accepted)"),
  strengthFair: t("普通", "fair"),
  strengthStrong: t("強い", "strong"),
  confirmOk: t("一致しています。", "They match."),
  working: {
    key: t("鍵を作っています…", "Making the key…"),
    send: t("証明書を申請しています…", "Requesting the certificate…"),
    check: t("受け取った証明書を確認しています…", "Checking the certificate received…"),
    pack: t("バックアップファイルを作っています…", "Making the backup file…"),
  },
  pendingFound: {
    ja: (userId: string): string => `${userId} の申請が途中で止まっています。同じユーザID とパスコードでもう一度押すと、同じ鍵で続けます（パスコードが無駄になることはありません）。`,
    en: (userId: string): string => `A request for ${userId} did not finish. Press the button again with the same user ID and passcode to continue with the same key (the passcode is not used up).`,
  },
  pendingFoundRenew: t(
    "前回の更新が途中で止まっています。もう一度押すと、同じ鍵で続けます。",
    "The last renewal did not finish. Press the button again to continue with the same key.",
  ),
  // After the certificate arrived.
  doneTitle: t("証明書を受け取りました", "Your certificate is here"),
  downloadIntro: t(
    "2 つのファイルを保存してください。.p12 は証明書と鍵の入ったバックアップで、決めたパスワードで開きます。",
    "Save both files. The .p12 is the backup with your certificate and key; it opens with the password you chose.",
  ),
  downloadP12: t("証明書と鍵（{file}）を保存", "Save the certificate and key ({file})"),
  downloadRoot: t("ルート証明書（root.crt）を保存", "Save the root certificate (root.crt)"),
  rootTitle: t("ルート証明書の確認", "Check the root certificate"),
  rootIntro: t(
    "次の SHA-256 フィンガープリントが、メールに書かれたものと同じであることを確かめてください。Windows の画面には SHA-1 の拇印が表示されます。",
    "Check that this SHA-256 fingerprint is the one in the e-mail. Windows shows the SHA-1 thumbprint instead.",
  ),
  sha256: t("SHA-256 フィンガープリント", "SHA-256 fingerprint"),
  sha1: t("SHA-1 拇印（Windows の表示）", "SHA-1 thumbprint (as Windows shows it)"),
  certFor: t("証明書の利用者", "Certificate for"),
  validUntil: t("有効期限", "Valid until"),
  stepsTitle: t("パソコンへの取り込み", "Bring it into your PC"),
  system: t("お使いのシステム", "Your system"),
  systemNames: { windows: t("Windows", "Windows"), macos: t("macOS", "macOS"), linux: t("Linux", "Linux") } as Readonly<Record<SystemId, Text>>,
  steps: {
    windows: [
      t("ルート証明書 root.crt をダブルクリックし、「証明書のインストール」→「現在のユーザー」→「証明書をすべて次のストアに配置する」で「信頼されたルート証明機関」を選びます。警告に表示される拇印が上の SHA-1 拇印と同じ場合だけ「はい」を押してください。",
        "Double-click root.crt, choose \"Install Certificate\" → \"Current User\" → \"Place all certificates in the following store\" → \"Trusted Root Certification Authorities\". Press \"Yes\" in the warning only if its thumbprint is the SHA-1 thumbprint above."),
      t("{file} をダブルクリックし、「現在のユーザー」を選び、決めたパスワードを入力し、「証明書の種類に基づいて、自動的に証明書ストアを選択する」のまま完了します。",
        "Double-click {file}, choose \"Current User\", type the password you chose and keep \"Automatically select the certificate store based on the type of certificate\"."),
      t("Edge / Chrome をすべて閉じて開き直します。", "Close every Edge / Chrome window and open it again."),
    ],
    macos: [
      t("root.crt をダブルクリックして「キーチェーンアクセス」で「ログイン」キーチェーンに追加します。追加された証明書を開き、SHA-256 フィンガープリントが上と同じことを確かめてから「信頼」を「常に信頼」にします。",
        "Double-click root.crt to add it to the \"login\" keychain in Keychain Access. Open it, check that its SHA-256 fingerprint is the one above, then set \"Trust\" to \"Always Trust\"."),
      t("{file} をダブルクリックし、決めたパスワードを入力して「ログイン」キーチェーンに読み込みます。",
        "Double-click {file}, type the password you chose and import it into the \"login\" keychain."),
      t("Safari / Chrome を終了して開き直します。", "Quit Safari / Chrome and open it again."),
    ],
    linux: [
      t("Chromium / Chrome: 設定 →「プライバシーとセキュリティ」→「セキュリティ」→「証明書の管理」で、「認証局」に root.crt を読み込み（フィンガープリントを確かめてから「ウェブサイトの識別」を信頼）、「自分の証明書」に {file} を読み込みます。",
        "Chromium / Chrome: Settings → \"Privacy and security\" → \"Security\" → \"Manage certificates\": import root.crt under \"Authorities\" (trust it for identifying websites after checking the fingerprint) and {file} under \"Your certificates\"."),
      t("Firefox: 設定 →「プライバシーとセキュリティ」→「証明書を表示」で、「認証局証明書」に root.crt、「あなたの証明書」に {file} を読み込みます。",
        "Firefox: Settings → \"Privacy & Security\" → \"View Certificates\": import root.crt under \"Authorities\" and {file} under \"Your Certificates\"."),
      t("ブラウザーを再起動します。コマンドラインでは shomei import {file} でも取り込めます。", "Restart the browser. On a command line, shomei import {file} does the same."),
    ],
  } as Readonly<Record<SystemId, readonly Text[]>>,
  loginTitle: t("ログインの確認", "Check that you can log in"),
  loginStep: t(
    "オンラインシステム {url} を開き、証明書を選んで、ユーザID と「初期パスワードのお知らせ」メールの初期パスワードでログインしてください（初期パスワードはメール送信から 40 日で期限切れになります）。",
    "Open the online system at {url}, pick the certificate, and log in with your user ID and the initial password from the \"initial password\" e-mail (it expires 40 days after it was sent).",
  ),
  renewLoginStep: t(
    "ブラウザーを再起動し、新しい証明書（有効期限の遅いほう）を選んでこのオンラインシステムにログインしてください。パスワードは今までと同じです。",
    "Restart the browser, pick the new certificate (the one that expires later) and log in to this online system. Your password stays the same.",
  ),
  loginStepNoUrl: t(
    "メールに書かれたオンラインシステムを開き、証明書を選んで、ユーザID と初期パスワードでログインしてください。",
    "Open the online system named in the e-mail, pick the certificate, and log in with your user ID and the initial password.",
  ),
  keepBackup: t(
    "{file} はバックアップとして USB メモリなど別の場所にも保管してください。パスワードを忘れると開けません。",
    "Keep {file} as your backup somewhere else too (a USB stick, for example). Without its password it cannot be opened.",
  ),
  // Renewal only ("After 2" of the guide).
  deleteOldTitle: t("古い証明書の削除", "Delete the old certificate"),
  deleteOldIntro: t(
    "新しい証明書でログインできることを確かめてから、同じユーザID の古い証明書（有効期限の早いほう）を削除してください。新しいほうは削除しないでください。",
    "After checking that you can log in with the new certificate, delete the old certificate for the same user ID (the one that expires sooner). Do not delete the new one.",
  ),
  deleteOld: {
    windows: t("「ユーザー証明書の管理」（certmgr.msc）→「個人」→「証明書」で、名前がユーザID で始まり有効期限が早いほうを右クリックして「削除」。",
      "\"Manage user certificates\" (certmgr.msc) → \"Personal\" → \"Certificates\": right-click the one named after your user ID that expires sooner and choose \"Delete\"."),
    macos: t("キーチェーンアクセスの「ログイン」→「自分の証明書」で、有効期限が早いほうを選んで削除。", "Keychain Access → \"login\" → \"My Certificates\": select the one that expires sooner and delete it."),
    linux: t("ブラウザーの証明書の管理の「自分の証明書」で、有効期限が早いほうを削除（コマンドラインでは shomei prune）。", "In the browser's certificate manager under \"Your certificates\", delete the one that expires sooner (on a command line: shomei prune)."),
  } as Readonly<Record<SystemId, Text>>,
  renewLink: t("証明書を更新する", "Renew certificate"),
  statusSuperseded: t("更新済み（古い証明書）", "Superseded (renewed)"),
  renewOffer: t(
    "更新の受付期間です。このブラウザーで新しい証明書を取得できます。",
    "The renewal window is open: you can get the new certificate in this browser.",
  ),
  commandLine: t(
    "コマンドラインを使う方は、証明書発行アプリケーション shomei（shomei enroll / shomei renew）でも同じことができます。",
    "If you prefer a command line, the issuance application shomei (shomei enroll / shomei renew) does the same.",
  ),
} as const;

/** `{name}` placeholders filled. */
export function fillText(s: string, params: Readonly<Record<string, string>>): string {
  return s.replace(/\{(\w+)\}/g, (whole, k: string) => (Object.hasOwn(params, k) ? params[k]! : whole));
}
