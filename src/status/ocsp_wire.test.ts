/**
 * OCSP POSTs answered on the connection (ocsp_wire.ts) give what Node's HTTP server gave:
 * - readOcspPost() reads a request only when Node reads the same one — on real clients' requests
 *   and on thousands of mutations of them, every request it takes is, for a stock Node server,
 *   exactly one POST /ocsp with the same Content-Type, the same body and the same keep-alive answer;
 * - the listener's answers are byte for byte those of Node's server with the same request
 *   handler (Date aside), for requests it answers itself and for everything it hands over
 *   (requests in pieces, pipelined, other paths, answers not in memory);
 * - connections that say nothing, stay open or go away are closed or handed over, and
 *   close() does not wait for them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { once } from "node:events";
import { caseRng, mutate, type Mutator, type Rng } from "../../test/fuzz/mutate.js";
import { getCaching, OCSP_BODY_LIMIT, ocspPostFastPath, type GetCaching } from "./plugin.js";
import { OcspHttpServer, readOcspGet, readOcspPost } from "./ocsp_wire.js";
import type { OcspReply } from "./ocsp_responder.js";
import { OcspPresigner } from "./ocsp_presigner.js";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initCa } from "../server/init.js";
import { openCa } from "../server/services.js";
import { buildPublicationApp } from "../server/publication.js";
import { buildCsr } from "../pki/csr.js";
import { keyObjectSigner } from "../pki/keys.js";
import { buildOcspRequest } from "../pki/ocsp.js";
import { generatePasscode, passcodeHash } from "../registration/passcode.js";

const DER = Buffer.from("3045304330413039300906052b0e03021a05000414" + "11".repeat(20) + "0414" + "22".repeat(20) + "020812345678", "hex");
const OTHER = Buffer.concat([DER.subarray(0, DER.length - 1), Buffer.from([0x79])]);
const ANSWER = Buffer.concat([Buffer.from("3082", "hex"), Buffer.alloc(700, 0xab)]);
const SIGNED = Buffer.concat([Buffer.from("3082", "hex"), Buffer.alloc(600, 0xcd)]);

const post = (head: string, body: Buffer = DER): Buffer => Buffer.concat([Buffer.from(head.replaceAll("{n}", String(body.length)), "latin1"), body]);

/** Requests as OCSP clients send them. */
const CLIENTS: Record<string, Buffer> = {
  // ab -p (HTTP/1.0, no keep-alive); with -k it asks for keep-alive.
  ab: post("POST /ocsp HTTP/1.0\r\nContent-length: {n}\r\nContent-type: application/ocsp-request\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"),
  abKeepAlive: post("POST /ocsp HTTP/1.0\r\nContent-length: {n}\r\nContent-type: application/ocsp-request\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"),
  // OpenSSL 3's OCSP client.
  openssl: post("POST /ocsp HTTP/1.0\r\nHost: 127.0.0.1\r\nPragma: no-cache\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n"),
  curl: post("POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n"),
  close11: post("POST /ocsp HTTP/1.1\r\nhost: a\r\nconnection: close\r\ncontent-type: application/ocsp-request\r\ncontent-length: {n}\r\n\r\n"),
  fetch: post("POST /ocsp HTTP/1.1\r\nhost: localhost:8080\r\nconnection: keep-alive\r\ncontent-type: application/ocsp-request\r\naccept: */*\r\naccept-language: *\r\nsec-fetch-mode: cors\r\nuser-agent: node\r\naccept-encoding: gzip, deflate\r\ncontent-length: {n}\r\n\r\n"),
};

// ---- talking raw HTTP ------------------------------------------------------------------------

/** Splits complete HTTP responses (Content-Length bodies) off the front of `data`. */
function responses(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end < 0) return out;
    const head = data.subarray(at, end).toString("latin1");
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (data.length < end + 4 + len) return out;
    out.push(data.subarray(at, end + 4 + len));
    at = end + 4 + len;
  }
}

/** Opens a connection, sends each part (waiting a little between parts), and reads until `count` responses came or the server closed. */
async function exchange(port: number, parts: readonly Buffer[], count: number): Promise<{ responses: Buffer[]; closed: boolean }> {
  const s = connect(port, "127.0.0.1");
  await once(s, "connect");
  let data = Buffer.alloc(0);
  let closed = false;
  const done = new Promise<void>((resolve) => {
    s.on("data", (c: Buffer) => {
      data = Buffer.concat([data, c]);
      if (responses(data).length >= count) resolve();
    });
    s.on("close", () => {
      closed = true;
      resolve();
    });
    s.on("error", () => undefined);
  });
  for (const [i, p] of parts.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, 30));
    s.write(p);
  }
  await done;
  // A close right behind the last answer is part of it.
  if (!closed) await Promise.race([once(s, "close").then(() => { closed = true; }), new Promise((r) => setTimeout(r, 20))]);
  s.destroy();
  return { responses: responses(data), closed };
}

