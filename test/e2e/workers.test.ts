/**
 * `serve --workers 2`: the listeners run in two worker processes under a supervisor.
 * - `kill -9` of one worker during a burst of enrollments: the other keeps answering, the
 *   supervisor forks a new worker at once (WORKER_DIED says so), and every enrollment is either
 *   complete or, retried with the same CSR, succeeds: one certificate per user, passcode used.
 * - Every worker serves the same CRL bytes and OCSP answers that verify; a revocation made by
 *   another process reaches both.
 * - SIGTERM while a request is in flight: the request completes, then serve exits 0.
 * - SIGKILL of the supervisor: its workers exit too, so none keeps the ports.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:https";
import { connect, createServer } from "node:net";
import { editConfig, addUser, childrenOf, crlShardUrlFor, initCa, passcodeFor, readOutbox, serve, until, workerPids } from "../helpers/ca.js";
import { Browserish, OPERATOR_EMAIL, OPERATOR_ID } from "../helpers/portal.js";
import { enroll, makeCsr, type HttpResult } from "../helpers/est.js";
import { needs } from "../helpers/tools.js";
import { shomeiCa } from "../helpers/run.js";
import { readCrl } from "../../src/pki/crl.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { fromPem, toPem } from "../../src/pki/pem.js";
import { exportPrivateKeyPem } from "../../src/pki/keys.js";

interface Shown { passcode: { status: string }; certificates: { serial: string; status: string }[] }

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function show(dir: string, userId: string): Promise<Shown> {
  const r = await shomeiCa(["user", "show", userId, "--json", "--data", dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Shown;
}

async function users(dir: string, from: number, n: number): Promise<{ id: string; passcode: string }[]> {
  const list: { id: string; passcode: string }[] = [];
  for (let i = 0; i < n; i++) {
    const id = `a${String(from + i).padStart(7, "0")}`;
    list.push({ id, passcode: (await addUser(dir, id)).passcode });
  }
  return list;
}

test("kill -9 of one worker during a burst of enrollments: the other serves, a new one starts, nothing is lost or doubled", { timeout: 300_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const burst = await users(ca.dir, 5000, 12);
  const later = await users(ca.dir, 6000, 4);
  const csrs = new Map<string, string>();
  for (const u of [...burst, ...later]) csrs.set(u.id, (await makeCsr(u.id)).base64);
  const csr = (id: string): string => csrs.get(id) ?? assert.fail(id);

  const srv = await serve(ca.dir, ["--workers", "2"]);
  t.after(() => srv.stop());
  const supervisor = srv.process.pid ?? assert.fail("no pid");
  const pids = await workerPids(srv);
  assert.equal(pids.length, 2);
  assert.deepEqual(childrenOf(supervisor), [...pids].sort((a, b) => a - b));

  const inFlight = burst.map((u) => enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr(u.id)).catch((): HttpResult | undefined => undefined));
  // Kill one worker the moment the first certificate is out: other enrollments are in between.
  await Promise.race(inFlight.map((p) => p.then((a) => (a?.status === 200 ? undefined : new Promise(() => undefined)))));
  const victim = pids[0] ?? assert.fail("no worker");
  process.kill(victim, "SIGKILL");
  const answers = await Promise.all(inFlight);
  assert.ok(answers.some((a) => a?.status === 200));

  // The supervisor noticed, says why with its code, and forks a replacement at once.
  await until("WORKER_DIED logged", () => new RegExp(`\\[WORKER_DIED\\]: Worker \\d \\(PID ${victim}\\) stopped \\(signal SIGKILL\\)\\. A new worker starts in 0 s`).test(srv.output()), 30_000);
  await until("a new worker process within 5 s", () => childrenOf(supervisor).some((p) => !pids.includes(p)), 5_000);
  // Meanwhile the surviving worker answers every new enrollment.
  for (const u of later) {
    const r = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr(u.id));
    assert.equal(r.status, 200, `${u.id} while one worker is replaced: ${r.body}`);
  }
  await until("the new worker serves", () => /^Worker \d is serving again \(PID \d+\)\.$/m.test(srv.output()), 60_000);
  const now = childrenOf(supervisor);
  assert.equal(now.length, 2);
  assert.ok(now.includes(pids[1] ?? 0), "the surviving worker was not restarted");

  // Every enrollment of the burst either completed, or completes when retried with the same CSR.
  for (const [i, u] of burst.entries()) {
    if (answers[i]?.status !== 200) {
      const r = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr(u.id));
      assert.equal(r.status, 200, `${u.id} retried: ${r.body}`);
    }
  }
  for (const u of [...burst, ...later]) {
    const s = await show(ca.dir, u.id);
    assert.equal(s.passcode.status, "used", u.id);
    assert.equal(s.certificates.length, 1, `${u.id}: ${s.certificates.length} certificates`);
  }
});

/** GET over a new connection each time (round-robin hands connections to the workers in turn). */
async function fetchBytes(url: string, init?: RequestInit): Promise<Buffer> {
  const r = await fetch(url, { ...init, headers: { connection: "close", ...init?.headers } });
  assert.equal(r.status, 200, url);
  return Buffer.from(await r.arrayBuffer());
}

