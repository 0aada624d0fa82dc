/**
 * `shomei enroll`: obtain a client certificate with the user ID and one-time passcode.
 * Usage, examples and exit codes: usage.enroll in src/i18n/client_messages.ts.
 */
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { isKeyKind } from "../../pki/keys.js";
import { normaliseFingerprint } from "../../pki/fingerprint.js";
import { enroll, type EnrollEvent, type EnrollPrompts } from "../../client/enroll.js";
import { EstClient, normaliseServerUrl } from "../../client/est.js";
import { openCertificateStore } from "../../client/open_store.js";
import { FileStore } from "../../client/file_store.js";
import { checkUserId } from "../../client/user_id.js";
import { isYes } from "../../client/root_trust.js";
import { flag, parse, readStdin, required, str, type Options } from "../common.js";
import { checkArgs } from "./args.js";
import { askLine } from "./terminal.js";
import { formatLocalDateTime } from "./format.js";
import { shomeiVersion } from "./version.js";
import { PROXY_OPTION, proxyEnv } from "./proxy_option.js";

const OPTIONS = {
  server: { type: "string" },
  user: { type: "string" },
  "passcode-stdin": { type: "boolean" },
  "root-fingerprint": { type: "string" },
  key: { type: "string" },
  store: { type: "string" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
  ...PROXY_OPTION,
} satisfies Options;

function note(text: string): void {
  process.stderr.write(text + "\n");
}

/** Prompts on the terminal (or stdin for the passcode), progress on stderr. */
function terminalPrompts(lang: Lang, passcodeFromStdin: boolean): EnrollPrompts {
  return {
    async confirmRoot(_root, previous) {
      if (!process.stdin.isTTY) return undefined;
      if (previous !== undefined) note(msg(lang, "enroll.rootChanged", { previous }));
      note(msg(lang, "enroll.checkFingerprint"));
      const answer = await askLine(msg(lang, "enroll.trustPrompt"));
      return answer === undefined ? undefined : isYes(answer);
    },
    async passcode() {
      if (passcodeFromStdin) return (await readStdin()).trim();
      return askLine(msg(lang, "enroll.passcodePrompt"), { secret: true });
    },
    progress(e: EnrollEvent) {
      switch (e.kind) {
        case "fetching-root": note(msg(lang, "enroll.fetchingRoot", { server: e.server })); break;
        case "root-offered":
          note(msg(lang, "enroll.rootOffered", { subject: e.root.subject, notAfter: formatLocalDateTime(e.root.notAfter), fingerprint: e.root.fingerprint }));
          break;
        case "root-trusted": note(msg(lang, `enroll.rootTrusted.${e.because}`)); break;
        case "resuming": note(msg(lang, "enroll.resuming", { time: formatLocalDateTime(e.createdAt) })); break;
        case "generating-key": note(msg(lang, "enroll.generatingKey", { keyKind: e.keyKind })); break;
        case "sending": note(msg(lang, "enroll.sending")); break;
      }
    },
  };
}

/** Runs `shomei enroll`; returns the exit code. */
export async function enrollCommand(args: readonly string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.enroll"));
    return 0;
  }
  // Every argument is checked before anything touches the network or the disk.
  checkArgs(p, lang);
  const server = normaliseServerUrl(required(p, "server"));
  const userId = checkUserId(required(p, "user"));
  const keyKind = str(p, "key") ?? "ec-p256";
  if (!isKeyKind(keyKind)) throw new ShomeiError("FIELD_INVALID", { field: "--key", reason: `${keyKind} (ec-p256, ec-p384, rsa-2048, rsa-3072)` });
  const rootFingerprint = str(p, "root-fingerprint");
  if (rootFingerprint !== undefined) normaliseFingerprint(rootFingerprint);

  const store = openCertificateStore(str(p, "store"));
  const est = new EstClient(server, { userAgent: `shomei/${shomeiVersion()}`, lang, env: proxyEnv(p) });
  const r = await enroll(
    { userId, keyKind, ...(rootFingerprint === undefined ? {} : { rootFingerprint }) },
    { est, store, prompts: terminalPrompts(lang, flag(p, "passcode-stdin")), clientVersion: shomeiVersion() },
  );
  if (r.rootSaved !== undefined) process.stdout.write(msg(lang, "enroll.rootSaved", { root: r.rootSaved }) + "\n");
  process.stdout.write(msg(lang, "enroll.done", {
    userId: r.userId, serial: r.certificate.serialHex, notAfter: formatLocalDateTime(r.certificate.notAfter),
    cert: r.saved.cert, key: r.saved.key, chain: r.saved.chain,
  }) + "\n");
  // Only an NSS database is what the browser reads: a file store needs one more step.
  process.stdout.write(msg(lang, store instanceof FileStore ? "enroll.next.file" : "enroll.next") + "\n");
  return 0;
}
