/**
 * simpleenroll answered on the wire (wire.ts) gives what the fastify route gave: two copies of
 * one CA data folder (same keys, users, passcodes, clock), one served with the wire path and one
 * without, get the same requests in the same order — good ones, wrong and used passcodes, unknown
 * users, broken CSRs, requests the wire path must leave to fastify, the address limit's 429, and
 * thousands of byte-level mutations — and must answer each with the same status line, headers
 * (Date aside) and body. A certificate answer is compared as what it must be: the certs-only
 * PKCS#7 of the certificate each copy recorded, for the same subject.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import type { FastifyInstance } from "fastify";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { buildCsr } from "../pki/csr.js";
import { keyObjectSigner } from "../pki/keys.js";
import { readCertsOnly } from "../pki/pkcs7.js";
import { generatePasscode, passcodeHash } from "../registration/passcode.js";
import { buildApp } from "../server/app.js";
import { initCa } from "../server/init.js";
import { openCa, openDesk, type CaServices } from "../server/services.js";
import type { WireAnswered } from "../http/wire_head.js";
import { answerEnrollOnTheWire, readEnrollPost } from "./wire.js";
import { certsOnlyText } from "./plugin.js";

const T0 = new Date("2026-12-05T00:00:00.000Z");
const DAY = 86_400_000;
const USERS = 12;

interface Side {
  readonly s: CaServices;
  readonly app: FastifyInstance;
  readonly port: number;
  readonly taken: () => number;
}

interface User { readonly userId: string; readonly passcode: string; readonly csr: string }

/** A raw request on a new TLS connection: everything the server wrote until it closed. */
function raw(port: number, ca: string, bytes: Buffer, pieces = 1): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // A request that is not complete gets no answer: a while after its last byte the client closes its side, as a client gives up.
    let quiet: NodeJS.Timeout | undefined;
    const wait = (): void => {
      quiet = setTimeout(() => { if (chunks.length === 0 && !s.destroyed) s.end(); }, 2500);
    };
    const s: TLSSocket = connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      if (pieces === 1) {
        s.write(bytes);
        wait();
      } else {
        const cut = Math.max(1, Math.floor(bytes.length / 2));
        s.write(bytes.subarray(0, cut));
        setTimeout(() => {
          if (s.destroyed) return;
          s.write(bytes.subarray(cut));
          wait();
        }, 5);
      }
    });
    const timer = setTimeout(() => { s.destroy(); resolve(Buffer.concat(chunks)); }, 15_000);
    s.on("end", () => clearTimeout(quiet));
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      // A complete answer (Node keeps some connections open): done.
      const got = Buffer.concat(chunks);
      const at = got.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(got.subarray(0, Math.max(0, at)).toString("latin1"));
      if (at >= 0 && length && got.length - at - 4 >= Number(length[1])) {
        clearTimeout(quiet);
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on("close", () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ECONNRESET" || e.code === "EPIPE") resolve(Buffer.concat(chunks));
      else reject(e);
    });
  });
}

/** The answer with its Date header taken out and a certificate replaced by what it was checked to be. */
async function normalised(side: Side, answer: Buffer): Promise<string> {
  const text = answer.toString("latin1");
  const at = text.indexOf("\r\n\r\n");
  if (at < 0) return `no complete answer: ${JSON.stringify(text)}`;
  let head = text.slice(0, at).split("\r\n").filter((l) => !/^date: /i.test(l)).join("\n");
  let body = answer.subarray(at + 4).toString("utf8");
  if (head.startsWith("HTTP/1.1 200 ")) {
    // Serials and signatures differ in length between the copies: the length is checked, then left out.
    assert.match(head, new RegExp(`\ncontent-length: ${answer.length - at - 4}\n`));
    head = head.replace(/\ncontent-length: \d+\n/, "\ncontent-length: <length of the body>\n");
    const der = readCertsOnly(Buffer.from(body.replace(/\s+/g, ""), "base64"))[0];
    assert.ok(der, "a certificate in the answer");
    const cert = new X509Certificate(der);
    const rec = await side.s.store.getCertificate(cert.serialNumber.toLowerCase());
    assert.ok(rec, "the certificate answered is on record");
    assert.equal(body, certsOnlyText(rec.der), "the body is the certs-only of the recorded certificate");
    body = `<certificate for ${cert.subject.replace(/\n/g, ",")}>`;
  }
  return `${head}\n\n${body}`;
}