/** The same request, one part after another on one connection, each answer read before the next is sent. */
async function sequence(port: number, requests: readonly Buffer[]): Promise<{ responses: Buffer[]; closed: boolean }> {
  const s = connect(port, "127.0.0.1");
  await once(s, "connect");
  let data = Buffer.alloc(0);
  let closed = false;
  s.on("close", () => { closed = true; });
  s.on("error", () => undefined);
  for (const [i, r] of requests.entries()) {
    s.write(r);
    while (responses(data).length <= i && !closed) {
      const [c] = (await Promise.race([once(s, "data"), once(s, "close").then(() => [Buffer.alloc(0)])])) as [Buffer];
      data = Buffer.concat([data, c]);
    }
  }
  if (!closed) await Promise.race([once(s, "close").then(() => { closed = true; }), new Promise((r) => setTimeout(r, 20))]);
  s.destroy();
  return { responses: responses(data), closed };
}

const normalized = (r: Buffer): string => r.toString("latin1").replace(/\r\nDate: [^\r]*/, "\r\nDate: -");

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

// ---- readOcspPost against Node's own parser ------------------------------------------------------

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

let node: Server;
let nodePort = 0;
const seen: Seen[] = [];

before(async () => {
  // A stock Node server, as the publication listener's requests went to before.
  node = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", contentType: req.headers["content-type"], body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-length": 2 });
      res.end("ok");
    });
  });
  nodePort = await listen(node);
});
after(() => closeServer(node));

/** Asserts Node reads `input` as readOcspPost() does, when readOcspPost() reads it at all. */
async function nodeAgrees(input: Buffer, what: string): Promise<"read" | "declined"> {
  const mine = readOcspPost(input);
  if (!mine) return "declined";
  seen.length = 0;
  const r = await exchange(nodePort, [input], 1);
  const replay = `${what}: ${JSON.stringify(input.toString("latin1"))}`;
  assert.equal(r.responses.length, 1, `Node gave no answer to ${replay}`);
  const head = r.responses[0]?.toString("latin1") ?? "";
  assert.match(head, /^HTTP\/1\.1 200 /, replay);
  assert.equal(seen.length, 1, `Node read ${seen.length} requests in ${replay}`);
  const s = seen[0];
  assert.ok(s);
  assert.equal(s.method, "POST", replay);
  assert.equal(s.url, "/ocsp", replay);
  assert.equal(s.contentType, "application/ocsp-request", replay);
  assert.deepEqual(s.body, mine.body, replay);
  assert.equal(/\r\nConnection: keep-alive\r\n/.test(head), mine.keepAlive, `keep-alive differs for ${replay}`);
  return "read";
}

test("the requests of ab, OpenSSL, curl and fetch are read, as Node reads them", async () => {
  for (const [name, req] of Object.entries(CLIENTS)) assert.equal(await nodeAgrees(req, name), "read", name);
  assert.equal(readOcspPost(CLIENTS.ab ?? Buffer.alloc(0))?.keepAlive, false);
  assert.equal(readOcspPost(CLIENTS.abKeepAlive ?? Buffer.alloc(0))?.keepAlive, true);
  assert.equal(readOcspPost(CLIENTS.curl ?? Buffer.alloc(0))?.keepAlive, true);
  assert.equal(readOcspPost(CLIENTS.close11 ?? Buffer.alloc(0))?.keepAlive, false);
});

