import { test } from "node:test";
import assert from "node:assert/strict";
import { ShomeiError } from "../i18n/errors.js";
import { exitCodeOf, runChecks, type CheckDefinition, type CheckId, type Outcome, type Skip } from "./doctor_run.js";
import { formatDuration } from "./doctor.js";
import { maskProxy, renderReport, reportJson, type DoctorReport } from "./doctor_report.js";
import { formatTime } from "../i18n/format.js";

function def(id: CheckId, needs: CheckId[], out: Outcome | Skip | Error, ran: CheckId[]): CheckDefinition {
  return {
    id, needs,
    run: () => {
      ran.push(id);
      return out instanceof Error ? Promise.reject(out) : Promise.resolve(out);
    },
  };
}

test("checks run in the given order; a problem skips what needs it, and that skip skips further, naming the cause", async () => {
  const ran: CheckId[] = [];
  const results = await runChecks([
    def("dns", [], { status: "ok", finding: "resolves" }, ran),
    def("tcp", ["dns"], { status: "problem", finding: "refused", remedy: "check the network" }, ran),
    def("proxy", ["tcp"], { status: "ok", finding: "never" }, ran),
    def("tls", ["proxy"], { status: "ok", finding: "never" }, ran),
    def("store", [], { status: "warning", finding: "open to others", remedy: "chmod 700" }, ran),
    def("certificate", ["store"], { status: "ok", finding: "there" }, ran),
  ], "en");
  assert.deepEqual(ran, ["dns", "tcp", "store", "certificate"]);
  assert.deepEqual(results.map((r) => [r.id, r.status]), [
    ["dns", "ok"], ["tcp", "problem"], ["proxy", "skipped"], ["tls", "skipped"], ["store", "warning"], ["certificate", "ok"],
  ]);
  assert.equal(results[2]?.finding, "not checked (because \"Connection (TCP)\" found a problem)");
  assert.equal(results[3]?.finding, "not checked (because \"Proxy\" could not be checked)");
  assert.equal(results[1]?.remedy, "check the network");
  // One problem, however many checks it made meaningless.
  assert.equal(exitCodeOf(results), 1);
});

test("warnings and skips alone exit 0; a check's own skip keeps its reason and remedy", async () => {
  const ran: CheckId[] = [];
  const results = await runChecks([
    def("dns", [], { status: "skipped", because: "no server is known to check", remedy: "give --server" }, ran),
    def("tcp", ["dns"], { status: "ok", finding: "never" }, ran),
    def("expiry", [], { status: "warning", finding: "soon" }, ran),
  ], "ja");
  assert.equal(results[0]?.status, "skipped");
  assert.equal(results[0]?.finding, "確認しませんでした（no server is known to check）");
  assert.equal(results[0]?.remedy, "give --server");
  assert.equal(results[1]?.finding, "確認しませんでした（「名前解決」を確認できなかったため）");
  assert.equal(exitCodeOf(results), 0);
});

test("an exception is that check's problem (a ShomeiError with its text and remedy) and the run goes on", async () => {
  const ran: CheckId[] = [];
  const results = await runChecks([
    def("key", [], new ShomeiError("STORE_UNREADABLE", { store: "/s", reason: "EACCES" }), ran),
    def("duplicates", [], { status: "ok", finding: "one" }, ran),
  ], "en");
  assert.equal(results[0]?.status, "problem");
  assert.match(results[0]?.finding ?? "", /\/s cannot be read or written: EACCES/);
  assert.match(results[0]?.remedy ?? "", /permissions/);
  assert.equal(results[0]?.details.code, "STORE_UNREADABLE");
  assert.equal(results[1]?.status, "ok");
});

test("durations read as people say them", () => {
  assert.equal(formatDuration("en", 605_000), "10 min 5 s");
  assert.equal(formatDuration("ja", -3_723_000), "1 時間 2 分 3 秒");
  assert.equal(formatDuration("en", 400), "0 s");
});

test("a proxy URL is shown with its password masked, and only that", () => {
  assert.equal(maskProxy("http://tanaka:s3cr%40t@proxy.example.jp:8080"), "http://tanaka:****@proxy.example.jp:8080");
  assert.equal(maskProxy("http://proxy.example.jp:8080"), "http://proxy.example.jp:8080");
  assert.equal(maskProxy("proxy.example.jp:3128"), "http://proxy.example.jp:3128");
  assert.equal(maskProxy("tanaka:pw@@bad host"), "****@bad host");
});

test("the report holds settings, results and certificate metadata, masks the proxy, and the JSON has the agreed shape", () => {
  const now = new Date("2026-04-01T09:00:00Z");
  const report: DoctorReport = {
    generatedAt: now, version: "1.2.3", os: "Linux 6.1 x64", node: "v20.11.0",
    settings: { server: "https://ca.example.jp", storeKind: "nss", storePath: "nss:/home/u/.pki/nssdb", proxy: "http://u:Very-Secret@proxy:8080", lang: "en" },
    checks: [
      { id: "proxy", title: "Proxy", status: "problem", finding: "The proxy wants credentials", remedy: "Ask your PC administrator", details: { proxy: "http://proxy:8080" } },
      { id: "expiry", title: "Expiry", status: "ok", finding: "Valid", remedy: "", details: {} },
    ],
    certificates: [{
      userId: "a0000001", serial: "0abc", subject: "CN=a0000001, O=Example", issuer: "CN=Issuing CA", notBefore: now, notAfter: new Date("2027-04-01T09:00:00Z"),
      daysLeft: 365, status: "valid", current: true, fingerprint: "AB:CD", certPath: "/p/cert.pem", keyPath: "/p/key.pem", chainPath: "/p/chain.pem",
    }],
    helpdesk: "Helpdesk 03-0000-0000",
  };
  const text = renderReport(report);
  assert.ok(text.split("\n").includes(`Date: ${formatTime(new Date("2026-04-01T09:00:00.000Z"))}`), text);
  assert.match(text, /^shomei: 1\.2\.3$/m);
  assert.match(text, /^Proxy: http:\/\/u:\*\*\*\*@proxy:8080$/m);
  assert.match(text, /^Certificate store: nss nss:\/home\/u\/\.pki\/nssdb$/m);
  assert.match(text, /^ 1\. \[problem\] Proxy: The proxy wants credentials$/m);
  assert.match(text, /What to do: Ask your PC administrator/);
  assert.match(text, /^ 2\. \[ok\] Expiry: Valid$/m);
  assert.match(text, /Serial: 0abc/);
  assert.match(text, /SHA-256: AB:CD/);
  assert.match(text, /Status: valid/);
  assert.match(text, /^Helpdesk: Helpdesk 03-0000-0000$/m);
  assert.doesNotMatch(text, /Very-Secret/);
  assert.doesNotMatch(text, /key\.pem/); // where the key is is not needed by anyone
  assert.deepEqual(Object.keys(reportJson(report) as object), ["version", "checks", "helpdesk"]);
  const ja = renderReport({ ...report, settings: { ...report.settings, lang: "ja" }, helpdesk: undefined });
  assert.match(ja, /^作成日時: /m);
  assert.match(ja, /問い合わせ先: 不明/);
});
