/**
 * The network probes of `shomei doctor`, one step at a time so the user learns WHICH step
 * fails: name resolution, a TCP connection, the proxy's tunnel (proxy.ts's openTunnel, the
 * same the HTTP client uses), and a TLS handshake that reports what the server presented
 * instead of refusing it, so an intercepting proxy can be named.
 */
import { lookup } from "node:dns/promises";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect, type DetailedPeerCertificate } from "node:tls";
import { openTunnel } from "./proxy.js";

export interface Resolved {
  readonly addresses: readonly string[];
}

/** The addresses of a host name (an IP address resolves to itself). */
export async function resolveHost(host: string): Promise<Resolved> {
  if (isIP(host) !== 0) return { addresses: [host] };
  const all = await lookup(host, { all: true });
  return { addresses: all.map((a) => a.address) };
}

/** Opens and closes one TCP connection; rejects with the system's error (code ECONNREFUSED, ETIMEDOUT …). */
export function tcpReach(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const s = netConnect({ host, port });
    s.setTimeout(timeoutMs, () => s.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "ETIMEDOUT" })));
    s.once("connect", () => {
      s.destroy();
      resolve();
    });
    s.once("error", reject);
  });
}

export interface TlsProbe {
  /** The server's certificates as presented: leaf first (DER). */
  readonly chain: readonly Buffer[];
  /** True when the chain leads to the given root (always false without one). */
  readonly authorized: boolean;
  /** OpenSSL's reason when not authorized (UNABLE_TO_GET_ISSUER_CERT_LOCALLY, CERT_HAS_EXPIRED …). */
  readonly authorizationError?: string;
  /** A name mismatch (the certificate is not for this host), when the chain itself is fine. */
  readonly nameError?: string;
  readonly protocol: string;
}

function peerChain(peer: DetailedPeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let c: DetailedPeerCertificate | undefined = peer;
  while (c?.raw !== undefined && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(Buffer.from(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * A TLS handshake with the server (through a tunnel when `proxy` is given), checked against
 * `rootPem` when given. Never refuses what it sees: it reports it.
 */
export async function probeTls(
  target: { host: string; port: number },
  o: { rootPem?: string; proxy?: URL; timeoutMs: number },
): Promise<TlsProbe> {
  let tunnel: Socket | undefined;
  if (o.proxy) tunnel = await openTunnel(o.proxy, target.host, target.port, o.timeoutMs);
  try {
    return await new Promise<TlsProbe>((resolve, reject) => {
      const s = tlsConnect({
        ...(tunnel ? { socket: tunnel } : { host: target.host, port: target.port }),
        ...(isIP(target.host) ? {} : { servername: target.host }),
        rejectUnauthorized: false,
        ...(o.rootPem ? { ca: o.rootPem } : {}),
      });
      s.setTimeout(o.timeoutMs, () => s.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs / 1000} s`), { code: "ETIMEDOUT" })));
      s.once("secureConnect", () => {
        const peer = s.getPeerCertificate(true);
        const chain = peerChain(peer);
        const authorized = o.rootPem !== undefined && s.authorized;
        const authError = s.authorizationError;
        const nameError = authorized ? checkServerIdentity(target.host, peer)?.message : undefined;
        const protocol = s.getProtocol() ?? "?";
        s.destroy();
        resolve({
          chain, authorized, protocol,
          ...(o.rootPem !== undefined && !authorized && authError ? { authorizationError: String((authError as Error & { code?: string }).code ?? authError) } : {}),
          ...(nameError ? { nameError } : {}),
        });
      });
      s.once("error", reject);
    });
  } finally {
    tunnel?.destroy();
  }
}
