/** Argument checks every `shomei` command makes before it touches the network or the disk. */
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { isLang } from "../../i18n/lang.js";
import { msg } from "../../i18n/client_messages.js";
import { readStdin, str, type Parsed } from "../common.js";
import { normaliseServerUrl } from "../../client/est.js";
import { checkUserId } from "../../client/user_id.js";

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
