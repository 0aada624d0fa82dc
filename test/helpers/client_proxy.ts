/** An HTTP CONNECT proxy on 127.0.0.1 for the client's tests, optionally asking for Basic credentials. */
import { createServer } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";

export interface TestProxy {
  readonly url: string;
  /** CONNECT targets seen, and the Proxy-Authorization header sent with each. */
  readonly connects: { target: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

export async function startTestProxy(opts: { user?: string; password?: string } = {}): Promise<TestProxy> {
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
