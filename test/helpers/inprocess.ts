/**
 * The real service started inside the test process, so a test can move its clock (40-day
 * passcodes, 10-minute replay window) without sleeping. Real TLS on loopback, real SQLite.
 */
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { buildApp, buildPortalApp } from "../../src/server/app.js";
import { openCa, type CaServices } from "../../src/server/services.js";
import { buildPublicationApp, publicationUrls } from "../../src/server/publication.js";
import type { FailureLimit } from "../../src/http/failure_limiter.js";

export interface Clock {
  now: Date;
  advance(ms: number): void;
}

export function testClock(start = new Date()): Clock {
  const c = {
    now: start,
    advance(ms: number) { c.now = new Date(c.now.getTime() + ms); },
  };
  return c;
}

/** The wall clock, for tests that do not move time. */
export function realClock(): Clock {
  return { get now() { return new Date(); }, advance() { throw new Error("the real clock cannot be moved"); } };
}

export interface InProcess {
  readonly services: CaServices;
  /** Base URL, https://127.0.0.1:PORT. */
  readonly url: string;
  readonly estUrl: string;
  /** The portal (online system), https://127.0.0.1:PORT, without a trailing slash. */
  readonly portalUrl: string;
  /** The plain-HTTP publication listener, http://127.0.0.1:PORT, and the URLs certificates carry. */
  readonly httpUrl: string;
  readonly ocspUrl: string;
  readonly crlUrl: string;
  stop(): Promise<void>;
}

export interface InProcessOptions {
  /**
   * The per-address failure limit: by default a limit no test reaches (tests fail from
   * 127.0.0.1 on purpose); "configured" keeps the data folder's `addressLimit`.
   */
  readonly failureLimit?: FailureLimit | "configured";
  /** Overrides the data folder's database URL (`--db`), e.g. a PostgreSQL schema several instances share. */
  readonly database?: string;
  /** Test hooks added to the app before it listens (they must say what they inject). */
  readonly configure?: (app: FastifyInstance) => void;
}

export async function startInProcess(dir: string, clock: Clock, o: InProcessOptions = {}): Promise<InProcess> {
  const services = await openCa(dir, { clock: () => clock.now, ...(o.database ? { database: o.database } : {}) });
  try {
    // Tests send many failures from 127.0.0.1 on purpose: the per-address limit is tested on its own.
    const published: { portal?: string } = {};
    const limit = o.failureLimit ?? { max: 1_000_000, windowMs: 60_000 };
    const failureLimit = limit === "configured" ? undefined : limit;
    // As `serve` does: publication first, so every certificate issued names its OCSP and CRL URLs.
    const publication = await buildPublicationApp(services, { logLevel: "silent", clock: () => clock.now });
    await publication.listen({ host: "127.0.0.1", port: 0 });
    const httpUrl = `http://127.0.0.1:${(publication.server.address() as AddressInfo).port}`;
    const urls = publicationUrls(httpUrl);
    const configured = services.config.urls;
    await services.crl.start(configured.crlUrl ?? urls.crlUrl);
    services.issuer.setUrls(configured.ocspUrl || configured.crlUrl || configured.caIssuersUrl ? configured : urls);
    const app = await buildApp(services, { logLevel: "silent", ...(failureLimit ? { failureLimit } : {}), portalUrl: () => published.portal });
    o.configure?.(app);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const portal = await buildPortalApp(services, { logLevel: "silent", ...(failureLimit ? { failureLimit } : {}) });
    await portal.listen({ host: "127.0.0.1", port: 0 });
    published.portal = `https://127.0.0.1:${(portal.server.address() as AddressInfo).port}`;
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    return {
      services, url,
      estUrl: `${url}/.well-known/est`,
      portalUrl: `https://127.0.0.1:${(portal.server.address() as AddressInfo).port}`,
      httpUrl, ocspUrl: urls.ocspUrl, crlUrl: urls.crlUrl,
      stop: async () => { await app.close(); await portal.close(); await publication.close(); await services.close(); },
    };
  } catch (e) {
    await services.close();
    throw e;
  }
}
