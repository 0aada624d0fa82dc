/**
 * The byte steps of the PKCS#12 key derivation (RFC 7292 B.2) that do not hash: shared by
 * `shomei export` (src/pki/pkcs12.ts, node:crypto) and the browser's pages
 * (src/pki/pkcs12_web.ts, WebCrypto). Pure: no Node.js API.
 */

/** `src` repeated to fill a multiple of v bytes (empty stays empty). */
export function stretch(src: Uint8Array, v: number): Uint8Array {
  if (src.length === 0) return new Uint8Array(0);
  const out = new Uint8Array(v * Math.ceil(src.length / v));
  for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
  return out;
}

/** Step 6C: each v-byte block I_j of `i` becomes (I_j + B + 1) mod 2^(8v), B = `a` repeated to v bytes. */
export function addToEachBlock(i: Uint8Array, a: Uint8Array, v: number): void {
  const bb = stretch(a, v);
  for (let j = 0; j < i.length; j += v) {
    let carry = 1;
    for (let k = v - 1; k >= 0; k--) {
      const s = i[j + k]! + bb[k]! + carry;
      i[j + k] = s & 0xff;
      carry = s >>> 8;
    }
  }
}
