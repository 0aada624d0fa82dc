/**
 * The real service started inside the test process, so a test can move its clock (40-day
 * passcodes, 10-minute replay window) without sleeping. Real TLS on loopback, real SQLite.
 */
import type { AddressInfo } from "node:net";
import { buildApp } from "../../src/server/app.js";
import { openCa, type CaServices } from "../../src/server/services.js";
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

export interface InProcess {
  readonly services: CaServices;
  readonly estUrl: string;
  stop(): Promise<void>;
}

export async function startInProcess(dir: string, clock: Clock, failureLimit?: FailureLimit): Promise<InProcess> {
  const services = await openCa(dir, { clock: () => clock.now });
  // Tests send many failures from 127.0.0.1 on purpose: the per-address limit is tested on its own.
  const app = await buildApp(services, { logLevel: "silent", failureLimit: failureLimit ?? { max: 1_000_000, windowMs: 60_000 } });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    services,
    estUrl: `https://127.0.0.1:${port}/.well-known/est`,
    stop: async () => { await app.close(); await services.close(); },
  };
}
