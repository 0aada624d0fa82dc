/**
 * What `shomei doctor` hands over: the --json result and the --report text file for a
 * helpdesk inquiry. Pure. Only metadata goes in: never a private key, password, passcode,
 * cookie or the proxy's password (a proxy URL is always shown masked).
 */
import type { Lang } from "../i18n/errors.js";
import { dmsg } from "../i18n/doctor_messages.js";
import type { CertificateRow } from "./listing.js";
import { formatTime } from "../i18n/format.js";
import type { CheckResult } from "./doctor_run.js";

export interface DoctorSettings {
  readonly server?: string;
  readonly storeKind: "file" | "nss";
  readonly storePath: string;
  /** As given (--proxy or HTTPS_PROXY); masked when rendered. */
  readonly proxy?: string;
  readonly noProxy?: string;
  readonly userId?: string;
  readonly lang: Lang;
}

export interface DoctorReport {
  readonly generatedAt: Date;
  readonly version: string;
  readonly os: string;
  readonly node: string;
  readonly settings: DoctorSettings;
  readonly checks: readonly CheckResult[];
  readonly certificates: readonly CertificateRow[];
  readonly helpdesk?: string;
}

/** A proxy URL with its password (and only that) replaced by ****; text that is not a URL keeps only what precedes any "@". */
export function maskProxy(setting: string): string {
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(setting) ? setting : `http://${setting}`);
    if (u.password !== "") u.password = "****";
    return u.toString().replace(/\/$/, "");
  } catch {
    const at = setting.lastIndexOf("@");
    return at < 0 ? setting : `****@${setting.slice(at + 1)}`;
  }
}

/** The --json shape: {version, checks:[{id, status, finding, remedy, details}], helpdesk}. */
export function reportJson(r: DoctorReport): unknown {
  return {
    version: r.version,
    checks: r.checks.map((c) => ({ id: c.id, status: c.status, finding: c.finding, remedy: c.remedy, details: c.details })),
    helpdesk: r.helpdesk ?? null,
  };
}

function statusLabel(lang: Lang, c: CheckResult): string {
  return dmsg(lang, `status.${c.status}`);
}

/** One line per check, and its remedy indented below it when there is one. */
export function checkLines(lang: Lang, c: CheckResult): string[] {
  const lines = [dmsg(lang, "line", { status: statusLabel(lang, c), title: c.title, finding: c.finding })];
  if (c.remedy !== "") lines.push(dmsg(lang, "remedyLine", { remedy: c.remedy }));
  return lines;
}

/** The closing line: no problem, warnings only, or how many problems. */
export function summaryLine(lang: Lang, checks: readonly CheckResult[]): string {
  const problems = checks.filter((c) => c.status === "problem").length;
  const warnings = checks.filter((c) => c.status === "warning").length;
  if (problems > 0) return dmsg(lang, "summary.problems", { problems, warnings });
  return warnings > 0 ? dmsg(lang, "summary.warnings", { warnings }) : dmsg(lang, "summary.ok");
}

/** The text of the support report (--report FILE). */
export function renderReport(r: DoctorReport): string {
  const { lang } = r.settings;
  const ja = lang === "ja";
  const s = r.settings;
  const out: string[] = [];
  out.push(ja ? "shomei doctor 診断結果（問い合わせ用）" : "shomei doctor report (for a helpdesk inquiry)");
  out.push(ja ? "秘密鍵・パスワード・パスコード・プロキシのパスワードは含まれていません。" : "It holds no private key, password, passcode or proxy password.");
  out.push("");
  out.push(`${ja ? "作成日時" : "Date"}: ${formatTime(r.generatedAt)}`);
  out.push(`shomei: ${r.version}`);
  out.push(`OS: ${r.os}`);
  out.push(`Node.js: ${r.node}`);
  out.push("");
  out.push(ja ? "[設定]" : "[Settings]");
  out.push(`${ja ? "サーバー" : "Server"}: ${s.server ?? "-"}`);
  out.push(`${ja ? "証明書ストア" : "Certificate store"}: ${s.storeKind} ${s.storePath}`);
  out.push(`${ja ? "プロキシ" : "Proxy"}: ${s.proxy ? maskProxy(s.proxy) : ja ? "なし" : "none"}`);
  if (s.noProxy) out.push(`NO_PROXY: ${s.noProxy}`);
  if (s.userId) out.push(`${ja ? "ユーザID" : "User ID"}: ${s.userId}`);
  out.push(`${ja ? "表示言語" : "Language"}: ${lang}`);
  out.push("");
  out.push(ja ? "[確認結果]" : "[Checks]");
  r.checks.forEach((c, i) => {
    const [first, ...rest] = checkLines(lang, c);
    out.push(`${String(i + 1).padStart(2, " ")}. ${first ?? ""}`);
    for (const l of rest) out.push(`  ${l}`);
    const details = Object.entries(c.details);
    if (details.length > 0) out.push(`      ${details.map(([k, v]) => `${k}=${String(v)}`).join("; ")}`);
  });
  out.push(summaryLine(lang, r.checks));
  out.push("");
  out.push(ja ? "[証明書]" : "[Certificates]");
  if (r.certificates.length === 0) out.push(ja ? "（なし）" : "(none)");
  for (const c of r.certificates) {
    out.push(`- ${ja ? "ユーザID" : "User ID"}: ${c.userId}${c.current ? (ja ? "（現在使う証明書）" : " (current)") : ""}`);
    out.push(`  ${ja ? "主体者" : "Subject"}: ${c.subject}`);
    out.push(`  ${ja ? "シリアル番号" : "Serial"}: ${c.serial}`);
    out.push(`  ${ja ? "発行者" : "Issuer"}: ${c.issuer}`);
    out.push(`  ${ja ? "有効期間" : "Valid"}: ${formatTime(c.notBefore)} - ${formatTime(c.notAfter)}`);
    out.push(`  SHA-256: ${c.fingerprint}`);
    out.push(`  ${ja ? "状態" : "Status"}: ${c.status}`);
    if (c.server) out.push(`  ${ja ? "サーバー" : "Server"}: ${c.server}`);
  }
  out.push("");
  out.push(r.helpdesk ? dmsg(lang, "helpdesk", { helpdesk: r.helpdesk }) : dmsg(lang, "helpdeskUnknown"));
  return out.join("\n") + "\n";
}
