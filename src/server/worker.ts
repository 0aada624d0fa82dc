/**
 * One worker process of `serve`: the three listeners (publication, EST, portal) on the ports
 * the supervisor shares among its workers. It signs no CRL and makes no OCSP responder
 * certificate of its own: it serves the CRLs stored in the database (read again when the
 * supervisor says they changed) and the responder the supervisor hands it, and tells the
 * supervisor when it revoked something. Mail and reminders run in the supervisor.
 * It keeps the stored shard CRLs and ARL in memory but not the full CRL (CrlPublisher.read()).
 *
 * It starts in two steps, so revocation status is served within moments of `serve` starting:
 * 1. the publication listener (stored CRLs, pre-signed OCSP answers, CA certificates), which
 *    needs no private key, opened with only the modules that takes (status_services.ts), and
 *    before the stored CRLs are read (a request for one not read yet waits for that one);
 * 2. once the supervisor has unwrapped the CA keys and handed them over (meanwhile the rest of
 *    the modules load), the EST and portal listeners. OCSP answers that must be signed now
 *    (no pre-signed one) wait for the responder the supervisor hands over.
 */
import type { FastifyInstance, FastifyListenOptions } from "fastify";
import type { Server } from "node:net";
import { ShomeiError } from "../i18n/errors.js";
import { traceStartup } from "../util/startup_trace.js";
import { publicBase, publicationUrls } from "./public_base.js";
import { buildPublicationApp } from "./publication.js";
import type { CaServices } from "./services.js";
import { backgroundLog, openStatus, type StatusServices } from "./status_services.js";
import { acceptFor, type ListenerName } from "./listeners.js";
import { fromWireResponder, type ToWorker, type WireKeys, type WorkerInit, type WorkerReady } from "./supervisor.js";

export interface RunningWorker {
  /** Every listener accepts connections (rejects with what stopped it: PORT_IN_USE, or whatever opening the CA threw). */
  readonly ready: Promise<WorkerReady>;
  /** Takes the sockets, keys, CRL news, responder or OCSP news the supervisor hands over (at any time after init). */
  handle(m: ToWorker, sent?: unknown): void;
  /** Stops accepting, lets the requests in flight finish, closes the database (also while still starting). */
  drain(): Promise<void>;
}

