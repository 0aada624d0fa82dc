/**
 * An HTTP CONNECT proxy on 127.0.0.1 for the client's tests, optionally asking for Basic
 * credentials, optionally intercepting TLS (test/helpers/intercepting_proxy.ts).
 */
import { createServer } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { connect as tlsConnect, TLSSocket } from "node:tls";

export interface TestProxy {
  readonly url: string;
  /** CONNECT targets seen, and the Proxy-Authorization header sent with each. */
  readonly connects: { target: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

export interface TestProxyOptions {
  readonly user?: string;
  readonly password?: string;
  /**
   * End the client's TLS here with this key and certificate chain (PEM) and talk TLS to the
   * server separately, as a TLS-inspection product does; without it the tunnel is plain bytes.
   */
  readonly intercept?: { readonly keyPem: string; readonly certPem: string };
}

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const connects: TestProxy["connects"] = [];
  const sockets = new Set<Socket>();
  const expected = opts.user === undefined ? undefined : `Basic ${Buffer.from(`${opts.user}:${opts.password ?? ""}`).toString("base64")}`;
  const server = createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on("connect", (req, client: Socket, head: Buffer) => {
    sockets.add(client);
    const target = req.url ?? "";
    const authorization = req.headers["proxy-authorization"];
    connects.push({ target, authorization });
    if (expected !== undefined && authorization !== expected) {
      client.end("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
    if (!m?.[1] || !m[2]) {
      client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    if (opts.intercept) {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) client.unshift(head);
      // The client's TLS ends here, with the inspection product's own certificate...
      const inner = new TLSSocket(client, { isServer: true, key: opts.intercept.keyPem, cert: opts.intercept.certPem });
      // ...and the product talks TLS to the real server on its own (trusting it blindly).
      const upstream = tlsConnect({ host: m[1], port: Number(m[2]), rejectUnauthorized: false });
      sockets.add(upstream);
      inner.pipe(upstream);
      upstream.pipe(inner);
      const end = (): void => { inner.destroy(); upstream.destroy(); client.destroy(); };
      for (const s of [inner, upstream, client]) s.on("error", end);
      inner.on("close", end);
      upstream.on("close", end);
      return;
    }
    const upstream = connect(Number(m[2]), m[1], () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
