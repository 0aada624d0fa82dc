/**
 * `npm run tour`: the user's whole journey against a throwaway CA, in the order of the user's
 * guide, with the real commands — the quickest way to see Shomei work. Every step prints the
 * command it runs (as you would type it) and what came out.
 *
 *   npm run tour            Japanese or English from the locale
 *   npm run tour -- --lang en
 *   npm run tour -- --keep  keep the throwaway folder to look around afterwards
 *
 * The CA is made with `--client-validity-days 20` so that renewal (which opens 30 days before
 * expiry) can be shown at once instead of in eleven months.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SHOMEI_CA = fileURLToPath(new URL("../src/cli/shomei-ca.js", import.meta.url));
const SHOMEI = fileURLToPath(new URL("../src/cli/shomei.js", import.meta.url));

const args = process.argv.slice(2);
const lang: "ja" | "en" = args.includes("--lang") ? (args[args.indexOf("--lang") + 1] === "en" ? "en" : "ja")
  : /^ja/i.test(process.env.LC_ALL || process.env.LANG || "ja") ? "ja" : "en";
const keep = args.includes("--keep");
const t = (ja: string, en: string): string => (lang === "ja" ? ja : en);

const base = mkdtempSync(join(tmpdir(), "shomei-tour-"));
const data = join(base, "ca");
const pc1 = join(base, "pc1-store");
const pc2 = join(base, "pc2-store");
const env = { ...process.env, LANG: lang === "ja" ? "ja_JP.UTF-8" : "en_US.UTF-8", SHOMEI_STORE: pc1 };

let stepNo = 0;
function step(title: string): void {
  stepNo += 1;
  process.stdout.write(`\n\x1b[1m== ${stepNo}. ${title}\x1b[0m\n`);
}

function show(cmd: string, cmdArgs: readonly string[]): void {
  const shown = cmdArgs.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
  process.stdout.write(`$ ${cmd} ${shown.replaceAll(base, "$TOUR")}\n`);
}

/** Runs a command, prints its output indented, and stops the tour if it failed unexpectedly. */
function sh(cmd: "shomei-ca" | "shomei", cmdArgs: readonly string[], o: { input?: string; expect?: number } = {}): string {
  show(cmd, cmdArgs);
  const r = spawnSync(process.execPath, [cmd === "shomei" ? SHOMEI : SHOMEI_CA, ...cmdArgs], { env, input: o.input ?? "", encoding: "utf8" });
  // Progress (stderr) comes before the result (stdout) in time: show them in that order.
  const out = `${r.stderr}${r.stdout}`.trimEnd().replaceAll(base, "$TOUR");
  if (out) process.stdout.write(out.split("\n").map((l) => `    ${l}`).join("\n") + "\n");
  if (r.status !== (o.expect ?? 0)) {
    process.stdout.write(t(`\nツアーを中止しました（終了コード ${r.status ?? "?"}）。\n`, `\nThe tour stopped (exit code ${r.status ?? "?"}).\n`));
    cleanup();
    process.exit(1);
  }
  return r.stdout;
}

/** The newest mail to `to` in the outbox: its text (our .eml bodies are base64 UTF-8). */
function mailText(to: string, line: RegExp): string {
  const box = join(data, "outbox");
  for (const f of readdirSync(box).sort().reverse()) {
    const raw = readFileSync(join(box, f), "utf8");
    const [head = "", body = ""] = raw.split("\r\n\r\n");
    if (!head.includes(`To: ${to}`)) continue;
    const text = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    const m = line.exec(text);
    if (m?.[1]) return m[1];
  }
  throw new Error(`no mail to ${to} matching ${String(line)}`);
}

let server: ChildProcess | undefined;
function cleanup(): void {
  server?.kill("SIGTERM");
  if (keep) process.stdout.write(t(`\nフォルダを残しました: ${base}\n`, `\nKept the folder: ${base}\n`));
  else rmSync(base, { recursive: true, force: true });
}