test("what changes how Node reads or answers a request is left to Node", () => {
  const declined = [
    "GET /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp/ HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n", // HTTP/1.1 without Host: 400
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request; charset=x\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: Application/OCSP-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: +{n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nTransfer-Encoding: chunked\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nExpect: 100-continue\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nConnection: close, TE\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nProxy-Connection: close\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type : application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\r\nHost: a\r\n folded\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/1.1\nHost: a\nContent-Type: application/ocsp-request\nContent-Length: {n}\n\n",
    "POST /ocsp HTTP/1.1\r\nHost: \xe9\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
    "POST /ocsp HTTP/2.0\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n",
  ];
  for (const head of declined) assert.equal(readOcspPost(post(head)), undefined, JSON.stringify(head));
  const ok = CLIENTS.curl ?? Buffer.alloc(0);
  // Not exactly one request: a part of it, or more than it.
  assert.equal(readOcspPost(ok.subarray(0, ok.length - 1)), undefined);
  assert.equal(readOcspPost(Buffer.concat([ok, ok])), undefined);
  assert.equal(readOcspPost(Buffer.concat([ok, Buffer.from("\r\n")])), undefined);
  // No body, or one over the limit.
  assert.equal(readOcspPost(post("POST /ocsp HTTP/1.0\r\nContent-Type: application/ocsp-request\r\nContent-Length: 0\r\n\r\n", Buffer.alloc(0))), undefined);
  assert.equal(readOcspPost(post("POST /ocsp HTTP/1.0\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n", Buffer.alloc(OCSP_BODY_LIMIT + 1))), undefined);
  // Without Host when the server does not ask for one (requireHostHeader: false), as Node would read it.
  assert.ok(readOcspPost(post("POST /ocsp HTTP/1.1\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n"), false));
});

/** HTTP-shaped edits: what clients and attackers vary in a request head. */
const SPECIAL = [" ", "\t", "\r", "\n", ":", "\x00", "\x7f", "\x80", ",", ";", "0", "=", "\r\n", "\r\n\r\n", "\r\n "];
const EXTRA_HEADERS = [
  "Connection: close", "Connection: keep-alive", "Connection: Keep-Alive", "connection: CLOSE", "Connection: upgrade", "Connection: close, keep-alive",
  "Transfer-Encoding: chunked", "Transfer-Encoding: identity", "Expect: 100-continue", "Upgrade: websocket", "Host: b", "Content-Length: 7",
  "Content-Type: text/plain", "content-type: application/ocsp-request", "X-Long: " + "a".repeat(300), "TE: trailers", "Proxy-Connection: keep-alive",
  "Keep-Alive: timeout=1", "Trailer: x", "Content-Encoding: gzip", "X-Empty:", "X-Spaces:    v   ", "x\tbad: 1",
];
const lines = (input: Buffer): { head: string; body: Buffer } | undefined => {
  const end = input.indexOf("\r\n\r\n");
  return end < 0 ? undefined : { head: input.subarray(0, end).toString("latin1"), body: input.subarray(end + 4) };
};
const httpMutators: Record<string, Mutator> = {
  headerCase(input: Buffer, rng: Rng) {
    const out = Buffer.from(input);
    const end = input.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    for (let i = rng.int(6) + 1; i > 0; i--) {
      const at = rng.int(end);
      const c = out[at] ?? 0;
      if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) out[at] = c ^ 0x20;
    }
    return out;
  },
  special(input: Buffer, rng: Rng) {
    const end = input.indexOf("\r\n\r\n");
    const at = rng.int((end < 0 ? input.length : end + 4) + 1);
    return Buffer.concat([input.subarray(0, at), Buffer.from(rng.pick(SPECIAL), "latin1"), input.subarray(at)]);
  },
  addHeader(input: Buffer, rng: Rng) {
    const l = lines(input);
    if (!l) return undefined;
    const hs = l.head.split("\r\n");
    hs.splice(1 + rng.int(hs.length), 0, rng.pick(EXTRA_HEADERS));
    return Buffer.concat([Buffer.from(`${hs.join("\r\n")}\r\n\r\n`, "latin1"), l.body]);
  },
  dropHeader(input: Buffer, rng: Rng) {
    const l = lines(input);
    if (!l) return undefined;
    const hs = l.head.split("\r\n");
    if (hs.length < 2) return undefined;
    hs.splice(1 + rng.int(hs.length - 1), 1);
    return Buffer.concat([Buffer.from(`${hs.join("\r\n")}\r\n\r\n`, "latin1"), l.body]);
  },
  repeatHeader(input: Buffer, rng: Rng) {
    const l = lines(input);
    if (!l) return undefined;
    const hs = l.head.split("\r\n");
    if (hs.length < 2) return undefined;
    hs.splice(1 + rng.int(hs.length - 1), 0, hs[1 + rng.int(hs.length - 1)] ?? "");
    return Buffer.concat([Buffer.from(`${hs.join("\r\n")}\r\n\r\n`, "latin1"), l.body]);
  },
  whitespace(input: Buffer, rng: Rng) {
    const l = lines(input);
    if (!l) return undefined;
    const hs = l.head.split("\r\n");
    const i = 1 + rng.int(Math.max(1, hs.length - 1));
    const h = hs[i];
    if (h === undefined) return undefined;
    const ws = rng.pick([" ", "\t", "  ", " \t"]);
    hs[i] = rng.chance(0.5) ? h.replace(":", `:${ws}`) : `${h}${ws}`;
    return Buffer.concat([Buffer.from(`${hs.join("\r\n")}\r\n\r\n`, "latin1"), l.body]);
  },
  length(input: Buffer, rng: Rng) {
    return Buffer.from(input.toString("latin1").replace(/(content-length: *)(\d+)/i, (_m, p: string, n: string) => `${p}${rng.pick([Number(n) - 1, Number(n) + 1, 0, `0${n}`, `${n} `, `${n}0`])}`), "latin1");
  },
  version(input: Buffer, rng: Rng) {
    return Buffer.from(input.toString("latin1").replace(/HTTP\/1\.[01]/, rng.pick(["HTTP/1.0", "HTTP/1.1", "HTTP/1.2", "HTTP/0.9", "HTTP/2.0", "http/1.1"])), "latin1");
  },
};

