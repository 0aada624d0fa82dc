/**
 * CRL shards (partitioned CRLs, RFC 5280 5.2.5): a certificate's shard is a stable function of
 * its serial, so the issuer can name the shard's URL as the CRL distribution point when it signs
 * the certificate, and the publisher can list the shard's revocations from the database alone.
 *
 * The shard is the serial's last octet modulo the number of shards (a power of two up to 256).
 * Shomei's serials are random (pki/serial.ts), so the shards stay even; and "the last octet" is
 * the last two hex digits of the serial as the database stores it, which SQL can index.
 */
import { ShomeiError } from "../i18n/errors.js";

/** The most shards: one per value of the serial's last octet. */
export const MAX_CRL_SHARDS = 256;

/** True for 1, 2, 4 … 256. */
export function validShardCount(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_CRL_SHARDS && (n & (n - 1)) === 0;
}

/** The shard (0 … shards-1) of a serial given as hex. */
export function crlShardOf(serialHex: string, shards: number): number {
  if (shards <= 1) return 0;
  const last = Number.parseInt(serialHex.slice(-2), 16);
  if (!Number.isFinite(last)) throw new ShomeiError("FIELD_INVALID", { field: "serial", reason: `not a hex serial: ${serialHex.slice(0, 90)}` });
  return last % shards;
}

/**
 * The serial endings (the last two hex digits, lowercase, and a single digit for a serial of one
 * digit) whose shard is `shard`: what the database selects a shard's revocations by.
 */
export function crlShardSuffixes(shard: number, shards: number): string[] {
  const out: string[] = [];
  for (let v = 0; v < 256; v++) {
    if (v % shards !== shard) continue;
    out.push(v.toString(16).padStart(2, "0"));
    if (v < 16) out.push(v.toString(16));
  }
  return out;
}

/** The URL of shard n of the CRL at `crlUrl`: …/issuing.crl becomes …/issuing-n.crl. */
export function crlShardUrl(crlUrl: string, shard: number): string {
  return /\.crl$/i.test(crlUrl) ? crlUrl.replace(/(\.crl)$/i, `-${shard}$1`) : `${crlUrl}-${shard}`;
}
