/** Loopback ports for tests. */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * The lowest port the kernel hands out by itself (outgoing connections, `listen(0)`), from
 * /proc/sys/net/ipv4/ip_local_port_range (32768 by default).
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const LOW = 10_000;
const given = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server a test starts on a port it
 * must know first. It is below the kernel's own range: a port taken by `listen(0)` and let go
 * again would be handed to the next outgoing connection on the machine as readily as to the
 * server (PORT_IN_USE at random under a busy suite), one out of that range is not.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let tries = 0; tries < 200; tries++) {
    const port = LOW + Math.floor(Math.random() * (high - LOW));
    if (given.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${LOW} and ${high} after 200 tries`);
}
