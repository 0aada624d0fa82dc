/**
 * The URLs the service publishes under, from its listening addresses. A module of its own (no
 * framework imports): `serve`'s supervisor needs them before it loads anything heavy.
 */
import type { PublicationUrls } from "../pki/profiles.js";

/** The URL users reach a listening address by (a wildcard address becomes the first host name). */
export function publicBase(host: string, port: number, hostnames: readonly string[], scheme: "https" | "http" = "https"): string {
  const h = host === "0.0.0.0" || host === "::" ? (hostnames[0] ?? "localhost") : host;
  return `${scheme}://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

/** The URLs certificates carry, from the publication listener's public base (http://HOST:PORT). */
export function publicationUrls(base: string): Required<PublicationUrls> {
  const b = base.replace(/\/$/, "");
  return { ocspUrl: `${b}/ocsp`, crlUrl: `${b}/crl/issuing.crl`, caIssuersUrl: `${b}/ca/issuing.crt` };
}