test("on thousands of mutations of those requests, whatever readOcspPost() reads Node reads the same way", async () => {
  const names = [...Object.keys(httpMutators), ...Object.keys(httpMutators), "bitFlip", "byteSet", "truncate", "append", "insert", "remove"];
  const samples = Object.values(CLIENTS);
  let read = 0;
  let declined = 0;
  for (let i = 0; i < 3000; i++) {
    const rng = caseRng(20261205, i);
    const { input, applied } = mutate(rng.pick(samples), rng, names, httpMutators);
    if ((await nodeAgrees(input, `mutation ${i} (${applied.join(", ")})`)) === "read") read++;
    else declined++;
  }
  // Both outcomes happen (case and whitespace changes are read, broken heads are declined).
  assert.ok(read > 300 && declined > 300, `read ${read}, declined ${declined}`);
});

// ---- the listener against Node's server ----------------------------------------------------------

/** The pre-signed answer in memory: cacheable, so a GET for it may be answered on the wire too. */
const PRESIGNED: OcspReply = { body: ANSWER, cacheable: { thisUpdate: new Date(Date.now() - 60_000), nextUpdate: new Date(Date.now() + 4 * 3_600_000), etag: '"presigned"' } };
/** A responder with one pre-signed answer in memory (DER) and one it signs on request (OTHER). */
const responder = {
  answerFromMemory: (der: Uint8Array): OcspReply | undefined => (Buffer.from(der).equals(DER) ? PRESIGNED : undefined),
  answer: (der: Uint8Array): Promise<OcspReply> => Promise.resolve({ body: Buffer.from(der).equals(OTHER) ? SIGNED : Buffer.from("3003", "hex") }),
};
/** The publication listener's request handler: the OCSP POST path, and anything else answered 404. */
const handler = (): RequestListener => {
  const fast = ocspPostFastPath(responder);
  return (req: IncomingMessage, res: ServerResponse) => {
    if (fast(req, res)) return;
    req.resume();
    res.writeHead(404, { "content-type": "text/plain", "content-length": 8 });
    res.end("not here");
  };
};

test("its answers are byte for byte those of Node's server with the same handler, answered here or handed over", async () => {
  let here = 0;
  const wired = new OcspHttpServer(handler(), {
    answer: (der) => {
      here++;
      return responder.answerFromMemory(der);
    },
  });
  const plain = createServer(handler());
  const [a, b] = [await listen(wired), await listen(plain)];
  try {
    const curl = CLIENTS.curl ?? Buffer.alloc(0);
    const cases: { name: string; parts: Buffer[]; count: number }[] = [
      ...Object.entries(CLIENTS).map(([name, req]) => ({ name, parts: [req], count: 1 })),
      { name: "in two pieces", parts: [curl.subarray(0, 40), curl.subarray(40)], count: 1 },
      { name: "head, then body", parts: [curl.subarray(0, curl.length - DER.length), curl.subarray(curl.length - DER.length)], count: 1 },
      { name: "two pipelined", parts: [Buffer.concat([curl, curl])], count: 2 },
      { name: "signed on request", parts: [post("POST /ocsp HTTP/1.0\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n", OTHER)], count: 1 },
      { name: "a CRL", parts: [Buffer.from("GET /crl/issuing.crl HTTP/1.1\r\nHost: a\r\n\r\n")], count: 1 },
      { name: "not HTTP", parts: [Buffer.from("\x16\x03\x01\x00\x05hello\r\n\r\n", "latin1")], count: 1 },
      { name: "too large", parts: [post("POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: {n}\r\n\r\n", Buffer.alloc(OCSP_BODY_LIMIT + 10))], count: 1 },
    ];
    for (const c of cases) {
      const [x, y] = [await exchange(a, c.parts, c.count), await exchange(b, c.parts, c.count)];
      assert.equal(x.responses.length, c.count, c.name);
      assert.deepEqual(x.responses.map(normalized), y.responses.map(normalized), c.name);
      assert.equal(x.closed, y.closed, `${c.name}: closed`);
    }
    // The clients' requests were answered here (not all handed over, which would make them equal trivially).
    assert.ok(here >= Object.keys(CLIENTS).length, `answered here: ${here}`);
    // Kept open: the next requests on the same connection (answered here, then one handed over, then here again).
    const get = Buffer.from("GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n");
    const [x, y] = [await sequence(a, [curl, curl, get, curl]), await sequence(b, [curl, curl, get, curl])];
    assert.equal(x.responses.length, 4);
    assert.deepEqual(x.responses.map(normalized), y.responses.map(normalized));
    assert.ok(x.responses.every((r) => r.includes("Keep-Alive: timeout=5")));
    // Other keep-alive timeouts are named as Node names them (none when 0; "timeout=0" under a second).
    for (const ms of [0, 200, 65_000]) {
      wired.keepAliveTimeout = ms;
      plain.keepAliveTimeout = ms;
      const [p, q] = [await exchange(a, [curl], 1), await exchange(b, [curl], 1)];
      assert.deepEqual(p.responses.map(normalized), q.responses.map(normalized), `keepAliveTimeout ${ms}`);
    }
  } finally {
    await closeServer(wired);
    await closeServer(plain);
  }
});

