/**
 * `shomei root status|install|remove`: which root certificate the store trusts per server.
 * Usage, examples and exit codes: usage.root in src/i18n/client_messages.ts.
 */
import { readFile } from "node:fs/promises";
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { readCertificate, type CertificateInfo } from "../../pki/certificate.js";
import { normaliseFingerprint } from "../../pki/fingerprint.js";
import { EstClient } from "../../client/est.js";
import { openCertificateStore } from "../../client/open_store.js";
import type { CertificateStore } from "../../client/store.js";
import { installRoot, rootFromFile, rootFromServer, rootStatuses, type RootStatus } from "../../client/root_store.js";
import { isYes, type CaBundle } from "../../client/root_trust.js";
import { flag, parse, str, type Options } from "../common.js";
import { checkArgs, optionalServer } from "./args.js";
import { askLine } from "./terminal.js";
import { formatLocalDateTime } from "./format.js";
import { shomeiVersion } from "./version.js";

const OPTIONS = {
  server: { type: "string" },
  "root-fingerprint": { type: "string" },
  file: { type: "string" },
  store: { type: "string" },
  yes: { type: "boolean", short: "y" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
} satisfies Options;

const SUBCOMMANDS = ["status", "install", "remove"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function out(text: string): void {
  process.stdout.write(text + "\n");
}

function note(text: string): void {
  process.stderr.write(text + "\n");
}

function details(lang: Lang, root: CertificateInfo): string {
  return msg(lang, "root.details", {
    subject: root.subject, issuer: root.issuer,
    notBefore: formatLocalDateTime(root.notBefore), notAfter: formatLocalDateTime(root.notAfter), fingerprint: root.fingerprint,
  });
}

function statusLines(lang: Lang, s: RootStatus): string[] {
  const head = msg(lang, `root.status.${s.state}`, { server: s.server, fingerprint: s.recordedFingerprint ?? "" });
  if (s.root) return [head, details(lang, s.root)];
  return [head, msg(lang, "root.installHint", { server: s.server })];
}

async function status(lang: Lang, store: CertificateStore, server: string | undefined, now: Date): Promise<number> {
  const all = await rootStatuses(store, server, now);
  // Roots trusted at an import without --server belong to no server yet: shown when all are asked for.
  const withoutServer = server === undefined ? (await store.rootsWithoutServer()).map(readCertificate) : [];
  out(msg(lang, "list.store", { store: store.location }));
  if (all.length === 0 && withoutServer.length === 0) {
    out(msg(lang, "root.noServers", { store: store.location }));
    return 1;
  }
  for (const s of all) out(["", ...statusLines(lang, s)].join("\n"));
  for (const r of withoutServer) out(["", msg(lang, "root.status.withoutServer"), details(lang, r)].join("\n"));
  return all.every((s) => s.state === "trusted") ? 0 : 1;
}

async function install(lang: Lang, store: CertificateStore, server: string | undefined, given: string | undefined, file: string | undefined): Promise<number> {
  if (server === undefined) throw new ShomeiError("INPUT_REQUIRED", { what: "--server" });
  let bundle: CaBundle;
  if (file !== undefined) {
    note(msg(lang, "root.reading", { file }));
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (e) {
      throw new ShomeiError("ROOT_FILE_INVALID", { file, reason: e instanceof Error ? e.message : String(e) }, { cause: e });
    }
    bundle = await rootFromFile(data, file);
  } else {
    note(msg(lang, "enroll.fetchingRoot", { server }));
    bundle = await rootFromServer(new EstClient(server, { userAgent: `shomei/${shomeiVersion()}`, lang }));
  }
  note(msg(lang, "root.offered", { server }));
  note(details(lang, bundle.root));
  const r = await installRoot(
    { server, root: bundle.root, ...(given === undefined ? {} : { rootFingerprint: given }) },
    {
      store,
      prompts: {
        async confirm(_root, previous) {
          if (previous !== undefined) note(msg(lang, "enroll.rootChanged", { previous }));
          note(msg(lang, "root.securityWarning", { server }));
          if (!process.stdin.isTTY) return undefined;
          return isYes(await askLine(msg(lang, "enroll.trustPrompt")));
        },
      },
    },
  );
  if (r.because === "already-trusted") {
    out(msg(lang, "root.alreadyTrusted", { server }));
    return 0;
  }
  if (r.because === "fingerprint-given") note(msg(lang, "root.fingerprintMatched"));
  out(msg(lang, "root.installed", { server, path: r.path ?? "" }));
  if (r.replaced !== undefined) out(msg(lang, "root.replaced", { previous: r.replaced }));
  return 0;
}

async function remove(lang: Lang, store: CertificateStore, given: string | undefined, yes: boolean, now: Date): Promise<number> {
  const withRoot = given === undefined ? (await store.knownServers()).filter((k) => k.rootFingerprint !== undefined).map((k) => k.server) : [given];
  const server = withRoot[0];
  if (server === undefined) {
    out(msg(lang, "root.noneTrusted", { store: store.location }));
    return 0;
  }
  if (withRoot.length > 1) throw new ShomeiError("INPUT_REQUIRED", { what: `--server (${withRoot.join(" | ")})` });
  const [s] = await rootStatuses(store, server, now);
  if (!s || s.state === "none") {
    out(msg(lang, "root.notTrusted", { server }));
    return 0;
  }
  out(msg(lang, "root.removeWhat", { server }));
  out(s.root ? details(lang, s.root) : msg(lang, "root.status.damaged", { server, fingerprint: s.recordedFingerprint ?? "" }));
  out(msg(lang, "root.removeWarning", { server }));
  if (!yes) {
    if (!process.stdin.isTTY) throw new ShomeiError("CONFIRMATION_REQUIRED", { action: msg(lang, "root.removeAction") });
    if (!isYes(await askLine(msg(lang, "root.removePrompt")))) throw new ShomeiError("CANCELLED");
  }
  await store.untrustRoot(server);
  out(msg(lang, "root.removed", { server }));
  return 0;
}

/** Runs `shomei root …`; returns the exit code. */
export async function rootCommand(args: readonly string[], lang: Lang, now: Date = new Date()): Promise<number> {
  const p = parse(args, OPTIONS);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.root"));
    return 0;
  }
  const sub = p.positionals[0];
  if (sub === undefined) throw new ShomeiError("INPUT_REQUIRED", { what: SUBCOMMANDS.join(" | ") });
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new ShomeiError("USAGE", { reason: msg(lang, "cli.unknownCommand", { command: `root ${sub}` }) });
  checkArgs(p, lang, 1);
  const server = optionalServer(p);
  const given = str(p, "root-fingerprint");
  if (given !== undefined) normaliseFingerprint(given);
  const file = str(p, "file");
  const command = sub as Subcommand;
  if (command !== "install" && (given !== undefined || file !== undefined)) {
    throw new ShomeiError("USAGE", { reason: msg(lang, "cli.unexpectedArgument", { arg: given !== undefined ? "--root-fingerprint" : "--file" }) });
  }

  const store = openCertificateStore(str(p, "store"));
  switch (command) {
    case "status": return status(lang, store, server, now);
    case "install": return install(lang, store, server, given, file);
    case "remove": return remove(lang, store, server, flag(p, "yes"), now);
  }
}