/** Starts serving as `init` says; `serving` is called once the publication listener is open, `ready` resolves when all are. */
export function startWorker(init: WorkerInit, nudge: () => void, serving: () => void = () => undefined): RunningWorker {
  let gotKeys: ((k: WireKeys) => void) | undefined;
  const keys = init.keys ? Promise.resolve(init.keys) : new Promise<WireKeys>((resolve) => { gotKeys = resolve; });
  const apps: FastifyInstance[] = [];
  let status: StatusServices | undefined;
  let services: CaServices | undefined;
  /** What came before the store was open (a responder, most likely): applied once it is. */
  const early: ToWorker[] = [];

  /** The supervisor's sockets as they arrive ("listener" messages, right after init), per listener. */
  const sockets: Record<ListenerName, { address: string; handle: unknown }[]> = { http: [], est: [], portal: [] };
  const complete = new Map<ListenerName, () => void>();
  const socketsOf = (name: ListenerName): Promise<{ address: string; handle: unknown }[]> =>
    sockets[name].length >= init.sockets[name] ? Promise.resolve(sockets[name]) : new Promise((resolve) => complete.set(name, () => resolve(sockets[name])));
  /** Servers accepting on a listener's further addresses (::1 for "localhost"), closed before the apps. */
  const further: Server[] = [];

  const handle = (m: ToWorker, sent?: unknown): void => {
    if (m.t === "keys") {
      gotKeys?.(m.keys);
      gotKeys = undefined;
      return;
    }
    if (m.t === "listener") {
      sockets[m.name].push({ address: m.address, handle: sent });
      if (sockets[m.name].length >= init.sockets[m.name]) complete.get(m.name)?.();
      return;
    }
    if (!status) {
      early.push(m);
      return;
    }
    if (m.t === "crl") status.crl.sync().catch((e: unknown) => backgroundLog("WORKER_CRL_READ_FAILED", e));
    else if (m.t === "responder") status.ocsp.useResponder(fromWireResponder(m.responder));
    else if (m.t === "ocsp") status.ocsp.invalidate(m.serials);
  };

  /** Listens on the supervisor's sockets of `name` (listeners.ts); returns the port. */
  const listen = async (a: FastifyInstance, name: ListenerName, option: string, setting: string): Promise<number> => {
    const [first, ...more] = await socketsOf(name);
    if (!first) throw new Error(`no socket for the ${name} listener`);
    // Node's listen takes the handle; the host, an address and never "localhost", only keeps Fastify from binding more addresses itself.
    const options: FastifyListenOptions & { handle: unknown } = { host: first.address, handle: first.handle };
    try {
      await a.listen(options);
    } catch (e) {
      // Another program listens on the port with SO_REUSEADDR since the supervisor bound it.
      if ((e as { code?: string }).code === "EADDRINUSE") throw new ShomeiError("PORT_IN_USE", { port: init.ports[name], option, setting });
      throw e;
    }
    const address = a.server.address();
    // A socket whose bind had failed would listen on any port of every address: never serve that.
    if (typeof address !== "object" || address?.port !== init.ports[name] || address.address !== first.address) {
      throw new ShomeiError("PORT_IN_USE", { port: init.ports[name], option, setting });
    }
    for (const s of more) further.push(acceptFor(a.server, s.handle));
    return address.port;
  };

  const run = async (): Promise<WorkerReady> => {
    const database = init.database ? { database: init.database } : {};
    status = await openStatus(init.data, database);
    traceStartup("status-opened");
    status.crl.relayNudges(nudge);
    if (init.responder) status.ocsp.useResponder(fromWireResponder(init.responder));
    for (const m of early.splice(0)) handle(m);
    // The stored CRLs' numbers only: a request reads the CRL it asks for (the shards and the ARL
    // are read right after listening; the full CRL, as big as all of them, per request).
    await status.crl.syncVersions();
    traceStartup("crl-versions");
    const publicationApp = await buildPublicationApp(status, { logLevel: init.logLevel });
    apps.push(publicationApp);
    // Publication first: certificates name its URLs, so they must be known before EST accepts anyone.
    const http = await listen(publicationApp, "http", "--http-port", "publication.port");
    traceStartup("publication-listening");
    // The shards and the ARL read now, between the first requests. Only then is the supervisor told
    // (it then starts the next worker, loads its modules and unwraps the keys, which fills both cores
    // and, as it hands connections to the workers, holds the first answers back) and the rest of this
    // worker loads (its modules' evaluation holds this thread for a while).
    await status.crl.sync().catch((e: unknown) => backgroundLog("WORKER_CRL_READ_FAILED", e));
    traceStartup("crl-synced");
    serving();

    const [{ openCa }, { buildApp, buildPortalApp }] = await Promise.all([import("./services.js"), import("./app.js")]);
    traceStartup("modules-loaded");
    const k = await keys;
    traceStartup("keys-received");
    services = await openCa(init.data, { keys: k, status, ...database });
    const { config } = services;
    const httpBase = publicBase(init.host, http, config.hostnames, "http");
    services.issuer.setUrls(config.urls.ocspUrl || config.urls.crlUrl || config.urls.caIssuersUrl ? config.urls : publicationUrls(httpBase));
    const published: { portal?: string } = {};
    const app = await buildApp(services, { logLevel: init.logLevel, portalUrl: () => published.portal });
    const portalApp = await buildPortalApp(services, { logLevel: init.logLevel });
    apps.push(app, portalApp);
    const est = await listen(app, "est", "--port", "listen.port");
    const portal = await listen(portalApp, "portal", "--portal-port", "portal.port");
    published.portal = publicBase(init.host, portal, config.hostnames);
    traceStartup("all-listening");
    return { t: "ready", est, portal, http };
  };

  let closing: Promise<void> | undefined;
  const closeAll = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of further) s.close();
      for (const a of apps) await a.close();
      await (services ?? status)?.close();
    })();
    return closing;
  };
  const ready = run().catch(async (e: unknown) => {
    await closeAll().catch(() => undefined);
    throw e;
  });
  return { ready, handle, drain: closeAll };
}
