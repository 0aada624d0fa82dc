/** `shomei renew`: renew the current certificate with a new key. Usage: usage.renew. */
import { isShomeiError, ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { isKeyKind } from "../../pki/keys.js";
import { EstClient, normaliseServerUrl } from "../../client/est.js";
import { openCertificateStore } from "../../client/open_store.js";
import { renew, type RenewEvent } from "../../client/renew.js";
import { flag, parse, str, type Options } from "../common.js";
import { checkArgs, chooseUserId, optionalServer } from "./args.js";
import { formatLocalDateTime } from "./format.js";
import { shomeiVersion } from "./version.js";
import { PROXY_OPTION, proxyEnv } from "./proxy_option.js";
import { askLine } from "./terminal.js";

/**
 * At a terminal, the server for a certificate whose server the store does not know (imported
 * without --server): asked until a usable https:// address is typed. Undefined without a
 * terminal (or at end of input), so renew fails with RENEW_SERVER_UNKNOWN saying what to type.
 */
async function askServer(lang: Lang, userId: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  process.stderr.write(msg(lang, "renew.serverUnknown", { userId }) + "\n");
  for (;;) {
    const answer = await askLine(msg(lang, "renew.serverPrompt"));
    if (answer === undefined) return undefined;
    if (answer.trim() === "") continue;
    try {
      return normaliseServerUrl(answer);
    } catch (e) {
      if (!isShomeiError(e)) throw e;
      process.stderr.write(e.text(lang) + "\n");
    }
  }
}

const OPTIONS = {
  server: { type: "string" },
  user: { type: "string" },
  key: { type: "string" },
  store: { type: "string" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
  ...PROXY_OPTION,
} satisfies Options;

export async function renewCommand(args: readonly string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.renew"));
    return 0;
  }
  checkArgs(p, lang);
  const server = optionalServer(p);
  const keyKind = str(p, "key");
  if (keyKind !== undefined && !isKeyKind(keyKind)) throw new ShomeiError("FIELD_INVALID", { field: "--key", reason: `${keyKind} (ec-p256, ec-p384, rsa-2048, rsa-3072)` });
  const store = openCertificateStore(str(p, "store"));
  const userId = await chooseUserId(p, store, lang);

  const note = (text: string): void => void process.stderr.write(text + "\n");
  const progress = (e: RenewEvent): void => {
    switch (e.kind) {
      case "current": note(msg(lang, "renew.current", { userId: e.userId, serial: e.serial, notAfter: formatLocalDateTime(e.notAfter) })); break;
      case "resuming": note(msg(lang, "enroll.resuming", { time: formatLocalDateTime(e.createdAt) })); break;
      case "generating-key": note(msg(lang, "enroll.generatingKey", { keyKind: e.keyKind })); break;
      case "sending": note(msg(lang, "renew.sending", { url: e.url })); break;
    }
  };
  const r = await renew(
    { ...(userId ? { userId } : {}), ...(server ? { server } : {}), ...(keyKind && isKeyKind(keyKind) ? { keyKind } : {}) },
    {
      store,
      est: (s) => new EstClient(s, { userAgent: `shomei/${shomeiVersion()}`, lang, env: proxyEnv(p) }),
      progress,
      clientVersion: shomeiVersion(),
      askServer: (forUser) => askServer(lang, forUser),
    },
  );
  process.stdout.write(msg(lang, "renew.done", {
    serial: r.certificate.serialHex, notAfter: formatLocalDateTime(r.certificate.notAfter), cert: r.saved.cert, key: r.saved.key,
  }) + "\n");
  process.stdout.write(msg(lang, "renew.next", { previous: r.previousSerial }) + "\n");
  return 0;
}
