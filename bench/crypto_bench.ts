/** 1. The floor: raw ECDSA P-256 / SHA-256 sign and verify in Node, with nothing around them. */
import { randomBytes, sign, verify, webcrypto } from "node:crypto";
import { freshP256 } from "./fixtures.js";
import { rateAsync, rateSync, type Rate } from "./measure.js";

export interface CryptoResult {
  readonly label: string;
  readonly rate: Rate;
}

/** About the size of a client TBSCertificate. */
const DATA = randomBytes(400);
const ALG = { name: "ECDSA", hash: "SHA-256" } as const;

export async function cryptoBench(ms: number, log: (s: string) => void): Promise<CryptoResult[]> {
  const out: CryptoResult[] = [];
  const note = (label: string, rate: Rate): void => {
    out.push({ label, rate });
    log(`  ${label}: ${Math.round(rate.perSecond)}/s (${rate.usPerOp.toFixed(1)} µs)`);
  };

  // node:crypto one-shot sign/verify with KeyObjects: synchronous, on the calling thread.
  const { privateKey, publicKey } = freshP256();
  const sig = sign("sha256", DATA, { key: privateKey, dsaEncoding: "der" });
  note("node:crypto sign (sync, KeyObject)", rateSync(() => void sign("sha256", DATA, { key: privateKey, dsaEncoding: "der" }), ms));
  note("node:crypto verify (sync, KeyObject)", rateSync(() => {
    if (!verify("sha256", DATA, { key: publicKey, dsaEncoding: "der" }, sig)) throw new Error("verify failed");
  }, ms));

  // WebCrypto: every call is a job on the libuv thread pool (4 threads), resolved on the main thread.
  const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const raw = await webcrypto.subtle.sign(ALG, keys.privateKey, DATA);
  for (const c of [1, 16]) {
    note(`WebCrypto subtle.sign (${c} in flight)`, await rateAsync(() => webcrypto.subtle.sign(ALG, keys.privateKey, DATA), ms, c));
  }
  for (const c of [1, 16]) {
    note(`WebCrypto subtle.verify (${c} in flight)`, await rateAsync(async () => {
      if (!(await webcrypto.subtle.verify(ALG, keys.publicKey, raw, DATA))) throw new Error("verify failed");
    }, ms, c));
  }
  return out;
}
