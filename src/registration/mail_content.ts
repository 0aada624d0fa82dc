/**
 * The two registration e-mails, in the user's language. The passcode and the initial
 * password travel in separate messages, so one intercepted mail is not enough.
 * The lines `パスコード: …` / `Passcode: …` and `初期パスワード: …` / `Initial password: …`
 * are part of the contract with users' guides and tests: keep them exactly.
 */
import type { Lang } from "../i18n/errors.js";
import { formatDateTime } from "../i18n/format.js";

export interface MailContext {
  readonly serviceName: string;
  /** Base URL of the enrollment service (what `shomei enroll --server` takes). */
  readonly serverUrl: string;
  readonly rootFingerprint: string;
  readonly helpdesk: string;
  readonly timeZone: string;
}

export interface Recipient {
  readonly userId: string;
  readonly name: string;
  readonly lang: Lang;
}

export interface MailText {
  readonly subject: string;
  readonly text: string;
}

export function passcodeMail(c: MailContext, r: Recipient, passcode: string, expiresAt: Date): MailText {
  const when = formatDateTime(expiresAt, r.lang, c.timeZone);
  const cmd = `shomei enroll --server ${c.serverUrl} --user ${r.userId}`;
  if (r.lang === "ja") {
    return {
      subject: `【${c.serviceName}】クライアント証明書取得用パスコードのお知らせ`,
      text: [
        `${r.name} 様`,
        "",
        `${c.serviceName} にログインするためのクライアント証明書を取得する、ユーザID とパスコードをお知らせします。`,
        "パスコードは証明書の取得に 1 回だけ使えます。",
        "",
        `ユーザID: ${r.userId}`,
        `パスコード: ${passcode}`,
        `パスコードの有効期限: ${when}`,
        "",
        "■ 証明書の取得方法",
        "1. ふだん使うユーザーアカウントでパソコンにログインします。",
        "2. 証明書発行アプリケーションで次のコマンドを実行し、パスコードを入力します。",
        `   ${cmd}`,
        "3. 表示されるルート証明書のフィンガープリントが、下記と一致することを確認してから「y」と答えます。",
        "   一致しない場合は中止し、お問い合わせ先へご連絡ください。",
        "",
        "ルート証明書のフィンガープリント (SHA-256):",
        c.rootFingerprint,
        "",
        "ログインに使う初期パスワードは、別のメールでお送りします。",
        "「プロキシ認証」を求められた場合は、パソコンの管理者にお問い合わせください（このユーザID とパスコードは使いません）。",
        "",
        `お問い合わせ先: ${c.helpdesk}`,
        "",
      ].join("\n"),
    };
  }
  return {
    subject: `[${c.serviceName}] Your passcode to obtain a client certificate`,
    text: [
      `Dear ${r.name},`,
      "",
      `Here are the user ID and passcode to obtain the client certificate you need to log in to ${c.serviceName}.`,
      "The passcode works once.",
      "",
      `User ID: ${r.userId}`,
      `Passcode: ${passcode}`,
      `Passcode expires: ${when}`,
      "",
      "How to obtain the certificate",
      "1. Log in to your PC with the account you use every day.",
      "2. Run this command of the certificate issuance application and enter the passcode:",
      `   ${cmd}`,
      "3. Check that the root certificate fingerprint it shows matches the one below, then answer \"y\".",
      "   If it does not match, stop and contact the helpdesk.",
      "",
      "Root CA fingerprint (SHA-256):",
      c.rootFingerprint,
      "",
      "Your initial password for logging in comes in a separate e-mail.",
      "If a \"proxy authentication\" window appears, ask your PC administrator (this user ID and passcode are not used there).",
      "",
      `Helpdesk: ${c.helpdesk}`,
      "",
    ].join("\n"),
  };
}

export function initialPasswordMail(c: MailContext, r: Recipient, password: string, expiresAt: Date, lifetimeDays: number): MailText {
  const when = formatDateTime(expiresAt, r.lang, c.timeZone);
  if (r.lang === "ja") {
    return {
      subject: `【${c.serviceName}】初期パスワードのお知らせ`,
      text: [
        `${r.name} 様`,
        "",
        `${c.serviceName} に初めてログインするときの初期パスワードをお知らせします。`,
        "",
        `ユーザID: ${r.userId}`,
        `初期パスワード: ${password}`,
        `初期パスワードの有効期限: ${when}（送信日から ${lifetimeDays} 日以内）`,
        "",
        "クライアント証明書を取得した後、ログイン画面でユーザID と初期パスワードを入力してください。",
        "初めてのログインでは、新しいパスワードの設定が必要です。",
        "有効期限を過ぎた場合は、お問い合わせ先にパスワードの再発行を依頼してください。",
        "",
        `お問い合わせ先: ${c.helpdesk}`,
        "",
      ].join("\n"),
    };
  }
  return {
    subject: `[${c.serviceName}] Your initial password`,
    text: [
      `Dear ${r.name},`,
      "",
      `Here is the initial password for your first login to ${c.serviceName}.`,
      "",
      `User ID: ${r.userId}`,
      `Initial password: ${password}`,
      `Initial password expires: ${when} (${lifetimeDays} days after this e-mail was sent)`,
      "",
      "After obtaining your client certificate, enter your user ID and this password on the login page.",
      "At the first login you will be asked to choose a new password.",
      "If it has expired, ask the helpdesk to reset your password.",
      "",
      `Helpdesk: ${c.helpdesk}`,
      "",
    ].join("\n"),
  };
}