function request(u: User, o: { headers?: string; body?: string; auth?: string } = {}): Buffer {
  const body = o.body ?? u.csr;
  const auth = o.auth ?? `Basic ${Buffer.from(`${u.userId}:${u.passcode}`).toString("base64")}`;
  return Buffer.from(`POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${auth}\r\nContent-Type: application/pkcs10\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${o.headers ?? ""}Connection: close\r\n\r\n${body}`, "utf8");
}

/** A small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

test("simpleenroll on the wire answers as the fastify route does: good, bad and mutated requests, byte for byte", { timeout: 600_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "shomei-est-wire-"));
  const sides: Side[] = [];
  const logged: WireAnswered[] = [];
  try {
    const rootA = join(work, "a");
    await initCa({ dir: rootA, organization: "Wire Test", hostnames: ["localhost", "127.0.0.1"], now: T0, actor: "operator:test" });
    const users: User[] = [];
    const desk = await openDesk(rootA);
    try {
      for (let i = 0; i < USERS; i++) {
        const userId = `a${String(7000001 + i)}`;
        const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
        const csr = (await buildCsr({ publicKey: pair.publicKey, signer: keyObjectSigner(pair.privateKey), commonName: userId })).toString("base64");
        const passcode = generatePasscode();
        const now = new Date();
        await desk.store.registerUser({
          userId, email: `${userId}@wire.invalid`, name: `Wire ${userId}`, organization: desk.config.organization, lang: "en", role: "user", status: "active",
          passwordHash: "$argon2id$unused", passwordInitial: true, passwordSetAt: now, passwordExpiresAt: new Date(now.getTime() + 40 * DAY), createdAt: now,
          failedLogins: 0, lockedAt: null, lastLoginAt: null,
        }, {
          userId, hash: passcodeHash(desk.dir.hmacSecret(), userId, passcode), issuedAt: now, expiresAt: new Date(now.getTime() + 40 * DAY),
          failedAttempts: 0, status: "active", usedAt: null, csrHash: null, certificateSerial: null,
        }, []);
        users.push({ userId, passcode, csr });
      }
    } finally {
      await desk.close();
    }
    const rootB = join(work, "b");
    cpSync(rootA, rootB, { recursive: true });
    // One fixed clock for both copies: the address limit's minutes left and the certificates' dates do not depend on when each copy answered.
    const clock = new Date();
    const ca = readFileSync(join(rootA, "ca", "root.pem"), "utf8");
    for (const [root, wire] of [[rootA, true], [rootB, false]] as const) {
      const s = await openCa(root, { clock: () => clock });
      const app = await buildApp(s, { logLevel: "silent", estWire: false });
      const stats = wire
        ? answerEnrollOnTheWire(app.server as unknown as HttpsServer, {
          prefix: "/.well-known/est", enrollment: s.enrollment, limiter: s.limiter, helpdesk: s.config.helpdesk, logError: () => undefined,
          onAnswered: (a) => logged.push(a),
        })
        : { taken: () => 0 };
      await app.listen({ host: "127.0.0.1", port: 0 });
      sides.push({ s, app, port: (app.server.address() as AddressInfo).port, taken: stats.taken });
    }
    const [wired, plain] = sides;
    if (!wired || !plain) throw new Error("not started");

    const both = async (bytes: Buffer, what: string, pieces = 1): Promise<string> => {
      const a = await normalised(wired, await raw(wired.port, ca, bytes, pieces));
      const b = await normalised(plain, await raw(plain.port, ca, bytes, pieces));
      assert.equal(a, b, `${what}: the answers differ\n${bytes.toString("latin1").slice(0, 600)}`);
      return a;
    };

    const [u0, u1, u2, u3, u4, u5] = users;
    if (!u0 || !u1 || !u2 || !u3 || !u4 || !u5) throw new Error("users");
    let taken = wired.taken();
    const expectTaken = (what: string, n: number): void => {
      assert.equal(wired.taken() - taken, n, `${what}: ${n === 0 ? "left to fastify" : "answered on the wire"}`);
      taken = wired.taken();
      // Every request answered on the wire is told (for the log at level info), with the status it got.
      assert.equal(logged.length, wired.taken(), `${what}: each request answered on the wire is logged`);
    };
    assert.match(await both(request(u0), "a good request"), /^HTTP\/1\.1 200 OK\n/);
    expectTaken("good", 1);
    const first = logged[0];
    assert.deepEqual(first && { ...first, remotePort: typeof first.remotePort, responseTimeMs: first.responseTimeMs >= 0 },
      { method: "POST", url: "/.well-known/est/simpleenroll", remoteAddress: "127.0.0.1", remotePort: "number", statusCode: 200, responseTimeMs: true });
    assert.match(await both(request(u0), "the same request again (a retry gets the same certificate)"), /^HTTP\/1\.1 200 OK\n/);
    assert.match(await both(request({ ...u0, csr: u1.csr }), "the passcode used again with another CSR"), /^HTTP\/1\.1 4\d\d /);
    expectTaken("used", 2);
    assert.match(await both(request(u1, { auth: `Basic ${Buffer.from(`${u1.userId}:WRONG-PASS`).toString("base64")}` }), "a wrong passcode"), /^HTTP\/1\.1 401 [^]*www-authenticate/);
    expectTaken("wrong passcode", 1);
    assert.equal(logged.at(-1)?.statusCode, 401, "a wrong passcode is logged with its 401");
    await both(request(u1, { auth: `Basic ${Buffer.from(`${u1.userId}:WRONG-PASS`).toString("base64")}`, headers: "Accept-Language: ja\r\n" }), "a wrong passcode, Japanese");
    await both(request(u1, { headers: "Accept-Language: en-US,en;q=0.9\r\n" }), "good after a wrong one, English");
    await both(request({ ...u2, userId: "a9999999" }), "an unknown user");
    await both(request(u2, { body: Buffer.from("not a CSR at all").toString("base64") }), "a body that is no CSR");
    await both(request(u2, { body: u2.csr.slice(0, 40) }), "a truncated CSR");
    expectTaken("refusals", 5);
    await both(request(u2, { body: "%%%not base64%%%" }), "bad base64");
    await both(request(u2, { auth: "Bearer abc" }), "no Basic credentials");
    await both(request(u2, { headers: "Accept: application/problem+json\r\n", auth: "Basic Og==" }), "problem+json");
    await both(request(u2, { headers: "Sec-Fetch-Mode: cors\r\n", auth: `Basic ${Buffer.from(`${u2.userId}:WRONG`).toString("base64")}` }), "from a page's script");
    await both(request(u2), "in two pieces", 2);
    for (const cut of [10, 60, 150]) await both(request(u2).subarray(0, cut), `cut after ${cut} bytes`);
    expectTaken("left to fastify", 0);
    await both(Buffer.from(`POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/pkcs10\r\nContent-Length: ${70 * 1024}\r\nConnection: close\r\n\r\n${"A".repeat(70 * 1024)}`), "over the body limit");

    // Byte-level mutations of good and bad requests (each on both copies, so the state stays the same).
    const random = rng(12);
    const seeds = [request(u3), request(u4, { headers: "Accept-Language: en\r\n" }), request(u5, { auth: `Basic ${Buffer.from(`${u5.userId}:x`).toString("base64")}` })];
    const alphabet = Buffer.from(" \t\r\n:;,=/+AZaz09-_%\u007f\u0000\u00ff", "latin1");
    let answered = 0;
    for (let i = 0; i < 400; i++) {
      const seed = seeds[i % seeds.length] ?? Buffer.alloc(0);
      const m = Buffer.from(seed);
      let out: Buffer = m;
      // In the head, mostly (a body changed in length is a request that never ends); now and then in the body.
      const kind = Math.floor(random() * 4);
      const end = i % 10 === 0 ? m.length : m.indexOf("\r\n\r\n") + 4;
      const at = Math.floor(random() * end);
      if (kind === 0) m[at] = alphabet[Math.floor(random() * alphabet.length)] ?? 0;
      else if (kind === 1) out = Buffer.concat([m.subarray(0, at), m.subarray(at + 1 + Math.floor(random() * 4))]);
      else if (kind === 2) out = Buffer.concat([m.subarray(0, at), Buffer.from([alphabet[Math.floor(random() * alphabet.length)] ?? 0]), m.subarray(at)]);
      else m[at] = (m[at] ?? 0) ^ (1 << Math.floor(random() * 8));
      const text = await both(out, `mutation ${i} (kind ${kind} at ${at})`);
      if (text.startsWith("HTTP/1.1 ")) answered++;
    }
    assert.ok(answered > 200, `most mutations got an answer (${answered})`);
    assert.ok(wired.taken() - taken > 20, `the wire path took some of the mutations (${wired.taken() - taken})`);

    // The address limit: wrong passcodes from one address until 429, on both.
    let last = "";
    for (let i = 0; i < 60 && !last.startsWith("HTTP/1.1 429"); i++) {
      last = await both(request(users[6 + (i % 6)] ?? u5, { auth: `Basic ${Buffer.from(`${users[6 + (i % 6)]?.userId ?? ""}:WRONG-${i}`).toString("base64")}` }), `wrong passcode ${i}`);
    }
    assert.match(last, /^HTTP\/1\.1 429 [^]*retry-after: \d+/);
    assert.equal(logged.length, wired.taken(), "every request answered on the wire was logged");
    assert.equal(logged.at(-1)?.statusCode, 429, "the address limit's refusal is logged with its 429");
  } finally {
    for (const side of sides) {
      await side.app.close();
      await side.s.close();
    }
    rmSync(work, { recursive: true, force: true });
  }
});

test("readEnrollPost reads only the plain shape", () => {
  const line = Buffer.from("POST /.well-known/est/simpleenroll HTTP/1.1", "latin1");
  const ok = Buffer.from("POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTph\r\nContent-Type: application/pkcs10\r\nContent-Length: 4\r\nConnection: close\r\n\r\nMIIB", "latin1");
  assert.deepEqual(readEnrollPost(ok, line), { authorization: "Basic YTph", acceptLanguage: undefined, body: "MIIB" });
  for (const bad of [
    ok.toString("latin1").replace("Connection: close", "Connection: keep-alive"),
    ok.toString("latin1").replace("HTTP/1.1", "HTTP/1.0"),
    ok.toString("latin1").replace("application/pkcs10", "application/pkcs10-base64"),
    ok.toString("latin1").replace("Content-Length: 4", "Content-Length: 5"),
    ok.toString("latin1").replace("Host: x\r\n", ""),
    ok.toString("latin1").replace("Host: x\r\n", "Host: x\r\nHost: y\r\n"),
    ok.toString("latin1").replace("Host: x\r\n", "Transfer-Encoding: chunked\r\n"),
    ok.toString("latin1").replace("Host: x\r\n", "Host: x \r\n"),
    ok.toString("latin1").replace("Host: x\r\n", "Host: x\r\nAuthorization: Basic YTpi\r\n"),
    ok.toString("latin1").replace("Host: x\r\n", "Host: x\r\nX-Shomei-Client: browser\r\n"),
    ok.toString("latin1") + "x",
  ]) assert.equal(readEnrollPost(Buffer.from(bad, "latin1"), line), undefined, bad);
});
