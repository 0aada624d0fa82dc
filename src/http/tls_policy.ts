/**
 * The one TLS policy of every HTTPS listener (EST and the portal): TLS 1.3, and TLS 1.2 only
 * with ECDHE key exchange and an AEAD cipher (AES-GCM, ChaCha20-Poly1305). Nothing with CBC,
 * CCM or CCM8, no static-RSA key exchange, no finite-field DHE. HSTS on every HTTPS response.
 *
 * The service's TLS key is P-256 (shomei-ca init), so only the ECDSA suites are used today; the
 * RSA ones stay in the list for an operator who puts an RSA certificate in tls/server.pem.
 */
import { constants } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SecureVersion } from "node:tls";

/**
 * Names as OpenSSL spells them. Node's `ciphers` option takes both kinds: the `TLS_` names set
 * the TLS 1.3 suites (leaving out TLS_AES_128_CCM_SHA256 and its CCM8 sibling), the others TLS 1.2.
 * Order: the server's; AES-256 first, ChaCha20 (fast without AES instructions) before AES-128.
 */
export const TLS_CIPHERS: readonly string[] = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_GCM_SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
];

/** Key-exchange groups, most preferred first. */
export const TLS_GROUPS = "X25519:P-256:P-384";

/** The options every HTTPS listener spreads into its `https:` options beside key and cert. */
export interface TlsPolicy {
  readonly minVersion: SecureVersion;
  readonly ciphers: string;
  readonly honorCipherOrder: boolean;
  readonly ecdhCurve: string;
  readonly secureOptions: number;
}

export const TLS_POLICY: TlsPolicy = {
  minVersion: "TLSv1.2",
  ciphers: TLS_CIPHERS.join(":"),
  // The server's order decides: a client that lists a weaker suite first still gets the best one both have.
  honorCipherOrder: true,
  ecdhCurve: TLS_GROUPS,
  // No renegotiation at all (the portal asks for the client certificate in the first handshake), no compression.
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION,
};

/**
 * Strict-Transport-Security for every HTTPS response. One year, without includeSubDomains:
 * the CA's host name may share its parent domain with services Shomei does not run, and
 * includeSubDomains would force HTTPS on all of them for a year. No `preload` for the same reason.
 */
export const HSTS_HEADER = "max-age=31536000";

/**
 * Headers every HTTPS response carries. The EST listener serves no HTML, so nothing may load or
 * frame anything; the portal replaces the Content-Security-Policy with its own (Node lets a
 * header a handler sets replace one set here).
 */
export const HTTPS_HEADERS: Readonly<Record<string, string>> = {
  "Strict-Transport-Security": HSTS_HEADER,
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
};

/** The part of a Node HTTPS server `sendHttpsHeaders` needs. */
export interface RequestEmitter {
  prependListener(event: "request", listener: (req: IncomingMessage, res: ServerResponse) => void): unknown;
}

/**
 * Sets HTTPS_HEADERS (or `headers`, which must include them) on every response of an HTTPS
 * server before its framework sees the request, so 404s, 4xx from body parsing and 5xx carry
 * them as well as the pages. A header a handler sets replaces the one set here.
 */
export function sendHttpsHeaders(server: RequestEmitter, headers: Readonly<Record<string, string>> = HTTPS_HEADERS): void {
  for (const name of Object.keys(HTTPS_HEADERS)) if (!(name in headers)) throw new Error(`sendHttpsHeaders: ${name} missing`);
  const list = Object.entries(headers);
  server.prependListener("request", (_req, res) => {
    for (const [name, value] of list) res.setHeader(name, value);
  });
}
