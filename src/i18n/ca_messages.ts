/** What `shomei-ca` prints, in Japanese and English. */
import type { Lang } from "./errors.js";

type Msg<A extends unknown[] = []> = Record<Lang, (...a: A) => string>;

export const CA_MESSAGES = {
  initDone: {
    ja: (dir: string) => `認証局を作成しました: ${dir}`,
    en: (dir: string) => `Created the CA in ${dir}`,
  } satisfies Msg<[string]>,
  passphraseInFile: {
    ja: (file: string) => `秘密鍵のパスフレーズは ${file} に保存しました。本番では SHOMEI_CA_PASSPHRASE で渡し、このファイルは別の場所に保管してください。`,
    en: (file: string) => `The private keys' passphrase is in ${file}. In production pass it in SHOMEI_CA_PASSPHRASE and keep that file elsewhere.`,
  } satisfies Msg<[string]>,
  nextAfterInit: {
    ja: (dir: string) => `次の手順: shomei-ca serve --data ${dir} でサービスを起動します。`,
    en: (dir: string) => `Next: start the service with: shomei-ca serve --data ${dir}`,
  } satisfies Msg<[string]>,
  serving: {
    ja: () => "サービスを起動しました。止めるには Ctrl+C を押してください。",
    en: () => "The service is running. Press Ctrl+C to stop it.",
  } satisfies Msg,
  nextAfterServe: {
    ja: (dir: string, url: string, fp: string, npx: string) =>
      [
        "利用者を登録するには（パスコードと初期パスワードのメールが outbox フォルダに書かれます）:",
        `  ${npx}shomei-ca user add a0000001 --email user@example.jp --name "山田 太郎" --data ${dir}`,
        "outbox のメールを読める形で表示するには:",
        `  ${npx}shomei-ca mail show a0000001 --data ${dir}`,
        "利用者が証明書を取得するには:",
        `  ${npx}shomei enroll --server ${url} --user a0000001 --root-fingerprint ${fp}`,
      ].join("\n"),
    en: (dir: string, url: string, fp: string, npx: string) =>
      [
        "To register a user (the passcode and initial-password e-mails are written to the outbox folder):",
        `  ${npx}shomei-ca user add a0000001 --email user@example.com --name "Taro Yamada" --data ${dir}`,
        "To read the outbox mails decoded:",
        `  ${npx}shomei-ca mail show a0000001 --data ${dir}`,
        "For the user to obtain the certificate:",
        `  ${npx}shomei enroll --server ${url} --user a0000001 --root-fingerprint ${fp}`,
      ].join("\n"),
  } satisfies Msg<[string, string, string, string]>,
  stopped: { ja: () => "サービスを停止しました。", en: () => "The service has stopped." } satisfies Msg,
  workers: {
    ja: (pids: readonly number[]) => `ワーカー: ${pids.length}（PID ${pids.join(", ")}）`,
    en: (pids: readonly number[]) => `Workers: ${pids.length} (PID ${pids.join(", ")})`,
  } satisfies Msg<[readonly number[]]>,
  workerReplaced: {
    ja: (worker: number, pid: number) => `ワーカー ${worker} を新しいプロセスで再開しました（PID ${pid}）。`,
    en: (worker: number, pid: number) => `Worker ${worker} is serving again (PID ${pid}).`,
  } satisfies Msg<[number, number]>,
  userAdded: {
    ja: (id: string, passcodeExp: string, passwordExp: string) =>
      `利用者 ${id} を登録しました。パスコードの有効期限: ${passcodeExp}、初期パスワードの有効期限: ${passwordExp}`,
    en: (id: string, passcodeExp: string, passwordExp: string) =>
      `Registered user ${id}. Passcode expires: ${passcodeExp}; initial password expires: ${passwordExp}`,
  } satisfies Msg<[string, string, string]>,
  mailWritten: {
    ja: (where: string) => `メール: ${where}`,
    en: (where: string) => `Mail: ${where}`,
  } satisfies Msg<[string]>,
  mailShowHint: {
    ja: (id: string, dir: string, npx: string) => `メールの内容（パスコードと初期パスワード）を表示するには: ${npx}shomei-ca mail show ${id} --data ${dir}`,
    en: (id: string, dir: string, npx: string) => `To read these mails (passcode and initial password): ${npx}shomei-ca mail show ${id} --data ${dir}`,
  } satisfies Msg<[string, string, string]>,
  mailQueued: {
    ja: (kind: string, error: string) =>
      `メール（${kind}）はまだ送れていません。送信待ちとして保存し、自動で再送します（shomei-ca serve の実行中）。理由: ${error}\n  状況の確認: shomei-ca mail status`,
    en: (kind: string, error: string) =>
      `The ${kind} e-mail could not be sent yet. It is queued and will be retried automatically (while shomei-ca serve runs). Reason: ${error}\n  Check with: shomei-ca mail status`,
  } satisfies Msg<[string, string]>,
  mailRefused: {
    ja: (kind: string, error: string) =>
      `メール（${kind}）はメールサーバーに拒否されました（再送しません）。理由: ${error}\n  宛先を確認し、正しければ shomei-ca mail retry 番号 で再送してください（番号は shomei-ca mail status で確認）。`,
    en: (kind: string, error: string) =>
      `The mail server refused the ${kind} e-mail (it will not be retried). Reason: ${error}\n  Check the address; if it is right, send again with shomei-ca mail retry SEQ (see shomei-ca mail status).`,
  } satisfies Msg<[string, string]>,
  passcodeReissued: {
    ja: (id: string, exp: string) => `${id} のパスコードを再発行しました（以前のパスコードは使えません）。有効期限: ${exp}`,
    en: (id: string, exp: string) => `Issued a new passcode for ${id} (the earlier one no longer works). Expires: ${exp}`,
  } satisfies Msg<[string, string]>,
  noUsers: {
    ja: () => "登録済みの利用者はいません。shomei-ca user add で登録してください。",
    en: () => "No users are registered yet. Register one with: shomei-ca user add",
  } satisfies Msg,
  operatorCreated: {
    ja: (id: string, files: readonly string[]) => [`最初の運用担当者 ${id} を登録しました。パスコードと初期パスワードのメール:`, ...files.map((f) => `  ${f}`)].join("\n"),
    en: (id: string, files: readonly string[]) => [`Registered the first operator, ${id}. The passcode and initial-password e-mails:`, ...files.map((f) => `  ${f}`)].join("\n"),
  } satisfies Msg<[string, readonly string[]]>,
  operatorNext: {
    ja: (url: string, id: string, fp: string, npx: string) =>
      `運用担当者の証明書は利用者と同じ手順で取得します（サービス起動後）:\n  ${npx}shomei enroll --server ${url} --user ${id} --root-fingerprint ${fp}\nその後、ブラウザでポータルを開き、初期パスワードでログインすると運用コンソールが使えます。`,
    en: (url: string, id: string, fp: string, npx: string) =>
      `The operator gets a certificate the same way a user does (once the service runs):\n  ${npx}shomei enroll --server ${url} --user ${id} --root-fingerprint ${fp}\nThen open the portal in the browser and log in with the initial password to use the operator console.`,
  } satisfies Msg<[string, string, string, string]>,
  ocspPresignProgress: {
    ja: (phase: "missing" | "due", signed: number, perSecond: number, done: boolean) =>
      `OCSP_PRESIGN: ${phase === "missing" ? "未署名・状態変更の証明書" : "期限の近い応答の更新"}: ${signed.toLocaleString("en")} 件を署名${done ? "しました（完了）" : "済み（継続中）"}、${perSecond.toLocaleString("en")} 件/秒`,
    en: (phase: "missing" | "due", signed: number, perSecond: number, done: boolean) =>
      `OCSP_PRESIGN: ${phase === "missing" ? "certificates without an up-to-date answer" : "answers due for renewal"}: ${signed.toLocaleString("en")} signed${done ? " (done)" : " so far"}, ${perSecond.toLocaleString("en")}/s`,
  } satisfies Msg<["missing" | "due", number, number, boolean]>,
  createdNew: {
    ja: (dir: string) => `データフォルダ ${dir} に認証局がないため、新しく作成します。`,
    en: (dir: string) => `No CA in ${dir} yet: creating one.`,
  } satisfies Msg<[string]>,
} as const;
