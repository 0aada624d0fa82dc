/**
 * One worker process of `serve`: the three listeners (publication, EST, portal) on the ports
 * the supervisor shares among its workers. It signs no CRL and makes no OCSP responder
 * certificate of its own: it serves the CRLs stored in the database (read again when the
 * supervisor says they changed) and the responder the supervisor hands it, and tells the
 * supervisor when it revoked something. Mail and reminders run in the supervisor.
 */
import type { FastifyInstance } from "fastify";
import { ShomeiError } from "../i18n/errors.js";
import { buildApp, buildPortalApp, publicBase } from "./app.js";
import { buildPublicationApp, publicationUrls } from "./publication.js";
import { openCa, type CaServices } from "./services.js";
import { traceStartup } from "../util/startup_trace.js";
import { fromWireResponder, type ToWorker, type WorkerInit, type WorkerReady } from "./supervisor.js";

export interface RunningWorker {
  readonly services: CaServices;
  readonly ready: WorkerReady;
  /** Takes the CRL or responder the supervisor hands over. */
  handle(m: ToWorker): void;
  /** Stops accepting, lets the requests in flight finish, closes the database. */
  drain(): Promise<void>;
}

/** Opens the CA and listens as `init` says; throws PORT_IN_USE (and whatever opening the CA throws). */
export async function startWorker(init: WorkerInit, nudge: () => void): Promise<RunningWorker> {
  const services = await openCa(init.data, { keys: init.keys, ...(init.database ? { database: init.database } : {}) });
  traceStartup("ca-opened");
  const apps: FastifyInstance[] = [];
  const closeAll = async (): Promise<void> => {
    for (const a of apps) await a.close();
    await services.close();
  };
  const handle = (m: ToWorker): void => {
    if (m.t === "crl") services.crl.sync().catch((e: unknown) => console.error(`CRL read failed: ${e instanceof Error ? e.message : String(e)}`));
    else if (m.t === "responder") services.ocsp.useResponder(fromWireResponder(m.responder));
    else if (m.t === "ocsp") services.ocsp.invalidate(m.serials);
  };
  try {
    services.crl.relayNudges(nudge);
    handle({ t: "responder", responder: init.responder });
    // The CRLs as stored: served from the first request on.
    await services.crl.sync();
    traceStartup("crl-synced");
    const { config } = services;
    const published: { portal?: string } = {};
    const app = await buildApp(services, { logLevel: init.logLevel, portalUrl: () => published.portal });
    const portalApp = await buildPortalApp(services, { logLevel: init.logLevel });
    const publicationApp = await buildPublicationApp(services, { logLevel: init.logLevel });
    apps.push(app, portalApp, publicationApp);
    traceStartup("apps-built");
    const listen = async (a: FastifyInstance, at: number, option: string, setting: string): Promise<number> => {
      try {
        await a.listen({ host: init.host, port: at });
      } catch (e) {
        if ((e as { code?: string }).code === "EADDRINUSE") throw new ShomeiError("PORT_IN_USE", { port: at, option, setting });
        throw e;
      }
      const address = a.server.address();
      return typeof address === "object" && address ? address.port : at;
    };
    // Publication first: certificates name its URLs, so they must be known before EST accepts anyone.
    const http = await listen(publicationApp, init.ports.http, "--http-port", "publication.port");
    traceStartup("publication-listening");
    const httpBase = publicBase(init.host, http, config.hostnames, "http");
    services.issuer.setUrls(config.urls.ocspUrl || config.urls.crlUrl || config.urls.caIssuersUrl ? config.urls : publicationUrls(httpBase));
    const est = await listen(app, init.ports.est, "--port", "listen.port");
    const portal = await listen(portalApp, init.ports.portal, "--portal-port", "portal.port");
    traceStartup("all-listening");
    published.portal = publicBase(init.host, portal, config.hostnames);
    return { services, ready: { t: "ready", est, portal, http }, handle, drain: closeAll };
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
}