test("a connection that says nothing is handed to Node (which times it out), a kept one is closed when idle, and hostile clients stop nothing", async () => {
  const wired = new OcspHttpServer(handler(), { answer: (der) => responder.answerFromMemory(der), firstBytesMs: 100, http: { headersTimeout: 400, requestTimeout: 500, connectionsCheckingInterval: 100 } });
  wired.keepAliveTimeout = 200;
  const port = await listen(wired);
  try {
    const silent = connect(port, "127.0.0.1");
    let said = "";
    silent.on("data", (c: Buffer) => { said += c.toString("latin1"); });
    await once(silent, "close");
    assert.match(said, /^HTTP\/1\.1 408 /);

    const kept = await sequence(port, [CLIENTS.abKeepAlive ?? Buffer.alloc(0)]);
    assert.equal(kept.responses.length, 1);
    const idle = connect(port, "127.0.0.1");
    idle.write(CLIENTS.curl ?? Buffer.alloc(0));
    idle.resume();
    await once(idle, "close");

    // A reset before any request, a close before any request, half a request then a reset.
    const reset = connect(port, "127.0.0.1");
    await once(reset, "connect");
    reset.resetAndDestroy();
    const early = connect(port, "127.0.0.1");
    await once(early, "connect");
    early.end();
    await once(early, "close");
    const half = connect(port, "127.0.0.1");
    await once(half, "connect");
    half.write((CLIENTS.curl ?? Buffer.alloc(0)).subarray(0, 30));
    half.resetAndDestroy();

    const r = await exchange(port, [CLIENTS.openssl ?? Buffer.alloc(0)], 1);
    assert.ok(r.responses[0]?.subarray(-ANSWER.length).equals(ANSWER));
  } finally {
    await closeServer(wired);
  }
});

test("close() does not wait for connections that sent nothing or wait for their next request", { timeout: 20_000 }, async () => {
  const wired = new OcspHttpServer(handler(), { answer: (der) => responder.answerFromMemory(der), firstBytesMs: 60_000 });
  wired.keepAliveTimeout = 60_000;
  const port = await listen(wired);
  const silent = connect(port, "127.0.0.1");
  await once(silent, "connect");
  const kept = connect(port, "127.0.0.1");
  kept.write(CLIENTS.curl ?? Buffer.alloc(0));
  await once(kept, "data");
  const closing = Promise.all([once(silent, "close"), once(kept, "close")]);
  await closeServer(wired);
  await closing;
});

test("mutated and random bytes sent raw, whole or in pieces, POST and GET, stop nothing: a good request is answered afterwards", { timeout: 120_000 }, async () => {
  const wired = new OcspHttpServer(handler(), { answer: (der) => responder.answerFromMemory(der), caching: (c) => getCaching(c, Date.now(), 60) });
  const port = await listen(wired);
  const names = [...Object.keys(httpMutators), "bitFlip", "byteSet", "truncate", "append", "insert", "remove", "random"];
  const samples = [...Object.values(CLIENTS), ...Object.values(getClients(DER.toString("base64")))];
  try {
    for (let i = 0; i < 300; i++) {
      const rng = caseRng(20261206, i);
      const { input } = mutate(rng.pick(samples), rng, names, httpMutators);
      const cut = rng.int(input.length + 1);
      const parts = rng.chance(0.3) && cut > 0 && cut < input.length ? [input.subarray(0, cut), input.subarray(cut)] : [input];
      const s = connect(port, "127.0.0.1");
      s.on("error", () => undefined);
      s.resume();
      await once(s, "connect");
      for (const p of parts) s.write(p);
      // Answered, closed, or left waiting for more bytes: any is fine; then the client goes away, politely or not.
      await Promise.race([once(s, "data"), once(s, "close"), new Promise((r) => setTimeout(r, 30))]);
      if (rng.chance(0.5)) s.resetAndDestroy();
      else s.end();
    }
    const r = await exchange(port, [CLIENTS.curl ?? Buffer.alloc(0)], 1);
    assert.ok(r.responses[0]?.subarray(-ANSWER.length).equals(ANSWER));
    const g = await exchange(port, [getClients(DER.toString("base64")).curl ?? Buffer.alloc(0)], 1);
    assert.ok(g.responses[0]?.subarray(-ANSWER.length).equals(ANSWER));
    // Both were answered here (the GET with the caching headers), not handed over.
    assert.ok(wired.answeredHere >= 2 && /\r\netag: "presigned"\r\n/.test(g.responses[0]?.toString("latin1") ?? ""));
  } finally {
    wired.closeIdleConnections();
    await closeServer(wired);
  }
});

// ---- GET /ocsp/{base64} on the wire, against fastify's route, on a real CA ------------------------

