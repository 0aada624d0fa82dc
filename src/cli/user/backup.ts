/** `shomei export` and `shomei import`: PKCS#12 backups. Usage: usage.export, usage.import. */
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import {
  applyImport, BACKUP_PASSWORD_MIN, backupPasswordProblem, checkExport, exportBackup, planImport, readBackupFile,
} from "../../client/backup.js";
import { openCertificateStore } from "../../client/open_store.js";
import { FileStore } from "../../client/file_store.js";
import { isYes } from "../../client/root_trust.js";
import { normaliseFingerprint } from "../../pki/fingerprint.js";
import { flag, parse, required, str, type Options } from "../common.js";
import { checkArgs, chooseUserId, firstLineOfStdin, optionalServer } from "./args.js";
import { askLine } from "./terminal.js";
import { formatLocalDateTime } from "./format.js";

const COMMON = {
  store: { type: "string" },
  lang: { type: "string" },
  "password-stdin": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} satisfies Options;
const EXPORT_OPTIONS = { ...COMMON, out: { type: "string" }, user: { type: "string" }, profile: { type: "string" }, force: { type: "boolean" } } satisfies Options;
const IMPORT_OPTIONS = { ...COMMON, server: { type: "string" }, yes: { type: "boolean" }, "root-fingerprint": { type: "string" } } satisfies Options;

const note = (text: string): void => void process.stderr.write(text + "\n");

export async function exportCommand(args: readonly string[], lang: Lang): Promise<number> {
  const p = parse(args, EXPORT_OPTIONS, false);
  if (flag(p, "help")) return (process.stdout.write(msg(lang, "usage.export")), 0);
  checkArgs(p, lang);
  const out = required(p, "out");
  const profile = str(p, "profile") ?? "modern";
  if (profile !== "modern" && profile !== "compatible") throw new ShomeiError("FIELD_INVALID", { field: "--profile", reason: `${profile} (modern, compatible)` });
  const store = openCertificateStore(str(p, "store"));
  const userId = await chooseUserId(p, store, lang);
  // Everything that can fail without the password is checked before it is asked for.
  const forUser = await checkExport(store, { out, force: flag(p, "force"), ...(userId ? { userId } : {}) });
  note(msg(lang, "export.warning"));
  let password: string;
  if (flag(p, "password-stdin")) {
    password = await firstLineOfStdin();
  } else {
    const first = await askLine(msg(lang, "export.passwordPrompt"), { secret: true });
    if (first === undefined) throw new ShomeiError("INPUT_REQUIRED", { what: "--password-stdin" });
    // A weak password is said after the first entry, not after typing it twice.
    const problem = backupPasswordProblem(first, forUser);
    if (problem) throw new ShomeiError("BACKUP_PASSWORD_WEAK", { reason: problem, min: BACKUP_PASSWORD_MIN });
    const again = await askLine(msg(lang, "export.passwordAgain"), { secret: true });
    if (again !== first) throw new ShomeiError("PASSWORD_CONFIRM_MISMATCH");
    password = first;
  }
  const r = await exportBackup(store, { out, password, profile, force: flag(p, "force"), ...(userId ? { userId } : {}) });
  process.stdout.write(msg(lang, "export.done", {
    userId: r.userId, serial: r.serial, notAfter: formatLocalDateTime(r.notAfter), chain: r.chainLength, file: r.file,
    profile: profile === "modern" ? "AES-256 / SHA-256" : "3DES / SHA-1",
  }) + "\n");
  return 0;
}

export async function importCommand(args: readonly string[], lang: Lang): Promise<number> {
  const p = parse(args, IMPORT_OPTIONS, true);
  if (flag(p, "help")) return (process.stdout.write(msg(lang, "usage.import")), 0);
  checkArgs(p, lang, 1);
  const file = p.positionals[0];
  if (file === undefined) throw new ShomeiError("INPUT_REQUIRED", { what: "FILE" });
  const server = optionalServer(p);
  const store = openCertificateStore(str(p, "store"));
  await readBackupFile(file); // a missing or unreadable file is said before the password is asked for
  const password = flag(p, "password-stdin") ? await firstLineOfStdin() : await askLine(msg(lang, "import.passwordPrompt"), { secret: true });
  if (password === undefined) throw new ShomeiError("INPUT_REQUIRED", { what: "--password-stdin" });

  const plan = await planImport(store, file, password);
  note(msg(lang, "import.found", {
    userId: plan.userId, serial: plan.certificate.serialHex, notAfter: formatLocalDateTime(plan.certificate.notAfter), issuer: plan.certificate.issuer,
  }));
  let trust = false;
  if (plan.root && plan.rootNeedsTrust) {
    note(msg(lang, "import.rootOffered", { subject: plan.root.subject, fingerprint: plan.root.fingerprint }));
    if (plan.otherRoots.length > 0) note(msg(lang, "import.otherCa"));
    note(msg(lang, "root.securityWarning", { server: server ?? plan.knownServer ?? msg(lang, "server.unknown") }));
    const given = str(p, "root-fingerprint");
    if (given !== undefined) {
      if (normaliseFingerprint(given) !== plan.root.fingerprint) throw new ShomeiError("ROOT_FINGERPRINT_MISMATCH");
      trust = true;
    } else if (flag(p, "yes")) {
      trust = true;
    } else if (process.stdin.isTTY) {
      trust = isYes(await askLine(msg(lang, "import.trustPrompt")));
    }
    if (!trust) throw new ShomeiError("IMPORT_NOT_CONFIRMED");
  } else if (plan.otherRoots.length > 0) {
    note(msg(lang, "import.otherCa"));
  }
  const r = await applyImport(store, plan, server, trust);
  const renewsAt = server ?? plan.knownServer;
  if (r.rootSaved) {
    process.stdout.write((renewsAt === undefined ? msg(lang, "import.rootSavedNoServer", { path: r.rootSaved }) : msg(lang, "import.rootSaved", { server: renewsAt, path: r.rootSaved })) + "\n");
  }
  const done = store instanceof FileStore ? "import.done.file" : "import.done";
  process.stdout.write((r.saved ? msg(lang, done, { cert: r.saved.cert, key: r.saved.key }) : msg(lang, "import.already")) + "\n");
  // Without a root nothing can check the server later: say so now, with what to do.
  if (!plan.root && (renewsAt === undefined || (await store.trustedRoot(renewsAt)) === undefined)) note(msg(lang, "import.noRoot"));
  // Without a server, renewal has to ask for it: say so now.
  if (renewsAt === undefined && r.saved) note(msg(lang, "import.serverLater"));
  return 0;
}