test("concurrent enrollments through both workers succeed; both serve the same CRL and OCSP answers that verify, before and after a revocation by another process", { timeout: 300_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const all = await users(ca.dir, 7000, 8);
  const u = all[0] ?? assert.fail("no user");
  const bodies = await Promise.all(all.map(async (x) => (await makeCsr(x.id)).base64));
  const srv = await serve(ca.dir, ["--workers", "2"]);
  t.after(() => srv.stop());
  // Concurrent enrollments through both workers all succeed (SQLite: each write takes the lock up front and waits for the other process).
  const answers = await Promise.all(all.map((x, i) => enroll(srv.estUrl, ca.rootPem, x.id, x.passcode, bodies[i] ?? "")));
  for (const [i, a] of answers.entries()) assert.equal(a.status, 200, `${all[i]?.id ?? ""}: ${a.body}`);
  const issued = answers[0] ?? assert.fail("no answer");
  const certDer = readCertsOnly(Buffer.from(issued.body.replace(/\s/g, ""), "base64"))[0] ?? assert.fail("no certificate");
  const issuerDer = fromPem(readFileSync(ca.issuingPem, "utf8"), "CERTIFICATE");
  const ocspReq = buildOcspRequest(certDer, issuerDer);
  // The CRL shard the certificate names: re-signed at once on a revocation (the full CRL follows within crl.fullCrlSeconds).
  const shardUrl = crlShardUrlFor(srv.crlUrl, readCertificate(certDer).serialHex);

  const look = async (): Promise<{ crls: Set<string>; statuses: Set<string> }> => {
    const crls = new Set<string>();
    const statuses = new Set<string>();
    // Eight connections: round-robin gives each worker several of them.
    for (let i = 0; i < 8; i++) {
      crls.add((await fetchBytes(shardUrl)).toString("base64"));
      const answer = await fetchBytes(srv.ocspUrl, { method: "POST", body: ocspReq, headers: { "content-type": "application/ocsp-request" } });
      // readOcspResponse checks the signature and the responder certificate against the issuing CA.
      statuses.add(readOcspResponse(answer, certDer, issuerDer, { now: new Date() }).status);
    }
    return { crls, statuses };
  };
  const before = await look();
  assert.equal(before.crls.size, 1, "the workers serve different CRLs");
  assert.deepEqual([...before.statuses], ["good"]);

  const serial = (await show(ca.dir, u.id)).certificates[0]?.serial ?? assert.fail("no serial");
  const revoked = await shomeiCa(["cert", "revoke", serial, "--reason", "keyCompromise", "--data", ca.dir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  // The supervisor picks up the revocation (revocation.checkSeconds) and hands the new CRL to both workers.
  let after = await look();
  for (let i = 0; i < 60 && readCrl(Buffer.from([...after.crls][0] ?? "", "base64")).entries.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    after = await look();
  }
  assert.equal(after.crls.size, 1, "the workers serve different CRLs after the revocation");
  const crl = readCrl(Buffer.from([...after.crls][0] ?? "", "base64"));
  assert.equal(crl.entries.length, 1);
  assert.deepEqual([...after.statuses], ["revoked"]);
});

test("SIGTERM while a request is in flight: it completes, then serve stops with exit code 0", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const [u] = await users(ca.dir, 8000, 1);
  if (!u) return assert.fail("no user");
  const body = Buffer.from((await makeCsr(u.id)).base64);
  const srv = await serve(ca.dir, ["--workers", "2"]);
  t.after(() => srv.stop());
  const workers = await workerPids(srv);
  const exited = new Promise<number | null>((res) => srv.process.once("exit", (code) => res(code)));

  // A request whose headers and half of its body are sent: a worker is reading it.
  const url = new URL(`${srv.estUrl}/simpleenroll`);
  const req = request(url, {
    method: "POST", ca: readFileSync(ca.rootPem), agent: false,
    headers: { "content-type": "application/pkcs10", "content-length": String(body.length), authorization: `Basic ${Buffer.from(`${u.id}:${u.passcode}`).toString("base64")}` },
  });
  const answer = new Promise<HttpResult>((resolve, reject) => {
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
  });
  req.write(body.subarray(0, 100));
  await new Promise<void>((res) => req.once("socket", (s) => s.once("secureConnect", () => res())));
  // Time for the worker to read the request's headers (not an assertion: it only orders the steps).
  await new Promise((r) => setTimeout(r, 1000));

  srv.process.kill("SIGTERM");
  // Draining: once every worker closed its listener, the port refuses new connections.
  const port = Number(url.port);
  for (let refused = false; !refused;) {
    refused = await new Promise<boolean>((res) => {
      const c = connect({ host: "127.0.0.1", port }, () => { c.destroy(); res(false); });
      c.on("error", () => res(true));
    });
    if (!refused) await new Promise((r) => setTimeout(r, 100));
  }
  req.end(body.subarray(100));
  const r = await answer;
  assert.equal(r.status, 200, r.body);
  assert.equal(await exited, 0);
  assert.match(srv.output(), /^The service has stopped\.$/m);
  for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still runs`);
  const s = await show(ca.dir, u.id);
  assert.equal(s.passcode.status, "used");
  assert.equal(s.certificates.length, 1);
});

test("SIGKILL of the supervisor: its workers exit and the ports are free again", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const srv = await serve(ca.dir, ["--workers", "2"]);
  const workers = await workerPids(srv);
  const port = new URL(srv.url).port;
  srv.process.kill("SIGKILL");
  await until("workers exit after their supervisor was killed", () => workers.every((p) => !alive(p)), 30_000);
  // The same ports can be taken again at once; `workers` in shomei.json sets how many.
  editConfig(ca.dir, { workers: 1 });
  const again = await serve(ca.dir, ["--port", port, "--portal-port", "0", "--http-port", "0"]);
  t.after(() => again.stop());
  assert.equal(again.url, srv.url);
  assert.equal((await workerPids(again)).length, 1);
});

test("--workers must be 1 or more, and `workers` in shomei.json a whole number", { timeout: 120_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const none = await shomeiCa(["serve", "--data", ca.dir, "--port", "0", "--workers", "0"], { timeoutMs: 30_000 });
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /\[FIELD_INVALID\].*--workers/);
  const file = join(ca.dir, "shomei.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...config, workers: "two" }, null, 2));
  const broken = await shomeiCa(["serve", "--data", ca.dir, "--port", "0"], { timeoutMs: 30_000 });
  assert.equal(broken.code, 1, broken.stderr);
  assert.match(broken.stderr, /\[CONFIG_INVALID\].*workers/);
});

test("--host an address this machine does not have: LISTEN_FAILED with what to do, in Japanese and English, and nothing announced", { timeout: 120_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const en = await shomeiCa(["serve", "--data", ca.dir, "--host", "192.0.2.1", "--port", "0"], { timeoutMs: 30_000, env: { LANG: "en_US.UTF-8" } });
  assert.equal(en.code, 1, en.stderr);
  assert.match(en.stderr, /\[LISTEN_FAILED\]: Cannot listen on 192\.0\.2\.1:0 \(EADDRNOTAVAIL: /);
  assert.match(en.stderr, /What to do: Give --host \(listen\.host in shomei\.json\) an address of this computer/);
  assert.doesNotMatch(en.stderr, /INTERNAL|at .*\.js:\d+/, "no internal error or stack trace");
  assert.doesNotMatch(en.stdout, /^(EST|OCSP): /m, "nothing is announced that does not listen");
  const ja = await shomeiCa(["serve", "--data", ca.dir, "--host", "192.0.2.1", "--port", "0"], { timeoutMs: 30_000, env: { LANG: "ja_JP.UTF-8" } });
  assert.equal(ja.code, 1, ja.stderr);
  assert.match(ja.stderr, /\[LISTEN_FAILED\]: 192\.0\.2\.1:0 で待ち受けられません/);
  assert.match(ja.stderr, /対処: --host（設定ファイル shomei\.json の listen\.host）には、このコンピューターのアドレス/);
});

// A CSR whose P-256 key is an empty point (BIT STRING 00 00), from issue 10: reading its key
// details aborted Node in native code. Whether it still aborts (before the DER checks of keys)
// or is refused with a 400, it costs at most that request: the service keeps serving and the
// passcode still works.
const EMPTY_POINT_CSR = "MEcwNQIBADATMREwDwYDVQQDDAhhMDAwMDAwMTAZMBMGByqGSM49AgEGCCqGSM49AwEHAwIAAKAAMAoGCCqGSM49BAMCAwIAAA==";

test("a request that aborts a worker costs only that request: the service keeps serving, the passcode still works", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const [u] = await users(ca.dir, 9000, 1);
  if (!u) return assert.fail("no user");
  const srv = await serve(ca.dir, ["--workers", "2"]);
  t.after(() => srv.stop());
  const hostile = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, EMPTY_POINT_CSR).catch((): HttpResult | undefined => undefined);
  if (hostile) assert.equal(hostile.status, 400, hostile.body);
  else await until("the connection broke, so a worker died: the supervisor says so", () => /\[WORKER_DIED\]: Worker \d \(PID \d+\) stopped \(signal SIGABRT\)/.test(srv.output()), 30_000);
  const r = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, (await makeCsr(u.id)).base64);
  assert.equal(r.status, 200, r.body);
  const s = await show(ca.dir, u.id);
  assert.equal(s.certificates.length, 1);
});

test("a revocation in one worker's console reaches both workers' CRL at once (the nudge travels over IPC to the supervisor)", { timeout: 240_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa(["--operator", OPERATOR_ID, "--operator-email", OPERATOR_EMAIL, "--operator-name", "運用 太郎"]);
  t.after(() => ca.cleanup());
  // Polling once an hour: only the nudge can bring the revocation to the CRL within the test.
  const file = join(ca.dir, "shomei.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...config, revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 3600, ocspCacheSeconds: 300 } }, null, 2));
  const [u] = await users(ca.dir, 9100, 1);
  if (!u) return assert.fail("no user");
  const srv = await serve(ca.dir, ["--workers", "2"]);
  t.after(() => srv.stop());
  const portalUrl = /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1] ?? assert.fail("no Portal: line");

  const opCsr = await makeCsr(OPERATOR_ID);
  const opCert = await enroll(srv.estUrl, ca.rootPem, OPERATOR_ID, await passcodeFor(ca.dir, OPERATOR_EMAIL), opCsr.base64);
  assert.equal(opCert.status, 200, opCert.body);
  const opDer = readCertsOnly(Buffer.from(opCert.body.replace(/\s/g, ""), "base64"))[0] ?? assert.fail("no certificate");
  const initial = (await readOutbox(ca.dir)).map((m) => (m.to.includes(OPERATOR_EMAIL) ? /^(?:初期パスワード|Initial password): (\S+)$/m.exec(m.body)?.[1] : undefined)).find((p) => p) ?? assert.fail("no initial password");
  const op = new Browserish(portalUrl, readFileSync(ca.rootPem, "utf8"), { certPem: toPem(opDer, "CERTIFICATE"), keyPem: exportPrivateKeyPem(opCsr.key.privateKey) });
  await op.loginAndChange(OPERATOR_ID, initial);

  const issued = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, (await makeCsr(u.id)).base64);
  assert.equal(issued.status, 200, issued.body);
  const serial = (await show(ca.dir, u.id)).certificates[0]?.serial ?? assert.fail("no serial");
  // The CRL shard the certificate names: re-signed at once (the full CRL follows within crl.fullCrlSeconds).
  const shardUrl = crlShardUrlFor(srv.crlUrl, serial);
  const before = await fetchBytes(shardUrl);
  assert.equal(readCrl(before).entries.length, 0);
  const rv = await op.postJson(`/api/v1/certificates/${serial}/revoke`, { reason: "keyCompromise" });
  assert.equal(rv.status, 200, rv.body);

  const crls = async (): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await fetchBytes(shardUrl)).toString("base64"));
    return seen;
  };
  let now = await crls();
  const listed = (s: Set<string>): number => readCrl(Buffer.from([...s][0] ?? "", "base64")).entries.length;
  for (let i = 0; i < 60 && (now.size !== 1 || listed(now) === 0); i++) {
    await new Promise((r) => setTimeout(r, 250));
    now = await crls();
  }
  assert.equal(now.size, 1, "the workers serve different CRLs");
  assert.equal(listed(now), 1, "the revocation did not reach the CRL");
});

test("SIGTERM with a request that never finishes: its worker is killed after the drain time (WORKER_NOT_DRAINED) and serve still exits 0", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const srv = await serve(ca.dir, ["--workers", "1"]);
  t.after(() => srv.stop());
  const [worker] = await workerPids(srv);
  const exited = new Promise<number | null>((res) => srv.process.once("exit", (code) => res(code)));
  // Headers and a few bytes of a body that never comes: Node itself would wait minutes for it.
  const req = request(new URL(`${srv.estUrl}/simpleenroll`), {
    method: "POST", ca: readFileSync(ca.rootPem), agent: false,
    headers: { "content-type": "application/pkcs10", "content-length": "1000", authorization: `Basic ${Buffer.from("a0000001:x").toString("base64")}` },
  });
  const broken = new Promise<boolean>((res) => {
    req.on("error", () => res(true));
    req.on("response", (r) => { r.resume(); r.on("end", () => res(false)); r.on("error", () => res(true)); });
  });
  req.write("MIIB");
  await new Promise<void>((res) => req.once("socket", (s) => s.once("secureConnect", () => res())));
  // Time for the worker to read the request's headers (not an assertion: it only orders the steps).
  await new Promise((r) => setTimeout(r, 1000));
  srv.process.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(srv.output(), new RegExp(`\\[WORKER_NOT_DRAINED\\]: Worker 1 \\(PID ${worker ?? 0}\\) did not finish its requests in flight within 15 s`));
  assert.match(srv.output(), /^The service has stopped\.$/m);
  assert.equal(await broken, true, "the stalled request cannot have been answered");
  assert.equal(alive(worker ?? 0), false);
});

test("`--workers 1`: kill -9 of the only worker leaves its ports to the replacement: no other program can take them, and a request made meanwhile is answered", { timeout: 180_000 }, async (t) => {
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const srv = await serve(ca.dir, ["--workers", "1"]);
  t.after(() => srv.stop());
  const [worker] = await workerPids(srv);
  if (worker === undefined) return assert.fail("no worker");
  const est = Number(new URL(srv.estUrl).port);
  const publication = Number(new URL(srv.crlUrl).port);
  process.kill(worker, "SIGKILL");
  await until("the worker is gone", () => !alive(worker), 10_000);
  // The supervisor still holds the sockets: a program asking for the ports now is refused.
  for (const port of [est, publication]) {
    const squatter = createServer();
    const got = await new Promise<string>((res) => {
      squatter.once("error", (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
      squatter.listen(port, "127.0.0.1", () => res("listening"));
    });
    if (got === "listening") await new Promise((res) => squatter.close(res));
    assert.equal(got, "EADDRINUSE", `port ${port} was free while the worker was replaced`);
  }
  // A request made before the replacement listens waits for it (the connection is queued), not refused.
  assert.doesNotMatch(srv.output(), /is serving again/, "the replacement already serves: this request would prove nothing");
  const answer = new Promise<number>((resolve, reject) => {
    request(new URL(`${srv.estUrl}/cacerts`), { ca: readFileSync(ca.rootPem), agent: false }, (r) => { r.resume(); r.on("end", () => resolve(r.statusCode ?? 0)); })
      .on("error", reject).end();
  });
  await until("the replacement serves", () => /^Worker 1 is serving again \(PID \d+\)\.$/m.test(srv.output()), 60_000);
  assert.equal(await answer, 200);
  assert.match(srv.output(), new RegExp(`\\[WORKER_DIED\\]: Worker 1 \\(PID ${worker}\\) stopped \\(signal SIGKILL\\)`));
});