/** GET requests as clients send them, for the base64 `b64` of a DER OCSPRequest. */
function getClients(b64: string): Record<string, Buffer> {
  const enc = encodeURIComponent(b64);
  const lower = enc.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
  const req = (target: string, head: string): Buffer => Buffer.from(`GET /ocsp/${target} ${head}\r\n\r\n`, "latin1");
  return {
    // Windows CryptoAPI (CertVerifyRevocation; it sends If-Modified-Since and a Cache-Control of its own).
    windows: req(enc, "HTTP/1.1\r\nCache-Control: max-age = 3600\r\nConnection: Keep-Alive\r\nAccept: */*\r\nIf-Modified-Since: Fri, 04 Dec 2026 10:00:00 GMT\r\nUser-Agent: Microsoft-CryptoAPI/10.0\r\nHost: 127.0.0.1"),
    firefox: req(enc, "HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0\r\nAccept: */*\r\nAccept-Language: ja,en-US;q=0.7,en;q=0.3\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive"),
    curl: req(b64, "HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*"),
    ab: req(enc, "HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*"),
    abKeepAlive: req(enc, "HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*"),
    python: req(lower, "HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-urllib3/2.0.7\r\nAccept-Encoding: identity\r\nConnection: close"),
    noHost10: req(enc, "HTTP/1.0"),
  };
}

/** Where a URL's path is changed: characters and escapes a GET's base64 may be written with, and ones the route reads otherwise. */
const PATH_EDITS = ["%2B", "%2b", "%2F", "%2f", "%3D", "%3d", "%2", "%", "%41", "%20", "%0A", "+", "/", "//", "=", "==", "?", "?x=1", "#", ";", " ", "\t", "A", "a", "0", "-", "_", "."];
const getMutators: Record<string, Mutator> = {
  ...httpMutators,
  path(input: Buffer, rng: Rng) {
    const end = input.indexOf(" HTTP/");
    if (end < 10) return undefined;
    const at = 10 + rng.int(end - 9);
    const cut = rng.chance(0.3) ? rng.int(4) : 0;
    return Buffer.concat([input.subarray(0, at), Buffer.from(rng.pick(PATH_EDITS), "latin1"), input.subarray(Math.min(end, at + cut))]);
  },
};

