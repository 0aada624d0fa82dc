/**
 * The parsers that take bytes from outside, each as a fuzz target: its valid samples, the
 * mutators that make sense for it, and how to feed it one input. A target's `run` returns
 * when the input was accepted and throws when it was refused; the campaign decides whether
 * the refusal was a coded one.
 */
import { parseCsr } from "../../src/pki/csr.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { decodePkcs12 } from "../../src/pki/pkcs12.js";
import { parseOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { readCrl } from "../../src/pki/crl.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { parseUserCsv } from "../../src/registration/csv.js";
import { readDescription, normaliseServerUrl } from "../../src/client/est.js";
import { checkClientVersion } from "../../src/client/version_policy.js";
import { byteMutators, derMutators, encodeNodes, keyMutators, parseDer, type Mutator, type Rng } from "./mutate.js";
import { SAMPLES, SAMPLES_NOW } from "./samples.js";
import type { CampaignTarget } from "./campaign.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planImport } from "../../src/client/backup.js";
import { FileStore } from "../../src/client/file_store.js";
import { readOcspGet, readOcspPost } from "../../src/status/ocsp_wire.js";
import { getRequestDer } from "../../src/status/plugin.js";
import { readEnrollPost } from "../../src/est/wire.js";
import { basicAuth } from "../../src/est/plugin.js";
import { decodeBase64Strict } from "../../src/pki/pem.js";
import { ShomeiError } from "../../src/i18n/errors.js";

/** Where pkcs12-import writes each case (one folder per process, removed by cleanupTargets). */
let importDir: string | undefined;

/** Removes what the targets wrote (the child calls it when its cases are done). */
export function cleanupTargets(): void {
  if (importDir) rmSync(importDir, { recursive: true, force: true });
  importDir = undefined;
}

/** A parser as a fuzz target (mutators: names from mutate.ts and textMutators below). */
export type Target = CampaignTarget;

export const sample = (name: keyof typeof SAMPLES): Buffer => Buffer.from(SAMPLES[name], "base64");

const BYTE = Object.keys(byteMutators);
const DER = Object.keys(derMutators);
/** Every mutator but the key ones: for targets whose samples carry public keys that this target never reads. */
export const DER_ONLY = [...BYTE, ...DER];
/** Everything, the key classes included (empty, short, compressed and off-curve EC points; odd RSA keys). */
export const DER_AND_KEYS = [...DER_ONLY, ...Object.keys(keyMutators)];

// ---- text inputs (CSV, JSON) -----------------------------------------------------------------

const CSV_PIECES = [
  ",", "\"", "\"\"", "\r\n", "\n", "\r", "\uFEFF", "\u0000", "ユーザID", "メールアドレス", "言語", "=HYPERLINK(\"x\")",
  "\u202e", "a".repeat(5000), ",,,,,,,,", "\"\r\n\"", "𠮷", "\ud800",
];
const JSON_PIECES = [
  "{", "}", "[", "]", "\"", ":", ",", "null", "true", "1e999", "-0", "\"\\u0000\"", "\"\\ud800\"", "[".repeat(10000),
  "\"portalUrl\":", "\"reenrollUrl\":", "\"minClientVersion\":", "\"http://x/\"", "\"https://\"", "\"javascript:alert(1)\"",
  "\"https://user:pw@h/\"", "\"https://h/?q#f\"", "\"99999999999999999999.1-rc\"", "\"__proto__\":", "{\"__proto__\":{\"polluted\":1}}",
];

const HTTP_PIECES = [
  "\r\n", "\n", "\r", " ", "\t", ":", "\u0000", "Content-Length: 0\r\n", "Content-Length: 99999999999999999999\r\n", "Content-Length: -1\r\n",
  "Content-Length: 1, 1\r\n", "Transfer-Encoding: chunked\r\n", "Connection: keep-alive\r\n", "Connection: close\r\n", "Host: a\r\n",
  "Expect: 100-continue\r\n", "Content-Type: text/plain\r\n", "HTTP/1.0", "HTTP/2.0", "GET", "x".repeat(5000), "é", "\r\n\r\n",
];

/** Text mutators: splice a piece of the format's own syntax (quotes, separators, BOMs, deep nesting) in. */
export const textMutators: Record<string, Mutator> = {
  csvPiece: (input: Buffer, rng: Rng) => splice(input, rng, Buffer.from(rng.pick(CSV_PIECES), "utf8")),
  sjisBytes: (input: Buffer, rng: Rng) => splice(input, rng, rng.pick([Buffer.from([0x82]), Buffer.from([0x81, 0x5c]), Buffer.from([0xef, 0xbb]), Buffer.from([0x80, 0xfd, 0xfe])])),
  httpPiece: (input: Buffer, rng: Rng) => splice(input, rng, Buffer.from(rng.pick(HTTP_PIECES), "latin1")),
  jsonPiece: (input: Buffer, rng: Rng) => splice(input, rng, Buffer.from(rng.pick(JSON_PIECES), "utf8")),
  jsonValue: (input: Buffer, rng: Rng) => {
    const key = rng.pick(["portalUrl", "reenrollUrl", "helpdesk", "minClientVersion"]);
    const value = rng.pick<unknown>([null, 1, [], {}, "", " ", "http://127.0.0.1/", "https://", "https://[::1", "ftp://x/", "1.2.3.4.5.6.7.8.9", "x".repeat(100_000), "-", "0.0.0-", { a: [1] }]);
    let o: unknown;
    try {
      o = JSON.parse(input.toString("utf8"));
    } catch {
      return undefined;
    }
    if (typeof o !== "object" || o === null) return undefined;
    (o as Record<string, unknown>)[key] = value;
    return Buffer.from(JSON.stringify(o), "utf8");
  },
};

function splice(input: Buffer, rng: Rng, piece: Buffer): Buffer {
  const at = rng.int(input.length + 1);
  const cut = rng.chance(0.3) ? rng.int(4) : 0;
  return Buffer.concat([input.subarray(0, at), piece, input.subarray(at + cut)]);
}

const CSV_SAMPLES = [
  Buffer.from("ユーザID,メールアドレス,氏名,所属,言語\r\na0000001,taro@example.jp,山田 太郎,総務部,日本語\r\na0000002,\"ichiro@example.jp\",\"髙橋, 一郎\",,en\r\n", "utf8"),
  Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("userId,email,name\na0000003,hanako@example.jp,\"佐藤 \"\"花子\"\"\"\n", "utf8")]),
];

