/** Argument checks every `shomei` command makes before it touches the network or the disk. */
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { isLang } from "../../i18n/lang.js";
import { msg } from "../../i18n/client_messages.js";
import { readStdin, str, type Parsed } from "../common.js";
import { normaliseServerUrl } from "../../client/est.js";
import { checkUserId } from "../../client/user_id.js";
import { describeCertificates } from "../../client/listing.js";
import type { CertificateStore } from "../../client/store.js";
import { formatTime } from "../../i18n/format.js";
import { askLine } from "./terminal.js";

/**
 * Refuses positional arguments beyond the first `allowed` ones (USAGE) and a --lang that is
 * neither ja nor en (FIELD_INVALID).
 */
export function checkArgs(p: Parsed, lang: Lang, allowed = 0): void {
  const extra = p.positionals[allowed];
  if (extra !== undefined) throw new ShomeiError("USAGE", { reason: msg(lang, "cli.unexpectedArgument", { arg: extra }) });
  const langArg = str(p, "lang");
  if (langArg !== undefined && !isLang(langArg)) throw new ShomeiError("FIELD_INVALID", { field: "--lang", reason: langArg });
}

/** The first line of standard input (`--password-stdin`): a password may contain spaces, so only the line ending goes. */
export async function firstLineOfStdin(): Promise<string> {
  return (await readStdin()).split(/\r?\n/)[0] ?? "";
}

/** `--server URL`, normalised (SERVER_URL_INVALID when it is not one), or undefined when not given. */
export function optionalServer(p: Parsed): string | undefined {
  const v = str(p, "server");
  return v === undefined ? undefined : normaliseServerUrl(v);
}

/** `--user ID`, checked against the user ID rules, or undefined when not given. */
export function optionalUserId(p: Parsed): string | undefined {
  const v = str(p, "user");
  if (v !== undefined) checkUserId(v);
  return v;
}

/** The O and CN of a subject such as "CN=a0000001, O=Example": the name shown next to a user ID. */
function subjectName(subject: string): string {
  const part = (key: string): string | undefined => new RegExp(`(?:^|[,/]\\s*)${key}=([^,/]+)`).exec(subject)?.[1]?.trim();
  return [part("O"), part("CN")].filter((x): x is string => x !== undefined).join(" / ");
}

/**
 * The user ID a command works with — the one place every `shomei` command picks it: `--user`
 * when given; else, when the store holds current certificates of several user IDs and both
 * standard input and output are terminals, a numbered choice (user ID, name from the subject,
 * expiry). Undefined otherwise, so the command goes on with the only user ID, or fails with
 * USER_AMBIGUOUS (which lists the IDs and says what to type) when there are several.
 */
export async function chooseUserId(p: Parsed, store: CertificateStore, lang: Lang): Promise<string | undefined> {
  const given = optionalUserId(p);
  if (given !== undefined) return given;
  if (!process.stdin.isTTY || !process.stdout.isTTY) return undefined;
  const current = describeCertificates(await store.listCertificates(), new Date()).filter((r) => r.current);
  const users = [...new Set(current.map((r) => r.userId))];
  if (users.length < 2) return undefined;
  process.stderr.write(msg(lang, "user.chooseHeader") + "\n");
  users.forEach((userId, i) => {
    const row = current.find((r) => r.userId === userId);
    process.stderr.write(msg(lang, "user.chooseItem", { n: String(i + 1), userId, name: row ? subjectName(row.subject) : "", notAfter: row ? formatTime(row.notAfter) : "" }) + "\n");
  });
  for (;;) {
    const answer = await askLine(msg(lang, "user.choosePrompt", { max: String(users.length) }));
    if (answer === undefined) return undefined;
    const chosen = users[Number(answer.trim()) - 1];
    if (/^\d+$/.test(answer.trim()) && chosen !== undefined) return chosen;
  }
}