test("GET /ocsp/… answered on the wire gives, byte for byte, what fastify's route gives: clients' requests, If-None-Match, kept connections, mutations", { timeout: 300_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "shomei-ocsp-get-wire-"));
  const root = join(work, "ca");
  // One fixed clock for both listeners: max-age and Expires are computed from it.
  const clock = new Date();
  await initCa({ dir: root, organization: "Wire Test", hostnames: ["localhost", "127.0.0.1"], now: new Date(clock.getTime() - 60_000), actor: "operator:test" });
  const s = await openCa(root, { clock: () => clock });
  const apps: { close(): Promise<unknown> }[] = [];
  try {
    // A certificate, enrolled as a user would, and its pre-signed answers (the supervisor's work in `serve`).
    const userId = "a7100001";
    const passcode = generatePasscode();
    await s.store.registerUser({
      userId, email: `${userId}@wire.invalid`, name: `Wire ${userId}`, organization: s.config.organization, lang: "en", role: "user", status: "active",
      passwordHash: "$argon2id$unused", passwordInitial: true, passwordSetAt: clock, passwordExpiresAt: new Date(clock.getTime() + 40 * 86_400_000), createdAt: clock,
      failedLogins: 0, lockedAt: null, lastLoginAt: null,
    }, {
      userId, hash: passcodeHash(s.dir.hmacSecret(), userId, passcode), issuedAt: clock, expiresAt: new Date(clock.getTime() + 40 * 86_400_000),
      failedAttempts: 0, status: "active", usedAt: null, csrHash: null, certificateSerial: null,
    }, []);
    const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const csrDer = await buildCsr({ publicKey: pair.publicKey, signer: keyObjectSigner(pair.privateKey), commonName: userId });
    const cert = await s.enrollment.simpleEnroll({ userId, passcode, csrDer });
    await new OcspPresigner({ store: s.store, responder: s.ocsp, clock: () => clock, validityHours: 4, checkSeconds: 3600, random: () => 0 }).run();

    const wiredApp = await buildPublicationApp(s, { logLevel: "silent", clock: () => clock });
    apps.push(wiredApp);
    const plainApp = await buildPublicationApp(s, { logLevel: "silent", clock: () => clock, ocspWire: false });
    apps.push(plainApp);
    assert.ok(wiredApp.server instanceof OcspHttpServer && !(plainApp.server instanceof OcspHttpServer));
    const wired = wiredApp.server;
    // Fastify sets its own keep-alive timeout (72 s) only on a server it makes; serve's listener is made by the factory and keeps Node's.
    plainApp.server.keepAliveTimeout = wired.keepAliveTimeout;
    await wiredApp.listen({ host: "127.0.0.1", port: 0 });
    await plainApp.listen({ host: "127.0.0.1", port: 0 });
    const [a, b] = [(wiredApp.server.address() as AddressInfo).port, (plainApp.server.address() as AddressInfo).port];

    const sha1 = buildOcspRequest(cert.der, s.issuingDer).toString("base64");
    const sha256 = buildOcspRequest(cert.der, s.issuingDer, { hash: "sha256" }).toString("base64");
    const clients = getClients(sha1);
    // The pre-signed answers, read through the route first (which also loads them into memory).
    const presigned = await Promise.all([sha1, sha256].map(async (q) => {
      const r = await exchange(b, [clients.curl ? Buffer.from(clients.curl.toString("latin1").replace(sha1, q), "latin1") : Buffer.alloc(0)], 1);
      const body = r.responses[0]?.subarray((r.responses[0]?.indexOf("\r\n\r\n") ?? 0) + 4);
      assert.ok(body && body.length > 300, "a pre-signed answer");
      return body;
    }));
    const etag = /\r\netag: ([^\r]*)/.exec((await exchange(b, [clients.curl ?? Buffer.alloc(0)], 1)).responses[0]?.toString("latin1") ?? "")?.[1] ?? assert.fail("no ETag");
    /** An answer signed on request (not pre-signed) differs in its signature on each side: its length and ETag are not compared. */
    const comparable = (r: Buffer): string => {
      const end = r.indexOf("\r\n\r\n");
      const head = r.subarray(0, end).toString("latin1").replace(/\r\nDate: [^\r]*/, "\r\nDate: -");
      const body = r.subarray(end + 4);
      const known = presigned.findIndex((p) => p.equals(body));
      if (known >= 0) return `${head}\n<pre-signed answer ${known}>`;
      if (body.length < 16) return `${head}\n${body.toString("hex")}`;
      return `${head.replace(/\r\ncontent-length: \d+/, "\r\ncontent-length: -").replace(/\r\netag: [^\r]*/, "\r\netag: -")}\n<signed on request>`;
    };
    let here = wired.answeredHere;
    const both = async (parts: Buffer[], what: string, count = 1): Promise<{ answers: string[]; taken: number }> => {
      const [x, y] = [await exchange(a, parts, count), await exchange(b, parts, count)];
      const replay = `${what}: ${JSON.stringify(Buffer.concat(parts).toString("latin1").slice(0, 400))}`;
      assert.deepEqual(x.responses.map(comparable), y.responses.map(comparable), replay);
      assert.equal(x.closed, y.closed, `${replay}: closed`);
      const taken = wired.answeredHere - here;
      here = wired.answeredHere;
      return { answers: x.responses.map(comparable), taken };
    };

    // The clients' requests, SHA-1 and SHA-256 CertIDs: answered here, the pre-signed answer with its caching headers.
    for (const [name, req] of Object.entries(clients)) {
      const r = await both([req], name);
      assert.equal(r.taken, 1, `${name}: answered on the wire`);
      assert.match(r.answers[0] ?? "", /^HTTP\/1\.1 200 OK\r\ncontent-type: application\/ocsp-response\r\ncache-control: max-age=\d+, public, no-transform, must-revalidate\r\netag: /, name);
    }
    for (const [name, req] of Object.entries(getClients(sha256))) assert.equal((await both([req], `${name}, SHA-256`)).taken, 1, `${name}, SHA-256`);
    const curl = clients.curl ?? Buffer.alloc(0);
    const withHeader = (h: string): Buffer => Buffer.from(curl.toString("latin1").replace("\r\n\r\n", `\r\n${h}\r\n\r\n`), "latin1");
    // If-None-Match: its ETag gets 304 without a body; anything else the answer.
    const notModified = await both([withHeader(`If-None-Match: ${etag}`)], "If-None-Match, the ETag");
    assert.equal(notModified.taken, 1);
    assert.match(notModified.answers[0] ?? "", /^HTTP\/1\.1 304 Not Modified\r\n[^]*\n$/);
    for (const h of [`If-None-Match: W/${etag}`, "If-None-Match: \"other\"", "If-None-Match: *", "If-None-Match:", `if-none-match:  ${etag}`]) assert.equal((await both([withHeader(h)], h)).taken, 1, h);
    // What Node reads otherwise, or what the wire path leaves to it: answered by fastify on both sides.
    const left = [
      withHeader(`If-None-Match: ${etag} `), withHeader(`If-None-Match: ${etag}\r\nIf-None-Match: "x"`), withHeader("Content-Length: 0"),
      withHeader("Content-Type: application/ocsp-request"), withHeader("Transfer-Encoding: chunked\r\n\r\n0"),
      Buffer.from(curl.toString("latin1").replace(" HTTP/1.1", "?x=1 HTTP/1.1"), "latin1"),
      Buffer.from(curl.toString("latin1").replace("/ocsp/", "/ocsp//"), "latin1"),
      Buffer.from(curl.toString("latin1").replace(" HTTP/1.1", "/ HTTP/1.1"), "latin1"),
      Buffer.from(curl.toString("latin1").replace("/ocsp/", "/ocsp/%20"), "latin1"),
      Buffer.from(curl.toString("latin1").replace("GET ", "HEAD "), "latin1"),
      Buffer.from(curl.toString("latin1").replace("/ocsp/", "/OCSP/"), "latin1"),
      Buffer.from("GET /ocsp/ HTTP/1.1\r\nHost: a\r\n\r\n", "latin1"),
      Buffer.from("GET /ocsp/not-base64 HTTP/1.1\r\nHost: a\r\n\r\n", "latin1"),
      Buffer.from(`GET /ocsp/${Buffer.from("hello").toString("base64")} HTTP/1.1\r\nHost: a\r\n\r\n`, "latin1"),
    ];
    for (const [i, req] of left.entries()) await both([req], `left to fastify ${i}`);
    // A request the pre-signed answers do not cover (a nonce is fine; another serial is signed on request, by fastify).
    const other = Buffer.from(sha1, "base64");
    other[other.length - 1] = (other[other.length - 1] ?? 0) ^ 1;
    assert.equal((await both([Buffer.from(curl.toString("latin1").replace(sha1, other.toString("base64")), "latin1")], "another serial")).taken, 0);
    // Kept connections: the next requests on the same connection, POST and GET, answered here or by fastify.
    const post = Buffer.concat([Buffer.from(`POST /ocsp HTTP/1.1\r\nHost: a\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${Buffer.from(sha1, "base64").length}\r\n\r\n`, "latin1"), Buffer.from(sha1, "base64")]);
    const crl = Buffer.from("GET /crl/issuing.crl HTTP/1.1\r\nHost: a\r\n\r\n", "latin1");
    const steps = [clients.firefox ?? curl, withHeader(`If-None-Match: ${etag}`), post, crl, clients.windows ?? curl, left[5] ?? curl, curl];
    const [x, y] = [await sequence(a, steps), await sequence(b, steps)];
    assert.equal(x.responses.length, steps.length);
    assert.deepEqual(x.responses.map(comparable), y.responses.map(comparable), "a kept connection");
    assert.ok(x.responses.every((r) => r.includes("Keep-Alive: timeout=")));
    here = wired.answeredHere;

    // Mutations of the clients' requests: every one the wire path takes is answered as fastify answers it.
    const seeds = [...Object.values(clients), ...Object.values(getClients(sha256))];
    const names = [...Object.keys(getMutators), "path", "path", "path", "bitFlip", "byteSet", "truncate", "insert", "remove"];
    let read = 0;
    let taken = 0;
    for (let i = 0; i < 400; i++) {
      const rng = caseRng(20261207, i);
      const { input, applied } = mutate(rng.pick(seeds), rng, names, getMutators);
      // What the wire path declines goes to Node as it came (the tests above); a mutation that is not one whole request would wait for more.
      if (!readOcspGet(input)) continue;
      read++;
      taken += (await both([input], `mutation ${i} (${applied.join(", ")})`)).taken;
    }
    // Both happen: requests still for this certificate (answered here) and ones the edit made into another request (signed on request by fastify).
    assert.ok(taken > 40 && read - taken > 40, `mutations read ${read}, answered on the wire ${taken}`);
  } finally {
    for (const app of apps) await app.close();
    await s.close();
    rmSync(work, { recursive: true, force: true });
  }
});