const JSON_SAMPLES = [
  Buffer.from(JSON.stringify({
    service: "Shomei", portalUrl: "https://127.0.0.1:8444/", reenrollUrl: "https://127.0.0.1:8444/.well-known/est",
    helpdesk: "helpdesk@example.jp", minClientVersion: "0.1.0", rootFingerprint: "AB:CD",
  }), "utf8"),
  Buffer.from("{\"portalUrl\":null,\"reenrollUrl\":null,\"helpdesk\":\"\"}", "utf8"),
];

/** A PFX without its MacData (the third element), re-encoded. */
function withoutMac(pfx: Buffer): Buffer {
  const tree = parseDer(pfx);
  const outer = tree?.[0];
  if (!tree || !outer?.children) throw new Error("the PKCS#12 sample does not parse");
  outer.children = outer.children.slice(0, 2);
  return encodeNodes(tree);
}

const CSR_SPKIS: readonly Buffer[] = ["csrP256", "csrP384", "csrRsa2048"].map((n) => {
  const csr = parseCsr(sample(n as keyof typeof SAMPLES));
  return csr.spki;
});

/** Whole `POST /ocsp` requests as clients send them (ab, openssl ocsp, curl), around one DER request. */
function OCSP_WIRE_SAMPLES(body: Buffer): Buffer[] {
  const heads = [
    `POST /ocsp HTTP/1.0\r\nContent-length: ${body.length}\r\nContent-type: application/ocsp-request\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n`,
    `POST /ocsp HTTP/1.0\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${body.length}\r\nHost: 127.0.0.1:8080\r\n\r\n`,
    `POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${body.length}\r\n\r\n`,
  ];
  return heads.map((h) => Buffer.concat([Buffer.from(h, "latin1"), body]));
}

