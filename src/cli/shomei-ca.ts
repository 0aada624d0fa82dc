#!/usr/bin/env node
/** `shomei-ca`: the operator's command (CA, registration desk, service). */
import type { Lang } from "../i18n/errors.js";
import { VERSION } from "../version.js";
import { chooseLang, runMain, splitCommandLine, unknownCommand, type CommandLine } from "./common.js";
import { langFromEnv } from "../i18n/lang.js";
import * as init from "./ca/init.js";
import * as serve from "./ca/serve.js";
import * as user from "./ca/user.js";
import * as cert from "./ca/cert.js";
import * as mail from "./ca/mail.js";
import * as keys from "./ca/keys.js";
import * as chain from "./ca/chain.js";

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

const COMMANDS: Readonly<Record<string, { run: (args: string[], lang: Lang) => Promise<number>; usage: Record<Lang, string> }>> = {
  init: { run: init.run, usage: init.USAGE },
  serve: { run: serve.run, usage: serve.USAGE },
  start: { run: serve.runStart, usage: serve.START_USAGE },
  user: { run: user.run, usage: user.USAGE },
  passcode: { run: user.runPasscode, usage: user.USAGE },
  cert: { run: cert.run, usage: cert.USAGE },
  mail: { run: mail.run, usage: mail.USAGE },
  keys: { run: keys.run, usage: keys.USAGE },
  ca: { run: chain.run, usage: chain.USAGE },
};

function command(word: string, lang: Lang): (typeof COMMANDS)[string] {
  const c = Object.hasOwn(COMMANDS, word) ? COMMANDS[word] : undefined;
  if (!c) throw unknownCommand(word, `unknown command "${word}"`, lang);
  return c;
}

/** Help for a command word, or the overview when there is none; exit 0. */
function help(word: string | undefined, lang: Lang): number {
  process.stdout.write((word === undefined ? USAGE : command(word, lang).usage)[lang] + "\n");
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
  return command(cmd, lang).run(line.rest, lang);
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
