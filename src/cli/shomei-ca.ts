#!/usr/bin/env node
/** `shomei-ca`: the operator's command (CA, registration desk, service). */
import type { Lang } from "../i18n/errors.js";
import { ShomeiError } from "../i18n/errors.js";
import { VERSION } from "../version.js";
import { chooseLang, runMain } from "./common.js";
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
共通オプション: --data フォルダ, --db URL, --lang ja|en, --help`,
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
Common options: --data DIR, --db URL, --lang ja|en, --help`,
};

async function main(argv: string[], lang: Lang): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "init": return init.run(rest, lang);
    case "serve": return serve.run(rest, lang);
    case "start": return serve.runStart(rest, lang);
    case "user": return user.run(rest, lang);
    case "passcode": return user.runPasscode(rest, lang);
    case "cert": return cert.run(rest, lang);
    case "mail": return mail.run(rest, lang);
    case "keys": return keys.run(rest, lang);
    case "ca": return chain.run(rest, lang);
    case "--version": case "-V": case "version":
      process.stdout.write(`shomei-ca ${VERSION}\n`);
      return 0;
    case "help": {
      const topic = rest[0];
      const text = topic === "init" ? init.USAGE : topic === "serve" ? serve.USAGE : topic === "start" ? serve.START_USAGE
        : topic === "user" || topic === "passcode" ? user.USAGE : topic === "cert" ? cert.USAGE : topic === "mail" ? mail.USAGE : topic === "keys" ? keys.USAGE : topic === "ca" ? chain.USAGE : USAGE;
      process.stdout.write(text[lang] + "\n");
      return 0;
    }
    case undefined: case "--help": case "-h":
      process.stdout.write(USAGE[lang] + "\n");
      return cmd === undefined ? 2 : 0;
    default:
      throw new ShomeiError("USAGE", { reason: `unknown command "${cmd}"` });
  }
}

// In `user add`, --lang is the new user's language (their e-mails), not the operator's.
const argv = process.argv.slice(2);
await runMain(main, argv, argv[0] === "user" && argv[1] === "add" ? langFromEnv() : chooseLang(argv));
