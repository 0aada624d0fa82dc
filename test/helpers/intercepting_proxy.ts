/**
 * A TLS-intercepting CONNECT proxy for tests. It stands in for a corporate TLS-inspection
 * product (an "SSL inspection" proxy or security suite): it accepts the tunnel, ends the
 * client's TLS itself with a certificate from its OWN throwaway CA (made here with our
 * src/ca functions, trusted by nobody), opens its own TLS connection to the real server and
 * relays the plaintext between the two. No such product can run in a test, so this is ours.
 */
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect as tlsConnect, TLSSocket } from "node:tls";
import { makeTestCa } from "./client_pki.js";

export interface InterceptingProxy {
  readonly url: string;
  /** The subject of the throwaway CA that signs what the client sees. */
  readonly caOrganization: string;
  /** CONNECT targets seen. */
  readonly connects: string[];
  close(): Promise<void>;
}

export async function startInterceptingProxy(): Promise<InterceptingProxy> {
  const caOrganization = "Example Security Gateway";
  const fake = await makeTestCa({ organization: caOrganization, hostnames: ["localhost", "127.0.0.1"] });
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on("connect", (req, client: Socket, head: Buffer) => {
    sockets.add(client);
    const target = req.url ?? "";
    connects.push(target);
    const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
    if (!m?.[1] || !m[2]) {
      client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) client.unshift(head);
    // The client's TLS ends here, with the inspection product's own certificate...
    const inner = new TLSSocket(client, { isServer: true, key: fake.tlsKeyPem, cert: fake.tlsChainPem });
    // ...and the product talks TLS to the real server on its own (trusting it blindly).
    const upstream = tlsConnect({ host: m[1], port: Number(m[2]), rejectUnauthorized: false });
    sockets.add(upstream);
    inner.pipe(upstream);
    upstream.pipe(inner);
    const end = (): void => { inner.destroy(); upstream.destroy(); client.destroy(); };
    inner.on("error", end);
    upstream.on("error", end);
    client.on("error", end);
    inner.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    caOrganization,
    connects,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
