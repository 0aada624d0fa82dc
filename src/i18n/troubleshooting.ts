/**
 * docs/troubleshooting.md, generated from the error catalog the code uses (errors.ts, and
 * background_messages.ts for the lines `serve` writes on its own), so the
 * page and the messages cannot drift apart. `npm run docs:errors` writes it; a test fails when
 * the page is out of date.
 */
import { BACKGROUND, type BackgroundCode } from "./background_messages.js";
import { ERRORS, type ErrorCode } from "./errors.js";

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\{(\w+)\}/g, "‹$1›");

export function renderTroubleshooting(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const backgroundCodes = Object.keys(BACKGROUND) as BackgroundCode[];
  const lines: string[] = [
    "# トラブルシューティング / Troubleshooting",
    "",
    "<!-- Generated from src/i18n/errors.ts by `npm run docs:errors`. Do not edit by hand. -->",
    "",
    "Shomei のエラーには必ずコード（例: `PASSCODE_REJECTED`）が付きます。表示されたコードを下の表で探し、「対処」に従ってください。",
    "解決しない場合は、コードと画面の内容を添えてヘルプデスク（エラー表示の「問い合わせ先」）に連絡してください。‹…› の部分には実際の値が入ります。",
    "",
    "Every Shomei error has a code (e.g. `PASSCODE_REJECTED`). Find the code below and follow \"What to do\". If that does not help,",
    "contact the helpdesk shown with the error, quoting the code and what you saw. ‹…› stands for the actual value.",
    "",
    "## 日本語",
    "",
    "| コード | 内容 | 対処 |",
    "| --- | --- | --- |",
    ...codes.map((c) => `| \`${c}\` | ${cell(ERRORS[c].ja)} | ${cell(ERRORS[c].remedyJa)} |`),
    "",
    "## English",
    "",
    "| Code | What it means | What to do | HTTP | exit |",
    "| --- | --- | --- | --- | --- |",
    ...codes.map((c) => `| \`${c}\` | ${cell(ERRORS[c].en)} | ${cell(ERRORS[c].remedyEn)} | ${ERRORS[c].status} | ${ERRORS[c].exit} |`),
    "",
    "Exit codes of the commands: 0 done; 1 you must act (see \"What to do\"); 2 the command was not used correctly (see `--help`); 3 internal error (please report it).",
    "",
    "## shomei-ca serve のログ / Lines shomei-ca serve writes",
    "",
    "`shomei-ca serve` は、CRL・OCSP・失効の確認・メール送信の処理について、標準エラー出力に `[コード] 内容 対処: …` の 1 行を書きます。どれもサービスを止めません。",
    "`shomei-ca serve` writes one line `[CODE] what happened What to do: …` on stderr for its background work (CRLs, OCSP, revocation checks, mail). None of them stops the service.",
    "",
    "| コード / Code | 種類 / Kind | 内容 | 対処 | What it means | What to do |",
    "| --- | --- | --- | --- | --- | --- |",
    ...backgroundCodes.map((c) => {
      const b = BACKGROUND[c];
      return `| \`${c}\` | ${b.level === "error" ? "エラー / error" : "通知 / notice"} | ${cell(b.ja)} | ${cell(b.remedyJa)} | ${cell(b.en)} | ${cell(b.remedyEn)} |`;
    }),
    "",
  ];
  return lines.join("\n");
}
