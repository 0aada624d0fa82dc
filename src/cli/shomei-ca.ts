#!/usr/bin/env node
/** `shomei-ca`: the operator's command (CA, registration desk, service). */
import type { Lang } from "../i18n/errors.js";
import { VERSION } from "../version.js";
import { chooseLang, runMain, splitCommandLine, unknownCommand, type CommandLine } from "./common.js";
import { langFromEnv } from "../i18n/lang.js";

const USAGE: Record<Lang, string> = {
  ja: `shomei-ca ${VERSION} — Shomei の認証局・登録窓口・サービス（運用担当者用）

使い方: shomei-ca <コマンド> [オプション]
  start               認証局がなければ作成して起動（お試し用）
  init                認証局を作成
  serve               HTTPS サービスを起動
  user add|list|show  利用者の登録・一覧・詳細
  passcode reissue    パスコードの再発行
  cert list|revoke    発行した証明書の一覧・失効
  mail status|retry   送信待ちメールの状況・再送
  keys status|rewrap  秘密鍵の暗号化方式の表示・暗号化し直し
  ca reissue-issuing|sign-arl  発行 CA 証明書の発行し直し（同じ鍵）・ARL への署名
  help <コマンド>      各コマンドの説明
共通オプション: --data フォルダ, --db URL（コマンドの後に）; --lang ja|en, --help, --version（前後どちらでも）`,
  en: `shomei-ca ${VERSION} — Shomei's CA, registration desk and service (for operators)

Usage: shomei-ca <command> [options]
  start               create a CA if there is none, then serve (for trying out)
  init                create a CA
  serve               start the HTTPS service
  user add|list|show  register, list and show users
  passcode reissue    issue a new passcode
  cert list|revoke    list issued certificates, revoke one
  mail status|retry   the outgoing mail queue; resend a failed mail
  keys status|rewrap  how the private keys are encrypted; re-encrypt old ones
  ca reissue-issuing|sign-arl  reissue the issuing CA certificate (same key); sign the ARL
  help <command>      help for a command
Common options: --data DIR, --db URL (after the command); --lang ja|en, --help, --version (before or after it)`,
};

interface Command {
  readonly run: (args: string[], lang: Lang) => Promise<number>;
  readonly usage: Record<Lang, string>;
}

/**
 * Each command's module is loaded when it runs, not all of them at every start: `serve` starts
 * its workers before it loads the modules it needs later, and a short command loads only its own.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  init: async () => { const m = await import("./ca/init.js"); return { run: m.run, usage: m.USAGE }; },
  serve: async () => { const m = await import("./ca/serve.js"); return { run: m.run, usage: m.USAGE }; },
  start: async () => { const m = await import("./ca/serve.js"); return { run: m.runStart, usage: m.START_USAGE }; },
  user: async () => { const m = await import("./ca/user.js"); return { run: m.run, usage: m.USAGE }; },
  passcode: async () => { const m = await import("./ca/user.js"); return { run: m.runPasscode, usage: m.USAGE }; },
  cert: async () => { const m = await import("./ca/cert.js"); return { run: m.run, usage: m.USAGE }; },
  mail: async () => { const m = await import("./ca/mail.js"); return { run: m.run, usage: m.USAGE }; },
  keys: async () => { const m = await import("./ca/keys.js"); return { run: m.run, usage: m.USAGE }; },
  ca: async () => { const m = await import("./ca/chain.js"); return { run: m.run, usage: m.USAGE }; },
};

async function command(word: string, lang: Lang): Promise<Command> {
  const load = Object.hasOwn(COMMANDS, word) ? COMMANDS[word] : undefined;
  if (!load) throw unknownCommand(word, `unknown command "${word}"`, lang);
  return load();
}

/** Help for a command word, or the overview when there is none; exit 0. */
async function help(word: string | undefined, lang: Lang): Promise<number> {
  process.stdout.write((word === undefined ? USAGE : (await command(word, lang)).usage)[lang] + "\n");
  return 0;
}

/** `shomei-ca [--lang ja|en] [--help] <command> [options]`; --version anywhere. */
async function main(argv: string[], lang: Lang): Promise<number> {
  const line = splitCommandLine(argv);
  const cmd = line.command;
  if (line.version || cmd === "version") {
    process.stdout.write(`shomei-ca ${VERSION}\n`);
    return 0;
  }
  if (line.help) return help(cmd, lang);
  if (cmd === "help") return help(splitCommandLine(line.rest).command, lang);
  if (cmd === undefined) {
    process.stdout.write(USAGE[lang] + "\n");
    return 2;
  }
  // The leading --lang chose the operator's language and is not passed on: after `user add`,
  // --lang is the new user's language.
  return (await command(cmd, lang)).run(line.rest, lang);
}

/** The operator's language: --lang before the command, else (except in `user add`) one after it, else the locale. */
function operatorLang(argv: readonly string[]): Lang {
  let line: CommandLine;
  try {
    line = splitCommandLine(argv);
  } catch {
    return chooseLang(argv);
  }
  if (line.lang) return line.lang;
  return line.command === "user" && line.rest[0] === "add" ? langFromEnv() : chooseLang(argv);
}

await runMain(main, process.argv.slice(2), operatorLang(process.argv.slice(2)));
