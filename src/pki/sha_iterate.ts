/**
 * SHA-1 and SHA-256 iterated on their own output, for the PKCS#12 key derivation (RFC 7292
 * B.2): in plain JavaScript on Uint8Array, so that both `shomei export` (src/pki/pkcs12.ts)
 * and the browser's enrollment page (src/pki/pkcs12_web.ts) use the same code. Pure: no
 * Node.js API.
 */
/*
 * The KDF's inner loop hashes its own 20- or 32-byte output again, up to hundreds of
 * thousands of times. A call into node:crypto costs 1-2.5 µs each, mostly crossing into C++;
 * a single-block SHA-1 / SHA-256 in plain JavaScript costs a fraction of that, which is what
 * lets an NSS file (600000 iterations, several derivations) open in about a second. Checked
 * against node:crypto in the tests and by OpenSSL's KDF answers.
 */

/** floor(x^(1/n)) for a non-negative BigInt (Newton's method). */
function integerRoot(x: bigint, n: bigint): bigint {
  if (x < 2n) return x;
  let r = 1n << (BigInt(x.toString(2).length) / n + 1n);
  for (;;) {
    const next = ((n - 1n) * r + x / r ** (n - 1n)) / n;
    if (next >= r) return r;
    r = next;
  }
}

const PRIMES: number[] = [];
for (let p = 2; PRIMES.length < 64; p++) if (PRIMES.every((q) => p % q !== 0)) PRIMES.push(p);
/** FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const SHA256_K = Int32Array.from(PRIMES, (p) => Number(integerRoot(BigInt(p) << 96n, 3n) & 0xffffffffn) | 0);
/** FIPS 180-4 5.3.3: the same of the square roots of the first 8 primes. */
const SHA256_H = Int32Array.from(PRIMES.slice(0, 8), (p) => Number(integerRoot(BigInt(p) << 64n, 2n) & 0xffffffffn) | 0);

/** SHA-256 applied `times` times to a 32-byte value (one padded block each time). */
export function iterateSha256(first: Uint8Array, times: number): Uint8Array {
  const k = SHA256_K;
  const w = new Int32Array(64);
  const h = new Int32Array(8);
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  for (let i = 0; i < 8; i++) h[i] = view.getInt32(4 * i);
  for (let n = 0; n < times; n++) {
    w.set(h);
    w[8] = 0x80000000 | 0; // padding: one bit, zeros, the length (256 bits)
    w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0;
    w[15] = 256;
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    let a = SHA256_H[0]!, b = SHA256_H[1]!, c = SHA256_H[2]!, d = SHA256_H[3]!;
    let e = SHA256_H[4]!, f = SHA256_H[5]!, g = SHA256_H[6]!, hh = SHA256_H[7]!;
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + s1 + ((e & f) ^ (~e & g)) + k[i]! + w[i]!) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = SHA256_H[0]! + a; h[1] = SHA256_H[1]! + b; h[2] = SHA256_H[2]! + c; h[3] = SHA256_H[3]! + d;
    h[4] = SHA256_H[4]! + e; h[5] = SHA256_H[5]! + f; h[6] = SHA256_H[6]! + g; h[7] = SHA256_H[7]! + hh;
  }
  const out = new Uint8Array(32);
  const o = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) o.setInt32(4 * i, h[i]!);
  return out;
}

/** SHA-1 applied `times` times to a 20-byte value (one padded block each time). */
export function iterateSha1(first: Uint8Array, times: number): Uint8Array {
  const w = new Int32Array(80);
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  let h0 = view.getInt32(0), h1 = view.getInt32(4), h2 = view.getInt32(8), h3 = view.getInt32(12), h4 = view.getInt32(16);
  for (let n = 0; n < times; n++) {
    w[0] = h0; w[1] = h1; w[2] = h2; w[3] = h3; w[4] = h4;
    w[5] = 0x80000000 | 0; // padding: one bit, zeros, the length (160 bits)
    w[6] = 0; w[7] = 0; w[8] = 0; w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0;
    w[15] = 160;
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
      w[i] = (x << 1) | (x >>> 31);
    }
    // Literals rather than named constants: V8 keeps the loop in 32-bit integers then.
    let a = 0x67452301, b = 0xefcdab89 | 0, c = 0x98badcfe | 0, d = 0x10325476, e = 0xc3d2e1f0 | 0;
    let i = 0;
    for (; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + w[i]! + 0x5a827999) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i]! + 0x6ed9eba1) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 60; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + w[i]! + (0x8f1bbcdc | 0)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 80; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i]! + (0xca62c1d6 | 0)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    h0 = (0x67452301 + a) | 0; h1 = ((0xefcdab89 | 0) + b) | 0; h2 = ((0x98badcfe | 0) + c) | 0;
    h3 = (0x10325476 + d) | 0; h4 = ((0xc3d2e1f0 | 0) + e) | 0;
  }
  const out = new Uint8Array(20);
  const o = new DataView(out.buffer);
  [h0, h1, h2, h3, h4].forEach((v, j) => o.setInt32(4 * j, v));
  return out;
}

