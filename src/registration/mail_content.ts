/**
 * The two registration e-mails, in the user's language. The passcode and the initial
 * password travel in separate messages, so one intercepted mail is not enough.
 * The lines `パスコード: …` / `Passcode: …` and `初期パスワード: …` / `Initial password: …`
 * are part of the contract with users' guides and tests: keep them exactly.
 */
import type { Lang } from "../i18n/errors.js";
import { formatTime } from "../i18n/format.js";

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
  const when = formatTime(expiresAt, c.timeZone);
  const cmd = `shomei enroll --server ${c.serverUrl} --user ${r.userId}`;
  const page = `${c.serverUrl.replace(/\/$/, "")}/enroll`;
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
        "■ 証明書の取得方法（ブラウザーで。インストールは不要です）",
        "1. ふだん使うユーザーアカウントでパソコンにログインします。",
        "2. Microsoft Edge や Google Chrome などのブラウザーで次の URL を開き、ユーザID とパスコードを入力します。",
        `   ${page}`,
        "3. 画面に表示されるルート証明書のフィンガープリントが、下記と一致することを確認してから、",
        "   ダウンロードしたファイルを画面の手順どおりにパソコンに取り込みます。",
        "   一致しない場合は中止し、お問い合わせ先へご連絡ください。",
        "",
        "コマンドラインを使う方は、証明書発行アプリケーションの次のコマンドでも取得できます。",
        `   ${cmd}`,
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
      "How to obtain the certificate (in the browser, nothing to install)",
      "1. Log in to your PC with the account you use every day.",
      "2. Open this address in a browser such as Microsoft Edge or Google Chrome and enter the user ID and passcode:",
      `   ${page}`,
      "3. Check that the root certificate fingerprint the page shows matches the one below, then bring",
      "   the downloaded files into your PC as the page explains.",
      "   If it does not match, stop and contact the helpdesk.",
      "",
      "If you prefer a command line, this command of the certificate issuance application does the same:",
      `   ${cmd}`,
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
  const when = formatTime(expiresAt, c.timeZone);
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

/** A reminder that the client certificate expires soon: renew it with `shomei renew`. */
export function certificateReminderMail(c: MailContext, r: Recipient, expiresAt: Date, daysLeft: number): MailText {
  const when = formatTime(expiresAt, c.timeZone);
  if (r.lang === "ja") {
    return {
      subject: `【${c.serviceName}】クライアント証明書の有効期限が近づいています（残り ${daysLeft} 日）`,
      text: [
        `${r.name} 様`,
        "",
        `${c.serviceName} にログインするためのクライアント証明書の有効期限が近づいています。`,
        "",
        `ユーザID: ${r.userId}`,
        `証明書の有効期限: ${when}`,
        "",
        "■ 更新方法（パスコードは不要です）",
        "ふだん使うパソコンでオンラインシステムにログインし、マイページの「証明書を更新する」を押してください（インストールは不要です）。",
        "コマンドラインを使う方は、証明書発行アプリケーションの次のコマンドでも更新できます。",
        "   shomei renew",
        "期限を過ぎると更新できず、新しいパスコードでの取得が必要になります。お早めに更新してください。",
        "既に更新済みの場合は、このメールは不要です。",
        "",
        `お問い合わせ先: ${c.helpdesk}`,
        "",
      ].join("\n"),
    };
  }
  return {
    subject: `[${c.serviceName}] Your client certificate expires in ${daysLeft} days`,
    text: [
      `Dear ${r.name},`,
      "",
      `The client certificate you use to log in to ${c.serviceName} expires soon.`,
      "",
      `User ID: ${r.userId}`,
      `Certificate expires: ${when}`,
      "",
      "How to renew (no passcode needed)",
      "On the PC you use every day, log in to the online system and press \"Renew certificate\" on your user page (nothing to install).",
      "If you prefer a command line, this command of the certificate issuance application does the same:",
      "   shomei renew",
      "After the expiry date it can no longer be renewed and you will need a new passcode, so please renew soon.",
      "If you have renewed already, you can ignore this e-mail.",
      "",
      `Helpdesk: ${c.helpdesk}`,
      "",
    ].join("\n"),
  };
}

/** A reminder that the initial password (never used) expires soon: log in and change it. */
export function initialPasswordReminderMail(c: MailContext, r: Recipient, expiresAt: Date, daysLeft: number): MailText {
  const when = formatTime(expiresAt, c.timeZone);
  if (r.lang === "ja") {
    return {
      subject: `【${c.serviceName}】初期パスワードの有効期限が近づいています（残り ${daysLeft} 日）`,
      text: [
        `${r.name} 様`,
        "",
        `${c.serviceName} の初期パスワードが、まだ使われていません。`,
        "",
        `ユーザID: ${r.userId}`,
        `初期パスワードの有効期限: ${when}`,
        "",
        "有効期限までにクライアント証明書を取得してログインし、新しいパスワードを設定してください。",
        "初期パスワードは以前お送りしたメール「初期パスワードのお知らせ」に記載しています（このメールには記載していません）。",
        "有効期限を過ぎた場合やメールが見つからない場合は、お問い合わせ先にパスワードの再発行を依頼してください。",
        "",
        `お問い合わせ先: ${c.helpdesk}`,
        "",
      ].join("\n"),
    };
  }
  return {
    subject: `[${c.serviceName}] Your initial password expires in ${daysLeft} days`,
    text: [
      `Dear ${r.name},`,
      "",
      `Your initial password for ${c.serviceName} has not been used yet.`,
      "",
      `User ID: ${r.userId}`,
      `Initial password expires: ${when}`,
      "",
      "Before then, obtain your client certificate, log in and choose a new password.",
      "The initial password is in the earlier e-mail \"Your initial password\" (not in this one).",
      "If it has expired or you cannot find that e-mail, ask the helpdesk to reset your password.",
      "",
      `Helpdesk: ${c.helpdesk}`,
      "",
    ].join("\n"),
  };
}
