/**
 * Two builds of the portal side by side: `node dist/bench/portal_ab.js OLD_DIST NEW_DIST` starts
 * `serve --workers 1` (BENCH_AB_WORKERS) of each build on one data folder, plus the bare Node https floor, and
 * measures them alternately (floor, old, new, floor, old, new …) under the same C clients:
 * full mTLS handshake + GET / (`openssl s_time -new`) and GET /me with a session cookie on
 * kept-alive connections (`ab -k`). Prints server CPU per operation (the process tree's utime +
 * stime from /proc) and the load average. For developing the portal's hot paths (the lead's
 * figures come from bench:compare); BENCH_SECONDS, BENCH_COMPARE_ROUNDS and
 * BENCH_COMPARE_CLIENTS as in bench:compare; BENCH_AB_PROF=DIR runs both builds under --cpu-prof;
 * BENCH_AB_OPS=handshake or keepalive measures only that one; BENCH_AB_WORKERS=2 serves with two workers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Profiler } from "node:inspector";
import { request } from "node:https";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { buildCsr } from "../src/pki/csr.js";
import { keyObjectSigner } from "../src/pki/keys.js";
import { toPem } from "../src/pki/pem.js";
import { readCertsOnly } from "../src/pki/pkcs7.js";
import { generatePasscode, passcodeHash } from "../src/registration/passcode.js";
import { hashPassword } from "../src/registration/password.js";
import { DataDir } from "../src/server/data_dir.js";
import { openDesk } from "../src/server/services.js";
import { SESSION_COOKIE } from "../src/web/portal.js";
import { ab, measured, readAb, readSTime, sTime, stopChild, type TlsClient, type Window } from "./compare_measure.js";
import { createCa, freshP256 } from "./fixtures.js";
import { summarise } from "./profile.js";

const FLOOR = fileURLToPath(new URL("./compare_floor.js", import.meta.url));
const DAY = 86_400_000;
const int = (name: string, fallback: number): number => Number(process.env[name] || fallback);

interface Server { readonly label: string; readonly pid: number; readonly port: number; readonly est?: URL; readonly child: ChildProcess }

function started(child: ChildProcess, re: RegExp[], what: string): Promise<RegExpExecArray[]> {
  let tail = "";
  child.stderr?.on("data", (d: Buffer) => { tail = (tail + d.toString("utf8")).slice(-4000); });
  return new Promise((ok, fail) => {
    const found: (RegExpExecArray | undefined)[] = re.map(() => undefined);
    const timer = setTimeout(() => fail(new Error(`${what} did not start\n${tail}`)), 60_000);
    child.once("exit", (code) => { clearTimeout(timer); fail(new Error(`${what} exited (${code})\n${tail}`)); });
    createInterface({ input: child.stdout ?? process.stdin }).on("line", (line) => {
      re.forEach((r, i) => { found[i] ??= r.exec(line) ?? undefined; });
      if (found.every(Boolean)) {
        clearTimeout(timer);
        ok(found as RegExpExecArray[]);
      }
    });
  });
}

async function serve(dist: string, root: string, label: string, prof: string | undefined): Promise<Server> {
  const cli = join(resolve(dist), "src/cli/shomei-ca.js");
  const child = spawn(process.execPath, [...(prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`, "--cpu-prof-interval=200"] : []), cli, "serve", "--data", root, "--host", "127.0.0.1", "--port", "0", "--lang", "en", "--workers", process.env.BENCH_AB_WORKERS || "1"], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LANG: "en_US.UTF-8" },
  });
  const [est, portal] = await started(child, [/^EST: (https:\/\/\S+)$/, /^Portal: (https:\/\/\S+?)\/?$/, /^Workers: /], label);
  return { label, pid: child.pid ?? -1, port: Number(new URL(portal?.[1] ?? "").port), est: new URL(`${est?.[1] ?? ""}/`), child };
}

function once(url: URL, o: { method?: string; headers?: Record<string, string>; body?: string; cert?: string; key?: string; ca: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method: o.method ?? "GET", headers: o.headers ?? {}, ca: o.ca, agent: false, ...(o.cert && o.key ? { cert: o.cert, key: o.key } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", fail);
    req.end(o.body);
  });
}

async function main(): Promise<void> {
  const [oldDist, newDist] = process.argv.slice(2);
  if (!oldDist || !newDist) throw new Error("usage: portal_ab.js OLD_DIST NEW_DIST");
  const seconds = int("BENCH_SECONDS", 4);
  const rounds = int("BENCH_COMPARE_ROUNDS", 2);
  const clients = int("BENCH_COMPARE_CLIENTS", 8);
  const prof = process.env.BENCH_AB_PROF;
  const ops = (process.env.BENCH_AB_OPS || "handshake,keepalive").split(",");
  const work = mkdtempSync(join(tmpdir(), "shomei-portal-ab-"));
  const root = join(work, "data");
  const servers: Server[] = [];
  try {
    await createCa(root);
    const dir = new DataDir(root);
    const user = { userId: "a9000001", password: "Kawasemi-Sakura-2026!", passcode: generatePasscode() };
    const desk = await openDesk(root);
    try {
      const now = new Date();
      await desk.store.registerUser({
        userId: user.userId, email: `${user.userId}@bench.invalid`, name: "Bench portal", organization: desk.config.organization, lang: "en",
        role: "user", status: "active", passwordHash: await hashPassword(user.password), passwordInitial: false, passwordSetAt: now,
        passwordExpiresAt: new Date(now.getTime() + 300 * DAY), createdAt: now, failedLogins: 0, lockedAt: null, lastLoginAt: null,
      }, {
        userId: user.userId, hash: passcodeHash(desk.dir.hmacSecret(), user.userId, user.passcode), issuedAt: now,
        expiresAt: new Date(now.getTime() + 40 * DAY), failedAttempts: 0, status: "active", usedAt: null, csrHash: null, certificateSerial: null,
      }, []);
    } finally {
      await desk.close();
    }
    const tlsKeyPem = dir.privateKey(dir.tlsKey, dir.passphrase()).export({ format: "pem", type: "pkcs8" }) as string;
    const clientCas = [toPem(dir.certificate(dir.issuingCert), "CERTIFICATE"), toPem(dir.certificate(dir.rootCert), "CERTIFICATE")];
    const caFile = join(root, "ca", "root.pem");
    const caPem = readFileSync(caFile, "utf8");
    const a = await serve(oldDist, root, `old (${oldDist})`, prof);
    servers.push(a);
    const b = await serve(newDist, root, `new (${newDist})`, prof);
    servers.push(b);

    const key = freshP256();
    const csr = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: user.userId });
    const issued = await once(new URL("simpleenroll", a.est), {
      ca: caPem, method: "POST", body: csr.toString("base64"),
      headers: { "content-type": "application/pkcs10", authorization: `Basic ${Buffer.from(`${user.userId}:${user.passcode}`).toString("base64")}` },
    });
    const der = readCertsOnly(Buffer.from(issued.body.replace(/\s+/g, ""), "base64"))[0];
    if (issued.status !== 200 || !der) throw new Error(`enrolling: ${issued.status} ${issued.body}`);
    const certPem = toPem(der, "CERTIFICATE");
    const keyPem = key.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const files = { certFile: join(work, "u.cert.pem"), keyFile: join(work, "u.key.pem"), certKeyFile: join(work, "u.pem"), caFile };
    writeFileSync(files.certFile, certPem);
    writeFileSync(files.keyFile, keyPem);
    writeFileSync(files.certKeyFile, certPem + keyPem);
    const client: TlsClient = files;
    const tls = { cert: certPem, key: keyPem, ca: caPem };

    const login = await once(new URL(`https://127.0.0.1:${a.port}/`), { ...tls, headers: { "accept-language": "en" } });
    const page = join(work, "page.html");
    writeFileSync(page, login.body);
    const floorConf = join(work, "floor.json");
    writeFileSync(floorConf, JSON.stringify({ key: tlsKeyPem, cert: readFileSync(dir.tlsCert, "utf8"), ca: clientCas, page, host: "127.0.0.1" }));
    const fchild = spawn(process.execPath, [FLOOR, floorConf], { stdio: ["ignore", "pipe", "pipe"] });
    const [fm] = await started(fchild, [/^listening (\d+)$/], "floor");
    const floor: Server = { label: "bare Node https (floor)", pid: fchild.pid ?? -1, port: Number(fm?.[1]), child: fchild };
    servers.unshift(floor);

    const csrf = /name="csrf" value="([^"]*)"/.exec(login.body)?.[1] ?? "";
    const r = await once(new URL(`https://127.0.0.1:${a.port}/login`), {
      ...tls, method: "POST", body: new URLSearchParams({ csrf, userId: user.userId, password: user.password }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded", "accept-language": "en" },
    });
    const cookie = ([] as string[]).concat(r.headers["set-cookie"] ?? []).map((c) => c.split(";")[0] ?? "").find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    if (!cookie) throw new Error(`login: ${r.status}`);
    for (const s of [a, b]) {
      const me = await once(new URL(`https://127.0.0.1:${s.port}/me`), { ...tls, headers: { cookie, "accept-language": "en" } });
      const home = await once(new URL(`https://127.0.0.1:${s.port}/`), { ...tls, headers: { "accept-language": "en" } });
      if (me.status !== 200 || home.status !== 200) throw new Error(`${s.label}: /me ${me.status}, / ${home.status}`);
    }
    const csvPrefix = join(work, "ab");
    const loads = {
      handshake: (s: Server) => measured(s.pid, sTime(s.port, "/", seconds, clients, client), readSTime),
      keepalive: (s: Server) => measured(s.pid, ab(`https://127.0.0.1:${s.port}/me`, seconds, clients, 2, true, client, [`Cookie: ${cookie}`, "Accept-Language: en"], csvPrefix), readAb),
    };
    for (const s of servers) {
      await Promise.all(sTime(s.port, "/", 1, 2, client).map((p) => p()));
      await Promise.all(ab(`https://127.0.0.1:${s.port}/me`, 1, 2, 1, true, client, [`Cookie: ${cookie}`], csvPrefix).map((p) => p()));
    }
    const totals = new Map<string, { ops: number; cpu: number }>();
    for (let round = 1; round <= rounds; round++) {
      for (const [op, run] of Object.entries(loads).filter(([k]) => ops.includes(k))) {
        for (const s of servers) {
          const w: Window = await run(s);
          const k = `${op} ${s.label}`;
          const t = totals.get(k) ?? { ops: 0, cpu: 0 };
          totals.set(k, { ops: t.ops + w.ops, cpu: t.cpu + w.serverCpu });
          process.stdout.write(`round ${round} ${op.padEnd(10)} ${s.label.padEnd(40)} ${(w.ops / w.seconds).toFixed(0).padStart(6)}/s  server ${((1000 * w.serverCpu) / w.ops).toFixed(3)} ms/op  failures ${w.failures}  load ${loadavg()[0]?.toFixed(2)}\n`);
        }
      }
    }
    process.stdout.write("\nall rounds:\n");
    for (const [k, t] of totals) process.stdout.write(`${k.padEnd(52)} ${((1000 * t.cpu) / t.ops).toFixed(3)} ms/op (${t.ops} ops)\n`);
  } finally {
    for (const s of servers) await stopChild(s.child);
    if (prof) {
      for (const f of readdirSync(prof).filter((x) => x.endsWith(".cpuprofile"))) {
        const s = summarise(JSON.parse(readFileSync(join(prof, f), "utf8")) as Profiler.Profile, 25);
        if (s.totalMs < 1000) continue;
        process.stdout.write(`\n${f}: ${s.totalMs.toFixed(0)} ms\n${s.selfTop.map((e) => `  ${e.ms.toFixed(0).padStart(6)} ${(100 * e.share).toFixed(1).padStart(5)}%  ${e.name}`).join("\n")}\n`);
        process.stdout.write(`${s.oursInclusive.map((e) => `  incl ${e.ms.toFixed(0).padStart(6)} ${(100 * e.share).toFixed(1).padStart(5)}%  ${e.name}`).join("\n")}\n`);
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
