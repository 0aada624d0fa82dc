/**
 * The supervisor's sockets (listeners.ts): bound at once on real loopback addresses, taken by
 * a server through `listen({ handle })` as a worker takes them, and the errors an operator
 * gets for a port in use or an address this machine does not have.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { isShomeiError } from "../i18n/errors.js";
import { acceptFor, bindListeners, type ListenerSpec } from "./listeners.js";

const spec = (name: ListenerSpec["name"], port: number): ListenerSpec => ({ name, port, option: `--${name}-port`, setting: `${name}.port` });
const ALL_FREE = [spec("est", 0), spec("portal", 0), spec("http", 0)];

function answerFrom(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host, port, path: "/", agent: false }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (d: string) => { body += d; });
      r.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

const closed = (s: { close(cb: () => void): unknown }): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

test("--port 0: each listener gets its own port, bound before any worker listens; a server listening on the handle answers on it", async () => {
  const bound = await bindListeners("127.0.0.1", ALL_FREE);
  try {
    const { est, portal, http } = bound.ports;
    assert.equal(new Set([est, portal, http]).size, 3, JSON.stringify(bound.ports));
    assert.ok([est, portal, http].every((p) => p > 0));
    // The order workers listen in: publication first (certificates name its URLs), then EST and the portal.
    assert.deepEqual(bound.sockets.map((s) => s.name), ["http", "est", "portal"]);
    assert.ok(bound.sockets.every((s) => s.address === "127.0.0.1"));
    const socket = bound.sockets.find((s) => s.name === "est") ?? assert.fail("no EST socket");
    const server = createHttpServer((_, res) => res.end("est"));
    await new Promise<void>((resolve) => server.listen(socket.handle, resolve));
    assert.equal((server.address() as AddressInfo).port, est);
    assert.equal(await answerFrom("127.0.0.1", est), "est");
    await closed(server);
  } finally {
    bound.close();
  }
});

test("a port another program listens on, or one port given to two listeners: PORT_IN_USE naming the option and setting that gave it", async () => {
  const blocker = createHttpServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const taken = (blocker.address() as AddressInfo).port;
  try {
    // libuv's bind() says yes and keeps EADDRINUSE for listen(): a worker's copy would then listen on any port.
    await assert.rejects(bindListeners("127.0.0.1", [spec("est", 0), spec("portal", taken), spec("http", 0)]), (e: unknown) => {
      assert.ok(isShomeiError(e) && e.code === "PORT_IN_USE", String(e));
      assert.deepEqual(e.params, { port: taken, option: "--portal-port", setting: "portal.port" });
      return true;
    });
  } finally {
    await closed(blocker);
  }
  // Given twice: neither listens yet, so the kernel would bind both; the later listener is named.
  const free = await bindListeners("127.0.0.1", [spec("est", 0)]);
  const port = free.ports.est;
  free.close();
  await assert.rejects(bindListeners("127.0.0.1", [spec("est", port), spec("portal", port), spec("http", 0)]), (e: unknown) => {
    assert.ok(isShomeiError(e) && e.code === "PORT_IN_USE", String(e));
    assert.deepEqual(e.params, { port, option: "--portal-port", setting: "portal.port" });
    return true;
  });
});

test("an address this machine does not have, or a name without an address: LISTEN_FAILED saying which and why", async () => {
  await assert.rejects(bindListeners("192.0.2.1", ALL_FREE), (e: unknown) => {
    assert.ok(isShomeiError(e) && e.code === "LISTEN_FAILED", String(e));
    assert.equal(e.params.address, "192.0.2.1:0");
    assert.match(String(e.params.reason), /^EADDRNOTAVAIL: /);
    return true;
  });
  await assert.rejects(bindListeners("no-such-host.invalid", ALL_FREE), (e: unknown) => {
    assert.ok(isShomeiError(e) && e.code === "LISTEN_FAILED", String(e));
    assert.equal(e.params.address, "no-such-host.invalid");
    return true;
  });
});

test("a name with several addresses (localhost: 127.0.0.1 and ::1): one port on each, one server answers on all; an address that cannot be bound is left out", async () => {
  // 127.0.0.2 stands in for ::1 (every machine has the whole of 127/8 on loopback, not every one has IPv6);
  // 192.0.2.1 (TEST-NET-1) is on no machine.
  const bound = await bindListeners("localhost", [spec("est", 0)], () => Promise.resolve([
    { address: "127.0.0.1", family: 4 }, { address: "127.0.0.2", family: 4 }, { address: "192.0.2.1", family: 4 },
  ]));
  try {
    assert.deepEqual(bound.sockets.map((s) => s.address), ["127.0.0.1", "127.0.0.2"]);
    const [first, second] = bound.sockets;
    if (!first || !second) return assert.fail("two sockets expected");
    let served = 0;
    const server = createHttpServer((req, res) => { served++; res.end(req.socket.localAddress); });
    await new Promise<void>((resolve) => server.listen(first.handle, resolve));
    const further = acceptFor(server, second.handle);
    assert.equal(await answerFrom("127.0.0.1", bound.ports.est), "127.0.0.1");
    assert.equal(await answerFrom("127.0.0.2", bound.ports.est), "127.0.0.2");
    assert.equal(served, 2, "one server answered on both addresses");
    await closed(further);
    await closed(server);
  } finally {
    bound.close();
  }
});