/** Whole `GET /ocsp/{base64}` requests of the shapes Windows, browsers and curl send, around one DER OCSPRequest. */
function OCSP_WIRE_GET_SAMPLES(request: Buffer): Buffer[] {
  const b64 = request.toString("base64");
  const heads = [
    `GET /ocsp/${encodeURIComponent(b64)} HTTP/1.1\r\nCache-Control: max-age = 3600\r\nConnection: Keep-Alive\r\nAccept: */*\r\nUser-Agent: Microsoft-CryptoAPI/10.0\r\nHost: 127.0.0.1\r\n\r\n`,
    `GET /ocsp/${encodeURIComponent(b64).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nIf-None-Match: "abc"\r\nConnection: close\r\n\r\n`,
    `GET /ocsp/${b64} HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\n\r\n`,
  ];
  return heads.map((h) => Buffer.from(h, "latin1"));
}

/** Whole `POST /.well-known/est/simpleenroll` requests of the shape the EST listener answers on the wire, around one base64 CSR. */
function EST_WIRE_SAMPLES(csr: Buffer): Buffer[] {
  const body = csr.toString("base64");
  const auth = `Basic ${Buffer.from("u-0001:ABCD-EFGH-JKLM-NPQR").toString("base64")}`;
  const heads = [
    `POST ${EST_ENROLL} HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nAuthorization: ${auth}\r\nContent-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    `POST ${EST_ENROLL} HTTP/1.1\r\nhost: ca.example.jp\r\nuser-agent: curl/7.88.1\r\naccept: */*\r\naccept-language: en\r\nauthorization: ${auth}\r\ncontent-type: application/pkcs10\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
  ];
  return heads.map((h) => Buffer.concat([Buffer.from(h, "latin1"), Buffer.from(body, "latin1")]));
}
const EST_ENROLL = "/.well-known/est/simpleenroll";

/** The parser targets (no server needed), by name. */
export function parserTargets(): Target[] {
  const rootDer = sample("rootDer");
  const issuingDer = sample("issuingDer");
  const userDer = sample("userDer");
  const nonce = sample("ocspNonce");
  return [
    {
      name: "csr", mutators: DER_AND_KEYS, samples: [sample("csrP256"), sample("csrP384"), sample("csrRsa2048")],
      run: (input) => {
        const csr = parseCsr(input);
        // Proof of possession: a mutant accepted with another key than a sample's got past the signature check.
        if (!CSR_SPKIS.some((k) => k.equals(csr.spki))) throw new Error("a mutated CSR was accepted with a key none of the samples has");
        return csr;
      },
    },
    {
      // The client reading an EST certs-only answer, then each certificate in it (root_trust.ts does).
      name: "pkcs7", mutators: DER_AND_KEYS, samples: [sample("pkcs7")],
      run: (input) => readCertsOnly(input).map(readCertificate),
    },
    {
      // Also without the MAC (the reader allows that), so mutations reach the bags instead of failing the MAC.
      name: "pkcs12", mutators: DER_AND_KEYS, samples: [sample("pkcs12Modern"), sample("pkcs12Compatible"), withoutMac(sample("pkcs12Modern")), withoutMac(sample("pkcs12Compatible"))],
      run: (input) => decodePkcs12(input, "fuzz-パスワード"),
    },
    {
      // The whole of `shomei import` up to what it would write: decoding, key match, certificates, chain.
      name: "pkcs12-import", mutators: DER_AND_KEYS, samples: [sample("pkcs12Modern"), withoutMac(sample("pkcs12Compatible"))],
      run: async (input) => {
        importDir ??= mkdtempSync(join(tmpdir(), "shomei-fuzz-import-"));
        const file = join(importDir, "in.p12");
        writeFileSync(file, input);
        return planImport(new FileStore(join(importDir, "store")), file, "fuzz-パスワード", SAMPLES_NOW);
      },
    },
    {
      name: "ocsp-request", mutators: DER_ONLY, samples: [sample("ocspRequest")],
      run: (input) => parseOcspRequest(input),
    },
    {
      // The OCSP listener's own reader of a connection's first bytes (status/ocsp_wire.ts): it
      // answers what it accepts ahead of Node's HTTP parser and hands everything else to Node
      // (the "refusal" here: REQUEST_MALFORMED stands for "left to Node").
      name: "ocsp-wire", mutators: [...BYTE, "httpPiece", "httpPiece", "httpPiece"], samples: OCSP_WIRE_SAMPLES(sample("ocspRequest")),
      run: (input) => {
        const post = readOcspPost(input);
        if (!post) throw new ShomeiError("REQUEST_MALFORMED", { reason: "left to Node's HTTP parser" });
        // What it accepts is one whole request: the body is the input's last bytes, right after the head.
        const head = input.subarray(0, input.length - post.body.length);
        if (!post.body.equals(input.subarray(head.length)) || !head.subarray(-4).equals(Buffer.from("\r\n\r\n"))) throw new Error("the body read is not what follows the head");
        return post;
      },
    },
    {
      // The same reader for GET (RFC 5019): the DER it reads from the URL is what the route's own
      // decoding (decodeURIComponent, whitespace dropped, base64) reads from the same URL.
      name: "ocsp-wire-get", mutators: [...BYTE, "httpPiece", "httpPiece", "httpPiece"], samples: OCSP_WIRE_GET_SAMPLES(sample("ocspRequest")),
      run: (input) => {
        const get = readOcspGet(input);
        if (!get) throw new ShomeiError("REQUEST_MALFORMED", { reason: "left to Node's HTTP parser" });
        if (!input.subarray(-4).equals(Buffer.from("\r\n\r\n"))) throw new Error("a request read without the end of its head");
        const routes = getRequestDer(decodeURIComponent(get.url.slice("/ocsp/".length)).replace(/\s/g, ""));
        if (!routes?.equals(get.der)) throw new Error(`the wire path read another request than the route would from ${get.url}`);
        return get;
      },
    },
    {
      // The EST listener's reader of a connection's first bytes (est/wire.ts) and the two reads the
      // wire path makes of what it took (Basic credentials, the base64 body), as the route makes them.
      // REQUEST_MALFORMED stands for "left to Node's HTTP parser".
      name: "est-wire", mutators: [...BYTE, "httpPiece", "httpPiece", "httpPiece"], samples: EST_WIRE_SAMPLES(sample("csrP256")),
      run: (input) => {
        const post = readEnrollPost(input, Buffer.from(`POST ${EST_ENROLL} HTTP/1.1`, "latin1"));
        if (!post) throw new ShomeiError("REQUEST_MALFORMED", { reason: "left to Node's HTTP parser" });
        const body = Buffer.from(post.body, "latin1");
        if (!input.subarray(input.length - body.length).equals(body) || !input.subarray(0, input.length - body.length).subarray(-4).equals(Buffer.from("\r\n\r\n"))) {
          throw new Error("the body read is not what follows the head");
        }
        return { credentials: basicAuth(post.authorization), csr: decodeBase64Strict(post.body) };
      },
    },
    {
      name: "ocsp-response", mutators: DER_AND_KEYS, samples: [sample("ocspResponse")],
      run: (input) => {
        const a = readOcspResponse(input, userDer, issuingDer, { nonce, now: SAMPLES_NOW });
        // The sample is signed "good": a mutant that reads as anything else got past the signature.
        if (a.status !== "good" || a.thisUpdate.getTime() !== SAMPLES_NOW.getTime()) throw new Error(`a mutated response was accepted as ${a.status} of ${a.thisUpdate.toISOString()}`);
        return a;
      },
    },
    {
      name: "crl", mutators: DER_ONLY, samples: [sample("crl")],
      run: (input) => readCrl(input),
    },
    {
      name: "certificate", mutators: DER_AND_KEYS, samples: [userDer, sample("rsaUserDer"), issuingDer, rootDer],
      run: (input) => readCertificate(input),
    },
    {
      name: "csv", mutators: [...BYTE, "csvPiece", "csvPiece", "csvPiece", "sjisBytes"], samples: CSV_SAMPLES,
      run: (input) => parseUserCsv(input),
    },
    {
      // The client reading /.well-known/shomei.json, then using what it says (renew.ts, enroll.ts).
      name: "shomei-json", mutators: [...BYTE, "jsonPiece", "jsonPiece", "jsonValue", "jsonValue", "jsonValue"], samples: JSON_SAMPLES,
      run: (input) => {
        const d = readDescription(input);
        if (d?.reenrollUrl !== undefined) normaliseServerUrl(d.reenrollUrl);
        checkClientVersion("0.1.0", d?.minClientVersion);
        return d;
      },
    },
  ];
}
