/**
 * `shomei doctor`: finds why enrolling, renewing or logging in does not work, one check at a
 * time, and says what to do; optionally writes a support report (no secrets) for the
 * helpdesk. Usage: usage.doctor. Exit: 0 nothing is a problem (warnings allowed), 1 problems.
 */
import { existsSync } from "node:fs";
import { arch, release, type } from "node:os";
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { dmsg } from "../../i18n/doctor_messages.js";
import { Doctor } from "../../client/doctor.js";
import { exitCodeOf, runChecks, type CheckId, type CheckResult } from "../../client/doctor_run.js";
import { describeCertificates } from "../../client/listing.js";
import type { CertificateStore } from "../../client/store.js";
import { checkLines, renderReport, reportJson, summaryLine, type DoctorReport } from "../../client/doctor_report.js";
import { openCertificateStore, storeSpec } from "../../client/open_store.js";
import { writeFileAtomic } from "../../util/files.js";
import { flag, parse, str, type Options } from "../common.js";
import { checkArgs, optionalServer, optionalUserId } from "./args.js";
import { shomeiVersion } from "./version.js";
import { PROXY_OPTION, proxyEnv } from "./proxy_option.js";
import { askOcsp } from "../../client/ocsp_check.js";

const OPTIONS = {
  server: { type: "string" },
  user: { type: "string" },
  store: { type: "string" },
  report: { type: "string" },
  force: { type: "boolean" },
  json: { type: "boolean" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
  ...PROXY_OPTION,
} satisfies Options;

/** The checks about one user ID's certificate: run once per user ID when the store holds several. */
const PER_CERTIFICATE: readonly CheckId[] = ["certificate", "expiry", "revocation", "key", "duplicates"];

/** The user IDs with certificates in the store, in order; empty when it cannot be read (the store check says why). */
async function storedUserIds(store: CertificateStore): Promise<string[]> {
  try {
    return [...new Set(describeCertificates(await store.listCertificates(), new Date()).map((r) => r.userId))].sort();
  } catch {
    return [];
  }
}

export async function doctorCommand(args: readonly string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS, false);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.doctor"));
    return 0;
  }
  checkArgs(p, lang);
  const server = optionalServer(p);
  const userId = optionalUserId(p);
  const reportFile = str(p, "report");
  if (reportFile === "") throw new ShomeiError("INPUT_REQUIRED", { what: "--report FILE" });
  // Said before the checks run (they can take a while), not after; the write below still never replaces it.
  if (reportFile !== undefined && !flag(p, "force") && existsSync(reportFile)) throw new ShomeiError("REPORT_FILE_EXISTS", { file: reportFile });
  const json = flag(p, "json");
  const env = proxyEnv(p);
  const spec = storeSpec(str(p, "store"));
  const store = openCertificateStore(spec);

  // Several user IDs and no --user: every ID's certificate is checked (the per-certificate
  // checks once per ID, labelled with it); the network and store checks run once.
  const users = userId !== undefined ? [userId] : await storedUserIds(store);
  const prepare = (forUser: string | undefined): Promise<Doctor> => Doctor.prepare({
    lang, storeSpec: spec, store, env, clientVersion: shomeiVersion(), now: () => new Date(),
    ...(server ? { server } : {}), ...(forUser ? { userId: forUser } : {}), ocsp: askOcsp,
  });
  const labelled = users.length > 1;
  const doctor = await prepare(labelled ? users[0] : userId);

  const tty = process.stderr.isTTY === true;
  const runFor = async (d: Doctor, forUser: string | undefined, only?: readonly CheckId[]): Promise<CheckResult[]> => {
    const label = (r: CheckResult): CheckResult => forUser !== undefined && PER_CERTIFICATE.includes(r.id)
      ? { ...r, title: `${r.title} [${forUser}]`, details: { ...r.details, userId: forUser } }
      : r;
    const defs = d.definitions().filter((def) => only === undefined || only.includes(def.id));
    const out = await runChecks(defs, lang, {
      starting: (id, title) => { if (tty) process.stderr.write(dmsg(lang, "progress", { title: forUser !== undefined && PER_CERTIFICATE.includes(id) ? `${title} [${forUser}]` : title })); },
      finished: (r) => {
        if (tty) process.stderr.write("\r\x1b[K");
        if (!json) process.stdout.write(checkLines(lang, label(r)).join("\n") + "\n");
      },
    });
    return out.map(label);
  };
  const results: CheckResult[] = await runFor(doctor, labelled ? users[0] : undefined);
  if (labelled) {
    for (const other of users.slice(1)) {
      const d = await prepare(other);
      await d.readCertificates().catch(() => undefined); // the store check ran in the full run above (and says if it cannot be read)
      results.push(...await runFor(d, other, PER_CERTIFICATE));
    }
  }

  const helpdesk = await doctor.helpdesk();
  const proxySetting = env.https_proxy || env.HTTPS_PROXY || undefined;
  const noProxy = env.no_proxy || env.NO_PROXY || undefined;
  const report: DoctorReport = {
    generatedAt: new Date(), version: shomeiVersion(), os: `${type()} ${release()} ${arch()}`, node: process.version,
    settings: {
      ...(doctor.server ? { server: doctor.server } : {}),
      storeKind: spec.startsWith("nss:") || spec.startsWith("sql:") ? "nss" : "file", storePath: store.location,
      ...(proxySetting ? { proxy: proxySetting } : {}), ...(noProxy ? { noProxy } : {}),
      ...(userId ? { userId } : {}), lang,
    },
    checks: results, certificates: doctor.certificateRows(), ...(helpdesk ? { helpdesk } : {}),
  };

  if (json) process.stdout.write(JSON.stringify(reportJson(report), null, 2) + "\n");
  else process.stdout.write("\n" + summaryLine(lang, results) + "\n");

  if (reportFile !== undefined) {
    try {
      // 0600, and never over an existing file unless asked (like export).
      await writeFileAtomic(reportFile, renderReport(report), { mode: 0o600, exclusive: !flag(p, "force") });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new ShomeiError("REPORT_FILE_EXISTS", { file: reportFile });
      throw new ShomeiError("REPORT_WRITE_FAILED", { file: reportFile, reason: (e as Error).message }, { cause: e });
    }
  }
  // With --json, stdout is the JSON alone: the human lines go to stderr.
  const out = json ? process.stderr : process.stdout;
  out.write((helpdesk ? dmsg(lang, "helpdesk", { helpdesk }) : dmsg(lang, "helpdeskUnknown")) + "\n");
  if (reportFile !== undefined) out.write(dmsg(lang, "report.written", { file: reportFile }) + "\n");
  return exitCodeOf(results);
}
