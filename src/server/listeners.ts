/**
 * The listening sockets of `serve`, bound by the supervisor before any worker starts and kept
 * by it until shutdown. Each worker gets its own copy of every socket over the IPC channel and
 * accepts connections on it (the kernel hands each connection to one of them), the way
 * node:cluster shares a port, except that the sockets live as long as the supervisor:
 * - `--port 0`: the free ports are the ones bound here, not numbers picked and let go for a
 *   worker to bind seconds later (meanwhile any outgoing connection on the machine could take
 *   one: PORT_IN_USE at random, once in CI);
 * - a worker that dies, even the only one, leaves its ports to its replacement: nothing else
 *   can take them, and connections made meanwhile wait for it instead of being refused.
 *
 * The supervisor binds without listening, so it never accepts a connection itself; a socket
 * listens from the first worker's `listen` on it (the publication port at once, EST and the
 * portal once the CA keys are unwrapped). While bound only, the kernel gives its port to no
 * outgoing connection and no `listen(0)`.
 *
 * Node has no public API for a bound socket that is not listening: `net._createServerHandle`
 * is what node:cluster's primary uses for the same job (Node 20), so its use is kept here.
 */
import { lookup } from "node:dns/promises";
import * as net from "node:net";
import { getSystemErrorMap } from "node:util";
import { ShomeiError } from "../i18n/errors.js";

export type ListenerName = "http" | "est" | "portal";

export interface ListenerSpec {
  readonly name: ListenerName;
  /** 0: any free port. */
  readonly port: number;
  /** The command-line option and the shomei.json setting that give this port (for PORT_IN_USE). */
  readonly option: string;
  readonly setting: string;
}

/** A bound socket as node:net's internals hold it (what a worker's `listen({ handle })` takes). */
export interface BoundHandle {
  getsockname(out: { port?: number }): number;
  close(): void;
}

export interface SharedSocket {
  readonly name: ListenerName;
  /** The address it is bound to (an IP address, never a name). */
  readonly address: string;
  readonly handle: BoundHandle;
}

export interface BoundListeners {
  readonly ports: Readonly<Record<ListenerName, number>>;
  /** Publication first, then EST and the portal: the order workers listen in. */
  readonly sockets: readonly SharedSocket[];
  /** Lets go of the supervisor's copies (a worker's copy keeps its socket open until it closes it). */
  close(): void;
}

export interface Address {
  readonly address: string;
  readonly family: 4 | 6;
}

type CreateServerHandle = (address: string, port: number, addressType: 4 | 6) => BoundHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

const ORDER: readonly ListenerName[] = ["http", "est", "portal"];

const EADDRINUSE = [...getSystemErrorMap()].find(([, [name]]) => name === "EADDRINUSE")?.[0] ?? -98;

function systemError(errno: number): { code: string; text: string } {
  const [code, text] = getSystemErrorMap().get(errno) ?? [`errno ${errno}`, "unknown error"];
  return { code, text };
}

/**
 * One bound socket and its port, or the error number. libuv reports EADDRINUSE only at listen
 * (its "delayed error"), and a worker's copy of a socket whose bind failed would then listen on
 * any port of 0.0.0.0: the port it got is read back here, as node:cluster does for its workers.
 */
function bindOne(a: Address, port: number): { handle: BoundHandle; port: number } | number {
  const handle = createServerHandle(a.address, port, a.family);
  if (typeof handle === "number") return handle;
  const out: { port?: number } = {};
  const err = handle.getsockname(out);
  const got = out.port ?? 0;
  if (err !== 0 || got === 0 || (port !== 0 && got !== port)) {
    handle.close();
    return err !== 0 ? err : EADDRINUSE;
  }
  return { handle, port: got };
}

/**
 * The addresses `host` is served on: "localhost" on each address it has (127.0.0.1 and ::1,
 * as Fastify's listen does), any other name or address on the one Node's listen would take.
 */
export async function addressesOf(host: string): Promise<Address[]> {
  try {
    const found = host === "localhost" ? await lookup(host, { all: true }) : [await lookup(host)];
    const seen = new Set<string>();
    return found.filter((a) => !seen.has(a.address) && seen.add(a.address)).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
  } catch (e) {
    // The resolver's code only (ENOTFOUND, EAI_AGAIN …): the remedy says what a name needs, in the user's language.
    throw new ShomeiError("LISTEN_FAILED", { address: host, reason: (e as { code?: string }).code ?? "ENOTFOUND" });
  }
}

/**
 * Binds every listener on `host`: the ports given first, then the free ones (so no free port is
 * one given for another listener). A port another program listens on stops here, before any
 * worker starts.
 */
export async function bindListeners(host: string, specs: readonly ListenerSpec[], resolve: (host: string) => Promise<Address[]> = addressesOf): Promise<BoundListeners> {
  const addresses = await resolve(host);
  const sockets: SharedSocket[] = [];
  const close = (): void => {
    for (const s of sockets.splice(0)) s.handle.close();
  };
  const ports: Partial<Record<ListenerName, number>> = {};
  try {
    const byPort = [...specs].sort((a, b) => Number(a.port === 0) - Number(b.port === 0));
    for (const spec of byPort) {
      // Two listeners given one port: the kernel would let both bind (neither listens yet).
      if (spec.port !== 0 && specs.some((o) => o !== spec && o.port === spec.port && ORDER.indexOf(o.name) < ORDER.indexOf(spec.name))) {
        throw new ShomeiError("PORT_IN_USE", { port: spec.port, option: spec.option, setting: spec.setting });
      }
      let port = spec.port;
      for (const [i, a] of addresses.entries()) {
        const bound = bindOne(a, port);
        if (typeof bound === "number") {
          // An extra address of localhost that cannot be bound (no IPv6, …) is left out, as Fastify does.
          if (i > 0) continue;
          const { code, text } = systemError(bound);
          if (code === "EADDRINUSE") throw new ShomeiError("PORT_IN_USE", { port: spec.port, option: spec.option, setting: spec.setting });
          throw new ShomeiError("LISTEN_FAILED", { address: a.family === 6 ? `[${a.address}]:${spec.port}` : `${a.address}:${spec.port}`, reason: `${code}: ${text}` });
        }
        sockets.push({ name: spec.name, address: a.address, handle: bound.handle });
        port = bound.port;
      }
      ports[spec.name] = port;
    }
  } catch (e) {
    close();
    throw e;
  }
  sockets.sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
  const all = (n: ListenerName): number => ports[n] ?? 0;
  return { ports: { http: all("http"), est: all("est"), portal: all("portal") }, sockets: [...sockets], close };
}

/**
 * Accepts connections on a further address's socket (::1 for "localhost") and hands each to
 * `server`, the one listening on the first address, so one app answers on every address. Close
 * the returned server before `server`. `server.close()` does not wait for the requests in flight
 * on these connections (nor did Fastify's own servers for the further addresses of "localhost").
 */
export function acceptFor(server: net.Server, handle: unknown): net.Server {
  const further = net.createServer((c) => server.emit("connection", c));
  further.listen(handle);
  return further;
}