async function main(): Promise<void> {
  process.stdout.write(t(
    "Shomei のツアー: 使い捨ての認証局で、利用者の手順（登録 → 証明書の取得 → ログイン確認 → バックアップ → 別の PC へ → 更新 → 古い証明書の削除）を順に実行します。\n",
    "A tour of Shomei: with a throwaway CA, the user's journey in the guide's order (register → obtain the certificate → login check → backup → another PC → renew → remove the old one).\n",
  ));

  step(t("運用担当者: 認証局を作る（最初の運用担当者も登録されます）", "Operator: create the CA (the first operator is registered too)"));
  const init = sh("shomei-ca", ["init", "--data", data, "--org", t("ツアー株式会社", "Tour Corp"), "--hostname", "localhost,127.0.0.1", "--helpdesk", "helpdesk@example.jp", "--client-validity-days", "20", "--lang", lang]);
  const fingerprint = /Root CA fingerprint \(SHA-256\): (\S+)/.exec(init)?.[1] ?? "";

  step(t("運用担当者: サービスを起動する（EST とオンラインシステム）", "Operator: start the service (EST and the online system)"));
  show("shomei-ca", ["serve", "--data", data, "--port", "0"]);
  const urls = await new Promise<{ est: string; portal: string }>((resolve, reject) => {
    server = spawn(process.execPath, [SHOMEI_CA, "serve", "--data", data, "--port", "0", "--host", "127.0.0.1"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    server.stdout?.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      const est = /^EST: (\S+)\/\.well-known\/est$/m.exec(out)?.[1];
      const portal = /^Portal: (\S+)$/m.exec(out)?.[1];
      if (est && portal) resolve({ est, portal: portal.replace(/\/$/, "") });
    });
    server.on("exit", (code) => reject(new Error(`serve exited ${code ?? "?"}: ${out}`)));
  });
  process.stdout.write(`    EST: ${urls.est}/.well-known/est\n    Portal: ${urls.portal}/\n`);

  step(t("運用担当者: 利用者を登録する（パスコードと初期パスワードのメール）", "Operator: register a user (passcode and initial-password e-mails)"));
  const email = "hanako@example.jp";
  sh("shomei-ca", ["user", "add", "a0000001", "--email", email, "--name", t("山田 花子", "Hanako Yamada"), "--data", data, "--lang", lang]);
  const passcode = mailText(email, /^(?:パスコード|Passcode): (\S+)$/m);
  const initial = mailText(email, /^(?:初期パスワード|Initial password): (\S+)$/m);
  process.stdout.write(t(`    （メールより）パスコード ${passcode}、初期パスワード ${initial}\n`, `    (from the e-mails) passcode ${passcode}, initial password ${initial}\n`));

  step(t("利用者 STEP 2: 証明書を取得する", "User, STEP 2: obtain the certificate"));
  sh("shomei", ["enroll", "--server", urls.est, "--user", "a0000001", "--root-fingerprint", fingerprint, "--passcode-stdin", "--store", pc1], { input: `${passcode}\n` });
  sh("shomei", ["list", "--store", pc1]);

  step(t("利用者 STEP 3: ログインできるか確かめる（初期パスワード）", "User, STEP 3: check that login works (initial password)"));
  sh("shomei", ["login-check", "--server", urls.portal, "--store", pc1, "--password-stdin"], { input: `${initial}\n` });
  process.stdout.write(t(`    ブラウザでは ${urls.portal}/ を開き、証明書を選んでログインします。\n`, `    In a browser, open ${urls.portal}/, choose the certificate and log in.\n`));

  step(t("利用者 STEP 4: バックアップ（パスワード付き .p12 ファイル）", "User, STEP 4: back up (a password-protected .p12 file)"));
  const backup = join(base, "a0000001.p12");
  const password = "Tour-Backup-2026!";
  sh("shomei", ["export", "--out", backup, "--password-stdin", "--store", pc1], { input: `${password}\n` });

  step(t("利用者（その後 1）: 別の PC で読み込む（ルート証明書の警告を確認して）", "User (After 1): import on another PC (checking the root warning)"));
  sh("shomei", ["import", backup, "--server", urls.est, "--root-fingerprint", fingerprint, "--password-stdin", "--store", pc2], { input: `${password}\n` });
  sh("shomei", ["login-check", "--server", urls.portal, "--store", pc2, "--password-stdin"], { input: `${initial}\n` });

  step(t("利用者: 有効期限が近づいたら更新する（今の証明書で、新しい鍵で）", "User: renew before expiry (with the current certificate, for a new key)"));
  // Certificates' dates have whole seconds: let the renewed one be visibly newer.
  await new Promise((r) => setTimeout(r, 1100));
  sh("shomei", ["renew", "--store", pc1]);
  sh("shomei", ["list", "--store", pc1]);

  step(t("利用者（その後 2）: 古い証明書を削除する（今使う証明書は残す）", "User (After 2): remove the old certificate (the current one stays)"));
  sh("shomei", ["prune", "--yes", "--store", pc1]);
  sh("shomei", ["list", "--store", pc1]);

  process.stdout.write(t("\nツアーは以上です。\n", "\nThat is the tour.\n"));
}

main().then(cleanup, (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  cleanup();
  process.exit(1);
});
