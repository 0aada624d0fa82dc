/**
 * What both commands share: argument parsing with one wording for mistakes, printing errors
 * with their remedy, telling "you did something wrong" from "this is a bug", and prompts.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ShomeiError, isShomeiError, REMEDY_LABEL, type Lang } from "../i18n/errors.js";
import { isLang, langFromEnv } from "../i18n/lang.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  readonly positionals: string[];
}

/** parseArgs with Shomei's error (USAGE) instead of Node's TypeError. */
export function parse(args: readonly string[], options: Options, allowPositionals = true): Parsed {
  try {
    const r = parseArgs({ args: [...args], options, allowPositionals, strict: true });
    return { values: r.values as Parsed["values"], positionals: r.positionals };
  } catch (e) {
    throw new ShomeiError("USAGE", { reason: e instanceof Error ? e.message.replace(/\. To specify.*$/s, "") : String(e) });
  }
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === "string" ? v : undefined;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function required(p: Parsed, name: string): string {
  const v = str(p, name);
  if (v === undefined || v === "") throw new ShomeiError("INPUT_REQUIRED", { what: `--${name}` });
  return v;
}

/** A non-negative integer option. */
export function int(p: Parsed, name: string, fallback: number): number {
  const v = str(p, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new ShomeiError("FIELD_INVALID", { field: `--${name}`, reason: v });
  return Number(v);
}

/** --lang if given and valid, else the locale. */
export function chooseLang(args: readonly string[]): Lang {
  const i = args.findIndex((a) => a === "--lang" || a.startsWith("--lang="));
  if (i >= 0) {
    const arg = args[i] ?? "";
    const v = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[i + 1];
    if (isLang(v)) return v;
  }
  return langFromEnv();
}

/**
 * A command line split around its command word. The global options (--lang, --help/-h,
 * --version/-V) may come before the command word; after it, each command reads --lang and
 * --help itself, and --version counts anywhere.
 */
export interface CommandLine {
  /** --lang before the command word (ja or en; anything else is FIELD_INVALID). */
  readonly lang: Lang | undefined;
  /** --help or -h before the command word. */
  readonly help: boolean;
  /** --version or -V anywhere before a "--". */
  readonly version: boolean;
  /** The global options before the command word, as given. */
  readonly leading: string[];
  /** The first word that is not a global option (may be an option the command word must precede). */
  readonly command: string | undefined;
  /** Everything after the command word, as given. */
  readonly rest: string[];
}

const VERSION_FLAGS = new Set(["--version", "-V"]);
const HELP_FLAGS = new Set(["--help", "-h"]);

export function splitCommandLine(argv: readonly string[]): CommandLine {
  let lang: Lang | undefined;
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (HELP_FLAGS.has(a)) help = true;
    else if (VERSION_FLAGS.has(a)) continue;
    else if (a === "--lang" || a.startsWith("--lang=")) {
      const v = a === "--lang" ? argv[++i] : a.slice("--lang=".length);
      if (v === undefined) throw new ShomeiError("USAGE", { reason: "option '--lang <value>' argument missing" });
      if (!isLang(v)) throw new ShomeiError("FIELD_INVALID", { field: "--lang", reason: v });
      lang = v;
    } else break;
  }
  const end = argv.indexOf("--");
  const version = (end < 0 ? argv : argv.slice(0, end)).some((a) => VERSION_FLAGS.has(a));
  return { lang, help, version, leading: argv.slice(0, i), command: argv[i], rest: argv.slice(i + 1) };
}

/** The USAGE error for a command word that is none of `commands` (an option there must follow the command). */
export function unknownCommand(word: string, unknown: string, lang: Lang): ShomeiError {
  const misplaced = lang === "ja" ? `オプション「${word}」はコマンドの後に指定してください` : `option "${word}" goes after the command`;
  return new ShomeiError("USAGE", { reason: word.startsWith("-") ? misplaced : unknown });
}

/** Prints an error as the user should see it: message, then what to do, then where to turn. */
export function formatError(e: ShomeiError, lang: Lang, helpdesk?: string): string {
  const lines = [`${lang === "ja" ? "エラー" : "Error"} [${e.code}]: ${e.text(lang)}`, `${REMEDY_LABEL[lang]}: ${e.remedy(lang)}`];
  if (helpdesk) lines.push(`${lang === "ja" ? "問い合わせ先" : "Helpdesk"}: ${helpdesk}`);
  return lines.join("\n");
}

/**
 * Runs a command's main function and turns its outcome into output and an exit code.
 * ShomeiErrors are the user's to fix; anything else is a bug and says so.
 */
export async function runMain(
  main: (args: string[], lang: Lang) => Promise<number>,
  argv: string[] = process.argv.slice(2),
  lang: Lang = chooseLang(argv),
): Promise<void> {
  try {
    process.exitCode = await main(argv, lang);
  } catch (e) {
    if (isShomeiError(e)) {
      process.stderr.write(formatError(e, lang, typeof e.params.helpdesk === "string" ? e.params.helpdesk : undefined) + "\n");
      process.exitCode = e.exitCode;
    } else {
      const bug = new ShomeiError("INTERNAL");
      process.stderr.write(formatError(bug, lang) + "\n");
      process.stderr.write(`${lang === "ja" ? "詳細（不具合として報告してください）" : "Details (please report this as a bug)"}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 3;
    }
  }
}

/** Reads all of standard input as text (for --passcode-stdin and --password-stdin). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