test("getCaching() keeps its last strings only while they are the strings it would make: every millisecond across second and nextUpdate boundaries, in order and out of it", () => {
  const fresh = (c: { thisUpdate: Date; nextUpdate: Date; etag: string }, now: number, cap: number): GetCaching => {
    const maxAge = Math.max(0, Math.min(cap, Math.floor((c.nextUpdate.getTime() - now) / 1000)));
    return { cacheControl: `max-age=${maxAge}, public, no-transform, must-revalidate`, etag: c.etag, lastModified: c.thisUpdate.toUTCString(), expires: new Date(now + maxAge * 1000).toUTCString() };
  };
  const t0 = Date.UTC(2026, 11, 6, 8, 0, 0, 250);
  const c = { thisUpdate: new Date(t0 - 3_600_000), nextUpdate: new Date(t0 + 61_737), etag: '"x"' };
  const rng = caseRng(20261208, 0);
  let hits = 0;
  for (const cap of [60, 3600]) {
    // Every millisecond of 4 s around the point where max-age stops being capped, and of 3 s around nextUpdate; then random times, back and forth.
    const times = [...Array.from({ length: 4000 }, (_, i) => t0 + 60_000 - 2000 - (cap === 60 ? 0 : 58_000) + i), ...Array.from({ length: 3000 }, (_, i) => t0 + 60_000 + i)];
    for (let i = 0; i < 3000; i++) times.push(t0 + rng.int(70_000));
    for (const now of times) {
      const before = getCaching(c, now, cap);
      const again = getCaching(c, now, cap);
      if (again === before) hits++;
      assert.deepEqual(before, fresh(c, now, cap), `now ${now}, cap ${cap}`);
    }
  }
  assert.ok(hits > 10_000, `kept strings used ${hits} times`);
});
